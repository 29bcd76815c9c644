"""Numba helpers for graphc.ops.matfuncs (``scipy.linalg``'s ``expm``, ``sqrtm``, ``solve_sylvester``,
``solve_banded``), each called once per matrix of a (batch, m, n) stack, as rt_lapack's are.

* ``_expm3``: Padé approximation with scaling and squaring (N. J. Higham, "The scaling and squaring
  method for the matrix exponential revisited", SIAM J. Matrix Anal. Appl. 26(4), 2005; Padé
  degrees 3 to 13). SciPy's ``expm`` refines the choice of scaling (Al-Mohy & Higham 2009); both keep
  the backward error under the unit roundoff, so they agree to rounding on matrices of moderate norm.
* ``_solve_sylvester3``: the Bartels-Stewart algorithm, as SciPy's: real Schur forms of both
  matrices (LAPACK ``dgees``), then the quasi-triangular equation (``dtrsyl``).
* ``_sqrtm3``: the real Schur method (N. J. Higham, "Computing real square roots of a real matrix",
  Linear Algebra Appl. 88/89, 1987): the square roots of the Schur form's 1x1 and 2x2 diagonal blocks,
  then the rest a block column at a time, each one quasi-triangular Sylvester equation (``dtrsyl``).
  SciPy's ``sqrtm`` is the recursively blocked form of the same method (Deadman, Higham & Ralha 2013).
* ``_solve_banded3``: LAPACK ``dgbsv`` (banded LU with partial pivoting), O(n (l + u) u) a solve;
  ``dgtsv`` for tridiagonal matrices, as SciPy (about twice as fast at n = 1000).

LAPACK comes from SciPy's Cython bindings, called by a symbol registered with LLVM (as rt_lapack's
``dtrsm``), so kernels that use it stay cacheable on disk. Fortran takes every argument by pointer
and matrices in column order, so the helpers work on Fortran-ordered float64 copies (``empty(...).T``)
and round the result to the operands' dtype: float32 results are a float64 computation rounded.
benchmarks/matfunc_emission.py measures these against SciPy called in ``numba.objmode`` (the table is
in graphc/ops/matfuncs.py).

Code size matters here: a kernel that calls a helper links the helper's code in and optimizes it
again, so every kernel pays for it. Hence loops and LAPACK calls rather than array expressions and
``np.linalg`` (``expm`` written with them took 12-14 s to link into each kernel, now 1.7 s), and one
``*3`` batch loop per function, not one shared loop that would link in all four.
"""
from __future__ import annotations

import math

import llvmlite.binding as llvm_binding
import numba
import numpy as np
from numba.core import types
from numba.extending import get_cython_function_address

from graphc.errors import ComplexResultError
from graphc.ops.matfuncs import SQRTM_COMPLEX

__all__ = ["_expm3", "_sqrtm3", "_solve_sylvester3", "_solve_banded3"]

_jit = numba.njit(cache=True, error_model="numpy")

for _name in ("dgees", "dtrsyl", "dgbsv", "dgtsv", "dgesv"):
    llvm_binding.add_symbol(f"graphc_{_name}", get_cython_function_address("scipy.linalg.cython_lapack", _name))
_dgees = types.ExternalFunction("graphc_dgees", types.void(*([types.voidptr] * 15)))
_dtrsyl = types.ExternalFunction("graphc_dtrsyl", types.void(*([types.voidptr] * 13)))
_dgbsv = types.ExternalFunction("graphc_dgbsv", types.void(*([types.voidptr] * 10)))
_dgtsv = types.ExternalFunction("graphc_dgtsv", types.void(*([types.voidptr] * 8)))
_dgesv = types.ExternalFunction("graphc_dgesv", types.void(*([types.voidptr] * 8)))


@_jit
def _fortran(a):
    """A Fortran-ordered float64 copy of the 2-d ``a`` (LAPACK overwrites its operands)."""
    out = np.empty((a.shape[1], a.shape[0])).T
    out[:, :] = a
    return out


