"""Statistics and differences as composites of the scans and shape primitives: var, std, quantile,
percentile, median, diff, gradient."""
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


def _order_statistics(a, axis, name: str):
    """``a`` sorted along ``axis`` (None: all axes), those axes moved last and made one; integers as
    float64, as NumPy averages them. Returns the sorted values and the axes (normalized)."""
    nd = ndim_of(a)
    axes = normalize_axis(axis, nd, name)
    if np.dtype(a.dtype if hasattr(a, "dtype") else np.result_type(a)).kind in "biu":
        a = apply("astype", a, dtype=np.dtype(np.float64).str)
    kept = [i for i in range(nd) if i not in axes]
    shape = shape_of(a)
    if axes != tuple(range(nd - len(axes), nd)):
        a = apply("transpose", a, axes=tuple(kept) + axes)
    if len(axes) != 1:
        a = apply("reshape", a, shape=tuple(shape[i] for i in kept) + (_count(a, tuple(range(len(kept), nd))),))
    if _count(a, (ndim_of(a) - 1,)) == 0:
        raise ShapeError(f"np.{name} of an empty array (NumPy gives NaN with a warning)", user_frame())
    return np.sort(a, axis=-1), axes  # through np.sort's parse, which makes the axis non-negative


def _at(sorted_values, k: int):
    return sorted_values[..., k]


def _nan_where_any(sorted_values, value):
    """``value``, or NaN where the sorted values hold one (NaN sorts last), as NumPy's median and quantile."""
    last = _at(sorted_values, shape_of(sorted_values)[-1] - 1)
    return np.where(np.isnan(last), last, value)


def _with_kept_dims(value, a, axes: tuple, lead: tuple = ()):
    """``value`` (``lead`` axes, then ``a``'s axes outside ``axes``) with ``axes`` back as size 1."""
    return apply("reshape", value, shape=lead + tuple(1 if i in axes else n for i, n in enumerate(shape_of(a))))


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
             weights=None, interpolation=None):
    """``np.quantile`` with NumPy's default method, 'linear': the values sorted along the axes, then
    between the two around position (n - 1) q, by NumPy's own formula (``a + (b - a) t``, or
    ``b - (b - a)(1 - t)`` from t = 0.5). A NaN along the axes gives NaN. The gradient goes to those two
    elements (through sort's), as JAX's. ``q`` is a number or an array of them, not a traced value."""
    if out is not None or weights is not None or interpolation is not None:
        raise unsupported("np.quantile / np.percentile / np.median with out=, weights= or interpolation=")
    if method != "linear":
        raise unsupported(f"np.quantile with method={method!r}", "method='linear' (NumPy's default) is supported")
    if hasattr(q, "graph"):
        raise unsupported("np.quantile with a traced q", "pass q as a number or a NumPy array")
    # NumPy's result type: a Python number q leaves a's; a floating array or NumPy scalar joins in.
    strong = type(q) not in (int, float) and np.asarray(q).dtype.kind == "f"
    q_dtype, q = np.asarray(q).dtype, np.asarray(q, np.float64)
    if not np.all((q >= 0) & (q <= 1)):
        raise ShapeError("quantiles must be in the range [0, 1] (percentiles in [0, 100])", user_frame())
    s, axes = _order_statistics(a, axis, "quantile")
    if strong and np.result_type(s.dtype, q_dtype) != s.dtype:  # NumPy interpolates in the wider type
        s = apply("astype", s, dtype=np.result_type(s.dtype, q_dtype).str)
    n = shape_of(s)[-1]
    results = []
    for t in q.ravel():
        position = (n - 1) * float(t)
        low = int(math.floor(position))
        high, fraction = min(low + 1, n - 1), position - low
        lo, hi = _at(s, low), _at(s, high)
        step = hi - lo
        value = hi - step * (1.0 - fraction) if fraction >= 0.5 else lo + step * fraction
        results.append(_nan_where_any(s, value))
    value = results[0] if q.ndim == 0 else apply("reshape", np.stack(results), shape=q.shape + shape_of(results[0]))
    return _with_kept_dims(value, a, axes, q.shape) if keepdims else value


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
               weights=None, interpolation=None):
    """``np.percentile``: :func:`quantile` at ``q / 100``."""
    if hasattr(q, "graph"):
        raise unsupported("np.percentile with a traced q", "pass q as a number or a NumPy array")
    dtype = np.dtype(a.dtype if hasattr(a, "dtype") else np.result_type(a))
    hundred = dtype.type(100) if dtype.kind == "f" else 100  # NumPy's division, for NumPy's result type
    q = np.true_divide(q if type(q) in (int, float) else np.asanyarray(q), hundred)
    return quantile(a, q, axis, out, overwrite_input, method, keepdims, weights=weights, interpolation=interpolation)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.median``: the middle of the sorted values, or the mean of the two middle ones, as NumPy
    computes it; NaN where the axes hold one. The gradient goes to the middle element(s)."""
    if out is not None:
        raise unsupported("np.median with out=")
    s, axes = _order_statistics(a, axis, "median")
    n = shape_of(s)[-1]
    middle = _at(s, n // 2) if n % 2 else (_at(s, n // 2 - 1) + _at(s, n // 2)) / 2.0
    value = _nan_where_any(s, middle)
    return _with_kept_dims(value, a, axes) if keepdims else value


defcomposite((np.var,), var)
defcomposite((np.std,), std)
defcomposite((np.diff,), diff)
defcomposite((np.gradient,), gradient)
defcomposite((np.quantile,), quantile)
defcomposite((np.percentile,), percentile)
defcomposite((np.median,), median)
