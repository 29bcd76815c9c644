"""Advanced indexing (graphc/ops/gather.py): NumPy's result shapes for mixed indices, generated; gradients
as np.add.at; traced indices (np.argmax, np.argsort); and one test per error."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc
from graphc.errors import GraphcError, ShapeError, TracerConversionError, UnsupportedOperationError
from graphc.evaluate import evaluate
from graphc.ops.gather import IndexOutOfBoundsError


def ops_in(graph) -> list:
    return [data["op"] for _, data in graph.nx.nodes(data=True)]


def scatter_expected(shape, index, w):
    out = np.zeros(shape)
    np.add.at(out, index, w)
    return out


# ---- generated mixed indices: NumPy's shape rules, values and gradients -------------------------
@st.composite
def shapes_and_advanced_indices(draw):
    """A shape and an index mixing integer arrays, lists, masks, ints, slices, None and '...'."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    k = draw(st.integers(1, len(shape)))
    batch = draw(st.sampled_from([(), (2,), (1, 2), (2, 1), (3,)]))
    entries = []
    for n in shape[:k]:
        kind = draw(st.sampled_from(["int", "slice", "array", "array", "list", "mask"]))
        if kind == "int":
            entries.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-5, 5)
            entries.append(slice(draw(bound), draw(bound), draw(st.none() | st.sampled_from([-2, -1, 1, 2]))))
        elif kind == "mask":
            entries.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
        else:
            values = draw(st.lists(st.integers(-n, n - 1), min_size=math.prod(batch), max_size=math.prod(batch)))
            array = np.array(values, np.intp).reshape(batch)
            entries.append(array.tolist() if kind == "list" and batch else array)
    if not any(isinstance(e, (list, np.ndarray)) for e in entries):
        entries[0] = np.array([0, -1, 0], np.intp)[:1 + (shape[0] > 1)]
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), Ellipsis)
    return shape, tuple(entries)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(shapes_and_advanced_indices())
def test_generated_advanced_indices_match_numpy_and_np_add_at(shape_and_index):
    shape, index = shape_and_index
    x = np.arange(1.0, 1.0 + math.prod(shape)).reshape(shape)
    try:
        expected = x[index]
    except IndexError:  # NumPy rejects it (index arrays that do not broadcast): so must graphc
        with pytest.raises(GraphcError):
            graphc.trace(lambda x: x[index], x)
        return
    graph = graphc.trace(lambda x: x[index], x)
    graph.verify()
    (out,) = evaluate(graph, x)
    np.testing.assert_array_equal(out, expected, strict=True)
    w = np.arange(expected.size, dtype=np.float64).reshape(expected.shape) - 1.5
    grad = graphc.trace(graphc.grad(lambda x: np.sum(x[index] * w)), x)
    grad.verify()
    (g,) = evaluate(grad, x)
    np.testing.assert_array_equal(g, scatter_expected(shape, index, w), strict=True)


@pytest.mark.parametrize("index", [
    ([0, 0, 2, 0],), (slice(None), [[1, 1], [0, 1]]), ([1, 1], slice(None), [0, 0]), (0, slice(None), [2, 2]),
    (np.array([[True, False, True], [True, True, False]]),),
], ids=str)
def test_compiled_values_and_repeated_index_gradients(index):
    x = np.arange(1.0, 37.0).reshape(4, 3, 3)[: 2 if isinstance(index[0], np.ndarray) else 4]
    w = np.linspace(-1.0, 2.0, x[index].size).reshape(x[index].shape)
    loss = lambda x: np.sum(x[index] * w)  # noqa: E731
    np.testing.assert_array_equal(graphc.jit(lambda x: x[index])(x), x[index], strict=True)
    np.testing.assert_allclose(graphc.grad(loss)(x), scatter_expected(x.shape, index, w), rtol=1e-15)


# ---- what the graph holds ------------------------------------------------------------------------
def test_basic_indexing_stays_a_getitem():
    graph = graphc.trace(lambda x: x[1:, 0] + x[None, ..., 2][0, 1:, None][:, 0], np.ones((3, 3)))
    assert "gather" not in ops_in(graph)


def test_constant_indices_are_graph_constants_copied_when_traced():
    idx = np.array([2, 0])
    graph = graphc.trace(lambda x: x[idx], np.arange(3.0))
    idx[0] = 1  # changing the user's array later does not change the graph
    (out,) = evaluate(graph, np.arange(3.0))
    np.testing.assert_array_equal(out, [2.0, 0.0])
    for _, data in graph.nx.nodes(data=True):
        hash(tuple(sorted(data.get("attrs", {}).items())))  # attrs are hashable (no arrays in them)


