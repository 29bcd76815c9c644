"""graphc.numpy: arrays built from traced values, constants indexed by traced indices, r_/c_; and
NumPy's own behaviour everywhere else (untraced code is unchanged)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.numpy as gnp
from graphc.errors import TracerConversionError


@pytest.mark.parametrize("tier", ["numpy", False])
def test_array_of_traced_values_and_its_gradient(tier):
    def f(a, b):
        m = gnp.array([[a, b], [b * b, 1.0]], dtype=np.float64)
        return gnp.sum(m @ gnp.asarray([a, 2.0]))

    def expected(a, b):
        return a * a + 2 * b + b * b * a + 2.0

    assert graphc.jit(f, tiered=tier)(1.5, -2.0) == pytest.approx(expected(1.5, -2.0), rel=1e-15)
    ga, gb = graphc.grad(f, argnums=(0, 1), tiered=tier)(1.5, -2.0)
    assert (ga, gb) == pytest.approx((2 * 1.5 + 4.0, 2 + 2 * -2.0 * 1.5), rel=1e-15)


def test_a_constant_indexed_by_a_traced_index_and_r_c():
    table = np.arange(10.0) ** 2
    got = graphc.jit(lambda i: gnp.asarray(table)[i], tiered="numpy")(np.array([2, 3]))
    np.testing.assert_array_equal(got, [4.0, 9.0])
    np.testing.assert_array_equal(graphc.jit(lambda x: gnp.r_[x, 1.0, 0:3], tiered="numpy")(np.ones(2)),
                                  np.r_[np.ones(2), 1.0, 0:3])
    np.testing.assert_array_equal(graphc.jit(lambda x: gnp.c_[x, x * 2], tiered="numpy")(np.ones(2)),
                                  np.c_[np.ones(2), np.ones(2) * 2])


def test_untraced_code_sees_numpy_itself():
    assert gnp.cos is np.cos and gnp.linalg.inv is np.linalg.inv
    # The reductions and linalg.norm, which take lists of traced values too, are NumPy's when untraced.
    assert gnp.sum([1, 2]) == 3 and gnp.mean(np.ones(3)) == 1.0 and gnp.std([1.0, 3.0]) == 1.0
    assert gnp.linalg.norm(np.array([3.0, 4.0])) == np.linalg.norm(np.array([3.0, 4.0]))
    assert isinstance(gnp.array([1, 2]), np.ndarray) and gnp.array([1, 2]).dtype == np.array([1, 2]).dtype
    np.testing.assert_array_equal(gnp.r_[1:3, 5], np.r_[1:3, 5])


def test_numpys_own_array_of_tracers_points_to_graphc_numpy():
    with pytest.raises(TracerConversionError, match=r"graphc\.numpy\.array"):
        graphc.jit(lambda a, b: np.array([a, b]))(1.0, 2.0)


def test_reductions_of_a_list_of_traced_values():
    def f(x):
        return gnp.mean([x, 2 * x]) + gnp.std([x, x * x]) + gnp.sum(gnp.append([x], [x, 1.0])) + gnp.max([x, 0.0])

    def plain(x):
        return np.mean([x, 2 * x]) + np.std([x, x * x]) + np.sum(np.append([x], [x, 1.0])) + np.max([x, 0.0])

    assert graphc.jit(f, tiered="numpy")(1.5) == pytest.approx(plain(1.5), rel=1e-15)
    assert graphc.grad(f, tiered="numpy")(1.5) == pytest.approx((plain(1.5 + 1e-6) - plain(1.5 - 1e-6)) / 2e-6,
                                                               rel=1e-7)


def test_norm_of_a_list_of_traced_values():
    gradient = graphc.grad(lambda x: gnp.linalg.norm([x, x + 2.0]), tiered="numpy")(1.0)
    assert gradient == pytest.approx((1.0 + 3.0) / np.sqrt(10.0))
    import graphc.numpy.linalg as gla

    assert gla.inv is np.linalg.inv and gla.norm([3.0, 4.0]) == 5.0  # NumPy's for the rest, and untraced
