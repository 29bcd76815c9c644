"""Time of each optimization pass on the gradient graph of an RNN unrolled in Python, per node.

    python benchmarks/passes_scale.py                    # T = 10 50 200
    python benchmarks/passes_scale.py --lengths 10 400 --reps 5
    python benchmarks/passes_scale.py --gc-off          # the cyclic garbage collector paused

Value and gradient (with respect to W, U, b, h0 and xs) of ``h = tanh(W @ h + U @ x[t] + b)``
written as a Python loop, so the traced graph grows with T (about 38 nodes a step): H=16, D=8, loss
``sum(h_T) + 0.5 * sum_t sum(h_t ** 2)``. For each T it traces once, runs ``run_pipeline`` with
the default passes ``--reps`` times and prints, per pass, the best time, the nodes it was given
and the time per node (microseconds). A pass that is linear in nodes keeps its µs/node as T grows.
The ``pipeline`` line is the best whole run. Python's cyclic garbage collector runs a few full
collections during the passes (they allocate many small dicts); ``--gc-off`` shows the time without.
"""
from __future__ import annotations

import argparse
import gc
import time

import numpy as np

import graphc
from graphc.passes import DEFAULT_PIPELINE, run_pipeline

H, D = 16, 8


def unrolled_rnn_graph(T: int):
    """The traced value-and-gradient graph of the RNN loss unrolled over ``T`` steps."""
    rng = np.random.default_rng(0)
    W, U, b = rng.normal(size=(H, H)) * 0.3, rng.normal(size=(H, D)) * 0.3, rng.normal(size=H) * 0.1
    h0, xs = rng.normal(size=H), rng.normal(size=(T, D))

    def loss(W, U, b, h0, xs):
        h, total = h0, 0.0
        for t in range(T):
            h = np.tanh(W @ h + U @ xs[t] + b)
            total = total + np.sum(h * h)
        return np.sum(h) + 0.5 * total

    vg = graphc.value_and_grad(loss, argnums=(0, 1, 2, 3, 4))
    return vg.__graphc_transform__.traced_graph(W, U, b, h0, xs)


def measure(T: int, reps: int) -> list[str]:
    started = time.perf_counter()
    graph = unrolled_rnn_graph(T)
    traced = time.perf_counter() - started
    runs = [run_pipeline(graph, DEFAULT_PIPELINE)[1] for _ in range(reps)]
    lines = [f"T={T}: {len(graph)} traced nodes (trace {traced * 1e3:.0f} ms)",
             f"  {'pass':<34}{'nodes in':>9}{'ms':>10}{'µs/node':>10}"]
    for i, first in enumerate(runs[0]):
        best = min(run[i].seconds for run in runs)
        lines.append(f"  {first.name:<34}{first.nodes_before:>9}{best * 1e3:>10.1f}"
                     f"{best * 1e6 / max(first.nodes_before, 1):>10.1f}")
    total = min(sum(s.seconds for s in run) for run in runs)
    lines.append(f"  {'pipeline':<34}{len(graph):>9}{total * 1e3:>10.1f}{total * 1e6 / len(graph):>10.1f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--reps", type=int, default=3, help="pipeline runs per length; the best time counts")
    parser.add_argument("--gc-off", action="store_true", help="pause the cyclic garbage collector")
    args = parser.parse_args()
    if args.gc_off:
        gc.disable()
    for T in args.lengths:
        print("\n".join(measure(T, args.reps)), flush=True)


if __name__ == "__main__":
    main()
