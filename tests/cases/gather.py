"""Op test rows for graphc/ops/gather.py; merged into op_cases.CASES."""
from __future__ import annotations

import numpy as np

from graphc.ops import apply
from op_cases import BOOL, INTS, REAL, case


def _ints(i):
    """A traced integer index from a float operand sampled from INTS (-2..2): -1, 0, 0, 1 or 2.

    The +0.5 keeps the value off the integers, so finite differences never cross a truncation.
    """
    return (i + 0.5).astype(np.int64)


def _scatter(axis, shape, g_shape, id, index=(), traced=()):
    """``scatter_add`` has no NumPy function: called through apply, checked against ``np.add.at``.

    ``index``: constant index arrays; ``traced``: instead, the shapes of INTS operands made into indices.
    """
    def indices(traced_values):
        return tuple(_ints(t) for t in traced_values) or tuple(np.asarray(i, np.intp) for i in index)

    def expected(g, *traced_values):
        out = np.zeros(shape, g.dtype)
        np.add.at(out, (slice(None),) * axis + indices(traced_values), g)
        return out

    return case(lambda g, *t: apply("scatter_add", g, *indices(t), axis=axis, shape=shape), g_shape, *traced,
                id=id, expected=expected, domains=(REAL,) + (INTS,) * len(traced))


TRACED = (REAL, INTS)

CASES = {
    "gather": [
        # constant integer arrays and lists, alone and with slices, ints, None and '...'
        case(lambda x: x[[0, 2, 2]], (4,), id="x[[0,2,2]]-repeated"),
        case(lambda x: x[np.array([[0, -1], [1, 1]])], (3,), id="x[2d-negative]"),
        case(lambda x: x[:, [2, 0]], (2, 3), id="X[:,[2,0]]"),
        case(lambda x: x[[1, 0], [2, 0]], (2, 3), id="X[rows,cols]"),
        case(lambda x: x[[[0], [1]], [0, 2, -1]], (2, 3), id="X[rows,cols]-broadcast"),
        case(lambda x: x[:, 0, [1, 2]], (2, 3, 4), id="x[:,0,[1,2]]-adjacent"),
        case(lambda x: x[0, :, [1, 2]], (2, 3, 4), id="x[0,:,[1,2]]-separated-go-first"),
        case(lambda x: x[[0, 1], :, [3, 3]], (2, 3, 4), id="x[a,:,b]-separated-go-first"),
        case(lambda x: x[None, [1, 0]], (3, 2), id="x[None,[1,0]]"),
        case(lambda x: x[[1], None, [0]], (3, 2), id="x[a,None,b]-newaxis-separates"),
        case(lambda x: x[..., [0, 0, 3]], (2, 3, 4), id="x[...,idx]"),
        case(lambda x: x[1:, [0, 2]], (3, 3), id="X[1:,[0,2]]"),
        case(lambda x: x[::-1, [[1], [0]]], (3, 2), id="X[::-1,2d]"),
        case(lambda x: x[np.array(1)], (3,), id="x[0d-array]"),
        case(lambda x: x[[]], (3,), id="x[[]]-empty"),
        case(lambda x: (x > 0)[[0, 0, 2]], (3,), id="bool-array"),
        case(lambda x: np.exp(x)[[1, 0]] * x[[0, 1]], (2,), id="computed-array"),
        # np.take: the primitive's NumPy spelling
        case(lambda x: np.take(x, [3, 0, -1]), (2, 3), id="np.take-flat"),
        case(lambda x: np.take(x, [[0, 1], [1, 1]], axis=1), (2, 2, 3), id="np.take-axis1-2d"),
        case(lambda x: np.take(x, 1, axis=-1), (2, 3), id="np.take-int-axis-1"),
        case(lambda x: np.take(x, 0), (), id="np.take-0d"),
        # traced integer indices: a second operand, no gradient through it
        case(lambda x, i: x[_ints(i)], (3,), (4,), id="x[traced]", domains=TRACED),
        case(lambda x, i: x[_ints(i)], (3, 2), (), id="X[traced-0d]", domains=TRACED),
        case(lambda x, i: x[:, _ints(i)], (2, 3), (2, 2), id="X[:,traced-2d]", domains=TRACED),
        case(lambda x, i: x[_ints(i), [0, 1, 1]], (3, 2), (3,), id="X[traced,const]", domains=TRACED),
        case(lambda x, i, j: x[_ints(i), _ints(j)], (3, 3), (), (), id="X[traced,traced]-0d",
             domains=(REAL, INTS, INTS)),
        case(lambda x, i, j: x[_ints(i), :, _ints(j)], (3, 2, 3), (2, 1), (3,), id="x[traced,:,traced]",
             domains=(REAL, INTS, INTS)),
        case(lambda x, i: np.take(x, _ints(i), axis=1), (2, 3), (2,), id="np.take-traced", domains=TRACED),
        case(lambda x: x[np.sum(x > 0) - 1], (4,), id="x[data-dependent]"),
    ],
    "scatter_add": [
        _scatter(0, (3,), (3,), index=([0, 2, 0],), id="repeated"),
        _scatter(1, (2, 3), (2, 2, 2), index=([[0, 1], [1, 1]],), id="axis1-2d-index"),
        _scatter(0, (2, 3), (2,), index=([0, 1], [2, 2]), id="two-indices"),
        _scatter(0, (3,), (), index=(1,), id="0d"),
        _scatter(0, (3,), (4,), traced=((4,),), id="traced"),
        _scatter(1, (2, 3, 3), (2, 2), traced=((), (2,)), id="traced-two-indices"),
    ],
}


