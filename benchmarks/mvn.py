"""multivariate_normal.logpdf in 100 dimensions (issue 17: per call no slower than jax.jit's): graphc's
compiled kernel against jax.jit(jax.scipy.stats.multivariate_normal.logpdf), interleaved in one process,
for the density of a batch of points and for its gradient with respect to the mean and covariance.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/mvn.py [--dims 100] [--points 10]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import scipy.stats

import graphc
from graphc.scipy.stats import multivariate_normal


def _median_ms(fn, args, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=100)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--reps", type=int, default=101)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    d = args.dims
    m = rng.normal(size=(d, d))
    cov, mean, x = m @ m.T / d + np.eye(d), rng.normal(size=d), rng.normal(size=(args.points, d))

    def density(x, mean, cov):
        return multivariate_normal.logpdf(x, mean, cov)

    def loss(mean, cov, x):
        return np.sum(multivariate_normal.logpdf(x, mean, cov))

    ours = {"logpdf": (graphc.jit(density, tiered=False), (x, mean, cov)),
            "grad (mean, cov)": (graphc.grad(loss, argnums=(0, 1), tiered=False), (mean, cov, x))}
    expected = scipy.stats.multivariate_normal.logpdf(x, mean, cov)
    np.testing.assert_allclose(ours["logpdf"][0](x, mean, cov), expected, rtol=1e-10)
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        from jax.scipy.stats import multivariate_normal as jmvn

        jax_density = jax.jit(lambda x, mean, cov: jmvn.logpdf(x, mean, cov))
        jax_grad = jax.jit(jax.grad(lambda mean, cov, x: jax.numpy.sum(jmvn.logpdf(x, mean, cov)), argnums=(0, 1)))
        theirs = {"logpdf": (lambda *a: jax.block_until_ready(jax_density(*a)), (x, mean, cov)),
                  "grad (mean, cov)": (lambda *a: jax.block_until_ready(jax_grad(*a)), (mean, cov, x))}
    except ImportError:
        print("jax is not installed: graphc only")
        theirs = {}
    print(f"multivariate_normal.logpdf, {d} dimensions, {args.points} points; ms per call, medians of {args.reps}")
    for name, (fn, call) in ours.items():
        fn(*call)
        peer = theirs.get(name)
        if peer:
            peer[0](*peer[1])
        t_ours, t_peer = [], []
        for _ in range(args.reps):  # interleaved, so load on the machine falls on both alike
            t_ours.append(_median_ms(fn, call, 1))
            if peer:
                t_peer.append(_median_ms(peer[0], peer[1], 1))
        line = f"  {name:>18}: graphc {statistics.median(t_ours):7.3f}"
        if peer:
            ratio = statistics.median(t_ours) / statistics.median(t_peer)
            line += f"   jax.jit {statistics.median(t_peer):7.3f}   ratio {ratio:.2f} ({'met' if ratio <= 1 else 'MISSED'})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
