"""Fit a Gaussian process's kernel hyperparameters by its negative log marginal likelihood.

The likelihood is written with np.linalg (cholesky, solve, slogdet) and differentiated by graphc; the
value and gradient are checked against the hand-derived formula, then scipy.optimize fits the three
log-parameters (length scale, signal and noise variance) with the compiled value and gradient.

    python examples/gaussian_process.py            # 200 points
    python examples/gaussian_process.py --quick    # 60 points
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.optimize

import graphc


def negative_log_likelihood(log_params, x, y):
    """-log p(y | x) under a zero-mean GP with a squared-exponential kernel plus noise."""
    length, signal, noise = np.exp(log_params[0]), np.exp(log_params[1]), np.exp(log_params[2])
    gaps = x[:, None] - x[None, :]
    K = signal * np.exp(-0.5 * gaps * gaps / (length * length)) + noise * np.eye(x.shape[0])
    L = np.linalg.cholesky(K)
    z = np.linalg.solve(L, y)  # K^-1 = L^-T L^-1, so y^T K^-1 y = |z|^2
    _, logdet = np.linalg.slogdet(K)
    return 0.5 * np.dot(z, z) + 0.5 * logdet + 0.5 * x.shape[0] * np.log(2 * np.pi)


def by_hand(log_params, x, y):
    """The same value, and its gradient from d(nll)/d(theta) = tr((K^-1 - a a^T) dK/dtheta) / 2, a = K^-1 y."""
    length, signal, noise = np.exp(log_params)
    gaps = x[:, None] - x[None, :]
    shape = np.exp(-0.5 * gaps * gaps / length ** 2)
    K = signal * shape + noise * np.eye(len(x))
    K_inv = np.linalg.inv(K)
    a = K_inv @ y
    value = 0.5 * y @ a + 0.5 * np.linalg.slogdet(K)[1] + 0.5 * len(x) * np.log(2 * np.pi)
    inner = K_inv - np.outer(a, a)
    dK = [signal * shape * gaps * gaps / length ** 2, signal * shape, noise * np.eye(len(x))]  # d/d log-params
    return value, np.array([0.5 * np.sum(inner * d) for d in dK])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 points instead of 200")
    args = parser.parse_args()
    n = 60 if args.quick else 200
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3.0, 3.0, n))
    truth = np.log([0.8, 1.5, 0.05])  # length scale, signal variance, noise variance
    K = np.exp(truth[1]) * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / np.exp(truth[0]) ** 2)
    y = np.linalg.cholesky(K + np.exp(truth[2]) * np.eye(n)) @ rng.normal(size=n)

    value_and_grad = graphc.value_and_grad(negative_log_likelihood)
    start = np.zeros(3)
    value, gradient = value_and_grad(start, x, y)
    hand_value, hand_gradient = by_hand(start, x, y)
    print(f"{n} points: nll {value:.10f} (by hand {hand_value:.10f}); "
          f"max |gradient - by hand| / max |gradient| = "
          f"{np.max(np.abs(gradient - hand_gradient)) / np.max(np.abs(hand_gradient)):.2e}")

    began = time.perf_counter()
    fit = scipy.optimize.minimize(value_and_grad, start, args=(x, y), jac=True, method="L-BFGS-B")
    print(f"fitted in {fit.nit} iterations, {time.perf_counter() - began:.2f} s: length scale "
          f"{np.exp(fit.x[0]):.3f}, signal variance {np.exp(fit.x[1]):.3f}, noise variance {np.exp(fit.x[2]):.4f} "
          f"(generated with 0.8, 1.5, 0.05); |gradient| = {np.linalg.norm(fit.jac):.2e}")


if __name__ == "__main__":
    main()
