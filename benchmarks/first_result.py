"""Time to the first result, graphc against jax.jit, each in a fresh Python process.

    python benchmarks/first_result.py                 # W1-W4, second shape, background modes
    python benchmarks/first_result.py --rnn 200       # also the RNN unrolled over 200 steps
    python benchmarks/first_result.py --reps 5 --only W1 W4

It also times ``import graphc`` against ``import numba`` alone (graphc loads Numba only to compile).

"First result" is the time from the start of the process's script (before ``import numpy``) to the
first value and gradient in hand: imports, tracing, optimization and whatever compiling it waits for.
For each workload (benchmarks/workloads.py) it runs, interleaved, ``--reps`` times each:

- graphc tiered (the default), empty disk cache: the NumPy tier answers;
- graphc tiered, warm disk cache (the cache filled by an earlier process that waited for its kernel);
- graphc with GRAPHC_TIERED=0 (waits for Numba), empty cache: what the first tier saves;
- jax.jit(value_and_grad), which has no disk cache here.

Then, in one process each: the first result for a second input shape of the same rank, against the
first shape's, and when it runs on the first shape's kernel (shape-generic code: no second compile);
a last minibatch of another size waiting for Numba; and how many NumPy-tier calls the caller makes per second while the kernel compiles in
a worker process, in a thread, or not at all (GRAPHC_BACKGROUND; Numba's compiler holds the GIL).
Medians are printed; the machine is shared, so compare ratios within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))

FIRST = r'''
import time
start = time.perf_counter()
import sys, json
sys.path.insert(0, {bench_dir!r})
import numpy as np
import workloads
args, argnums = workloads.inputs({name!r})
if {peer!r} == "jax":
    import jax
    jax.config.update("jax_enable_x64", True)
    fn = {{"W1": lambda: workloads.w1(jax.numpy, jax.nn.sigmoid)}}.get({name!r}, lambda: getattr(workloads, {name!r}.lower())(jax.numpy))()
    value, grads = jax.jit(jax.value_and_grad(fn, argnums=argnums))(*args)
    value = float(value)
else:
    import graphc
    fn = {{"W1": lambda: workloads.w1(np, graphc.sigmoid)}}.get({name!r}, lambda: getattr(workloads, {name!r}.lower())(np))()
    vg = graphc.value_and_grad(fn, argnums=argnums)
    value, grads = vg(*args)
first = time.perf_counter() - start
if {peer!r} == "graphc" and {wait!r}:
    vg.lower(*args)  # waits for the kernel, so that the disk cache is warm for the next process
print(json.dumps({{"first": first, "value": float(value)}}))
'''

RNN = r'''
import time
start = time.perf_counter()
import sys, json
import numpy as np
T = {steps}
rng = np.random.default_rng(0)
W, U, b = rng.normal(size=(16, 16)) * 0.3, rng.normal(size=(16, 8)) * 0.3, rng.normal(size=16) * 0.1
h0, xs = rng.normal(size=16), rng.normal(size=(T, 8))
args = (W, U, b, h0, xs)
def make(xp):
    def loss(W, U, b, h0, xs):
        h = h0
        for t in range(T):
            h = xp.tanh(W @ h + U @ xs[t] + b)
        return xp.sum(h)
    return loss
if {peer!r} == "jax":
    import jax
    jax.config.update("jax_enable_x64", True)
    vg = jax.jit(jax.value_and_grad(make(jax.numpy), argnums=(0, 1, 2, 3, 4)))
    call = lambda: [np.asarray(g) for g in vg(*args)[1]]
else:
    import graphc
    vg = graphc.value_and_grad(make(np), argnums=(0, 1, 2, 3, 4))
    call = lambda: vg(*args)
call()
first = time.perf_counter() - start
per_call = None
if {per_call!r}:
    if {peer!r} == "graphc":
        vg.lower(*args)  # waits for the background compile
    times = []
    for _ in range(21):
        t = time.perf_counter()
        for _ in range(20):
            call()
        times.append((time.perf_counter() - t) / 20)
    per_call = sorted(times)[10]
print(json.dumps({{"first": first, "per_call": per_call, "ready": time.perf_counter() - start}}))
'''

SECOND_SHAPE = r'''
import time
start = time.perf_counter()
import json, numpy as np, graphc
vg = graphc.value_and_grad(lambda x: np.sum(np.exp(x) * np.cos(x)) + np.sum(x) ** 2)
vg(np.linspace(0, 1, 10))
first = time.perf_counter() - start
vg.lower(np.linspace(0, 1, 10))  # the kernel for the first shape is compiled
from graphc.codegen import compile as C
def loads():  # kernels compiled or loaded from the disk cache in this process
    return C.STATS["compiled"] + C.STATS["disk_hits"]
before = loads()
t = time.perf_counter()
vg(np.linspace(0, 1, 11))
second = time.perf_counter() - t
vg.lower(np.linspace(0, 1, 11))  # waits for its background job: the first shape's kernel, reused
on_kernel = time.perf_counter() - t
compiles = loads() - before

# A last minibatch of another size: W2's MLP at 256 rows, then 200, waiting for Numba each time.
def mlp(W1, b1, W2, b2, X, Y):
    return 0.5 * np.mean((np.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)
rng = np.random.default_rng(0)
params = (rng.normal(size=(64, 128)) * 0.1, np.zeros(128), rng.normal(size=(128, 10)) * 0.1, np.zeros(10))
mlp_vg = graphc.value_and_grad(mlp, argnums=(0, 1, 2, 3), tiered=False)
t = time.perf_counter()
mlp_vg(*params, rng.normal(size=(256, 64)), rng.normal(size=(256, 10)))
mlp_first = time.perf_counter() - t
before = loads()
t = time.perf_counter()
mlp_vg(*params, rng.normal(size=(200, 64)), rng.normal(size=(200, 10)))
mlp_second = time.perf_counter() - t
print(json.dumps({"first": first, "second": second, "on_kernel": on_kernel, "compiles": compiles,
                  "mlp_first": mlp_first, "mlp_second": mlp_second,
                  "mlp_compiles": loads() - before}))
'''

THROUGHPUT = r'''
import time, json, numpy as np, graphc
rng = np.random.default_rng(0)
T = 30
W, U, b = rng.normal(size=(16, 16)) * 0.3, rng.normal(size=(16, 8)) * 0.3, rng.normal(size=16) * 0.1
args = (W, U, b, rng.normal(size=16), rng.normal(size=(T, 8)))
def loss(W, U, b, h0, xs):
    h = h0
    for t in range(T):
        h = np.tanh(W @ h + U @ xs[t] + b)
    return np.sum(h)
vg = graphc.value_and_grad(loss, argnums=(0, 1, 2, 3, 4), tiered={tiered!r})
vg(*args)
calls, start = 0, time.perf_counter()
while time.perf_counter() - start < {seconds}:
    vg(*args)
    calls += 1
print(json.dumps({{"calls_per_s": calls / (time.perf_counter() - start)}}))
'''


def run(script: str, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"a measured process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


IMPORT = r'''
import time
start = time.perf_counter()
import {module}
print('{{"first": %r}}' % (time.perf_counter() - start))
'''


def import_rows(reps: int) -> list[str]:
    times = {m: statistics.median(run(IMPORT.format(module=m), dict(os.environ))["first"] for _ in range(reps))
             for m in ("numpy", "networkx", "numba", "graphc")}
    return [f"import time (median of {reps} fresh processes): " + ", ".join(f"{m} {t * 1e3:.0f} ms" for m, t in
                                                                         times.items())
            + f"; graphc / numba {times['graphc'] / times['numba']:.2f}"]


def workload_rows(names: list, reps: int) -> list[str]:
    rows = ["| workload | graphc, empty cache | graphc, warm cache | graphc untiered, empty cache | jax.jit | "
            "graphc / jax (empty, warm) |", "|---|---|---|---|---|---|"]
    for name in names:
        times = {"empty": [], "warm": [], "untiered": [], "jax": []}
        for _ in range(reps):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_TIERED="1")
                times["empty"].append(run(FIRST.format(bench_dir=BENCH_DIR, name=name, peer="graphc", wait=True),
                                          env)["first"])
                times["warm"].append(run(FIRST.format(bench_dir=BENCH_DIR, name=name, peer="graphc", wait=False),
                                         env)["first"])
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_TIERED="0")
                times["untiered"].append(run(FIRST.format(bench_dir=BENCH_DIR, name=name, peer="graphc",
                                                          wait=False), env)["first"])
            times["jax"].append(run(FIRST.format(bench_dir=BENCH_DIR, name=name, peer="jax", wait=False),
                                    dict(os.environ))["first"])
        m = {k: statistics.median(v) for k, v in times.items()}
        rows.append(f"| {name} | {m['empty']:.3f} s | {m['warm']:.3f} s | {m['untiered']:.2f} s | {m['jax']:.3f} s | "
                    f"{m['empty'] / m['jax']:.2f}, {m['warm'] / m['jax']:.2f} |")
    return rows


def rnn_rows(steps: int, per_call: bool) -> list[str]:
    with tempfile.TemporaryDirectory() as cache:
        ours = run(RNN.format(steps=steps, peer="graphc", per_call=per_call),
                   dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_TIERED="1"))
    theirs = run(RNN.format(steps=steps, peer="jax", per_call=per_call), dict(os.environ))
    rows = [f"RNN unrolled over T={steps}: first result graphc {ours['first']:.2f} s, jax.jit {theirs['first']:.2f} s"]
    if per_call:
        rows.append(f"  per call once compiled: graphc {ours['per_call'] * 1e6:.1f} us (kernel ready after "
                    f"{ours['ready']:.1f} s), jax.jit {theirs['per_call'] * 1e6:.1f} us, ratio "
                    f"{ours['per_call'] / theirs['per_call']:.2f}")
    return rows


def second_shape_rows(reps: int) -> list[str]:
    results = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as cache:
            results.append(run(SECOND_SHAPE, dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_TIERED="1")))
    first = statistics.median(r["first"] for r in results)
    second = statistics.median(r["second"] for r in results)
    on_kernel = statistics.median(r["on_kernel"] for r in results)
    mlp_first = statistics.median(r["mlp_first"] for r in results)
    mlp_second = statistics.median(r["mlp_second"] for r in results)
    return [f"second input shape (W4's function, 10 then 11 elements): first result {first * 1e3:.1f} ms, "
            f"second shape {second * 1e3:.1f} ms ({second / first:.1%} of the first), on the kernel "
            f"{on_kernel * 1e3:.1f} ms after its first call; kernels compiled or loaded for it: "
            f"{max(r['compiles'] for r in results)}",
            f"a last minibatch (W2's MLP, 256 then 200 rows, GRAPHC_TIERED=0): first batch {mlp_first:.2f} s, "
            f"second size {mlp_second * 1e3:.1f} ms ({mlp_second / mlp_first:.1%}); kernels compiled or loaded "
            f"for the second size: {max(r['mlp_compiles'] for r in results)}"]


def throughput_rows(seconds: float) -> list[str]:
    rows = []
    for label, tiered, how in (("no compile (NumPy tier only)", "numpy", "process"),
                               ("kernel compiling in a worker process", True, "process"),
                               ("kernel compiling in a thread", True, "thread")):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_BACKGROUND=how)
            rate = run(THROUGHPUT.format(tiered=tiered, seconds=seconds), env)["calls_per_s"]
        rows.append(f"  {label}: {rate:.0f} NumPy-tier calls/s")
    return ["caller's throughput during the background compile (RNN T=30, first "
            f"{seconds:.0f} s):"] + rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=["W1", "W2", "W3", "W4"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rnn", type=int, nargs="*", default=[], help="RNN lengths to measure (e.g. 200)")
    parser.add_argument("--rnn-per-call", action="store_true", help="also wait for the RNN's kernel and time calls")
    parser.add_argument("--throughput-seconds", type=float, default=4.0)
    opts = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print("\n".join(import_rows(max(5, opts.reps))))
    print("\n".join(workload_rows(opts.only, opts.reps)))
    print("\n".join(second_shape_rows(opts.reps)))
    print("\n".join(throughput_rows(opts.throughput_seconds)))
    for steps in opts.rnn:
        print("\n".join(rnn_rows(steps, opts.rnn_per_call)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
