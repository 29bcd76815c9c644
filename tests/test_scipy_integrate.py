"""graphc.scipy.integrate.odeint: values against SciPy's odeint, the adjoint gradient against central
differences of SciPy's solution, second order, the compiled kernel, errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import odeint as scipy_odeint

import graphc
from conftest import fd_gradient
from graphc.errors import GraphcError
from graphc.scipy.integrate import odeint

TIGHT = dict(rtol=1e-11, atol=1e-11)


def oscillator(y, t, k, c):
    """Damped and driven: a list, as SciPy's users often return."""
    return [y[1], -k * y[0] - c * y[1] + 0.5 * np.sin(t)]


def growth(y, t, rates):
    """An array-valued parameter."""
    return rates * y * (1.0 - y)


def test_values_match_scipy_in_every_calling_form():
    t = np.linspace(0.0, 4.0, 9)
    y0 = np.array([1.0, -0.5])
    f = graphc.jit(lambda y0, k: odeint(oscillator, y0, t, args=(k, 0.3), **TIGHT), tiered="numpy")
    np.testing.assert_allclose(f(y0, 2.0), scipy_odeint(oscillator, y0, t, args=(2.0, 0.3), rtol=1e-13, atol=1e-13),
                               rtol=0, atol=1e-9)
    # A matrix state, tfirst, time running backward, repeated times, default tolerances.
    A = np.array([[0.0, 1.0], [-1.0, -0.1]])
    backward = np.array([2.0, 1.5, 1.5, 0.0])
    got = graphc.jit(lambda Y: odeint(lambda s, Y: A @ Y, Y, backward, tfirst=True), tiered="numpy")(np.eye(2))
    expected = scipy_odeint(lambda y, s: (A @ y.reshape(2, 2)).ravel(), np.eye(2).ravel(), backward, rtol=1e-13,
                            atol=1e-13).reshape(4, 2, 2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
    # Untraced, a single time, and the start repeated.
    y = odeint(growth, np.array([0.1, 0.2]), np.array([0.0, 0.0, 1.0]), args=(np.array([1.0, 2.0]),))
    np.testing.assert_allclose(y, scipy_odeint(growth, [0.1, 0.2], [0.0, 0.0, 1.0], args=(np.array([1.0, 2.0]),)),
                               atol=1e-7)
    np.testing.assert_array_equal(odeint(growth, np.array([0.1]), np.array([3.0]), args=(1.0,)), [[0.1]])


def test_adjoint_gradient_in_the_start_the_times_and_the_parameters():
    t = np.array([0.0, 0.7, 1.9, 3.0])
    y0, rates = np.array([0.2, 0.6]), np.array([1.5, -0.8])
    weights = np.array([[0.3, -0.4], [1.0, -2.0], [0.5, 0.3], [-1.0, 2.0]])

    def loss(y0, t, rates, solver=odeint, tolerance=1e-11):
        return np.sum(weights * solver(growth, y0, t, args=(rates,), rtol=tolerance, atol=tolerance) ** 2)

    grads = graphc.grad(loss, argnums=(0, 1, 2), tiered="numpy")(y0, t, rates)
    exact = lambda which: (lambda v: loss(*[v if i == which else a for i, a in enumerate((y0, t, rates))],  # noqa: E731
                                          solver=scipy_odeint, tolerance=1e-13))
    for which, (got, at) in enumerate(zip(grads, (y0, t, rates))):
        np.testing.assert_allclose(got, fd_gradient(exact(which), at, eps=1e-5), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("t", [[0.0, 1.0, 1.0], [3.0, 3.0, 2.0, 1.0, 1.0], [0.0, 1.0, 2.0, 2.0, 2.0], [1.0, 1.0]],
                         ids=["last-repeated", "both-ends-repeated-decreasing", "last-thrice", "all-equal"])
def test_adjoint_gradient_with_repeated_times(t):
    t = np.array(t)
    weights = np.arange(1.0, 1.0 + 2 * len(t)).reshape(-1, 2)

    def loss(y0, k, solver=odeint, tolerance=1e-11):
        return np.sum(weights * solver(oscillator, y0, t, args=(k, 0.3), rtol=tolerance, atol=tolerance))

    y0 = np.array([1.0, 0.5])
    got_y0, got_k = graphc.grad(loss, argnums=(0, 1), tiered="numpy")(y0, 2.0)
    np.testing.assert_allclose(got_y0, fd_gradient(lambda v: loss(v, 2.0, scipy_odeint, 1e-13), y0, eps=1e-5), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_k, fd_gradient(lambda k: loss(y0, k, scipy_odeint, 1e-13), 2.0, eps=1e-5), rtol=1e-6, atol=1e-8)


def test_second_derivative_differentiates_the_adjoint_sweep():
    t = np.linspace(0.0, 3.0, 4)
    y0 = np.array([1.0, 0.0])

    def loss(k):
        return np.sum(odeint(oscillator, y0, t, args=(k, 0.3), **TIGHT) ** 2)

    first = graphc.grad(loss, tiered="numpy")
    second = graphc.grad(first, tiered="numpy")
    np.testing.assert_allclose(second(2.0), (first(2.0 + 1e-4) - first(2.0 - 1e-4)) / 2e-4, rtol=1e-6)


def test_vmap_over_starting_points():
    t = np.linspace(0.0, 2.0, 3)
    starts = np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 1.0]])
    got = graphc.vmap(lambda y0: odeint(oscillator, y0, t, args=(2.0, 0.3), **TIGHT), tiered="numpy")(starts)
    expected = np.stack([scipy_odeint(oscillator, y, t, args=(2.0, 0.3), rtol=1e-13, atol=1e-13) for y in starts])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_compiled_kernel_matches_the_numpy_tier():
    t = np.linspace(0.0, 5.0, 6)

    def both(y0, k):
        return odeint(oscillator, y0, t, args=(k, 0.3), **TIGHT), graphc.grad(
            lambda k: np.sum(odeint(oscillator, y0, t, args=(k, 0.3), **TIGHT) ** 2))(k)

    y0 = np.array([1.0, 0.0])
    compiled, numpy_tier = graphc.jit(both, tiered=False)(y0, 2.0), graphc.jit(both, tiered="numpy")(y0, 2.0)
    for a, b in zip(compiled, numpy_tier):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(compiled[0], scipy_odeint(oscillator, y0, t, args=(2.0, 0.3), rtol=1e-13, atol=1e-13),
                               atol=1e-9)


