"""Numba helpers for graphc.ops.ufuncs (generated code imports them through graphc.codegen.runtime).

Numba compiles every ufunc of the family; only ``np.cbrt`` needs help: Numba computes it as
``x ** (1/3)`` (up to 13 ulp off, ``cbrt(27.0) = 3.0000000000000004``, and ``cbrt(-0.0) = +0.0``),
where NumPy calls libm's ``cbrt``. One Newton step on that guess, with an exact residual, gives libm's.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["_cbrt_scalar", "_cbrt_array"]  # _two_product stays internal

_jit = numba.njit(cache=True, error_model="numpy")


@_jit
def _two_product(a, b):
    """``a * b`` as ``p + e`` exactly (Dekker's product with Veltkamp's split: no FMA needed)."""
    p = a * b
    c = 134217729.0 * a  # 2**27 + 1
    ah = c - (c - a)
    c = 134217729.0 * b
    bh = c - (c - b)
    return p, ((ah * bh - p) + ah * (b - bh) + (a - ah) * bh) + (a - ah) * (b - bh)


@_jit
def _cbrt_scalar(x):
    """The real cube root as libm gives it (within 1 ulp), in float64: callers cast to the result's dtype."""
    a = abs(np.float64(x))
    if not 0.0 < a < np.inf:  # 0, -0, +-inf and NaN are their own cube roots
        return np.float64(x)
    scale = 1.0  # keep a**1 and y**3 away from overflow and subnormals: exact scaling by 2**(3k)
    if a > 1e290:
        a, scale = a * 2.0 ** -300, 2.0 ** 100
    elif a < 1e-290:
        a, scale = a * 2.0 ** 300, 2.0 ** -100
    y = a ** (1.0 / 3.0)
    # One Newton step for y**3 = a, with the residual a - y**3 computed exactly.
    p1, e1 = _two_product(y, y)
    p2, e2 = _two_product(p1, y)
    y += ((a - p2) - (e2 + e1 * y)) / (3.0 * p1)
    return y * scale if x > 0 else -y * scale


@_jit
def _cbrt_array(x, out):
    """``out[...] = cbrt(x)`` for a fresh C-contiguous ``out`` of ``x``'s shape; returns ``out``."""
    flat = np.ascontiguousarray(x).reshape(x.size)
    dest = out.reshape(x.size)
    for i in range(x.size):
        dest[i] = _cbrt_scalar(flat[i])
    return out
