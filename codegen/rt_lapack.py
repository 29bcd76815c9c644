"""Numba helpers for graphc.ops.lapack: Numba's own ``np.linalg`` (LAPACK, through SciPy), called once
per matrix of a (batch, m, n) stack, since Numba's functions take one matrix at a time.

A factorization of several results returns a tuple of stacks.
"""
from __future__ import annotations

import llvmlite.binding as llvm_binding
import numba
import numpy as np
from numba.core import types
from numba.extending import get_cython_function_address, overload

__all__ = ["_cholesky3", "_solve3", "_inv3", "_slogdet3", "_eigh_lower3", "_eigh_upper3", "_svd3", "_qr3", "_solve_triangular3"]

_jit = numba.njit(cache=True, error_model="numpy")


@_jit
def _cholesky3(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = np.linalg.cholesky(a[i])
    return out


@_jit
def _solve3(a, b):
    out = np.empty_like(b)
    for i in range(a.shape[0]):
        out[i] = np.linalg.solve(a[i], b[i])
    return out


@_jit
def _inv3(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = np.linalg.inv(a[i])
    return out


@_jit
def _slogdet3(a):
    sign = np.empty(a.shape[0], a.dtype)
    logdet = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        sign[i], logdet[i] = np.linalg.slogdet(a[i])
    return sign, logdet


@_jit
def _eigh_lower3(a):
    n = a.shape[1]
    w = np.empty((a.shape[0], n), a.dtype)
    v = np.empty_like(a)
    for i in range(a.shape[0]):
        w[i], v[i] = np.linalg.eigh(a[i])
    return w, v


# ---- eigh of the upper triangle: LAPACK syevd through SciPy's Cython bindings -------------------------
# Numba's np.linalg.eigh reads the lower triangle only. NumPy's UPLO='U' runs syevd on the upper one,
# which reduces the matrix in another order: the same eigenvalues, eigenvectors of other signs. To
# give NumPy's eigenvectors, UPLO='U' calls syevd with 'U' (registered like trsm below).
for _name in ("dsyevd", "ssyevd"):
    llvm_binding.add_symbol(f"graphc_{_name}", get_cython_function_address("scipy.linalg.cython_lapack", _name))
_dsyevd = types.ExternalFunction("graphc_dsyevd", types.void(*([types.voidptr] * 11)))
_ssyevd = types.ExternalFunction("graphc_ssyevd", types.void(*([types.voidptr] * 11)))


@_jit
def _eigh_upper3(a):
    """``np.linalg.eigh(a[i], UPLO='U')`` for each i: syevd with 'V' and 'U' on a Fortran-ordered copy."""
    count, n = a.shape[0], a.shape[1]
    w = np.empty((count, n), a.dtype)
    v = np.empty_like(a)
    flags = np.array([ord("V"), ord("U")], np.uint8)
    sizes = np.array([n, n, -1, -1, 0], np.int32)  # n, lda, lwork, liwork, info
    query, iquery = np.empty(1, a.dtype), np.empty(1, np.int32)
    column = np.empty((n, n), a.dtype)
    if n > 0:
        _syevd(flags, sizes, column, w[0], query, iquery)  # the workspace sizes
    work, iwork = np.empty(max(1, int(query[0])), a.dtype), np.empty(max(1, iquery[0]), np.int32)
    sizes[2], sizes[3] = work.size, iwork.size
    for i in range(count):
        column[:, :] = a[i].T  # Fortran order: syevd's 'U' then reads a[i]'s upper triangle
        _syevd(flags, sizes, column, w[i], work, iwork)
        if sizes[4] > 0:
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        v[i] = column.T
    return w, v


def _syevd(flags, sizes, a, w, work, iwork):
    """One syevd call (the routine picked by dtype, in Numba)."""


@overload(_syevd)
def _syevd_numba(flags, sizes, a, w, work, iwork):
    routine = _dsyevd if a.dtype == types.float64 else _ssyevd

    def call(flags, sizes, a, w, work, iwork):
        routine(flags[0:].ctypes, flags[1:].ctypes, sizes[0:].ctypes, a.ctypes, sizes[1:].ctypes, w.ctypes,
                work.ctypes, sizes[2:].ctypes, iwork.ctypes, sizes[3:].ctypes, sizes[4:].ctypes)

    return call


@_jit
def _svd3(a, full_matrices):
    m, n = a.shape[1], a.shape[2]
    k = min(m, n)
    u = np.empty((a.shape[0], m, m if full_matrices else k), a.dtype)
    s = np.empty((a.shape[0], k), a.dtype)
    vh = np.empty((a.shape[0], n if full_matrices else k, n), a.dtype)
    for i in range(a.shape[0]):
        u[i], s[i], vh[i] = np.linalg.svd(a[i], full_matrices=full_matrices)
    return u, s, vh


@_jit
def _qr3(a):
    m, n = a.shape[1], a.shape[2]
    k = min(m, n)
    q = np.empty((a.shape[0], m, k), a.dtype)
    r = np.empty((a.shape[0], k, n), a.dtype)
    for i in range(a.shape[0]):
        q[i], r[i] = np.linalg.qr(a[i])
    return q, r


# ---- triangular solves: BLAS trsm through SciPy's Cython bindings --------------------------------
# Numba's np.linalg has no triangular solve. The routine is called by a symbol name registered with
# LLVM at import (as Numba does for its own LAPACK calls), so kernels that use it stay cacheable on
# disk. Fortran BLAS takes every argument by pointer; a C-ordered matrix read in Fortran order is its
# transpose, so op(A) X = B is solved as X^T op(A)^T = B^T: a right-side trsm on the same memory with
# the triangle flipped.
for _name in ("dtrsm", "strsm"):
    llvm_binding.add_symbol(f"graphc_{_name}", get_cython_function_address("scipy.linalg.cython_blas", _name))
_dtrsm = types.ExternalFunction("graphc_dtrsm", types.void(*([types.voidptr] * 11)))
_strsm = types.ExternalFunction("graphc_strsm", types.void(*([types.voidptr] * 11)))


@_jit
def _trsm_flags(lower, trans):
    side = np.array([ord("R")], np.uint8)
    uplo = np.array([ord("U") if lower else ord("L")], np.uint8)
    transa = np.array([ord("T") if trans else ord("N")], np.uint8)
    diag = np.array([ord("N")], np.uint8)
    return side, uplo, transa, diag


@_jit
def _solve_triangular3(a, b, lower, trans):
    """op(a[i]) x[i] = b[i] for each i, op the identity or the transpose, a[i] lower or upper triangular
    (only that triangle is read)."""
    n, k = b.shape[1], b.shape[2]
    x = b.copy()
    side, uplo, transa, diag = _trsm_flags(lower, trans)
    sizes = np.array([k, n, n, k], np.int32)  # m, n, lda, ldb of the Fortran call
    one = np.ones(1, a.dtype)
    for i in range(a.shape[0]):
        _trsm(side, uplo, transa, diag, sizes, one, a[i], x[i])
    return x


def _trsm(side, uplo, transa, diag, sizes, one, a, x):
    """One trsm call on C-contiguous ``a`` and ``x`` (the routine picked by dtype, in Numba)."""


@overload(_trsm)
def _trsm_numba(side, uplo, transa, diag, sizes, one, a, x):
    routine = _dtrsm if a.dtype == types.float64 else _strsm

    def call(side, uplo, transa, diag, sizes, one, a, x):
        routine(side.ctypes, uplo.ctypes, transa.ctypes, diag.ctypes, sizes[0:].ctypes, sizes[1:].ctypes,
                one.ctypes, a.ctypes, sizes[2:].ctypes, x.ctypes, sizes[3:].ctypes)

    return call
