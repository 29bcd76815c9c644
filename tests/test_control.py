"""Loops and branches as graph nodes: scan, fori_loop, while_loop, cond.

Each construct is checked against its unrolled Python loop and against central finite differences,
through the reference evaluator (fast); a few session-scoped compiled functions check that the Numba
loops agree with it. Errors name the user's line.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.control import ControlFlowError
from graphc.evaluate import evaluate
from tests.conftest import run_reference

from programs import D, H, rnn_arguments, rnn_scan, rnn_unrolled


def central_gradient(f, args, argnum, eps=1e-6):
    """Central differences of scalar ``f`` with respect to ``args[argnum]`` (an array or a float)."""
    x = np.asarray(args[argnum], dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        hi = f(*args[:argnum], plus if x.shape else float(plus), *args[argnum + 1:])
        lo = f(*args[:argnum], minus if x.shape else float(minus), *args[argnum + 1:])
        grad[index] = (hi - lo) / (2 * eps)
    return grad


def reference_value(f, *args):
    return run_reference(f, *args)


# ---- the RNN of the issue: scan against the unrolled loop -------------------------------------------
@pytest.fixture
def rnn_args(rng):
    return rnn_arguments(rng)


def test_scan_matches_the_unrolled_loop_in_value_and_every_gradient(rnn_args):
    nums = (0, 1, 2, 3, 4)
    value, grads = run_reference(graphc.value_and_grad(rnn_scan, argnums=nums), *rnn_args)
    value_u, grads_u = run_reference(graphc.value_and_grad(rnn_unrolled, argnums=nums), *rnn_args)
    np.testing.assert_allclose(value, value_u, rtol=1e-13)
    for g, gu in zip(grads, grads_u):
        np.testing.assert_allclose(g, gu, rtol=1e-12, atol=1e-13)
    for i in nums:
        np.testing.assert_allclose(grads[i], central_gradient(rnn_unrolled, rnn_args, i), rtol=1e-6, atol=1e-8)


def test_the_scan_stays_one_node_and_the_optimized_graph_does_not_grow_with_length(rng):
    W, U, b, h0 = (rng.normal(size=s) for s in ((H, H), (H, D), (H,), (H,)))
    vg = graphc.value_and_grad(rnn_scan, argnums=(0, 1))
    sizes = set()
    for T in (3, 50, 5000):  # 5000: the cotangent of sum(ys) is too big to fold, a broadcast instead
        traced = graphc.trace(vg, W, U, b, h0, np.zeros((T, D)))
        assert sum(traced[n]["op"] == "scan" for n in traced.nx) == 2  # forward and reverse
        optimized, _ = graphc.passes.run_pipeline(traced)
        sizes.add((len(traced), len(optimized)))
    assert len(sizes) == 1


def test_reverse_scan_walks_xs_from_the_end_and_keeps_ys_aligned():
    xs = np.arange(1.0, 5.0)
    carry, ys = graphc.scan(lambda c, x: (c * 10 + x, c), 0.0, xs, reverse=True)
    assert carry == 4321.0
    np.testing.assert_array_equal(ys, [432.0, 43.0, 4.0, 0.0])
    f = lambda a: graphc.scan(lambda c, x: (np.sin(c * a + x), c * c), 0.3, xs, reverse=True)[1].sum()

    def unrolled(a):
        c, ys = 0.3, [None] * 4
        for t in reversed(range(4)):
            ys[t] = c * c
            c = np.sin(c * a + xs[t])
        return sum(ys)

    assert reference_value(f, 0.7) == pytest.approx(unrolled(0.7), rel=1e-14)
    np.testing.assert_allclose(run_reference(graphc.grad(f), 0.7), central_gradient(unrolled, (0.7,), 0), rtol=1e-6)


def test_pytree_carries_and_xs_and_a_loop_without_xs():
    def f(p, seq):
        def step(carry, x):
            (pos, vel), count = carry["state"], carry["n"]
            vel = vel + p["k"] * x["force"] - 0.1 * pos
            return {"state": (pos + vel, vel), "n": count + 1}, {"pos": pos, "both": (pos, vel)}

        out, ys = graphc.scan(step, {"state": (p["x0"], 0.0), "n": 0}, {"force": seq})
        return out["state"][0] + np.sum(ys["both"][1]) + out["n"]

    def unrolled(p, seq):
        pos, vel, total = p["x0"], 0.0, 0.0
        for x in seq:
            vel = vel + p["k"] * x - 0.1 * pos
            pos, total = pos + vel, total + vel
        return pos + total + len(seq)

    p = {"k": 0.5, "x0": 1.5}
    seq = np.array([0.1, -0.4, 0.3, 0.2])
    assert reference_value(f, p, seq) == pytest.approx(unrolled(p, seq), rel=1e-14)
    g = run_reference(graphc.grad(f), p, seq)
    gu = run_reference(graphc.grad(unrolled), p, seq)
    assert g.keys() == {"k", "x0"}
    for key in g:
        assert g[key] == pytest.approx(gu[key], rel=1e-13)
    carry, ys = graphc.scan(lambda c, _: (c * 2.0, None), 1.0, None, length=5)
    assert carry == 32.0 and ys is None


def test_nested_scan_and_cond_inside_scan(rng):
    W = rng.normal(size=(3, 3)) * 0.5
    grid = rng.normal(size=(4, 2, 3))

    def f(W, grid):
        def row(total, cells):
            inner, ys = graphc.scan(lambda h, x: (np.tanh(W @ h + x), np.sum(h)), np.zeros(3), cells)
            branch = graphc.cond(np.sum(inner) > 0, lambda v: v * 2.0, lambda v: np.sin(v), inner)
            return total + np.sum(branch) + np.sum(ys), np.sum(inner)

        total, per_row = graphc.scan(row, 0.0, grid)
        return total + np.sum(per_row ** 2)

    def unrolled(W, grid):
        total, per_row = 0.0, []
        for cells in grid:
            h, ys = np.zeros(3), 0.0
            for x in cells:
                ys, h = ys + np.sum(h), np.tanh(W @ h + x)
            branch = h * 2.0 if np.sum(h) > 0 else np.sin(h)
            total = total + np.sum(branch) + ys
            per_row.append(np.sum(h))
        return total + np.sum(np.array(per_row) ** 2)

    assert reference_value(f, W, grid) == pytest.approx(unrolled(W, grid), rel=1e-13)
    for i in (0, 1):
        g = run_reference(graphc.grad(f, argnums=i), W, grid)
        np.testing.assert_allclose(g, central_gradient(unrolled, (W, grid), i), rtol=1e-6, atol=1e-8)


def test_second_order_through_a_scan():
    xs = np.arange(4.0)
    s = lambda x: (lambda c, ys: c + np.sum(ys))(*graphc.scan(lambda c, t: (np.sin(c * x) + t, c * c), 0.5, xs))

    def unrolled(x):
        c, total = 0.5, 0.0
        for t in xs:
            total, c = total + c * c, np.sin(c * x) + t
        return c + total

    expected = run_reference(graphc.grad(graphc.grad(unrolled)), 0.7)
    assert run_reference(graphc.grad(graphc.grad(s)), 0.7) == pytest.approx(expected, rel=1e-12)
    assert run_reference(graphc.hessian(s), 0.7) == pytest.approx(expected, rel=1e-12)
    fd = central_gradient(lambda x: run_reference(graphc.grad(unrolled), x), (0.7,), 0)
    assert expected == pytest.approx(float(fd), rel=1e-6)


# ---- fori_loop, while_loop, cond ----------------------------------------------------------------------
def horner_unrolled(x, n=5):
    v = 1.0
    for i in range(n):
        v = v * x + i
    return v


def test_fori_loop_with_python_and_traced_bounds():
    static = lambda x: graphc.fori_loop(0, 5, lambda i, v: v * x + i, 1.0)
    traced = lambda x, n: graphc.fori_loop(0, n, lambda i, v: v * x + i, 1.0)
    assert reference_value(static, 1.3) == pytest.approx(horner_unrolled(1.3), rel=1e-15)
    assert reference_value(traced, 1.3, 5) == pytest.approx(horner_unrolled(1.3), rel=1e-15)
    expected = central_gradient(horner_unrolled, (1.3,), 0)
    assert run_reference(graphc.grad(static), 1.3) == pytest.approx(float(expected), rel=1e-8)
    assert run_reference(graphc.grad(traced), 1.3, 5) == pytest.approx(float(expected), rel=1e-8)
    graph = graphc.trace(static, 1.3)
    assert [graph[n]["op"] for n in graph.nx].count("scan") == 1
    assert [graphc.trace(traced, 1.3, 5)[n]["op"] for n in graphc.trace(traced, 1.3, 5).nx].count("while_loop") == 1


def newton_sqrt(a):
    """sqrt(a) by Newton's iteration until the residual is below 1e-15 relative: a data-dependent trip count."""
    return graphc.while_loop(lambda x: np.abs(x * x - a) > 1e-15 * a, lambda x: 0.5 * (x + a / x), a)


