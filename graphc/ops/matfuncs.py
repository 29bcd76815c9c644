"""``scipy.linalg``'s matrix functions and structured solves as primitives: ``expm``, ``sqrtm``,
``solve_sylvester`` and ``solve_banded``, each batched over leading axes (graphc.scipy.linalg is their
public face, with SciPy's signatures).

Reverse-mode rules, each built from these primitives, so differentiable again:

* ``solve_sylvester``: X with A X + X B = Q is linear in Q, and its adjoint equation is the transposed
  Sylvester equation: Qbar = S(A^T, B^T, Xbar), Abar = -Qbar X^T, Bbar = -X^T Qbar (T.-C. Kao and
  G. Hennequin, "Automatic differentiation of Sylvester, Lyapunov, and algebraic Riccati equations",
  arXiv:2011.11430, 2020).
* ``sqrtm``: X X = A gives X dX + dX X = dA, a Sylvester equation for dX whose operator is
  E -> X E + E X; its transpose is E -> X^T E + E X^T, so Abar = S(X^T, X^T, Xbar) (the rule above,
  with Q = A).
* ``expm``: the Fréchet derivative L(A, E) = int_0^1 e^(sA) E e^((1-s)A) ds has the adjoint L(A^T, .)
  (move the exponentials across the trace inner product), and L(A^T, G) is the upper right block of
  expm([[A^T, G], [0, A^T]]) (the block formula f([[X, E], [0, X]]) = [[f(X), L(X, E)], [0, f(X)]],
  N. J. Higham, "Functions of Matrices", SIAM 2008, chapter 3; SciPy's ``expm_frechet`` offers it as
  ``method="blockEnlarge"``). One expm of twice the size: 8 times the flops of the forward expm, where
  the dedicated algorithm of Al-Mohy & Higham (2009) takes about 3/8 of the block method's time by
  SciPy's account, but would be a primitive needing a rule of its own; this is expm's own primitive,
  so the gradient of the gradient (and forward mode, which transposes the rule) comes free.
* ``solve_banded``: as ``solve``'s, bbar = A^-T xbar and Abar = -bbar x^T, both kept banded: A^T's band
  is A's, gathered into (u, l) storage, and Abar is read on the band only (O(n (l + u) k), no n x n
  matrix).

The references are SciPy's (a loop over the batch); the Numba emissions are helpers in
:mod:`graphc.codegen.rt_matfuncs` (LAPACK ``dgees``, ``dtrsyl``, ``dgbsv``, ``dgtsv`` and ``dgesv``
through SciPy's Cython bindings, and a Padé ``expm``). They were chosen over calling SciPy from
``numba.objmode`` by ``benchmarks/matfunc_emission.py``: one matrix (``b`` of 2 columns for the banded
solves), float64, one thread, medians of 2,000 calls (50 at 64x64 and n = 1000) interleaved across the
columns, ranges over two runs on this 2-core machine under a load of 1.3-2.1 (compare within a row):

====================  =============  ==============  =============  ================================
per call (us)         graphc Numba   SciPy, objmode  SciPy, Python  dense alternative
====================  =============  ==============  =============  ================================
sylvester 8x8         55-85          154-254         126-189        106-170 (Kronecker, n^2 unknowns)
sylvester 64x64       4,968-6,551    5,053-7,392     5,449-7,271    1.94-2.39 s (4,096 unknowns)
sqrtm 8x8             25-34          30-41           25-34
sqrtm 8x8, SPD        16-28          18-34           15-27
sqrtm 64x64           3,113-3,387    2,725-3,196     2,839-3,138
sqrtm 64x64, SPD      1,858-2,964    1,431-2,494     1,353-2,360
expm 8x8              5.8-11         22-45           18-37
expm 64x64            277-437        337-646         311-606
banded l=u=1, n=64    4.7-6.0        33-46           27-36          38-46 (dense LU)
banded l=u=1, n=1000  83-96          324-395         91-111         39,186-45,817
banded 2,3, n=64      9.8-11         43-52           35-41          39-43
banded 2,3, n=1000    177            418-457         163-174        38,539-39,707
====================  =============  ==============  =============  ================================

Calling SciPy costs tens of microseconds of Python (checks, wrappers; objmode adds a few more)
however small the work, so on small matrices, where a gradient pays many calls, the helpers are 3-8x
faster (``sqrtm`` 1.2x: its Schur form dominates); on big ones LAPACK's work dominates and they are
within noise of SciPy, except ``sqrtm`` at 64x64: 1.1x slower than SciPy's, 1.3-1.4x on symmetric
input (SciPy's C recursion beats the column-at-a-time one). ``sqrtm`` stays a helper anyway: in
nopython mode, on the Schur form and Sylvester solver that ``solve_sylvester`` (and so its gradient)
uses. The Kronecker form of the Sylvester equation is O((nm)^3), 2 s at 64x64: ruled out.
``solve_banded`` as a dense solve (the band scattered into an n x n matrix, then LU) would have
needed no primitive but is O(n^3): 200-500 times the banded solve at n = 1000.

``sqrtm`` of a real matrix with a negative real eigenvalue has a complex principal root: SciPy returns
a complex matrix, graphc (real arrays only, the result's type fixed while tracing) raises
:class:`graphc.errors.ComplexResultError` when the function runs, in both tiers. At a singular matrix
the root may exist but its derivative does not (Sylvester equations with a zero eigenvalue on both
sides): gradients there are infinite or NaN.
"""
from __future__ import annotations

