"""A training loop written entirely inside the user's own @numba.njit function, calling graphc's gradient.

    python examples/njit_training_loop.py            # 200 epochs over 512 points
    python examples/njit_training_loop.py --quick    # 20 epochs (for the test suite)

``graphc.value_and_grad(loss, ...).lower(*args).dispatcher`` is the compiled Numba function itself.
Call it with the flattened arguments, 0-d values as scalars; it returns the result's structure as a
tuple tree, here ``(value, (gW1, gb1, gw2, gb2))``. It is specialised on the shapes and dtypes it was
lowered for, so every minibatch has the same size. Here a 1-32-1 tanh network fits y = sin(3x) + noise
with minibatch SGD, the whole loop in nopython mode; the same loop in Python, calling graphc's public
function, gives the same weights.
Needs only graphc (numba, numpy).
"""
from __future__ import annotations

import argparse
import sys
import time

import numba
import numpy as np

import graphc


def loss(W1, b1, w2, b2, X, y):
    """Mean squared error of a 1-H-1 tanh network."""
    prediction = np.tanh(X @ W1 + b1) @ w2 + b2
    return np.mean((prediction - y) ** 2)


def make_trainer(kernel):
    """An @njit SGD loop around ``kernel`` (a closure value: Numba compiles the call into the loop)."""

    @numba.njit
    def train(W1, b1, w2, b2, X, y, orders, batch_size, lr):
        W1, b1, w2 = W1.copy(), b1.copy(), w2.copy()
        epochs, n = orders.shape
        batches = n // batch_size
        losses = np.empty(epochs)
        for epoch in range(epochs):
            total = 0.0
            for k in range(batches):
                rows = orders[epoch, k * batch_size:(k + 1) * batch_size]
                value, grads = kernel(W1, b1, w2, b2, X[rows], y[rows])
                gW1, gb1, gw2, gb2 = grads
                W1 -= lr * gW1
                b1 -= lr * gb1
                w2 -= lr * gw2
                b2 -= lr * gb2
                total += value
            losses[epoch] = total / batches
        return W1, b1, w2, b2, losses

    return train


def train_in_python(step, W1, b1, w2, b2, X, y, orders, batch_size, lr):
    """The same loop in Python, calling graphc's public value_and_grad: the reference."""
    epochs, n = orders.shape
    batches = n // batch_size
    losses = np.empty(epochs)
    for epoch in range(epochs):
        total = 0.0
        for k in range(batches):
            rows = orders[epoch, k * batch_size:(k + 1) * batch_size]
            value, (gW1, gb1, gw2, gb2) = step(W1, b1, w2, b2, X[rows], y[rows])
            W1, b1, w2, b2 = W1 - lr * gW1, b1 - lr * gb1, w2 - lr * gw2, b2 - lr * gb2
            total += value
        losses[epoch] = total / batches
    return W1, b1, w2, b2, losses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 epochs instead of 200 (for tests)")
    args = parser.parse_args(argv)
    epochs, n, hidden, batch_size, lr = (20 if args.quick else 200), 512, 32, 32, 0.1

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (n, 1))
    y = np.sin(3 * X[:, 0]) + 0.05 * rng.standard_normal(n)
    params = (rng.standard_normal((1, hidden)), np.zeros(hidden), rng.standard_normal(hidden) / np.sqrt(hidden), 0.0)
    orders = np.stack([rng.permutation(n) for _ in range(epochs)])  # the same batches for both loops

    step = graphc.value_and_grad(loss, argnums=(0, 1, 2, 3))
    started = time.perf_counter()
    kernel = step.lower(*params, X[:batch_size], y[:batch_size]).dispatcher
    train = make_trainer(kernel)
    train(*params, X, y, orders[:1], batch_size, lr)  # compile the loop (the kernel is already compiled)
    print(f"compiled graphc's kernel and the @njit loop in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    *trained, losses = train(*params, X, y, orders, batch_size, lr)
    t_njit = time.perf_counter() - started
    started = time.perf_counter()
    *reference, ref_losses = train_in_python(step, *params, X, y, orders, batch_size, lr)
    t_python = time.perf_counter() - started

    steps = epochs * (n // batch_size)
    for epoch in sorted({0, epochs // 4, epochs // 2, 3 * epochs // 4, epochs - 1}):
        print(f"epoch {epoch + 1:4d}  mean batch loss {losses[epoch]:.5f}")
    print(f"{steps} SGD steps: @njit loop {t_njit * 1e6 / steps:.1f} us/step, "
          f"Python loop over graphc's function {t_python * 1e6 / steps:.1f} us/step")
    gap = max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(trained, reference))
    print(f"max |weights(@njit loop) - weights(Python loop)| = {gap:.1e}")
    target = 0.05 if args.quick else 0.01  # the noise alone gives 0.0025
    ok = gap < 1e-9 and losses[-1] < losses[0] / 2 and losses[-1] < target
    print("trained" if ok else "FAILED: the loss did not fall enough, or the two loops disagree")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
