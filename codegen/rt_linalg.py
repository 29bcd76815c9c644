"""Numba helpers for graphc.ops.linalg (generated code imports them through graphc.codegen.runtime).

Every float product site of a kernel calls ``_matmul2``, which Numba compiles once per layout combination
and keeps on disk, instead of resolving ``np.dot`` (and ``np.asfortranarray``/``np.ascontiguousarray``
on its operands) afresh at each site: issue 13 measured 65-130 ms of Numba time per statement of an
unrolled RNN, most of it there.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

__all__ = ["_matmul2", "_matmul2_into"]

_jit = numba.njit(cache=True, error_model="numpy")

#: Helpers with a variant that writes its result into one more, last argument: a rolled kernel's
#: buffer (codegen/rolled.py).
WRITES_INTO = {"_matmul2": "_matmul2_into"}


def _blas_ready(a):
    """``a`` as BLAS takes it: itself when C- or F-contiguous, else a C-contiguous copy."""
    return a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)


@overload(_blas_ready)
def _blas_ready_numba(a):
    # Decided on the Numba type: a strided view (layout 'A') is copied, as np.dot would after a warning.
    if isinstance(a, types.Array) and a.layout in "CF":
        return lambda a: a
    return lambda a: np.ascontiguousarray(a)


@_jit
def _matmul2(a, b):
    """``np.dot(a, b)`` for 1-d and 2-d float arrays of one dtype, by BLAS (a transposed C array is
    F-contiguous: no copy)."""
    return np.dot(_blas_ready(a), _blas_ready(b))


@_jit
def _matmul2_into(a, b, out):
    """``_matmul2(a, b)`` written into ``out`` (C-contiguous, of the product's shape): a rolled kernel's
    buffer, so the product needs no array of its own."""
    np.dot(_blas_ready(a), _blas_ready(b), out)
