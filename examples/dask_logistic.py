"""Logistic regression on 10 million rows x 20 features with Dask, never held in one process.

The data is drawn chunk by chunk with ``dask.array.random`` (a seeded generator: every pass over
it draws the same numbers), so each gradient evaluation regenerates the blocks on the workers and
no process ever holds more than a few blocks. SciPy's L-BFGS-B drives
``graphc.dask.value_and_grad``: each evaluation runs the compiled value-and-gradient on every
block and adds the block results up with Dask's tree reduction. A tqdm bar counts the evaluations.

    pip install -e ".[dask,examples]"
    python examples/dask_logistic.py                  # 10^7 rows on a local cluster of 2 workers
    python examples/dask_logistic.py --rows 200000    # quick (also --quick)
    python examples/dask_logistic.py --address tcp://scheduler:8786   # an existing cluster
"""
from __future__ import annotations

import argparse
import sys
import time
from types import SimpleNamespace

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from scipy.optimize import minimize
from tqdm import tqdm

import graphc
import graphc.dask

FEATURES = 20


def loss(theta, X, y):
    """Mean logistic loss; theta = 20 weights, then the intercept."""
    z = X @ theta[:FEATURES] + theta[FEATURES]
    return np.mean(np.logaddexp(0.0, z) - y * z)


def make_data(rows: int, chunk: int, seed: int = 0):
    """X ~ N(0, 1) and labels drawn from the true model, both lazy and chunked along rows."""
    true = np.linspace(-1.0, 1.0, FEATURES + 1)
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, FEATURES), chunks=(chunk, FEATURES))
    p = 1.0 / (1.0 + da.exp(-(X @ true[:FEATURES] + true[FEATURES])))
    y = (rng.random(rows, chunks=chunk) < p).astype(np.float64)
    return X, y, true


def fit(rows: int, chunk: int):
    X, y, true = make_data(rows, chunk)
    value_and_grad = graphc.dask.value_and_grad(loss, argnums=0, batch_argnums=(1, 2), reduction="mean")
    bar = tqdm(desc="L-BFGS evaluations", unit=" evaluations", file=sys.stderr)

    def objective(theta):
        value, grad = value_and_grad(theta, X, y)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.6f}")
        return value, grad

    started = time.perf_counter()
    result = minimize(objective, np.zeros(FEATURES + 1), jac=True, method="L-BFGS-B")
    bar.close()
    seconds = time.perf_counter() - started
    error = float(np.max(np.abs(result.x - true)))
    print(f"{rows} rows x {FEATURES} features in blocks of {chunk}: {result.nfev} evaluations, {seconds:.1f} s, "
          f"loss {result.fun:.6f}, |gradient| {np.max(np.abs(result.jac)):.2e}, converged: {result.success}")
    print(f"max |theta - theta_true| = {error:.4f}")
    return SimpleNamespace(success=bool(result.success), theta=result.x, weight_error=error, seconds=seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=250_000, help="rows per block")
    parser.add_argument("--workers", type=int, default=2, help="local cluster size (without --address)")
    parser.add_argument("--address", help="scheduler of an existing cluster")
    parser.add_argument("--quick", action="store_true", help="200,000 rows")
    args = parser.parse_args(argv)
    rows = 200_000 if args.quick else args.rows
    if args.address:
        client = Client(args.address, set_as_default=False)
        with client, dask.config.set(scheduler=client):
            return fit(rows, min(args.chunk, rows))
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client, dask.config.set(scheduler=client):
            return fit(rows, min(args.chunk, rows))


if __name__ == "__main__":
    main()
