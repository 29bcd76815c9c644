"""Constant folding: a node whose operands are all constants is evaluated once, by the reference.

Results larger than ``MAX_FOLDED_ELEMENTS`` are left as they are, so folding never materializes a
big array (``broadcast_to(0.0, (10**6,))`` stays a broadcast of one scalar). Nor is a node folded
whose shape or attributes hold a size read from the arguments (graphc.dims): its value would paste
that size into the kernel, which then could not serve other shapes.

Bodies: folds inside every loop and branch body; a loop or branch node itself is never folded, even
on constant operands (running a whole loop at compile time could take as long as the program).
"""
from __future__ import annotations

import math

import numpy as np

from graphc.dims import mentions_dim
from graphc.graph import Graph
from graphc.ops import LEAF_OPS, REGISTRY
from graphc.passes.bodies import bodies_first

MAX_FOLDED_ELEMENTS = 4096


@bodies_first
def fold_constants(graph: Graph) -> Graph:
    """A copy of ``graph`` in which every foldable node has become a constant (same node id)."""
    new = graph.copy()
    for node in new.topo_order():
        data = new[node]
        if data["op"] in LEAF_OPS or REGISTRY[data["op"]].internal or "results" in data or data["op"] == "unpack":
            continue
        operands = new.operands(node)
        if not all(new[u]["op"] == "constant" for u in operands) or math.prod(data["shape"]) > MAX_FOLDED_ELEMENTS:
            continue
        if mentions_dim(data["shape"]) or any(mentions_dim(v) for v in data["attrs"].values()):
            continue
        with np.errstate(all="ignore"):  # inf and NaN are folded as NumPy computes them
            value = REGISTRY[data["op"]].reference(*(new[u]["value"] for u in operands), **data["attrs"])
        new.make_constant(node, np.array(value, data["dtype"]).reshape(data["shape"]))
    return new
