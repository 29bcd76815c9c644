"""Op test rows for graphc/ops/scans.py; merged into op_cases.CASES."""
from __future__ import annotations

import numpy as np

from graphc.ops import NONZERO, POSITIVE, apply
from op_cases import INTS, SPECIAL, case, reductions


def _np_linrec(a, b, axis=-1, reverse=False):
    """``h[j] = a[j] * h[j-1] + b[j]`` (``h[j+1]`` when reversed), ``h[first] = b[first]``, by plain loops."""
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    out = np.array(b, np.result_type(a, b))
    n = b.shape[-1]
    for index in np.ndindex(b.shape[:-1]):
        order = list(range(n))[::-1] if reverse else list(range(n))
        for prev, j in zip(order, order[1:]):
            out[index + (j,)] = a[index + (j,)] * out[index + (prev,)] + b[index + (j,)]
    return np.moveaxis(out, -1, axis)


def _np_permute(x, perm, axis, inverse):
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        k = perm[index]
        source = index[:axis] + (k,) + index[axis + 1:]
        if inverse:
            out[source] = x[index]
        else:
            out[index] = x[source]
    return out


PERM_2x4 = np.array([[2, 0, 3, 1], [3, 2, 1, 0]])  # one permutation per row (axis -1)
PERM_3x2 = np.array([[1, 0], [2, 2], [0, 1]])      # one permutation per column (axis 0)


def _permute_case(perm, axis, inverse):
    return case(lambda x: apply("permute", x, perm, axis=axis % perm.ndim, inverse=inverse), perm.shape,
                id=f"{'inverse-' if inverse else ''}axis{axis}",
                expected=lambda x: _np_permute(x, perm, axis % perm.ndim, inverse))


def _scans(name):
    f = getattr(np, name)
    return [
        case(lambda x: f(x), (), id="0d"),
        case(lambda x: f(x), (5,), id="1d"),
        case(lambda x: f(x), (2, 3), id="None-flattens"),
        case(lambda x: f(x, axis=0), (3, 2), id="axis0"),
        case(lambda x: f(x, axis=1), (2, 4), id="axis1"),
        case(lambda x: f(x, axis=-1), (2, 3, 4), id="axis-1-3d"),
        case(lambda x: f(x, axis=1), (2, 3, 4), id="axis1-3d"),
        case(lambda x: f(x, axis=0), (1, 3), id="size1-axis"),
        case(lambda x: getattr(x, name)(axis=-2), (2, 3), id="method"),
    ]


def _sorts(name, extra=()):
    f = getattr(np, name)
    return [
        case(lambda x: f(x), (5,), id="1d"),
        case(lambda x: f(x), (3, 4), id="default-axis-1"),
        case(lambda x: f(x, axis=0), (3, 4), id="axis0"),
        case(lambda x: f(x, axis=1), (2, 3, 4), id="axis1-3d"),
        case(lambda x: f(x, axis=None), (2, 3), id="None-flattens"),
        case(lambda x: f(x, axis=-1), (2, 1), id="size1"),
        case(lambda x: f(x, axis=0, kind="stable"), (4, 2), id="kind-stable"),
        *extra,
    ]


def _partitions(name):
    f = getattr(np, name)
    return [
        case(lambda x: f(x, 2), (5,), id="1d-k2"),
        case(lambda x: f(x, -1), (6,), id="k-1"),
        case(lambda x: f(x, 1, axis=0), (4, 3), id="axis0"),
        case(lambda x: f(x, (0, 3)), (2, 5), id="two-kth"),
        case(lambda x: f(x, 1, axis=1), (2, 3, 4), id="axis1-3d"),
        case(lambda x: f(x, 4, axis=None), (2, 3), id="None-flattens"),
        case(lambda x: f(x, 12), (3, 20), id="long-rows"),
    ]


