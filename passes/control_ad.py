"""Reverse-mode rules of the loop and branch nodes: each builds new body graphs by differentiating
the old ones (:func:`graphc.passes.autodiff.vjp_graph`), so the adjoint of a loop is again a loop.

**scan.** The body's vector-Jacobian product ``J(consts, carry, x, ct_carry, ct_y)`` is split in two:
the forward values that its adjoint part reads and that change from step to step (the *residuals*:
``tanh``'s output, the carry before the step) are stacked by the forward scan, which is widened in
place to return them too (its existing results keep their positions); the rest becomes the body of
a reverse scan whose carries are the carry's cotangent and the running sums of the weights'
cotangents, and whose per-step outputs are the cotangents of ``xs``. Values that depend only on the
weights are recomputed in the reverse body rather than stacked.

**while_loop.** The trip count is not known while tracing, so the loop is widened to record its
trip count and each step's carries in storage that grows as it runs; the reverse sweep is a scan
over that record, backwards, whose body recomputes the step and applies its VJP.

**cond.** A new ``cond`` on the same predicate whose branches are the VJPs of the old ones, so the
gradient flows through the branch that ran.
"""
from __future__ import annotations

import numpy as np

from graphc.errors import DifferentiationError
from graphc.graph import Graph
from graphc.ops import Aval, Results, apply
from graphc.passes.autodiff import vjp_graph, zeros
from graphc.passes.dce import remove_dead
from graphc.tracer import Tracer, building


def _floating(graph: Graph, node: int) -> bool:
    return graph[node]["dtype"].kind == "f"


def _widen(out: Tracer, attrs: dict, extra: list[Aval]) -> list[Tracer]:
    """Give the loop node ``out`` new attributes and ``extra`` results after its own; return
    unpack tracers of the extra results. Its existing results and their users are unchanged."""
    graph, node = out.graph, out.node
    data = graph[node]
    first = len(data["results"])
    data["attrs"] = attrs
    data["results"] = Results(list(data["results"]) + list(extra))
    return [Tracer(graph, graph.add_node("unpack", [node], shape=a.shape, dtype=a.dtype, attrs={"index": first + i},
                                         adjoint_of=node))
            for i, a in enumerate(extra)]


def _accumulators(body: Graph, consts: list[int], grads: dict) -> tuple[list[int], list[int]]:
    """Inputs holding the running sum of each differentiated weight's cotangent, and the sums."""
    inputs, sums = [], []
    with building(body):
        for k in consts:
            node, _ = grads[k]
            data = body[node]
            weight = body[body.inputs[k]].get("name", f"input {k}")
            acc = body.add_node("input", shape=data["shape"], dtype=data["dtype"], name=f"gradient sum of {weight}")
            inputs.append(acc)
            sums.append((Tracer(body, acc) + Tracer(body, node)).node)
    return inputs, sums


def _residuals(joint: Graph, cotangent_inputs: list[int], varying_inputs: list[int], xs_inputs: list[int]):
    """The forward values of ``joint`` that its adjoint part reads and that change per step."""
    adjoint = set(cotangent_inputs)
    for ct in cotangent_inputs:
        adjoint |= joint.dag.reachable(ct, upstream=False)
    varying = set(varying_inputs)
    for v in varying_inputs:
        varying |= joint.dag.reachable(v, upstream=False)
    varying -= adjoint
    outputs = set(joint.outputs)
    read = [n for n in joint.topo_order() if n in varying and (n in outputs or any(u in adjoint for u in joint.users(n)))]
    saved: list[int] = []
    for n in read:
        # A view (reshape, transpose) is recomputed from its source: stacking both would store it twice.
        while joint[n]["op"] in _VIEWS and joint.operands(n)[0] in varying:
            n = joint.operands(n)[0]
        if n not in saved and n not in xs_inputs:
            saved.append(n)
    return saved


#: Ops that only re-index their operand: cheaper to recompute in the reverse body than to stack.
_VIEWS = frozenset({"reshape", "transpose", "broadcast_to"})