import warnings

import numpy as np

from graphc.errors import ComplexResultError, ShapeError, user_frame
from graphc.ops import Aval, apply, batched_like, defop, shape_of
from graphc.ops.lapack import _lapack_emit, _same_rule
from graphc.ops.linalg import _swap


def _square(a: Aval, fn: str, what: str = "A") -> None:
    if len(a.shape) < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"scipy.linalg.{fn}: {what} must be a square matrix (or a stack of them in the last two "
                         f"axes), got shape {tuple(a.shape)}", user_frame())


#: The message both tiers give for a real matrix without a real principal square root.
SQRTM_COMPLEX = ("scipy.linalg.sqrtm: the matrix has a negative real eigenvalue, so its principal square root is "
                 "complex (SciPy returns a complex matrix); graphc traces real values only")


def _per_matrix(fn, dtype, *operands):
    """``fn`` (SciPy's, on one matrix each) over the leading batch axes of ``operands``; the result has
    the last operand's shape."""
    out = np.empty(operands[-1].shape, dtype)
    for index in np.ndindex(operands[0].shape[:-2]):
        out[index] = fn(*(x[index] for x in operands))
    return out


# ---- solve_sylvester -------------------------------------------------------------------------------
def _sylvester_shape(a, b, q):
    _square(a, "solve_sylvester", "a")
    _square(b, "solve_sylvester", "b")
    n, m = a.shape[-1], b.shape[-1]
    if len(q.shape) < 2 or tuple(q.shape[-2:]) != (n, m):
        raise ShapeError(f"scipy.linalg.solve_sylvester: q must have shape ({n}, {m}) for a of shape {tuple(a.shape)} "
                         f"and b of shape {tuple(b.shape)}, got {tuple(q.shape)}", user_frame())
    if not tuple(a.shape[:-2]) == tuple(b.shape[:-2]) == tuple(q.shape[:-2]):
        raise ShapeError("scipy.linalg.solve_sylvester: the batch axes of a, b and q differ: "
                         f"{tuple(a.shape)}, {tuple(b.shape)}, {tuple(q.shape)}", user_frame())
    return Aval(q.shape, np.result_type(a.dtype, b.dtype, q.dtype))


def _sylvester_reference(a, b, q):
    import scipy.linalg

    dtype = np.result_type(a.dtype, b.dtype, q.dtype)
    return _per_matrix(scipy.linalg.solve_sylvester, dtype, a, b, q)


def _sylvester_adjoint(g, x, a, b, q):
    # Kao & Hennequin (2020): Qbar = S(A^T, B^T, Xbar), Abar = -Qbar X^T, Bbar = -X^T Qbar.
    gq = apply("solve_sylvester", _swap(a), _swap(b), g)
    return -apply("matmul", gq, _swap(x)), -apply("matmul", _swap(x), gq), gq


defop("solve_sylvester", linear=(2,), arity=3, shape=_sylvester_shape, reference=_sylvester_reference,
      adjoint=_sylvester_adjoint, emit=_lapack_emit("_solve_sylvester3", arity=3),
      batch=lambda batched, a, b, q: apply("solve_sylvester", *batched_like(batched, (a, b, q))),
      doc="scipy.linalg.solve_sylvester: x with a @ x + x @ b = q (Bartels-Stewart: LAPACK gees + trsyl, batched)")


# ---- sqrtm -----------------------------------------------------------------------------------------
def _sqrtm_shape(a):
    _square(a, "sqrtm")
    return Aval(a.shape, a.dtype)


def _sqrtm_one(a):
    """SciPy's principal square root of one real matrix, real; see the module docstring."""
    import scipy.linalg

    with warnings.catch_warnings():  # singular or ill-conditioned: the kernel cannot warn, so neither does this
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        x = scipy.linalg.sqrtm(a)
    if np.iscomplexobj(x):
        # SciPy (1.16 on) is complex exactly when a real eigenvalue is negative; older versions are
        # complex for complex eigenvalue pairs too, with rounding-level imaginary parts on a real root.
        if np.max(np.abs(x.imag), initial=0.0) > 1e3 * np.finfo(a.dtype).eps * np.max(np.abs(x), initial=1.0):
            raise ComplexResultError(SQRTM_COMPLEX)
        x = x.real
    return x


defop("sqrtm", raises=True, arity=1, shape=_sqrtm_shape, reference=lambda a: _per_matrix(_sqrtm_one, a.dtype, a),
      adjoint=lambda g, x, a: (apply("solve_sylvester", _swap(x), _swap(x), g),),  # X^T Abar + Abar X^T = Xbar
      emit=_lapack_emit("_sqrtm3"), batch=_same_rule("sqrtm"),
      doc="scipy.linalg.sqrtm: the principal square root, real (a negative real eigenvalue raises; batched)")


