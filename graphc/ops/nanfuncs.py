"""NaN-ignoring reductions, weighted averages and a few more of NumPy's functions, as composites:
nansum, nanprod, nancumsum, nancumprod, nanmean, nanvar, nanstd, nanmax, nanmin, average, ptp, round/around,
heaviside, vdot, any, all, meshgrid, isclose, count_nonzero, cov, corrcoef, interp.

Each follows NumPy's own algorithm (numpy/lib/_nanfunctions_impl.py and friends) step for step, so values
and dtypes are NumPy's; a NaN entry gets a zero gradient, as in JAX.
"""
from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, defcomposite, ndim_of, normalize_axis, shape_of, unsupported
from graphc.ops.differences import _count as _gathered  # elements per result of a reduction over axes


def _dtype(a) -> np.dtype:
    return np.dtype(a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype)


def _plain(name: str, out, rest: dict) -> None:
    if out is not None or rest.get("initial", np._NoValue) is not np._NoValue or rest.get("where") is not None:
        raise unsupported(f"np.{name} with out=, initial= or where=")


def _replaced(a, value: float):
    """``a`` with its NaNs replaced by ``value`` (integers have none)."""
    if _dtype(a).kind != "f":
        return a
    return np.where(np.isnan(a), np.asarray(value, _dtype(a)), a)


def _count(a, axis, keepdims: bool):
    """The number of non-NaN entries per result, in ``a``'s float dtype."""
    present = np.logical_not(np.isnan(a))
    return apply("astype", np.sum(present, axis=axis, keepdims=keepdims), dtype=_dtype(a).str)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
    """``np.nansum``: the sum with NaNs as zeros (0 for an all-NaN slice)."""
    _plain("nansum", out, rest)
    return np.sum(_replaced(a, 0.0), axis=axis, dtype=dtype, keepdims=keepdims)


def nancumsum(a, axis=None, dtype=None, out=None):
    """``np.nancumsum``: the running sum with NaNs as zeros."""
    _plain("nancumsum", out, {})
    return np.cumsum(_replaced(a, 0.0), axis=axis, dtype=dtype)


def nancumprod(a, axis=None, dtype=None, out=None):
    """``np.nancumprod``: the running product with NaNs as ones."""
    _plain("nancumprod", out, {})
    return np.cumprod(_replaced(a, 1.0), axis=axis, dtype=dtype)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
    """``np.nanprod``: the product with NaNs as ones."""
    _plain("nanprod", out, rest)
    return np.prod(_replaced(a, 1.0), axis=axis, dtype=dtype, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
    """``np.nanmean``: the sum of the non-NaN entries over their count (NaN for an all-NaN slice)."""
    _plain("nanmean", out, rest)
    if _dtype(a).kind != "f":
        return np.mean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype is not None:
        a = apply("astype", a, dtype=np.dtype(dtype).str)
    return np.sum(_replaced(a, 0.0), axis=axis, keepdims=keepdims) / _count(a, axis, keepdims)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **rest):
    """``np.nanvar``: the variance of the non-NaN entries, NaN where fewer than ``ddof + 1`` remain."""
    _plain("nanvar", out, rest)
    if _dtype(a).kind != "f":
        return np.var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    if dtype is not None:
        a = apply("astype", a, dtype=np.dtype(dtype).str)
    zeroed = _replaced(a, 0.0)
    count = _count(a, axis, True)
    mean = np.sum(zeroed, axis=axis, keepdims=True) / count
    deviation = np.where(np.isnan(a), np.asarray(0.0, _dtype(a)), zeroed - mean)
    dof = _count(a, axis, keepdims) - ddof
    variance = np.sum(deviation * deviation, axis=axis, keepdims=keepdims) / dof
    return np.where(dof <= 0, np.asarray(np.nan, _dtype(a)), variance)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **rest):
    """``np.nanstd``: the square root of :func:`nanvar`."""
    return np.sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, **rest))


def _nan_extreme(name: str, fill: float):
    def extreme(a, axis=None, out=None, keepdims=False, **rest):
        _plain(name, out, rest)
        found = getattr(np, name[3:])(_replaced(a, fill), axis=axis, keepdims=keepdims)
        if _dtype(a).kind != "f":
            return found
        empty = np.all(np.isnan(a), axis=axis, keepdims=keepdims)  # NumPy: NaN, with a warning
        return np.where(empty, np.asarray(np.nan, _dtype(a)), found)

    extreme.__name__ = name
    extreme.__doc__ = f"``np.{name}``: the {name[3:]} of the non-NaN entries (NaN for an all-NaN slice)."
    return extreme


nanmax, nanmin = _nan_extreme("nanmax", -np.inf), _nan_extreme("nanmin", np.inf)


