"""The compiled path: signature cache, dispatcher calling convention, safety of generated source,
the progress line of a long compile."""
import io
import re
import sys
import time

import numba
import numpy as np
import pytest

import graphc
from graphc.codegen import compile as compile_module
from graphc.codegen import emit
from graphc.codegen.compile import STATS
from graphc.errors import GraphcInternalError
from graphc.evaluate import evaluate


def _assert_matches_reference(transformed, *args):
    """Compiled results equal the reference evaluator's on the unoptimized graph, leaf by leaf."""
    got = graphc.tree_flatten(transformed(*args))[0]
    expected = evaluate(graphc.trace(transformed, *args), *args)
    assert len(got) == len(expected) == 3
    for a, e in zip(got, expected):
        np.testing.assert_allclose(a, e, rtol=1e-12)


def _compiles():
    return STATS["compiled"] + STATS["disk_hits"] + STATS["in_memory"]


def test_same_signature_reuses_compiled_code_and_new_one_compiles():
    f = graphc.jit(lambda x: np.sum(np.exp(x) * 2.0))
    before = _compiles()
    f(np.ones(3))
    f(np.zeros(3))
    assert _compiles() - before == 1
    reused = STATS["reused"]
    f(np.ones(4))  # new shape of the same rank: the kernel reads its sizes from its argument
    assert _compiles() - before == 1 and STATS["reused"] == reused + 1
    f(np.ones((2, 2)))  # new rank
    assert _compiles() - before == 2
    out = f(np.ones(4, np.float32))  # new dtype, and float32 stays float32
    assert _compiles() - before == 3
    assert type(out) is np.float32


def test_scalar_types_key_the_fast_path():
    f = graphc.grad(lambda x: x * x)
    assert f(3.0) == 6.0
    assert f(np.float64(3.0)) == 6.0
    assert f(np.array(3.0)) == 6.0  # 0-d array: the kernel takes it as a scalar
    out = f(np.float32(3.0))
    assert out == 6.0 and type(out) is np.float32


def test_compiled_agrees_with_reference_evaluator_on_a_network():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(16, 5)), rng.normal(size=(16, 3))

    def loss(W1, b1, W2, b2):
        h = np.tanh(X @ W1 + b1)
        return 0.5 * np.mean((h @ W2 + b2 - Y) ** 2)

    args = (rng.normal(size=(5, 7)), rng.normal(size=7), rng.normal(size=(7, 3)), rng.normal(size=3))
    vg = graphc.value_and_grad(loss, argnums=(0, 1, 2, 3))
    value, grads = vg(*args)
    expected = evaluate(vg.lower(*args).graph, *args)
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    for g, e in zip(grads, expected[1:]):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15, strict=True)


def test_user_arrays_are_not_modified():
    x = np.arange(6.0).reshape(2, 3)
    saved = x.copy()
    g = graphc.grad(lambda x: np.sum(x[:, 1:] ** 2) + np.sum(x))(x)
    np.testing.assert_array_equal(x, saved)
    np.testing.assert_allclose(g, np.array([[1.0, 3, 5], [1, 9, 11]]))
    same = graphc.jit(lambda x: x)(x)
    assert same is not x and np.array_equal(same, x)


def test_dispatcher_runs_a_whole_sgd_loop_in_nopython_mode():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(32, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])

    def loss(w, X, y):
        return np.mean((X @ w - y) ** 2)

    w0 = np.zeros(4)
    step = graphc.grad(loss).lower(w0, X, y).dispatcher

    @numba.njit
    def train(w, X, y, lr, steps):
        for _ in range(steps):
            w = w - lr * step(w, X, y)
        return w

    w_njit = train(w0, X, y, 0.05, 200)
    w_py = w0
    g = graphc.grad(loss)
    for _ in range(200):
        w_py = w_py - 0.05 * g(w_py, X, y)
    np.testing.assert_allclose(w_njit, w_py, rtol=1e-12)
    np.testing.assert_allclose(w_njit, [1.0, -2.0, 0.5, 3.0], atol=1e-3)


def test_dispatcher_returns_the_output_structure():
    f = lambda x, y: (x + graphc.sigmoid(y)) / (graphc.sigmoid(x) + (x + y) ** 2)
    d = graphc.value_and_grad(f, argnums=(0, 1)).lower(3.0, -4.0).dispatcher
    value, (dx, dy) = d(3.0, -4.0)
    assert value == pytest.approx(1.5456448841066441, rel=1e-15)


def test_generated_names_map_to_node_ids():
    low = graphc.grad(lambda x, y: (x + y) * x).lower(1.0, 2.0)
    for node in low.graph.topo_order():
        op = low.graph[node]["op"]
        name = f"k{node}" if op == "constant" else f"v{node}"
        assert name in low.source


def test_constants_and_names_never_reach_the_source_as_text():
    secret = np.array([1234.5678, 8765.4321])
    weird = {"a'); import os; os.system('echo pwned'); ('": np.ones(2)}
    f = graphc.grad(lambda p: np.sum(p["a'); import os; os.system('echo pwned'); ('"] * secret) + 3.25)
    low = f.lower(weird)
    assert "1234" not in low.source and "3.25" not in low.source
    assert "pwned" not in low.source
    np.testing.assert_allclose(f(weird)["a'); import os; os.system('echo pwned'); ('"], secret)


def test_nan_and_division_by_zero_follow_numpy_not_python():
    f = graphc.jit(lambda x, y: x / y)
    assert f(1.0, 0.0) == np.inf
    assert np.isnan(f(0.0, 0.0))


