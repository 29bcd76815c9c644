"""graphc.vmap against a Python loop over the examples: in_axes and out_axes in every form, nesting,
composition with grad and jit, closures, functions with loops and gathers (batched by a scan), errors.
The op-by-op batching rules are checked in tests/passes/test_batching.py."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError

NUMPY = dict(tiered="numpy")  # the reference-speed tier: these check graphs, not Numba


def loop(fun, in_axes, *args, out_axis=0):
    """The mapped function as a Python loop: example i takes index i along each mapped axis."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    rows = [fun(*(a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes))) for i in range(size)]
    return np.stack(rows, axis=out_axis)


def mlp(w, b, x):
    return np.tanh(w @ x + b).sum() + np.max(x) * np.mean(w[0])


@pytest.mark.parametrize("in_axes", [(None, None, 0), (0, None, 0), (None, 0, 1), (1, -1, -1), (0, 0, None)],
                         ids=str)
def test_in_axes_forms_match_a_loop(in_axes, rng):
    batch, shapes = 4, [(3, 5), (3,), (5,)]
    args = []
    for shape, axis in zip(shapes, in_axes):
        if axis is None:
            args.append(rng.normal(size=shape))
        else:
            full = list(shape)
            full.insert(axis % (len(shape) + 1), batch)
            args.append(rng.normal(size=full))
    got = graphc.vmap(mlp, in_axes=in_axes, **NUMPY)(*args)
    np.testing.assert_allclose(got, loop(mlp, in_axes, *args), rtol=1e-12)


def test_default_maps_every_argument_and_out_axes_moves_the_batch(rng):
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    fun = lambda x, y: np.outer(x, y)  # noqa: E731
    np.testing.assert_allclose(graphc.vmap(fun, **NUMPY)(a, b), loop(fun, (0, 0), a, b), rtol=1e-14)
    for out_axes in (1, 2, -1):
        got = graphc.vmap(fun, out_axes=out_axes, **NUMPY)(a, b)
        np.testing.assert_allclose(got, loop(fun, (0, 0), a, b, out_axis=out_axes), rtol=1e-14)


def test_pytree_arguments_in_axes_and_outputs(rng):
    params = {"w": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    xs = rng.normal(size=(5, 3))

    def predict(p, x):
        return {"y": p["w"] @ x + p["b"], "norm": np.sum(x * x)}

    got = graphc.vmap(predict, in_axes=({"w": None, "b": None}, 0), **NUMPY)(params, xs)
    for key in ("y", "norm"):
        np.testing.assert_allclose(got[key], np.stack([predict(params, x)[key] for x in xs]), rtol=1e-13)
    # A prefix: None for the whole dict; out_axes None for an output that does not vary.
    same = graphc.vmap(lambda p, x: (p["w"].sum(), x * 2), in_axes=(None, 0), out_axes=(None, 0), **NUMPY)
    total, doubled = same(params, xs)
    assert np.shape(total) == () and doubled.shape == (5, 3)


def test_keyword_arguments_are_mapped_over_axis_0(rng):
    x, scale = rng.normal(size=(3, 2)), rng.normal(size=3)
    got = graphc.vmap(lambda x, scale: x * scale, **NUMPY)(x, scale=scale)
    np.testing.assert_allclose(got, x * scale[:, None])


def test_per_example_gradients_vmap_of_grad(rng):
    w, xs, ys = rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6)

    def loss(w, x, y):
        return (np.tanh(x @ w) - y) ** 2

    per_example = graphc.vmap(graphc.grad(loss), in_axes=(None, 0, 0), **NUMPY)(w, xs, ys)
    expected = np.stack([graphc.grad(loss, **NUMPY)(w, x, y) for x, y in zip(xs, ys)])
    np.testing.assert_allclose(per_example, expected, rtol=1e-12)
    # Their mean is the gradient of the mean loss.
    mean_loss = lambda w: np.mean(graphc.vmap(loss, in_axes=(None, 0, 0))(w, xs, ys))  # noqa: E731
    np.testing.assert_allclose(graphc.grad(mean_loss, **NUMPY)(w), per_example.mean(axis=0), rtol=1e-12)