def test_constant_row_and_column_indices_become_one_flat_index():
    graph = graphc.trace(lambda x: x[[1, 0, -1], [2, 2, 0]], np.ones((3, 4)))
    (gather,) = [n for n in graph.nx if graph[n]["op"] == "gather"]
    assert len(graph.operands(gather)) == 2
    (out,) = evaluate(graph, np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(out, [6.0, 2.0, 8.0])


def test_second_order_through_gather_and_scatter_add():
    idx = [0, 2, 2]
    f = lambda x: np.sum(x[idx] ** 3)  # noqa: E731
    x = np.array([1.0, -2.0, 0.5])
    counts = np.bincount(idx, minlength=3)
    np.testing.assert_allclose(graphc.hessian(f)(x), np.diag(6.0 * counts * x), rtol=1e-14)


# ---- traced indices ------------------------------------------------------------------------------
def test_indexing_with_argmax_and_its_gradient():
    x = np.array([[0.5, 3.0], [-1.0, 2.0]])
    f = lambda x: x[np.argmax(x[:, 1])] * 2.0  # noqa: E731
    np.testing.assert_array_equal(graphc.jit(f)(x), f(x), strict=True)
    g = graphc.grad(lambda x: np.sum(f(x)))(x)
    np.testing.assert_array_equal(g, [[2.0, 2.0], [0.0, 0.0]])
    np.testing.assert_array_equal(graphc.jit(graphc.grad(lambda x: x.ravel()[np.argmax(x)]))(x),
                                  [[0.0, 1.0], [0.0, 0.0]])


def test_take_along_axis_with_argsort_sorts_and_routes_gradients():
    x = np.array([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]])
    w = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])
    f = lambda x: np.take_along_axis(x, np.argsort(x, axis=1), axis=1)  # noqa: E731
    np.testing.assert_array_equal(graphc.jit(f)(x), np.sort(x, axis=1), strict=True)
    g = graphc.jit(graphc.grad(lambda x: np.sum(f(x) * w)))(x)
    np.testing.assert_array_equal(g, [[100.0, 1.0, 10.0], [20.0, 2.0, 200.0]])


def test_constant_table_at_traced_indices():
    # np.take dispatches on its array only, so a constant table takes its traced indices this way.
    table = np.array([10.0, 20.0, 30.0])
    f = lambda x: np.take_along_axis(table, np.argsort(x), axis=0) * x  # noqa: E731
    x = np.array([1.0, 5.0, 2.0])
    np.testing.assert_array_equal(graphc.jit(f)(x), f(x), strict=True)
    np.testing.assert_array_equal(graphc.grad(lambda x: np.sum(f(x)))(x), [10.0, 30.0, 20.0])


# ---- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [lambda x: x[[0, 3]], lambda x: x[[-4]], lambda x: x[:, [[2]]],
                                lambda x: np.take(x, [6]), lambda x: np.take_along_axis(x, np.array([[3]]), 0)])
def test_constant_index_out_of_bounds_is_a_shape_error(fn):
    with pytest.raises(IndexError):
        fn(np.ones((3, 2)))  # NumPy says so too
    with pytest.raises(ShapeError, match="out of bounds for axis"):
        graphc.trace(fn, np.ones((3, 2)))


def test_traced_index_out_of_bounds_raises_when_the_function_runs():
    f = lambda x, i: x[i.astype(np.int64)]  # noqa: E731
    x, bad = np.arange(3.0), np.array([0.0, 3.0])
    graph = graphc.trace(f, x, bad)
    with pytest.raises(IndexOutOfBoundsError, match="out of bounds"):
        evaluate(graph, x, bad)
    with pytest.raises(IndexOutOfBoundsError, match="traced index is out of bounds") as info:
        graphc.jit(f)(x, bad)
    assert isinstance(info.value, GraphcError) and isinstance(info.value, IndexError)
    with pytest.raises(IndexOutOfBoundsError):
        graphc.jit(graphc.grad(lambda x, i: np.sum(f(x, i))))(x, np.array([-4.0]))
    np.testing.assert_array_equal(graphc.jit(f)(x, np.array([-3.0, 2.0])), [0.0, 2.0])  # in bounds: fine


def test_traced_boolean_mask_suggests_np_where():
    with pytest.raises(UnsupportedOperationError, match=r"np.where\(mask, x, 0\)") as info:
        graphc.trace(lambda x: x[x > 0], np.ones(3))
    assert "test_gather.py" in str(info.value)


@pytest.mark.parametrize("fn, match", [
    (lambda x: x[np.array([0.0, 1.0])], "must be integers"),
    (lambda x: x[x], r"astype\(np.int64\)"),
    (lambda x: x[[0, 1], [0, 1, 0]], "broadcast"),
    (lambda x: x[np.array([True, False])], "boolean index of shape"),
    (lambda x: x[[0], [0], [0]], "too many indices"),
    (lambda x: x[[0], ..., ...], "single ellipsis"),
    (lambda x: np.take_along_axis(x, np.array([0]), 1), "as many dimensions"),
])
def test_bad_indices_are_shape_errors(fn, match):
    with pytest.raises(ShapeError, match=match):
        graphc.trace(fn, np.ones((3, 2)))


@pytest.mark.parametrize("fn, match", [
    (lambda x: x[[0], True], "boolean scalar"),
    (lambda x: np.take(x, (x[0] > 0).astype(np.int64), mode="wrap"), "traced index"),
    (lambda x: np.take(x, [0], out=np.empty(1)), "out="),
])
def test_unsupported_index_forms_are_named(fn, match):
    with pytest.raises(UnsupportedOperationError, match=match):
        graphc.trace(fn, np.ones((3, 2)))


def test_np_array_of_tracers_still_names_np_stack():
    with pytest.raises(TracerConversionError, match="np.stack"):
        graphc.trace(lambda x: x[np.array([x[0], x[1]]).astype(int)], np.ones(3))
