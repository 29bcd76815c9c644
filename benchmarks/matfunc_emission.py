"""How compiled kernels compute scipy.linalg's solve_sylvester, sqrtm, expm and solve_banded: graphc's Numba
helpers (codegen/rt_matfuncs.py: LAPACK through SciPy's Cython bindings, a Numba Padé expm) against SciPy
called from ``numba.objmode``, SciPy from Python, and the dense alternatives (Sylvester as one Kronecker-product
system of n*m unknowns; a banded system as a dense LU solve). Per call on one matrix, float64, medians
of calls interleaved across the implementations.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/matfunc_emission.py
"""
from __future__ import annotations

import statistics
import time

import numba
import numpy as np
import scipy.linalg as sl

from graphc.codegen.rt_matfuncs import _expm3, _solve_banded3, _solve_sylvester3, _sqrtm3


@numba.njit
def _objmode_sylvester(a, b, q):
    with numba.objmode(x="float64[:, :]"):
        x = np.ascontiguousarray(sl.solve_sylvester(a, b, q))
    return x


@numba.njit
def _objmode_sqrtm(a):
    with numba.objmode(x="float64[:, :]"):
        x = np.ascontiguousarray(sl.sqrtm(a))
    return x


@numba.njit
def _objmode_expm(a):
    with numba.objmode(x="float64[:, :]"):
        x = np.ascontiguousarray(sl.expm(a))
    return x


@numba.njit
def _objmode_banded(l, u, ab, b):
    with numba.objmode(x="float64[:, :]"):
        x = np.ascontiguousarray(sl.solve_banded((l, u), ab, b))
    return x


@numba.njit
def _kronecker_sylvester(a, b, q):
    """A X + X B = Q as (I (x) A + B^T (x) I) vec(X) = vec(Q), column-major vec: O((n m)^3)."""
    n, m = q.shape
    system = np.kron(np.eye(m), a) + np.kron(b.T, np.eye(n))
    return np.linalg.solve(system, np.ascontiguousarray(q.T).ravel()).reshape(m, n).T.copy()


@numba.njit
def _dense_banded(l, u, ab, b):
    """The banded system scattered into a dense matrix, then LU: O(n^3)."""
    n = ab.shape[1]
    a = np.zeros((n, n))
    for j in range(n):
        for r in range(l + u + 1):
            i = j + r - u
            if 0 <= i < n:
                a[i, j] = ab[r, j]
    return np.linalg.solve(a, b)


def _interleaved_us(fns, reps: int) -> list:
    """Median microseconds per call of each of ``fns``, called in turn (so that load changes on this
    shared machine hit all of them alike); None for a missing one, one call for a slow one."""
    live = [f for f in fns if f is not None]
    for f in live:
        f()
    times = {f: [] for f in live}
    for rep in range(reps):
        for f in live:
            if rep and times[f][0] > 0.1:  # the Kronecker system at 64x64: seconds a call
                continue
            start = time.perf_counter()
            f()
            times[f].append(time.perf_counter() - start)
    return [statistics.median(times[f]) * 1e6 if f is not None else float("nan") for f in fns]


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'n':>5} {'op':>18} {'graphc Numba':>13} {'objmode':>11} {'SciPy':>11} {'dense':>11}   (us per call)")
    for n, reps in ((8, 2000), (64, 50)):
        a, b, q = rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=(n, n))
        spd = a @ a.T + n * np.eye(n)
        general = a / (2 * np.sqrt(n)) + 2 * np.eye(n)  # complex eigenvalue pairs, none negative
        rows = {
            "solve_sylvester": (lambda: _solve_sylvester3(a[None], b[None], q[None]),
                                lambda: _objmode_sylvester(a, b, q), lambda: sl.solve_sylvester(a, b, q),
                                lambda: _kronecker_sylvester(a, b, q)),
            "sqrtm": (lambda: _sqrtm3(general[None]), lambda: _objmode_sqrtm(general), lambda: sl.sqrtm(general),
                      None),
            "sqrtm (SPD)": (lambda: _sqrtm3(spd[None]), lambda: _objmode_sqrtm(spd), lambda: sl.sqrtm(spd), None),
            "expm": (lambda: _expm3(a[None]), lambda: _objmode_expm(a), lambda: sl.expm(a), None),
        }
        for name, fns in rows.items():
            print(f"{n:>5} {name:>18} " + " ".join(f"{t:11.1f}" for t in _interleaved_us(fns, reps)))
    for (l, u), n, reps in (((1, 1), 64, 2000), ((1, 1), 1000, 50), ((2, 3), 64, 2000), ((2, 3), 1000, 50)):
        ab, rhs = rng.normal(size=(l + u + 1, n)), rng.normal(size=(n, 2))
        ab[u] += 8.0
        fns = (lambda: _solve_banded3(ab[None], rhs[None], l, u), lambda: _objmode_banded(l, u, ab, rhs),
               lambda: sl.solve_banded((l, u), ab, rhs), lambda: _dense_banded(l, u, ab, rhs))
        name = f"solve_banded {l},{u}"
        print(f"{n:>5} {name:>18} " + " ".join(f"{t:11.1f}" for t in _interleaved_us(fns, reps)))


if __name__ == "__main__":
    main()
