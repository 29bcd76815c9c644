"""``np.linalg``: factorizations and solves as primitives, the rest composed from them.

Primitives (each batched over leading axes, as NumPy's functions are): ``cholesky``, ``solve``,
``inv``, ``slogdet`` (sign and log-magnitude), ``eigh`` (eigenvalues and eigenvectors), ``svd`` and
``qr``. The last four have several results, each read by an ``unpack`` node. Their reverse-mode
rules are the standard matrix derivative results:

* M. Giles, "Collected matrix derivative results for forward and reverse mode algorithmic
  differentiation", 2008: ``inv``, ``solve``, ``det``/``slogdet``, ``eigh``'s eigenvalues.
* I. Murray, "Differentiation of the Cholesky decomposition", 2016: ``cholesky``.
* J. Townsend, "Differentiating the singular value decomposition", 2016: ``svd``.
* M. Seeger et al., "Auto-differentiating linear algebra", 2017 (and Walter & Lehmann 2018): ``qr``.

Like NumPy's, ``cholesky`` and ``eigh`` read one triangle of their (symmetric) argument.
``cholesky``'s gradient is that of the symmetric matrix (half to each of ``A[i, j]`` and ``A[j, i]``),
as JAX's is; ``eigh``'s is that of NumPy's function (all to the triangle it reads), as autograd's is,
which agrees with JAX's through a symmetric parametrization ``B + B^T``. ``eigh``'s gradient divides
by differences of eigenvalues: at repeated eigenvalues the eigenvectors are not unique, and the
gradient through them is infinite or NaN (the eigenvalues' own gradient stays finite). ``svd``'s is
the same at repeated singular values.

Everything else here (``det``, ``norm`` in all its forms, ``pinv``, ``lstsq``, ``matrix_power``,
``multi_dot``, ``eigvalsh``, ``vector_norm``, ``matrix_norm``) is written with primitives.
The Numba emission calls Numba's own ``np.linalg`` (LAPACK through SciPy, a runtime dependency for
this reason: docs/performance.md) once per matrix of the batch (:mod:`graphc.codegen.rt_lapack`).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from graphc.errors import DifferentiationError, ShapeError, user_frame
from graphc.ops import (
    Aval, Results, Statements, apply, batched_like, defcomposite, defop, dtype_source, ndim_of, normalize_axis,
    shape_of, unsupported,
)
from graphc.ops.linalg import _swap


# ---- helpers ---------------------------------------------------------------------------------------
def _float(x, name: str):
    """``x`` as NumPy's linalg takes it: a float array of at least two axes, the last two square
    where the function needs it."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        x = np.asarray(x)
    kind = np.dtype(x.dtype).kind
    if kind not in "biuf":
        raise unsupported(f"np.linalg.{name} of a {x.dtype} array")
    return x if kind == "f" else apply("astype", x, dtype=np.dtype(np.float64).str)


def _matrix_aval(a: Aval, name: str, square: bool = True) -> None:
    if len(a.shape) < 2:
        raise ShapeError(f"np.linalg.{name} needs an array of at least 2 dimensions, got shape {tuple(a.shape)}",
                         user_frame())
    if square and a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"np.linalg.{name} needs square matrices in the last two axes, got shape "
                         f"{tuple(a.shape)}", user_frame())


def _same_rule(name: str):
    """The batching rule of a one-operand factorization: the batch axis is one more leading axis."""
    return lambda batched, a, **attrs: apply(name, a, **attrs)


def _sym(x):
    """``(x + x^T) / 2`` over the last two axes."""
    return 0.5 * (x + _swap(x))


def _eye(n: int, dtype) -> np.ndarray:
    return np.eye(n, dtype=dtype)


def _expand(x, *axes):
    """``x`` with unit axes at ``axes`` (negative positions, for broadcasting against matrices)."""
    shape = list(shape_of(x))
    for axis in sorted(a % (len(shape) + len(axes)) for a in axes):
        shape.insert(axis, 1)
    return apply("reshape", x, shape=tuple(shape))


def _results(out) -> list:
    """The results of a node of several results (the ``out`` an adjoint rule gets), as values."""
    return [apply("unpack", out, index=i) for i in range(len(out.graph[out.node]["results"]))]


