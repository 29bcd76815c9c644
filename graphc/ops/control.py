"""Loops and branches as graph nodes: ``scan``, ``while_loop`` and ``cond`` hold their bodies as graphs.

A control-flow node has several results (a loop's carries, its stacked per-step outputs), each read
by an ``unpack`` node. Its body graphs live in its attributes; their inputs are, in order, the values
the body reads from the enclosing graph (``consts``: weights it closes over), then the carries, then
(for ``scan``) one step's slice of each ``xs``::

    %7 = scan %2 %0 %1 num_consts=1 num_carry=1 length=200 reverse=False : (f64[16], f64[200,16])
        body (%0, %1, %2):
          %3 = matmul %0 %1 : f64[16]
          ...
          yield %5, %5
    %8 = unpack %7 [0] : f64[16]
    %9 = unpack %7 [1] : f64[200,16]

The loop stays one node whatever its trip count. The user-facing functions (``graphc.scan``…) are in
:mod:`graphc.control`; differentiation rules in :mod:`graphc.passes.control_ad`; Numba emission in
:mod:`graphc.codegen.control`.
"""
from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numpy as np

from graphc.errors import GraphcInternalError
from graphc.ops import (
    INDICES, LEAF_OPS, LINEAR_ALL, REGISTRY, STRUCTURAL, Aval, Results, apply, batch_size, defop, lift, with_batch_axis,
)


def _check(condition: bool, message: str) -> None:
    # The front end (graphc.control) reports user mistakes with their line; this is graphc's own check.
    if not condition:
        raise GraphcInternalError(f"{message} (graphc bug; please report)")


def same_type(a: Aval, b: Aval) -> bool:
    """Equal shapes (a length known only at run time matches any) and equal dtypes."""
    return (len(a.shape) == len(b.shape) and np.dtype(a.dtype) == np.dtype(b.dtype)
            and all(m is None or n is None or m == n for m, n in zip(a.shape, b.shape)))


def _check_inputs(body, avals, what: str) -> None:
    _check(len(body.inputs) == len(avals), f"{what} takes {len(body.inputs)} inputs, gets {len(avals)}")
    for node, aval in zip(body.inputs, avals):
        _check(same_type(body.aval(node), aval), f"{what} input %{node} has type {body.aval(node)}, gets {aval}")


def _outputs(body) -> list[Aval]:
    return [body.aval(n) for n in body.outputs]


def _bind(evaluator, body, consts) -> Callable:
    """``body`` as a function of its inputs after ``consts`` (those the same at every step), returning
    its outputs in order. ``evaluator(body, consts)`` makes it: by default the reference evaluator;
    the NumPy tier passes its own, which builds a body once as Python and computes once what reads
    only the consts (graphc.numpy_tier)."""
    if evaluator is not None:
        return evaluator(body, tuple(consts))
    # evaluate stands to the right of ops in the import order
    from graphc.evaluate import evaluate

    return functools.partial(evaluate, body, *consts)


# ---- unpack: one result of a node that has several -------------------------------------------------
defop("unpack", linear=LINEAR_ALL, arity=1, shape=lambda results, index: Aval(*results[index]),
      reference=lambda results, index: results[index], adjoint=STRUCTURAL, emit=STRUCTURAL,
      doc="result `index` of a loop or branch node (`%9 = unpack %7 [1]`)")


# ---- scan -----------------------------------------------------------------------------------------
def _scan_shape(*avals, body, num_consts, num_carry, length, reverse):
    consts, carry, xs = avals[:num_consts], avals[num_consts:num_consts + num_carry], avals[num_consts + num_carry:]
    for x in xs:
        _check(len(x.shape) >= 1 and (x.shape[0] == length or None in (x.shape[0], length)),
               f"scan xs of shape {x.shape} does not have length {length}")
    _check_inputs(body, list(consts) + list(carry) + [Aval(x.shape[1:], x.dtype) for x in xs], "scan body")
    outs = _outputs(body)
    _check(len(outs) >= num_carry, "scan body returns fewer values than it has carries")
    for c, o in zip(carry, outs):
        _check(same_type(c, o), f"scan carry {c} comes back as {o}")
    return Results(list(carry) + [Aval((length,) + y.shape, y.dtype) for y in outs[num_carry:]])


