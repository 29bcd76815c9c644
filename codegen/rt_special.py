"""Numba helpers for graphc.ops.special: the special functions Numba's ``math`` lacks, each as a scalar
function (``_digamma_scalar``: what fused loops call) and an array function over any shape.

* ``digamma``: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
  log(x) - 1/(2x) - sum B_2k / (2k x^2k); reflection psi(1 - x) - psi(x) = pi cot(pi x) below 0.
* ``polygamma(n, x)``, n >= 1, x > 0: the same recurrence, psi_n(x) = psi_n(x + 1) + (-1)^(n+1) n!/x^(n+1),
  up to x >= 20 + n, then the asymptotic series of psi_n.
* ``erfinv``: a starting value from a rational approximation of its central and tail regions, then
  Newton steps on erf(x) = y with libm's erf, or on log(erfc(|x|)) = log(1 - |y|) for |y| > 1/2,
  where erf has no digits left (quadratic convergence: two or three steps reach double precision).
* ``gammaln``, ``gamma``, ``erf``, ``erfc``: libm's (``math.lgamma``...). Arrays of any of these go
  through one helper, ``_special_array(x, code)``.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["_digamma_scalar", "_polygamma_scalar", "_polygamma_array", "_erfinv_scalar", "_special_array"]

_jit = numba.njit(cache=True, error_model="numpy")

#: B_2k / (2k) for k = 1..8: the digamma series' coefficients.
_DIGAMMA_SERIES = np.array([1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12, -3617 / 8160])
#: B_2k for k = 1..10.
_BERNOULLI = np.array([1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
                       -174611 / 330])


@_jit
def _digamma_scalar(x):
    x = np.float64(x)
    if np.isnan(x) or x == -np.inf:
        return np.nan
    if x == np.inf:
        return np.inf
    if x <= 0.0:
        if x == math.floor(x):  # the poles, as SciPy: -inf at +0.0, +inf at -0.0, NaN at -1, -2...
            return -np.inf if x == 0.0 and math.copysign(1.0, x) > 0 else (np.inf if x == 0.0 else np.nan)
        # Reflection (tan has period pi: the argument reduced exactly keeps its digits).
        return _digamma_positive(1.0 - x) - math.pi / math.tan(math.pi * (x - math.floor(x)))
    return _digamma_positive(x)


@_jit
def _digamma_positive(x):
    shift = 0.0
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    inverse_square = 1.0 / (x * x)
    series = 0.0
    power = inverse_square
    for c in _DIGAMMA_SERIES:
        series += c * power
        power *= inverse_square
    return shift + math.log(x) - 0.5 / x - series


@_jit
def _polygamma_scalar(n, x):
    n = int(n)
    x = np.float64(x)
    if n == 0:
        return _digamma_scalar(x)
    if np.isnan(x) or x <= 0.0:
        return np.nan
    if x == np.inf:
        return 0.0
    sign = 1.0 if n % 2 == 1 else -1.0  # (-1)^(n+1)
    factorial = math.gamma(n + 1.0)
    total = 0.0
    while x < 20.0 + n:
        total += sign * factorial / x ** (n + 1)
        x += 1.0
    # psi_n(x) ~ (-1)^(n+1) [ (n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)! / ((2k)! x^(2k+n)) ]
    tail = math.gamma(n * 1.0) / x ** n + factorial / (2.0 * x ** (n + 1))
    for k in range(1, 11):
        term = _BERNOULLI[k - 1] * math.exp(math.lgamma(2.0 * k + n) - math.lgamma(2.0 * k + 1.0)) / x ** (2 * k + n)
        tail += term
        if abs(term) < 1e-17 * abs(tail):
            break
    return total + sign * tail


@_jit
def _erfinv_scalar(y):
    y = np.float64(y)
    if np.isnan(y) or y < -1.0 or y > 1.0:
        return np.nan
    if y == 1.0:
        return np.inf
    if y == -1.0:
        return -np.inf
    if y == 0.0:
        return y
    # Giles' single-precision approximation as a start (w = -log(1 - y^2)), then Newton on erf.
    w = -math.log((1.0 - y) * (1.0 + y))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941):
            p = c + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                  0.00943887047, 1.00167406, 2.83297682):
            p = c + p * w
    x = p * y
    # Newton on erf(x) = y; for |y| > 1/2 on log(erfc(|x|)) = log(1 - |y|) (1 - |y| is exact there).
    near_one = abs(y) > 0.5
    target = 1.0 - abs(y)
    for _ in range(6):
        slope = 2.0 / math.sqrt(math.pi) * math.exp(-x * x)
        if near_one:  # on log(erfc): nearly linear out there, so Newton converges from a rough start
            tail = math.erfc(abs(x))
            step = -(math.log(tail) - math.log(target)) * tail / slope * (1.0 if x > 0 else -1.0)
        else:
            step = (math.erf(x) - y) / slope
        x -= step
        if abs(step) <= 1e-16 * abs(x):
            break
    return x


@_jit
def _polygamma_array(n, x):
    n_flat, x_flat = np.ascontiguousarray(n).ravel(), np.ascontiguousarray(x).ravel()
    out = np.empty(x_flat.size, np.float64)
    for i in range(x_flat.size):
        out[i] = _polygamma_scalar(n_flat[i if n_flat.size > 1 else 0], x_flat[i])
    return out.reshape(x.shape)


# The functions _special_array maps, by code (the emission passes the code: one helper to compile).
from graphc.ops.special import DIGAMMA, ERF, ERFC, GAMMA, GAMMALN  # noqa: E402 -- the last code is erfinv


@_jit
def _special_scalar(x, which):
    if which == GAMMALN:
        return math.lgamma(x) if x == x else np.nan
    if which == GAMMA:
        return math.gamma(x)
    if which == ERF:
        return math.erf(x)
    if which == ERFC:
        return math.erfc(x)
    if which == DIGAMMA:
        return _digamma_scalar(x)
    return _erfinv_scalar(x)


@_jit
def _special_array(x, which):
    """Function ``which`` (a code above) of each element of ``x``, in float64, in ``x``'s shape."""
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty(flat.size, np.float64)
    for i in range(flat.size):
        out[i] = _special_scalar(np.float64(flat[i]), which)
    return out.reshape(x.shape)