def _lapack_emit(helper: str, arity: int = 1, ints: tuple = ()):
    """Emission of a primitive computed one matrix at a time by ``helper`` (codegen/rt_lapack.py,
    rt_matfuncs.py) on operands reshaped to (batch, ...); for several results, a tuple of them, each
    reshaped back. The helper's last arguments are the bool attributes it knows, then the int
    attributes ``ints``."""

    def unstack(value: str, shape: tuple) -> str:
        return f"{value}[0]" if shape == () else f"_reshape({value}, {tuple(shape)})"

    def emit(args, node, operands):
        stacks = []
        dtype = node["results"][0].dtype if "results" in node else node["dtype"]
        for name, operand in zip(args[:arity], operands[:arity]):
            shape = operand["shape"]
            if operand["dtype"] != dtype:  # LAPACK takes one dtype: the result's
                name = f"{name}.astype({dtype_source(dtype)})"
            stacks.append(f"_reshape({name}, ({math.prod(shape[:-2])}, {shape[-2]}, "
                          f"{shape[-1]}))")
        extra = [repr(bool(node["attrs"][k])) for k in ("full_matrices", "lower", "trans") if k in node["attrs"]]
        extra += [repr(int(node["attrs"][k])) for k in ints]
        call = f"{helper}({', '.join(stacks + extra)})"
        if "results" not in node:
            return unstack(call, tuple(node["shape"]))
        parts = "".join(f"{unstack(f'{{out}}_r[{i}]', tuple(r.shape))}, " for i, r in enumerate(node["results"]))
        return Statements(f"{{out}}_r = {call}\n{{out}} = ({parts})")

    return emit


# ---- cholesky --------------------------------------------------------------------------------------
def _cholesky_shape(a):
    _matrix_aval(a, "cholesky")
    return Aval(a.shape, a.dtype)


def _cholesky_adjoint(g, L, a):
    # Murray (2016): with Phi(X) the lower triangle of X with its diagonal halved,
    # abar = L^-T Phi(L^T Lbar) L^-1, symmetrized (the derivative for symmetric A).
    n = shape_of(L)[-1]
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * _eye(n, np.float64)
    P = apply("matmul", _swap(L), g) * phi.astype(L.dtype)
    left = apply("solve_triangular", L, P, lower=True, trans=True)  # L^-T P
    right = apply("solve_triangular", L, _swap(left), lower=True, trans=True)  # (L^-T P L^-1)^T
    return (_sym(_swap(right)),)


def _parse_cholesky(a, upper=False):
    if upper:
        raise unsupported("np.linalg.cholesky(upper=True)", "transpose the lower factor")
    return (_float(a, "cholesky"),), {}


defop("cholesky", raises=True, arity=1, shape=_cholesky_shape, reference=np.linalg.cholesky, adjoint=_cholesky_adjoint,
      emit=_lapack_emit("_cholesky3"), batch=_same_rule("cholesky"), numpy=(np.linalg.cholesky,),
      parse=_parse_cholesky, doc="np.linalg.cholesky: the lower Cholesky factor (batched); gradient for symmetric input")


# ---- solve and inv ---------------------------------------------------------------------------------
def _solve_shape(a, b):
    _matrix_aval(a, "solve")
    if len(b.shape) < 2 or b.shape[-2] != a.shape[-1] or tuple(b.shape[:-2]) != tuple(a.shape[:-2]):
        raise ShapeError(f"np.linalg.solve: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit", user_frame())
    return Aval(b.shape, np.result_type(a.dtype, b.dtype))


def _solve_adjoint(g, x, a, b):
    gb = apply("solve", _swap(a), g)  # A^-T g
    return -apply("matmul", gb, _swap(x)), gb


def _parse_solve(a, b):
    """NumPy 2's rule: ``b`` is a vector when it is 1-d, else a stack of matrices; the batch axes of
    ``a`` and ``b`` broadcast. The primitive sees equal batch axes and a matrix ``b``."""
    a, b = _float(a, "solve"), _float(b, "solve")
    common = np.result_type(a.dtype, b.dtype)
    a, b = (x if x.dtype == common else apply("astype", x, dtype=common.str) for x in (a, b))
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) < 2:
        raise ShapeError(f"np.linalg.solve needs a matrix, got shape {sa}", user_frame())
    vector = len(sb) == 1
    if vector:
        b = apply("reshape", b, shape=sb + (1,))
        sb = sb + (1,)
    try:
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    except ValueError:
        raise ShapeError(f"np.linalg.solve: batch shapes {sa[:-2]} and {sb[:-2]} do not broadcast",
                         user_frame()) from None
    if sa[:-2] != batch:
        a = apply("broadcast_to", a, shape=batch + sa[-2:])
    if sb[:-2] != batch:
        b = apply("broadcast_to", b, shape=batch + sb[-2:])
    if vector:
        return _VectorSolve((a, b)), {}
    return (a, b), {}