def test_compiled_vmap_of_grad_equals_the_numpy_tier(rng):
    w, xs = rng.normal(size=(4, 3)), rng.normal(size=(8, 3))
    fun = graphc.vmap(graphc.value_and_grad(lambda w, x: np.sum(np.sin(w @ x))), in_axes=(None, 0))
    values, grads = fun(w, xs)  # the suite waits for the kernel (GRAPHC_TIERED=0)
    ref_values, ref_grads = graphc.vmap(graphc.value_and_grad(lambda w, x: np.sum(np.sin(w @ x))),
                                        in_axes=(None, 0), **NUMPY)(w, xs)
    np.testing.assert_allclose(values, ref_values, rtol=1e-12)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-12)
    assert grads.shape == (8, 4, 3)


def test_nested_vmap_and_closures_over_the_outer_example(rng):
    xs, ys = rng.normal(size=3), rng.normal(size=4)
    outer = graphc.vmap(lambda x: graphc.vmap(lambda y: np.sin(x * y))(ys), **NUMPY)(xs)
    np.testing.assert_allclose(outer, np.sin(xs[:, None] * ys[None, :]), rtol=1e-14)
    pairwise = graphc.vmap(graphc.vmap(lambda a, b: a - b, in_axes=(None, 0)), in_axes=(0, None), **NUMPY)(xs, ys)
    np.testing.assert_allclose(pairwise, xs[:, None] - ys[None, :])


def test_functions_with_scans_and_gathers_are_batched_by_a_loop(rng):
    idx = np.array([2, 0, 1, 1])

    def fun(h0, xs):
        h, hs = graphc.scan(lambda h, x: (np.tanh(h * 0.5 + x), h), h0, xs)
        return np.sum(hs[:, idx]) + np.sum(h)

    h0, xs = rng.normal(size=(5, 3)), rng.normal(size=(5, 4, 3))
    got = graphc.vmap(fun, **NUMPY)(h0, xs)
    np.testing.assert_allclose(got, loop(fun, (0, 0), h0, xs), rtol=1e-12)
    grads = graphc.grad(lambda h0, xs: np.sum(graphc.vmap(fun)(h0, xs)), **NUMPY)(h0, xs)
    np.testing.assert_allclose(grads, np.stack([graphc.grad(fun, **NUMPY)(a, b) for a, b in zip(h0, xs)]),
                               rtol=1e-12)


def test_grad_inside_grad_reads_the_outer_variable():
    # The note on nesting in API.md: JAX gives 1.0.
    assert graphc.grad(lambda x: graphc.grad(lambda y: x * y)(1.0))(2.0) == 1.0
    inner = lambda x: graphc.grad(lambda y: np.sin(x * y))(3.0)  # noqa: E731  d/dy = x cos(xy)
    np.testing.assert_allclose(graphc.grad(inner)(2.0), np.cos(6.0) - 6.0 * np.sin(6.0), rtol=1e-14)


@pytest.mark.parametrize("in_axes, args, message", [
    ((None, None), (np.ones(3), np.ones(3)), "at least one mapped argument"),
    (0, (np.ones(3), np.ones(4)), "different sizes"),
    ((0,), (np.ones(3), np.ones(3)), "1 entries for 2 positional arguments"),
    ((2, 0), (np.ones((3, 3)), np.ones(3)), "out of range"),
    ((0, "x"), (np.ones(3), np.ones(3)), "give an int, None"),
    (({"a": 0}, 0), (np.ones(3), np.ones(3)), "does not match the structure"),
])
def test_bad_axes_are_clear_errors(in_axes, args, message):
    with pytest.raises(GraphcError, match=message) as info:
        graphc.vmap(lambda a, b: a * b, in_axes=in_axes, **NUMPY)(*args)
    assert isinstance(info.value, ValueError)  # as JAX raises
    assert "test_vmap.py:" in str(info.value)  # the line that called the mapped function


def test_out_axes_none_for_a_varying_output_is_an_error():
    with pytest.raises(GraphcError, match="varies over the batch"):
        graphc.vmap(lambda x: x * 2, out_axes=None, **NUMPY)(np.ones(3))


def test_a_compiled_vmap_pickles_with_its_axes(rng):
    import pickle

    w, xs = rng.normal(size=3), rng.normal(size=(3, 5))
    per_column = graphc.vmap(graphc.grad(lambda w, x: np.sum(np.tanh(w * x))), in_axes=(None, 1))
    expected = per_column(w, xs)
    again = pickle.loads(pickle.dumps(per_column))
    np.testing.assert_array_equal(again(w, xs), expected)
    assert expected.shape == (5, 3)