def ptp(a, axis=None, out=None, keepdims=False):
    """``np.ptp``: max - min; the gradient goes to both ends."""
    if out is not None:
        raise unsupported("np.ptp with out=")
    return np.max(a, axis=axis, keepdims=keepdims) - np.min(a, axis=axis, keepdims=keepdims)


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``np.average``: ``sum(a * w) / sum(w)`` along ``axis``, a 1-d ``weights`` lying along one axis as
    NumPy allows; ``returned=True`` adds the sum of the weights, broadcast to the average's shape."""
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = np.asarray(_gathered(a, normalize_axis(axis, ndim_of(a), "average")), _dtype(avg))
    else:
        w = weights if hasattr(weights, "graph") else np.asarray(weights)
        dtype = np.result_type(_dtype(a), _dtype(w), np.float64 if _dtype(a).kind in "biu" else _dtype(a))
        if tuple(shape_of(w)) != tuple(shape_of(a)):
            if axis is None:
                raise ShapeError("np.average: weights of another shape than a need an axis", user_frame())
            if ndim_of(w) != 1 or not isinstance(axis, (int, np.integer)):
                raise ShapeError("np.average: weights of another shape than a must be 1-d, along one axis",
                                 user_frame())
            (axis,) = normalize_axis(axis, ndim_of(a), "average")
            if shape_of(w)[0] != shape_of(a)[axis]:
                raise ShapeError("np.average: the length of weights differs from that of a along axis", user_frame())
            w = np.reshape(w, (-1,) + (1,) * (ndim_of(a) - axis - 1))
        a, w = (x if _dtype(x) == dtype else apply("astype", x, dtype=dtype.str) for x in (a, w))
        w = np.broadcast_to(w, shape_of(a))
        scale = np.sum(w, axis=axis, keepdims=keepdims)
        avg = np.sum(a * w, axis=axis, keepdims=keepdims) / scale
    if returned:
        return avg, np.broadcast_to(scale, shape_of(avg)) if shape_of(scale) != shape_of(avg) else scale
    return avg


def round_(a, decimals=0, out=None):
    """``np.round`` / ``np.around``: half to even, at ``decimals`` places, by NumPy's scaling. Its gradient
    is zero (piecewise constant), as JAX's."""
    if out is not None:
        raise unsupported("np.round with out=")
    if _dtype(a).kind in "biu":
        if decimals >= 0:
            return a
        raise unsupported("np.round of integers to negative decimals")
    if decimals == 0:
        return np.rint(a)
    scale = 10.0 ** abs(int(decimals))
    return np.rint(a * scale) / scale if decimals > 0 else np.rint(a / scale) * scale


def heaviside(x1, x2):
    """``np.heaviside``: 0 below zero, ``x2`` at zero, 1 above; NaN stays NaN."""
    dtype = np.result_type(*(x.dtype if hasattr(x, "graph") else x for x in (x1, x2)))  # Python numbers weak
    zero, one = np.asarray(0.0, dtype), np.asarray(1.0, dtype)
    step = np.where(np.less(x1, 0), zero, np.where(np.greater(x1, 0), one, x2))
    return np.where(np.isnan(x1), x1, step) if _dtype(x1).kind == "f" else step


def any_(a, axis=None, out=None, keepdims=False, **rest):
    """``np.any``: whether some entry is nonzero (NaN counts): a count of them above zero."""
    _plain("any", out, rest)
    return np.greater(count_nonzero(a, axis=axis, keepdims=keepdims), 0)


def all_(a, axis=None, out=None, keepdims=False, **rest):
    """``np.all``: whether no entry is zero."""
    _plain("all", out, rest)
    zero = np.logical_not(a) if _dtype(a) == np.bool_ else np.equal(a, 0)
    return np.logical_not(any_(zero, axis=axis, keepdims=keepdims))


def vdot(a, b):
    """``np.vdot`` of real arrays: the dot product of the flattened arrays."""
    if np.size(a) != np.size(b):
        raise ShapeError(f"np.vdot needs arrays of one size, got {np.size(a)} and {np.size(b)}", user_frame())
    return np.sum(np.ravel(a) * np.ravel(b))


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: coordinate arrays from 1-d ones (a tuple, as NumPy 2 returns)."""
    if indexing not in ("xy", "ij"):
        raise ShapeError(f"np.meshgrid's indexing must be 'xy' or 'ij', got {indexing!r}", user_frame())
    count = len(xi)
    shapes = [(1,) * i + (-1,) + (1,) * (count - i - 1) for i in range(count)]
    if indexing == "xy" and count > 1:  # the first two axes swapped, as NumPy's
        shapes[0], shapes[1] = (1, -1) + (1,) * (count - 2), (-1, 1) + (1,) * (count - 2)
    grids = [np.reshape(np.ravel(x), shape) for x, shape in zip(xi, shapes)]
    if not sparse:
        full = np.broadcast_shapes(*(np.shape(g) for g in grids))
        grids = [np.broadcast_to(g, full) for g in grids]
    return tuple(grids)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``np.isclose``: ``|a - b| <= atol + rtol |b|`` where both are finite, else equality; NumPy's steps."""
    close = np.less_equal(np.abs(a - b), atol + rtol * np.abs(b))
    close = np.logical_or(np.logical_and(close, np.isfinite(b)), np.equal(a, b))
    return np.logical_or(close, np.logical_and(np.isnan(a), np.isnan(b))) if equal_nan else close


