"""graphc.scipy.linalg's expm, sqrtm, solve_sylvester and solve_banded: values against SciPy, gradients
(first and second order) against central differences, the errors, and one compiled kernel for all four.

The op table (tests/cases/matfuncs.py) runs the generic checks on the primitives; these tests cover the
public functions' signatures and the cases the table does not: broadcasting, vectors, integer input,
large norms (expm's squarings), the real Schur form's 2x2 blocks, errors in both tiers.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl

import graphc
from graphc.errors import ComplexResultError, GraphcError, ShapeError, UnsupportedOperationError
from graphc.scipy import linalg as gl

NUMPY = dict(tiered="numpy")
EPS = 1e-6


def _nonsymmetric(rng, n, shift=2.0):
    """``shift * I`` plus a random matrix whose eigenvalues lie about the disc of radius 1/2 (circular law):
    well away from the negative real axis and from singular Sylvester equations; typically with complex
    eigenvalue pairs (2x2 blocks of the real Schur form)."""
    return rng.normal(size=(n, n)) / (2.0 * np.sqrt(n)) + shift * np.eye(n)


def _band(rng, l, u, n, batch=()):
    ab = rng.normal(size=batch + (l + u + 1, n))
    ab[..., u, :] += 6.0  # a dominant main diagonal
    return ab


def _check_gradient(fun, args, rng, argnums=None, rtol=1e-6):
    """graphc's gradient of scalar ``fun`` against central differences in one random direction."""
    argnums = tuple(range(len(args))) if argnums is None else argnums
    grads = graphc.grad(fun, argnums=argnums, **NUMPY)(*args)
    directions = [rng.normal(size=np.shape(args[i])) for i in argnums]

    def moved(step):
        shifted = list(args)
        for i, d in zip(argnums, directions):
            shifted[i] = args[i] + step * d
        return fun(*shifted)

    numeric = (moved(EPS) - moved(-EPS)) / (2 * EPS)
    analytic = sum(np.sum(g * d) for g, d in zip(grads, directions))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=1e-9)
    return grads


# ---- values ----------------------------------------------------------------------------------------
def test_expm_matches_scipy_from_small_to_large_norms(rng):
    f = graphc.jit(gl.expm, **NUMPY)
    for scale in (0.01, 0.5, 2.0, 20.0):  # degree 3 Padé to degree 13 with squarings
        a = rng.normal(size=(4, 4)) * scale
        np.testing.assert_allclose(f(a), sl.expm(a), rtol=1e-12 * max(1.0, scale), atol=1e-300)
    stack = rng.normal(size=(2, 3, 3, 3))
    np.testing.assert_allclose(f(stack), sl.expm(stack), rtol=1e-13)
    np.testing.assert_allclose(gl.expm(np.array([[1, 2], [0, 1]])), sl.expm(np.array([[1.0, 2], [0, 1]])),
                               rtol=1e-15)  # integers become float64, as in SciPy; untraced calls run SciPy


