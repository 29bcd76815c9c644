"""The benchmark workloads W1-W4, each written once against a NumPy-like module, plus hand-written baselines.

W1  value and gradient of (x + sigmoid(y)) / (sigmoid(x) + (x+y)**2) at scalars x=3, y=-4
W2  0.5*mean((tanh(X@W1 + b1)@W2 + b2 - Y)**2), X (256,64), W1 (64,128), b1 (128,), W2 (128,10), b2 (10,)
W3  sum(sin(x)*exp(-x*x) + log1p(x*x)*tanh(x)), x of 1e6 float64
W4  sum(exp(x)*cos(x)) + sum(x)**2, x of 10 float64
"""
from __future__ import annotations

import numpy as np


def w1(xp, sigmoid):
    def f(x, y):
        return (x + sigmoid(y)) / (sigmoid(x) + (x + y) ** 2)
    return f


def w2(xp):
    def f(W1, b1, W2, b2, X, Y):
        h = xp.tanh(X @ W1 + b1)
        return 0.5 * xp.mean((h @ W2 + b2 - Y) ** 2)
    return f


def w3(xp):
    def f(x):
        return xp.sum(xp.sin(x) * xp.exp(-x * x) + xp.log1p(x * x) * xp.tanh(x))
    return f


def w4(xp):
    def f(x):
        return xp.sum(xp.exp(x) * xp.cos(x)) + xp.sum(x) ** 2
    return f


def inputs(name: str):
    """The arguments of a workload, and the argnums its gradient is taken over."""
    rng = np.random.default_rng(0)
    if name == "W1":
        return (3.0, -4.0), (0, 1)
    if name == "W2":
        args = (rng.normal(size=(64, 128)) * 0.1, np.zeros(128), rng.normal(size=(128, 10)) * 0.1, np.zeros(10),
                rng.normal(size=(256, 64)), rng.normal(size=(256, 10)))
        return args, (0, 1, 2, 3)
    if name == "W3":
        return (rng.normal(size=1_000_000),), 0
    if name == "W4":
        return (rng.normal(size=10),), 0
    raise KeyError(name)
