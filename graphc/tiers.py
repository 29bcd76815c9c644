"""Which tier runs a signature's calls: the NumPy tier first, then the Numba kernel.

The choice, per transformation (``graphc.jit(f, tiered=...)``) or per process (``GRAPHC_TIERED``):

=========  ======================  ===========================================================
keyword    ``GRAPHC_TIERED``       the first call for a new signature
=========  ======================  ===========================================================
``True``   ``1`` (the default)     answers from the NumPy tier; the kernel compiles in the
                                   background and later calls switch to it when it is ready
``False``  ``0``                   waits for the Numba kernel (its compile shows a progress
                                   line past 2 s), as ``lower()`` always does
"numpy"    ``numpy``               runs the NumPy tier only and never compiles: for debugging
                                   (every line is a NumPy call on arrays you can inspect)
=========  ======================  ===========================================================

A signature that holds a float16 value anywhere runs on the NumPy tier only, whatever the setting:
Numba has no float16 type (``lower()`` raises :class:`graphc.errors.NoKernelError` for it).

The switch is invisible: both tiers take the same arguments, refuse the same ones with the same
errors, and return the same structure, shapes, dtypes and Python types (tests run both on the op table).
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import os

import numpy as np

from graphc.errors import GraphcError
from graphc.graph import Graph, body_graphs

_MODES = {"1": True, "0": False, "numpy": "numpy"}


def tier_mode(keyword) -> bool | str:
    """The tiering of a new signature: the transformation's keyword, else ``GRAPHC_TIERED``."""
    if keyword is not None:
        if keyword not in (True, False, "numpy"):
            raise GraphcError(f"tiered must be True, False or 'numpy', got {keyword!r}")
        return keyword
    value = os.environ.get("GRAPHC_TIERED", "1").strip().lower()
    if value not in _MODES:
        raise GraphcError(f"GRAPHC_TIERED must be 1, 0 or numpy, got {value!r}")
    return _MODES[value]


def numba_refusal(graph: Graph) -> str | None:
    """Why Numba cannot compile ``graph``, or None. Numba has no float16 type: a graph that holds a
    float16 value anywhere (bodies included) runs on the NumPy tier only."""
    for data in graph.dag._node.values():
        if data["dtype"] == np.float16:
            return "Numba has no float16 type"
        for body in body_graphs(data):
            reason = numba_refusal(body)
            if reason:
                return reason
    return None


@dataclasses.dataclass
class Signature:
    """One compiled signature of a transformation: its graphs, its tiers' history, its compile job.

    ``graph`` is what the NumPy tier runs (after the graph passes); ``fused`` is the kernel's graph
    (after the loop passes too), known once the kernel is ready.
    """

    where: tuple
    zero_d: tuple
    graph: Graph
    fused: Graph | None = None
    job: object = None
    history: list = dataclasses.field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.fused is not None


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector off while a new signature's graph is made: tracing and the passes make
    many small objects and no garbage cycles worth a pass, and at 5,000 nodes the collector's full passes
    were about 40% of the time (benchmarks/passes_scale.py --gc-off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