# ---- LAPACK calls ----------------------------------------------------------------------------------
@_jit
def _schur(a):
    """``(t, z)`` with ``a = z t z^T``, ``z`` orthogonal and ``t`` quasi upper triangular: 1x1 blocks and
    2x2 blocks of complex eigenvalues in LAPACK's standard form ``[[p, q], [r, p]]``, ``q r < 0``."""
    n = a.shape[0]
    t, z = _fortran(a), np.empty((n, n)).T
    wr, wi, work = np.empty(n), np.empty(n), np.empty(1)
    chars = np.array([ord("V"), ord("N")], np.uint8)  # jobvs: compute z; sort: no
    ints = np.array([n, 0, -1, 0, 0], np.int32)  # n (also lda, ldvs), sdim, lwork, info, select/bwork (unused)
    for _ in range(2):  # a workspace query first (lwork = -1), then the factorization
        _dgees(chars.ctypes, chars[1:].ctypes, ints[4:].ctypes, ints.ctypes, t.ctypes, ints.ctypes, ints[1:].ctypes,
               wr.ctypes, wi.ctypes, z.ctypes, ints.ctypes, work.ctypes, ints[2:].ctypes, ints[4:].ctypes,
               ints[3:].ctypes)
        if ints[2] == -1:
            ints[2] = max(int(work[0]), 3 * n, 1)
            work = np.empty(ints[2])
    if ints[3] != 0:
        raise np.linalg.LinAlgError("the Schur decomposition (LAPACK dgees) did not converge")
    return t, z


@_jit
def _trsyl(r, lda, s, ldb, c, ldc, rows, cols):
    """Solve ``r y + y s = c`` in place of ``c`` (LAPACK dtrsyl), ``r`` (rows x rows) and ``s`` (cols x
    cols) upper quasi triangular in standard form; all three Fortran-ordered, with leading dimensions
    ``lda``, ``ldb``, ``ldc`` (they may be blocks of bigger matrices). Returns dtrsyl's ``scale``: ``c``
    holds ``scale`` times the solution (1 unless it would overflow)."""
    chars = np.array([ord("N")], np.uint8)
    ints = np.array([rows, cols, 1, lda, ldb, ldc, 0], np.int32)  # m, n, isgn (+1), lda, ldb, ldc, info
    scale = np.ones(1)
    _dtrsyl(chars.ctypes, chars.ctypes, ints[2:].ctypes, ints.ctypes, ints[1:].ctypes, r.ctypes, ints[3:].ctypes,
            s.ctypes, ints[4:].ctypes, c.ctypes, ints[5:].ctypes, scale.ctypes, ints[6:].ctypes)
    if ints[6] < 0:
        raise np.linalg.LinAlgError("illegal argument to LAPACK dtrsyl (graphc bug; please report)")
    return scale[0]


# ---- solve_sylvester -------------------------------------------------------------------------------
@_jit
def _solve_sylvester(a, b, q):
    """x with ``a x + x b = q``: with ``a = u r u^T`` and ``b = v s v^T``, ``y = u^T x v`` solves
    ``r y + y s = u^T q v``. (info 1 from dtrsyl: ``a`` and ``-b`` share an eigenvalue, and LAPACK
    perturbed it, as SciPy lets it.)"""
    n, m = q.shape
    r, u = _schur(a)
    s, v = _schur(b)
    y = _fortran(u.T @ q @ v)
    scale = _trsyl(r, n, s, m, y, n, n, m)
    return (u @ y @ v.T) / scale


@_jit
def _solve_sylvester3(a, b, q):
    out = np.empty_like(q)
    if q.size:
        for i in range(q.shape[0]):
            out[i] = _solve_sylvester(a[i], b[i], q[i].astype(np.float64))
    return out


