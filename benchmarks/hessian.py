"""Hessian of ``f(x) = sum(sin(x) * roll(x, 1)) + sum(x**4)``: time to the first result, graphc against
jax.jit(jax.hessian), each in a fresh Python process with an empty compile cache (imports included),
and the optimized graph's node count, which must not grow with n (issue 14).

    python benchmarks/hessian.py                  # n = 48 and 200, median of 3 processes each
    python benchmarks/hessian.py --sizes 48 200 1000 --reps 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

SCRIPT = r'''
import time, sys
start = time.perf_counter()
import numpy as np
n = int(sys.argv[2])
x = np.linspace(-1.0, 1.0, n)
if sys.argv[1] == "graphc":
    import graphc
    f = lambda x: np.sum(np.sin(x) * np.roll(x, 1)) + np.sum(x ** 4)
    H = graphc.hessian(f)(x)
    first = time.perf_counter() - start
    graph, _ = graphc.passes.run_pipeline(graphc.trace(graphc.hessian(f), x))
    nodes = len(graph)
else:
    import jax
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    f = lambda x: jnp.sum(jnp.sin(x) * jnp.roll(x, 1)) + jnp.sum(x ** 4)
    H = np.asarray(jax.jit(jax.hessian(f))(x))
    first = time.perf_counter() - start
    nodes = 0
print("RESULT", first, float(np.sum(H)), nodes)
'''


def first_result(peer: str, n: int) -> tuple[float, float, int]:
    env = dict(os.environ, GRAPHC_CACHE_DIR=tempfile.mkdtemp(prefix="graphc-bench-"), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", GRAPHC_PROGRESS="0")
    out = subprocess.run([sys.executable, "-c", SCRIPT, peer, str(n)], capture_output=True, text=True, env=env,
                         check=True).stdout
    _, seconds, total, nodes = [x for x in out.splitlines() if x.startswith("RESULT")][-1].split()
    return float(seconds), float(total), int(nodes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 200])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"{'n':>6} {'nodes':>6} {'graphc':>9} {'jax.jit':>9} {'ratio':>6} {'sum(H) graphc - jax':>20}")
    rows = []
    for n in args.sizes:
        times = {"graphc": [], "jax": []}
        sums, nodes = {}, 0
        for _ in range(args.reps):  # interleaved: a slow minute slows both
            for peer in times:
                seconds, total, count = first_result(peer, n)
                times[peer].append(seconds)
                sums[peer] = total
                nodes = count or nodes
        ours, theirs = (statistics.median(times[p]) for p in ("graphc", "jax"))
        rows.append((n, nodes, ours, theirs))
        print(f"{n:>6} {nodes:>6} {ours:>8.2f}s {theirs:>8.2f}s {ours / theirs:>6.2f} "
              f"{sums['graphc'] - sums['jax']:>20.2e}", flush=True)
    print(f"{'met' if len({r[1] for r in rows}) == 1 else 'NOT MET':>8}  the same node count for every n")
    print(f"{'met' if all(r[2] <= 2 * r[3] for r in rows) else 'NOT MET':>8}  first result within 2x of jax.jit's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