# ---- expm ------------------------------------------------------------------------------------------
def _expm_shape(a):
    _square(a, "expm")
    return Aval(a.shape, a.dtype)


def _expm_reference(a):
    import scipy.linalg

    return _per_matrix(scipy.linalg.expm, a.dtype, a)


def _expm_adjoint(g, out, a):
    # Abar = L(A^T, G), the upper right block of expm([[A^T, G], [0, A^T]]) (module docstring).
    n = shape_of(a)[-1]
    at = _swap(a)
    zero = np.zeros(shape_of(a), np.dtype(a.dtype))
    axis = len(shape_of(a)) - 1
    block = apply("concatenate", apply("concatenate", at, g, axis=axis), apply("concatenate", zero, at, axis=axis),
                  axis=axis - 1)
    return (apply("expm", block)[..., :n, n:],)


defop("expm", arity=1, shape=_expm_shape, reference=_expm_reference, adjoint=_expm_adjoint,
      emit=_lapack_emit("_expm3"), batch=_same_rule("expm"),
      doc="scipy.linalg.expm: the matrix exponential (Padé with scaling and squaring, batched)")


# ---- solve_banded ----------------------------------------------------------------------------------
def _banded_shape(ab, b, l, u):
    if len(ab.shape) < 2 or ab.shape[-2] != l + u + 1:
        raise ShapeError(f"scipy.linalg.solve_banded: ab must have l + u + 1 = {l + u + 1} rows for (l, u) = "
                         f"({l}, {u}), got shape {tuple(ab.shape)}", user_frame())
    n = ab.shape[-1]
    if len(b.shape) < 2 or b.shape[-2] != n or tuple(b.shape[:-2]) != tuple(ab.shape[:-2]):
        raise ShapeError(f"scipy.linalg.solve_banded: shapes of ab {tuple(ab.shape)} and b {tuple(b.shape)} are not "
                         f"compatible: b needs {n} rows", user_frame())
    return Aval(b.shape, np.result_type(ab.dtype, b.dtype))


def _banded_reference(ab, b, l, u):
    import scipy.linalg

    def solve(ab, b):  # the slots outside the matrix are not read (they may hold NaN): nothing to check
        return scipy.linalg.solve_banded((l, u), ab, b, check_finite=False)

    return _per_matrix(solve, np.result_type(ab.dtype, b.dtype), ab, b)


def _band_indices(l: int, u: int, n: int):
    """For each slot ``(r, j)`` of (l, u) storage, the row ``i = j + r - u`` of the matrix entry it holds
    (clipped into range) and whether it holds one: ``A[i, j] = ab[r, j]``."""
    rows = np.arange(n)[None, :] + np.arange(l + u + 1)[:, None] - u
    inside = (rows >= 0) & (rows < n)
    return np.clip(rows, 0, max(n - 1, 0)), inside


def _banded_transpose(ab, l: int, u: int):
    """A^T in (u, l) storage: ``abT[r, j] = A[j, i] = ab[u + l - r, i]`` for ``i = j + r - l``; zeros
    in the slots outside the matrix (SciPy's storage leaves them unread, so they may hold anything)."""
    n = shape_of(ab)[-1]
    cols, inside = _band_indices(u, l, n)
    rows = np.broadcast_to((u + l - np.arange(l + u + 1))[:, None], cols.shape)
    gathered = apply("gather", ab, rows, cols, axis=len(shape_of(ab)) - 2)
    return apply("where", inside, gathered, np.zeros((), np.dtype(ab.dtype)))


def _banded_adjoint(g, x, ab, b, l, u):
    # x = A^-1 b: bbar = A^-T g, Abar = -bbar x^T, of which the band is ab's cotangent:
    # abbar[r, j] = -sum_k bbar[j + r - u, k] x[j, k].
    gb = apply("solve_banded", _banded_transpose(ab, l, u), g, l=u, u=l)
    rows, inside = _band_indices(l, u, shape_of(ab)[-1])
    picked = apply("gather", gb, rows, axis=len(shape_of(gb)) - 2)  # (..., l + u + 1, n, k)
    lifted = apply("reshape", x, shape=shape_of(x)[:-2] + (1,) + shape_of(x)[-2:])
    gab = -apply("sum", picked * lifted, axis=(len(shape_of(picked)) - 1,), keepdims=False)
    return gab * inside.astype(np.dtype(gab.dtype)), gb


defop("solve_banded", linear=(1,), raises=True, arity=2, shape=_banded_shape, reference=_banded_reference, adjoint=_banded_adjoint,
      emit=_lapack_emit("_solve_banded3", arity=2, ints=("l", "u")),
      batch=lambda batched, ab, b, **attrs: apply("solve_banded", *batched_like(batched, (ab, b)), **attrs),
      doc="scipy.linalg.solve_banded: a @ x = b, a in (l, u) banded storage (LAPACK gbsv, gtsv if tridiagonal; "
          "batched)")