_MASK = np.array([[True, False, True], [False, False, True]])

COMPOSITE_CASES = [
    # constant boolean masks: a gather of np.nonzero(mask)
    case(lambda x: x[np.array([True, False, True, True])], (4,), id="x[mask]"),
    case(lambda x: x[_MASK], (2, 3), id="X[mask2d]"),
    case(lambda x: x[:, np.array([True, False, True])], (2, 3), id="X[:,mask]"),
    case(lambda x: x[np.array([False, True]), 1:], (2, 3), id="X[mask,1:]"),
    case(lambda x: x[_MASK, None], (2, 3, 2), id="x[mask2d,None]"),
    case(lambda x: x[np.zeros(3, bool)], (3,), id="x[all-false-mask]"),
    case(lambda x: x[[1, 0], np.array([False, True, True])], (2, 3), id="X[list,mask]"),
    case(lambda x: np.sum(x[[0, 0, 0, 1]] ** 2), (3,), id="repeated-gradient-accumulates"),
    # np.take modes
    case(lambda x: np.take(x, [4, -5, 1], mode="wrap"), (3,), id="np.take-wrap"),
    case(lambda x: np.take(x, [[9], [-2]], axis=0, mode="clip"), (3, 2), id="np.take-clip"),
    # np.take_along_axis, constant and traced indices
    case(lambda x: np.take_along_axis(x, np.array([[2, 0, 1], [1, 1, -1]]), axis=1), (2, 3),
         id="take_along_axis-axis1"),
    case(lambda x: np.take_along_axis(x, np.array([[1, 0, 0]]), axis=0), (2, 3), id="take_along_axis-axis0"),
    case(lambda x: np.take_along_axis(x, np.array([[[0], [1], [1]]]), axis=-1), (2, 3, 2), id="take_along_axis-3d"),
    case(lambda x: np.take_along_axis(x, np.zeros((2, 3), np.intp), axis=0), (2, 1), id="take_along_axis-broadcast"),
    case(lambda x: np.take_along_axis(x, np.array([3, 0, 0]), axis=None), (2, 2), id="take_along_axis-None"),
    case(lambda x, i: np.take_along_axis(x, _ints(i), axis=1), (2, 3), (2, 4), id="take_along_axis-traced",
         domains=TRACED),
    case(lambda x, i: np.take_along_axis(x, _ints(i), axis=0), (3, 2), (1, 2), id="take_along_axis-traced-axis0",
         domains=TRACED),
    case(lambda c, x: x[np.where(c, 1, 0)], (2,), (3,), id="x[np.where-int]", domains=(BOOL, REAL)),
]
