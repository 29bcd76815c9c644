"""Value-and-gradient per call, graphc against hand-written code and peers, side by side in one run.

    python benchmarks/bench.py                 # all workloads, every peer that is installed
    python benchmarks/bench.py W1 W4 --reps 21 --pin

Each implementation is timed in batches sized to take about --batch-ms; the batches of all
implementations are interleaved, repeated --reps times, and the median per call is reported,
with the ratio to hand-written Numba. Peers that are not installed are skipped with a note.
Cold and warm start (a fresh process: import, trace, compile, first gradient; warm = same with
the disk cache filled) are measured with --startup.
"""
from __future__ import annotations

import os

# BLAS on one thread unless the caller says otherwise: on this 2-core machine a multi-threaded
# OpenBLAS made hand-written NumPy's W2 take 4-13 ms instead of 0.3 ms (threads fighting Numba's and
# JAX's), which would compare nothing. Set OPENBLAS_NUM_THREADS yourself to measure otherwise.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402
import hand  # noqa: E402
import workloads  # noqa: E402

import graphc  # noqa: E402

# Targets from the issues: (workload, implementation) -> [(reference implementation, highest ratio)].
TARGETS = {
    ("W1", "graphc"): [("hand Numba", 3.0)], ("W1", "graphc dispatcher"): [("hand Numba", 1.2)],
    ("W4", "graphc"): [("hand Numba", 1.5)], ("W2", "graphc"): [("hand NumPy", 1.1)],
    ("W3", "graphc"): [("jax", 1.0)],
}
# On one pinned core, issue 16 asks more of W3 (vector math in fused loops) and of W2.
TARGETS_ONE_CORE = {("W3", "graphc"): [("jax", 0.8)], ("W2", "graphc"): [("hand NumPy", 1.1), ("jax", 1.0)]}
# W1 also: at least 20x faster than jax.jit, i.e. jax / graphc >= 20.
SPEEDUPS = {("W1", "graphc"): ("jax", 20.0)}


def graphc_impls(name: str, args, argnums):
    fn = {"W1": lambda: workloads.w1(np, graphc.sigmoid), "W2": lambda: workloads.w2(np),
          "W3": lambda: workloads.w3(np), "W4": lambda: workloads.w4(np)}[name]()
    vg = graphc.value_and_grad(fn, argnums=argnums)
    vg(*args)
    dispatcher = vg.lower(*args).dispatcher
    return {"graphc": lambda: vg(*args), "graphc dispatcher": lambda: dispatcher(*args)}


def per_call_seconds(fn, batch_ms: float) -> tuple[int, float]:
    """How many calls fill one batch, found by doubling."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= batch_ms / 1e3 or n >= 1 << 22:
            return n, elapsed / n
        n *= 2


def measure(impls: dict, reps: int, batch_ms: float) -> dict:
    sizes = {label: per_call_seconds(fn, batch_ms)[0] for label, fn in impls.items()}
    samples = {label: [] for label in impls}
    for _ in range(reps):
        for label, fn in impls.items():
            n = sizes[label]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[label].append((time.perf_counter() - start) / n)
    return {label: statistics.median(s) for label, s in samples.items()}


def check_agreement(name, impls_results):
    """Every implementation must compute the same value (guards against benchmarking a wrong answer)."""
    values = {label: float(np.asarray(r[0])) for label, r in impls_results.items()}
    reference = values["hand Numba"]
    for label, v in values.items():
        if not np.isclose(v, reference, rtol=1e-6):
            raise SystemExit(f"{name}: {label} computed {v}, hand-written Numba {reference}")


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:10.3f} us"
    return f"{seconds * 1e3:10.3f} ms"


def run_workload(name: str, reps: int, batch_ms: float, wanted_peers) -> list[str]:
    args, argnums = workloads.inputs(name)
    impls = {"hand Numba": lambda: hand.HAND[name]["numba"](*args),
             "hand NumPy": lambda: hand.HAND[name]["numpy"](*args)}
    impls.update(graphc_impls(name, args, argnums))
    notes = []
    for peer in wanted_peers:
        try:
            impls[peer] = peers.make(peer, name, args, argnums)
        except peers.Unavailable as why:
            notes.append(f"  ({peer}: skipped, {why})")
    check_agreement(name, {label: fn() for label, fn in impls.items()})
    medians = measure(impls, reps, batch_ms)
    base = medians["hand Numba"]
    lines = [f"{name}  (median of {reps}, per call; ratio = time / hand-written Numba)"]
    for label, t in sorted(medians.items(), key=lambda kv: kv[1]):
        verdicts = []
        for ref, limit in TARGETS.get((name, label), ()):
            if ref in medians:
                ratio = t / medians[ref]
                verdicts.append(f"{ratio:.2f}x {ref} (target <= {limit}x: {'met' if ratio <= limit else 'MISSED'})")
        if (name, label) in SPEEDUPS:
            ref, least = SPEEDUPS[(name, label)]
            if ref in medians:
                speedup = medians[ref] / t
                verdicts.append(f"{speedup:.0f}x faster than {ref} (target >= {least}x: "
                                f"{'met' if speedup >= least else 'MISSED'})")
        lines.append(f"  {label:<22}{fmt_time(t)}  {t / base:8.2f}x  " + "; ".join(verdicts))
    return lines + notes


STARTUP_SCRIPT = """
import time; start = time.perf_counter()
import numpy as np, graphc, sys
sys.path.insert(0, {bench_dir!r})
import workloads
name = {name!r}
args, argnums = workloads.inputs(name)
fn = {{"W1": lambda: workloads.w1(np, graphc.sigmoid), "W2": lambda: workloads.w2(np)}}[name]()
graphc.value_and_grad(fn, argnums=argnums)(*args)
print(time.perf_counter() - start)
"""


def startup(name: str) -> list[str]:
    """Cold start (empty disk cache) and warm start (cache filled), each a fresh process."""
    script = STARTUP_SCRIPT.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), name=name)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache)
        times = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return [f"{name} startup: cold {times[0]:.2f} s, warm {statistics.median(times[1:]):.2f} s "
            "(import + trace + compile or load + first value_and_grad, in-process)"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4"])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--batch-ms", type=float, default=20.0)
    parser.add_argument("--peers", default="jax,autograd,torch,pytensor",
                        help="comma-separated peers to include, '' for none")
    parser.add_argument("--pin", action="store_true", help="pin this process to one CPU")
    parser.add_argument("--startup", action="store_true", help="also measure cold and warm start")
    opts = parser.parse_args(argv)
    if opts.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        TARGETS.update(TARGETS_ONE_CORE)
    import numba

    print(f"graphc {graphc.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus{' (pinned to one)' if opts.pin else ''}, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, {time.strftime('%Y-%m-%d')}")
    for name in opts.workloads:
        print("\n".join(run_workload(name, opts.reps, opts.batch_ms, [p for p in opts.peers.split(",") if p])))
    if opts.startup:
        for name in ("W1", "W2"):
            print("\n".join(startup(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