def scan_adjoint(g, out, *operands, body, num_consts, num_carry, length, reverse):
    K, M = num_consts, num_carry
    N = len(operands) - K - M
    P = len(body.outputs) - M
    float_carries = [i for i in range(M) if _floating(body, body.inputs[K + i])]
    seeded_ys = [j for j in range(P) if g[M + j] is not None and _floating(body, body.outputs[M + j])]
    wrt = [k for k in range(K + M + N) if _floating(body, body.inputs[k])]
    joint, paths = vjp_graph(body, float_carries + [M + j for j in seeded_ys], wrt)
    grads = {k: (node, path) for k, node, path in zip(wrt, joint.outputs, paths)}
    cts = joint.inputs[K + M + N:]
    ct_carry_inputs, ct_y_inputs = cts[:len(float_carries)], cts[len(float_carries):]
    xs_inputs = joint.inputs[K + M:K + M + N]
    saved = _residuals(joint, cts, joint.inputs[K:K + M + N], xs_inputs)

    # The forward scan, widened to stack the residuals.
    forward = remove_dead(_with_interface(joint, body.inputs, list(body.outputs) + saved))
    stacked = _widen(out, dict(body=forward, num_consts=K, num_carry=M, length=length, reverse=reverse),
                     [Aval((length,) + tuple(joint[n]["shape"]), joint[n]["dtype"]) for n in saved])

    # The reverse scan's body: the adjoint part, reading the residuals as per-step inputs.
    back = joint.copy()
    for n in saved:
        if back[n]["op"] != "input":
            _make_input(back, n, f"saved%{n}")
    diff_consts = [k for k in range(K) if k in grads and grads[k][1]]
    acc_inputs, acc_sums = _accumulators(back, diff_consts, grads)
    diff_xs = [n for n in range(N) if K + M + n in grads and grads[K + M + n][1]]
    back.inputs = (list(joint.inputs[:K]) + ct_carry_inputs + acc_inputs + saved + list(xs_inputs) + ct_y_inputs)
    back.outputs = ([grads[K + i][0] for i in float_carries] + acc_sums + [grads[K + M + n][0] for n in diff_xs])
    back = remove_dead(back)

    graph = out.graph
    consts, init, xs = operands[:K], operands[K:K + M], operands[K + M:]
    ct_init = [g[i] if g[i] is not None else zeros(graph, body.aval(body.inputs[K + i])) for i in float_carries]
    zero_sums = [zeros(graph, body.aval(body.inputs[k])) for k in diff_consts]
    results = apply("scan", *consts, *ct_init, *zero_sums, *stacked, *xs, *(g[M + j] for j in seeded_ys),
                    body=back, num_consts=K, num_carry=len(ct_init) + len(zero_sums), length=length,
                    reverse=not reverse)
    contributions: list = [None] * len(operands)
    for i, r in zip(float_carries, results):
        contributions[K + i] = r
    for k, r in zip(diff_consts, results[len(ct_init):]):
        contributions[k] = r
    for n, r in zip(diff_xs, results[len(ct_init) + len(zero_sums):]):
        contributions[K + M + n] = r
    return contributions


def _with_interface(graph: Graph, inputs: list, outputs: list) -> Graph:
    new = graph.copy()
    new.inputs, new.outputs = list(inputs), list(outputs)
    return new


def _make_input(graph: Graph, node: int, name: str) -> None:
    """Turn ``node`` into an input of its graph (same id and type): its value now comes from outside."""
    graph.dag.remove_in_edges(node)
    data = graph[node]
    shape, dtype = data["shape"], data["dtype"]
    data.clear()
    data.update(op="input", shape=shape, dtype=dtype, attrs={}, name=name)