def _args(name):
    f = getattr(np, name)
    return [
        case(lambda x: f(x), (), id="0d"),
        case(lambda x: f(x), (5,), id="1d"),
        case(lambda x: f(x), (2, 3), id="None-flat-index"),
        case(lambda x: f(x, axis=0), (3, 2), id="axis0"),
        case(lambda x: f(x, axis=-1), (2, 3, 4), id="axis-1"),
        case(lambda x: f(x, axis=1, keepdims=True), (2, 3, 4), id="axis1-keepdims"),
        case(lambda x: f(x, keepdims=True), (2, 3), id="None-keepdims"),
        case(lambda x: getattr(x, name)(axis=0), (4, 2), id="method"),
        # Small integers make ties: the first extreme wins.
        case(lambda x: f(x, axis=1), (3, 5), id="ties", domains=(INTS,)),
    ]


CASES: dict = {
    "prod": reductions("prod") + [
        case(lambda x: np.prod(x, axis=1), (3, 4), id="with-zeros", domains=(INTS,)),
        case(lambda x: np.prod(x), (5,), id="one-zero-1d", domains=(INTS,)),
        case(lambda x: np.prod(x, axis=()), (2, 3), id="no-axes"),
        case(lambda x: np.prod(x, axis=(0, 1), keepdims=True), (2, 2, 3), id="axes(0,1)-keepdims"),
        case(lambda x: np.prod(x, dtype=np.float64), (4,), id="dtype"),
    ],
    "cumsum": _scans("cumsum") + [case(lambda x: np.cumsum(x, dtype=np.float64), (3,), id="dtype")],
    "cumprod": _scans("cumprod") + [
        case(lambda x: np.cumprod(x, axis=1), (3, 5), id="with-zeros", domains=(INTS,)),
        case(lambda x: np.cumprod(x), (6,), id="zeros-1d", domains=(INTS,)),
    ],
    "linear_recurrence": [
        case(lambda a, b: apply("linear_recurrence", a, b, axis=0, reverse=False), (5,), (5,), id="1d",
             expected=lambda a, b: _np_linrec(a, b, 0)),
        case(lambda a, b: apply("linear_recurrence", a, b, axis=0, reverse=True), (5,), (5,), id="1d-reverse",
             expected=lambda a, b: _np_linrec(a, b, 0, reverse=True)),
        case(lambda a, b: apply("linear_recurrence", a, b, axis=1, reverse=False), (2, 4, 3), (2, 4, 3),
             id="axis1-3d", expected=lambda a, b: _np_linrec(a, b, 1)),
        case(lambda a, b: apply("linear_recurrence", a, b, axis=0, reverse=True), (3, 2), (3, 2),
             id="axis0-reverse", expected=lambda a, b: _np_linrec(a, b, 0, reverse=True)),
        case(lambda a, b: apply("linear_recurrence", a, b, axis=0, reverse=False), (1,), (1,), id="length1",
             expected=lambda a, b: _np_linrec(a, b, 0)),
    ],
    "sort": _sorts("sort", extra=[
        # Ties: the values are the same whatever the order. sort has a kink there, so no finite difference;
        # tests/test_scans.py checks that the gradient goes to the tied inputs in index order.
        case(lambda x: np.sort(x), (3, 6), id="ties", domains=(INTS,), fd=False),
    ]),
    "argsort": _sorts("argsort", extra=[
        case(lambda x: np.argsort(x, kind="stable"), (3, 6), id="ties-stable", domains=(INTS,)),
    ]),
    "permute": [_permute_case(PERM_2x4, -1, False), _permute_case(PERM_2x4, -1, True),
                _permute_case(PERM_3x2, 0, False), _permute_case(PERM_3x2, 0, True),
                case(lambda x: apply("permute", x, np.argsort(x), axis=1, inverse=False), (2, 5), id="by-argsort",
                     expected=lambda x: np.sort(x))],
    "partition": _partitions("partition"),
    "argpartition": _partitions("argpartition"),
    "argmax": _args("argmax"),
    "argmin": _args("argmin"),
}


def _np_gradient_1d(x):
    return np.gradient(x)


