"""A long scan on the NumPy tier: what a step costs, against hand-written NumPy making the same calls.

    python benchmarks/scan_tier_floor.py              # T = 10000, 5 interleaved repetitions
    python benchmarks/scan_tier_floor.py --T 2000 --reps 9

The scan RNN of benchmarks/scan_rnn.py (value and gradient, H=16, D=8), three ways, interleaved in one
process (the machine is shared: compare ratios within a run), microseconds per step of the forward
and the reverse scan together:

- ``tier``: ``graphc.value_and_grad(..., tiered="numpy")``, the first tier, after its first call;
- ``stepped``: the tier's graph written by hand, one NumPy call per node, every node stepped: the
  least a tier calling NumPy once per node a step can cost;
- ``fissioned``: the same calls, but only the nodes on the carries' chain stepped (4 a step forward,
  7 in reverse) and every other node computed over all steps at once (``U @ x_t``, ``h * h``, its sum,
  ``1 - h * h``, the outer products and their running sums, in step order, and ``U.T @ g``): what loop
  fission with batching rules would give. Its results must equal ``stepped``'s bit for bit.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scan_rnn import rnn_loss  # this folder is on sys.path when run as a script

import graphc

H, D = 16, 8
mm, add, sub, tanh, mul = np.matmul, np.add, np.subtract, np.tanh, np.multiply
reshape, transpose, reduce = np.ndarray.reshape, np.ndarray.transpose, np.add.reduce


def stepped(W, U, b, h0, xs):
    """The tier's graph (GRAPHC_TIERED=numpy; print its runner's source to compare), node for node."""
    T = len(xs)
    sums, hs, d, before = np.empty(T), np.empty((T, H)), np.empty((T, H)), np.empty((T, H))
    h = h0
    for t, x in zip(range(T), xs):
        v9 = tanh(add(add(mm(W, h), mm(U, x)), b))
        v10 = mul(v9, v9)
        sums[t], hs[t], d[t], before[t] = np.asarray(reduce(v10, (0,), None, None, False)), v9, sub(1.0, v10), h
        h = v9
    value = float(np.sum(h) + 0.5 * np.sum(sums))
    UT, WT, half = transpose(U, (1, 0)), transpose(W, (1, 0)), np.broadcast_to(np.asarray(0.5), (H,))
    g, gW, gU, gb, gxs = np.ones(H), np.zeros((H, H)), np.zeros((H, D)), np.zeros(H), np.empty((T, D))
    for t, v9, v22, v0, v1 in zip(range(T - 1, -1, -1), hs[::-1], d[::-1], before[::-1], xs[::-1]):
        v26 = transpose(reshape(v1, (D, 1)), (1, 0))
        v33 = transpose(reshape(v0, (H, 1)), (1, 0))
        v16 = mul(half, v9)
        v23 = mul(add(add(g, v16), v16), v22)
        v25 = reshape(v23, (H, 1))
        gxs[t] = reshape(mm(UT, v25), (D,))
        gU, gW, gb = add(gU, mul(v25, v26)), add(gW, mul(v25, v33)), add(gb, v23)
        g = reshape(mm(WT, v25), (H,))
    return value, gW, gU, gb, g, gxs


def fissioned(W, U, b, h0, xs):
    """The same calls, only the carries' chain stepped, the rest over all steps at once."""
    T = len(xs)
    ux = mm(U, xs[..., None])[..., 0]
    hs, before = np.empty((T, H)), np.empty((T, H))
    h = h0
    for t, u in zip(range(T), ux):
        before[t] = h
        h = hs[t] = tanh(add(add(mm(W, h), u), b))
    squares = mul(hs, hs)
    sums, d = reduce(squares, (1,)), sub(1.0, squares)
    value = float(np.sum(h) + 0.5 * np.sum(sums))
    WT, half = transpose(W, (1, 0)), np.broadcast_to(np.asarray(0.5), (H,))
    g, gs = np.ones(H), np.empty((T, H))
    for t, v9, v22 in zip(range(T - 1, -1, -1), hs[::-1], d[::-1]):
        v16 = mul(half, v9)
        v23 = gs[t] = mul(add(add(g, v16), v16), v22)
        g = reshape(mm(WT, reshape(v23, (H, 1))), (H,))
    columns = gs[:, :, None]
    # The running sums, in the reverse scan's order: a reduction over the leading axis adds row by row.
    gW = reduce(mul(columns, before[:, None, :])[::-1], (0,))
    gU = reduce(mul(columns, xs[:, None, :])[::-1], (0,))
    gb = reduce(gs[::-1], (0,))
    gxs = mm(U.T, columns)[..., 0]
    return value, gW, gU, gb, g, gxs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=10000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = (rng.normal(size=(H, H)) * 0.3, rng.normal(size=(H, D)) * 0.3, rng.normal(size=H) * 0.1,
              rng.normal(size=H), rng.normal(size=(args.T, D)))
    tier = graphc.value_and_grad(rnn_loss(np, graphc.scan), argnums=(0, 1, 2, 3, 4), tiered="numpy")
    value, (gW, gU, gb, gh0, gxs) = tier(*inputs)
    a, b = stepped(*inputs), fissioned(*inputs)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), "fission changed the results"
    # The tier batches U.T @ g over all steps where this code steps it (another rounding), and the
    # gradient of early x_t has vanished to ~1e-10 of the largest: compared relative to the largest.
    assert np.allclose(a[0], value, rtol=1e-12) and all(
        np.allclose(x, y, rtol=0, atol=1e-12 * np.max(np.abs(y)))
        for x, y in zip(a[1:], (gW, gU, gb, gh0, gxs))), "not the tier's graph"
    times: dict = {"tier": [], "stepped": [], "fissioned": []}
    for _ in range(args.reps):
        for name, fn in (("tier", tier), ("stepped", stepped), ("fissioned", fissioned)):
            start = time.perf_counter()
            fn(*inputs)
            times[name].append((time.perf_counter() - start) / args.T * 1e6)
    for name, ts in times.items():
        print(f"{name:>10} {statistics.median(ts):6.2f} us/step  (min {min(ts):.2f})")


if __name__ == "__main__":
    main()
