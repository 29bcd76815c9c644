"""The two tiers: the NumPy tier answers a new signature's first calls, the Numba kernel takes over.

The suite runs with GRAPHC_TIERED=0 (conftest.py); these tests ask for tiers explicitly. The op-table
agreement of both tiers is in tests/codegen/test_ops_compiled.py.
"""
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import graphc
from graphc.codegen import background
from graphc.codegen import compile as compile_module


def _loss(w, X, y):
    z = X @ w
    return np.mean(np.log1p(np.exp(-y * z))) + 0.01 * np.sum(w * w)


def _data(n=20, d=3):
    rng = np.random.default_rng(7)
    return rng.normal(size=d), rng.normal(size=(n, d)), np.sign(rng.normal(size=n))


def _signature(f):
    (signature,) = f.__graphc_transform__._signatures.values()
    return signature


def _filed_runner(f, args):
    transformed = f.__graphc_transform__
    return transformed._lookup(transformed._where(args, {})[0])


def _assert_identical(a, b):
    """Same structure, Python types, shapes and dtypes; values within 1e-12 relative."""
    leaves_a, tree_a = graphc.tree_flatten(a)
    leaves_b, tree_b = graphc.tree_flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        assert type(x) is type(y)
        assert np.shape(x) == np.shape(y) and np.result_type(x) == np.result_type(y)
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=0)


