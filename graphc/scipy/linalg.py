"""``scipy.linalg`` for traced values, with SciPy's signatures: triangular and Cholesky solves
(``solve_triangular``, ``cholesky``, ``cho_factor``, ``cho_solve``), matrix functions (``expm``,
``sqrtm``), ``solve_sylvester`` and ``solve_banded``.

>>> import numpy as np, graphc
>>> from graphc.scipy.linalg import cho_factor, cho_solve, expm
>>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
>>> x = graphc.jit(lambda A, b: cho_solve(cho_factor(A), b))(A, np.array([2.0, 1.0]))
>>> np.allclose(A @ x, [2.0, 1.0])
True
>>> g = graphc.grad(lambda t: np.trace(expm(t * A)))(0.1)  # d/dt tr e^(tA) = tr(A e^(tA))
>>> bool(np.isclose(g, np.trace(A @ expm(0.1 * A))))
True

Each is built on graphc primitives (``cholesky``, ``solve_triangular``, ``expm``, ``sqrtm``,
``solve_sylvester``, ``solve_banded``: graphc/ops/lapack.py and graphc/ops/matfuncs.py, where the
gradient rules and the compiled kernels' algorithms are described), so it is differentiable, batched
over leading axes (the batch axes of several operands broadcast), and works in every transformation.
Differences from SciPy:

* ``cho_factor`` returns the factor with zeros in its other triangle, where SciPy leaves whatever
  ``a`` held there (``cho_solve`` reads only the factor's triangle either way).
* ``sqrtm`` of a matrix with a negative real eigenvalue raises :class:`graphc.errors.ComplexResultError`
  when the function runs, where SciPy returns a complex matrix; nor does it warn at a singular matrix.
* ``overwrite_*`` and ``check_finite`` are accepted and ignored (nothing is overwritten, nothing checked).
"""
from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError, UnsupportedOperationError, user_frame
from graphc.ops import apply, ndim_of, shape_of

__all__ = ["cho_factor", "cho_solve", "cholesky", "expm", "solve_banded", "solve_sylvester", "solve_triangular",
           "sqrtm"]

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


# ---- matrix functions and structured solves (primitives of graphc/ops/matfuncs.py) -----------------
def _float(x, fn: str):
    """``x`` as SciPy computes with it: a float array (integers and bools become float64)."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        x = np.asarray(x)
    kind = np.dtype(x.dtype).kind
    if kind not in "biuf":
        raise UnsupportedOperationError(f"scipy.linalg.{fn} of a {x.dtype} array is not supported by graphc (real "
                                        "values only)", user_frame())
    return x if kind == "f" else apply("astype", x, dtype=np.dtype(np.float64).str)


def _broadcast_batch(fn: str, operands: list, core: tuple) -> list:
    """The operands with their leading (batch) axes broadcast together, ``core[i]`` axes of operand ``i``
    being its own; operands of too few axes are left for the primitive's shape rule to reject."""
    shapes = [shape_of(x) for x in operands]
    if any(len(s) < c for s, c in zip(shapes, core)):
        return operands
    try:
        batch = tuple(np.broadcast_shapes(*(s[:len(s) - c] for s, c in zip(shapes, core))))
    except ValueError:
        raise ShapeError(f"scipy.linalg.{fn}: the batch axes of shapes {', '.join(map(str, shapes))} do not "
                         "broadcast", user_frame()) from None
    return [x if s[:len(s) - c] == batch else apply("broadcast_to", x, shape=batch + s[len(s) - c:])
            for x, s, c in zip(operands, shapes, core)]


def expm(A):
    """The matrix exponential ``e^A`` of a square ``A`` (or of each matrix of a stack), as SciPy's;
    differentiable to any order (see graphc/ops/matfuncs.py)."""
    return apply("expm", _float(A, "expm"))


def sqrtm(A, disp=True, blocksize=64):
    """The principal square root ``X`` of ``A`` (``X @ X = A``, eigenvalues in the right half-plane), real
    for real ``A`` with no negative real eigenvalue; otherwise a :class:`graphc.errors.ComplexResultError`
    when the function runs. With ``disp=False``, ``(X, errest)`` as SciPy's, ``errest`` being SciPy's
    ``norm(X @ X - A, 'fro')**2 / norm(A, 'fro')`` (per matrix of a stack); ``blocksize`` is accepted and
    ignored (SciPy ignores it too, since 1.16)."""
    A = _float(A, "sqrtm")
    x = apply("sqrtm", A)
    if disp:
        return x
    residual = np.linalg.norm(apply("matmul", x, x) - A, "fro", axis=(-2, -1))
    return x, residual ** 2 / np.linalg.norm(A, "fro", axis=(-2, -1))


def solve_sylvester(a, b, q):
    """``x`` with ``a @ x + x @ b = q``, ``a`` (n, n), ``b`` (m, m), ``q`` (n, m), or stacks of them whose
    leading axes broadcast. Unique when ``a`` and ``-b`` share no eigenvalue."""
    a, b, q = (_float(x, "solve_sylvester") for x in (a, b, q))
    return apply("solve_sylvester", *_broadcast_batch("solve_sylvester", [a, b, q], (2, 2, 2)))


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """``x`` with ``a @ x = b``, ``a`` given in SciPy's banded storage ``ab`` of shape (l + u + 1, n):
    ``a[i, j] = ab[u + i - j, j]``, with ``l`` diagonals below the main one and ``u`` above; the slots of
    ``ab`` outside the matrix are not read. ``b`` is (n,) or (n, k); with leading batch axes on ``ab``,
    ``b`` of one axis fewer is a stack of vectors. O(n (l + u) u) per solve (LAPACK gbsv), like SciPy's."""
    try:
        l, u = l_and_u
    except (TypeError, ValueError):
        raise ShapeError(f"scipy.linalg.solve_banded: (l, u) must be a pair of integers, got {l_and_u!r}",
                         user_frame()) from None
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 0 for k in (l, u)):
        raise ShapeError(f"scipy.linalg.solve_banded: l and u must be non-negative integers, got ({l!r}, {u!r})",
                         user_frame())
    ab, b = _float(ab, "solve_banded"), _float(b, "solve_banded")
    vector = ndim_of(b) == ndim_of(ab) - 1
    if vector:
        b = apply("reshape", b, shape=shape_of(b) + (1,))
    ab, b = _broadcast_batch("solve_banded", [ab, b], (2, 2))
    x = apply("solve_banded", ab, b, l=int(l), u=int(u))
    return apply("reshape", x, shape=shape_of(x)[:-1]) if vector else x
