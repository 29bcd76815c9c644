"""Numba helpers that generated modules import: the pieces NumPy-in-Numba lacks.

Generated code calls these by name (``_sigmoid``, ``_rowsum``…); they are ordinary
``@njit(cache=True)`` functions, so Numba caches them like any library code.
"""
from __future__ import annotations

import numba
import numpy as np

from graphc.codegen.rt_vmath import vsigmoid
from graphc.errors import ArgumentShapeError

__all__ = ["ArgumentShapeError", "_numpy_ufunc", "_sigmoid_array", "_lane_total", "_rowsum", "_rowmax", "_rowmin", "_matmul_loops"]

_jit = numba.njit(cache=True, error_model="numpy")


def _numpy_ufunc(name: str, *operands):
    """NumPy's own (SIMD) ufunc ``np.<name>``, called from ``numba.objmode`` in generated kernels.

    Plain Python: NumPy would warn on overflow where Numba code silently gives inf, so warnings are
    off, and the result is C-contiguous, as the objmode type declares.
    """
    with np.errstate(all="ignore"):
        return np.ascontiguousarray(getattr(np, name)(*operands))


@_jit
def _sigmoid_array(x):
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty_like(flat)
    for i in range(flat.size):
        out[i] = vsigmoid(flat[i])
    return out.reshape(x.shape)


@_jit
def _lane_total(lanes):
    """The sum of a fused loop's ``(rows, 8)`` partial sums: each row's lanes pairwise, then the rows
    in order (codegen/loops.py, ``_lane_loops``)."""
    total = _lanes_pairwise(lanes[0])
    for r in range(1, lanes.shape[0]):
        total += _lanes_pairwise(lanes[r])
    return total


@_jit
def _lanes_pairwise(p):
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))


@_jit
def _rowsum(x2, out):
    """``out[i] = sum(x2[i, :])``, accumulating in ``out``'s dtype."""
    for i in range(x2.shape[0]):
        acc = out[i]
        for j in range(x2.shape[1]):
            acc += x2[i, j]
        out[i] = acc
    return out


@_jit
def _rowmax(x2):
    out = np.empty(x2.shape[0], x2.dtype)
    for i in range(x2.shape[0]):
        out[i] = np.max(x2[i])
    return out


@_jit
def _rowmin(x2):
    out = np.empty(x2.shape[0], x2.dtype)
    for i in range(x2.shape[0]):
        out[i] = np.min(x2[i])
    return out


@_jit
def _matmul_loops(a2, b2, out):
    """``out += a2 @ b2`` for 2-d arrays by loops, for dtypes BLAS does not take (integers)."""
    n, k = a2.shape
    m = b2.shape[1]
    for i in range(n):
        for p in range(k):
            aip = a2[i, p]
            for j in range(m):
                out[i, j] += aip * b2[p, j]
    return out


# Helpers of the other op families live beside this module; generated code sees them all here.
from graphc.codegen import (  # noqa: E402
    rt_contract, rt_gather, rt_lapack, rt_linalg, rt_manip, rt_matfuncs, rt_rolled, rt_scans, rt_shape, rt_signal,
    rt_special, rt_ufuncs, rt_vmath)
from graphc.codegen.rt_contract import *  # noqa: E402,F401,F403
from graphc.codegen.rt_gather import *  # noqa: E402,F401,F403
from graphc.codegen.rt_linalg import *  # noqa: E402,F401,F403
from graphc.codegen.rt_lapack import *  # noqa: E402,F401,F403
from graphc.codegen.rt_matfuncs import *  # noqa: E402,F401,F403
from graphc.codegen.rt_special import *  # noqa: E402,F401,F403
from graphc.codegen.rt_manip import *  # noqa: E402,F401,F403
from graphc.codegen.rt_rolled import *  # noqa: E402,F401,F403
from graphc.codegen.rt_scans import *  # noqa: E402,F401,F403
from graphc.codegen.rt_shape import *  # noqa: E402,F401,F403
from graphc.codegen.rt_signal import *  # noqa: E402,F401,F403
from graphc.codegen.rt_ufuncs import *  # noqa: E402,F401,F403
from graphc.codegen.rt_vmath import *  # noqa: E402,F401,F403

__all__ += [name for module in (
    rt_contract, rt_gather, rt_lapack, rt_linalg, rt_manip, rt_matfuncs, rt_rolled, rt_scans, rt_shape, rt_signal,
    rt_special, rt_ufuncs, rt_vmath) for name in module.__all__]
