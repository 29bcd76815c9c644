"""graphc.scipy.signal.convolve and np.convolve on traced values, against SciPy and NumPy themselves: values
in every mode, rank 1 to 4, odd and even sizes, either operand the larger; gradients of first and second
order against central differences; forward mode, vmap, and the errors.

The op table (tests/cases/signal.py) runs the registry-wide checks on the ``convolve`` primitive, compiled
too. Here every check but one uses the NumPy tier; that one compiles what the table's rows leave out.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import graphc
from graphc.errors import GraphcError, ShapeError, UnsupportedOperationError
from graphc.scipy.signal import convolve

NUMPY = dict(tiered="numpy")
MODES = ("full", "valid", "same")
# Pairs of shapes: odd and even sizes, equal sizes, in2 larger on every axis (SciPy swaps for 'valid',
# keeps in1's shape for 'same'), larger on some axes only ('valid' is an error there), size-1 axes.
SHAPES = [((7,), (3,)), ((6,), (4,)), ((3,), (6,)), ((5,), (5,)), ((1,), (4,)), ((5, 6), (3, 2)),
          ((2, 3), (5, 6)), ((4, 4), (4, 5)), ((4, 1), (2, 1)), ((6, 5, 4), (3, 2, 3)), ((2, 4, 3), (3, 4, 2)),
          ((3, 3, 2), (3, 3, 2))]


def _direct(a, b, mode):
    return ss.convolve(a, b, mode=mode, method="direct")


def _fits_valid(sa, sb) -> bool:
    return all(p >= q for p, q in zip(sa, sb)) or all(q >= p for p, q in zip(sa, sb))


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}*{s[1]}")
def test_values_match_scipy_in_every_mode(shapes, rng):
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    modes = [m for m in MODES if m != "valid" or _fits_valid(*shapes)]
    got = graphc.jit(lambda a, b: tuple(convolve(a, b, mode=m) for m in modes), **NUMPY)(a, b)
    for mode, value in zip(modes, got):
        expected = _direct(a, b, mode)
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-13, strict=True, err_msg=mode)
        # NumPy arrays in: SciPy's answer, through the primitive's reference, with no trace at all
        np.testing.assert_allclose(convolve(a, b, mode, method="direct"), expected, rtol=1e-12, atol=1e-13)
    if "valid" not in modes:  # neither operand is the larger on every axis: an error, as in SciPy
        with pytest.raises(ValueError):
            _direct(a, b, "valid")
        with pytest.raises(ShapeError, match="at least as large as the other in every dimension"):
            graphc.jit(lambda a, b: convolve(a, b, mode="valid"), **NUMPY)(a, b)


@pytest.mark.parametrize("na, nv", [(7, 3), (3, 7), (4, 4), (1, 5), (6, 1)])
def test_np_convolve_matches_numpy_in_every_mode(na, nv, rng):
    a, v = rng.normal(size=na), rng.normal(size=nv)
    modes = ("full", "same", "valid", 0, 1, 2)
    got = graphc.jit(lambda a, v: tuple(np.convolve(a, v, m) for m in modes), **NUMPY)(a, v)
    for mode, value in zip(modes, got):
        np.testing.assert_allclose(value, np.convolve(a, v, mode), rtol=1e-12, atol=1e-13, strict=True,
                                   err_msg=str(mode))
    # A 0-d operand is a 1-d one of length 1, and a list is an array, as in NumPy.
    np.testing.assert_allclose(graphc.jit(lambda s, v: np.convolve(s, v, "same"), **NUMPY)(2.5, v),
                               np.convolve(2.5, v, "same"), rtol=1e-15, strict=True)
    np.testing.assert_allclose(graphc.jit(lambda a: np.convolve([1.0, -2.0], a), **NUMPY)(a),
                               np.convolve([1.0, -2.0], a), rtol=1e-13, strict=True)


def test_zero_d_operands_and_dtypes_follow_scipy():
    got = graphc.jit(lambda x, y: convolve(x, y), **NUMPY)(np.float64(2.0), np.float64(-3.0))
    assert got == ss.convolve(np.float64(2.0), np.float64(-3.0)) == -6.0
    ints, floats32 = np.array([[1, -2, 3], [4, 0, 2]]), np.array([[0.5, 1.5]], np.float32)
    for a, b in ((ints, ints[:, :2]), (floats32, floats32), (ints, floats32), (floats32, np.ones((1, 1)))):
        for mode in MODES:
            value = graphc.jit(lambda a, b: convolve(a, b, mode), **NUMPY)(a, b)
            expected = _direct(a, b, mode)
            assert value.dtype == expected.dtype, (a.dtype, b.dtype, mode)
            np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_compiled_kernel_matches_scipy_and_the_numpy_tier(rng):
    """One kernel, each mode once, on what the op table's compiled rows (ranks 1 to 3, float64 with
    gradients and float32, tests/cases/signal.py) leave out: rank 4, integers, and the batched forms
    that vmap makes: a kernel shared by the batch (a size-1 batch axis) and nested batches whose axes
    broadcast against each other (each operand broadcast first). Each Numba compile costs seconds."""
    x4, k4 = rng.normal(size=(3, 2, 4, 3)), rng.normal(size=(2, 2, 3, 2))
    ints, xs, ks = rng.integers(-5, 6, size=(4, 5)), rng.normal(size=(3, 8)), rng.normal(size=(2, 3))

    def everything(x4, k4, ints, xs, ks):
        return (convolve(x4, k4, "valid"), convolve(k4, x4, "same"), convolve(ints, ints[1:, :3], "full"),
                graphc.vmap(lambda x: convolve(x, ks[0], "valid"))(xs),
                graphc.vmap(lambda x: graphc.vmap(lambda k: convolve(x, k))(ks))(xs))

    args = (x4, k4, ints, xs, ks)
    got = graphc.jit(everything, tiered=False)(*args)
    expected = (_direct(x4, k4, "valid"), _direct(k4, x4, "same"), _direct(ints, ints[1:, :3], "full"),
                np.stack([_direct(x, ks[0], "valid") for x in xs]),
                np.stack([np.stack([_direct(x, k, "full") for k in ks]) for x in xs]))
    numpy_tier = graphc.jit(everything, **NUMPY)(*args)
    for i, (value, e, n) in enumerate(zip(got, expected, numpy_tier)):
        np.testing.assert_allclose(value, e, rtol=1e-12, atol=1e-13, strict=True, err_msg=f"output {i}")
        np.testing.assert_allclose(value, n, rtol=1e-12, atol=1e-13, strict=True, err_msg=f"output {i}")


def _loss(mode):
    """A scalar, nonlinear in the convolution, so its Hessian has more than the bilinear cross terms."""
    def loss(a, b):
        c = convolve(a, b, mode)
        return np.sum(np.sin(c) * np.linspace(-1.0, 1.0, c.size).reshape(c.shape))

    def numeric(a, b):
        c = _direct(a, b, mode)
        return np.sum(np.sin(c) * np.linspace(-1.0, 1.0, c.size).reshape(c.shape))

    return loss, numeric


GRADIENT_CASES = [("full", (5,), (2,)), ("valid", (3,), (6,)), ("same", (3,), (6,)), ("same", (6,), (3,)),
                  ("full", (3, 4), (2, 3)), ("valid", (5, 4), (2, 3)), ("same", (4, 5), (3, 2)),
                  ("same", (2, 3, 2), (3, 2, 2)), ("valid", (3, 2, 4), (2, 2, 3))]
EPS = 1e-5


@pytest.mark.parametrize("mode, sa, sb", GRADIENT_CASES, ids=str)
def test_first_and_second_order_gradients_match_central_differences(mode, sa, sb, rng):
    loss, numeric = _loss(mode)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    va, vb, ua, ub = (rng.normal(size=s) for s in (sa, sb, sa, sb))
    # first order: <grad, v> against the central difference of SciPy's convolution along v
    ga, gb = graphc.grad(loss, argnums=(0, 1), **NUMPY)(a, b)
    fd = (numeric(a + EPS * va, b + EPS * vb) - numeric(a - EPS * va, b - EPS * vb)) / (2 * EPS)
    np.testing.assert_allclose(np.sum(ga * va) + np.sum(gb * vb), fd, rtol=1e-7, atol=1e-9)

    # second order, reverse over reverse: the gradient of <grad, u>, against differences of the gradient
    def directional(a, b):
        da, db = graphc.grad(loss, argnums=(0, 1))(a, b)
        return np.sum(da * ua) + np.sum(db * ub)

    first = graphc.grad(loss, argnums=(0, 1), **NUMPY)
    plus, minus = first(a + EPS * va, b + EPS * vb), first(a - EPS * va, b - EPS * vb)
    fd2 = sum(np.sum((p - m) / (2 * EPS) * u) for p, m, u in zip(plus, minus, (ua, ub)))
    ha, hb = graphc.grad(directional, argnums=(0, 1), **NUMPY)(a, b)
    np.testing.assert_allclose(np.sum(ha * va) + np.sum(hb * vb), fd2, rtol=1e-6, atol=1e-8)
    # and forward over reverse (hvp): the same second derivative, from forward mode's transposed rule
    hvp = graphc.jit(lambda a, b, va, vb: graphc.hvp(loss, (a, b), (va, vb)), **NUMPY)(a, b, va, vb)
    np.testing.assert_allclose(np.sum(hvp[0] * ua) + np.sum(hvp[1] * ub), fd2, rtol=1e-6, atol=1e-8)


def test_forward_mode_and_jacobians_match_differences_and_each_other(rng):
    a, b, ta, tb = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    for mode in MODES:
        out, tangent = graphc.jit(lambda *p: graphc.jvp(lambda a, b: convolve(a, b, mode), p[:2], p[2:]),
                                  **NUMPY)(a, b, ta, tb)
        np.testing.assert_allclose(out, _direct(a, b, mode), rtol=1e-12)
        fd = (_direct(a + EPS * ta, b + EPS * tb, mode) - _direct(a - EPS * ta, b - EPS * tb, mode)) / (2 * EPS)
        np.testing.assert_allclose(tangent, fd, rtol=1e-7, atol=1e-9, err_msg=mode)
        forward = graphc.jacfwd(lambda b: convolve(a, b, mode), **NUMPY)(b)
        reverse = graphc.jacrev(lambda b: convolve(a, b, mode), **NUMPY)(b)
        assert forward.shape == _direct(a, b, mode).shape + b.shape
        np.testing.assert_allclose(forward, reverse, rtol=1e-13, atol=1e-14)


def test_vmap_of_values_and_per_example_gradients_equal_a_loop(rng):
    signals, kernel, kernels = rng.normal(size=(4, 9)), rng.normal(size=3), rng.normal(size=(4, 3))
    shared = graphc.vmap(lambda x: convolve(x, kernel, "same"), **NUMPY)(signals)
    np.testing.assert_allclose(shared, np.stack([_direct(x, kernel, "same") for x in signals]), rtol=1e-12)
    paired = graphc.vmap(lambda x, k: convolve(x, k, "valid"), **NUMPY)(signals, kernels)
    np.testing.assert_allclose(paired, np.stack([_direct(x, k, "valid") for x, k in zip(signals, kernels)]),
                               rtol=1e-12)
    loss, _ = _loss("full")
    per_example = graphc.vmap(graphc.grad(loss, argnums=1), in_axes=(0, None), **NUMPY)(signals, kernel)
    one_by_one = [graphc.grad(loss, argnums=1, **NUMPY)(x, kernel) for x in signals]
    np.testing.assert_allclose(per_example, np.stack(one_by_one), rtol=1e-12, atol=1e-14)


def _jit(fn, *args):
    return graphc.jit(fn, **NUMPY)(*args)


def test_errors_say_what_is_wrong_and_where():
    x, m = np.ones(4), np.ones((3, 2))
    with pytest.raises(ShapeError, match=r"same dimensionality, got shapes \(4,\) and \(3, 2\) at test_scipy_signal"):
        _jit(lambda x, m: convolve(x, m), x, m)
    with pytest.raises(ShapeError, match="mode must be 'full', 'valid' or 'same', got 'middle'"):
        _jit(lambda x: convolve(x, x, mode="middle"), x)
    with pytest.raises(ShapeError, match="method must be 'auto', 'direct' or 'fft', got 'fast'"):
        _jit(lambda x: convolve(x, x, method="fast"), x)
    with pytest.raises(ShapeError, match=r"one of in1 \(3, 2\) and in2 \(2, 3\) must be at least as large"):
        _jit(lambda m: convolve(m, m.T, mode="valid"), m)
    with pytest.raises(UnsupportedOperationError, match="convolve of float64 and complex128"):
        _jit(lambda x: convolve(x, np.array([1.0, 1j])), x)
    with pytest.raises(UnsupportedOperationError, match="convolve of bool and bool"):
        _jit(lambda x: convolve(x > 0, x > 0), x)
    with pytest.raises(UnsupportedOperationError, match="complex"):  # untraced operands are checked alike
        convolve(np.ones(3) + 1j, np.ones(2))
    with pytest.raises(ShapeError, match="empty"):
        _jit(lambda x: convolve(x, np.ones(0)), x)
    with pytest.raises(ShapeError, match=r"np.convolve needs 1-d arrays, got shapes \(3, 2\)"):
        _jit(lambda m: np.convolve(m, np.ones(2)), m)
    with pytest.raises(ShapeError, match="np.convolve: v cannot be empty"):
        _jit(lambda x: np.convolve(x, np.ones(0)), x)
    with pytest.raises(ShapeError, match="np.convolve: mode must be one of"):
        _jit(lambda x: np.convolve(x, x, 3), x)
    # each is a ValueError or TypeError too, as SciPy's and NumPy's own are
    for error in (ShapeError, UnsupportedOperationError):
        assert issubclass(error, GraphcError) and issubclass(error, (ValueError, TypeError))


def test_forward_mode_transposes_a_custom_rule_written_with_convolve():
    """Forward mode transposes a custom_vjp rule linear in its cotangent; convolve is linear in each operand."""
    kernel = np.array([0.5, -1.0, 2.0])

    @graphc.custom_vjp
    def smooth(x):
        return convolve(x, kernel, "same")

    # The cotangent of 'same', by hand: the cotangent padded to 'full', correlated with the kernel.
    smooth.defvjp(lambda x: (smooth(x), None), lambda _, g: (convolve(np.pad(g, 1), kernel[::-1], "valid"),))
    x, t = np.arange(5.0), np.array([1.0, -2.0, 0.5, 3.0, 1.0])
    _, tangent = graphc.jit(lambda x, t: graphc.jvp(smooth, (x,), (t,)), **NUMPY)(x, t)
    np.testing.assert_allclose(tangent, np.convolve(t, kernel, "same"), rtol=1e-15)
