"""Programs several test modules run: the recurrent network of the control-flow issue, as a scan and
unrolled in Python (H hidden units, D inputs a step)."""
from __future__ import annotations

import numpy as np

import graphc

H, D = 5, 3


def rnn_scan(W, U, b, h0, xs):
    def step(h, x):
        h = np.tanh(W @ h + U @ x + b)
        return h, np.sum(h * h)

    h, per_step = graphc.scan(step, h0, xs)
    return np.sum(h) + 0.5 * np.sum(per_step)


def rnn_unrolled(W, U, b, h0, xs):
    h, total = h0, 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t] + b)
        total = total + np.sum(h * h)
    return np.sum(h) + 0.5 * total


def rnn_arguments(rng: np.random.Generator, steps: int = 7) -> tuple:
    """W, U, b, h0 and xs for ``steps`` steps."""
    return (rng.normal(size=(H, H)) * 0.4, rng.normal(size=(H, D)) * 0.4, rng.normal(size=H) * 0.1,
            rng.normal(size=H), rng.normal(size=(steps, D)))
