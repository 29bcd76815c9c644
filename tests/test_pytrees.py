"""Pytrees: nested tuples, lists and dicts through every transformation, and ravel_pytree."""
import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate


def _params(rng):
    return {"layer": {"W": rng.normal(size=(3, 2)), "b": np.zeros(2)}, "scale": [0.5, (rng.normal(size=2), None)]}


def _loss(params, X):
    h = np.tanh(X @ params["layer"]["W"] + params["layer"]["b"])
    a, (v, _) = params["scale"]
    return np.sum((h * v) ** 2) * a


def test_gradient_comes_back_in_the_argument_structure(rng):
    params, X = _params(rng), rng.normal(size=(4, 3))
    g = graphc.grad(_loss)(params, X)
    assert set(g) == {"layer", "scale"} and set(g["layer"]) == {"W", "b"}
    assert isinstance(g["scale"], list) and g["scale"][1][1] is None
    assert g["layer"]["W"].shape == (3, 2) and np.shape(g["scale"][0]) == ()
    leaves, tree = graphc.tree_flatten(params)
    reference = evaluate(graphc.trace(graphc.grad(_loss), params, X), *leaves, X)
    for got, want in zip(graphc.tree_flatten(g)[0], reference):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_value_and_grad_jit_and_argnums_tuple_with_pytrees(rng):
    params, X = _params(rng), rng.normal(size=(4, 3))
    value, (gp, gX) = graphc.value_and_grad(_loss, argnums=(0, 1))(params, X)
    assert value == pytest.approx(_loss(params, X), rel=1e-12)
    assert gX.shape == X.shape and set(gp) == {"layer", "scale"}
    out = graphc.jit(lambda p: {"twice": [p["scale"][0] * 2.0], "same": p["layer"]["b"]})(params)
    assert out["twice"][0] == 1.0 and out["same"].shape == (2,)


def test_hessian_of_a_dict_argument_is_a_dict_of_dicts(rng):
    p = {"a": rng.normal(size=2), "b": 0.7}
    f = lambda p: np.sum(p["a"] ** 3) * p["b"]  # noqa: E731
    H = graphc.hessian(f)(p)
    np.testing.assert_allclose(H["a"]["a"], np.diag(6 * p["a"] * p["b"]), rtol=1e-12)
    np.testing.assert_allclose(H["a"]["b"], 3 * p["a"] ** 2, rtol=1e-12)
    np.testing.assert_allclose(H["b"]["a"], 3 * p["a"] ** 2, rtol=1e-12)
    assert H["b"]["b"] == 0.0


def test_structures_print_as_python_writes_them():
    # Error messages show structures ("returns (*, *) where the initial value has structure *").
    for value, shown in [(1.0, "*"), ((1.0, 2.0), "(*, *)"), ((1.0,), "(*,)"), ([1.0, (2.0, None)], "[*, (*, None)]"),
                         ({"a": 1.0, "b": [2.0]}, "{'a': *, 'b': [*]}"), ((), "()")]:
        assert repr(graphc.tree_flatten(value)[1]) == shown


def test_signature_cache_keys_on_the_structure():
    f = graphc.jit(lambda t: t)
    assert f((1.0, 2.0)) == (1.0, 2.0)
    assert f([1.0, 2.0]) == [1.0, 2.0]
    assert f({"x": 1.0, "y": 2.0}) == {"x": 1.0, "y": 2.0}


def test_structure_errors_are_clear():
    with pytest.raises(graphc.GraphcError, match="string keys"):
        graphc.jit(lambda d: d[1] * 2.0)({1: 2.0})
    _, tree = graphc.tree_flatten({"a": 1.0, "b": (2.0, 3.0)})
    with pytest.raises(graphc.GraphcError, match="too few leaves"):
        graphc.tree_unflatten(tree, [1.0, 2.0])
    with pytest.raises(graphc.GraphcError, match="too many leaves"):
        graphc.tree_unflatten(tree, [1.0, 2.0, 3.0, 4.0])
    flat, unravel = graphc.ravel_pytree({"a": np.ones(2)})
    with pytest.raises(graphc.GraphcError, match="vector of shape"):
        unravel(np.ones(3))


def test_ravel_pytree_roundtrip_keeps_shapes_and_dtypes():
    tree = {"w": np.arange(6.0).reshape(2, 3), "b": np.float32(1.5), "rest": [np.ones(1, np.float32), None]}
    flat, unravel = graphc.ravel_pytree(tree)
    assert flat.dtype == np.float64 and flat.shape == (8,)
    back = unravel(flat)
    np.testing.assert_array_equal(back["w"], tree["w"])
    assert back["b"].dtype == np.float32 and back["rest"][0].dtype == np.float32 and back["rest"][1] is None


def test_scipy_style_loop_over_a_dict_of_parameters(rng):
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    params = {"w": np.zeros(3), "b": 0.0}
    flat, unravel = graphc.ravel_pytree(params)
    vg = graphc.value_and_grad(lambda p: np.mean((X @ p["w"] + p["b"] - y) ** 2))
    for _ in range(300):
        value, g = vg(unravel(flat))
        flat = flat - 0.1 * graphc.ravel_pytree(g)[0]
    w, b = unravel(flat)["w"], unravel(flat)["b"]
    design = np.c_[X, np.ones(30)]
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(np.r_[w, b], expected, atol=1e-6)
