"""Optimization passes: each alone and the whole pipeline preserve what a graph computes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
from graphc.evaluate import evaluate
from graphc.passes import (
    DEFAULT_PIPELINE, GRAPH_PASSES, eliminate_common_subexpressions, eliminate_dead_code, fold_constants,
    fuse_elementwise, run_pipeline, simplify,
)

UNARY = [np.sin, np.cos, np.tanh, np.negative, np.square, np.abs, graphc.sigmoid, lambda v: np.exp(np.tanh(v)),
         lambda v: np.log1p(v * v), lambda v: v ** 2, lambda v: v * 1.0, lambda v: -(-v), lambda v: v / 1.0]
BINARY = [np.add, np.subtract, np.multiply, np.maximum, np.minimum, lambda a, b: np.where(a > b, a, b * 0.5)]
REDUCE = [lambda v: np.sum(v, axis=0, keepdims=True), lambda v: np.mean(v, axis=-1, keepdims=True),
          lambda v: np.max(v, axis=0, keepdims=True)]


@st.composite
def programs(draw):
    """A random function of x (3, 4) and w (4,) built from elementwise, reduction and matmul steps."""
    steps = draw(st.lists(st.tuples(st.sampled_from(["unary", "binary", "reduce", "matmul"]),
                                    st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
                          min_size=1, max_size=8))

    def f(x, w):
        pool = [x, x * w, np.broadcast_to(w, (3, 4)) + 0.5]
        for kind, a, b, c in steps:
            u, v = pool[a % len(pool)], pool[b % len(pool)]
            if kind == "unary":
                out = UNARY[c % len(UNARY)](u)
            elif kind == "binary":
                out = BINARY[c % len(BINARY)](u, v)
            elif kind == "reduce":
                out = REDUCE[c % len(REDUCE)](u) * v  # broadcast back to (3, 4)
            else:
                out = np.tanh(u @ np.ones((4, 4)) * 0.1 + v)
            pool.append(out)
        return np.sum(pool[-1] * pool[-2]) + np.sum(pool[-1])

    return f


def _inputs(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 4)), rng.normal(size=4)


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)


PASSES = [fold_constants, eliminate_common_subexpressions, simplify, eliminate_dead_code, fuse_elementwise]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2**16))
def test_each_pass_and_the_pipeline_preserve_values_and_never_add_nodes(f, seed):
    x, w = _inputs(seed)
    graph = graphc.trace(graphc.value_and_grad(f, argnums=(0, 1)), x, w)
    expected = evaluate(graph, x, w)
    snapshot = str(graph)
    for graph_pass in PASSES:
        after = graph_pass(graph)
        assert len(after) <= len(graph), graph_pass.__name__
        after.verify()
        _assert_same(evaluate(after, x, w), expected)
    optimized, stats = run_pipeline(graph)
    assert [s.name for s in stats] == [p.__name__ for p in DEFAULT_PIPELINE]
    assert all(s.nodes_after <= s.nodes_before for s in stats)
    optimized.verify()
    _assert_same(evaluate(optimized, x, w), expected)
    assert str(graph) == snapshot  # passes never change the graph they are given


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2**16))
def test_compiled_pipeline_agrees_with_reference(f, seed):
    x, w = _inputs(seed)
    vg = graphc.value_and_grad(f, argnums=(0, 1))
    expected = evaluate(graphc.trace(vg, x, w), x, w)
    value, (gx, gw) = vg(x, w)
    _assert_same([value, gx, gw], expected)


def _seed_f(x, y):
    return (x + graphc.sigmoid(y)) / (graphc.sigmoid(x) + (x + y) ** 2)


def test_w1_gradient_graph_shrinks():
    low = graphc.value_and_grad(_seed_f, argnums=(0, 1)).lower(3.0, -4.0)
    assert len(low.graph) < len(low.traced)
    names = [s.name for s in low.stats]
    assert "fuse_elementwise" in names and "simplify" in names


def test_sum_of_elementwise_is_one_fused_loop():
    f = lambda x: np.sum(np.sin(x) * np.cos(x) + x * x)
    low = graphc.jit(f).lower(np.ones(100))
    ops = [low.graph[n]["op"] for n in low.graph.topo_order()]
    assert ops == ["input", "fused"]
    body = low.graph[low.graph.outputs[0]]["attrs"]["body"]
    assert sorted(body.graph[m]["op"] for m in body.graph.nx if body.graph[m]["op"] != "input") == [
        "add", "cos", "multiply", "multiply", "sin", "sum"]
    assert low.source.count("for i0 in range(v0.shape[0])") == 1
    assert "np.empty" not in low.source  # no temporary arrays: the sum is the loop's accumulator
    np.testing.assert_allclose(graphc.jit(f)(np.linspace(0, 1, 100)), f(np.linspace(0, 1, 100)), rtol=1e-12)


def test_adjoint_part_fuses_too():
    f = lambda x: np.sum(np.sin(x) * x)
    low = graphc.value_and_grad(f).lower(np.ones(50))
    fused = [n for n in low.graph.nx if low.graph[n]["op"] == "fused"]
    assert len(fused) == 2  # one loop: the value's sum and the gradient array
    assert low.graph[fused[0]]["attrs"]["body"] is low.graph[fused[1]]["attrs"]["body"]


def test_listing_indents_fused_ops():
    low = graphc.jit(lambda x: np.sum(np.exp(x) * 2.0)).lower(np.ones(8))
    text = str(low.graph)
    assert "fused[0]" in text and "\n      %" in text


@pytest.mark.parametrize("expr, rule", [
    (lambda x: x * 1.0, "x*1 -> x"),
    (lambda x: x / 1.0, "x/1 -> x"),
    (lambda x: x ** 1.0, "x**1 -> x"),
    (lambda x: x ** 2, "x**2 -> x*x"),
    (lambda x: -(-x), "--x -> x"),
    (lambda x: x + (-0.0), "x+(-0.0) -> x"),
    (lambda x: x - 0.0, "x-(+0.0) -> x"),
])
def test_simplification_rules_fire_and_are_exact(expr, rule):
    graph = simplify(graphc.trace(expr, np.array([1.5, -0.0, 0.0, np.inf, -np.inf, np.nan])))
    assert graph.notes["simplify"].get(rule) == 1
    values = np.array([1.5, -0.0, 0.0, np.inf, -np.inf, np.nan])
    got = evaluate(graph, values)[0]
    want = expr(values)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(got, want)


def test_transposes_of_transposes_compose():
    x = np.arange(24.0).reshape(2, 3, 4)
    graph = simplify(graphc.trace(lambda x: np.transpose(np.transpose(x, (1, 2, 0)), (2, 0, 1)), x))
    assert graph.notes["simplify"].get("transpose(transpose(x)) -> transpose(x)") == 1
    assert graph.outputs == graph.inputs  # the composition is the identity
    graph = simplify(graphc.trace(lambda x: np.transpose(np.transpose(x, (1, 0, 2)), (0, 2, 1)), x))
    assert graph[graph.outputs[0]]["attrs"]["axes"] == (1, 2, 0)
    np.testing.assert_array_equal(evaluate(graph, x)[0], np.transpose(np.transpose(x, (1, 0, 2)), (0, 2, 1)))


def test_inexact_identities_are_not_applied():
    for expr in (lambda x: x * 0.0, lambda x: x + 0.0, lambda x: x - x, lambda x: x * -1.0):
        graph = simplify(graphc.trace(expr, np.ones(3)))
        assert not graph.notes["simplify"]


def _graph_of_constants(big_shape):
    """x * (zeros(big_shape) + 1.0), with the constant add recorded in the graph."""
    from graphc.graph import Graph
    from graphc.tracer import add_constant

    g = Graph()
    x = g.add_node("input", shape=big_shape, dtype=np.float64, name="x")
    zeros = add_constant(g, np.zeros(big_shape))
    one = add_constant(g, 1.0)
    total = g.add_node("add", [zeros, one], shape=big_shape, dtype=np.float64)
    g.outputs = [g.add_node("multiply", [x, total], shape=big_shape, dtype=np.float64)]
    g.inputs = [x]
    return g


def test_constant_folding_respects_the_size_cap():
    folded = fold_constants(_graph_of_constants((100, 100)))
    assert [folded[n]["op"] for n in folded.topo_order()].count("add") == 1  # 10000 elements: not folded
    small = fold_constants(_graph_of_constants((3, 4)))
    assert "add" not in [small[n]["op"] for n in small.nx]
    np.testing.assert_array_equal(evaluate(small, np.full((3, 4), 2.0))[0], np.full((3, 4), 2.0))


def test_folding_keeps_sizes_read_from_the_arguments():
    """A value over an argument's axis is computed but not pasted in: a mask that is one element
    repeated becomes a broadcast that keeps the size; others stay nodes; a count of them stays a sum."""
    from graphc.dims import Dim, argument_shape
    from graphc.graph import Graph
    from graphc.tracer import add_constant

    g = Graph()
    x = g.add_node("input", shape=(5,), dtype=np.float64, name="x")
    g[x]["shape"] = shape = argument_shape((5,), g.dim_scope, x)
    generic = add_constant(g, np.array([1.1, 1.7, 1.3, 1.9, 1.2]))  # as forward mode's cotangent u
    scaled = g.add_node("multiply", [generic, add_constant(g, 4.0)], shape=shape, dtype=np.float64)
    mask = g.add_node("equal", [scaled, add_constant(g, 0.0)], shape=shape, dtype=np.bool_)
    masked = g.add_node("where", [mask, add_constant(g, 0.0), x], shape=shape, dtype=np.float64)
    ones = g.add_node("broadcast_to", [add_constant(g, 1.0)], shape=shape, dtype=np.float64, attrs={"shape": shape})
    count = g.add_node("sum", [ones], shape=(), dtype=np.float64, attrs={"axis": (0,), "keepdims": False})
    g.inputs, g.outputs = [x], [g.add_node("multiply", [masked, count], shape=shape, dtype=np.float64)]

    folded = fold_constants(g)
    assert folded[mask]["op"] == "broadcast_to" and isinstance(folded[mask]["attrs"]["shape"][0], Dim)
    assert not folded[folded.operands(mask)[0]]["value"]
    assert folded[scaled]["op"] == "multiply" and folded[count]["op"] == "sum"  # n elements, and n: kept
    x_value = np.arange(5.0)
    np.testing.assert_array_equal(evaluate(folded, x_value)[0], evaluate(g, x_value)[0])
    optimized = eliminate_dead_code(simplify(folded))  # where(False, 0, x) is x: the mask and u are gone
    assert sorted(optimized[n]["op"] for n in optimized.topo_order()) == [
        "broadcast_to", "constant", "input", "multiply", "sum"]


def test_folding_compares_elements_bit_for_bit():
    from graphc.passes.fold import repeated_element

    assert repeated_element(np.full(3, 2.5, np.longdouble)) == 2.5  # 16 bytes an element here
    assert repeated_element(np.array([0.0, -0.0])) is None and repeated_element(np.array([np.nan] * 2)) is not None
    assert repeated_element(np.array([1 + 2j, 1 - 2j])) is None and repeated_element(np.zeros(0)) is None


def test_folding_where_the_known_operands_decide():
    # False & (x > 0) is False whatever x is, and where(False, x, 2.0) is 2.0: both fold, x unread.
    from graphc.graph import Graph
    from graphc.tracer import add_constant

    g = Graph()
    x = g.add_node("input", shape=(3,), dtype=np.float64, name="x")
    positive = g.add_node("greater", [x, add_constant(g, 0.0)], shape=(3,), dtype=np.bool_)
    mask = g.add_node("logical_and", [add_constant(g, np.zeros(3, bool)), positive], shape=(3,), dtype=np.bool_)
    chosen = g.add_node("where", [mask, x, add_constant(g, 2.0)], shape=(3,), dtype=np.float64)
    kept = g.add_node("where", [positive, x, add_constant(g, 2.0)], shape=(3,), dtype=np.float64)
    g.inputs, g.outputs = [x], [g.add_node("add", [chosen, kept], shape=(3,), dtype=np.float64)]
    folded = fold_constants(g)
    assert folded[mask]["op"] == "constant" and not folded[mask]["value"].any()
    assert folded[chosen]["op"] == "constant" and folded[chosen]["value"].tolist() == [2.0, 2.0, 2.0]
    assert folded[kept]["op"] == "where"  # its condition is not known
    x_value = np.array([-1.0, 0.5, np.nan])
    np.testing.assert_array_equal(evaluate(folded, x_value)[0], evaluate(g, x_value)[0])


def test_first_order_zero_cotangent_masks_are_one_select():
    # The reverse sweep's mask holds a second copy of log1p's rule for second derivatives; once
    # differentiation is over, simplify leaves where(g == 0, 0, c), the same bits (tanh(0) = 0 sends
    # log1p a zero cotangent at x = 0).
    f = lambda x: np.sum(np.log1p(x * x) * np.tanh(x))  # noqa: E731
    x = np.array([0.0, -0.0, 0.5, -2.0])
    traced = graphc.grad(f).__graphc_transform__.traced_graph(x)
    optimized, _ = run_pipeline(traced, GRAPH_PASSES)
    ops = [optimized[n]["op"] for n in optimized.topo_order()]
    assert "not_equal" in [traced[n]["op"] for n in traced.topo_order()] and "not_equal" not in ops
    assert ops.count("where") == 1
    want, got = evaluate(traced, x)[0], evaluate(optimized, x)[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