@pytest.mark.parametrize("a", [2.0, 1e-3, 12345.0])
def test_while_loop_newton_sqrt_value_and_reverse_gradient_against_the_closed_form(a):
    value, grad = run_reference(graphc.value_and_grad(newton_sqrt), a)
    assert abs(value - np.sqrt(a)) <= 1e-10 * np.sqrt(a)
    assert abs(grad - 0.5 / np.sqrt(a)) <= 1e-10 * (0.5 / np.sqrt(a))


def test_while_loop_reads_closed_over_weights_and_pytree_carries():
    def f(w, x0):
        def body(c):
            x, k = c
            return x * w + 1.0, k + 1
        x, k = graphc.while_loop(lambda c: c[0] < 50.0, body, (x0, 0))
        return x * k

    def unrolled(w, x0):
        x, k = x0, 0
        while x < 50.0:
            x, k = x * w + 1.0, k + 1
        return x * k

    assert reference_value(f, 1.7, 0.5) == pytest.approx(unrolled(1.7, 0.5), rel=1e-15)
    for i in (0, 1):
        g = run_reference(graphc.grad(f, argnums=i), 1.7, 0.5)
        assert g == pytest.approx(float(central_gradient(unrolled, (1.7, 0.5), i)), rel=1e-6)


def test_cond_runs_and_differentiates_the_chosen_branch_only():
    f = lambda x, y: graphc.cond(x > 0, lambda a, b: a * b * x, lambda a, b: np.sin(b) - a, x, y)
    vg = graphc.value_and_grad(f, argnums=(0, 1))
    assert run_reference(vg, 2.0, 3.0) == (12.0, (12.0, 4.0))
    value, (gx, gy) = run_reference(vg, -2.0, 3.0)
    assert (value, gx, gy) == (np.sin(3.0) + 2.0, -1.0, np.cos(3.0))
    # the branch not taken may divide by zero: it never runs
    safe = lambda x: graphc.cond(x == 0, lambda v: v * 0.0, lambda v: 1.0 / v, x)
    assert graphc.jit(safe)(0.0) == 0.0 and graphc.grad(safe)(0.0) == 0.0