# ---- sqrtm -----------------------------------------------------------------------------------------
@_jit
def _sqrt_diagonal_blocks(t, r):
    """The square roots of ``t``'s diagonal blocks into ``r``; raises where one is complex."""
    n = t.shape[0]
    i = 0
    while i < n:
        if i + 1 < n and t[i + 1, i] != 0.0:
            # p +- i mu = p +- i sqrt(-q r): (alpha I + (T - p I) / (2 alpha))^2 = T for
            # alpha = Re sqrt(p + i mu), since (T - p I)^2 = -mu^2 I (Higham 1987, section 4).
            p = 0.5 * (t[i, i] + t[i + 1, i + 1])
            mu = math.sqrt(-t[i, i + 1] * t[i + 1, i])
            modulus = math.hypot(p, mu)
            alpha = math.sqrt(0.5 * (modulus + p)) if p >= 0.0 else mu / math.sqrt(2.0 * (modulus - p))
            for k in range(2):
                for j in range(2):
                    r[i + k, i + j] = (t[i + k, i + j] - (p if k == j else 0.0)) / (2.0 * alpha) + (
                        alpha if k == j else 0.0)
            i += 2
        else:
            if t[i, i] < 0.0:
                raise ComplexResultError(SQRTM_COMPLEX)
            r[i, i] = math.sqrt(t[i, i])
            i += 1


@_jit
def _sqrtm(a):
    n = a.shape[0]
    t, z = _schur(a)
    r = np.zeros((n, n)).T
    _sqrt_diagonal_blocks(t, r)
    # Block column j of R R = T above the diagonal: R[:j, :j] Y + Y R[j, j] = T[:j, j], Y = R[:j, j].
    j = 0
    while j < n:
        width = 2 if j + 1 < n and t[j + 1, j] != 0.0 else 1
        if j:
            r[:j, j:j + width] = t[:j, j:j + width]
            scale = _trsyl(r, n, r[j:, j:], n, r[:, j:], n, j, width)
            if scale != 1.0:
                r[:j, j:j + width] /= scale
        j += width
    return z @ r @ z.T


@_jit
def _sqrtm3(a):
    out = np.empty_like(a)
    if a.size:
        for i in range(a.shape[0]):
            out[i] = _sqrtm(a[i])
    return out


# ---- expm ------------------------------------------------------------------------------------------
#: Higham (2005): the largest 1-norm for which the degree-m Padé approximant is accurate to
#: double precision, m = 3, 5, 7, 9, 13; and each approximant's coefficients b_0 ... b_m, a row each.
_THETA = (1.495585217958292e-2, 2.539398330063230e-1, 9.504178996162932e-1, 2.097847961257068e0,
          5.371920351148152e0)
_DEGREE = (3, 5, 7, 9, 13)
_PADE = np.zeros((5, 14))
_PADE[0, :4] = (120.0, 60.0, 12.0, 1.0)
_PADE[1, :6] = (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0)
_PADE[2, :8] = (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0)
_PADE[3, :10] = (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0, 110880.0,
                 3960.0, 90.0, 1.0)
_PADE[4] = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
            129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0,
            960960.0, 16380.0, 182.0, 1.0)


