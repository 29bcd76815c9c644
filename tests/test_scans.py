"""Edge cases of the scans family (graphc/ops/scans.py) that the registry-wide tables do not reach:
gradients at zeros and ties, NaN ordering, NumPy's exact partition order, integer dtypes, errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
from conftest import fd_gradient
from graphc.evaluate import evaluate


def both(fn, *args):
    """``fn(*args)`` by the reference evaluator and by the compiled kernel."""
    graph = graphc.trace(fn, *args)
    (ref,) = evaluate(graph, *args)
    return ref, graphc.jit(fn)(*args)


# ---- prod and cumprod: exact gradients where the input has zeros --------------------------------
@pytest.mark.parametrize("x", [np.array([2.0, 0.0, 3.0, -1.5]), np.array([0.0, 2.0, 0.0, 5.0]),
                               np.array([0.0]), np.array([4.0, 0.5, -2.0])])
def test_prod_gradient_is_the_product_of_the_others(x):
    others = np.array([np.prod(np.delete(x, i)) for i in range(x.size)])
    for run in (lambda f, x: evaluate(graphc.trace(f, x), x)[0], lambda f, x: f(x)):
        g = run(graphc.grad(np.prod), x)
        np.testing.assert_array_equal(g, others)
        g = run(graphc.jit(graphc.grad(np.prod)), x)
        np.testing.assert_array_equal(g, others)


def test_prod_hessian_with_a_zero():
    x = np.array([2.0, 0.0, 3.0, -1.5])
    expected = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(graphc.hessian(np.prod)(x), expected, rtol=1e-15)


def test_prod_gradient_over_several_axes_with_zeros(rng):
    x = rng.integers(-2, 3, (2, 3, 4)).astype(np.float64)
    w = rng.normal(size=(3,))
    f = lambda x: np.sum(np.prod(x, axis=(0, 2)) * w)  # noqa: E731
    np.testing.assert_allclose(graphc.jit(graphc.grad(f))(x), fd_gradient(f, x), rtol=1e-7, atol=1e-9)


def cumprod_jacobian(x):
    n = x.size
    return np.array([[np.prod(np.delete(x[:j + 1], i)) if i <= j else 0.0 for i in range(n)] for j in range(n)])


@pytest.mark.parametrize("x", [np.array([2.0, 0.0, 3.0, -1.5, 0.5]), np.array([0.0, 0.0, 2.0]),
                               np.array([1.5, -2.0, 0.0])])
def test_cumprod_gradient_with_zeros_is_exact(x, rng):
    w = rng.normal(size=x.size)
    f = lambda x: np.sum(np.cumprod(x) * w)  # noqa: E731
    expected = w @ cumprod_jacobian(x)
    ref, compiled = both(graphc.grad(f), x)
    np.testing.assert_allclose(ref, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(compiled, expected, rtol=1e-14, atol=1e-15)


def test_cumprod_second_order_with_a_zero(rng):
    x = np.array([1.5, 0.0, -2.0, 0.5])
    w = rng.normal(size=4)
    grad = graphc.grad(lambda x: np.sum(np.cumprod(x) * w))
    h = graphc.hessian(lambda x: np.sum(np.cumprod(x) * w))(x)
    fd = np.stack([(grad(x + e) - grad(x - e)) / 2e-6 for e in np.eye(4) * 1e-6])
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-8)


def test_cumsum_gradient_is_a_reversed_cumsum(rng):
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    g = graphc.jit(graphc.grad(lambda x: np.sum(np.cumsum(x, axis=1) * w)))(x)
    np.testing.assert_allclose(g, np.cumsum(w[:, ::-1], axis=1)[:, ::-1], rtol=1e-14)


# ---- sort, argsort, partition: ties, NaN, NumPy's order ------------------------------------------
def test_sort_gradient_at_ties_follows_the_stable_order():
    x = np.array([1.0, 0.0, 1.0, 0.0])
    w = np.array([10.0, 20.0, 30.0, 40.0])
    g = graphc.jit(graphc.grad(lambda x: np.sum(np.sort(x) * w)))(x)
    np.testing.assert_array_equal(g, [30.0, 10.0, 40.0, 20.0])  # sorted: x[1], x[3], x[0], x[2]


def test_argsort_is_stable_and_puts_nan_last():
    x = np.array([[2.0, np.nan, 1.0, 2.0, 1.0, -np.inf], [0.0, 0.0, 0.0, np.nan, -1.0, 0.0]])
    for out in both(lambda x: np.argsort(x), x):
        np.testing.assert_array_equal(out, np.argsort(x, kind="stable"), strict=True)
    for out in both(lambda x: np.sort(x, axis=0), x):
        np.testing.assert_array_equal(out, np.sort(x, axis=0))


@pytest.mark.parametrize("axis", [0, -1])
def test_big_sorts_call_numpy_and_agree_with_the_small_path(axis, rng):
    from graphc.ops.scans import NUMPY_SORT_MIN
    x = rng.integers(-20, 20, (80, 64)).astype(np.float64)  # ties
    x[3, 5] = np.nan
    assert x.size >= NUMPY_SORT_MIN
    w = rng.normal(size=x.shape)
    for out in both(lambda x: np.argsort(x, axis=axis), x):
        np.testing.assert_array_equal(out, np.argsort(x, axis=axis, kind="stable"), strict=True)
    for out in both(lambda x: np.sort(x, axis=axis), x):
        np.testing.assert_array_equal(out, np.sort(x, axis=axis), strict=True)
    ref, compiled = both(graphc.grad(lambda x: np.sum(np.sort(x, axis=axis) * w)), x)
    np.testing.assert_array_equal(compiled, ref)


@pytest.mark.parametrize("kth", [0, 3, -1, (1, 5), (0, 2, 7)])
def test_partition_equals_numpy_exactly(kth, rng):
    x = rng.integers(-3, 4, (3, 9)).astype(np.float64)  # many ties
    for out in both(lambda x: np.partition(x, kth), x):
        np.testing.assert_array_equal(out, np.partition(x, kth), strict=True)
    for out in both(lambda x: np.argpartition(x, kth, axis=0), x.T):
        np.testing.assert_array_equal(out, np.argpartition(x.T, kth, axis=0), strict=True)


def test_partition_gradient_sends_each_output_gradient_to_its_source(rng):
    x, w = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    out = np.partition(x, 3)
    g = graphc.jit(graphc.grad(lambda x: np.sum(np.partition(x, 3) * w)))(x)
    expected = np.zeros_like(x)
    for r, j in itertools.product(range(3), range(7)):
        expected[r, x[r] == out[r, j]] = w[r, j]
    np.testing.assert_array_equal(g, expected)


# ---- argmax, argmin --------------------------------------------------------------------------------
def test_argmax_argmin_take_the_first_nan_and_the_first_tie():
    x = np.array([[1.0, 3.0, 3.0, np.nan, 5.0, np.nan], [-1.0, -1.0, 0.0, 0.0, -1.0, 0.0]])
    for fn in (lambda x: np.argmax(x, axis=1), lambda x: np.argmin(x, axis=-1), lambda x: np.argmax(x),
               lambda x: np.argmin(x.T, axis=0, keepdims=True)):
        for out in both(fn, x):
            np.testing.assert_array_equal(out, fn(x))
            assert np.result_type(out) == np.int64


def test_argmax_index_picks_the_max(rng):
    x = rng.normal(size=(4, 5))

    def f(x):
        i = np.argmax(x, axis=1)
        onehot = (np.arange(5) == i[:, None]).astype(np.float64)  # indices compare as integers
        return np.sum(onehot * x, axis=1)

    np.testing.assert_array_equal(graphc.jit(f)(x), x.max(axis=1))


# ---- dtypes as NumPy: integers widen, float32 stays -----------------------------------------------
@pytest.mark.parametrize("fn", [np.cumsum, np.cumprod, np.prod, lambda x: np.prod(x, axis=0),
                                lambda x: np.cumsum(x, axis=1), np.var, np.std, lambda x: np.gradient(x, axis=1),
                                np.diff, np.median, lambda x: np.quantile(x, 0.25, axis=1),
                                lambda x: np.percentile(x, [10, 90])])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32])
def test_dtypes_match_numpy(fn, dtype):
    x = np.arange(1, 7, dtype=dtype).reshape(2, 3)
    expected = fn(x)
    for out in both(fn, x):
        assert np.result_type(out) == np.result_type(expected), (np.result_type(out), np.result_type(expected))
        np.testing.assert_allclose(out, expected, rtol=1e-6)


# ---- var and std ----------------------------------------------------------------------------------
def test_std_gradient_at_zero_variance_is_nan_as_in_jax():
    # sqrt'(0) is infinite; JAX's jax.grad(jnp.std)(jnp.ones(3)) is NaN too.
    assert np.all(np.isnan(graphc.grad(np.std)(np.ones(3))))
    np.testing.assert_array_equal(graphc.grad(np.var)(np.ones(3)), np.zeros(3))


@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")  # NumPy's, for ddof=1 of one element
def test_std_of_one_element_is_identically_zero_with_a_zero_gradient():
    # A constant function, so 0, as autograd's (test_std of a 0-d value); with ddof=1 NaN as NumPy's.
    assert graphc.grad(np.std)(1.5) == 0.0
    np.testing.assert_array_equal(graphc.grad(lambda x: np.sum(np.std(x, axis=1)))(np.ones((2, 1))), np.zeros((2, 1)))
    for x, axis, ddof in [(np.float32(3.0), None, 0), (np.array([[np.inf], [1.0]]), 1, 0), (np.ones((2, 1)), 1, 1)]:
        with np.errstate(all="ignore"):
            expected = np.std(x, axis=axis, ddof=ddof)
            got = graphc.jit(lambda x: np.std(x, axis=axis, ddof=ddof), tiered="numpy")(x)
        np.testing.assert_array_equal(got, expected, strict=True)


def test_var_with_ddof_at_least_n_is_inf_or_nan_as_numpy(rng):
    x = rng.normal(size=3)
    with np.errstate(all="ignore"):
        for out in both(lambda x: np.var(x, ddof=3), x):
            assert out == np.inf


# ---- median and quantiles --------------------------------------------------------------------------
def test_a_nan_makes_the_median_and_quantiles_nan_as_numpy():
    x = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 1.0, 4.0, 3.0]])
    for fn in (lambda x: np.median(x, axis=1), lambda x: np.quantile(x, [0.1, 0.9], axis=1), np.median):
        for out in both(fn, x):
            np.testing.assert_array_equal(out, fn(x), strict=True)


def test_median_and_quantile_gradients_go_to_the_order_statistics_they_read():
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.0])  # sorted: 1, 1.5, 2, 3, 4, 9
    np.testing.assert_array_equal(graphc.grad(np.median)(x), [0.5, 0, 0, 0, 0, 0.5])
    # position (6 - 1) * 0.3 = 1.5: halfway between 1.5 (x[3]) and 2 (x[5])
    np.testing.assert_allclose(graphc.grad(lambda x: np.quantile(x, 0.3))(x), [0, 0, 0, 0.5, 0, 0.5], atol=1e-15)
    q30 = lambda x: np.quantile(x, 0.3)  # noqa: E731
    np.testing.assert_allclose(graphc.grad(q30)(x), fd_gradient(q30, x), atol=1e-8)


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, shape", [
    (lambda x: np.argmax(x, axis=0), (0, 3)),
    (lambda x: np.diff(x, n=-1), (3,)),
    (lambda x: np.diff(x), ()),
    (lambda x: np.partition(x, 5), (4,)),
    (lambda x: np.gradient(x), (1,)),
    (lambda x: np.gradient(x), ()),
    (lambda x: np.gradient(x, edge_order=2), (2,)),
    (lambda x: np.cumsum(x, axis=(0, 1)), (2, 3)),
    (lambda x: np.sort(x, axis=2), (2, 3)),
    (lambda x: np.sort(x), ()),  # NumPy: axis -1 is out of bounds for a 0-d array
    (lambda x: np.argmax(x, axis=1), ()),
    (lambda x: np.gradient(x, np.arange(3.0)), (3,)),
    (lambda x: np.var(x, out=np.empty(())), (3,)),
    (lambda x: np.quantile(x, 1.5), (3,)),
    (lambda x: np.percentile(x, [-1, 50]), (3,)),
    (lambda x: np.quantile(x, 0.5, method="nearest"), (3,)),
    (lambda x: np.quantile(x, x[0] * 0.0), (3,)),  # a traced q
    (lambda x: np.median(x), (0,)),
    (lambda x: np.median(x, out=np.empty(())), (3,)),
])
def test_unsupported_or_invalid_arguments_raise_graphc_errors(fn, shape):
    with pytest.raises(graphc.GraphcError):
        graphc.trace(fn, np.ones(shape))
