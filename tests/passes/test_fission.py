"""Loop fission (the NumPy tier's scans): the split graph computes what the whole loop did, and only the
recurrence stays in the loop."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate
from graphc.passes import GRAPH_PASSES, run_pipeline
from graphc.passes import fission
from graphc.passes.fission import split_scans

from programs import rnn_arguments, rnn_scan as _rnn

T = 7


def _rnn_args(rng):
    return rnn_arguments(rng, T)


def _scans(graph):
    return [graph[n] for n in graph.topo_order() if graph[n]["op"] == "scan"]


def _assert_same_values(graph, split, args):
    for got, want in zip(evaluate(split, *args), evaluate(graph, *args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_the_rnn_gradient_keeps_only_its_recurrence_in_the_loops(rng):
    args = _rnn_args(rng)
    vg = graphc.value_and_grad(_rnn, argnums=(0, 1, 2, 3, 4))
    unsplit = [p for p in GRAPH_PASSES if p.__name__ != "split_loops"]
    graph, _ = run_pipeline(graphc.trace(vg, *args), unsplit)
    split, count = split_scans(graph)
    split.verify()
    assert count == 2
    _assert_same_values(graph, split, args)
    before = [len(s["attrs"]["body"]) for s in _scans(graph)]
    after = [len(s["attrs"]["body"]) for s in _scans(split)]
    assert len(after) == 2 and all(a < b for a, b in zip(after, before)), (before, after)
    # The reverse loop carries only the hidden state's cotangent: the weights' sums come after it.
    reverse = next(s for s in _scans(split) if s["attrs"]["reverse"])
    assert reverse["attrs"]["num_carry"] == 1
    ops = {reverse["attrs"]["body"][n]["op"] for n in reverse["attrs"]["body"].dag}
    assert ops <= {"input", "constant", "add", "multiply", "matmul"}, ops
    # The weights' gradients are sums of outer products: one matmul each, no (T, H, H) stack.
    W, U, xs = args[0], args[1], args[4]
    stacked = {(len(xs),) + W.shape, (len(xs),) + U.shape}
    assert not [n for n in split.dag if tuple(split[n]["shape"]) in stacked]


def test_per_example_weight_gradients_are_one_batched_matmul(rng):
    """vmap(grad) of the RNN: each example's weight gradient is a sum of outer products over the steps,
    summed as one (batch, H, T) @ (batch, T, H) product, without a (T, batch, H, H) stack."""
    W, U, b, h0, xs = _rnn_args(rng)
    batch = np.stack([xs, 2 * xs, -xs])
    per_example = graphc.vmap(graphc.grad(_rnn, argnums=(0, 1)), in_axes=(None, None, None, None, 0))
    graph, _ = run_pipeline(graphc.trace(per_example, W, U, b, h0, batch), GRAPH_PASSES)
    stacked = {(T, len(batch)) + W.shape, (T, len(batch)) + U.shape}
    assert not [n for n in graph.nx if tuple(graph[n]["shape"]) in stacked]
    sums = {(len(batch),) + W.shape, (len(batch),) + U.shape}
    assert sum(graph[n]["op"] == "matmul" and tuple(graph[n]["shape"]) in sums for n in graph.nx) == 2
    got = evaluate(graph, W, U, b, h0, batch)
    for i, x in enumerate(batch):
        for g, want in zip(got, graphc.grad(_rnn, argnums=(0, 1), tiered="numpy")(W, U, b, h0, x)):
            np.testing.assert_allclose(g[i], want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("inner", ["cond", "scan", "checkpoint"])
def test_loops_branches_and_calls_inside_a_body_stay_in_the_loop(inner):
    """They have batching rules but several results: fission leaves them (and their unpacks) in the loop."""
    def step_value(x):
        if inner == "cond":
            return graphc.cond(x > 0, lambda x: x, lambda x: -x, x)
        if inner == "scan":
            return graphc.scan(lambda d, y: (d * y, None), 1.0, np.stack([x, x + 1.0]))[0]
        return graphc.checkpoint(np.sin)(x)

    def f(xs):
        return graphc.scan(lambda c, x: (c + step_value(x), step_value(x) * c), 0.0, xs)

    xs = np.array([1.0, -2.0, 3.0])
    graph = graphc.trace(f, xs)
    split, _ = split_scans(graph)
    split.verify()
    _assert_same_values(graph, split, (xs,))
    loss = lambda xs: np.sum(f(xs)[1])  # noqa: E731
    np.testing.assert_allclose(graphc.grad(loss, tiered="numpy")(xs), graphc.grad(loss, tiered=False)(xs), rtol=1e-13)


def test_passthrough_outputs_running_sums_of_weights_and_reverse_loops(rng):
    W, xs, c0 = rng.normal(size=(2, 2)), rng.normal(size=(T, 2)), rng.normal(size=2)

    def f(W, xs, c0):
        def step(carry, x):
            total, last, h = carry
            h = np.sin(W @ h) + x
            return (total + W[0], x, h), (x, W, np.cos(h), h * 2.0)
        (total, last, h), (ys, weights, cosines, doubled) = graphc.scan(step, (c0, c0, c0), xs, reverse=True)
        return total, last, h, ys, weights, cosines, doubled

    graph = graphc.trace(f, W, xs, c0)
    split, count = split_scans(graph)
    assert count == 1
    split.verify()
    _assert_same_values(graph, split, (W, xs, c0))
    (loop,) = _scans(split)
    assert loop["attrs"]["num_carry"] == 2 and loop["attrs"]["reverse"]  # the running sum left the loop


@pytest.mark.parametrize("xs, length", [
    (np.full((5, 2), 100, np.int8), 5),           # the loop's int8 adds wrap; a sum would widen
    (np.ones((5, 2), bool), 5),                   # bool + is "or"; a sum counts
    (np.ones((2, 3000), np.float16).T, 3000),     # float16's running sum saturates at 2048
    (np.zeros((0, 2)), 0),                        # no steps: the initial carry, even beside inf
], ids=["int8", "bool", "float16", "empty"])
def test_running_sums_only_where_a_sum_gives_what_the_loop_gives(xs, length):
    def f(xs, c0):
        def step(c, x):
            total, h, weighted = c
            return (total + x, np.tanh(h + 1.0), weighted + np.array([np.inf, 1.0])), h
        return graphc.scan(step, (c0, np.ones(2), np.zeros(2)), xs)

    c0 = np.zeros(2, xs.dtype)
    graph = graphc.trace(f, xs, c0)
    split, _ = split_scans(graph)
    for got, want in zip(evaluate(split, xs, c0), evaluate(graph, xs, c0)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_gathers_leave_the_loop_with_constant_indices_and_stay_right_with_varying_ones(rng):
    idx = np.array([2, 0, 1])

    def f(xs, h0):
        def step(h, x):
            h = np.tanh(h + x[idx])  # an integer-array gather of the step's slice
            return h, h * h
        return graphc.scan(step, h0, xs)

    args = (rng.normal(size=(T, 3)), rng.normal(size=3))
    graph = graphc.trace(f, *args)
    split, count = split_scans(graph)
    _assert_same_values(graph, split, args)
    (loop,) = _scans(split)
    assert "gather" not in {loop["attrs"]["body"][n]["op"] for n in loop["attrs"]["body"].dag}

    def g(xs, picks, h0):  # indices of each step's own: the gather's rule declines them (a loop of its own)
        def step(h, xp):
            x, p = xp
            h = np.tanh(h + x[p])
            return h, h * h
        return graphc.scan(step, h0, (xs, picks))

    args = (rng.normal(size=(T, 3)), rng.integers(0, 3, size=(T, 3)), rng.normal(size=3))
    graph = graphc.trace(g, *args)
    _assert_same_values(graph, split_scans(graph)[0], args)


def test_nested_loops_split_at_the_top_level_only(rng):
    def f(xs, h0):
        def step(h, x):
            inner, _ = graphc.scan(lambda c, y: (c * 0.5 + y, c), h, np.stack([x, x * 2]))
            return np.tanh(inner), np.sum(inner)
        return graphc.scan(step, h0, xs)

    args = (rng.normal(size=(T, 3)), rng.normal(size=3))
    graph = graphc.trace(f, *args)
    split, count = split_scans(graph)
    assert count == 1
    _assert_same_values(graph, split, args)


def test_a_loop_whose_batched_values_would_not_fit_is_left_whole(rng, monkeypatch):
    args = _rnn_args(rng)
    graph = graphc.trace(graphc.grad(_rnn), *args)
    monkeypatch.setattr(fission, "MAX_BATCHED_BYTES", 0)
    split, count = split_scans(graph)
    assert count == 0 and split is graph


def test_the_numpy_tier_runs_the_split_loops(rng):
    args = _rnn_args(rng)
    numpy_tier = graphc.value_and_grad(_rnn, argnums=(0, 1, 2, 3, 4), tiered="numpy")
    value, grads = numpy_tier(*args)
    graph = graphc.trace(graphc.value_and_grad(_rnn, argnums=(0, 1, 2, 3, 4)), *args)
    expected = evaluate(graph, *args)
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    for got, want in zip(grads, expected[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    (signature,) = numpy_tier.__graphc_transform__._signatures.values()
    assert "2 scan(s) split into a loop and batched steps" in signature.history[0]


@pytest.mark.parametrize("length", [0, 1])
def test_empty_and_single_step_loops(length, rng):
    args = rnn_arguments(rng, length)
    graph = graphc.trace(graphc.grad(_rnn, argnums=(0, 1, 4)), *args)
    split, _ = split_scans(graph)
    _assert_same_values(graph, split, args)