class _VectorSolve(tuple):
    """Operands of a solve whose ``b`` was a vector: the handler drops the column axis again."""


def _solve(a, b):
    operands, _ = _parse_solve(a, b)
    x = apply("solve", *operands)
    return apply("reshape", x, shape=shape_of(x)[:-1]) if isinstance(operands, _VectorSolve) else x


defop("solve", linear=(1,), raises=True, arity=2, shape=_solve_shape, reference=np.linalg.solve, adjoint=_solve_adjoint,
      emit=_lapack_emit("_solve3", arity=2), batch=lambda batched, a, b: apply("solve", *batched_like(batched, (a, b))),
      doc="np.linalg.solve: x with a @ x = b (LU, batched); a 1-d b is a vector")


def _solve_triangular_shape(a, b, lower, trans):
    _matrix_aval(a, "solve_triangular")
    if len(b.shape) < 2 or b.shape[-2] != a.shape[-1] or tuple(b.shape[:-2]) != tuple(a.shape[:-2]):
        raise ShapeError(f"solve_triangular: shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit", user_frame())
    return Aval(b.shape, np.result_type(a.dtype, b.dtype))


def _solve_triangular_reference(a, b, lower, trans):
    import scipy.linalg

    out = np.empty(b.shape, np.result_type(a.dtype, b.dtype))
    for index in np.ndindex(a.shape[:-2]):
        out[index] = scipy.linalg.solve_triangular(a[index], b[index], lower=lower, trans=int(trans))
    return out


def _solve_triangular_adjoint(g, x, a, b, lower, trans):
    # x = op(A)^-1 b: bbar = op(A)^-T g; the cotangent of op(A) is -bbar x^T, masked to the triangle read.
    gb = apply("solve_triangular", a, g, lower=lower, trans=not trans)
    ga = -apply("matmul", x, _swap(gb)) if trans else -apply("matmul", gb, _swap(x))
    n = shape_of(a)[-1]
    return ga * (np.tri(n) if lower else np.tri(n).T).astype(ga.dtype), gb


defop("solve_triangular", linear=(1,), arity=2, shape=_solve_triangular_shape, reference=_solve_triangular_reference,
      adjoint=_solve_triangular_adjoint, emit=_lapack_emit("_solve_triangular3", arity=2),
      batch=lambda batched, a, b, **attrs: apply("solve_triangular", *batched_like(batched, (a, b)), **attrs),
      doc="op(a) @ x = b for triangular a (op: a or a^T; lower or upper; BLAS trsm, batched)")


def _inv_shape(a):
    _matrix_aval(a, "inv")
    return Aval(a.shape, a.dtype)


defop("inv", raises=True, arity=1, shape=_inv_shape, reference=np.linalg.inv,
      adjoint=lambda g, x, a: (-apply("matmul", apply("matmul", _swap(x), g), _swap(x)),),
      emit=_lapack_emit("_inv3"), batch=_same_rule("inv"), numpy=(np.linalg.inv,),
      parse=lambda a: ((_float(a, "inv"),), {}), doc="np.linalg.inv: the inverse (batched)")


# ---- slogdet and det -------------------------------------------------------------------------------
def _slogdet_shape(a):
    _matrix_aval(a, "slogdet")
    return Results([Aval(a.shape[:-2], a.dtype), Aval(a.shape[:-2], a.dtype)])


def _slogdet_reference(a):
    sign, logdet = np.linalg.slogdet(a)
    return np.asarray(sign), np.asarray(logdet)


def _slogdet_adjoint(g, out, a):
    # d log|det A| = tr(A^-1 dA); the sign is piecewise constant.
    if g[1] is None:
        return (None,)
    return (_expand(g[1], -1, -2) * _swap(apply("inv", a)),)


defop("slogdet", arity=1, shape=_slogdet_shape, reference=_slogdet_reference, adjoint=_slogdet_adjoint,
      emit=_lapack_emit("_slogdet3"), batch=_same_rule("slogdet"),
      doc="np.linalg.slogdet: the determinant's sign and the log of its magnitude (batched)")


SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")  # NumPy's result, also by name


def slogdet(a):
    return SlogdetResult(*apply("slogdet", _float(a, "slogdet")))


def det(a):
    """``sign * exp(logabsdet)``: the determinant, and its gradient ``det(A) A^-T`` (Giles 2008)."""
    sign, logdet = slogdet(a)
    return sign * np.exp(logdet)


# ---- eigh ------------------------------------------------------------------------------------------
def _eigh_shape(a, UPLO):
    _matrix_aval(a, "eigh")
    return Results([Aval(a.shape[:-1], a.dtype), Aval(a.shape, a.dtype)])


def _eigh_reference(a, UPLO):
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return w, v


def _eigh_adjoint(g, out, a, UPLO):
    # Giles (2008): abar = V (diag(wbar) + F o (V^T Vbar)) V^T, F_ij = 1 / (w_j - w_i) off the diagonal;
    # symmetrized, as the input is read as a symmetric matrix.
    w, v = _results(out)
    n = shape_of(w)[-1]
    inner = 0.0
    if g[0] is not None:
        inner = _expand(g[0], -2) * _eye(n, w.dtype)
    if g[1] is not None:
        gaps = _expand(w, -2) - _expand(w, -1)  # w_j - w_i
        off = 1.0 - _eye(n, w.dtype)
        F = off / (gaps + _eye(n, w.dtype))
        inner = inner + F * apply("matmul", _swap(v), g[1])
    return (_sym(apply("matmul", apply("matmul", v, inner), _swap(v))),)


def _eigh_batch(batched, a, UPLO):
    return apply("eigh", a, UPLO=UPLO)


_EIGH_EMIT = {"L": _lapack_emit("_eigh_lower3"), "U": _lapack_emit("_eigh_upper3")}


def _emit_eigh(args, node, operands):
    return _EIGH_EMIT[node["attrs"]["UPLO"]](args, node, operands)


defop("eigh", arity=1, shape=_eigh_shape, reference=_eigh_reference, adjoint=_eigh_adjoint,
      emit=_emit_eigh, batch=_eigh_batch, version=2,
      doc="np.linalg.eigh: eigenvalues (ascending) and eigenvectors of a symmetric matrix (batched)")


EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")  # NumPy's result, also by name


def eigh(a, UPLO="L"):
    if UPLO not in ("L", "U"):
        raise ShapeError(f"np.linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}", user_frame())
    a = _float(a, "eigh")
    if ndim_of(a) >= 2 and shape_of(a)[-1] == shape_of(a)[-2]:
        # The symmetric matrix NumPy reads, built from the triangle it reads: the gradient is then that
        # of NumPy's function (zero on the other triangle; off the diagonal, twice the symmetric
        # gradient), as autograd's is. For a symmetric parametrization (A = B + B^T) it is the same
        # as JAX's symmetrized one. The primitive keeps UPLO: LAPACK reduces the two triangles in
        # different orders, so the eigenvectors' signs depend on it.
        n = shape_of(a)[-1]
        read = np.tril(np.ones((n, n))) if UPLO == "L" else np.triu(np.ones((n, n)))
        strict = np.tril(np.ones((n, n)), -1) if UPLO == "L" else np.triu(np.ones((n, n)), 1)
        a = a * read + _swap(a * strict)
    return EighResult(*apply("eigh", a, UPLO=UPLO))


def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO)[0]


# ---- svd -------------------------------------------------------------------------------------------
def _svd_shape(a, full_matrices):
    _matrix_aval(a, "svd", square=False)
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = tuple(a.shape[:-2])
    u_cols, v_rows = (m, n) if full_matrices else (k, k)
    return Results([Aval(batch + (m, u_cols), a.dtype), Aval(batch + (k,), a.dtype),
                    Aval(batch + (v_rows, n), a.dtype)])


