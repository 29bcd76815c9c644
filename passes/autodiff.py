"""Reverse-mode differentiation as a graph pass: adjoint nodes appended by the chain rule.

The sweep visits the nodes between the inputs and the output in reverse topological order.
For each it calls the op's adjoint rule (``REGISTRY[op].adjoint``), which builds the cotangent
of every operand from ordinary graph ops, then it

* reduces each cotangent over broadcast axes back to its operand's shape (only here, never in a rule),
* sums the cotangents of a value used several times (``x * x``, shared RNN weights),
* masks a zero cotangent through an op with a singular derivative: ``where(x > 0, sqrt(x), 0)`` at
  ``x <= 0`` sends 0 into ``sqrt``'s rule, which gives ``0 * inf = NaN``; the mask makes it 0, the
  gradient there. Where the cotangent is 0 the mask holds the rule with its primal values behind
  ``stop_gradient`` (:func:`_rule_in_cotangent_only`), so second derivatives stay exact too.

Every node it appends records ``adjoint_of``: the primal node whose rule made it.

Loops and branches are nodes of several results, each read by an ``unpack`` node: the sweep gathers
the cotangents of a node's unpacks and hands them to its rule as one list (``None`` where a result
has none). Their rules (:mod:`graphc.passes.control_ad`) differentiate the bodies with
:func:`vjp_graph`, so the adjoint of a loop is again a loop.

>>> import graphc
>>> fwd = graphc.trace(lambda x, y: x * y, 2.0, 5.0)
>>> new, grads = differentiate(fwd, fwd.outputs[0], fwd.inputs)
>>> [new.format_node(g) for g in grads]   # d/dx = g*y, d/dy = g*x with seed g = 1
['%5 = multiply %4 %1 : f64[]  ; adjoint of %2', '%6 = multiply %4 %0 : f64[]  ; adjoint of %2']
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.errors import DifferentiationError, GradientTypeError
from graphc.graph import Graph, type_name
from graphc.ops import LEAF_OPS, NONDIFFERENTIABLE, REGISTRY, apply, unbroadcast
from graphc.tracer import Tracer, add_constant, building


def differentiate(graph: Graph, output: int, wrt: Sequence[int]) -> tuple[Graph, list[int]]:
    """Append the adjoint of scalar node ``output`` (or one of size 1, shape ``(1,)``/``(1, 1)``, as
    autograd allows) with respect to each node in ``wrt``.

    Returns a new graph (``graph`` is not changed) and the node id of each gradient, in ``wrt`` order.
    Adjoint nodes that no gradient needs are not kept.
    """
    data = graph[output]
    if any(n != 1 for n in data["shape"]) or data["dtype"].kind != "f":  # shape (1,) or (1, 1): a scalar, as autograd
        raise GradientTypeError(
            f"grad needs a scalar floating-point output, but the function returns "
            f"{type_name(data['shape'], data['dtype'])}; reduce it (e.g. np.sum) or differentiate one element")
    new = graph.copy()
    first_new = new.next_id
    with building(new) as state:
        seed = Tracer(new, add_constant(new, np.ones(tuple(data["shape"]), data["dtype"]), output))
        found = backward(graph, new, state, {output: seed}, wrt)
        grads = [_gradient(new, w, c) for w, c in zip(wrt, found)]
    new.outputs = grads
    _drop_unused(new, first_new)
    return new, grads


def vjp_graph(graph: Graph, seeded: Sequence[int], wrt: Sequence[int]) -> tuple[Graph, list[bool]]:
    """The vector-Jacobian product of a whole graph, as a graph (how loop and branch bodies are
    differentiated).

    Its inputs are ``graph``'s inputs, then one cotangent input for each output position in
    ``seeded``; its outputs are the cotangents of the inputs at positions ``wrt`` (zero where no path
    leads from the input to a seeded output). It holds ``graph``'s nodes too: the forward values the
    adjoint rules read. Also returns, per ``wrt`` position, whether any path leads there.
    """
    new = graph.copy()
    new.parent, new.captures = None, {}
    first_new = new.next_id
    with building(new) as state:
        seeds: dict[int, Tracer] = {}
        cotangent_inputs = []
        for position in seeded:
            node = graph.outputs[position]
            data = graph[node]
            ct = new.add_node("input", shape=data["shape"], dtype=data["dtype"], name=f"cotangent{position}")
            cotangent_inputs.append(ct)
            seeds[node] = seeds[node] + Tracer(new, ct) if node in seeds else Tracer(new, ct)
        targets = [graph.inputs[k] for k in wrt]
        found = backward(graph, new, state, seeds, targets)
        grads = [_gradient(new, w, c) for w, c in zip(targets, found)]
    new.inputs = list(graph.inputs) + cotangent_inputs
    new.outputs = grads
    _drop_unused(new, first_new)
    return new, [c is not None for c in found]


def backward(graph: Graph, new: Graph, state, seeds: dict, wrt: Sequence[int]) -> list:
    """The reverse sweep from cotangents ``seeds`` (node -> tracer in ``new``, a copy of ``graph``
    being built); returns each ``wrt`` node's cotangent, or None where no path leads to it."""
    active = _between(graph, wrt, list(seeds))
    cotangents = dict(seeds)
    for node in reversed(graph.topo_order()):
        if node not in cotangents or graph[node]["op"] in LEAF_OPS:
            continue
        state.adjoint_of = node
        if graph[node]["op"] == "unpack":  # one result's cotangent, kept for its loop or branch node
            (source,) = graph.operands(node)
            slot = cotangents.setdefault(source, {})
            index, c = graph[node]["attrs"]["index"], cotangents.pop(node)
            slot[index] = slot[index] + c if index in slot else c
            continue
        _backpropagate(graph, new, node, cotangents, active)
    state.adjoint_of = None
    return [cotangents.get(w) for w in wrt]


