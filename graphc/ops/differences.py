"""Statistics and differences as composites of the scans and shape primitives: var, std, diff, gradient."""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, defcomposite, ndim_of, normalize_axis, shape_of, unsupported
from graphc.ops.scans import _along, _one_axis


def _count(a, axes: tuple) -> int:
    """How many elements of ``a`` each result of a reduction over ``axes`` gathers."""
    return math.prod(shape_of(a)[i] for i in axes)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    """``np.var``: ``sum((a - mean)**2) / max(n - ddof, 0)`` in NumPy's order of operations.

    Integer input is averaged in float64, as NumPy does. ``dtype=`` casts the input first.
    """
    if out is not None or where is not None or mean is not None:
        raise unsupported("np.var / np.std with out=, where= or mean=")
    if correction is not None:
        ddof = correction
    if dtype is not None or np.dtype(a.dtype if hasattr(a, "dtype") else np.result_type(a)).kind in "biu":
        a = apply("astype", a, dtype=np.dtype(dtype or np.float64).str)
    axes = normalize_axis(axis, ndim_of(a), "var")
    n = _count(a, axes)
    deviation = a - apply("sum", a, axis=axes, keepdims=True) / n
    return apply("sum", deviation * deviation, axis=axes, keepdims=bool(keepdims)) / max(n - ddof, 0)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **rest):
    """``np.std``: the square root of ``np.var``. At zero variance its gradient is NaN, as JAX's
    (``sqrt``'s derivative is infinite at 0); take ``sqrt(var + eps)`` for a finite one.

    The one exception is a standard deviation of one element each (a 0-d input, or an axis of length
    1): it is identically 0 (NaN with ``ddof=1``), so it is the variance itself, whose value is the
    same and whose gradient is 0, as autograd's."""
    variance = var(a, axis, dtype, out, ddof, keepdims, **rest)
    if _count(a, normalize_axis(axis, ndim_of(a), "std")) == 1:
        return variance
    return np.sqrt(variance)


_NO = np._NoValue  # NumPy's "argument not given"


def diff(a, n=1, axis=-1, prepend=_NO, append=_NO):
    """``np.diff``: ``a[1:] - a[:-1]`` along ``axis``, ``n`` times; ``prepend``/``append`` joined first."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ShapeError(f"np.diff needs a non-negative integer order n, got {n!r}", user_frame())
    if ndim_of(a) == 0:
        raise ShapeError("np.diff needs an input of at least one dimension", user_frame())
    if n == 0:
        return a
    axis = _one_axis(axis, ndim_of(a), "diff")
    shape = shape_of(a)
    edge = shape[:axis] + (1,) + shape[axis + 1:]
    parts = [p if ndim_of(p) else np.broadcast_to(p, edge) for p in (prepend,) if p is not _NO]
    parts += [a] + [p if ndim_of(p) else np.broadcast_to(p, edge) for p in (append,) if p is not _NO]
    if len(parts) > 1:
        a = np.concatenate([p if hasattr(p, "shape") else np.asarray(p) for p in parts], axis=axis)
    for _ in range(n):
        later, earlier = a[_along(axis, slice(1, None))], a[_along(axis, slice(None, -1))]
        a = later != earlier if np.dtype(a.dtype) == np.bool_ else later - earlier
    return a


def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient`` with uniform spacing (default 1, or one scalar per axis): central differences
    inside, one-sided differences of order ``edge_order`` at both ends; NumPy's formulas, term for term."""
    nd = ndim_of(f)
    if nd == 0:
        raise ShapeError("np.gradient needs an input of at least one dimension", user_frame())
    axes = normalize_axis(axis, nd, "gradient")
    if axis is not None and not isinstance(axis, (int, np.integer)):
        axes = tuple(normalize_axis(a, nd, "gradient")[0] for a in axis)  # in the order given
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        varargs = varargs * len(axes)
    if not varargs:
        varargs = (1.0,) * len(axes)
    if len(varargs) != len(axes) or any(hasattr(d, "shape") and np.ndim(d) != 0 for d in varargs):
        raise unsupported("np.gradient with coordinate arrays or a spacing count that does not match the axes",
                          "give one scalar spacing, or one per axis")
    if edge_order not in (1, 2):
        raise ShapeError(f"np.gradient's edge_order must be 1 or 2, got {edge_order!r}", user_frame())
    otype = np.dtype(f.dtype if hasattr(f, "dtype") else np.result_type(f))
    if otype.kind in "biu":
        otype = np.dtype(np.float64)
        f = apply("astype", f, dtype=otype.str)
    results = []
    for ax, dx in zip(axes, varargs):
        if shape_of(f)[ax] < edge_order + 1:
            raise ShapeError("np.gradient needs at least edge_order + 1 samples along each axis", user_frame())
        at = lambda start, stop=None: f[_along(ax, slice(start, stop))]  # noqa: E731
        inner = (at(2) - at(None, -2)) / (2.0 * dx)
        if edge_order == 1:
            first, last = (at(1, 2) - at(0, 1)) / dx, (at(-1) - at(-2, -1)) / dx
        else:
            first = -1.5 / dx * at(0, 1) + 2.0 / dx * at(1, 2) + -0.5 / dx * at(2, 3)
            last = 0.5 / dx * at(-3, -2) + -2.0 / dx * at(-2, -1) + 1.5 / dx * at(-1)
        out = np.concatenate([first, inner, last], axis=ax)
        results.append(out if out.dtype == otype else apply("astype", out, dtype=otype.str))
    return results[0] if len(results) == 1 else tuple(results)


defcomposite((np.var,), var)
defcomposite((np.std,), std)
defcomposite((np.diff,), diff)
defcomposite((np.gradient,), gradient)