def while_adjoint(g, out, *operands, cond, body, num_consts, record=False):
    K = num_consts
    M = len(operands) - K
    if any(c is not None for c in g[M:]):
        # A cotangent on the recorded trip count or carries: the gradient of a gradient through this
        # loop (a Hessian, forward mode over grad). Its rule does not pass that on, so say so.
        raise DifferentiationError(
            "differentiating the gradient of a while_loop (a Hessian, jvp or hvp over grad) is not supported; "
            "write the loop as graphc.scan or a fori_loop with Python-int bounds")
    float_carries = [i for i in range(M) if _floating(body, body.inputs[K + i])]
    wrt = [k for k in range(K + M) if _floating(body, body.inputs[k])]
    joint, paths = vjp_graph(body, float_carries, wrt)
    grads = {k: (node, path) for k, node, path in zip(wrt, joint.outputs, paths)}
    carries = [body.aval(n) for n in body.inputs[K:]]
    tapes = _widen(out, dict(cond=cond, body=body, num_consts=K, record=True),
                   [Aval((), np.dtype(np.int64))] + [Aval((None,) + tuple(c.shape), c.dtype) for c in carries])[1:]

    back = joint.copy()
    diff_consts = [k for k in range(K) if k in grads and grads[k][1]]
    acc_inputs, acc_sums = _accumulators(back, diff_consts, grads)
    back.inputs = list(joint.inputs[:K]) + list(joint.inputs[K + M:]) + acc_inputs + list(joint.inputs[K:K + M])
    back.outputs = [grads[K + i][0] for i in float_carries] + acc_sums
    back = remove_dead(back)

    graph = out.graph
    ct_init = [g[i] if g[i] is not None else zeros(graph, carries[i]) for i in float_carries]
    zero_sums = [zeros(graph, body.aval(body.inputs[k])) for k in diff_consts]
    results = apply("scan", *operands[:K], *ct_init, *zero_sums, *tapes, body=back, num_consts=K,
                    num_carry=len(ct_init) + len(zero_sums), length=None, reverse=True)
    contributions: list = [None] * len(operands)
    for i, r in zip(float_carries, results):
        contributions[K + i] = r
    for k, r in zip(diff_consts, results[len(ct_init):]):
        contributions[k] = r
    return contributions


def cond_adjoint(g, out, pred, *operands, branches):
    first = branches[0]
    seeded = [i for i, c in enumerate(g) if c is not None and _floating(first, first.outputs[i])]
    wrt = [k for k in range(len(operands)) if _floating(first, first.inputs[k])]
    joints = [vjp_graph(branch, seeded, wrt) for branch in branches]
    results = apply("cond", pred, *operands, *(g[i] for i in seeded), branches=tuple(j for j, _ in joints))
    contributions: list = [None] * (1 + len(operands))
    for position, (k, r) in enumerate(zip(wrt, results)):
        if any(paths[position] for _, paths in joints):
            contributions[1 + k] = r
    return contributions


def checkpoint_adjoint(g, out, *operands, body, function):
    """A checkpoint's VJP is a checkpoint again: its body recomputes the forward body from the
    operands, then applies its adjoint, all inside one node (see :mod:`graphc.ops.calls`)."""
    seeded = [i for i, c in enumerate(g) if c is not None and _floating(body, body.outputs[i])]
    wrt = [k for k in range(len(operands)) if _floating(body, body.inputs[k])]
    joint, paths = vjp_graph(body, seeded, wrt)
    results = apply("checkpoint", *operands, *(g[i] for i in seeded), body=remove_dead(joint), function=function)
    contributions: list = [None] * len(operands)
    for k, r, path in zip(wrt, results, paths):
        if path:
            contributions[k] = r
    return contributions


def custom_vjp_adjoint(g, out, *operands, bwd, num_outputs, num_residuals, num_consts, num_args, function, linear):
    """The user's rule, inlined: ``bwd(consts, residuals, cotangents)`` gives the arguments'
    cotangents. Nothing flows to the results, the residuals or the rule's own closure; a value the
    function read from an enclosing function (not an argument) gets an error, raised only if a
    gradient needs it (``custom_vjp`` rules give cotangents of the arguments alone)."""
    from graphc.tracer import inline

    graph = out.graph
    outs = operands[:num_outputs]
    residuals = operands[num_outputs:num_outputs + num_residuals]
    consts = operands[num_outputs + num_residuals:num_outputs + num_residuals + num_consts]
    first_arg = num_outputs + num_residuals + num_consts
    cts = [c if c is not None else zeros(graph, graph.aval(o.node)) for c, o in zip(g, outs)]
    arg_cts = inline(bwd, list(consts) + list(residuals) + cts)
    where = graph[out.node].get("loc")
    closed_over = DifferentiationError(
        f"{function} has a custom gradient rule, but it reads a traced value of an enclosing function that is "
        "not one of its arguments; the rule gives no gradient for that value: pass it as an argument"
        + (f" (called at {where})" if where else ""))
    captured = len(operands) - first_arg - num_args
    return [None] * first_arg + [c if _floating(graph, a.node) else None for c, a in
                                 zip(arg_cts, operands[first_arg:first_arg + num_args])] + [closed_over] * captured