@_jit
def _add_scaled(out, c, x):
    """``out += c * x`` for n x n matrices."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += c * x[i, j]


@_jit
def _pade(a, row):
    """``(u, v)``, the odd and even parts of the numerator p(a) = v + u of the Padé approximant of degree
    ``_DEGREE[row]`` (the denominator is v - u): sums of b_k a^k over powers of a^2, and Higham's
    form for degree 13 (six matrix products in all)."""
    n = a.shape[0]
    b, degree = _PADE[row], _DEGREE[row]
    top = min(degree // 2, 4) if degree < 13 else 3  # the highest power of a^2 in the plain sums
    powers = np.zeros((5, n, n))  # I, a^2, a^4, a^6, a^8
    for i in range(n):
        powers[0, i, i] = 1.0
    np.dot(a, a, powers[1])
    for k in range(2, top + 1):
        np.dot(powers[k - 1], powers[1], powers[k])
    odd, even = np.zeros((n, n)), np.zeros((n, n))
    for k in range(top + 1):
        _add_scaled(odd, b[2 * k + 1], powers[k])
        _add_scaled(even, b[2 * k], powers[k])
    if degree == 13:  # + a^6 (b_13 a^6 + b_11 a^4 + b_9 a^2), + a^6 (b_12 a^6 + b_10 a^4 + b_8 a^2)
        high, product = np.zeros((n, n)), np.empty((n, n))
        for part, shift in ((odd, 7), (even, 6)):
            high[:, :] = 0.0
            for k in range(1, 4):
                _add_scaled(high, b[2 * k + shift], powers[k])
            np.dot(powers[3], high, product)
            _add_scaled(part, 1.0, product)
    u = np.empty((n, n))
    np.dot(a, odd, u)
    return u, even


@_jit
def _expm(a):
    """Higham (2005): the lowest degree accurate at ``a``'s 1-norm, else degree 13 at ``a / 2^s``,
    squared ``s`` times."""
    x = a.astype(np.float64)
    n = x.shape[0]
    norm = 0.0  # the 1-norm: the largest column sum of magnitudes (NaN if any entry is)
    for j in range(n):
        column = 0.0
        for i in range(n):
            column += abs(x[i, j])
        if column > norm or math.isnan(column):
            norm = column
    if not np.isfinite(norm):  # inf or NaN entries: NaN throughout (SciPy's keeps the zeros of a
        return np.full((n, n), np.nan)  # triangular matrix)
    if n == 1:  # SciPy's too, exact
        x[0, 0] = math.exp(x[0, 0])
        return x
    row, squarings = 0, 0
    while row < 4 and norm > _THETA[row]:
        row += 1
    if row == 4 and norm > _THETA[4]:
        squarings = int(math.ceil(math.log2(norm / _THETA[4])))
        x /= 2.0 ** squarings
    u, v = _pade(x, row)
    denominator, out = _fortran(v), _fortran(v)
    _add_scaled(denominator, -1.0, u)
    _add_scaled(out, 1.0, u)
    ints = np.array([n, n, 0], np.int32)  # n (also nrhs, lda, ldb), info
    pivots = np.empty(n, np.int32)
    _dgesv(ints.ctypes, ints.ctypes, denominator.ctypes, ints.ctypes, pivots.ctypes, out.ctypes, ints.ctypes,
           ints[2:].ctypes)  # out = (v - u)^-1 (v + u)
    if ints[2] != 0:
        raise np.linalg.LinAlgError("expm: the Padé denominator is singular (graphc bug; please report)")
    result, square = np.ascontiguousarray(out), np.empty((n, n))
    for _ in range(squarings):
        np.dot(result, result, square)
        result, square = square, result
    return result


@_jit
def _expm3(a):
    out = np.empty_like(a)
    if a.size:
        for i in range(a.shape[0]):
            out[i] = _expm(a[i])
    return out


# ---- solve_banded ----------------------------------------------------------------------------------
@_jit
def _solve_banded3(ab, b, lower, upper):
    """x[i] with ``A[i] x[i] = b[i]``, ``A[i]`` given in SciPy's banded storage ``ab[i]`` (``A[j, k] =
    ab[upper + j - k, k]``). LAPACK's storage puts ``lower`` more rows on top for the LU's fill-in."""
    n, k = b.shape[1], b.shape[2]
    out = np.empty_like(b)
    rows = 2 * lower + upper + 1
    ints = np.array([n, lower, upper, k, rows, max(n, 1), 0], np.int32)  # n, kl, ku, nrhs, ldab, ldb, info
    pivots = np.empty(max(n, 1), np.int32)
    for i in range(b.shape[0]):
        x = _fortran(b[i])
        if lower == 1 and upper == 1:  # the sub-, main and superdiagonal, each contiguous
            sub = ab[i, 2, :n - 1].astype(np.float64)
            diagonal = ab[i, 1].astype(np.float64)
            sup = ab[i, 0, 1:].astype(np.float64)
            _dgtsv(ints.ctypes, ints[3:].ctypes, sub.ctypes, diagonal.ctypes, sup.ctypes, x.ctypes, ints[5:].ctypes,
                   ints[6:].ctypes)
        else:
            band = np.zeros((n, rows)).T
            for j in range(n):  # only the slots that hold matrix entries: SciPy leaves the others unread
                for r in range(max(0, upper - j), min(lower + upper, upper + n - 1 - j) + 1):
                    band[lower + r, j] = ab[i, r, j]
            _dgbsv(ints.ctypes, ints[1:].ctypes, ints[2:].ctypes, ints[3:].ctypes, band.ctypes, ints[4:].ctypes,
                   pivots.ctypes, x.ctypes, ints[5:].ctypes, ints[6:].ctypes)
        if ints[6] > 0:
            raise np.linalg.LinAlgError("singular matrix")
        out[i] = x
    return out
