"""Backpropagation through time with graphc.scan against jax.lax.scan: first result and per call.

    python benchmarks/scan_rnn.py                       # T = 10 100 1000 10000
    python benchmarks/scan_rnn.py --lengths 10 200 --reps 21

Value and gradient (with respect to W, U, b, h0 and xs) of ``h = tanh(W @ h + U @ x[t] + b)`` with
H=16, D=8, loss ``sum(h_T) + 0.5 * sum_t sum(h_t ** 2)``. It times, each in a fresh Python
process with an empty compile cache, the time from the process start to the first value and gradient
(imports included; the median of --first-reps processes per length and peer, run round-robin over
all lengths and both peers), then, per length, per-call medians of graphc and JAX interleaved in one
process.
It also prints the optimized graph's node count, which must be the same for every T, and checks the
targets of the control-flow issue. BLAS runs on one thread for both.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

H, D = 16, 8

FIRST_RESULT = r'''
import time, os, sys
start = time.perf_counter()
import numpy as np
T = int(sys.argv[2])
rng = np.random.default_rng(0)
W, U, b = rng.normal(size=(16, 16)) * 0.3, rng.normal(size=(16, 8)) * 0.3, rng.normal(size=16) * 0.1
h0, xs = rng.normal(size=16), rng.normal(size=(T, 8))
if sys.argv[1] == "graphc":
    import graphc
    def loss(W, U, b, h0, xs):
        def step(h, x):
            h = np.tanh(W @ h + U @ x + b)
            return h, np.sum(h * h)
        h, per_step = graphc.scan(step, h0, xs)
        return np.sum(h) + 0.5 * np.sum(per_step)
    vg = graphc.value_and_grad(loss, argnums=(0, 1, 2, 3, 4))
    value, grads = vg(W, U, b, h0, xs)
    first = time.perf_counter() - start
    nodes = len(vg.lower(W, U, b, h0, xs).graph)
else:
    import jax
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    def loss(W, U, b, h0, xs):
        def step(h, x):
            h = jnp.tanh(W @ h + U @ x + b)
            return h, jnp.sum(h * h)
        h, per_step = jax.lax.scan(step, h0, xs)
        return jnp.sum(h) + 0.5 * jnp.sum(per_step)
    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))
    value, grads = vg(W, U, b, h0, xs)
    value = float(value)
    first = time.perf_counter() - start
    nodes = 0
print("RESULT", first, float(value), nodes)
'''


def first_result(peer: str, T: int) -> tuple[float, float, int]:
    env = dict(os.environ, GRAPHC_CACHE_DIR=tempfile.mkdtemp(prefix="graphc-bench-"), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", GRAPHC_PROGRESS="0")
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    out = subprocess.run([sys.executable, "-c", FIRST_RESULT, peer, str(T)], capture_output=True, text=True, env=env,
                         check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("RESULT")][-1].split()
    return float(line[1]), float(line[2]), int(line[3])


def rnn_loss(xp, scan):
    """The loss above, written with ``xp`` (numpy or jax.numpy) and ``scan`` (graphc's or JAX's)."""
    def loss(W, U, b, h0, xs):
        def step(h, x):
            h = xp.tanh(W @ h + U @ x + b)
            return h, xp.sum(h * h)
        h, per_step = scan(step, h0, xs)
        return xp.sum(h) + 0.5 * xp.sum(per_step)
    return loss


def per_call(T: int, reps: int) -> dict:
    """Medians (seconds) of graphc and jax.jit, interleaved in this process, and the largest difference."""
    import numpy as np
    import graphc
    import jax

    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(H, H)) * 0.3, rng.normal(size=(H, D)) * 0.3, rng.normal(size=H) * 0.1,
            rng.normal(size=H), rng.normal(size=(T, D)))

    ours = graphc.value_and_grad(rnn_loss(np, graphc.scan), argnums=(0, 1, 2, 3, 4))
    theirs_jit = jax.jit(jax.value_and_grad(rnn_loss(jnp, jax.lax.scan), argnums=(0, 1, 2, 3, 4)))

    def theirs(*a):
        value, grads = theirs_jit(*a)
        return float(value), [np.asarray(g) for g in grads]  # NumPy out, as users need it

    ours.lower(*args)  # returns with the kernel compiled: the kernel, not the NumPy tier, is timed
    v1, g1 = ours(*args)
    v2, g2 = theirs(*args)
    diff = max(float(np.max(np.abs(a - b) / (1 + np.abs(b)))) for a, b in zip(g1, g2))
    times = {"graphc": [], "jax": []}
    number = max(1, int(2000 / T))
    for _ in range(reps):
        for name, fn in (("graphc", ours), ("jax", theirs)):
            start = time.perf_counter()
            for _ in range(number):
                fn(*args)
            times[name].append((time.perf_counter() - start) / number)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()} | {"max_rel_diff": diff,
                                                                           "value_diff": abs(v1 - v2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--first-reps", type=int, default=3,
                        help="fresh processes per peer and T for the first result (their median is reported)")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # First results in fresh processes, round-robin over T and the two peers: a slow minute of the
    # shared machine then slows every T alike instead of one T's block, which would show as growth in T.
    firsts = {(peer, T): [] for T in args.lengths for peer in ("graphc", "jax")}
    nodes = {}
    for _ in range(args.first_reps):
        for T in args.lengths:
            for peer in ("graphc", "jax"):
                seconds, _, count = first_result(peer, T)
                firsts[peer, T].append(seconds)
                if peer == "graphc":
                    nodes[T] = count
    rows = []
    print(f"{'T':>6} {'nodes':>6} {'first graphc':>13} {'first jax':>10} {'graphc/call':>12} {'jax/call':>10} "
          f"{'ratio':>6} {'max diff':>9}")
    for T in args.lengths:
        first_ours, first_jax = (statistics.median(firsts[peer, T]) for peer in ("graphc", "jax"))
        calls = per_call(T, args.reps)
        row = dict(T=T, nodes=nodes[T], first_graphc=first_ours, first_jax=first_jax,
                   first_graphc_all=firsts["graphc", T], **calls)
        rows.append(row)
        print(f"{T:>6} {nodes[T]:>6} {first_ours:>12.2f}s {first_jax:>9.2f}s {calls['graphc'] * 1e6:>10.1f}us "
              f"{calls['jax'] * 1e6:>8.1f}us {calls['graphc'] / calls['jax']:>6.2f} {calls['max_rel_diff']:>9.1e}",
              flush=True)
    firsts = [r["first_graphc"] for r in rows]
    checks = {
        "same optimized node count for every T": len({r["nodes"] for r in rows}) == 1,
        "first result within 1.5x across T": max(firsts) <= 1.5 * min(firsts),
        "first result at most jax.lax.scan's": all(r["first_graphc"] <= r["first_jax"] for r in rows),
        "per call at most jax.lax.scan's": all(r["graphc"] <= r["jax"] for r in rows),
        "gradients agree with JAX to 1e-10": all(r["max_rel_diff"] < 1e-10 for r in rows),
    }
    for name, ok in checks.items():
        print(f"{'met' if ok else 'NOT MET':>8}  {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "checks": checks}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
