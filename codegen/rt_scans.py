"""Numba helpers for graphc.ops.scans (generated code imports them through graphc.codegen.runtime).

Every helper that works along one axis takes the operand as a C-contiguous 3-d view
``(pre, n, post)``: the axis is the middle one, so no transpose is ever needed, and the innermost
loop runs over ``post``, the contiguous dimension. The result has the same 3-d layout.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["_prod3", "_cumsum3", "_cumprod3", "_linrec3", "_sort3", "_argsort3", "_permute3",
           "_argmax3", "_argmin3", "_np_sort", "_np_argsort", "_np_partition", "_np_argpartition"]

_jit = numba.njit(cache=True, error_model="numpy")


@_jit
def _prod3(x3, out):
    """``out[p, q] *= prod(x3[p, :, q])``, multiplying left to right in ``out``'s dtype (start ``out`` at 1)."""
    pre, n, post = x3.shape
    for p in range(pre):
        if post == 1:  # a contiguous row: a local accumulator (out might alias x3 for all LLVM knows)
            acc = out[p, 0]
            for j in range(n):
                acc *= x3[p, j, 0]
            out[p, 0] = acc
            continue
        for j in range(n):
            for q in range(post):
                out[p, q] *= x3[p, j, q]
    return out


@_jit
def _scan3(x3, out, product):
    """Running sums (or products) along the middle axis, left to right as ``np.cumsum``
    (``np.cumprod``), in ``out``'s dtype."""
    pre, n, post = x3.shape
    for p in range(pre):
        if n == 0:
            continue
        for q in range(post):
            out[p, 0, q] = x3[p, 0, q]
        if post == 1:  # contiguous rows: one running value, kept in out's dtype
            acc = out[p, 0, 0]
            for j in range(1, n):
                acc = acc * x3[p, j, 0] if product else acc + x3[p, j, 0]
                out[p, j, 0] = acc
            continue
        for j in range(1, n):
            for q in range(post):
                if product:
                    out[p, j, q] = out[p, j - 1, q] * x3[p, j, q]
                else:
                    out[p, j, q] = out[p, j - 1, q] + x3[p, j, q]
    return out


@_jit
def _cumsum3(x3, out):
    return _scan3(x3, out, False)


@_jit
def _cumprod3(x3, out):
    return _scan3(x3, out, True)


@_jit
def _linrec3(a3, b3, out, reverse):
    """``h[j] = a[j] * h[j-1] + b[j]`` along the middle axis (``h[j+1]`` when ``reverse``); the first ``h`` is ``b``."""
    pre, n, post = b3.shape
    for p in range(pre):
        for k in range(n):
            j = n - 1 - k if reverse else k
            if k == 0:
                for q in range(post):
                    out[p, j, q] = b3[p, j, q]
            else:
                prev = j + 1 if reverse else j - 1
                for q in range(post):
                    out[p, j, q] = a3[p, j, q] * out[p, prev, q] + b3[p, j, q]
    return out


@_jit
def _sort3(x3):
    """``np.sort`` along the middle axis (NaN last, as NumPy)."""
    pre, n, post = x3.shape
    out = np.empty_like(x3)
    buf = np.empty(n, x3.dtype)
    for p in range(pre):
        for q in range(post):
            for j in range(n):
                buf[j] = x3[p, j, q]
            s = np.sort(buf)
            for j in range(n):
                out[p, j, q] = s[j]
    return out


@_jit
def _argsort3(x3):
    """Stable ``np.argsort`` along the middle axis: ties keep their index order, NaN last."""
    pre, n, post = x3.shape
    out = np.empty((pre, n, post), np.int64)
    buf = np.empty(n, x3.dtype)
    for p in range(pre):
        for q in range(post):
            for j in range(n):
                buf[j] = x3[p, j, q]
            s = np.argsort(buf, kind="mergesort")
            for j in range(n):
                out[p, j, q] = s[j]
    return out


@_jit
def _permute3(x3, p3, inverse):
    """``out[j] = x[perm[j]]`` along the middle axis; with ``inverse``, ``out[perm[j]] = x[j]``."""
    pre, n, post = x3.shape
    out = np.empty_like(x3)
    for p in range(pre):
        for j in range(n):
            for q in range(post):
                k = p3[p, j, q]
                if inverse:
                    out[p, k, q] = x3[p, j, q]
                else:
                    out[p, j, q] = x3[p, k, q]
    return out


@_jit
def _arg_extreme3(x3, greatest):
    """Index of the first maximum (or minimum) along the middle axis; the first NaN wins, as in NumPy."""
    pre, n, post = x3.shape
    out = np.zeros((pre, post), np.int64)
    for p in range(pre):
        for q in range(post):
            best = x3[p, 0, q]
            if best != best:
                continue
            for j in range(1, n):
                v = x3[p, j, q]
                if v != v:
                    out[p, q] = j
                    break
                if (v > best) if greatest else (v < best):
                    best = v
                    out[p, q] = j
    return out


@_jit
def _argmax3(x3):
    return _arg_extreme3(x3, True)


@_jit
def _argmin3(x3):
    return _arg_extreme3(x3, False)


def _np_sort(x, axis):
    """NumPy's own (SIMD) ``np.sort``, called from ``numba.objmode`` for big arrays."""
    return np.ascontiguousarray(np.sort(x, axis=axis))


def _np_argsort(x, axis):
    """NumPy's own stable ``np.argsort`` (int64), called from ``numba.objmode`` for big arrays."""
    return np.ascontiguousarray(np.argsort(x, axis=axis, kind="stable")).astype(np.int64)


def _np_partition(x, kth, axis):
    """NumPy's own ``np.partition``, called from ``numba.objmode``: its order besides ``kth`` is
    NumPy's implementation's, so only NumPy itself reproduces it exactly."""
    return np.ascontiguousarray(np.partition(x, kth, axis=axis))


def _np_argpartition(x, kth, axis):
    """NumPy's own ``np.argpartition`` (int64), called from ``numba.objmode``."""
    return np.ascontiguousarray(np.argpartition(x, kth, axis=axis)).astype(np.int64)
