"""graphc.checkpoint: peak memory of the gradient of a 100-layer tanh chain on a 10^6-element vector,
each layer checkpointed against none (issue 14: at most half), with the same gradient.

Each variant runs in a fresh Python process: it builds the gradient for the tier (compiling is not
measured), resets the process's peak resident size (``/proc/self/clear_refs``), calls the gradient,
and reports the peak above the resident size before the call. The NumPy tier (what a first call runs)
frees each value after its last use, as the Numba kernel does.

    python benchmarks/checkpoint.py                       # 100 layers, 10^6 elements, NumPy tier
    python benchmarks/checkpoint.py --tier numba --layers 10

JAX is not measured: XLA keeps its buffers between calls, so the resident size does not show a call's
peak.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

SCRIPT = r'''
import sys, time
import numpy as np
tier, variant, layers, size, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

import graphc

def layer(x):  # a residual unit of three tanh, whose results the backward sweep of a plain gradient keeps
    return x + 0.1 * (np.tanh(x) * np.tanh(0.5 * x + 0.1) + np.tanh(0.25 * x - 0.2))

step = graphc.checkpoint(layer) if variant == "checkpoint" else layer

def loss(x):
    for _ in range(layers):
        x = step(x)
    return np.sum(x)

x = np.linspace(-1.0, 1.0, size)
gradient = graphc.grad(loss, tiered="numpy" if tier == "numpy" else False)
gradient(x)
peaks = []
for _ in range(reps):
    base = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak resident size starts again from here
    g = np.asarray(gradient(x))
    peaks.append(status("VmHWM") - base)
    del g
g = np.asarray(gradient(x))
print("RESULT", sorted(peaks)[len(peaks) // 2], float(np.sum(g)), float(g[size // 3]))
'''


def measure(tier: str, variant: str, layers: int, size: int, reps: int) -> tuple[int, float, float]:
    # A fixed mmap threshold: glibc otherwise raises it after the first large free, serves later arrays
    # from a heap it keeps resident, and the peak above the resident size would read too low.
    env = dict(os.environ, GRAPHC_CACHE_DIR=tempfile.mkdtemp(prefix="graphc-bench-"), GRAPHC_PROGRESS="0",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", XLA_FLAGS="--xla_cpu_multi_thread_eigen=false",
               MALLOC_MMAP_THRESHOLD_="131072")
    out = subprocess.run([sys.executable, "-c", SCRIPT, tier, variant, str(layers), str(size), str(reps)],
                         capture_output=True, text=True, env=env, check=True).stdout
    _, peak, total, element = [x for x in out.splitlines() if x.startswith("RESULT")][-1].split()
    return int(peak), float(total), float(element)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=100)
    parser.add_argument("--size", type=int, default=10**6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tier", choices=["numpy", "numba"], default="numpy",
                        help="numba compiles the kernels first (minutes, and many GiB, for 100 layers on 10^6)")
    args = parser.parse_args()
    array_mib = args.size * 8 / 2**20
    print(f"{args.layers} layers on {args.size} float64 ({array_mib:.1f} MiB an array), {args.tier} tier; peak "
          "memory of one gradient call above the resident size before it (median)")
    results = {}
    for variant in ("plain", "checkpoint"):
        peak, total, element = results[variant] = measure(args.tier, variant, args.layers, args.size, args.reps)
        print(f"{variant:>11}: {peak / 2**20:8.1f} MiB = {peak / 2**20 / array_mib:6.1f} arrays   "
              f"sum(grad) {total:.15g}")
    (plain, total, element), (ck, ck_total, ck_element) = results["plain"], results["checkpoint"]
    ratio = ck / plain
    same = abs(ck_total - total) <= 1e-12 * abs(total) and abs(ck_element - element) <= 1e-12 * abs(element)
    print(f"checkpoint / plain peak = {ratio:.2f} (target <= 0.5: {'met' if ratio <= 0.5 else 'MISSED'}); "
          f"same gradient (1e-12): {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
