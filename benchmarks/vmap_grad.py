"""Per-example gradients: ``vmap(grad(loss))`` over 256 examples against one ``grad`` of the batch's summed
loss, per call once both kernels are compiled (medians of 21 interleaved repetitions; issue 14's target:
at most 1.5x).

    python benchmarks/vmap_grad.py
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import graphc  # noqa: E402


def main() -> int:
    rng = np.random.default_rng(0)
    w, X, Y = rng.normal(size=64), rng.normal(size=(256, 64)), rng.normal(size=256)
    loss = lambda w, x, y: (np.tanh(x @ w) - y) ** 2  # noqa: E731 -- one example
    per_example = graphc.vmap(graphc.grad(loss), in_axes=(None, 0, 0))
    batch = graphc.grad(lambda w, X, Y: np.sum((np.tanh(X @ w) - Y) ** 2))
    per_example.lower(w, X, Y)  # both on their kernels
    batch.lower(w, X, Y)
    assert np.allclose(per_example(w, X, Y).sum(axis=0), batch(w, X, Y))
    times: dict = {"vmap(grad)": [], "grad of the batch loss": []}
    for _ in range(21):
        for name, fn in (("vmap(grad)", per_example), ("grad of the batch loss", batch)):
            start = time.perf_counter()
            for _ in range(200):
                fn(w, X, Y)
            times[name].append((time.perf_counter() - start) / 200)
    medians = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    for name, seconds in medians.items():
        print(f"{name:>24}: {seconds * 1e6:8.1f} us")
    ratio = medians["vmap(grad)"] / medians["grad of the batch loss"]
    verdict = "met" if ratio <= 1.5 else "NOT MET"
    print(f"{verdict:>8}  vmap(grad) at most 1.5x one grad of the batch loss ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