def count_nonzero(a, axis=None, *, keepdims=False):
    """``np.count_nonzero``: the number of nonzero entries, as int64."""
    nonzero = a if _dtype(a) == np.bool_ else np.not_equal(a, 0)
    return np.sum(apply("astype", nonzero, dtype=np.dtype(np.int64).str), axis=axis, keepdims=keepdims)


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``np.cov`` without weights: rows (columns with ``rowvar=False``) are variables, NumPy's steps."""
    if fweights is not None or aweights is not None:
        raise unsupported("np.cov with fweights= or aweights=")
    dtype = np.result_type(_dtype(m), np.float64) if dtype is None else np.dtype(dtype)

    def variables(v):
        v = v if _dtype(v) == dtype else apply("astype", v, dtype=dtype.str)
        v = np.reshape(v, (1, -1)) if ndim_of(v) == 1 else v
        if ndim_of(v) != 2:
            raise ShapeError("np.cov needs 1-d or 2-d input", user_frame())
        return np.transpose(v) if not rowvar and shape_of(v)[0] != 1 else v

    X = variables(m)
    if y is not None:
        X = np.concatenate([X, variables(y)], axis=0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    fact = max(shape_of(X)[1] - ddof, 0)
    X = X - np.mean(X, axis=1, keepdims=True)
    with np.errstate(divide="ignore"):  # NumPy warns at fact 0 and multiplies by inf, as this does
        scale = np.true_divide(1, fact)
    return np.squeeze((X @ np.transpose(X)) * scale)


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: the covariance over the outer product of the standard deviations, clipped to
    [-1, 1], as NumPy computes it."""
    c = cov(x, y, rowvar, dtype=dtype)
    if ndim_of(c) == 0:
        return c / c
    deviation = np.sqrt(np.diagonal(c))
    c = c / deviation[:, None] / deviation[None, :]
    return np.clip(c, -1, 1)


def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise-linear interpolation of ``(xp, fp)`` at ``x``. Each ``x`` finds its segment by
    counting the ``xp`` at or below it (memory ``len(x) * len(xp)``), then NumPy's formula
    ``slope * (x - xp[j]) + fp[j]``; ``left``/``right`` outside, ``fp[-1]`` at ``xp[-1]``. Differentiable in
    ``x``, ``xp`` and ``fp``."""
    if period is not None:
        raise unsupported("np.interp with period=")
    x, xp, fp = (v if hasattr(v, "graph") else np.asarray(v) for v in (x, xp, fp))
    if ndim_of(xp) != 1 or ndim_of(fp) != 1 or shape_of(xp)[0] != shape_of(fp)[0] or shape_of(xp)[0] == 0:
        raise ShapeError("np.interp needs 1-d xp and fp of one non-zero length", user_frame())
    dtype = np.result_type(_dtype(x), _dtype(xp), _dtype(fp), np.float64)
    x, xp, fp = (v if _dtype(v) == dtype else apply("astype", v, dtype=dtype.str) if hasattr(v, "graph")
                 else np.asarray(v, dtype) for v in (x, xp, fp))
    k = shape_of(xp)[0]
    left = fp[0] if left is None else left
    right = fp[k - 1] if right is None else right
    if k == 1:
        inside = np.broadcast_to(fp[0], shape_of(x))
    else:
        below = count_nonzero(np.greater_equal(np.expand_dims(x, -1), xp), axis=-1)
        j = np.clip(below - 1, 0, k - 2)
        # the gather primitive itself: np.take of a constant xp would not dispatch on the traced index
        x0, x1, f0, f1 = (apply("gather", table, at, axis=0) for table in (xp, fp) for at in (j, j + 1))
        inside = np.where(np.equal(x, xp[k - 1]), fp[k - 1], (f1 - f0) / (x1 - x0) * (x - x0) + f0)
    result = np.where(np.less(x, xp[0]), left, np.where(np.greater(x, xp[k - 1]), right, inside))
    return np.where(np.isnan(x), x, result)


for _function, _numpy in [(nansum, np.nansum), (nanprod, np.nanprod), (nancumsum, np.nancumsum),
                          (nancumprod, np.nancumprod), (nanmean, np.nanmean), (nanvar, np.nanvar),
                          (nanstd, np.nanstd), (nanmax, np.nanmax), (nanmin, np.nanmin), (ptp, np.ptp),
                          (average, np.average), (heaviside, np.heaviside), (vdot, np.vdot), (any_, np.any),
                          (all_, np.all), (meshgrid, np.meshgrid), (isclose, np.isclose),
                          (count_nonzero, np.count_nonzero), (cov, np.cov), (corrcoef, np.corrcoef),
                          (interp, np.interp)]:
    defcomposite((_numpy,), _function)
defcomposite((np.round, np.around), round_)
