"""Shared fixtures: a seeded ``rng`` per test, and the reference (NumPy) evaluation of transformations."""
from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

# Passes check the graph's invariants after every step while testing (STYLE.md).
os.environ.setdefault("GRAPHC_VERIFY", "1")
# Calls wait for the Numba kernel, so the suite checks compiled code (and starts no background compiles);
# tests/test_tiers.py runs the NumPy tier and the switch, and the op-table tests compare both tiers.
os.environ.setdefault("GRAPHC_TIERED", "0")

import graphc  # noqa: E402
from graphc.evaluate import evaluate  # noqa: E402


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's id: reproducible, and different from test to test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def fd_gradient(f, x, eps=1e-6):
    """Central differences of the scalar ``f`` at ``x`` (an array, or a float: a 0-d result)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def run_reference(fun, *args):
    """``fun(*args)`` through trace + the NumPy reference evaluator (no Numba compile).

    ``fun`` may be a plain function or a graphc transformation (``graphc.grad(f)``); the result has
    the structure the public call would return.
    """
    graph = graphc.trace(fun, *args)
    graph.verify()
    leaves = graphc.tree_flatten(args)[0]
    return graphc.tree_unflatten(graph.out_tree, evaluate(graph, *leaves))


@pytest.fixture
def ref():
    return run_reference