def _scan_reference(*operands, body, num_consts, num_carry, length, reverse, evaluator=None):
    step = _bind(evaluator, body, operands[:num_consts])
    carry = operands[num_consts:num_consts + num_carry]
    xs = operands[num_consts + num_carry:]
    if length is None:
        length = xs[0].shape[0]
    # Each stacked output is allocated once and written a row a step.
    ys = tuple(np.empty((length,) + y.shape, y.dtype) for y in _outputs(body)[num_carry:])
    steps = range(length - 1, -1, -1) if reverse else range(length)
    rows = zip(*(x[::-1] if reverse else x for x in xs)) if xs else itertools.repeat(())
    for t, row in zip(steps, rows):  # row: this step's slice of each xs
        out = step(*carry, *row)
        carry = out[:num_carry]
        for y, value in zip(ys, out[num_carry:]):
            y[t] = value
    return tuple(np.asarray(c) for c in carry) + ys


def _carried_batch(body, leading: list, carry: list, trailing: list) -> list:
    """Which carries a loop must batch: those batched on entry, and those the body makes batched from
    batched values, repeated until nothing changes (a carry read from a batched one becomes batched)."""
    from graphc.passes.batching import batched_outputs  # passes stand to the right of ops

    while True:
        made = batched_outputs(body, leading + carry + trailing)[:len(carry)]
        grown = [c or m for c, m in zip(carry, made)]
        if grown == carry:
            return carry
        carry = grown


def _may_raise(body) -> bool:
    """Whether ``body`` (or a body inside it) holds an op that can raise on values it would not
    have met one example at a time (``OpDef.raises``): a gather or scatter by a traced index, a
    factorization. A branch or loop step whose result a batched rule would compute and then discard for
    some examples must not hold one: the batched rule declines, and each example runs on its own."""
    from graphc.graph import body_graphs

    for node in body.dag:
        data = body[node]
        raises = False if data["op"] in LEAF_OPS else REGISTRY[data["op"]].raises
        if raises is True or (raises == INDICES and any(body[u]["op"] != "constant"
                                                         for u in body.operands(node)[1:])):
            return True
        if any(_may_raise(inner) for inner in body_graphs(data)):
            return True
    return False


def _swap_leading(x):
    """``x`` with its first two axes exchanged: a batch of sequences <-> a sequence of batches."""
    return apply("transpose", x, axes=(1, 0) + tuple(range(2, len(x.shape))))


def _scan_batch(batched, *operands, body, num_consts, num_carry, length, reverse):
    # One scan over the batched values: a batched xs (B, T, ...) is walked as (T, B, ...), a carry is
    # batched only if it is or becomes batched, and each step's y comes out as (T, B, ...).
    from graphc.passes.batching import batch_graph, batched_outputs

    K, M = num_consts, num_carry
    size = batch_size(batched, operands)
    consts, xs = list(batched[:K]), list(batched[K + M:])
    carry = _carried_batch(body, consts, list(batched[K:K + M]), xs)
    ys = batched_outputs(body, consts + carry + xs)[M:]
    init = [with_batch_axis(x, size) if c and not b else x
            for x, b, c in zip(operands[K:K + M], batched[K:K + M], carry)]
    steps = [_swap_leading(x) if b else x for x, b in zip(operands[K + M:], xs)]
    results = apply("scan", *operands[:K], *init, *steps, body=batch_graph(body, consts + carry + xs, size, carry + ys),
                    num_consts=K, num_carry=M, length=length, reverse=reverse)
    return tuple([r if c else with_batch_axis(r, size) for r, c in zip(results[:M], carry)]
                 + [_swap_leading(r) if b else with_batch_axis(r, size) for r, b in zip(results[M:], ys)])


