"""Graph passes (installed as ``graphc.passes``) and the pipeline that runs them.

A pass is a function ``Graph -> Graph`` that preserves what the graph computes and never
changes the graph it is given. :data:`DEFAULT_PIPELINE` lists the optimization passes in the
order they run:

1. ``fold_constants``   nodes whose operands are all constants are evaluated once (size-capped);
2. ``eliminate_common_subexpressions``  structurally equal nodes are merged;
3. ``simplify``         IEEE-exact algebraic identities (``x*1 -> x``, ``x**2 -> x*x``…);
4. ``eliminate_common_subexpressions``  again, for what simplification made equal;
5. ``eliminate_dead_code``  nodes no output needs are removed;
6. ``split_loops``      a scan keeps in its loop only what the next step needs; the rest runs over all
   steps at once (loop fission, :mod:`graphc.passes.fission`);
7. ``fuse_elementwise`` elementwise chains (and the sums that consume them) become single loops.

``run_pipeline`` records nodes before/after and time per pass (``lower().stats``). With
``GRAPHC_VERIFY=1`` it checks the graph's invariants after every pass; ``GRAPHC_DUMP=simplify,fuse``
prints the listing after the named passes.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Sequence

from graphc.errors import GraphcError, GraphcInternalError
from graphc.graph import Graph
from graphc.passes.autodiff import differentiate
from graphc.passes.cse import eliminate_common_subexpressions
from graphc.passes.dce import eliminate_dead_code
from graphc.passes.fission import split_loops
from graphc.passes.fold import fold_constants
from graphc.passes.fuse import fuse_elementwise
from graphc.passes.simplify import simplify
from graphc.passes.stats import PassStats

Pass = Callable[[Graph], Graph]

#: The passes every tier runs.
GRAPH_PASSES: tuple[Pass, ...] = (
    fold_constants,
    eliminate_common_subexpressions,
    simplify,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    split_loops,
)
#: The passes that only serve compiled loops: the NumPy tier (``graphc.numpy_tier``) runs the graph
#: before them, and the Numba kernel's (background) compile runs them.
LOOP_PASSES: tuple[Pass, ...] = (fuse_elementwise,)
DEFAULT_PIPELINE: tuple[Pass, ...] = GRAPH_PASSES + LOOP_PASSES


def _verify_enabled() -> bool:
    return os.environ.get("GRAPHC_VERIFY", "") not in ("", "0")


def run_pipeline(graph: Graph, passes: Sequence[Pass] = DEFAULT_PIPELINE) -> tuple[Graph, list[PassStats]]:
    """Run ``passes`` in order; return the final graph and one :class:`PassStats` per pass."""
    dump = {name.strip() for name in os.environ.get("GRAPHC_DUMP", "").split(",") if name.strip()}
    verify = _verify_enabled()
    stats = []
    for graph_pass in passes:
        name = graph_pass.__name__
        before = len(graph)
        started = time.perf_counter()
        try:
            graph = graph_pass(graph)
            if verify:
                graph.verify()
        except GraphcError:
            raise
        except Exception as error:  # noqa: BLE001 -- a crash in a pass is graphc's bug, said so
            raise GraphcInternalError(f"graphc bug during pass {name}: {type(error).__name__}: {error} "
                                      "(please report with lower().graph)") from error
        stats.append(PassStats(name, before, len(graph), time.perf_counter() - started))
        if name in dump or "all" in dump:
            print(f"--- after {name} ---\n{graph}", file=sys.stderr)
    return graph, stats


__all__ = [
    "DEFAULT_PIPELINE", "GRAPH_PASSES", "LOOP_PASSES", "Pass", "PassStats", "differentiate", "eliminate_common_subexpressions",
    "eliminate_dead_code", "fold_constants", "fuse_elementwise", "run_pipeline", "simplify",
]
