"""Numba's own np.linalg (LAPACK through SciPy) against NumPy's called from numba.objmode, and NumPy from
Python, per call on one matrix: the measurement behind SciPy as a runtime dependency (docs/performance.md).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/linalg_emission.py
"""
from __future__ import annotations

import statistics
import time

import numba
import numpy as np


@numba.njit
def _numba_solve(a, b):
    return np.linalg.solve(a, b)


@numba.njit
def _numba_cholesky(a):
    return np.linalg.cholesky(a)


@numba.njit
def _numba_eigh(a):
    return np.linalg.eigh(a)


@numba.njit
def _objmode_solve(a, b):
    with numba.objmode(x="float64[:, :]"):
        x = np.linalg.solve(a, b)
    return x


@numba.njit
def _objmode_cholesky(a):
    with numba.objmode(x="float64[:, :]"):
        x = np.linalg.cholesky(a)
    return x


@numba.njit
def _objmode_eigh(a):
    with numba.objmode(w="float64[:]", v="float64[:, :]"):
        w, v = np.linalg.eigh(a)
    return w, v


def _median_us(fn, *args, reps: int) -> float:
    fn(*args)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'n':>4} {'op':>9} {'Numba':>11} {'objmode':>11} {'NumPy':>11}   (us per call, medians)")
    for n, reps in ((8, 2000), (256, 50)):
        m = rng.normal(size=(n, n))
        a, b = m @ m.T + n * np.eye(n), rng.normal(size=(n, 3))
        rows = {"solve": (_numba_solve, _objmode_solve, np.linalg.solve, (a, b)),
                "cholesky": (_numba_cholesky, _objmode_cholesky, np.linalg.cholesky, (a,)),
                "eigh": (_numba_eigh, _objmode_eigh, np.linalg.eigh, (a,))}
        for name, (nb, om, py, args) in rows.items():
            times = [_median_us(f, *args, reps=reps) for f in (nb, om, py)]
            print(f"{n:>4} {name:>9} " + " ".join(f"{t:11.1f}" for t in times))


if __name__ == "__main__":
    main()
