"""The public transformations of API.md: grad, value_and_grad, hessian, jit, trace; argnums, pytrees,
composition, dtypes and the per-signature cache. Compiled calls use scalars where they can (they compile
in a fraction of a second); array-heavy checks go through the reference evaluator (``ref``)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc


def f3(x, y, z):
    return (x + y) * z


def test_argnums_int_gives_one_gradient_and_tuple_gives_a_tuple():
    assert graphc.grad(f3)(1.0, 3.0, -3.0) == -3.0
    assert graphc.grad(f3, argnums=2)(1.0, 3.0, -3.0) == 4.0
    assert graphc.grad(f3, argnums=-1)(1.0, 3.0, -3.0) == 4.0
    assert graphc.grad(f3, argnums=(2, 0))(1.0, 3.0, -3.0) == (4.0, -3.0)
    one = graphc.grad(f3, argnums=(1,))(1.0, 3.0, -3.0)
    assert isinstance(one, tuple) and one == (-3.0,)


def test_same_graph_with_another_result_structure_is_not_confused():
    # The two kernels compute the same graph; only the structure of the result differs.
    assert graphc.jit(lambda x: x * 2.0)(1.0) == 2.0
    assert graphc.jit(lambda x: (x * 2.0,))(1.0) == (2.0,)
    assert graphc.jit(lambda x: {"y": x * 2.0})(1.0) == {"y": 2.0}


def test_value_and_grad_returns_the_value_and_the_gradient():
    value, g = graphc.value_and_grad(lambda x: x ** 3)(2.0)
    assert (value, g) == (8.0, 12.0)
    value, (gx, gy) = graphc.value_and_grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 5.0)
    assert (value, gx, gy) == (10.0, 5.0, 2.0)


def test_results_are_numpy_scalars_with_numpy_dtype_rules():
    out = graphc.grad(lambda x: x * x)(np.float32(3.0))
    assert out == 6.0 and np.result_type(out) == np.float32
    out = graphc.jit(lambda x: x * 2.0)(3.0)
    assert out == 6.0 and np.result_type(out) == np.float64


def test_grad_of_grad_and_other_compositions():
    f = lambda x: np.sin(x) * x  # noqa: E731
    x = 0.7
    np.testing.assert_allclose(graphc.grad(graphc.grad(f))(x), 2 * np.cos(x) - x * np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(graphc.grad(graphc.grad(graphc.grad(f)))(x), -3 * np.sin(x) - x * np.cos(x),
                               rtol=1e-14)
    np.testing.assert_allclose(graphc.jit(graphc.grad(f))(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(graphc.grad(graphc.jit(f))(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    value, g2 = graphc.value_and_grad(graphc.grad(f))(x)
    np.testing.assert_allclose([value, g2], [np.cos(x) * x + np.sin(x), 2 * np.cos(x) - x * np.sin(x)],
                               rtol=1e-14)


def test_hessian_of_scalars_with_argnums_tuple():
    H = graphc.hessian(lambda x, y: x ** 2 * y ** 3, argnums=(0, 1))(2.0, 3.0)
    # d2/dx2 = 2 y^3, d2/dxdy = 6 x y^2, d2/dy2 = 6 x^2 y
    np.testing.assert_allclose(np.array(H, dtype=float), [[54.0, 108.0], [108.0, 72.0]], rtol=1e-14)
    assert np.shape(H[0][1]) == ()


def test_hessian_shape_is_argument_shape_twice(ref, rng):
    x = rng.normal(size=(2, 3))
    H = ref(graphc.hessian(lambda x: np.sum(x ** 3)), x)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), np.diag(6 * x.ravel()), rtol=1e-14, atol=0)
    Hs = ref(graphc.hessian(lambda x, y: np.sum(x * y) * x[0], argnums=(0, 1)), x[0], x[1])
    assert [np.shape(b) for row in Hs for b in row] == [(3, 3)] * 4


def test_pytree_arguments_get_gradients_of_the_same_structure():
    params = {"w": 2.0, "b": (1.0, [3.0, 4.0])}

    def loss(p, x):
        return p["w"] * x + p["b"][0] * p["b"][1][0] * p["b"][1][1]

    g = graphc.grad(loss)(params, 5.0)
    assert g == {"w": 5.0, "b": (12.0, [4.0, 3.0])}
    gp, gx = graphc.grad(loss, argnums=(0, 1))(params, 5.0)
    assert gp == g and gx == 2.0


def test_pytree_of_arrays_through_the_reference(ref, rng):
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    x = rng.normal(size=3)

    def loss(p):
        return np.sum(np.tanh(p["W"] @ x + p["b"]))

    g = ref(graphc.grad(loss), params)
    assert set(g) == {"W", "b"}
    d = 1 - np.tanh(params["W"] @ x + params["b"]) ** 2
    np.testing.assert_allclose(g["b"], d, rtol=1e-14, strict=True)
    np.testing.assert_allclose(g["W"], np.outer(d, x), rtol=1e-14, strict=True)


def test_pytree_results_from_jit():
    out = graphc.jit(lambda x, y: {"sum": x + y, "pair": (x * y, [x - y])})(2.0, 3.0)
    assert out == {"sum": 5.0, "pair": (6.0, [-1.0])}


def test_tree_flatten_and_unflatten_round_trip():
    tree = {"b": (1.0, None, [2.0, np.ones(2)]), "a": 3.0}
    leaves, treedef = graphc.tree_flatten(tree)
    assert leaves[0] == 3.0 and leaves[1:3] == [1.0, 2.0]  # dict keys sorted, as JAX does
    rebuilt = graphc.tree_unflatten(treedef, [10.0, 20.0, 30.0, np.zeros(2)])
    assert rebuilt["a"] == 10.0 and rebuilt["b"][:2] == (20.0, None) and rebuilt["b"][2][0] == 30.0


def test_float32_stays_float32_through_grad_and_hessian(ref, rng):
    x = rng.normal(size=3).astype(np.float32)
    f = lambda x: np.sum(np.tanh(x) * x * 0.5)  # noqa: E731
    g = ref(graphc.grad(f), x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, (np.tanh(x) + x * (1 - np.tanh(x) ** 2)) * 0.5, rtol=2e-6, strict=True)
    assert ref(graphc.hessian(f), x).dtype == np.float32
    graph = graphc.trace(graphc.grad(f), x)
    assert all(graph[n]["dtype"] == np.float32 for n in graph.nx if graph[n]["dtype"].kind == "f")


def test_compiled_float32_arrays_keep_their_dtype(rng):
    x = rng.normal(size=(2, 3)).astype(np.float32)
    out, total = graphc.jit(lambda x: (x * 2.0, np.sum(x)))(x)
    assert out.dtype == np.float32 and np.result_type(total) == np.float32
    np.testing.assert_allclose(out, x * 2.0, strict=True)
    np.testing.assert_allclose(total, np.sum(x), rtol=1e-6)


def test_one_trace_per_signature():
    traces = []

    def f(x, y):
        traces.append(1)
        return x * y + 1.0

    g = graphc.grad(f)
    assert g(2.0, 3.0) == 3.0
    assert g(5.0, 7.0) == 7.0
    assert len(traces) == 1  # same signature: the compiled code is reused
    assert g(np.float32(2.0), np.float32(3.0)) == 3.0
    assert len(traces) == 2  # a new dtype traces and compiles again


def test_trace_of_a_transformation_returns_its_graph():
    g = graphc.trace(graphc.grad(f3, argnums=(0, 2)), 1.0, 3.0, -3.0)
    assert isinstance(g, graphc.Graph) and len(g.outputs) == 2
    assert any(g.is_adjoint(n) for n in g.nx)
    vg = graphc.trace(graphc.value_and_grad(f3), 1.0, 3.0, -3.0)
    assert vg[vg.outputs[0]]["op"] == "multiply" and not vg.is_adjoint(vg.outputs[0])


def test_lower_exposes_graph_source_and_stats():
    low = graphc.grad(f3).lower(1.0, 3.0, -3.0)
    assert isinstance(low.graph, graphc.Graph)
    assert isinstance(low.source, str) and low.source.strip()
    assert low.stats and all(s.nodes_after >= 0 for s in low.stats)


def test_transformed_functions_keep_name_and_doc():
    def loss(x):
        """The loss."""
        return x * x

    g = graphc.grad(loss)
    assert g.__name__ == "loss" and g.__doc__ == "The loss."


def test_public_names():
    for name in ["GraphcError", "Graph", "grad", "hessian", "jit", "logsumexp", "relu", "sigmoid", "softmax",
                 "trace", "tree_flatten", "tree_unflatten", "value_and_grad"]:
        assert hasattr(graphc, name), name
    with pytest.raises(graphc.GraphcError):
        graphc.grad(3.0)


def test_grad_of_a_size_one_output_is_the_gradient_of_its_element():
    # autograd's convention: an output of shape (1,) or (1, 1) is differentiated as a scalar.
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(graphc.grad(lambda x: x[:1] * 2.0, tiered="numpy")(x), [2.0, 0.0, 0.0])
    value, gradient = graphc.value_and_grad(lambda x: np.sum(x, keepdims=True), tiered="numpy")(x)
    assert value.shape == (1,) and value[0] == 6.0
    np.testing.assert_array_equal(gradient, np.ones(3))
    assert graphc.grad(lambda s: np.reshape(s, (1, 1)) ** 2, tiered="numpy")(3.0) == 6.0
    with pytest.raises(graphc.GraphcError, match="scalar"):
        graphc.grad(lambda x: x[:2])(x)