# ---- compiled: the Numba loops agree with the reference -----------------------------------------------
@pytest.fixture(scope="session")
def compiled_rnn():
    return graphc.value_and_grad(rnn_scan, argnums=(0, 1, 2, 3, 4))


def test_compiled_scan_equals_the_reference_and_the_unrolled_loop(compiled_rnn, rnn_args):
    value, grads = compiled_rnn(*rnn_args)
    value_u, grads_u = run_reference(graphc.value_and_grad(rnn_unrolled, argnums=(0, 1, 2, 3, 4)), *rnn_args)
    assert value == pytest.approx(value_u, rel=1e-12)
    for g, gu in zip(grads, grads_u):
        assert g.shape == gu.shape and g.dtype == gu.dtype
        np.testing.assert_allclose(g, gu, rtol=1e-12, atol=1e-13)
    low = compiled_rnn.lower(*rnn_args)
    # one loop; the stacked outputs are allocated once, T read from xs (argument 4)
    assert "for s" in low.source and low.source.count("np.empty((v4.shape[0],)") >= 1


def test_a_compiled_scan_pickles_as_its_optimized_graph(compiled_rnn, rnn_args):
    import pickle

    expected = compiled_rnn(*rnn_args)
    restored = pickle.loads(pickle.dumps(compiled_rnn))
    value, grads = restored(*rnn_args)
    assert value == expected[0]
    for g, e in zip(grads, expected[1]):
        np.testing.assert_array_equal(g, e)


def test_compiled_while_cond_and_traced_fori_loop():
    vg = graphc.value_and_grad(newton_sqrt)
    value, grad = vg(2.0)
    assert abs(value - np.sqrt(2.0)) < 1e-14 and abs(grad - 0.5 / np.sqrt(2.0)) < 1e-12
    mixed = graphc.value_and_grad(lambda x, n: graphc.cond(
        x > 1.0, lambda v: graphc.fori_loop(0, n, lambda i, u: u * v, 1.0), lambda v: -v, x))
    for x, n in ((1.5, 3), (0.5, 3), (1.2, 0)):
        expected = run_reference(mixed, x, n)
        got = mixed(x, n)
        assert got[0] == pytest.approx(expected[0], rel=1e-14) and got[1] == pytest.approx(expected[1], rel=1e-14)


def test_compiled_zero_length_scan_returns_the_initial_carry_and_empty_ys():
    f = graphc.jit(lambda c, xs: graphc.scan(lambda c, x: (c + x, c * x), c, xs))
    carry, ys = f(np.ones(2), np.zeros((0, 2)))
    np.testing.assert_array_equal(carry, np.ones(2))
    assert ys.shape == (0, 2)


# ---- errors -------------------------------------------------------------------------------------------
def test_a_carry_that_changes_shape_or_dtype_names_the_users_line():
    with pytest.raises(ControlFlowError, match=r"carry 0 changes from f64\[3\] to f64\[1,3\].*test_control.py:\d+"):
        graphc.jit(lambda x: graphc.scan(lambda c, t: (c[None], t), x, np.ones(2)))(np.ones(3))
    with pytest.raises(ControlFlowError, match=r"carry 0 changes from i64\[\] to f64\[\]"):
        graphc.fori_loop(0, 3, lambda i, v: v * 0.5, 1)
    with pytest.raises(ControlFlowError, match="structure"):
        graphc.while_loop(lambda c: c[0] < 3, lambda c: c[0] + 1, (0, 1))
    assert issubclass(ControlFlowError, graphc.GraphcError)


