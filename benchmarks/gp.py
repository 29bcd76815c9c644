"""Gaussian-process negative log marginal likelihood (examples/gaussian_process.py: cholesky, solve,
slogdet on 200 points): value and gradient per call, graphc's kernel against jax.jit, interleaved in
one process (issue 15: graphc no slower), plus the hand-derived NumPy gradient for reference.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/gp.py [--points 200] [--reps 51]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from gaussian_process import by_hand, negative_log_likelihood  # noqa: E402

import graphc  # noqa: E402


def _jax_value_and_grad():
    import jax

    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def nll(log_params, x, y):
        length, signal, noise = jnp.exp(log_params[0]), jnp.exp(log_params[1]), jnp.exp(log_params[2])
        gaps = x[:, None] - x[None, :]
        K = signal * jnp.exp(-0.5 * gaps * gaps / (length * length)) + noise * jnp.eye(x.shape[0])
        L = jnp.linalg.cholesky(K)
        z = jnp.linalg.solve(L, y)
        _, logdet = jnp.linalg.slogdet(K)
        return 0.5 * jnp.dot(z, z) + 0.5 * logdet + 0.5 * x.shape[0] * jnp.log(2 * jnp.pi)

    compiled = jax.jit(jax.value_and_grad(nll))
    return lambda p, x, y: [np.asarray(v) for v in jax.block_until_ready(compiled(p, x, y))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--reps", type=int, default=51)
    args = parser.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 for one-core figures")
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3.0, 3.0, args.points))
    y = np.sin(2 * x) + 0.1 * rng.normal(size=args.points)
    params = np.log(np.array([0.8, 1.5, 0.05]))
    runners = {"graphc": graphc.value_and_grad(negative_log_likelihood, tiered=False),
               "by hand (NumPy)": lambda p, x, y: by_hand(p, x, y)}
    try:
        runners["jax.jit"] = _jax_value_and_grad()
    except ImportError:
        print("jax is not installed: graphc and the hand-derived NumPy only")
    results = {name: run(params, x, y) for name, run in runners.items()}  # compiles, and the values
    reference = results["by hand (NumPy)"]
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.reps):  # interleaved, so load on the machine falls on all alike
        for name, run in runners.items():
            start = time.perf_counter()
            run(params, x, y)
            times[name].append(time.perf_counter() - start)
    print(f"{args.points} points, value and gradient per call (median of {args.reps}):")
    for name in runners:
        value, gradient = results[name]
        error = np.max(np.abs(np.asarray(gradient) - reference[1])) / np.max(np.abs(reference[1]))
        print(f"  {name:>16}: {statistics.median(times[name]) * 1e3:8.3f} ms   value {float(value):.12f}   "
              f"gradient vs by hand {error:.1e}")
    if "jax.jit" in times:
        ratio = statistics.median(times["graphc"]) / statistics.median(times["jax.jit"])
        print(f"graphc / jax.jit = {ratio:.2f} (target <= 1: {'met' if ratio <= 1 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
