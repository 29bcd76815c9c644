"""The ufuncs family (graphc/ops/ufuncs.py) beyond the registry-wide rows: the compiled kernels on inf,
NaN and signed zeros, the gradient conventions at non-differentiable points, and clip's argument forms."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError

from op_cases import SPECIAL_VALUES

UNARY = ["cbrt", "reciprocal", "exp2", "log2", "log10", "sinh", "cosh", "arcsin", "arccos", "arcsinh",
         "arccosh", "arctanh", "floor", "ceil", "rint", "trunc", "deg2rad", "rad2deg"]
BINARY = ["arctan2", "hypot", "logaddexp", "logaddexp2", "copysign", "fmax", "fmin", "remainder", "fmod"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_compiled_kernels_agree_with_numpy_on_inf_nan_and_signed_zero(dtype):
    # Every value against every value (fused loops), and one 0-d pair (scalar emission); one kernel.
    x, y = (g.ravel().astype(dtype) for g in np.meshgrid(SPECIAL_VALUES, SPECIAL_VALUES, indexing="ij"))
    x0, y0 = dtype(-0.0), dtype(np.inf)

    def everything(x, y, x0, y0):
        return ([getattr(np, f)(x) for f in UNARY] + [getattr(np, f)(x, y) for f in BINARY],
                [getattr(np, f)(x0) for f in UNARY] + [getattr(np, f)(x0, y0) for f in BINARY])

    got = graphc.jit(everything)(x, y, x0, y0)
    with np.errstate(all="ignore"):
        expected = everything(x, y, x0, y0)
    # libm and NumPy's SIMD loops differ by an ulp or two: values to the usual tolerance; zeros, infs and
    # NaNs exactly. The sign of fmax(0.0, -0.0) is not defined: NumPy's own answer depends on the size.
    tol = dict(rtol=1e-15, atol=0) if dtype == np.float64 else dict(rtol=3e-7, atol=0)
    names = UNARY + BINARY
    for name, a, e, xs, ys in [(n, a, e, x, y) for n, a, e in zip(names, got[0], expected[0])] + \
            [(n, np.atleast_1d(a), np.atleast_1d(e), x0, y0) for n, a, e in zip(names, got[1], expected[1])]:
        assert np.result_type(a) == np.result_type(e), name
        np.testing.assert_allclose(a, e, err_msg=name, equal_nan=True, **tol)
        exact = ~np.isfinite(e) | (e == 0)
        np.testing.assert_array_equal(a[exact], e[exact], err_msg=name)
        signed = (e == 0) & ~((xs == 0) & (ys == 0) & (name in ("fmax", "fmin")))
        np.testing.assert_array_equal(np.signbit(a[signed]), np.signbit(e[signed]), err_msg=f"sign of 0 in {name}")


@pytest.mark.parametrize("op", [np.fmax, np.fmin])
def test_fmax_and_fmin_split_ties_and_ignore_nan(op, ref):
    grad = graphc.grad(lambda x, y: np.sum(op(x, y)), argnums=(0, 1))
    x = np.array([2.0, np.nan, 1.0, 3.0, np.nan])
    y = np.array([2.0, 1.0, np.nan, 0.0, np.nan])
    gx, gy = ref(grad, x, y)
    wins = [1.0, 0.0] if op is np.fmax else [0.0, 1.0]  # x = 3 against y = 0
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0, wins[0], 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0, wins[1], 0.0])
    np.testing.assert_array_equal(graphc.grad(lambda x, y: np.sum(op(x, y)), argnums=(0, 1))(x, y), (gx, gy))


def test_clip_gradient_passes_inside_and_splits_at_the_bounds(ref):
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    g = ref(graphc.grad(lambda x: np.sum(np.clip(x, -1.0, 1.0))), x)
    np.testing.assert_array_equal(g, [0.0, 0.5, 1.0, 0.5, 0.0])  # jnp.clip's maximum/minimum
    lo, hi = np.full(5, -1.0), np.full(5, 1.0)
    gx, glo, ghi = ref(graphc.grad(lambda x, lo, hi: np.sum(np.clip(x, lo, hi)), argnums=(0, 1, 2)), x, lo, hi)
    np.testing.assert_array_equal(glo, [1.0, 0.5, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ghi, [0.0, 0.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(graphc.grad(lambda x: np.sum(np.clip(x, -1.0, 1.0)))(x), g)


def test_clip_keeps_numpy_semantics():
    x = np.array([np.nan, -3.0, 0.5, 3.0], np.float32)
    for fn in (lambda x: np.clip(x, 1.0, -1.0), lambda x: np.clip(x, None, None), lambda x: x.clip(0.0),
               lambda x: np.clip(x, np.float64(-1.0), 1.0), lambda x: np.clip(1.5, x, 2.0)):
        got, expected = graphc.jit(fn)(x), fn(x)
        assert np.result_type(got) == np.result_type(expected)
        np.testing.assert_array_equal(got, expected)


def test_clip_arguments_it_cannot_honour_are_errors():
    x = np.ones(3)
    with pytest.raises(GraphcError, match="out="):
        graphc.jit(lambda x: np.clip(x, 0.0, 1.0, out=np.empty(3)))(x)
    with pytest.raises(GraphcError, match="both a_min and min"):
        graphc.jit(lambda x: np.clip(x, 0.0, 1.0, min=0.5))(x)


def test_remainder_and_fmod_gradients(ref):
    x, y = np.array([5.5, -5.5, 5.5, -5.5]), np.array([2.0, 2.0, -2.0, -2.0])
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(np.mod(x, y)), argnums=(0, 1)), x, y)
    np.testing.assert_array_equal(gx, np.ones(4))
    np.testing.assert_array_equal(gy, -np.floor(x / y))
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(np.fmod(x, y)), argnums=(0, 1)), x, y)
    np.testing.assert_array_equal(gx, np.ones(4))
    np.testing.assert_array_equal(gy, -np.trunc(x / y))


def test_gradients_at_points_where_a_naive_rule_gives_nan_or_inf(ref):
    # hypot at the origin and angle everywhere: zero; logaddexp far apart and at -inf: 0 and 1.
    assert ref(graphc.grad(lambda x, y: np.hypot(x, y), argnums=(0, 1)), 0.0, 0.0) == (0.0, 0.0)
    assert ref(graphc.grad(np.angle), 0.0) == 0.0
    assert ref(graphc.grad(np.angle), -2.0) == 0.0
    assert ref(graphc.grad(lambda x, y: np.logaddexp(x, y), argnums=(0, 1)), 1000.0, 0.0) == (1.0, 0.0)
    assert ref(graphc.grad(lambda x, y: np.logaddexp2(x, y), argnums=(0, 1)), -np.inf, 0.0) == (0.0, 1.0)
    np.testing.assert_allclose(ref(graphc.grad(np.arcsinh), 1e200), 1e-200, rtol=1e-15)
    np.testing.assert_allclose(ref(graphc.grad(np.arccosh), 1e200), 1e-200, rtol=1e-15)
    # copysign: the sign of y flips the slope in x; y itself gets none.
    assert ref(graphc.grad(lambda x, y: np.copysign(x, y), argnums=(0, 1)), -2.0, 3.0) == (-1.0, 0.0)
    # sqrt-like singular rules masked by a zero cotangent: where() guarding cbrt at 0.
    assert ref(graphc.grad(lambda x: np.where(x > 0, np.cbrt(x), 0.0)), 0.0) == 0.0


@pytest.mark.parametrize("fn", [np.floor, np.ceil, np.rint, np.trunc])
def test_rounding_has_zero_gradient(fn, ref):
    x = np.array([-1.5, -0.5, 0.5, 2.0])
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(fn(x) * x)), x), fn(x))


def test_complex_parts_of_real_input(ref):
    x = np.array([-2.0, -0.0, 0.0, np.inf, np.nan], np.float32)
    fn = lambda x: (np.real(x), np.imag(x), np.conj(x), np.angle(x), np.angle(x, deg=True))  # noqa: E731
    for got, expected in zip(graphc.jit(fn)(x), fn(x)):
        assert np.result_type(got) == np.result_type(expected)
        np.testing.assert_array_equal(got, expected)
    assert np.all(ref(graphc.grad(lambda x: np.sum(np.imag(x) + x.real)), x[:3]) == 1.0)