COMPOSITE_CASES = [
    # var and std: mean of squared deviations, / max(n - ddof, 0), as NumPy computes them.
    case(lambda x: np.var(x), (2, 3), id="np.var"),
    case(lambda x: np.var(x, axis=0), (3, 2), id="np.var-axis0"),
    case(lambda x: np.var(x, axis=-1, ddof=1, keepdims=True), (2, 3, 4), id="np.var-ddof1-keepdims"),
    case(lambda x: np.var(x, axis=(0, 2)), (2, 3, 4), id="np.var-axes"),
    case(lambda x: x.var(ddof=1), (5,), id="method-var"),
    case(lambda x: np.var(x), (), id="np.var-0d"),
    case(lambda x: np.std(x), (2, 3), id="np.std"),
    case(lambda x: np.std(x, axis=1, ddof=1), (3, 4), id="np.std-axis1-ddof1"),
    case(lambda x: np.std(x, axis=0, keepdims=True), (4, 2), id="np.std-keepdims"),
    case(lambda x: x.std(axis=-1), (2, 3, 4), id="method-std"),
    # median, quantile, percentile: order statistics of a sort, NumPy's 'linear' interpolation.
    case(lambda x: np.median(x), (7,), id="np.median-odd"),
    case(lambda x: np.median(x), (2, 3), id="np.median-even"),
    case(lambda x: np.median(x, axis=0, keepdims=True), (4, 3), id="np.median-axis0-keepdims"),
    case(lambda x: np.median(x, axis=(0, 2)), (2, 3, 3), id="np.median-axes"),
    case(lambda x: np.quantile(x, 0.3), (10,), id="np.quantile"),
    case(lambda x: np.quantile(x, [0.0, 0.5, 0.95], axis=1), (3, 5), id="np.quantile-list-axis1"),
    case(lambda x: np.quantile(x, np.array([[0.25], [1.0]]), axis=0, keepdims=True), (5, 2), id="np.quantile-2d-q"),
    case(lambda x: np.percentile(x, 75, axis=-1, keepdims=True), (2, 6), id="np.percentile-keepdims"),
    # isnan and isinf: comparisons a NaN fails.
    case(lambda x: np.isnan(x), (7,), id="np.isnan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.isinf(x) | np.isnan(x * 0.5), (7,), id="np.isinf", domains=(SPECIAL,), fd=False),
    # diff: n differences of neighbours along an axis, prepend/append joined first.
    case(lambda x: np.diff(x), (5,), id="np.diff"),
    case(lambda x: np.diff(x, n=2), (6,), id="np.diff-n2"),
    case(lambda x: np.diff(x, axis=0), (3, 4), id="np.diff-axis0"),
    case(lambda x: np.diff(x, n=3, axis=1), (2, 5, 3), id="np.diff-n3-axis1"),
    case(lambda x: np.diff(x, n=0), (3,), id="np.diff-n0"),
    case(lambda x: np.diff(x, prepend=0.0), (4,), id="np.diff-prepend"),
    case(lambda x: np.diff(x, axis=0, append=np.ones((1, 3))), (2, 3), id="np.diff-append-array"),
    case(lambda x, y: np.diff(x, prepend=y), (4,), (1,), id="np.diff-prepend-traced"),
    # np.gradient: central differences inside, one-sided at the edges (edge_order 1 or 2).
    case(lambda x: np.gradient(x), (5,), id="np.gradient-1d"),
    case(lambda x: np.gradient(x, 0.5), (4,), id="np.gradient-spacing"),
    case(lambda x: np.gradient(x, edge_order=2), (5,), id="np.gradient-edge2"),
    case(lambda x: np.stack(np.gradient(x)), (3, 4), id="np.gradient-2d"),
    case(lambda x: np.stack(np.gradient(x, 2.0, 0.5, edge_order=2)), (3, 4), id="np.gradient-2d-spacings"),
    case(lambda x: np.gradient(x, axis=1), (2, 3, 2), id="np.gradient-axis1"),
    case(lambda x: np.stack(np.gradient(x, axis=(0, -1))), (3, 2, 4), id="np.gradient-axes"),
    case(lambda x: np.gradient(x), (2,), id="np.gradient-length2"),
    # Compositions users write.
    case(lambda x: np.sort(x)[..., -2:].sum(axis=-1), (3, 5), id="top2-sum"),
    case(lambda x: np.cumsum(np.diff(x)), (5,), id="cumsum-of-diff"),
    case(lambda x: np.prod(np.cumprod(x, axis=0), axis=1), (3, 3), id="prod-of-cumprod", domains=(POSITIVE,)),
    case(lambda x: x / np.std(x, axis=0) - np.var(x), (4, 3), id="standardize", domains=(NONZERO,)),
]
