"""Train a small MLP on scikit-learn's handwritten digits with graphc.value_and_grad and minibatch SGD.

    python examples/digits_mlp.py            # 40 epochs: about 97% test accuracy
    python examples/digits_mlp.py --quick    # 5 epochs (about 93%), for the test suite

The data set (1,797 8x8 images, 10 classes) ships with scikit-learn, so this runs offline. The
weights are a dict (a pytree): the gradient comes back as a dict with the same keys. Every batch has
the same shape, so graphc compiles the value-and-gradient function once and reuses it.
Needs the `examples` extra: pip install -e ".[examples]"
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import graphc


def logits(params, X):
    """64 pixels -> tanh hidden layer -> 10 class scores."""
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    return hidden @ params["W2"] + params["b2"]


def loss(params, X, Y):
    """Mean softmax cross-entropy of one-hot labels Y: logsumexp(z) - z[label]."""
    z = logits(params, X)
    return np.mean(graphc.logsumexp(z, axis=1) - np.sum(z * Y, axis=1))


def init_params(rng, sizes=(64, 64, 10)) -> dict:
    n_in, n_hidden, n_out = sizes
    return {"W1": rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in), "b1": np.zeros(n_hidden),
            "W2": rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden), "b2": np.zeros(n_out)}


def accuracy(params, X, labels) -> float:
    # Plain NumPy: the trained weights are ordinary arrays.
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    return float(np.mean(np.argmax(hidden @ params["W2"] + params["b2"], axis=1) == labels))


def train(epochs: int, batch_size: int = 32, lr: float = 0.1, hidden: int = 64, seed: int = 0):
    """Minibatch SGD; returns (params, test accuracy, last epoch's mean loss, seconds of training)."""
    digits = load_digits()
    X = digits.data / 16.0  # pixel intensities 0..16 -> 0..1
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.25, random_state=seed, stratify=digits.target)
    Y_train = np.eye(10)[y_train]
    rng = np.random.default_rng(seed)
    params = init_params(rng, (64, hidden, 10))
    step = graphc.value_and_grad(loss)  # d loss / d params, as a dict like params
    batches = len(X_train) // batch_size  # the last partial batch is dropped: one shape, one compile
    started = time.perf_counter()
    step(params, X_train[:batch_size], Y_train[:batch_size])  # compile now, so the bar's rate is training's
    print(f"compiled value_and_grad(loss) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    started = time.perf_counter()
    with tqdm(total=epochs * batches, desc="training", unit="batch", file=sys.stderr) as bar:
        for epoch in range(epochs):
            order = rng.permutation(len(X_train))
            total = 0.0
            for b in range(batches):
                rows = order[b * batch_size:(b + 1) * batch_size]
                value, grads = step(params, X_train[rows], Y_train[rows])
                params = {k: params[k] - lr * grads[k] for k in params}
                total += value
                bar.update()
                if b % 10 == 9:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{total / (b + 1):.4f}", refresh=False)
            bar.set_postfix(epoch=epoch + 1, loss=f"{total / batches:.4f}")
    seconds = time.perf_counter() - started
    return params, accuracy(params, X_test, y_test), total / batches, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs instead of 40 (for tests)")
    parser.add_argument("--epochs", type=int, help="number of passes over the training set")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    epochs = args.epochs or (5 if args.quick else 40)
    _, test_accuracy, final_loss, seconds = train(epochs, lr=args.lr, seed=args.seed)
    print(f"epochs: {epochs}  final training loss: {final_loss:.4f}  training time: {seconds:.2f} s")
    print(f"test accuracy: {test_accuracy:.2%}")
    target = 0.85 if args.quick else 0.95
    if test_accuracy < target:
        print(f"below the {target:.0%} this example promises", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
