"""Tracing: Python operators, NumPy protocols, methods and attributes, constants, pytrees, loops."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate
from graphc.tracer import Tracer


def ops(graph) -> list:
    return [graph[n]["op"] for n in graph.topo_order()]


def check(fn, *args, rtol=1e-15):
    """Trace ``fn``, evaluate the graph, and compare with calling ``fn`` on the arrays directly."""
    graph = graphc.trace(fn, *args)
    graph.verify()
    got = graphc.tree_unflatten(graph.out_tree, evaluate(graph, *graphc.tree_flatten(args)[0]))
    want = fn(*args)
    got_leaves, got_tree = graphc.tree_flatten(got)
    want_leaves, want_tree = graphc.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves):
        np.testing.assert_allclose(g, w, rtol=rtol, strict=True)
    return graph


@pytest.mark.parametrize("fn, op", [
    (lambda x: x + 2.0, "add"), (lambda x: 2.0 + x, "add"), (lambda x: x - 2.0, "subtract"),
    (lambda x: 2.0 - x, "subtract"), (lambda x: 2.0 * x, "multiply"), (lambda x: 2.0 / x, "divide"),
    (lambda x: x / 2.0, "divide"), (lambda x: x ** 2.0, "power"), (lambda x: 2.0 ** x, "power"),
    (lambda x: -x, "negative"), (lambda x: abs(x), "absolute"), (lambda x: x < 1.0, "less"),
    (lambda x: x <= 1.0, "less_equal"), (lambda x: x > 1.0, "greater"), (lambda x: x >= 1.0, "greater_equal"),
    (lambda x: x == 1.0, "equal"), (lambda x: x != 1.0, "not_equal"), (lambda x: 1.0 < x, "greater"),
])
def test_python_operators_and_their_reflections(fn, op, rng):
    x = rng.uniform(0.5, 2.0, size=(2, 3))
    graph = check(fn, x)
    assert op in ops(graph)


def test_reflected_operands_keep_their_side():
    g = graphc.trace(lambda x: 2.0 - x, 5.0)
    const, x = g.operands(g.outputs[0])
    assert g[const]["op"] == "constant" and g[x]["op"] == "input"
    assert evaluate(g, 5.0) == [-3.0]


def test_unary_plus_adds_no_node():
    g = graphc.trace(lambda x: +x, 1.0)
    assert g.outputs == g.inputs


def test_comparisons_give_boolean_tracers():
    g = graphc.trace(lambda x, y: x < y, np.ones(2), np.zeros(2))
    assert g[g.outputs[0]]["dtype"] == np.bool_


def test_tracers_in_any_argument_position(rng):
    x = rng.normal(size=(2, 3))
    check(lambda x: np.maximum(0.0, x), x)
    check(lambda x: np.where(x > 0, 1.0, x), x)
    check(lambda x: np.where(np.array([True, False, True]), 0.0, x), x)
    check(lambda x: np.ones((4, 2)) @ x, x)
    check(lambda x: np.concatenate([np.zeros((1, 3)), x]), x)
    check(lambda x: np.stack([np.zeros(3), x[0]]), x)


def test_matmul_operator_and_reflection(rng):
    A, v = rng.normal(size=(2, 3)), rng.normal(size=3)
    check(lambda A, v: A @ v, A, v, rtol=1e-14)
    check(lambda v: A @ v, v, rtol=1e-14)
    check(lambda A: A @ v, A, rtol=1e-14)


def test_methods_and_attributes(rng):
    x = rng.normal(size=(2, 3))
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, dtype=x.dtype, size=x.size, len=len(x),
                    np_shape=np.shape(x), np_ndim=np.ndim(x))
        return (x.T, x.sum(), x.sum(axis=0), x.mean(), x.mean(axis=-1, keepdims=True), x.reshape(3, 2),
                x.reshape((6,)), x.reshape(-1, 2), x.max(axis=1), x.min(), x.transpose(), x.astype(np.float32))

    check(f, x, rtol=1e-14)
    assert seen == dict(shape=(2, 3), ndim=2, dtype=np.float64, size=6, len=2, np_shape=(2, 3), np_ndim=2)
    assert isinstance(seen["dtype"], np.dtype)


def test_iterating_over_a_tracer_gives_its_rows(rng):
    x = rng.normal(size=(3, 2))
    check(lambda x: [r * 2.0 for r in x], x)
    check(lambda x: sum(x), x)  # 0 + row + row + row


def test_tuple_outputs_and_pytree_results(rng):
    x = rng.normal(size=3)
    check(lambda x: (x, x * 2.0), x)
    check(lambda x: {"b": np.sum(x), "a": [x[0], (x[1], x[2])]}, x)


def test_pytree_arguments_name_their_leaves(rng):
    params = {"w": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    g = check(lambda p, xs: np.tanh(p["w"] @ xs[0] + p["b"]) * xs[1], params, (rng.normal(size=3), 2.0),
              rtol=1e-14)
    assert [g[n]["name"] for n in g.inputs] == ["p['b']", "p['w']", "xs[0]", "xs[1]"]


def test_python_and_numpy_values_become_constants(rng):
    k = rng.normal(size=3)
    g = check(lambda x: x * k + 1 + np.float32(0.5) * 2, rng.normal(size=3))
    constants = [g[n]["value"] for n in g.nx if g[n]["op"] == "constant"]
    assert any(np.array_equal(c, k) for c in constants)


def test_returning_an_input_or_a_constant(rng):
    g = graphc.trace(lambda x: x, 1.0)
    assert g.outputs == g.inputs
    g = graphc.trace(lambda x: (x, 3.0), 1.0)
    assert g[g.outputs[1]]["op"] == "constant" and evaluate(g, 1.0) == [1.0, 3.0]


def test_integer_and_boolean_arguments_keep_their_dtypes():
    g = check(lambda n, b, x: np.where(b, x * n, x), 3, True, 2.0)
    assert [g[i]["dtype"] for i in g.inputs] == [np.dtype(np.int64), np.dtype(np.bool_), np.dtype(np.float64)]


def test_float32_stays_float32_through_the_trace(rng):
    x = rng.normal(size=(2, 3)).astype(np.float32)

    def f(x):
        return np.sum(graphc.softmax(np.tanh(x * 2.0 + 1) ** 2 / 3.0), axis=0) - np.mean(x)

    g = check(f, x, rtol=1e-6)
    for node in g.nx:
        if g[node]["dtype"].kind == "f":
            assert g[node]["dtype"] == np.float32, g.format_node(node)


def test_python_loops_unroll_with_a_fixed_trip_count():
    def f(x, n):
        for _ in range(n):
            x = np.sin(x)
        return x

    small, big = graphc.trace(lambda x: f(x, 5), 0.5), graphc.trace(lambda x: f(x, 20), 0.5)
    assert ops(big).count("sin") == 20 and len(big) - len(small) == 15
    np.testing.assert_allclose(evaluate(big, 0.5)[0], f(0.5, 20), rtol=1e-15)


def test_transformed_functions_inline_when_called_on_tracers(rng):
    inner = graphc.jit(lambda x: np.exp(x) * 2.0)
    g = graphc.trace(lambda x: inner(x) + 1.0, 0.5)
    assert "exp" in ops(g) and len(g.inputs) == 1
    np.testing.assert_allclose(evaluate(g, 0.5)[0], np.exp(0.5) * 2 + 1, rtol=1e-15)


def test_trace_of_jit_is_the_forward_graph():
    f = lambda x, y: (x + y) * x  # noqa: E731
    assert str(graphc.trace(graphc.jit(f), 1.0, 2.0)) == str(graphc.trace(f, 1.0, 2.0))


def test_tracer_repr_names_node_and_type():
    seen = []
    graphc.trace(lambda x: seen.append(repr(x * 2.0)) or x, np.ones((2, 3), np.float32))
    assert seen == ["Tracer<%2 multiply : f32[2,3]>"]
    assert Tracer.__hash__ is None  # == is elementwise, so tracers are no dict keys
