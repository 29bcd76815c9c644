"""The reference evaluator: runs any Graph with NumPy, one primitive's reference at a time.

It is the oracle that every pass and the compiled code are checked against.

>>> import graphc
>>> g = graphc.trace(lambda x, y, z: (x + y) * z, 1.0, 3.0, -3.0)
>>> evaluate(g, 1.0, 3.0, -3.0)
[np.float64(-12.0)]
"""
from __future__ import annotations

import numpy as np

from graphc.errors import GraphcInternalError, SignatureError
from graphc.graph import Graph, type_name
from graphc.ops import REGISTRY


def evaluate(graph: Graph, *leaves) -> list:
    """Values of ``graph.outputs`` for input leaves ``leaves`` (one per ``graph.inputs``)."""
    if len(leaves) != len(graph.inputs):
        raise SignatureError(f"the graph takes {len(graph.inputs)} inputs, got {len(leaves)}")
    values = {}
    for node, leaf in zip(graph.inputs, leaves):
        data = graph[node]
        values[node] = np.asarray(leaf, dtype=data["dtype"])
    remaining_uses = {n: len(graph.users(n)) for n in graph.dag}
    keep = set(graph.outputs)
    for node in graph.topo_order():
        data = graph[node]
        op = data["op"]
        if op == "constant":
            values[node] = data["value"]
        elif op != "input":
            operands = graph.operands(node)
            with np.errstate(all="ignore"):  # NumPy's inf/NaN results are the answer, not a warning
                result = REGISTRY[op].reference(*(values[u] for u in operands), **data["attrs"])
            values[node] = _with_type(result, data)
            # Free intermediates once their last user has run: big graphs hold little at a time.
            for u in set(operands):
                remaining_uses[u] -= 1
                if remaining_uses[u] == 0 and u not in keep:
                    del values[u]
    return [values[n][()] if values[n].ndim == 0 else values[n] for n in graph.outputs]


def _with_type(result, data):
    # The reference must agree with the node's type: a silent cast would hide a wrong shape rule.
    results = data.get("results")
    if results is not None:  # a loop or branch: a tuple, one value per result
        return tuple(_checked(r, aval.shape, aval.dtype, data["op"]) for r, aval in zip(result, results))
    return _checked(result, data["shape"], data["dtype"], data["op"])


def _checked(result, shape, dtype, op: str) -> np.ndarray:
    result = np.asarray(result)
    # A length known only at run time (None: the steps a while_loop recorded) matches any length.
    fits = len(result.shape) == len(shape) and all(n is None or n == m for n, m in zip(shape, result.shape))
    if not fits or result.dtype != dtype:
        raise GraphcInternalError(
            f"'{op}' computed {type_name(result.shape, result.dtype)} where its shape rule said "
            f"{type_name(shape, dtype)} (graphc bug; please report)")
    return result