def _scan_adjoint(g, out, *operands, **attrs):
    from graphc.passes.control_ad import scan_adjoint  # rules that differentiate bodies are a pass

    return scan_adjoint(g, out, *operands, **attrs)


defop("scan", arity=None, shape=_scan_shape, reference=_scan_reference, adjoint=_scan_adjoint, emit=STRUCTURAL,
      batch=_scan_batch,
      doc="graphc.scan: a loop over the leading axis of `xs` with carried state; one node for any length")


# ---- while_loop -----------------------------------------------------------------------------------
def _while_shape(*avals, cond, body, num_consts, record=False):
    consts, carry = avals[:num_consts], avals[num_consts:]
    _check_inputs(cond, list(consts) + list(carry), "while_loop condition")
    _check_inputs(body, list(consts) + list(carry), "while_loop body")
    (pred,) = _outputs(cond)
    _check(pred.shape == () and pred.dtype == np.bool_, f"while_loop condition gives {pred}")
    for c, o in zip(carry, _outputs(body)):
        _check(same_type(c, o), f"while_loop carry {c} comes back as {o}")
    results = list(carry)
    if record:  # for the reverse sweep: the trip count and each step's carries, stacked
        results += [Aval((), np.dtype(np.int64))] + [Aval((None,) + c.shape, c.dtype) for c in carry]
    return Results(results)


def _while_reference(*operands, cond, body, num_consts, record=False, evaluator=None):
    consts, carry = operands[:num_consts], operands[num_consts:]
    initial = carry
    test, step = _bind(evaluator, cond, consts), _bind(evaluator, body, consts)
    tape: list = []
    while bool(test(*carry)[0]):
        if record:
            tape.append(carry)
        carry = step(*carry)
    results = tuple(np.asarray(c) for c in carry)
    if record:
        stacks = tuple(np.stack([np.asarray(seen[i]) for seen in tape]) if tape
                       else np.zeros((0,) + np.shape(c), np.asarray(c).dtype) for i, c in enumerate(initial))
        results += (np.asarray(len(tape), np.int64),) + stacks
    return results


def _while_batch(batched, *operands, cond, body, num_consts, record=False):
    # A condition the same for every example: one loop over batched carries. A condition per example:
    # the loop runs while any example's holds, and an example whose condition fails keeps its carry.
    from graphc.passes.batching import batch_graph, batched_outputs

    K = num_consts
    size = batch_size(batched, operands)
    consts = list(batched[:K])
    natural = _carried_batch(body, consts, list(batched[K:]), [])
    per_example = batched_outputs(cond, consts + natural)[0]
    if per_example and _may_raise(body):
        return None  # an example that is done would run the step once more: one example at a time
    if per_example and record:
        from graphc.mapping import BatchingError

        raise BatchingError("vmap of a gradient through a while_loop whose trip count differs from example to "
                            "example: the reverse sweep of each would walk a record of its own length; map "
                            "inside the gradient instead (grad of a sum over vmap)")
    # Per example, every carry is batched (an example that stops keeps its own); recording, too (the
    # record of a carry needs the batch axis), and the condition then reads equal batched values.
    carry = [True] * len(natural) if per_example or record else natural
    init = [with_batch_axis(x, size) if c and not b else x for x, b, c in zip(operands[K:], batched[K:], carry)]
    test_batched = batched_outputs(cond, consts + carry)[0]
    test = batch_graph(cond, consts + carry, size, [test_batched])
    step = batch_graph(body, consts + carry, size, carry)
    if per_example:
        step = _unless_done(test, step)
    if test_batched:
        test = _any_holds(test)
    results = apply("while_loop", *operands[:K], *init, cond=test, body=step, num_consts=K, record=record)
    M = len(carry)
    out = [r if c else with_batch_axis(r, size) for r, c in zip(results[:M], carry)]
    if record:  # the trip count (the same for every example), then each carry's record, (steps, batch...)
        out += [with_batch_axis(results[M], size)]
        out += [_swap_leading(r) for r in results[M + 1:]]
    return tuple(out)


