"""Numba helpers for graphc.ops.gather (generated code imports them through graphc.codegen.runtime).

A gather or scatter-add first folds its index arrays into one flat index over the indexed axes
(``_add_index``, once per index array, each wrapped and bounds-checked), then works on the operand
viewed as ``(rows before, indexed, rows after)``::

    v7_i = np.zeros(6, np.int64)
    _add_index(v7_i, np.ascontiguousarray(v3).ravel(), 4, 5)      # rows: index 3 of an axis of 4
    _add_index(v7_i, np.ascontiguousarray(k5).ravel(), 5, 1)      # columns
    v7 = _gather_rows(np.ascontiguousarray(v0).reshape((1, 20, 1)), v7_i).reshape((6,))
"""
from __future__ import annotations

import numba
import numpy as np

from graphc.errors import IndexOutOfBoundsError

__all__ = ["IndexOutOfBoundsError", "_wrap_index", "_add_index", "_gather_rows", "_scatter_add_rows"]

_jit = numba.njit(cache=True, error_model="numpy")


@_jit
def _wrap_index(j, n):
    """``j`` as a position in an axis of ``n``: negatives count from the end; outside it raises."""
    j = np.int64(j)  # uint64 + int64 would be float64 in Numba
    if j < 0:
        j += n
    if j < 0 or j >= n:
        raise IndexOutOfBoundsError("a traced index is out of bounds for its axis (x[i] needs -n <= i < n)")
    return j


@_jit
def _add_index(flat, idx, n, stride):
    """``flat += wrap(idx) * stride`` for 1-d ``idx``: one index array's part of a flat index."""
    for p in range(flat.size):
        flat[p] += _wrap_index(idx[p], n) * stride
    return flat


# Loop order: for short rows (``post`` small) the index loop goes innermost, since an inner loop of a
# few iterations costs more to enter than it does (measured: 10x slower than NumPy at post=1).
SHORT_ROW = 16


@_jit
def _gather_rows(x3, flat):
    """``x3[:, flat, :]`` for a 3-d ``x3`` and in-bounds ``flat``."""
    pre, _, post = x3.shape
    m = flat.size
    out = np.empty((pre, m, post), x3.dtype)
    if post < SHORT_ROW:
        for a in range(pre):
            for c in range(post):
                for p in range(m):
                    out[a, p, c] = x3[a, flat[p], c]
        return out
    for a in range(pre):
        for p in range(m):
            j = flat[p]
            for c in range(post):
                out[a, p, c] = x3[a, j, c]
    return out


@_jit
def _scatter_add_rows(g3, flat, n):
    """Zeros of ``(pre, n, post)`` with ``g3[:, p, :]`` added at row ``flat[p]`` (np.add.at: repeats add)."""
    pre, m, post = g3.shape
    out = np.zeros((pre, n, post), g3.dtype)
    if post < SHORT_ROW:
        for a in range(pre):
            for c in range(post):
                for p in range(m):
                    out[a, flat[p], c] += g3[a, p, c]
        return out
    for a in range(pre):
        for p in range(m):
            j = flat[p]
            for c in range(post):
                out[a, j, c] += g3[a, p, c]
    return out
