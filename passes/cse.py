"""Common-subexpression elimination by structural hashing.

Two nodes are the same when they apply the same op with the same attributes to the same operands
(in order, or in either order for an op declared ``commutative``); two constants are the same when
their dtype, shape and bytes are. The first in topological order is kept and the other's users are
moved to it. The forward and adjoint parts of a
gradient graph share a lot this way (``sigmoid(x)`` and its derivative, repeated ``x + y``).

Bodies: merges inside every loop and branch body first; two loop nodes are the same when their
bodies have the same fingerprint and their operands are the same.
"""
from __future__ import annotations

from graphc.graph import Graph, attr_key
from graphc.ops import REGISTRY
from graphc.passes.bodies import bodies_first


def _key(graph: Graph, node: int):
    data = graph[node]
    if data["op"] == "input":
        return None
    if data["op"] == "constant":
        value = data["value"]
        return ("constant", value.dtype.str, value.shape, value.tobytes())
    attrs = tuple(sorted((k, attr_key(v)) for k, v in data["attrs"].items()))
    operands = graph.operands(node)
    if REGISTRY[data["op"]].commutative:  # a*b and b*a give the same bits
        operands = sorted(operands)
    return (data["op"], tuple(operands), attrs, data["shape"], data["dtype"].str)


@bodies_first
def eliminate_common_subexpressions(graph: Graph) -> Graph:
    """A copy of ``graph`` in which structurally equal nodes are merged into the earliest."""
    new = graph.copy()
    seen: dict = {}
    for node in new.topo_order():  # operands are merged first, so their users' keys already agree
        key = _key(new, node)
        if key is None:
            continue
        kept = seen.setdefault(key, node)
        if kept != node:
            new.replace_uses(node, kept)
            new.dag.remove_node(node)
    return new
