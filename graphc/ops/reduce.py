"""Reductions: sum, max, min as primitives; mean as sum / count."""
from __future__ import annotations

import math

import numpy as np

from graphc.ops import (
    LINEAR_ALL, Aval, apply, batch_along_axis, defcomposite, defop, dtype_source, ndim_of, normalize_axis, shape_of,
    unsupported,
)


def _reduced_shape(shape: tuple, axis: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axis else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axis)


def _parse_reduction(name):
    def parse(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        if out is not None or rest.get("initial", np._NoValue) is not np._NoValue or "where" in rest:
            raise unsupported(f"np.{name} with out=, initial= or where=")
        if dtype is not None:
            a = apply("astype", a, dtype=np.dtype(dtype).str)
        return (a,), {"axis": normalize_axis(axis, ndim_of(a), name), "keepdims": bool(keepdims)}

    return parse


def _expand(g, shape: tuple, axis: tuple, keepdims: bool):
    """Broadcast a reduced cotangent back over the reduced axes, to ``shape``."""
    if not keepdims:
        g = apply("reshape", g, shape=_reduced_shape(shape, axis, True))
    return apply("broadcast_to", g, shape=tuple(shape))


def _sum_shape(x: Aval, axis, keepdims):
    dtype = np.sum(np.ones((1,) * len(x.shape), x.dtype)).dtype
    return Aval(_reduced_shape(x.shape, axis, keepdims), dtype)


def _chooser_shape(name):
    def rule(x: Aval, axis, keepdims):
        if any(x.shape[i] == 0 for i in axis):
            raise unsupported(f"np.{name} over an empty axis", "NumPy raises here too")
        return Aval(_reduced_shape(x.shape, axis, keepdims), x.dtype)

    return rule


def _chooser_adjoint(g, out, x, axis, keepdims):
    # Ties share the gradient equally (JAX's convention for reduce_max/reduce_min).
    shape = shape_of(x)
    hit = apply("astype", x == _expand(out, shape, axis, keepdims), dtype=np.dtype(x.dtype).str)
    count = apply("sum", hit, axis=axis, keepdims=True)
    return (_expand(g, shape, axis, keepdims) * (hit / apply("broadcast_to", count, shape=shape)),)


def _emit_reduction(kind: str):
    """Numba source for a reduction: axes moved last, a 2-d (kept, reduced) view, one row loop."""

    def emit(args, node, operands):
        (x,), shape = args, operands[0]["shape"]
        axis, out_shape = node["attrs"]["axis"], node["shape"]
        if not axis:
            return x
        if len(axis) == len(shape) and out_shape == ():
            return f"np.{kind}({x})"
        kept = [i for i in range(len(shape)) if i not in axis]
        perm = tuple(kept + list(axis))
        rows = math.prod(shape[i] for i in kept)
        view = f"_transpose({x}, {perm})" if perm != tuple(range(len(shape))) else x
        flat = f"_reshape({view}, ({rows}, {math.prod(shape[i] for i in axis)}))"
        if kind == "sum":
            core = f"_rowsum({flat}, np.zeros({rows}, {dtype_source(node['dtype'])}))"
        else:
            core = f"_row{kind}({flat})"
        return f"{core}[0]" if out_shape == () else f"{core}.reshape({out_shape})"

    return emit


defop("sum", linear=LINEAR_ALL,
      arity=1, shape=_sum_shape, reference=np.sum, numpy=(np.sum,), parse=_parse_reduction("sum"),
      adjoint=lambda g, out, x, axis, keepdims: (_expand(g, shape_of(x), axis, keepdims),),
      emit=_emit_reduction("sum"), batch=batch_along_axis("sum"),
      doc="sum over axes (axis=, keepdims=)")
defop("max", arity=1, shape=_chooser_shape("max"), reference=np.max, numpy=(np.max, np.amax),
      parse=_parse_reduction("max"), adjoint=_chooser_adjoint, emit=_emit_reduction("max"),
      batch=batch_along_axis("max"),
      doc="max over axes; ties share the gradient")
defop("min", arity=1, shape=_chooser_shape("min"), reference=np.min, numpy=(np.min, np.amin),
      parse=_parse_reduction("min"), adjoint=_chooser_adjoint, emit=_emit_reduction("min"),
      batch=batch_along_axis("min"),
      doc="min over axes; ties share the gradient")


def mean(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
    """``np.mean``: the sum divided by the element count, as NumPy computes it."""
    (a,), attrs = _parse_reduction("mean")(a, axis, dtype, out, keepdims, **rest)
    count = math.prod(shape_of(a)[i] for i in attrs["axis"])
    return apply("sum", a, **attrs) / count


defcomposite((np.mean,), mean)
