"""Constant folding: a node whose operands are all constants is evaluated once, by the reference.

Results larger than ``MAX_FOLDED_ELEMENTS`` are left as they are, so folding never materializes a
big array (``broadcast_to(0.0, (10**6,))`` stays a broadcast of one scalar). Nor does a node become a
constant whose shape or attributes hold a size read from the arguments (graphc.dims): its value would
paste that size into the kernel, which then could not serve other shapes. Such a node is still
evaluated, so that its users fold; and where its value is one element repeated (a mask that is False
everywhere), it becomes ``broadcast_to`` of that element, which keeps the shape's sizes. Only
elementwise and layout ops are evaluated on such values, and what they give is not made a constant
unless it is one of those broadcasts: a reduction over the axis (a count ``sum(ones(n))`` is ``n``)
would paste a size-dependent value in. (That would still be correct, as the compile cache's key hashes
constants, but the kernel would serve one size only.)

A node also folds when the operands that are known decide it whatever the others hold: ``False & x``,
``True | x``, ``where(c, a, b)`` with ``c`` the same everywhere and the branch it picks known, or with
``a`` and ``b`` known and one and the same element everywhere. The
zero-cotangent masks of a Hessian's forward sweep fold that way (:mod:`graphc.passes.forward`).

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
    """A copy of ``graph`` in which every foldable node has become a constant (same node id), or a
    broadcast of one (see the module docstring)."""
    new = graph.copy()
    sized: dict = {}  # node -> its value, for nodes left in place because their shape holds a size
    for node in new.topo_order():
        data = new[node]
        if data["op"] in LEAF_OPS or REGISTRY[data["op"]].internal or "results" in data or data["op"] == "unpack":
            continue
        if None in data["shape"] or math.prod(data["shape"]) > MAX_FOLDED_ELEMENTS:  # None: known at run time
            continue
        operands = new.operands(node)
        if (mentions_dim(data["shape"]) or any(u in sized for u in operands)) and not _keeps_values(data["op"]):
            continue  # a reduction over an argument's axis would make a value of its size: left to run time
        values = [sized[u] if u in sized else new[u]["value"] if new[u]["op"] == "constant" else None
                  for u in operands]
        if any(v is None for v in values):
            value = _decided(data, values)
            if value is None:
                continue
            operands = [u for u, v in zip(operands, values) if v is not None]  # what decided it
        else:
            with np.errstate(all="ignore"):  # inf and NaN are folded as NumPy computes them
                value = REGISTRY[data["op"]].reference(*values, **data["attrs"])
        value = np.array(value, data["dtype"]).reshape(data["shape"])
        if not mentions_dim(data["shape"]):
            if not any(u in sized for u in operands) and not any(mentions_dim(v) for v in data["attrs"].values()):
                new.make_constant(node, value)
            continue
        sized[node] = value
        element = repeated_element(value)
        if element is not None and data["op"] != "broadcast_to":
            _make_broadcast(new, node, element)
    return new


#: Ops whose result elements are elements of their operands, moved or cast: evaluated on values over an
#: argument's axis, they give values that do not depend on its size where the operands' do not.
_LAYOUT = frozenset({"broadcast_to", "reshape", "transpose", "getitem", "concatenate", "astype", "stop_gradient"})


def _keeps_values(op: str) -> bool:
    return REGISTRY[op].elementwise or op in _LAYOUT


def _decided(data: dict, values: list):
    """The value of a node some of whose operands are unknown (None) when the known ones decide it:
    ``False & x``, ``True | x``, and a ``where`` whose condition picks one known branch everywhere
    (zero-cotangent masks, :mod:`graphc.passes.autodiff`); else None."""
    op, shape = data["op"], data["shape"]
    known = [v for v in values if v is not None]
    if op == "logical_and" and any(v.dtype == np.bool_ and not np.any(v) for v in known):
        return np.zeros(shape, np.bool_)
    if op == "logical_or" and any(v.dtype == np.bool_ and np.all(v) for v in known):
        return np.ones(shape, np.bool_)
    if op == "where" and values[0] is not None and (np.all(values[0]) or not np.any(values[0])):
        chosen = values[1] if np.all(values[0]) else values[2]
        return None if chosen is None else np.broadcast_to(chosen, shape)
    if op == "where" and values[1] is not None and values[2] is not None:  # both branches one value
        a, b = repeated_element(values[1]), repeated_element(values[2])
        if a is not None and b is not None and values[1].dtype == values[2].dtype \
                and repeated_element(np.array([a, b])) is not None:
            return np.broadcast_to(values[1], shape)
    return None


def repeated_element(value: np.ndarray):
    """The one element ``value`` repeats, bit for bit (signed zeros and NaNs told apart), else None."""
    if value.size == 0:
        return None
    flat = np.ascontiguousarray(value).reshape(-1)
    data = flat.view(np.uint8).reshape(flat.size, -1)  # each element's bytes (a long double's padding too)
    return flat[0] if np.all(data == data[:1]) else None


def _make_broadcast(graph: Graph, node: int, element) -> None:
    """Turn ``node`` into ``broadcast_to`` of a new 0-d constant ``element``, its shape (and id) kept."""
    data = graph[node]
    scalar = np.array(element, data["dtype"])
    scalar.flags.writeable = False
    constant = graph.add_node("constant", shape=(), dtype=data["dtype"], value=scalar)
    graph.dag.remove_in_edges(node)
    graph.dag.add_edge(constant, node, key=0)
    data.update(op="broadcast_to", attrs={"shape": data["shape"]})