def test_malformed_bodies_and_arguments_are_clear_errors():
    with pytest.raises(ControlFlowError, match="must return a pair"):
        graphc.scan(lambda c, x: c + x, 0.0, np.ones(3))
    with pytest.raises(ControlFlowError, match="different leading lengths"):
        graphc.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(ControlFlowError, match="needs xs or length"):
        graphc.scan(lambda c, x: (c, x), 0.0)
    with pytest.raises(ControlFlowError, match="length must be a non-negative Python int"):
        graphc.jit(lambda n: graphc.scan(lambda c, x: (c, x), 0.0, length=n))(3)
    with pytest.raises(ControlFlowError, match="different types for result 0.*f64\\[2\\].*f64\\[\\]"):
        graphc.cond(True, lambda x: x * np.ones(2), lambda x: x, 1.0)
    with pytest.raises(ControlFlowError, match="different structures"):
        graphc.cond(True, lambda x: (x, x), lambda x: x, 1.0)
    with pytest.raises(ControlFlowError, match="scalar predicate"):
        graphc.jit(lambda p: graphc.cond(p, lambda: 1.0, lambda: 2.0))(np.ones(2))
    with pytest.raises(ControlFlowError, match="one boolean scalar"):
        graphc.while_loop(lambda c: (c < 1, c < 2), lambda c: c + 1, 0)


# ---- the IR: listing, picture, verification, passes ---------------------------------------------------
def test_listing_nests_the_body_and_verify_checks_it(rnn_args):
    graph = graphc.trace(rnn_scan, *rnn_args)
    text = str(graph)
    assert "scan %0 %1 %2 %3 %4 num_consts=3 num_carry=1 length=7 reverse=False : (f64[5], f64[7])" in text
    assert "      body (" in text and "        %" in text and "      yield" in text
    assert "input outer%0 : f64[5,5]" in text
    graph.verify()
    scan = next(n for n in graph.nx if graph[n]["op"] == "scan")
    body = graph[scan]["attrs"]["body"]
    tanh = next(n for n in body.nx if body[n]["op"] == "tanh")
    body[tanh]["shape"] = (4,)
    with pytest.raises(graphc.errors.GraphcInternalError, match="body 0: %.*tanh should give f64\\[5\\]"):
        graph.verify()


def test_dot_draws_each_body_as_a_cluster(rnn_args):
    dot = graphc.trace(graphc.grad(rnn_scan), *rnn_args).to_dot()
    assert dot.count("subgraph cluster_n") == 2
    assert 'label="body of %' in dot and "lhead=cluster_n" in dot


def test_passes_leave_their_input_graph_unchanged_and_dce_drops_unused_outputs(rnn_args):
    graph = graphc.trace(graphc.value_and_grad(rnn_scan, argnums=(0, 4)), *rnn_args)
    before = str(graph)
    optimized, stats = graphc.passes.run_pipeline(graph)
    assert str(graph) == before
    scans = [n for n in optimized.topo_order() if optimized[n]["op"] == "scan"]
    assert len(scans) == 2
    # The gradient of W alone: the reverse scan keeps the carry's cotangent and W's running sum; the
    # sums for U and b and the stacked cotangents of xs are dropped, and so are the forward
    # residuals only they read.
    # (Loop fission would move the running sum out of the loop: left out here.)
    unsplit = [p for p in graphc.passes.DEFAULT_PIPELINE if p.__name__ != "split_loops"]
    vg_w = graphc.passes.run_pipeline(graphc.trace(graphc.grad(rnn_scan), *rnn_args), unsplit)[0]
    reverse = [n for n in vg_w.nx if vg_w[n]["op"] == "scan" and vg_w[n]["attrs"]["reverse"]][0]
    assert [tuple(r.shape) for r in vg_w[reverse]["results"]] == [(H,), (H, H)]
    leaves = graphc.tree_flatten(rnn_args)[0]
    expected = evaluate(graph, *leaves)
    for a, b in zip(evaluate(optimized, *leaves), expected):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_scan_outside_a_trace_runs_at_once():
    carry, ys = graphc.scan(lambda c, x: (c + x, c * x), 1.0, np.arange(3.0))
    assert carry == 4.0
    np.testing.assert_array_equal(ys, [0.0, 1.0, 4.0])
    assert graphc.while_loop(lambda c: c < 100, lambda c: c * 3, 1) == 243
    assert graphc.cond(False, lambda: 1.0, lambda: 2.0) == 2.0