def _svd_reference(a, full_matrices):
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def _svd_adjoint(g, out, a, full_matrices):
    # Townsend (2016), real case: with F_ij = 1 / (s_j^2 - s_i^2) off the diagonal,
    # abar = U [ (F o (U^T Ubar - Ubar^T U)) S + diag(sbar) + S (F o (V^T Vbar - Vbar^T V)) ] V^T
    #        + (I - U U^T) Ubar S^-1 V^T  (m > n)   + U S^-1 Vbar^T (I - V V^T)  (m < n).
    u, s, vh = _results(out)
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    gu, gs, gvh = g
    if full_matrices and m != n:
        if gu is not None or gvh is not None:
            raise DifferentiationError("the gradient of np.linalg.svd's U and Vh with full_matrices=True on a "
                                       "non-square matrix is not unique; use full_matrices=False")
        u, vh = u[..., :k], vh[..., :k, :]  # the singular values' gradient reads the reduced factors
    v = _swap(vh)
    eye = _eye(k, s.dtype)
    s_row, s_col = _expand(s, -2), _expand(s, -1)  # s_j along a row, s_i down a column
    F = (1.0 - eye) / (s_row * s_row - s_col * s_col + eye)
    inner = 0.0
    if gs is not None:
        inner = _expand(gs, -2) * eye
    if gu is not None:
        utgu = apply("matmul", _swap(u), gu)
        inner = inner + F * (utgu - _swap(utgu)) * s_row
    if gvh is not None:
        gv = _swap(gvh)
        vtgv = apply("matmul", vh, gv)
        inner = inner + s_col * (F * (vtgv - _swap(vtgv)))
    result = apply("matmul", apply("matmul", u, inner), vh)
    if gu is not None and m > k:
        projected = gu - apply("matmul", u, apply("matmul", _swap(u), gu))
        result = result + apply("matmul", projected / s_row, vh)
    if gvh is not None and n > k:
        gv = _swap(gvh)
        projected = gv - apply("matmul", v, apply("matmul", vh, gv))
        result = result + apply("matmul", u / s_row, _swap(projected))
    return (result,)


defop("svd", arity=1, shape=_svd_shape, reference=_svd_reference, adjoint=_svd_adjoint,
      emit=_lapack_emit("_svd3"), batch=_same_rule("svd"),
      doc="np.linalg.svd: U, singular values (descending), V^H (batched); gradient for distinct values")


SVDResult = namedtuple("SVDResult", "U S Vh")  # NumPy's result, also by name


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _float(a, "svd")
    if hermitian:
        raise unsupported("np.linalg.svd(hermitian=True)", "use np.linalg.eigh")
    m, n = shape_of(a)[-2:] if ndim_of(a) >= 2 else (0, 0)
    # Square, or singular values alone: the reduced factorization is the same.
    results = apply("svd", a, full_matrices=bool(full_matrices) and bool(compute_uv) and m != n)
    return results[1] if not compute_uv else SVDResult(*results)


def svdvals(x):
    return svd(x, compute_uv=False)


# ---- qr --------------------------------------------------------------------------------------------
def _qr_shape(a):
    _matrix_aval(a, "qr", square=False)
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = tuple(a.shape[:-2])
    return Results([Aval(batch + (m, k), a.dtype), Aval(batch + (k, n), a.dtype)])


def _qr_reference(a):
    q, r = np.linalg.qr(a, mode="reduced")
    return q, r


def _qr_adjoint(g, out, a):
    # Seeger et al. (2017), for m >= n: M = R Rbar^T - Qbar^T Q, abar = (Qbar + Q copyltu(M)) R^-T,
    # where copyltu(M) mirrors M's lower triangle into its upper one.
    q, r = _results(out)
    m, n = shape_of(a)[-2:]
    if m < n:
        raise DifferentiationError(f"the gradient of np.linalg.qr of a wide matrix ({m} x {n}, fewer rows than "
                                   "columns) is not implemented; differentiate the QR of its transpose")
    gq, gr = g
    M = 0.0
    if gr is not None:
        M = apply("matmul", r, _swap(gr))
    if gq is not None:
        M = M - apply("matmul", _swap(gq), q)
    lower = np.tril(np.ones((n, n)), -1).astype(q.dtype)
    mirrored = M * (lower + _eye(n, q.dtype)) + _swap(M * lower)
    total = apply("matmul", q, mirrored)
    if gq is not None:
        total = total + gq
    return (_swap(apply("solve", r, _swap(total))),)  # total R^-T = (R^-1 total^T)^T


defop("qr", arity=1, shape=_qr_shape, reference=_qr_reference, adjoint=_qr_adjoint,
      emit=_lapack_emit("_qr3"), batch=_same_rule("qr"),
      doc="np.linalg.qr (reduced): Q with orthonormal columns and upper-triangular R (batched)")