def test_matmul_without_scipy_uses_numpy_blas_outside_nopython_mode(monkeypatch):
    # Numba's np.dot needs SciPy; graphc's only runtime dependencies are numba, numpy and networkx.
    from graphc.ops import linalg

    monkeypatch.setattr(linalg, "numba_has_blas", lambda: False)
    rng = np.random.default_rng(3)
    W, x, v = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=4)
    f = graphc.value_and_grad(lambda W, x: v @ np.tanh(W @ x), argnums=(0, 1))
    low = f.lower(W, x)
    assert "numba.objmode" in low.source and "np.dot" in low.source
    _assert_matches_reference(f, W, x)


def test_long_kernels_are_split_into_parts_with_the_same_results(monkeypatch):
    from graphc.codegen import emit

    monkeypatch.setattr(emit, "PART_SIZE", 4)

    def f(x, w):
        h = x
        for i in range(6):
            h = np.tanh(h * w + 0.1 * i)
        return np.sum(h * h) + np.sum(w)

    x, w = 0.3, 0.8  # scalars: straight-line code, one statement per node
    vg = graphc.value_and_grad(f, argnums=(0, 1))
    low = vg.lower(x, w)
    assert "def part0(" in low.source and "def part2(" in low.source
    _assert_matches_reference(vg, x, w)


def test_ops_run_as_numpy_ufuncs_are_spelled_as_numpy_names():
    # codegen calls np.<op name> from objmode for these ops on big arrays
    from graphc.ops import REGISTRY

    flagged = [op for op in REGISTRY.values() if op.numpy_is_faster]
    assert flagged
    for op in flagged:
        assert getattr(np, op.name) is op.reference


def test_matmul_of_slices_and_transposes_needs_no_numba_copy_warning():
    import warnings

    X, t, W = np.arange(15.0).reshape(5, 3), np.ones(4), np.ones((4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", numba.NumbaPerformanceWarning)
        np.testing.assert_array_equal(graphc.jit(lambda t, X: X @ t[:-1])(t, X), X.sum(axis=1))
        g = graphc.grad(lambda W, X: np.sum(X[:, ::2] @ W.T))(W, X)
    np.testing.assert_allclose(g, np.tile(X[:, ::2].sum(axis=0), (4, 1)))


# ---- the progress line of a compile longer than PROGRESS_AFTER -------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _slow_compiles(monkeypatch, error=None):
    """Every compile takes 0.2 s more (then raises ``error`` if given); progress shows from the start."""
    real = compile_module._compile

    def slow(dispatcher, signature):
        time.sleep(0.2)
        if error is not None:
            raise error
        real(dispatcher, signature)

    monkeypatch.setattr(compile_module, "_compile", slow)
    monkeypatch.setattr(compile_module, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(compile_module, "PROGRESS_EVERY", 0.02)


def _chain(x):
    for _ in range(4):
        x = np.sum(x @ x) * x
    return np.sum(x)


def test_slow_compile_redraws_one_progress_line_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(emit, "PART_SIZE", 2)
    low = graphc.jit(_chain).lower(np.ones((2, 2)))  # the graph and its parts, compiled once quietly
    parts = low.source.count("\ndef part")
    assert parts > 1
    _slow_compiles(monkeypatch)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    graphc.jit(_chain)(np.ones((3, 3)))  # a kernel split in parts has its sizes written in: a new compile
    out = terminal.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")  # one line, redrawn in place, then finished
    draws = out[:-1].split("\r")
    assert draws[0] == "" and len(draws) >= 4  # at least two redraws before the final state
    what = re.escape(f"{len(low.graph)} nodes in {parts} parts with Numba")
    for draw in draws[1:-1]:
        assert re.fullmatch(rf"graphc: compiling {what}\.\.\. \d+\.\d s", draw)
    assert re.fullmatch(rf"graphc: compiled {what} in \d+\.\d s *", draws[-1])
    assert len(draws[-1]) >= len(draws[-2])  # padded over the longer progress text


def test_slow_compile_prints_a_start_and_an_end_line_when_stderr_is_a_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    _slow_compiles(monkeypatch)
    assert graphc.jit(lambda x: x * 3.25 + 0.5)(2.0) == 7.0
    err = capsys.readouterr().err
    assert "\r" not in err
    start, end = err.splitlines()
    assert re.fullmatch(r"graphc: compiling \d+ nodes in 1 part with Numba\.\.\. \d+\.\d s", start)
    assert re.fullmatch(r"graphc: compiled \d+ nodes in 1 part with Numba in \d+\.\d s", end)


def test_failed_slow_compile_ends_its_progress_line_with_the_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    _slow_compiles(monkeypatch, error=RuntimeError("numba broke"))
    with pytest.raises(GraphcInternalError, match="numba broke"):
        graphc.jit(lambda x: x * 3.5 + 0.5)(2.0)
    assert re.fullmatch(r"graphc: compiling \d+ nodes in 1 part with Numba failed after \d+\.\d s",
                        capsys.readouterr().err.splitlines()[-1])


def test_graphc_progress_0_silences_the_progress_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_PROGRESS", "0")
    _slow_compiles(monkeypatch)
    assert graphc.jit(lambda x: x * 3.75 + 0.5)(2.0) == 8.0
    assert capsys.readouterr().err == ""


def test_no_progress_line_without_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, or a daemon that closed it
    _slow_compiles(monkeypatch)
    assert graphc.jit(lambda x: x * 4.25 + 0.5)(2.0) == 9.0


def test_fast_compile_prints_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))  # a real compile, well under PROGRESS_AFTER
    assert compile_module.PROGRESS_AFTER == 2.0
    assert graphc.jit(lambda x: x * 4.75 + 0.5)(2.0) == 10.0
    assert capsys.readouterr().err == ""
