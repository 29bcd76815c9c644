"""Numba helpers for graphc.ops.ufuncs (generated code imports them through graphc.codegen.runtime).

Numba compiles every ufunc of the family; two need help. ``np.cbrt``: Numba computes it as
``x ** (1/3)`` (up to 13 ulp off, ``cbrt(27.0) = 3.0000000000000004``, and ``cbrt(-0.0) = +0.0``),
where NumPy calls libm's ``cbrt``. One Newton step on that guess, with an exact residual, gives libm's.
``np.floor_divide`` of floats: Numba's is ``floor(x / y)`` (``1.0 // 0.1`` is 10, ``inf // 2`` inf),
where NumPy's goes through ``fmod`` (9 and NaN); :func:`_floor_divide_scalar` is NumPy's.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["_cbrt_scalar", "_cbrt_array", "_floor_divide_scalar"]  # _two_product stays internal

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


@_jit
def _floor_divide_scalar(a, b, half, one):
    """``a // b`` of floats as NumPy computes it (npy_divmod): the quotient of ``a - fmod(a, b)``, moved
    to Python's sign convention and snapped to the nearest integer. ``a``, ``b``, ``half`` and ``one``
    come in the result's dtype and every step stays in it, as NumPy's float32 loop does."""
    if b == 0:
        return a / b
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0 and (b < 0) != (mod < 0):  # a NaN mod is "not 0" in C too, and fails both tests
        div -= one
    if div != 0:
        floordiv = np.floor(div)
        if div - floordiv > half:
            floordiv += one
        return floordiv
    return np.copysign(one - one, a / b)
