"""Static arguments and keyword arguments: part of the compile signature, not inputs."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.codegen.compile import STATS


def test_a_new_static_value_compiles_again_and_gives_the_new_answer():
    def f(x, n):
        return graphc.fori_loop(0, n, lambda i, v: v * x, 1.0)

    g = graphc.grad(f, static_argnums=1)
    before = STATS["compiled"] + STATS["disk_hits"]
    assert g(1.5, 3) == pytest.approx(3 * 1.5 ** 2)
    assert g(1.5, 4) == pytest.approx(4 * 1.5 ** 3)
    assert g(1.5, 3) == pytest.approx(3 * 1.5 ** 2)
    assert STATS["compiled"] + STATS["disk_hits"] - before == 2  # one kernel per static value
    # range(n) with n static unrolls; the graph of n = 3 has three multiplies
    unrolled = graphc.jit(lambda x, n: sum(x ** k for k in range(n)), static_argnames="n")
    assert unrolled(2.0, n=3) == 7.0 and unrolled(2.0, n=4) == 15.0


def test_static_argnames_and_argnums_name_the_same_parameter():
    f = lambda x, axis: np.sum(x * x, axis=axis)
    x = np.arange(6.0).reshape(2, 3)
    by_name = graphc.jit(f, static_argnames="axis")
    by_number = graphc.jit(f, static_argnums=1)
    for axis in (0, 1):
        expected = np.sum(x * x, axis=axis)
        np.testing.assert_array_equal(by_name(x, axis), expected)
        np.testing.assert_array_equal(by_name(x, axis=axis), expected)
        np.testing.assert_array_equal(by_number(x, axis=axis), expected)


def test_strings_and_callables_are_static_wherever_they_appear():
    ein = graphc.jit(lambda spec, a, b: np.einsum(spec, a, b))
    np.testing.assert_array_equal(ein("ij,j->i", np.eye(2), np.ones(2)), [1.0, 1.0])
    np.testing.assert_array_equal(ein("ij,i->j", 2 * np.eye(2), np.ones(2)), [2.0, 2.0])
    act = graphc.grad(lambda x, fns: np.sum(fns["act"](x)))
    np.testing.assert_allclose(act(np.zeros(2), {"act": np.tanh}), [1.0, 1.0])
    np.testing.assert_allclose(act(np.zeros(2), {"act": np.sin}), [1.0, 1.0])


def test_keyword_arguments_are_traced_unless_static():
    vg = graphc.value_and_grad(lambda x, *, scale=1.0, mode="sum": getattr(np, mode)(x * scale))
    value, grad = vg(np.arange(3.0), scale=2.0)
    assert value == 6.0
    np.testing.assert_array_equal(grad, [2.0, 2.0, 2.0])
    value, grad = vg(np.arange(3.0), scale=np.float64(3.0))  # a traced keyword: same kernel shape
    assert value == 9.0
    value, grad = vg(np.arange(3.0), mode="mean")
    assert value == 1.0
    np.testing.assert_allclose(grad, [1 / 3] * 3)
    graph = graphc.trace(vg, np.arange(3.0), scale=2.0)
    assert [graph[n]["name"] for n in graph.inputs] == ["x", "scale"]


def test_hessian_with_a_static_argument():
    h = graphc.hessian(lambda x, n: np.sum(x ** n), static_argnames="n")
    np.testing.assert_allclose(h(np.arange(3.0), n=3), np.diag(6 * np.arange(3.0)))


def test_static_argument_errors():
    with pytest.raises(graphc.GraphcError, match="not hashable"):
        graphc.jit(lambda x, opts: x * opts[0], static_argnums=1)(1.0, [2.0])
    with pytest.raises(graphc.GraphcError, match="argument 1, which is static"):
        graphc.grad(lambda x, y: x * y, argnums=1, static_argnums=1)(1.0, 2.0)
    with pytest.raises(graphc.GraphcError, match="static_argnums must be an int"):
        graphc.jit(lambda x: x, static_argnums="x")
    with pytest.raises(graphc.GraphcError, match="cannot be called with 1 positional argument and keywords"):
        graphc.jit(lambda x: x)(1.0, y=2.0)