def _rebuilt(template, build):
    """A graph with ``template``'s inputs whose outputs are ``build(input tracers)``."""
    from graphc.graph import Graph
    from graphc.tracer import Tracer, building

    graph = Graph()
    with building(graph):
        for node in template.inputs:
            data = template[node]
            graph.inputs.append(graph.add_node("input", shape=data["shape"], dtype=data["dtype"],
                                               name=data.get("name")))
        graph.outputs = [t.node for t in build([Tracer(graph, n) for n in graph.inputs])]
    return graph


def _any_holds(test):
    from graphc.tracer import inline

    return _rebuilt(test, lambda args: [np.sum(inline(test, args)[0].astype(np.int64)) > 0])


def _unless_done(test, step):
    from graphc.tracer import inline

    def build(args):
        K = len(args) - len(step.outputs)
        running = inline(test, args)[0]
        return [apply("where", lift(running, len(new.shape) - 1), new, old)
                for new, old in zip(inline(step, args), args[K:])]

    return _rebuilt(step, build)


def _while_adjoint(g, out, *operands, **attrs):
    from graphc.passes.control_ad import while_adjoint

    return while_adjoint(g, out, *operands, **attrs)


defop("while_loop", arity=None, shape=_while_shape, reference=_while_reference, adjoint=_while_adjoint,
      emit=STRUCTURAL, batch=_while_batch,
      doc="graphc.while_loop: repeat a body while a condition holds; differentiable in reverse mode")


# ---- cond -----------------------------------------------------------------------------------------
def _cond_shape(pred, *avals, branches):
    _check(pred.shape == () and pred.dtype.kind in "biu", f"cond predicate has type {pred}")
    for branch in branches:
        _check_inputs(branch, list(avals), "cond branch")
    first = _outputs(branches[0])
    for branch in branches[1:]:
        _check(len(_outputs(branch)) == len(first) and all(map(same_type, first, _outputs(branch))),
               "cond branches give different types")
    return Results(first)


def _cond_reference(pred, *operands, branches, evaluator=None):
    branch = branches[1 if pred else 0]  # nonzero means true, as the compiled `if pred:`
    return tuple(np.asarray(v) for v in _bind(evaluator, branch, ())(*operands))


def _cond_batch(batched, pred, *operands, branches):
    # A predicate the same for every example: one cond of batched branches. A predicate per example:
    # both branches run on the batch and each example takes its own branch's result (JAX's select).
    from graphc.passes.batching import batch_graph, batched_outputs
    from graphc.tracer import inline

    size = batch_size(batched, (pred,) + operands)
    flags = list(batched[1:])
    if not batched[0]:
        outs = [any(made) for made in zip(*(batched_outputs(b, flags) for b in branches))]
        results = apply("cond", pred, *operands, branches=tuple(batch_graph(b, flags, size, outs) for b in branches))
        return tuple(r if o else with_batch_axis(r, size) for r, o in zip(results, outs))
    if any(_may_raise(b) for b in branches):
        return None  # both branches would run on every example: one example at a time
    false, true = (inline(batch_graph(b, flags, size), list(operands)) for b in branches)
    take = pred if pred.dtype == np.bool_ else pred != 0  # nonzero: the true branch
    return tuple(apply("where", lift(take, len(t.shape) - 1), t, f) for f, t in zip(false, true))


def _cond_adjoint(g, out, pred, *operands, **attrs):
    from graphc.passes.control_ad import cond_adjoint

    return cond_adjoint(g, out, pred, *operands, **attrs)


defop("cond", arity=None, shape=_cond_shape, reference=_cond_reference, adjoint=_cond_adjoint, emit=STRUCTURAL,
      batch=_cond_batch,
      doc="graphc.cond: run one of two branch graphs, chosen by a traced predicate")

#: The ops that hold body graphs.
CONTROL_OPS = frozenset({"scan", "while_loop", "cond"})