@pytest.mark.parametrize("how", ["process", "thread"])
def test_the_first_call_runs_numpy_and_later_calls_the_kernel(how, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHC_BACKGROUND", how)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))  # empty: the kernel must be compiled
    args = _data()
    # A loss of its own (a constant no other test uses): no kernel of an earlier test is reused.
    scale = {"process": 0.25, "thread": 0.375}[how]
    f = graphc.value_and_grad(lambda w, X, y: _loss(w, X, y) + scale * np.sum(w), tiered=True)
    first = f(*args)
    signature = _signature(f)
    assert signature.history[0].startswith("numpy: the first calls")
    signature.job.wait(timeout=600)
    assert signature.ready and signature.job.how == how
    assert signature.history[1].startswith(f"numba: every call since it was ready (compiled {'by a worker process' if how == 'process' else 'in a thread'}")
    assert _filed_runner(f, args) in f.__graphc_transform__._dispatcher_of  # the kernel's runner
    _assert_identical(f(*args), first)
    lowered = f.lower(*args)
    assert lowered.tiers == signature.history
    assert "tier numpy: the first calls" in lowered.stats_table()


def test_a_kernel_already_on_disk_is_loaded_without_a_worker(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    args = _data()
    lowered = graphc.grad(_loss, tiered=False).lower(*args)  # fills the disk cache
    # As in a new process: the module is not loaded here (else the job would reuse it from memory).
    sys.modules.pop(compile_module._module_name(lowered.kernel.key))
    f = graphc.grad(_loss, tiered=True)
    f(*args)
    signature = _signature(f)
    signature.job.wait(timeout=600)
    assert signature.job.how == "disk" and signature.job.process is None
    assert "loaded from the disk cache" in signature.history[-1]


def test_numpy_tier_only_never_compiles():
    from graphc.codegen.compile import STATS

    before = dict(STATS)
    f = graphc.grad(_loss, tiered="numpy")
    args = _data()
    numpy_result = f(*args)
    assert STATS == before and _signature(f).job is None
    _assert_identical(numpy_result, graphc.grad(_loss, tiered=False)(*args))


def test_untiered_waits_for_the_kernel(monkeypatch):
    monkeypatch.setenv("GRAPHC_TIERED", "1")
    f = graphc.jit(lambda x: np.sin(x) * 2.0, tiered=False)  # the keyword wins over the environment
    f(np.ones(4))
    assert _signature(f).history == ["numba: every call (compiled before the first)"]
    monkeypatch.setenv("GRAPHC_TIERED", "0")
    g = graphc.jit(lambda x: np.cos(x) * 2.0)
    g(np.ones(4))
    assert _signature(g).ready


@pytest.mark.parametrize("tiered", [True, False])
def test_float16_runs_on_the_numpy_tier_whatever_the_tiering(tiered):
    from graphc.codegen.compile import STATS
    from graphc.errors import NoKernelError

    x = np.linspace(0.0, 1.0, 5).astype(np.float16)
    before = dict(STATS)
    f = graphc.value_and_grad(lambda x: np.sum(np.sin(x) * 2.0 + x), tiered=tiered)
    value, gradient = f(x)
    assert STATS == before  # Numba has no float16: nothing is compiled, nothing fails
    assert value.dtype == gradient.dtype == np.float16
    np.testing.assert_array_equal(gradient, (np.cos(x) * 2.0 + 1.0).astype(np.float16))
    assert "Numba has no float16" in _signature(f).history[-1] and _signature(f).job is None
    with pytest.raises(NoKernelError, match="no float16 type, so this signature has no kernel"):
        f.lower(x)


def test_lower_waits_for_the_background_compile_and_switches():
    args = _data()
    f = graphc.grad(_loss, tiered=True)
    f(*args)
    lowered = f.lower(*args)  # returns with the kernel compiled, the background one or its own
    assert _signature(f).ready and lowered.tiers[-1].startswith("numba")
    assert _filed_runner(f, args) in f.__graphc_transform__._dispatcher_of


def test_lower_before_any_call_means_no_numpy_tier():
    args = _data()
    f = graphc.grad(_loss, tiered=True)
    f.lower(*args)
    f(*args)
    assert _signature(f).history == ["numba: every call (compiled before the first)"]
    assert _signature(f).job is None


def test_the_numpy_tier_refuses_what_the_kernel_refuses():
    f = graphc.jit(lambda x: x * 2.0, tiered="numpy")
    np.testing.assert_array_equal(f(np.ones(3)), np.full(3, 2.0))
    # Another shape, another dtype: new signatures, as with the kernel.
    np.testing.assert_array_equal(f(np.ones(4)), np.full(4, 2.0))
    assert f(np.ones(3, np.float32)).dtype == np.float32
    assert len(f.__graphc_transform__._signatures) == 3
    runner = _filed_runner(f, (np.ones(3),))
    with pytest.raises(graphc.errors.ArgumentShapeError, match="argument 0 must have shape"):
        runner(np.ones(5))
    with pytest.raises(TypeError, match="dtype int64"):
        runner(np.ones(3, np.int64))


def test_the_numpy_tier_never_hands_back_an_argument_or_a_constant():
    x = np.arange(3.0)
    out = graphc.jit(lambda x: x, tiered="numpy")(x)
    assert out is not x and not np.shares_memory(out, x)
    transposed = graphc.jit(lambda x: x.T, tiered="numpy")(np.ones((2, 3)))
    assert transposed.flags.c_contiguous and transposed.flags.owndata


def test_two_threads_on_a_new_signature_build_it_once(monkeypatch):
    started = []
    monkeypatch.setattr(background, "KernelJob", lambda *a, **k: started.append(a))
    f = graphc.jit(lambda x: np.tanh(x) + 1.0, tiered=True)
    barrier = threading.Barrier(4)
    results = []

    def call():
        barrier.wait()
        results.append(f(np.ones(8)))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and len(results) == 4


def test_a_function_still_on_the_numpy_tier_pickles(monkeypatch):
    monkeypatch.setattr(background, "KernelJob", lambda *a, **k: None)  # stays on the NumPy tier
    args = _data()
    f = graphc.value_and_grad(_loss, tiered=True)
    expected = f(*args)
    assert not _signature(f).ready
    g = pickle.loads(pickle.dumps(f))  # the other side runs the loop passes and compiles
    assert _signature(g).ready
    _assert_identical(g(*args), expected)


def test_bad_tier_settings_are_clear_errors(monkeypatch):
    with pytest.raises(graphc.GraphcError, match="tiered must be True, False or 'numpy'"):
        graphc.jit(np.sin, tiered="fast")
    monkeypatch.setenv("GRAPHC_TIERED", "sometimes")
    with pytest.raises(graphc.GraphcError, match="GRAPHC_TIERED must be 1, 0 or numpy"):
        graphc.jit(lambda x: x + 1.0)(1.0)


_LOSS_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, graphc
    from graphc.codegen import background

    def loss(w, x):
        h = x
        for k in range(12):  # enough nodes that Numba takes seconds
            h = np.tanh(w[k] * h + np.sin(h) * np.cos(w[k]))
        return np.sum(h * h)

    f = graphc.value_and_grad(loss)
    value, grad = f(np.linspace(0.1, 1.2, 12), np.linspace(-1.0, 1.0, 7))
""")
# Exits while the worker compiles: prints the worker's pid and staging folder first.
_EXIT_SCRIPT = _LOSS_SCRIPT + textwrap.dedent("""
    (job,) = background.running_jobs()
    while job.process is None:  # the worker is being started
        pass
    print(job.process.pid, job.staging, repr(value), flush=True)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except OSError:
        return False


def test_exiting_during_a_background_compile_is_clean(tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache), GRAPHC_TIERED="1", GRAPHC_BACKGROUND="process")
    done = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pid, staging, value = done.stdout.split()
    assert not _alive(int(pid))
    assert not os.path.exists(staging)
    leftovers = [p.name for p in cache.rglob("*") if ".tmp" in p.name or p.name.startswith(".staging")]
    assert leftovers == []
    # The cache is whole: a new process that waits for Numba loads or compiles, and agrees.
    env["GRAPHC_TIERED"] = "0"
    again = subprocess.run([sys.executable, "-c", _LOSS_SCRIPT + "print(repr(value))"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[-1] == value


def test_the_numpy_tier_runs_nested_loops_and_branches_like_the_kernel():
    def f(w, xs):
        def outer(h, x):
            def inner(c, k):
                return graphc.cond(k > 1.0, lambda c: c * w, lambda c: np.sin(c) + w, c), np.sum(c)
            h, inner_sums = graphc.scan(inner, h + x, np.arange(3.0))
            return h, np.sum(inner_sums)
        h, ys = graphc.scan(outer, np.zeros(2), xs)
        n = graphc.while_loop(lambda c: c[0] < 5.0, lambda c: (c[0] + 1.0, c[1] * 0.5), (0.0, np.sum(h)))
        return np.sum(ys) + n[1]

    args = (0.7, np.linspace(-1.0, 1.0, 10).reshape(5, 2))
    kernel = graphc.value_and_grad(f, argnums=(0, 1), tiered=False)(*args)
    _assert_identical(graphc.value_and_grad(f, argnums=(0, 1), tiered="numpy")(*args), kernel)


def _reverse_scan(W, h0, xs, ks):
    def step(carry, x):
        h, (n, total) = carry["h"], carry["acc"]
        row, k = x  # k is a row of a 1-d xs: a 0-d value at each step
        h = np.tanh(W.T @ h + row * k)  # W.T reads only what the body closes over: the same every step
        return {"h": h, "acc": (n + 1, total + np.sum(h))}, (h * k, n, np.sum(h))
    carry, (hs, counts, sums) = graphc.scan(step, {"h": h0, "acc": (0, 0.0)}, (xs, ks), reverse=True)
    return np.sum(carry["h"]) + carry["acc"][1] + np.sum(hs) + 0.5 * np.sum(sums) + np.sum(counts), hs


def test_the_numpy_tier_runs_reverse_scans_with_pytree_carries_like_the_kernel(ref):
    rng = np.random.default_rng(3)
    args = (rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6))
    value = lambda *a: _reverse_scan(*a)[0]
    for transform in (lambda f: graphc.jit(_reverse_scan, tiered=f),
                      lambda f: graphc.value_and_grad(value, argnums=(0, 1, 2, 3), tiered=f)):
        tier = transform("numpy")(*args)
        _assert_identical(tier, transform(False)(*args))
        reference = ref(transform(False), *args)  # the reference evaluator steps the loop itself
        for x, y in zip(graphc.tree_flatten(tier)[0], graphc.tree_flatten(reference)[0]):
            assert np.shape(x) == np.shape(y) and np.result_type(x) == np.result_type(y)
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=0)


def test_a_tier_body_computes_once_what_reads_only_the_enclosing_graph():
    from graphc.numpy_tier import build_body_binder

    rng = np.random.default_rng(4)
    args = (rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6))
    graph = graphc.trace(lambda *a: _reverse_scan(*a)[0], *args)
    (scan,) = [n for n in graph.nx if graph[n]["op"] == "scan"]
    body, num_consts = graph[scan]["attrs"]["body"], graph[scan]["attrs"]["num_consts"]
    source = build_body_binder(body, num_consts).source
    prelude, step = source.split("def run(")
    (transpose,) = [n for n in body.nx if body[n]["op"] == "transpose"]
    assert f"v{transpose} = " in prelude and f"v{transpose} = " not in step


def test_a_forked_child_leaves_the_parents_workers_alone():
    background._running.add("a job of the parent")
    try:
        pid = os.fork()
        if pid == 0:  # the child: exits at once with what it sees
            os._exit(len(background._running))
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        assert "a job of the parent" in background._running
    finally:
        background._running.discard("a job of the parent")


def test_background_compiles_take_turns(monkeypatch):
    running, most = [0], [0]
    lock = threading.Lock()

    def compile_graph(graph, examples, **_):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            threading.Event().wait(0.05)
            return graph, None
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(background, "compile_graph", compile_graph)
    monkeypatch.setenv("GRAPHC_BACKGROUND", "thread")
    jobs = [background.KernelJob(graphc.trace(lambda x: x + float(k), 1.0), [("scalar", "<f8", False)],
                                 lambda *a: None) for k in range(3 * background.MAX_CONCURRENT + 1)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.wait(timeout=60)
    assert most[0] == background.MAX_CONCURRENT