def _between(graph: Graph, sources: Sequence[int], targets: Sequence[int]) -> set[int]:
    """Nodes on some path from a source to a target: the only ones that carry a gradient."""
    upstream = set(targets)
    for target in targets:
        upstream |= graph.dag.reachable(target, upstream=True)
    downstream = set(sources)
    for source in sources:
        downstream |= graph.dag.reachable(source, upstream=False)
    return upstream & downstream


def _backpropagate(graph: Graph, new: Graph, node: int, cotangents: dict, active: set) -> None:
    data = graph[node]
    op = REGISTRY[data["op"]]
    operands = graph.operands(node)
    if op.adjoint is NONDIFFERENTIABLE or not any(u in active for u in operands):
        return
    if not callable(op.adjoint):
        raise DifferentiationError(f"no adjoint for '{op.name}'")
    g = cotangents.pop(node)
    if isinstance(g, dict):  # a loop or branch: one cotangent (or None) per result
        g = [g.get(i) for i in range(len(data["results"]))]
    contributions = op.adjoint(g, Tracer(new, node), *(Tracer(new, u) for u in operands), **data["attrs"])
    held = None
    for i, (u, c) in enumerate(zip(operands, contributions)):
        if c is None or u not in active:
            continue
        if isinstance(c, Exception):  # a rule that cannot differentiate this operand, which a gradient needs
            raise c
        if op.singular and not _known_nonzero(new, g):
            if held is None:
                held = _rule_in_cotangent_only(op, g, node, operands, data["attrs"], new)
            c = np.where(g == 0, _nan_as_zero(held[i]), c)
        c = _fit(new, c, graph.aval(u))
        cotangents[u] = cotangents[u] + c if u in cotangents else c


def _rule_in_cotangent_only(op, g: Tracer, node: int, operands: list, attrs: dict, new: Graph) -> tuple:
    """The adjoint rule again, its primal values behind ``stop_gradient``: where the cotangent ``g`` is 0
    the mask takes this one, so the contribution is 0 (or the NaN of 0 * inf, made 0), its derivative in
    ``g`` is the local derivative, and in the primal values 0.

    Both halves matter to second derivatives. In ``g``: a cotangent can be 0 because of the data (the
    Hessian of ``sum(b**3) * c**2`` at symmetric ``b``, where ``sum(b**3)`` is exactly 0, has
    ``d2/dc db = 6 c b**2``). In the primal values: ``g * 0.75 / sqrt(x)`` at ``x = 0`` would give
    ``0 * inf`` (the Hessian of ``where(x > 0, x**1.5, 0)``, which is 0 there). After differentiation the
    stop_gradients are identities (``passes/simplify.py``), so CSE merges both rules into one."""
    def held(value: Tracer) -> Tracer:
        return apply("stop_gradient", value)
    return op.adjoint(g, held(Tracer(new, node)), *(held(Tracer(new, u)) for u in operands), **attrs)


def _nan_as_zero(c):
    # "+ 0.0" makes -0.0 +0.0: the mask's value where g == 0 is then +0.0 whatever the rule's sign, so
    # simplify can give a first-order kernel the one-select mask (passes/simplify.py, _first_order_mask).
    return np.where(c != c, 0.0, c) + 0.0


def _known_nonzero(new: Graph, g: Tracer) -> bool:
    # The seed and other constant cotangents need no mask; this keeps unoptimized listings short.
    data = new[g.node]
    return data["op"] == "constant" and bool(np.all(data["value"] != 0))


def _fit(new: Graph, c, aval) -> Tracer:
    """A cotangent as a tracer of its primal's shape and dtype."""
    if not isinstance(c, Tracer):  # a rule that only combined constants
        c = Tracer(new, add_constant(new, np.asarray(c)))
    c = unbroadcast(c, aval.shape)
    if c.dtype != aval.dtype:
        c = apply("astype", c, dtype=aval.dtype.str)
    return c


def _gradient(new: Graph, w: int, cotangent) -> int:
    if cotangent is not None:
        return cotangent.node
    return zeros(new, new.aval(w), adjoint_of=w).node  # no path from w to the output


def zeros(graph: Graph, aval, adjoint_of: int | None = None) -> Tracer:
    """Zeros of ``aval``'s shape and dtype in ``graph``: one scalar constant, broadcast."""
    zero = Tracer(graph, add_constant(graph, np.zeros((), aval.dtype), adjoint_of))
    return zero if aval.shape == () else apply("broadcast_to", zero, shape=tuple(aval.shape))


def _drop_unused(new: Graph, first_new: int) -> None:
    """Remove the appended nodes no output needs (cotangents of constants, unused branches)."""
    needed = set(new.outputs) | set(new.inputs)
    for out in new.outputs:
        needed |= new.dag.reachable(out, upstream=True)
    new.dag.remove_nodes_from([n for n in list(new.dag) if n >= first_new and n not in needed])
