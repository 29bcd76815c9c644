"""Numba helpers for graphc.ops.contract and batched matmul (generated code imports them through
graphc.codegen.runtime)."""
from __future__ import annotations

import numba
import numpy as np

__all__: list[str] = ["_batch_index", "_batched_matmul", "_batched_matmul_loops"]

_jit = numba.njit(cache=True, error_model="numpy")


@_jit
def _batch_index(shape, full):
    """For each flat index into batch shape ``full``, the flat index into ``shape`` that NumPy's
    broadcasting reads (``shape`` has ``full``'s length; its size-1 axes repeat)."""
    total = 1
    for d in range(len(full)):
        total *= full[d]
    index = np.zeros(total, np.int64)
    for t in range(total):
        rest, flat, stride = t, 0, 1
        for d in range(len(full) - 1, -1, -1):
            i = rest % full[d]
            rest //= full[d]
            if shape[d] != 1:
                flat += i * stride
            stride *= shape[d]
        index[t] = flat
    return index


@_jit
def _batched_matmul(a3, b3, ia, ib, out3):
    """``out3[t] = a3[ia[t]] @ b3[ib[t]]`` by BLAS (np.dot), one 2-d product per output matrix."""
    for t in range(out3.shape[0]):
        out3[t] = np.dot(a3[ia[t]], b3[ib[t]])
    return out3


@_jit
def _batched_matmul_loops(a3, b3, ia, ib, out3):
    """``out3[t] += a3[ia[t]] @ b3[ib[t]]`` by loops, for dtypes BLAS does not take (integers)."""
    n, k, m = a3.shape[1], a3.shape[2], b3.shape[2]
    for t in range(out3.shape[0]):
        a2, b2 = a3[ia[t]], b3[ib[t]]
        for i in range(n):
            for p in range(k):
                aip = a2[i, p]
                for j in range(m):
                    out3[t, i, j] += aip * b2[p, j]
    return out3
