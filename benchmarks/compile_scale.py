"""Numba compile time per node of the unrolled RNN's value and gradient, and its time per call.

    python benchmarks/compile_scale.py                  # T = 10 50 200
    python benchmarks/compile_scale.py --lengths 10 50 100 200 --reps 3

``h = tanh(W @ h + U @ xs[t] + b)`` for t < T (H=16, D=8), loss ``sum(h_T)``, gradient with respect to all
five arguments, the loop unrolled by tracing (no scan). For each T, each repetition runs in a fresh
Python process with an empty compile cache (GRAPHC_CACHE_DIR a new folder, GRAPHC_TIERED=0) and
prints the optimized node count, the ``codegen + numba`` stage of ``lower()`` (generating the source
and Numba's compile: the process's CPU time across it and its wall time), whether the kernel was
rolled into a loop over a table of sites (codegen/rolled.py), and the median per call of the
compiled kernel. Issue 13's target: at most 5 ms of compile per node at about 3,000 nodes, linear.
CPU time is the steadier figure on a shared machine. The Numba helpers in graphc/codegen are compiled
once per machine and kept on disk beside their modules; the first run after installing pays for them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r'''
import json, sys, time, timeit
import numpy as np
import graphc

T = int(sys.argv[1])
rng = np.random.default_rng(0)
W, U, b = rng.normal(size=(16, 16)) * 0.3, rng.normal(size=(16, 8)) * 0.3, rng.normal(size=16) * 0.1
h0, xs = rng.normal(size=16), rng.normal(size=(T, 8))


def loss(W, U, b, h0, xs):
    h = h0
    for t in range(T):
        h = np.tanh(W @ h + U @ xs[t] + b)
    return np.sum(h)


vg = graphc.value_and_grad(loss, argnums=(0, 1, 2, 3, 4), tiered=False)
cpu, wall = time.process_time(), time.perf_counter()
low = vg.lower(W, U, b, h0, xs)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
stage = next(s for s in low.stats if s.name.startswith("codegen"))
passes = wall - stage.seconds  # tracing and the optimization passes: Python on one thread, CPU = wall
vg(W, U, b, h0, xs)
n = max(100, 20000 // T)
per_call = sorted(timeit.timeit(lambda: vg(W, U, b, h0, xs), number=n) / n for _ in range(7))[3]
print(json.dumps(dict(nodes=len(low.graph), cpu=cpu - passes, wall=stage.seconds, per_call=per_call,
                      rolled="SITE_PARAM" in low.source)))
'''


def run(length: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache, GRAPHC_TIERED="0", GRAPHC_PROGRESS="0")
        out = subprocess.run([sys.executable, "-c", CHILD, str(length)], env=env, check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    print(f"{'T':>5} {'nodes':>6} {'compile cpu s':>14} {'wall s':>8} {'cpu ms/node':>12} {'rolled':>7} "
          f"{'per call us':>12}")
    for length in args.lengths:
        runs = [run(length) for _ in range(args.reps)]
        cpu = statistics.median(r["cpu"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        per_call = statistics.median(r["per_call"] for r in runs)
        nodes = runs[0]["nodes"]
        print(f"{length:>5} {nodes:>6} {cpu:>14.2f} {wall:>8.2f} {1000 * cpu / nodes:>12.2f} "
              f"{str(runs[0]['rolled']):>7} {1e6 * per_call:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
