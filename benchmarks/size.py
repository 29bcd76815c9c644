"""How each stage's time grows with graph size: a deep chain and a wide sum, 1,000 to 10,000 nodes.

    python benchmarks/size.py                    # 1000 2000 5000 10000 nodes
    python benchmarks/size.py --sizes 1000 4000

For each graph it times tracing, differentiation, every optimization pass, source generation and
Numba's compile, each in the same process with a fresh cache folder, and prints seconds and
microseconds per node. Close to linear means the per-node column stays flat.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def deep_chain(steps: int):
    """x -> sin(x) * 0.5 + x * 0.25, repeated: every node depends on the one before."""
    def f(x):
        for _ in range(steps):
            x = np.sin(x) * 0.5 + x * 0.25
        return x
    return f


def wide_sum(terms: int):
    """sum over many independent terms of one input: a shallow, wide graph."""
    def f(x):
        total = x * 0.0
        for i in range(terms):
            total = total + np.tanh(x * (1.0 + i * 1e-3))
        return total
    return f


def stages(fun, arg):
    import graphc
    from graphc.codegen.compile import build_kernel, specialize
    from graphc.passes import DEFAULT_PIPELINE

    times = {}
    start = time.perf_counter()
    forward = graphc.trace(fun, arg)
    times["trace"] = time.perf_counter() - start
    start = time.perf_counter()
    graph = graphc.trace(graphc.grad(fun), arg)
    times["trace+differentiate"] = time.perf_counter() - start
    nodes = len(graph)
    for graph_pass in DEFAULT_PIPELINE:
        start = time.perf_counter()
        graph = graph_pass(graph)
        times[graph_pass.__name__] = times.get(graph_pass.__name__, 0.0) + time.perf_counter() - start
    start = time.perf_counter()
    kernel = build_kernel(graph)
    times["generate+load"] = time.perf_counter() - start
    start = time.perf_counter()
    specialize(kernel, [arg])
    times["numba compile"] = time.perf_counter() - start
    return len(forward), nodes, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 5000, 10000],
                        help="approximate forward-graph node counts")
    opts = parser.parse_args(argv)
    os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphc-size-")
    for name, make, nodes_per_step in (("deep chain", deep_chain, 5), ("wide sum", wide_sum, 6)):
        print(f"\n{name}")
        rows = []
        for size in opts.sizes:
            forward, total, times = stages(make(size // nodes_per_step), 0.3)
            rows.append((forward, total, times))
            cells = "  ".join(f"{k} {v:7.3f}s" for k, v in times.items())
            print(f"  forward {forward:6d} nodes, with gradient {total:6d}: {cells}", flush=True)
        print("  microseconds per gradient-graph node, by stage:")
        for stage in rows[0][2]:
            per_node = "  ".join(f"{t[stage] / total * 1e6:9.1f}" for _, total, t in rows)
            print(f"    {stage:<34}{per_node}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
