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
from graphc.ops import STRUCTURAL, Aval, Results, defop


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
defop("unpack", arity=1, shape=lambda results, index: Aval(*results[index]),
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


def _scan_adjoint(g, out, *operands, **attrs):
    from graphc.passes.control_ad import scan_adjoint  # rules that differentiate bodies are a pass

    return scan_adjoint(g, out, *operands, **attrs)


defop("scan", arity=None, shape=_scan_shape, reference=_scan_reference, adjoint=_scan_adjoint, emit=STRUCTURAL,
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


def _while_adjoint(g, out, *operands, **attrs):
    from graphc.passes.control_ad import while_adjoint

    return while_adjoint(g, out, *operands, **attrs)


defop("while_loop", arity=None, shape=_while_shape, reference=_while_reference, adjoint=_while_adjoint,
      emit=STRUCTURAL,
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
    branch = branches[int(np.clip(int(pred), 0, len(branches) - 1))]
    return tuple(np.asarray(v) for v in _bind(evaluator, branch, ())(*operands))


def _cond_adjoint(g, out, pred, *operands, **attrs):
    from graphc.passes.control_ad import cond_adjoint

    return cond_adjoint(g, out, pred, *operands, **attrs)


defop("cond", arity=None, shape=_cond_shape, reference=_cond_reference, adjoint=_cond_adjoint, emit=STRUCTURAL,
      doc="graphc.cond: run one of two branch graphs, chosen by a traced predicate")

#: The ops that hold body graphs.
CONTROL_OPS = frozenset({"scan", "while_loop", "cond"})
