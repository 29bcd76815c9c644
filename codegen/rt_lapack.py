"""Numba helpers for graphc.ops.lapack: Numba's own ``np.linalg`` (LAPACK, through SciPy), called once
per matrix of a (batch, m, n) stack, since Numba's functions take one matrix at a time.

A factorization of several results returns a tuple of stacks.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["_cholesky3", "_solve3", "_inv3", "_slogdet3", "_eigh_lower3", "_svd3", "_qr3"]

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
