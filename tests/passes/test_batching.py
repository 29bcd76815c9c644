"""Batching rules, over the op table: a batched graph equals a Python loop over the examples, for every
choice of which operands vary over the batch."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate
from graphc.ops import REGISTRY
from graphc.passes.batching import batch_graph, can_batch

from op_cases import CASES

BATCH = 3
TRACEABLE = [name for name, op in REGISTRY.items() if not op.internal]
OP_CASES = [pytest.param(name, c, id=f"{name}-{c.id}") for name in TRACEABLE for c in CASES.get(name, [])]
#: Ops with no batching rule (an unpack reads its batched node's result). gather and scatter_add decline
#: indices of each example's own, and a recording while_loop one whose trip count varies: those are
#: batched by a scan over the examples.
NOT_BATCHED = {"unpack"}


def test_every_op_has_a_batching_rule_but_the_listed_ones():
    missing = {name for name in TRACEABLE if not can_batch(name)}
    assert missing - {"dim"} == NOT_BATCHED  # dim has no operands, so nothing of it is ever batched


def _patterns(count: int) -> list[tuple]:
    """Every operand batched, and each operand alone batched (the others shared by the batch)."""
    patterns = [(True,) * count]
    if count > 1:
        patterns += [tuple(i == k for i in range(count)) for k in range(count)]
    return patterns


@pytest.mark.parametrize("name, case", OP_CASES)
def test_batched_graph_equals_a_loop_over_examples(name, case, rng):
    args = case.inputs(name, rng)
    graph = graphc.trace(case.fn, *args)
    for batched in _patterns(len(args)):
        examples = [[case.inputs(name, rng)[i] if b else a for i, (a, b) in enumerate(zip(args, batched))]
                    for _ in range(BATCH)]
        stacked = [np.stack([e[i] for e in examples]) if b else a for i, (a, b) in enumerate(zip(args, batched))]
        new = batch_graph(graph, list(batched), BATCH)
        new.verify()
        (out,) = evaluate(new, *stacked)
        with np.errstate(all="ignore"):
            expected = np.stack([np.asarray(case.numpy(*e)) for e in examples])
        assert out.shape == expected.shape and out.dtype == expected.dtype, (batched, out.shape, expected.shape)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15, equal_nan=True,
                                   err_msg=f"batched operands {batched}")


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                                    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2))],
                         ids=str)
def test_matmul_batches_every_rank_combination(shapes, rng):
    a, b = (rng.normal(size=s) for s in shapes)
    graph = graphc.trace(lambda x, y: x @ y, a, b)
    for batched in itertools.product([False, True], repeat=2):
        if not any(batched):
            continue
        examples = [[rng.normal(size=s) if flag else v for s, flag, v in zip(shapes, batched, (a, b))]
                    for _ in range(BATCH)]
        stacked = [np.stack([e[i] for e in examples]) if flag else v
                   for i, (flag, v) in enumerate(zip(batched, (a, b)))]
        (out,) = evaluate(batch_graph(graph, list(batched), BATCH), *stacked)
        np.testing.assert_allclose(out, np.stack([x @ y for x, y in examples]), rtol=1e-13, atol=1e-15)


def _ops(graph) -> list:
    return [data["op"] for _, data in graph.nx.nodes(data=True)]


def test_loops_and_branches_batch_without_a_loop_over_examples(rng):
    W, H, XS = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(4, 3)), rng.normal(size=(4, 6, 3))

    def rnn(h, xs):
        return graphc.scan(lambda c, x: (np.tanh(W @ c + x), c * 2.0), h, xs)

    mapped = graphc.trace(graphc.vmap(rnn), H, XS)
    (scan,) = [n for n in mapped.nx if mapped[n]["op"] == "scan"]
    assert mapped[scan]["attrs"]["length"] == 6  # over the steps; the batch rides along inside
    for got, expected in zip(graphc.vmap(rnn, tiered="numpy")(H, XS), map(np.stack, zip(*map(rnn, H, XS)))):
        np.testing.assert_allclose(got, expected, rtol=1e-14)

    def halve_until_small(x):  # a trip count of each example's own: the loop runs until all are done
        return graphc.while_loop(lambda c: np.abs(c[0]) > 1.0, lambda c: (c[0] / 2.0, c[1] + 1), (x, 0))

    X = np.array([0.5, 3.0, -40.0, 1000.0])
    assert _ops(graphc.trace(graphc.vmap(halve_until_small), X)).count("while_loop") == 1
    for got, expected in zip(graphc.vmap(halve_until_small, tiered="numpy")(X),
                             map(np.stack, zip(*map(halve_until_small, X)))):
        np.testing.assert_array_equal(got, expected)

    def branch(p, x):
        return graphc.cond(p > 0, lambda a: np.sin(a) * 2.0, lambda a: a * a, x)

    P, X2 = np.array([1.0, -1.0, 2.0, -3.0]), rng.normal(size=(4, 2))
    assert {"cond", "scan"}.isdisjoint(_ops(graphc.trace(graphc.vmap(branch), P, X2)))  # a select of both
    np.testing.assert_allclose(graphc.vmap(branch, tiered="numpy")(P, X2), np.stack(list(map(branch, P, X2))))
    assert "scan" not in _ops(graphc.trace(graphc.vmap(branch, in_axes=(None, 0)), 1.0, X2))


def test_vmap_of_gradients_through_while_loops(rng):
    A = np.array([2.0, 9.0, 0.25, 3.0])

    def fixed_count(a):
        return graphc.while_loop(lambda c: c[1] < 4, lambda c: (np.sin(c[0]) * a, c[1] + 1), (a, 0))[0]

    np.testing.assert_allclose(graphc.vmap(graphc.grad(fixed_count), tiered="numpy")(A),
                               [graphc.grad(fixed_count)(a) for a in A], rtol=1e-14)

    def newton_sqrt(a):  # a trip count per example
        return graphc.while_loop(lambda c: np.abs(c * c - a) > 1e-12, lambda c: (c + a / c) / 2.0, a)

    with pytest.raises(graphc.mapping.BatchingError, match="differs from example to example.*test_batching.py"):
        graphc.vmap(graphc.grad(newton_sqrt))(A)
    np.testing.assert_allclose(graphc.grad(lambda A: np.sum(graphc.vmap(newton_sqrt)(A)))(A), 0.5 / np.sqrt(A),
                               rtol=1e-12)


def test_guarded_branches_and_loops_with_traced_indices_run_one_example_at_a_time():
    """Both branches of a batched cond run on every example, and a batched while_loop steps finished
    examples once more: a traced index that is out of bounds on the path an example does not take
    must not raise, so those rules decline and each example runs alone, as it would unbatched."""
    x = np.array([1.0, 2.0, 3.0])

    def safe(x, i):
        return graphc.cond(i < 3, lambda i: x[i], lambda i: -1.0, i)

    np.testing.assert_array_equal(graphc.vmap(safe, in_axes=(None, 0), tiered="numpy")(x, np.array([0, 3])),
                                  [1.0, -1.0])

    def walk(x, n, k):
        return graphc.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] + x[c[0] * k]), (0, 0.0))[1]

    np.testing.assert_array_equal(graphc.vmap(walk, in_axes=(None, 0, 0), tiered="numpy")(
        np.ones(4), np.array([4, 2]), np.array([1, 2])), [4.0, 2.0])


def test_guarded_branches_with_a_value_that_raises_run_one_example_at_a_time():
    # sqrtm of a matrix with a negative eigenvalue raises (ComplexResultError), as does a singular banded
    # solve: both are declared OpDef.raises, so a branch an example does not take never runs on it.
    import graphc.scipy.linalg as gl

    def root(a):
        return graphc.cond(a[0, 0] > 0, lambda m: gl.sqrtm(m), lambda m: m * 0.0, a)

    A = np.stack([np.eye(2) * 4.0, -np.eye(2)])
    np.testing.assert_allclose(graphc.vmap(root, tiered="numpy")(A), [np.eye(2) * 2.0, np.zeros((2, 2))])

    def banded(ab, b):
        return graphc.cond(ab[1, 0] != 0, lambda ab: gl.solve_banded((1, 1), ab, b), lambda ab: b, ab)

    bands = np.stack([np.array([[0.0, 1.0, 1.0], [2.0, 2.0, 2.0], [1.0, 1.0, 0.0]]), np.zeros((3, 3))])
    got = graphc.vmap(banded, in_axes=(0, None), tiered="numpy")(bands, np.ones(3))
    np.testing.assert_allclose(got, [gl.solve_banded((1, 1), bands[0], np.ones(3)), np.ones(3)], rtol=1e-14)


def test_a_negative_integer_predicate_is_true_everywhere():
    def f(p, x):
        return graphc.cond(p, lambda x: x + 1.0, lambda x: x - 1.0, x)

    assert graphc.jit(f, tiered="numpy")(-1, 0.0) == 1.0 == graphc.jit(f, tiered=False)(-1, 0.0)
    np.testing.assert_array_equal(graphc.vmap(f, tiered="numpy")(np.array([-1, 2, 0]), np.zeros(3)), [1.0, 1.0, -1.0])