QRResult = namedtuple("QRResult", "Q R")  # NumPy's result, also by name


def qr(a, mode="reduced"):
    a = _float(a, "qr")
    if mode not in ("reduced", "r"):
        raise unsupported(f"np.linalg.qr(mode={mode!r})", "use mode='reduced' or 'r'")
    q, r = apply("qr", a)
    return r if mode == "r" else QRResult(q, r)


# ---- composites ------------------------------------------------------------------------------------
def _vector_norm(x, ord, axis, keepdims):
    ax = normalize_axis(axis, ndim_of(x), "norm")
    absolute = np.abs(x)
    if ord is None or ord == 2:
        return np.sqrt(np.sum(x * x, axis=ax, keepdims=keepdims))
    if ord == np.inf:
        return np.max(absolute, axis=ax, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(absolute, axis=ax, keepdims=keepdims)
    if ord == 0:
        return np.sum((x != 0).astype(x.dtype), axis=ax, keepdims=keepdims)
    if ord == 1:
        return np.sum(absolute, axis=ax, keepdims=keepdims)
    if isinstance(ord, str):
        raise ShapeError(f"np.linalg.norm: ord {ord!r} is for matrices; a vector takes a number", user_frame())
    return np.sum(absolute ** ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    row, col = (a % ndim_of(x) for a in axes)
    if row == col:
        raise ShapeError("np.linalg.norm: the two axes of a matrix norm must differ", user_frame())
    if ord in (None, "fro"):
        result = np.sqrt(np.sum(x * x, axis=(row, col)))
    elif ord in (1, -1, np.inf, -np.inf):
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        sums = np.sum(np.abs(x), axis=summed)
        pick = np.max if ord in (1, np.inf) else np.min
        result = pick(sums, axis=other - (summed < other))
    elif ord in (2, -2, "nuc"):
        rest = [a for a in range(ndim_of(x)) if a not in (row, col)]
        s = svd(np.transpose(x, rest + [row, col]), compute_uv=False)
        result = np.sum(s, axis=-1) if ord == "nuc" else (np.max if ord == 2 else np.min)(s, axis=-1)
    else:
        raise ShapeError(f"np.linalg.norm: invalid norm order {ord!r} for matrices", user_frame())
    if keepdims:
        shape = list(shape_of(x))
        shape[row] = shape[col] = 1
        result = apply("reshape", result, shape=tuple(shape))
    return result


def norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's ``np.linalg.norm`` in each of its forms, for real input."""
    x = _float(x, "norm")
    nd = ndim_of(x)
    if axis is None:
        if ord is None:  # the 2-norm of the flattened array
            result = np.sqrt(np.sum(x * x))
            return apply("reshape", result, shape=(1,) * nd) if keepdims else result
        if nd == 1:
            return _vector_norm(x, ord, 0, keepdims)
        if nd == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ShapeError("np.linalg.norm: improper number of dimensions to norm (give axis)", user_frame())
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ShapeError(f"np.linalg.norm: axis must be an int or a pair, got {axis!r}", user_frame())


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    x = _float(x, "vector_norm")
    if axis is None:
        flat = apply("reshape", x, shape=(math.prod(shape_of(x)),))
        result = _vector_norm(flat, ord, 0, False)
        return apply("reshape", result, shape=(1,) * ndim_of(x)) if keepdims else result
    return _vector_norm(x, ord, axis, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return _matrix_norm(_float(x, "matrix_norm"), ord, (-2, -1), keepdims)


def _cut_svd(a, cutoff):
    """``a``'s reduced SVD and the inverses of its singular values, zero for those at most
    ``cutoff * max(s)`` (NumPy's default cutoff when None: ``max(m, n) * eps``); also which are kept."""
    m, n = shape_of(a)[-2:]
    if cutoff is None:
        cutoff = max(m, n) * np.finfo(np.dtype(a.dtype)).eps
    u, s, vh = svd(a, full_matrices=False)
    kept = s > cutoff * np.max(s, axis=-1, keepdims=True)
    return u, s, vh, kept, np.where(kept, 1.0 / np.where(kept, s, 1.0), 0.0)


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """The pseudo-inverse by the SVD: singular values at most ``rcond * max(s)`` count as zero
    (NumPy's default cutoff, ``max(m, n) * eps``)."""
    a = _float(a, "pinv")
    u, _, vh, _, inverse = _cut_svd(a, rtol if rtol is not None else rcond)
    return apply("matmul", _swap(vh) * _expand(inverse, -2), _swap(u))


def lstsq(a, b, rcond=None):
    """``(x, residuals, rank, s)`` as NumPy's, x by the pseudo-inverse. Residuals (the squared 2-norm
    of each column's residual) are given for m > n; NumPy gives none for a rank-deficient ``a``,
    which needs the rank while tracing, so here they are computed anyway."""
    a, b = _float(a, "lstsq"), _float(b, "lstsq")
    m, n = shape_of(a)
    u, s, vh, kept, inverse = _cut_svd(a, rcond)
    x = apply("matmul", _swap(vh) * _expand(inverse, -2), apply("matmul", _swap(u), b))
    rank = np.sum(kept.astype(np.int64))
    if m > n:
        r = b - apply("matmul", a, x)
        residuals = np.sum(r * r, axis=0)
        residuals = residuals if ndim_of(residuals) else apply("reshape", residuals, shape=(1,))
    else:
        residuals = np.zeros((0,), np.dtype(a.dtype))
    return x, residuals, rank, s


def matrix_power(a, n):
    if not isinstance(n, (int, np.integer)):
        raise ShapeError(f"np.linalg.matrix_power: the exponent must be an int, got {n!r}", user_frame())
    a = a if hasattr(a, "shape") else np.asarray(a)
    _matrix_aval(Aval(tuple(shape_of(a)), np.dtype(a.dtype)), "matrix_power")
    if n == 0:
        size = shape_of(a)[-1]
        return apply("broadcast_to", _eye(size, np.dtype(a.dtype)), shape=tuple(shape_of(a)))
    if n < 0:
        a, n = apply("inv", _float(a, "matrix_power")), -n
    result, square = None, a
    while n:  # binary powering: log2(n) products and squarings
        if n & 1:
            result = square if result is None else apply("matmul", result, square)
        n >>= 1
        if n:
            square = apply("matmul", square, square)
    return result


def multi_dot(arrays, *, out=None):
    """The chain product in the order that needs the fewest multiplications (NumPy's dynamic
    programme over the matrices' shapes); a 1-d first or last array is a row or a column."""
    if out is not None:
        raise unsupported("np.linalg.multi_dot with out=")
    arrays = [x if hasattr(x, "shape") else np.asarray(x) for x in arrays]
    if len(arrays) < 2:
        raise ShapeError("np.linalg.multi_dot needs at least two arrays", user_frame())
    first_vector, last_vector = ndim_of(arrays[0]) == 1, ndim_of(arrays[-1]) == 1
    if first_vector:
        arrays[0] = apply("reshape", arrays[0], shape=(1,) + shape_of(arrays[0]))
    if last_vector:
        arrays[-1] = apply("reshape", arrays[-1], shape=shape_of(arrays[-1]) + (1,))
    dims = [shape_of(arrays[0])[0]] + [shape_of(x)[1] for x in arrays]
    count = len(arrays)
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        if i == j:
            return arrays[i]
        return apply("matmul", product(i, split[i][j]), product(split[i][j] + 1, j))

    result = product(0, count - 1)
    if first_vector and last_vector:
        return apply("reshape", result, shape=())
    if first_vector or last_vector:
        shape = shape_of(result)
        return apply("reshape", result, shape=shape[1:] if first_vector else shape[:-1])
    return result


defcomposite((np.linalg.solve,), _solve)
defcomposite((np.linalg.slogdet,), slogdet)
defcomposite((np.linalg.det,), det)
defcomposite((np.linalg.eigh,), eigh)
defcomposite((np.linalg.eigvalsh,), eigvalsh)
defcomposite((np.linalg.svd,), svd)
defcomposite((np.linalg.svdvals,), svdvals)
defcomposite((np.linalg.qr,), qr)
defcomposite((np.linalg.norm,), norm)
defcomposite((np.linalg.vector_norm,), vector_norm)
defcomposite((np.linalg.matrix_norm,), matrix_norm)
defcomposite((np.linalg.pinv,), pinv)
defcomposite((np.linalg.lstsq,), lstsq)
defcomposite((np.linalg.matrix_power,), matrix_power)
defcomposite((np.linalg.multi_dot,), multi_dot)
