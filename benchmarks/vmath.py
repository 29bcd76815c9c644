"""graphc's vector math (codegen/rt_vmath.py) per element, against libm in a Numba loop and NumPy's ufunc.

    python benchmarks/vmath.py [--pin] [--reps 7] [--size 1000000]

Each function runs over the same values in [0.01, 3], float64 then float32, interleaved repetitions,
medians. "graphc" is a Numba loop calling the function as a fused loop's line does
(``dtype(vexp(np.float64(x)))``); "libm" is the same loop calling ``np.exp`` (what Numba does without
SVML); "numpy" is ``np.exp(x, out=out)``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numba
import numpy as np

from graphc.codegen import rt_vmath

NAMES = ["exp", "expm1", "log", "log1p", "sin", "cos", "tanh"]


def _loop(fn):
    @numba.njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.size):
            out[i] = fn(np.float64(x[i]))
    return loop


def _libm_loop(ufunc):
    @numba.njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.size):
            out[i] = ufunc(x[i])
    return loop


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pin", action="store_true", help="pin this process to one CPU")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--size", type=int, default=10 ** 6)
    opts = parser.parse_args(argv)
    if opts.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(0)
    print(f"ns per element, median of {opts.reps}, {opts.size} values in [0.01, 3]"
          f"{', one pinned core' if opts.pin else ''}")
    print(f"{'':24}" + "".join(f"{name:>8}" for name in NAMES))
    for dtype in (np.float64, np.float32):
        x = rng.uniform(0.01, 3.0, opts.size).astype(dtype)
        out = np.empty_like(x)
        rows = {"graphc": {}, "libm in Numba": {}, "numpy": {}}
        for name in NAMES:
            ufunc = getattr(np, name)
            impls = {"graphc": _loop(getattr(rt_vmath, "v" + name)), "libm in Numba": _libm_loop(ufunc),
                     "numpy": lambda x, out, ufunc=ufunc: ufunc(x, out=out)}
            samples = {label: [] for label in impls}
            for fn in impls.values():
                fn(x, out)   # compile
            for _ in range(opts.reps):
                for label, fn in impls.items():
                    start = time.perf_counter()
                    fn(x, out)
                    samples[label].append((time.perf_counter() - start) / x.size * 1e9)
            for label, times in samples.items():
                rows[label][name] = statistics.median(times)
        for label, row in rows.items():
            print(f"{label + ', ' + np.dtype(dtype).name:24}" + "".join(f"{row[name]:8.2f}" for name in NAMES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
