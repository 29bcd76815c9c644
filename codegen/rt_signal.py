"""Numba helpers for graphc.ops.signal (generated code imports them through graphc.codegen.runtime).

One helper serves every rank. Its operands come as C-contiguous 3-d views ``(batch, rows, last)``:
the batch axes flattened, the convolved axes but the last flattened into rows, and the last axis
itself. The row sizes arrive in one int64 array ``dims`` (``x``'s, ``k``'s and the output's convolved
sizes, then each axis' offset: 0 for 'full', ``m - 1`` for 'valid'), so Numba compiles the helper
once per dtype combination, not once per rank or shape.

The sum is the direct one, ordered for the vector unit: for each kernel element ``k[j]``, a shifted
``x`` scaled by it is added to the output (an axpy along the last axis, contiguous in both). So
``out[t]`` accumulates ``x[t - j] * k[j]`` with ``j`` in C order over the kernel's axes, in the output's
dtype: the order of the NumPy tier's shift-and-add (``graphc.ops.signal``), so the two tiers agree to
the last bit there. Without ``fastmath``, LLVM keeps that order and does not fuse the multiply-add.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["_convolve3"]

_jit = numba.njit(cache=True, error_model="numpy")


@_jit
def _row_indices(sizes, rows):
    """The multi-index over the axes of ``sizes`` (all but the last convolved axis) of each flat row, in C order."""
    r = len(sizes) - 1
    index = np.zeros((rows, max(r, 1)), np.int64)
    for row in range(rows):
        rest = row
        for d in range(r - 1, -1, -1):
            index[row, d] = rest % sizes[d]
            rest //= sizes[d]
    return index


@_jit
def _axpy(a, x, y, shift):
    """``y[i + shift] += a * x[i]`` wherever both indices are in range. The loop runs over slices from
    index 0, so LLVM sees no negative index (which Numba would wrap around) and vectorizes it."""
    start = max(0, -shift)
    stop = min(len(x), len(y) - shift)
    if stop <= start:
        return
    xs, ys = x[start:stop], y[start + shift:stop + shift]
    for i in range(stop - start):
        ys[i] += a * xs[i]


@_jit
def _convolve3(x3, k3, dims, out3):
    """``out3 += x3 (*) k3`` over each batch entry (a size-1 batch of ``x3`` or ``k3`` is shared).

    ``dims`` holds, per convolved axis ``d`` of ``r``: ``x``'s size at ``d``, then ``k``'s at ``r + d``,
    the output's at ``2r + d`` and the offset at ``3r + d``; output index ``p = i + j - offset`` where
    ``0 <= p < size``, for ``x`` index ``i`` and kernel index ``j``.
    """
    r = len(dims) // 4
    xs, ks, os, offs = dims[:r], dims[r:2 * r], dims[2 * r:3 * r], dims[3 * r:]
    xrows, krows, m, off = x3.shape[1], k3.shape[1], k3.shape[2], offs[r - 1]
    xi, kj = _row_indices(xs, xrows), _row_indices(ks, krows)
    for b in range(out3.shape[0]):
        bx = b if x3.shape[0] > 1 else 0
        bk = b if k3.shape[0] > 1 else 0
        for q in range(krows):
            for s in range(xrows):
                orow = 0  # the output row that x row s and kernel row q meet in, if any
                for d in range(r - 1):
                    p = xi[s, d] + kj[q, d] - offs[d]
                    if p < 0 or p >= os[d]:
                        orow = -1
                        break
                    orow = orow * os[d] + p
                if orow < 0:
                    continue
                target, row = out3[b, orow], x3[bx, s]
                for j in range(m):
                    _axpy(k3[bk, q, j], row, target, j - off)
    return out3