def test_sqrtm_matches_scipy_and_squares_back(rng):
    spd = rng.normal(size=(4, 4))
    spd = spd @ spd.T + np.eye(4)
    blocks = _nonsymmetric(rng, 5)  # complex eigenvalue pairs: the real Schur form's 2x2 blocks
    assert np.any(np.iscomplex(np.linalg.eigvals(blocks)))
    f = graphc.jit(gl.sqrtm, **NUMPY)
    for a in (spd, blocks, np.array([[4.0]])):
        x = f(a)
        assert x.dtype == np.float64
        np.testing.assert_allclose(x, sl.sqrtm(a), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(x @ x, a, rtol=1e-12, atol=1e-13)
    x, errest = graphc.jit(lambda a: gl.sqrtm(a, disp=False, blocksize=16), **NUMPY)(spd)
    np.testing.assert_allclose(errest, np.linalg.norm(x @ x - spd, "fro") ** 2 / np.linalg.norm(spd, "fro"))
    assert errest < 1e-25


def test_solve_sylvester_matches_scipy_and_broadcasts_batch_axes(rng):
    a, b, q = _nonsymmetric(rng, 4), _nonsymmetric(rng, 2), rng.normal(size=(4, 2))
    x = graphc.jit(gl.solve_sylvester, **NUMPY)(a, b, q)
    np.testing.assert_allclose(x, sl.solve_sylvester(a, b, q), rtol=1e-13)
    np.testing.assert_allclose(a @ x + x @ b, q, rtol=1e-13, atol=1e-14)
    stack_a, stack_q = np.stack([a, a + np.eye(4)]), rng.normal(size=(3, 1, 4, 2))  # batch (2,) with (3, 1)
    x = graphc.jit(gl.solve_sylvester, **NUMPY)(stack_a, b, stack_q)
    assert x.shape == (3, 2, 4, 2)
    np.testing.assert_allclose(x[2, 1], sl.solve_sylvester(a + np.eye(4), b, stack_q[2, 0]), rtol=1e-13)


@pytest.mark.parametrize("l, u", [(0, 0), (1, 1), (2, 1), (0, 3)])
def test_solve_banded_matches_scipy_for_vectors_and_matrices(l, u, rng):
    ab, b, v = _band(rng, l, u, 6), rng.normal(size=(6, 3)), rng.normal(size=6)
    ab[:u, :u] = np.nan  # the storage's unused corners are not read
    for i in range(l):
        ab[u + 1 + i, 6 - 1 - i:] = np.nan
    x, y = graphc.jit(lambda ab, b, v: (gl.solve_banded((l, u), ab, b), gl.solve_banded((l, u), ab, v)),
                      **NUMPY)(ab, b, v)
    np.testing.assert_allclose(x, sl.solve_banded((l, u), ab, b, check_finite=False), rtol=1e-13)
    np.testing.assert_allclose(y, sl.solve_banded((l, u), ab, v, check_finite=False), rtol=1e-13)
    assert y.shape == (6,)


def test_solve_banded_batches_a_stack_of_bands(rng):
    ab, vs = _band(rng, 1, 2, 5, batch=(3,)), rng.normal(size=(3, 5))
    x = graphc.jit(lambda ab, vs: gl.solve_banded((1, 2), ab, vs), **NUMPY)(ab, vs)  # one vector per band
    np.testing.assert_allclose(x, [sl.solve_banded((1, 2), a, v) for a, v in zip(ab, vs)], rtol=1e-13)


# ---- gradients -------------------------------------------------------------------------------------
def test_gradients_match_central_differences(rng):
    w = rng.normal(size=(3, 3))
    a = rng.normal(size=(3, 3))
    _check_gradient(lambda a: np.sum(gl.expm(a) * w), [a], rng)
    _check_gradient(lambda a: np.sum(gl.expm(3.0 * a) * w), [a], rng)  # through squarings
    _check_gradient(lambda a: np.sum(gl.sqrtm(a) * w), [_nonsymmetric(rng, 3)], rng)
    _check_gradient(lambda a, b, q: np.sum(gl.solve_sylvester(a, b, q) * w[:, :2]),
                    [_nonsymmetric(rng, 3), _nonsymmetric(rng, 2), rng.normal(size=(3, 2))], rng)
    ab, b = _band(rng, 2, 1, 5), rng.normal(size=(5, 2))
    grads = _check_gradient(lambda ab, b: np.sum(gl.solve_banded((2, 1), ab, b) * w[0, :2]), [ab, b], rng)
    rows = np.arange(5)[None, :] + np.arange(4)[:, None] - 1  # the matrix row each slot holds
    outside = (rows < 0) | (rows >= 5)
    assert np.all(grads[0][outside] == 0.0) and np.all(grads[0][~outside] != 0.0)  # unused corners: none


def test_gradient_of_trace_of_expm_is_its_transpose(rng):
    # d tr(e^A) = tr(e^A dA): the gradient is (e^A)^T, exactly, with no differences.
    a = rng.normal(size=(4, 4))
    np.testing.assert_allclose(graphc.grad(lambda a: np.trace(gl.expm(a)), **NUMPY)(a), sl.expm(a).T, rtol=1e-12)


@pytest.mark.parametrize("fn", ["expm", "sqrtm"])
def test_second_order_matches_central_differences_of_the_gradient(fn, rng):
    a = rng.normal(size=(3, 3)) if fn == "expm" else _nonsymmetric(rng, 3)
    w, u, v = (rng.normal(size=(3, 3)) for _ in range(3))
    f = lambda a: np.sum(getattr(gl, fn)(a) * w)  # noqa: E731
    gradient = graphc.grad(f, **NUMPY)
    second = graphc.grad(lambda a: np.sum(graphc.grad(f)(a) * u), **NUMPY)(a)  # d <grad f, u> / da
    numeric = np.sum((gradient(a + EPS * v) - gradient(a - EPS * v)) / (2 * EPS) * u)
    assert abs(numeric) > 1e-2  # a second derivative to check, not zeros agreeing
    np.testing.assert_allclose(np.sum(second * v), numeric, rtol=1e-6)
    hessian = graphc.hessian(f, **NUMPY)(a)  # forward over reverse: the adjoint rule transposed
    np.testing.assert_allclose(np.einsum("ij,ijkl,kl", u, hessian, v), numeric, rtol=1e-6)


# ---- errors ----------------------------------------------------------------------------------------
def test_shape_and_argument_errors_name_the_function_and_the_line(rng):
    square, wide = np.eye(3), np.ones((3, 2))
    cases = [
        (lambda a: gl.expm(a), (wide,), "expm: A must be a square matrix"),
        (lambda a: gl.sqrtm(a), (np.ones(3),), "sqrtm: A must be a square matrix"),
        (lambda a, q: gl.solve_sylvester(a, square, q), (wide, wide), "solve_sylvester: a must be a square"),
        (lambda a, q: gl.solve_sylvester(square, a, q), (wide, wide), "solve_sylvester: b must be a square"),
        (lambda a, q: gl.solve_sylvester(a, a, q), (square, wide), r"q must have shape \(3, 3\)"),
        (lambda a, q: gl.solve_sylvester(a[None].repeat(2, 0), a, q[None].repeat(3, 0)), (square, wide),
         "do not broadcast"),
        (lambda ab, b: gl.solve_banded((1, 1), ab, b), (np.ones((2, 4)), np.ones(4)), "l \\+ u \\+ 1 = 3 rows"),
        (lambda ab, b: gl.solve_banded((1, 1), ab, b), (np.ones((3, 4)), np.ones(5)), "b needs 4 rows"),
        (lambda ab, b: gl.solve_banded((1, -1), ab, b), (np.ones((1, 4)), np.ones(4)), "non-negative integers"),
        (lambda ab, b: gl.solve_banded((1.0, 1), ab, b), (np.ones((3, 4)), np.ones(4)), "non-negative integers"),
        (lambda ab, b: gl.solve_banded(2, ab, b), (np.ones((3, 4)), np.ones(4)), "a pair of integers"),
    ]
    for fn, args, message in cases:
        with pytest.raises(ShapeError, match=message) as error:
            graphc.jit(fn, **NUMPY)(*args)
        assert "test_scipy_linalg.py" in str(error.value)  # the user's line
    with pytest.raises(UnsupportedOperationError, match="real values only"):
        gl.expm(np.eye(2) * 1j)  # (jit refuses complex arguments itself)


def test_sqrtm_of_a_negative_eigenvalue_raises_when_it_runs():
    a = np.diag([4.0, -1.0])
    assert np.iscomplexobj(sl.sqrtm(a))  # SciPy's answer is complex
    f = graphc.jit(gl.sqrtm, **NUMPY)
    with pytest.raises(ComplexResultError, match="negative real eigenvalue"):
        f(a)
    np.testing.assert_allclose(f(np.diag([4.0, 1.0])), np.diag([2.0, 1.0]))  # the same function, a real root


# ---- the compiled kernel ---------------------------------------------------------------------------
def test_one_kernel_with_all_four_matches_scipy_the_numpy_tier_and_its_errors(rng):
    """All four functions and their gradients in one compiled kernel (one compile): values against SciPy,
    gradients against the NumPy tier, and the runtime errors from inside the kernel."""
    a = rng.normal(size=(5, 5)) * 2.0  # 1-norm above 5.4: the kernel's Padé squares
    root = _nonsymmetric(rng, 5)  # 2x2 and 1x1 blocks
    b, q = _nonsymmetric(rng, 3), rng.normal(size=(5, 3))
    ab, rhs = _band(rng, 1, 2, 5), rng.normal(size=5)
    ab[0, :2] = ab[1, 0] = ab[3, 4] = np.nan  # the slots outside the matrix, unread
    w = rng.normal(size=(5, 5))

    def everything(a, root, b, q, ab, rhs):
        values = (gl.expm(a), gl.sqrtm(root), gl.solve_sylvester(root, b, q), gl.solve_banded((1, 2), ab, rhs))

        def loss(a, root, b, q, ab, rhs):
            e, s, x, y = (gl.expm(a), gl.sqrtm(root), gl.solve_sylvester(root, b, q),
                          gl.solve_banded((1, 2), ab, rhs))
            return np.sum(e * w) + np.sum(s * w) + np.sum(x * w[:, :3]) + np.sum(y * w[0])

        return values, graphc.grad(loss, argnums=(0, 1, 2, 3, 4, 5))(a, root, b, q, ab, rhs)

    args = (a, root, b, q, ab, rhs)
    compiled = graphc.jit(everything, tiered=False)
    values, grads = compiled(*args)
    expected = (sl.expm(a), sl.sqrtm(root), sl.solve_sylvester(root, b, q),
                sl.solve_banded((1, 2), ab, rhs, check_finite=False))
    for got, want in zip(values, expected):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11 * np.max(np.abs(want)))
    numpy_values, numpy_grads = graphc.jit(everything, **NUMPY)(*args)
    for got, want in zip(values + grads, numpy_values + numpy_grads):
        assert got.shape == want.shape and got.dtype == want.dtype == np.float64 and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11 * np.max(np.abs(want)))
    with pytest.raises(ComplexResultError, match="negative real eigenvalue"):  # the same kernel, raising
        compiled(a, np.diag([1.0, 2.0, -1.0, 3.0, 4.0]), b, q, ab, rhs)
    singular = ab.copy()
    singular[:, 2] = 0.0  # a zero column
    with pytest.raises(np.linalg.LinAlgError):
        compiled(a, root, b, q, singular, rhs)
    with pytest.raises(np.linalg.LinAlgError):
        graphc.jit(everything, **NUMPY)(a, root, b, q, singular, rhs)
    assert issubclass(ComplexResultError, (GraphcError, ValueError))


def test_eigh_gradient_is_numpys_function_s_which_reads_one_triangle(rng):
    # np.linalg.eigh reads the lower triangle (UPLO='U': the upper one): its gradient is zero on the
    # other, and through a symmetric parametrization it is the symmetrized one.
    a = rng.normal(size=(4, 4))
    step = 1e-6
    for fun in (lambda a: np.linalg.eigh(a)[0][-1], lambda a: np.linalg.eigvalsh(a, UPLO="U")[0],
                lambda a: np.sum(np.linalg.eigh(a)[1][:, 0] ** 3)):
        got = graphc.grad(fun, tiered="numpy")(a)
        central = np.array([[(fun(a + step * np.outer(e, f)) - fun(a - step * np.outer(e, f))) / (2 * step)
                             for f in np.eye(4)] for e in np.eye(4)])
        np.testing.assert_allclose(got, central, atol=1e-8)
    b = rng.normal(size=(4, 4))
    through_sym = graphc.grad(lambda b: np.linalg.eigvalsh(b + b.T)[-1], tiered="numpy")(b)
    w, v = np.linalg.eigh(b + b.T)
    np.testing.assert_allclose(through_sym, 2 * np.outer(v[:, -1], v[:, -1]), rtol=1e-10)
