"""``scipy.linalg``'s triangular and Cholesky solves for traced values, with SciPy's signatures.

>>> import numpy as np, graphc
>>> from graphc.scipy.linalg import cho_factor, cho_solve
>>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
>>> x = graphc.jit(lambda A, b: cho_solve(cho_factor(A), b))(A, np.array([2.0, 1.0]))
>>> np.allclose(A @ x, [2.0, 1.0])
True

Each is built on graphc's ``cholesky`` and ``solve_triangular`` primitives (BLAS trsm in compiled
kernels), so it is differentiable, batched over leading axes, and works in every transformation.
One difference from SciPy: ``cho_factor`` returns the factor with zeros in its other triangle, where
SciPy leaves whatever ``a`` held there (``cho_solve`` reads only the factor's triangle either way).
"""
from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply

__all__ = ["cho_factor", "cho_solve", "cholesky", "solve_triangular"]

_TRANSPOSED = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    """x with ``op(a) @ x = b``, ``a`` triangular (only its ``lower`` or upper triangle is read); ``op`` is
    ``a`` for ``trans`` 0 or ``"N"``, its transpose for 1, ``"T"``, 2 or ``"C"`` (real values). A 1-d ``b``
    is a vector. ``unit_diagonal`` takes a's diagonal as ones. ``overwrite_b`` and ``check_finite`` are
    accepted and ignored."""
    if trans not in _TRANSPOSED:
        raise ShapeError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}", user_frame())
    if unit_diagonal:
        eye = np.eye(np.shape(a)[-1])
        a = a * (1.0 - eye) + eye
    vector = np.ndim(b) == np.ndim(a) - 1
    x = apply("solve_triangular", a, b[..., None] if vector else b, lower=bool(lower),
              trans=_TRANSPOSED[trans])
    return x[..., 0] if vector else x


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of a symmetric positive-definite ``a``: upper ``U`` with ``a = U^T U`` by
    default (SciPy's convention, where NumPy's gives the lower one), lower ``L`` with ``lower=True``."""
    factor = apply("cholesky", a)
    return factor if lower else np.swapaxes(factor, -1, -2)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``(c, lower)`` for :func:`cho_solve`: ``c`` the Cholesky factor of ``a`` (see the module docstring)."""
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """x with ``a @ x = b``, from ``cho_factor(a)``: two triangular solves."""
    c, lower = c_and_lower
    # a = L L^T: L y = b, then L^T x = y; a = U^T U: U^T y = b, then U x = y.
    y = solve_triangular(c, b, trans=0 if lower else 1, lower=lower)
    return solve_triangular(c, y, trans=1 if lower else 0, lower=lower)
