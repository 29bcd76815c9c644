"""NaN-ignoring reductions, weighted averages and a few more of NumPy's functions, as composites:
nansum, nanprod, nanmean, nanvar, nanstd, nanmax, nanmin, average, ptp, round/around, heaviside, vdot, any,
all.

Each follows NumPy's own algorithm (numpy/lib/_nanfunctions_impl.py and friends) step for step, so values
and dtypes are NumPy's; a NaN entry gets a zero gradient, as in JAX.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, defcomposite, ndim_of, normalize_axis, shape_of, unsupported


def _dtype(a) -> np.dtype:
    return np.dtype(a.dtype if hasattr(a, "dtype") else np.result_type(a))


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


def _count_all(a, axis) -> int:
    """How many elements of ``a`` each mean over ``axis`` gathers."""
    return math.prod(shape_of(a)[i] for i in normalize_axis(axis, ndim_of(a), "average"))


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``np.average``: ``sum(a * w) / sum(w)`` along ``axis``, a 1-d ``weights`` lying along one axis as
    NumPy allows; ``returned=True`` adds the sum of the weights, broadcast to the average's shape."""
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = np.asarray(_count_all(a, axis), _dtype(avg))
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
    """``np.any``: whether some entry is nonzero (NaN counts), as a count of them above zero."""
    _plain("any", out, rest)
    nonzero = a if _dtype(a) == np.bool_ else np.not_equal(a, 0)
    return np.greater(np.sum(apply("astype", nonzero, dtype=np.dtype(np.int64).str), axis=axis, keepdims=keepdims), 0)


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


for _function, _numpy in [(nansum, np.nansum), (nanprod, np.nanprod), (nanmean, np.nanmean), (nanvar, np.nanvar),
                          (nanstd, np.nanstd), (nanmax, np.nanmax), (nanmin, np.nanmin), (ptp, np.ptp),
                          (average, np.average), (heaviside, np.heaviside), (vdot, np.vdot), (any_, np.any),
                          (all_, np.all)]:
    defcomposite((_numpy,), _function)
defcomposite((np.round, np.around), round_)
