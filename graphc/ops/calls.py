"""Calls: nodes whose body graph runs once, as a unit the passes outside it cannot split.

``checkpoint`` (``graphc.checkpoint``) runs its body on its operands. Its adjoint is another
``checkpoint`` whose body is the first one's VJP: it recomputes the body's intermediates from the
operands in the backward sweep, so the forward sweep keeps only the operands. Being one node, the
recomputation cannot be merged back into the forward sweep by CSE or fused into its loops::

    %4 = checkpoint %0 function='layer' : (f64[1000000])
        body (%0):
          %1 = tanh %0 : f64[1000000]
          ...
    %9 = checkpoint %0 %8 function='layer' : (f64[1000000])  ; adjoint of %4
        body (%0, %1):
          ...recompute, then the VJP

``custom_vjp`` marks the results of a function with a gradient rule of the user's own
(``graphc.custom_vjp``, ``graphc.custom_jvp``). Its operands are, in order, the function's results
(computed by ordinary nodes before it), the residuals its rule reads, the values the rule's body
closes over (``consts``), the function's arguments, and the enclosing values the function itself
read (``captured``). Its results are its first operands; its adjoint runs the ``bwd`` body on
(consts, residuals, cotangents) and sends what it returns to the arguments only, so the gradient
never flows through the ordinary nodes that computed the results. Once differentiation is over,
simplification replaces each result by the operand it is (``graphc.passes.simplify``).
"""
from __future__ import annotations

import numpy as np

from graphc.ops import STRUCTURAL, Results, apply, batch_size, defop, with_batch_axis
from graphc.ops.control import _bind, _check, _check_inputs, _outputs, same_type


# ---- checkpoint ------------------------------------------------------------------------------------
def _checkpoint_shape(*avals, body, function):
    _check_inputs(body, list(avals), "checkpoint body")
    return Results(_outputs(body))


def _checkpoint_reference(*operands, body, function, evaluator=None):
    return tuple(_bind(evaluator, body, ())(*operands))


def _checkpoint_batch(batched, *operands, body, function):
    from graphc.passes.batching import batch_graph  # passes stand to the right of ops

    size = batch_size(batched, operands)
    return apply("checkpoint", *operands, body=batch_graph(body, list(batched), size), function=function)


def _checkpoint_adjoint(g, out, *operands, **attrs):
    from graphc.passes.control_ad import checkpoint_adjoint

    return checkpoint_adjoint(g, out, *operands, **attrs)


defop("checkpoint", arity=None, shape=_checkpoint_shape, reference=_checkpoint_reference,
      adjoint=_checkpoint_adjoint, emit=STRUCTURAL, batch=_checkpoint_batch,
      doc="graphc.checkpoint: a function's body run as one node; its adjoint recomputes the body")


# ---- custom_vjp ------------------------------------------------------------------------------------
def _custom_shape(*avals, bwd, num_outputs, num_residuals, num_consts, num_args, function, linear):
    outs = avals[:num_outputs]
    residuals = avals[num_outputs:num_outputs + num_residuals]
    consts = avals[num_outputs + num_residuals:num_outputs + num_residuals + num_consts]
    args = avals[num_outputs + num_residuals + num_consts:][:num_args]
    _check_inputs(bwd, list(consts) + list(residuals) + list(outs), "custom rule")
    results = _outputs(bwd)
    _check(len(results) == len(args) and all(map(same_type, results, args)),
           f"custom rule gives {results} for arguments {list(args)}")
    return Results(outs)


def _custom_reference(*operands, bwd, num_outputs, num_residuals, num_consts, num_args, function, linear):
    return tuple(operands[:num_outputs])


def _custom_batch(batched, *operands, bwd, num_outputs, num_residuals, num_consts, num_args, function, linear):
    # The results and the arguments all get the batch axis, so that the batched rule (which gives
    # every output batched) still maps the results' cotangents to the arguments' one for one; an
    # argument the same for every example then sums its cotangent over the batch (broadcast_to's adjoint).
    from graphc.passes.batching import batch_graph

    size = batch_size(batched, operands)
    spans = np.cumsum([0, num_outputs, num_residuals, num_consts, num_args, len(operands)]).tolist()
    lifted = list(operands)
    for k in [*range(spans[0], spans[1]), *range(spans[3], spans[4])]:
        if not batched[k]:
            lifted[k] = with_batch_axis(operands[k], size)
    flags = list(batched[spans[2]:spans[3]]) + list(batched[spans[1]:spans[2]]) + [True] * num_outputs
    return apply("custom_vjp", *lifted, bwd=batch_graph(bwd, flags, size), num_outputs=num_outputs,
                 num_residuals=num_residuals, num_consts=num_consts, num_args=num_args, function=function,
                 linear=linear)


def _custom_adjoint(g, out, *operands, **attrs):
    from graphc.passes.control_ad import custom_vjp_adjoint

    return custom_vjp_adjoint(g, out, *operands, **attrs)


defop("custom_vjp", arity=None, shape=_custom_shape, reference=_custom_reference, adjoint=_custom_adjoint,
      emit=STRUCTURAL, batch=_custom_batch,
      doc="results of a function with its own gradient rule (graphc.custom_vjp / custom_jvp); gone after "
          "differentiation")

#: The ops of this module.
CALL_OPS = frozenset({"checkpoint", "custom_vjp"})