def test_mxstep_leaves_the_times_it_cannot_reach_nan():
    y = odeint(oscillator, np.array([1.0, 0.0]), np.linspace(0.0, 3.0, 4), args=(2.0, 0.3), mxstep=2)
    np.testing.assert_array_equal(y[0], [1.0, 0.0])
    assert np.isnan(y[-1]).all()
    # The backward solve may need more steps than the forward one: out of them, the gradient is NaN,
    # not the value of part of the way.
    t = np.linspace(0.0, 10.0, 3)
    gradient = graphc.grad(lambda k: np.sum(odeint(oscillator, np.array([1.0, 0.0]), t, args=(k, 0.3), mxstep=20)),
                           tiered="numpy")(2.0)
    assert np.isnan(gradient)


def test_inputs_as_scipy_takes_them():
    t = np.array([0.0, 1.0])
    # A number is a vector of one; float32 and lists (of traced values too) are float64 vectors.
    assert odeint(lambda y, t: -y, 1.0, t).shape == scipy_odeint(lambda y, t: -y, 1.0, t).shape == (2, 1)
    f = graphc.jit(lambda y: odeint(oscillator, y, t, args=(2.0, 0.3)), tiered="numpy")
    assert f(np.array([1.0, 0.0], np.float32)).dtype == np.float64
    got = graphc.jit(lambda a, end: odeint(oscillator, [a, 0.0], [0.0, end], args=(2.0, 0.3), **TIGHT),
                     tiered="numpy")(1.0, 2.0)
    np.testing.assert_allclose(got, scipy_odeint(oscillator, [1.0, 0.0], [0.0, 2.0], args=(2.0, 0.3), rtol=1e-13,
                                                 atol=1e-13), atol=1e-9)


def test_errors_say_what_is_wrong():
    y0, t = np.array([1.0, 0.0]), np.linspace(0.0, 1.0, 3)
    with pytest.raises(GraphcError, match="full_output"):
        odeint(oscillator, y0, t, args=(2.0, 0.3), full_output=True)
    with pytest.raises(GraphcError, match="tcrit"):
        odeint(oscillator, y0, t, args=(2.0, 0.3), tcrit=[0.5])
    with pytest.raises(GraphcError, match=r"func returns shape \(3,\) for y of shape \(2,\)"):
        graphc.jit(lambda y0: odeint(lambda y, t: np.concatenate([y, y[:1]]), y0, t))(y0)
    with pytest.raises(GraphcError, match="1-d array of output times"):
        odeint(oscillator, y0, t[:, None], args=(2.0, 0.3))
    with pytest.raises(GraphcError, match="monotonic output times"):
        odeint(oscillator, y0, np.array([0.0, 1.0, 0.5]), args=(2.0, 0.3))
    with pytest.raises(GraphcError, match="non-negative scalar rtol"):
        odeint(oscillator, y0, t, args=(2.0, 0.3), rtol=-1.0)
    with pytest.raises(GraphcError, match="forward mode .* of odeint"):  # reverse mode only, as JAX's
        graphc.jvp(lambda k: odeint(oscillator, y0, t, args=(k, 0.3)), (2.0,), (1.0,))
