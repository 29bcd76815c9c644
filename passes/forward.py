"""Forward mode (Jacobian-vector products) as a graph pass, derived from reverse mode by transposition.

graphc keeps one differentiation rule per primitive, its vector-Jacobian product (``OpDef.adjoint``).
Forward mode follows from it without a second rule: the reverse sweep ``u -> J^T u`` is a linear
function of the cotangent ``u``, so differentiating ``<J^T u, t>`` with respect to ``u`` gives
``J t`` (the "double VJP" that autograd uses). :func:`jvp_graph` builds the VJP graph, appends
``s = sum_i <(J^T u)_i, t_i>`` with new tangent inputs ``t``, and sweeps back from ``s`` to the
cotangent inputs: the nodes of that second sweep are the tangent nodes (marked ``tangent``: the
listing says "; tangent", the DOT picture draws them orange).

Linear, that is, up to the reverse sweep's zero-cotangent masks (``c``'s NaN made 0 where ``g == 0``,
through ops with a singular derivative, ``passes/autodiff.py``): piecewise constant in ``u``, they are exact
wherever no cotangent is zero by accident. So ``u`` is then a constant of generic values (uniform in
[1, 2), fixed seed), not zeros, which would mask everything: a cotangent that is zero there is zero
for every ``u`` (the unselected branch of a ``where``), and the tangent gets the same masking as the
gradient (``where(x > 0, sqrt(x), 0)`` at 0: tangent 0, not NaN), so ``hessian`` agrees with
``grad(grad(f))``.

Why not a JVP rule per op: two rules per primitive are two places to keep consistent (STYLE.md,
"two stores for one rule"); here every primitive's forward mode is its adjoint rule differentiated,
which the reverse-over-reverse tests (``grad(grad(f))``) already exercise. The price is a sweep over
the VJP graph, which the optimization passes mostly fold away (the cotangent is a constant).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.dims import argument_shape
from graphc.errors import GradientTypeError
from graphc.graph import Graph
from graphc.ops import LINEAR_ALL, LINEAR_EACH, REGISTRY
from graphc.passes.autodiff import differentiate, vjp_graph, zeros
from graphc.tracer import Tracer, add_constant, building


def linear_in(graph: Graph, inputs: Sequence[int]) -> bool:
    """Whether ``graph``'s outputs are linear in the input nodes ``inputs``, judged op by op: each node
    that depends on them is linear in the operands that do, as its ``OpDef.linear`` declares (a product
    in one of them).
    A ``where`` whose condition depends on them (through linear ops only: a comparison is not linear)
    passes when a branch is a constant zero. The reverse sweep's zero-cotangent masks
    (passes/autodiff.py) do not pass: their condition is ``g == 0``."""
    depends = set(inputs)
    for node in graph.topo_order():
        operands = graph.operands(node)
        varying = [k for k, u in enumerate(operands) if u in depends]
        if not varying or graph[node]["op"] in ("input", "constant"):
            continue
        depends.add(node)
        op = graph[node]["op"]
        linear = REGISTRY[op].linear
        if linear == LINEAR_ALL or (linear == LINEAR_EACH and len(varying) == 1):
            continue
        if op == "where" and 0 in varying and any(_is_zero(graph, operands[k]) for k in (1, 2)):
            continue
        if isinstance(linear, tuple) and set(varying) <= set(linear):
            continue
        return False
    return True


def _is_zero(graph: Graph, node: int) -> bool:
    data = graph[node]
    if data["op"] == "broadcast_to":
        return _is_zero(graph, graph.operands(node)[0])
    return data["op"] == "constant" and not np.any(data["value"])


def _transposed_rules(graph: Graph, wrt: Sequence[int]) -> None:
    """Forward mode transposes each custom_vjp rule it meets; one not linear in its cotangents (a
    clipped gradient) has no transpose: an error, as JAX's forward mode of a custom_vjp function is."""
    from graphc.graph import body_graphs

    active = set(graph.inputs[p] for p in wrt)
    for node in graph.topo_order():
        data = graph[node]
        if any(u in active for u in graph.operands(node)):
            active.add(node)
        elif node not in active:
            continue
        attrs = data["attrs"]
        if data["op"] == "custom_vjp" and not attrs["linear"]:
            where = data.get("loc")
            raise GradientTypeError(
                f"forward mode (jvp, jacfwd, hessian) of {attrs['function']}, a custom_vjp function whose bwd rule "
                "is not linear in its cotangent: forward mode would transpose that rule. Define the derivative "
                "with graphc.custom_jvp instead (reverse mode transposes it)" + (f" (called at {where})" if where else ""))
        for body in body_graphs(data):
            _transposed_rules(body, range(len(body.inputs)))


def jvp_graph(graph: Graph, wrt: Sequence[int]) -> tuple[Graph, list[int]]:
    """``graph`` with tangents: inputs ``graph.inputs`` then one tangent per input position in ``wrt``
    (same shape and dtype; returned too), outputs ``graph.outputs`` then each output's tangent ``J t``
    (zeros for a non-float output)."""
    _transposed_rules(graph, wrt)
    for position in wrt:
        data = graph[graph.inputs[position]]
        if data["dtype"].kind != "f":
            raise GradientTypeError(f"jvp needs floating-point primals, but input {data.get('name', position)} "
                                       f"is {data['dtype']}; pass it as a float")
    floats = [i for i, n in enumerate(graph.outputs) if graph[n]["dtype"].kind == "f"]
    transposed, _ = vjp_graph(graph, floats, list(wrt))
    cotangents = transposed.inputs[len(graph.inputs):]
    with building(transposed):
        tangents = []
        for position in wrt:
            data = graph[graph.inputs[position]]
            node = transposed.add_node("input", shape=data["shape"], dtype=data["dtype"],
                                       name=f"tangent of {data.get('name', position)}")
            transposed[node]["shape"] = argument_shape(tuple(data["shape"]), transposed.dim_scope, node)
            tangents.append(node)
        pairing = Tracer(transposed, add_constant(transposed, np.zeros((), np.float64)))
        for out, tangent in zip(transposed.outputs, tangents):
            pairing = pairing + np.sum(Tracer(transposed, out) * Tracer(transposed, tangent))
    first_tangent = transposed.next_id
    new, pushed = differentiate(transposed, pairing.node, cotangents)
    for node in new.dag:  # the second sweep's nodes are the forward-mode (tangent) nodes: listed and drawn so
        if node >= first_tangent:
            new[node]["tangent"] = True
    generic = np.random.default_rng(0)
    for node in cotangents:  # J t does not depend on u (see the module docstring)
        data = new[node]
        new.make_constant(node, generic.uniform(1.0, 2.0, data["shape"]).astype(data["dtype"]))
    by_output = dict(zip(floats, pushed))
    with building(new):
        outputs = [by_output[i] if i in by_output else zeros(new, new.aval(n)).node
                   for i, n in enumerate(graph.outputs)]
    new.inputs = list(graph.inputs) + tangents
    new.outputs = list(graph.outputs) + outputs
    return new, tangents

