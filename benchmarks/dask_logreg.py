"""Logistic-regression value and gradient over 10^7 x 20 float64 rows with graphc.dask: 1 vs 2 workers.

The rows are drawn chunk by chunk with ``dask.array.random`` on the workers (never materialized in
one process; each evaluation draws them again), and ``graphc.dask.value_and_grad`` runs the compiled
kernel on every block and tree-reduces the block results. For each cluster size: wall time per
evaluation (median of ``--repeat`` after one warm-up call that compiles and checks the loss), the
same for generating and summing the data alone (the floor), and the peak resident memory of the
client (which also runs the scheduler) and of each worker (``ru_maxrss`` via ``client.run``).

    python benchmarks/dask_logreg.py                 # 10^7 rows, blocks of 250,000
    python benchmarks/dask_logreg.py --rows 1000000  # smaller
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import dask
import numpy as np
from distributed import Client, LocalCluster

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
import dask_logistic  # noqa: E402  -- the example's loss and data, so both measure the same thing

import graphc.dask  # noqa: E402

GIB = 1 << 30


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(workers: int, rows: int, chunk: int, repeat: int) -> dict:
    X, y, true = dask_logistic.make_data(rows, chunk)
    theta = true * 0.5
    # One thread per worker, Numba's included (Dask already pins BLAS/OpenMP to 1): 2 workers = 2 threads.
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client, dask.config.set(scheduler=client):
        vg = graphc.dask.value_and_grad(dask_logistic.loss)
        started = time.perf_counter()
        value, grad = vg(theta, X, y)
        first = time.perf_counter() - started
        times, floor = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            vg(theta, X, y)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            dask.compute(X.sum(), y.sum())  # the same data drawn and read, no graphc
            floor.append(time.perf_counter() - started)
        worker_peaks = sorted(client.run(peak_rss).values())
    return {"workers": workers, "first": first, "wall": statistics.median(times),
            "floor": statistics.median(floor), "client": peak_rss(), "worker_peaks": worker_peaks,
            "value": float(value), "grad": np.asarray(grad)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{args.rows} x {dask_logistic.FEATURES} float64 rows ({args.rows * 160 / GIB:.2f} GiB if held), blocks "
          f"of {args.chunk}; {os.cpu_count()} CPUs; median of {args.repeat}")
    results = [measure(n, args.rows, args.chunk, args.repeat) for n in (1, 2)]
    print("| workers | first call (compile + check) | per evaluation | data alone | client peak | worker peaks |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['workers']} | {r['first']:.2f} s | {r['wall']:.2f} s | {r['floor']:.2f} s | "
              f"{r['client'] / 2**20:.0f} MiB | {', '.join(f'{p / 2**20:.0f}' for p in r['worker_peaks'])} MiB |")
    one, two = results
    print(f"speed-up with 2 workers: {one['wall'] / two['wall']:.2f}x (ideal 2x); data alone "
          f"{one['floor'] / two['floor']:.2f}x")
    np.testing.assert_allclose(two["grad"], one["grad"], rtol=1e-10)  # the same answer either way
    peak = max([r["client"] for r in results] + [p for r in results for p in r["worker_peaks"]])
    print(f"largest peak of any process: {peak / 2**20:.0f} MiB ({'under' if peak < GIB else 'OVER'} 1 GiB)")
    return results


if __name__ == "__main__":
    main()
