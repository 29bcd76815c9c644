"""Helpers NumPy lacks, built from primitives: logsumexp and softmax, numerically stable."""
from __future__ import annotations

import numpy as np

from graphc.ops import apply, ndim_of, normalize_axis, shape_of


def _shift(x, axis: tuple):
    """The max over ``axis`` (kept), as a constant for differentiation; 0 where it is not finite."""
    m = apply("stop_gradient", apply("max", x, axis=axis, keepdims=True))
    # An all -inf (or inf) slice would give inf - inf = NaN; shifting by 0 keeps NumPy's answer.
    return np.where(apply("isfinite", m), m, 0.0)


def logsumexp(x, axis=None, keepdims=False, b=None):
    """``log(sum(b * exp(x), axis))`` without overflow: the max is subtracted first (as scipy does);
    ``b``, positive weights, defaults to ones."""
    axes = normalize_axis(axis, ndim_of(x), "logsumexp")
    m = _shift(x, axes)
    e = np.exp(x - m)
    s = apply("sum", e if b is None else e * b, axis=axes, keepdims=True)
    out = np.log(s) + m
    if keepdims:
        return out
    return apply("reshape", out, shape=tuple(n for i, n in enumerate(shape_of(out)) if i not in axes))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, shifted by the max so no ``exp`` overflows."""
    axes = normalize_axis(axis, ndim_of(x), "softmax")
    e = np.exp(x - _shift(x, axes))
    return e / apply("sum", e, axis=axes, keepdims=True)
