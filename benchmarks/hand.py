"""Hand-written baselines of the workloads in benchmarks/workloads.py: the value and gradient in one function,
in Numba and in NumPy. (Apart from the workloads so that a first-result measurement need not import Numba.)"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def w1_numba(x, y):
    sigy = 1.0 / (1.0 + math.exp(-y))
    num = x + sigy
    sigx = 1.0 / (1.0 + math.exp(-x))
    xpy = x + y
    den = sigx + xpy * xpy
    f = num / den
    dden = -num / (den * den)
    dxpy = 2.0 * xpy * dden
    dx = 1.0 / den + dden * sigx * (1.0 - sigx) + dxpy
    dy = sigy * (1.0 - sigy) / den + dxpy
    return f, (dx, dy)


def w2_numpy(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    diff = h @ W2 + b2 - Y
    loss = 0.5 * np.mean(diff * diff)
    d_out = diff / diff.size
    dh = (d_out @ W2.T) * (1.0 - h * h)
    return loss, (X.T @ dh, dh.sum(axis=0), h.T @ d_out, d_out.sum(axis=0))


w2_numba = numba.njit(cache=True)(w2_numpy)


def w3_numpy(x):
    x2 = x * x
    e = np.exp(-x2)
    s, c, t, lg = np.sin(x), np.cos(x), np.tanh(x), np.log1p(x2)
    value = np.sum(s * e + lg * t)
    return value, c * e - 2.0 * x * s * e + 2.0 * x / (1.0 + x2) * t + lg * (1.0 - t * t)


@numba.njit(cache=True)
def w3_numba(x):
    grad = np.empty_like(x)
    total = 0.0
    for i in range(x.size):
        xi = x[i]
        x2 = xi * xi
        e = math.exp(-x2)
        s = math.sin(xi)
        t = math.tanh(xi)
        lg = math.log1p(x2)
        total += s * e + lg * t
        grad[i] = math.cos(xi) * e - 2.0 * xi * s * e + 2.0 * xi / (1.0 + x2) * t + lg * (1.0 - t * t)
    return total, grad


def w4_numpy(x):
    e, c = np.exp(x), np.cos(x)
    s = np.sum(x)
    return np.sum(e * c) + s * s, e * c - e * np.sin(x) + 2.0 * s


@numba.njit(cache=True)
def w4_numba(x):
    grad = np.empty_like(x)
    s = 0.0
    for i in range(x.size):
        s += x[i]
    total = 0.0
    for i in range(x.size):
        e = math.exp(x[i])
        c = math.cos(x[i])
        total += e * c
        grad[i] = e * c - e * math.sin(x[i]) + 2.0 * s
    return total + s * s, grad


def w1_numpy(x, y):
    return w1_numba.py_func(x, y)


HAND = {
    "W1": {"numba": w1_numba, "numpy": w1_numpy},
    "W2": {"numba": w2_numba, "numpy": w2_numpy},
    "W3": {"numba": w3_numba, "numpy": w3_numpy},
    "W4": {"numba": w4_numba, "numpy": w4_numpy},
}
