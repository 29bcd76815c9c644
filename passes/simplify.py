"""Algebraic simplification with identities that are exact in IEEE arithmetic.

Every row below gives the same bits as the original for every input, NaN, inf and signed zero
included, and the same shape and dtype. So ``x*1 -> x`` is here but ``x*0 -> 0`` is not
(``inf*0`` is NaN), ``x+0 -> x`` only for ``-0.0`` (``-0.0 + 0.0`` is ``+0.0``, not ``-0.0``), and
not ``x*(-1) -> -x`` (on x86 a NaN times -1 keeps its sign bit, negation flips it).

Bodies: simplifies inside every loop and branch body (their counts add to the graph's).

Two rules are not algebra: optimization runs after differentiation, so the results of a ``custom_vjp``
node (a function with its own gradient rule, :mod:`graphc.ops.calls`) are replaced by the values
they pass through, and the node is left dead; and ``stop_gradient(x)`` is ``x``.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from graphc.graph import Graph
from graphc.passes.bodies import map_bodies
from graphc.passes.fold import repeated_element
from graphc.passes.rewrite import Rule, rewrite


def _constant(graph: Graph, node: int):
    """The value of a constant, looking through ``broadcast_to`` of a constant; else None."""
    data = graph[node]
    if data["op"] == "broadcast_to":
        return _constant(graph, graph.operands(node)[0])
    return data["value"] if data["op"] == "constant" else None


def _is(graph: Graph, node: int, value: float, negative_zero: bool | None = None) -> bool:
    v = _constant(graph, node)
    if v is None or v.dtype.kind not in "biuf" or not np.all(v == value):
        return False
    return negative_zero is None or bool(np.all(np.signbit(v) == negative_zero))


def _same_type(graph: Graph, a: int, b: int) -> bool:
    return graph[a]["shape"] == graph[b]["shape"] and graph[a]["dtype"] == graph[b]["dtype"]


def _keep(graph: Graph, node: int, side: int, other_is) -> int | None:
    """Operand ``side`` of a binary node, when the other operand satisfies ``other_is`` and types match."""
    operands = graph.operands(node)
    kept, other = operands[side], operands[1 - side]
    if other_is(graph, other) and _same_type(graph, kept, node):
        return kept
    return None


def _either(graph: Graph, node: int, other_is) -> int | None:
    found = _keep(graph, node, 0, other_is)
    return found if found is not None else _keep(graph, node, 1, other_is)


def _append_like(graph: Graph, node: int, op: str, operands, **attrs) -> int:
    """A new node with the type of ``node``, carrying its adjoint mark."""
    data = graph[node]
    return graph.add_node(op, operands, shape=data["shape"], dtype=data["dtype"], attrs=attrs,
                          adjoint_of=data.get("adjoint_of"), loc=data.get("loc"))


def _square(graph: Graph, node: int) -> int | None:
    x, y = graph.operands(node)
    if _is(graph, y, 2.0) and _same_type(graph, x, node) and graph[x]["dtype"].kind == "f":
        return _append_like(graph, node, "multiply", [x, x])
    return None


def _double_negation(graph: Graph, node: int) -> int | None:
    (x,) = graph.operands(node)
    return graph.operands(x)[0] if graph[x]["op"] == "negative" else None


def _unit_axes_sum(graph: Graph, node: int) -> int | None:
    (x,) = graph.operands(node)
    shape = graph[x]["shape"]
    if not all(shape[a] == 1 for a in graph[node]["attrs"]["axis"]) or graph[x]["dtype"] != graph[node]["dtype"]:
        return None
    if shape == graph[node]["shape"]:
        return x
    return _append_like(graph, node, "reshape", [x], shape=graph[node]["shape"])


def _same_shape_view(graph: Graph, node: int) -> int | None:
    (x,) = graph.operands(node)
    return x if _same_type(graph, x, node) else None


def _identity_transpose(graph: Graph, node: int) -> int | None:
    (x,) = graph.operands(node)
    return x if graph[node]["attrs"]["axes"] == tuple(range(len(graph[x]["shape"]))) else None


def _reshape_of_reshape(graph: Graph, node: int) -> int | None:
    (x,) = graph.operands(node)
    if graph[x]["op"] != "reshape":
        return None
    return _append_like(graph, node, "reshape", graph.operands(x), shape=graph[node]["attrs"]["shape"])


def _broadcast_of_reshape(graph: Graph, node: int) -> int | None:
    # broadcast_to(reshape(x, (1, n)), (m, n)) reads the same elements as broadcast_to(x, (m, n)).
    (r,) = graph.operands(node)
    if graph[r]["op"] != "reshape":
        return None
    (x,) = graph.operands(r)
    squeeze = lambda shape: tuple(n for n in shape if n != 1)  # noqa: E731
    target = graph[node]["attrs"]["shape"]
    x_shape = graph[x]["shape"]
    if squeeze(x_shape) != squeeze(graph[r]["shape"]) or len(x_shape) > len(target):
        return None
    if any(n != 1 and n != t for n, t in zip(reversed(x_shape), reversed(target))):
        return None
    # the non-1 axes must keep their positions counted from the right
    kept_r = [i - len(graph[r]["shape"]) for i, n in enumerate(graph[r]["shape"]) if n != 1]
    kept_x = [i - len(x_shape) for i, n in enumerate(x_shape) if n != 1]
    if kept_r != kept_x:
        return None
    return _append_like(graph, node, "broadcast_to", [x], shape=target)


def _constant_condition(graph: Graph, node: int) -> int | None:
    cond, a, b = graph.operands(node)
    c = _constant(graph, cond)
    if c is None:
        return None
    return _branch(graph, node, a if np.all(c) else b if not np.any(c) else None)


def _same_branches(graph: Graph, node: int) -> int | None:
    """where(c, a, a), or with two constants of one and the same element (bit for bit): that branch."""
    _, a, b = graph.operands(node)
    if a != b:
        va, vb = _constant(graph, a), _constant(graph, b)
        if va is None or vb is None or va.dtype != vb.dtype:
            return None
        ea, eb = repeated_element(va), repeated_element(vb)
        if ea is None or eb is None or repeated_element(np.array([ea, eb])) is None:
            return None
    return _branch(graph, node, a)


def _branch(graph: Graph, node: int, chosen: int | None) -> int | None:
    """A where's ``chosen`` operand in its place: itself, or broadcast to the where's shape."""
    if chosen is None or graph[chosen]["dtype"] != graph[node]["dtype"]:
        return None
    if _same_type(graph, chosen, node):
        return chosen
    return _append_like(graph, node, "broadcast_to", [chosen], shape=graph[node]["shape"])


def _first_order_mask(graph: Graph, node: int) -> int | None:
    """The reverse sweep's zero-cotangent mask (passes/autodiff.py) after differentiation:
    ``where(g == 0, where(h != h, 0, h) + 0.0, c) -> where(g == 0, 0.0, c)`` when ``h`` is a product or
    quotient with ``g`` as a factor. Such an ``h`` is ±0 or NaN wherever ``g`` is ±0, so the second
    branch is +0.0 there, bit for bit: the held rule (for second derivatives) is left dead."""
    cond, held, _ = graph.operands(node)
    if graph[cond]["op"] != "equal" or graph[held]["op"] != "add":
        return None
    g, zero = graph.operands(cond)
    inner, plus_zero = graph.operands(held)
    if not _is(graph, zero, 0.0) or not _is(graph, plus_zero, 0.0, negative_zero=False) \
            or graph[inner]["op"] != "where":
        return None
    is_nan, replacement, h = graph.operands(inner)
    if graph[is_nan]["op"] != "not_equal" or graph.operands(is_nan) != [h, h] or not _is(graph, replacement, 0.0) \
            or not _vanishes_with(graph, h, g):
        return None
    data = graph[node]
    zero_value = np.zeros((), data["dtype"])
    zero_value.flags.writeable = False
    constant = graph.add_node("constant", shape=(), dtype=data["dtype"], value=zero_value)
    return _append_like(graph, node, "where", [cond, constant, graph.operands(node)[2]])


def _vanishes_with(graph: Graph, h: int, g: int, depth: int = 0) -> bool:
    """Whether ``h`` is ±0 or NaN wherever ``g`` is ±0 (elementwise, with broadcasting): ``g`` itself, a
    product with such a factor, a quotient with such a numerator, a negation, a sum of two such."""
    if h == g:
        return True
    data = graph[h]
    if depth > 32 or data["dtype"].kind not in "fc":
        return False
    op, operands = data["op"], graph.operands(h)
    if op == "multiply":
        return any(_vanishes_with(graph, u, g, depth + 1) for u in operands)
    if op in ("divide", "negative", "stop_gradient"):
        return _vanishes_with(graph, operands[0], g, depth + 1)
    if op in ("add", "subtract"):
        return all(_vanishes_with(graph, u, g, depth + 1) for u in operands)
    return False


def _same_every_step(graph: Graph, node: int) -> int | None:
    """A node holding one step of ``node`` when every step (leading-axis row) of it is the same: a
    broadcast along the leading axis, or a constant whose rows are equal; else None."""
    data = graph[node]
    step_shape = tuple(data["shape"][1:])
    if data["op"] == "constant":
        value = data["value"]
        if value.shape[0] == 0 or not np.array_equal(value, np.broadcast_to(value[:1], value.shape), equal_nan=True):
            return None
        row = np.array(value[0])
        row.flags.writeable = False
        return graph.add_node("constant", shape=row.shape, dtype=row.dtype, value=row, adjoint_of=data.get("adjoint_of"))
    if data["op"] != "broadcast_to":
        return None
    (source,) = graph.operands(node)
    shape = graph[source]["shape"]
    if len(shape) == len(data["shape"]):
        if shape[0] != 1:
            return None
        if graph[source]["op"] == "constant":  # folded here: constant folding has already run
            row = graph[source]["value"][0]
            source = graph.add_node("constant", shape=row.shape, dtype=row.dtype, value=row,
                                    adjoint_of=data.get("adjoint_of"))
        else:
            source = _append_view(graph, node, "reshape", source, tuple(shape[1:]))
    if graph[source]["shape"] == step_shape:
        return source
    return _append_view(graph, node, "broadcast_to", source, step_shape)


def _append_view(graph: Graph, like: int, op: str, source: int, shape: tuple) -> int:
    """``reshape``/``broadcast_to`` of ``source`` to ``shape``, marked like node ``like``."""
    data = graph[like]
    return graph.add_node(op, [source], shape=shape, dtype=graph[source]["dtype"], attrs={"shape": shape},
                          adjoint_of=data.get("adjoint_of"), loc=data.get("loc"))


def _loop_invariant_xs(graph: Graph, node: int) -> int | None:
    # scan(f, init, xs) where one of the xs is the same at every step: that x becomes a weight the
    # body reads (a cotangent broadcast over the steps, the reverse sweep of sum(ys)).
    data = graph[node]
    attrs = data["attrs"]
    K, M = attrs["num_consts"], attrs["num_carry"]
    operands = graph.operands(node)
    if attrs["length"] is None and len(operands) - K - M <= 1:
        return None  # the length is only known from that xs at run time
    for n, x in enumerate(operands[K + M:]):
        step = _same_every_step(graph, x)
        if step is not None:
            break
    else:
        return None
    body = attrs["body"].copy()
    moved = body.inputs.pop(K + M + n)
    body.inputs.insert(K, moved)
    new_operands = operands[:K] + [step] + operands[K:K + M + n] + operands[K + M + n + 1:]
    return graph.add_node("scan", new_operands, shape=data["shape"], dtype=data["dtype"],
                          attrs=dict(attrs, body=body, num_consts=K + 1), results=data["results"],
                          adjoint_of=data.get("adjoint_of"), loc=data.get("loc"))


def _transpose_of_transpose(graph: Graph, node: int) -> int | None:
    (source,) = graph.operands(node)
    if graph[source]["op"] != "transpose":
        return None
    inner, outer = graph[source]["attrs"]["axes"], graph[node]["attrs"]["axes"]
    (x,) = graph.operands(source)
    axes = tuple(inner[a] for a in outer)
    if axes == tuple(range(len(axes))):
        return x
    return graph.add_node("transpose", [x], shape=graph[node]["shape"], dtype=graph[node]["dtype"],
                          attrs={"axes": axes}, adjoint_of=graph[node].get("adjoint_of"), loc=graph[node].get("loc"))


def _stop_gradient(graph: Graph, node: int) -> int | None:
    # Optimization runs after differentiation: what stop_gradient stops has been stopped; the value passes.
    return graph.operands(node)[0]


def _custom_rule_result(graph: Graph, node: int) -> int | None:
    # Optimization runs after differentiation: a custom rule's result is the value its function made.
    (source,) = graph.operands(node)
    if graph[source]["op"] != "custom_vjp":
        return None
    return graph.operands(source)[graph[node]["attrs"]["index"]]


RULES = (
    Rule("x*1 -> x", ("multiply",), lambda g, n: _either(g, n, lambda g, o: _is(g, o, 1.0))),
    Rule("x/1 -> x", ("divide",), lambda g, n: _keep(g, n, 0, lambda g, o: _is(g, o, 1.0))),
    Rule("x+(-0.0) -> x", ("add",), lambda g, n: _either(g, n, lambda g, o: _is(g, o, 0.0, negative_zero=True))),
    Rule("x-(+0.0) -> x", ("subtract",), lambda g, n: _keep(g, n, 0, lambda g, o: _is(g, o, 0.0, negative_zero=False))),
    Rule("x**1 -> x", ("power",), lambda g, n: _keep(g, n, 0, lambda g, o: _is(g, o, 1.0))),
    Rule("x**2 -> x*x", ("power",), _square),
    Rule("--x -> x", ("negative",), _double_negation),
    Rule("sum over size-1 axes -> reshape", ("sum",), _unit_axes_sum),
    Rule("reshape/broadcast_to/astype to its own type -> x", ("reshape", "broadcast_to", "astype"), _same_shape_view),
    Rule("transpose by the identity -> x", ("transpose",), _identity_transpose),
    Rule("reshape(reshape(x)) -> reshape(x)", ("reshape",), _reshape_of_reshape),
    Rule("transpose(transpose(x)) -> transpose(x)", ("transpose",), _transpose_of_transpose),
    Rule("where(constant cond, a, b) -> a or b", ("where",), _constant_condition),
    Rule("where(c, a, a) -> a", ("where",), _same_branches),
    Rule("zero-cotangent mask of a product with g -> where(g == 0, 0, c)", ("where",), _first_order_mask),
    Rule("broadcast_to(reshape(x)) -> broadcast_to(x)", ("broadcast_to",), _broadcast_of_reshape),
    Rule("scan over xs equal at every step -> a weight of the body", ("scan",), _loop_invariant_xs),
    Rule("result of a custom gradient rule -> the function's value", ("unpack",), _custom_rule_result),
    Rule("stop_gradient(x) -> x", ("stop_gradient",), _stop_gradient),
)


def simplify(graph: Graph) -> Graph:
    """A copy of ``graph`` with :data:`RULES` applied until none matches; counts go to ``graph.notes``."""
    inner: Counter = Counter()

    def simplify_body(body: Graph) -> Graph:
        done = simplify(body)
        inner.update(done.notes.get("simplify", {}))
        return done

    new, counts = rewrite(map_bodies(graph, simplify_body), RULES)
    new.notes["simplify"] = dict(counts + inner)
    return new
