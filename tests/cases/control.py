"""Op test rows for graphc/ops/control.py (scan, while_loop, cond and unpack); merged into op_cases.CASES.

Each row's NumPy expectation is the plain Python loop or branch the construct stands for.
"""
from __future__ import annotations

import numpy as np

import graphc
from op_cases import case


def _np_scan(f, carry, xs, reverse=False):
    ys = [None] * len(xs)
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        carry, ys[t] = f(carry, xs[t])
    return carry, np.stack(ys)


def _rnn_step(c, x):
    return np.tanh(c * 0.9 + x), c * x


def _sin_step(c, x):
    return np.sin(c) + x, c * c


def _counted_step(c):
    v, i = c
    return v * 0.5 + np.sin(v) * i.astype(v.dtype), i + 1  # NumPy promotes float32 * int64 to float64


def _grow(v):
    return v * 1.7 + 0.1


def _choose(p, x):
    return p * x if np.sum(p) > 0 else np.sin(p) - x


CASES = {
    "scan": [
        case(lambda h, xs: graphc.scan(_rnn_step, h, xs)[1], (3,), (4, 3), id="stacked-ys",
             expected=lambda h, xs: _np_scan(_rnn_step, h, xs)[1]),
        case(lambda c, xs: graphc.scan(_sin_step, c, xs, reverse=True)[0], (), (5,), id="reverse-carry",
             expected=lambda c, xs: _np_scan(_sin_step, c, xs, reverse=True)[0]),
    ],
    "while_loop": [
        # The trip count depends on the data; at a random point it is locally constant.
        case(lambda x: graphc.while_loop(lambda v: np.sum(v * v) < 50.0, _grow, x), (3,), id="data-dependent",
             expected=lambda x: _np_while(lambda v: np.sum(v * v) < 50.0, _grow, x)),
        case(lambda a: graphc.while_loop(lambda c: c[1] < 3, _counted_step,
                                         (a, 0))[0], (2,), id="counted", expected=lambda a: _np_fori(a)),
    ],
    "cond": [
        case(lambda p, x: graphc.cond(np.sum(p) > 0, lambda a, b: a * b, lambda a, b: np.sin(a) - b, p, x),
             (3,), (3,), id="by-sign", expected=_choose),
    ],
    "unpack": [
        case(lambda h, xs: graphc.scan(_rnn_step, h, xs)[0], (2,), (3, 2), id="scan-carry",
             expected=lambda h, xs: _np_scan(_rnn_step, h, xs)[0]),
    ],
}


def _np_while(cond, body, v):
    while cond(v):
        v = body(v)
    return v


def _np_fori(a):
    for i in range(3):
        a = a * 0.5 + np.sin(a) * i
    return a
