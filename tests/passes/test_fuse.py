"""Elementwise fusion's legality checks stay about linear in the graph's size, counted, not timed."""
import numpy as np
import pytest

import graphc
from graphc.passes import fuse, fuse_elementwise


def unrolled_rnn(steps: int):
    """The value-and-gradient graph of a recurrence unrolled ``steps`` times: each step's group reads
    the one before through a matmul, and the backward pass reads every forward step."""
    def loss(w, h):
        total = 0.0
        for _ in range(steps):
            h = np.tanh(w @ h + h)
            total = total + np.sum(h * h)
        return total + np.sum(h)

    rng = np.random.default_rng(0)
    return graphc.trace(graphc.value_and_grad(loss, argnums=(0, 1)), rng.normal(size=(4, 4)), rng.normal(size=4))


def test_dependency_work_grows_linearly_with_the_number_of_steps():
    # The check that walked every group a candidate depends on visited 151,716 groups at 20 steps
    # and 8,747,766 at 80; a quadratic pass would do 16 times the work here, a linear one 4 times.
    small, large = unrolled_rnn(10), unrolled_rnn(40)
    work = [fuse_elementwise(g).notes["fuse"]["dependency_steps"] for g in (small, large)]
    assert 0 < work[0] <= 3 * len(small)
    assert work[1] <= 5 * work[0], work


def late_independent_read(x, w):
    """``sin(x)`` is grouped early; its product with ``w.T @ x``, traced after a chain that depends on
    it, joins that group, so ``w.T @ x`` moves to just before it in the order of groups."""
    a = np.sin(x)
    e = a
    for _ in range(4):
        e = np.tanh(w @ e)
    return np.sum(a * (w.T @ x)) + np.sum(e)


def test_renumbering_the_order_of_groups_changes_nothing(monkeypatch):
    graph = graphc.trace(late_independent_read, np.ones(4), np.eye(4))
    expected = str(fuse_elementwise(graph))
    renumbered = []
    relabel = fuse._Groups._relabel
    monkeypatch.setattr(fuse, "LABEL_SPACING", 1)  # no room between labels: a move renumbers all
    monkeypatch.setattr(fuse._Groups, "_relabel", lambda groups: renumbered.append(relabel(groups)))
    assert str(fuse_elementwise(graph)) == expected
    assert renumbered
