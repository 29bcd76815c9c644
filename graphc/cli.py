"""The ``graphc`` command: ``graphc demo`` walks the seed examples through the whole pipeline;
``graphc inspect FILE.py:FUNCTION`` shows one of the user's functions (see :mod:`graphc.inspect_cmd`)."""
from __future__ import annotations

import argparse
import math
import os
import sys
import timeit

import numpy as np

import graphc
from graphc import inspect_cmd


def _paint(enabled: bool):
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if enabled else text

    return paint


def seed_f(x, y):
    """The staged-backprop example: (x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)."""
    return (x + graphc.sigmoid(y)) / (graphc.sigmoid(x) + (x + y) ** 2)


def seed_g(x, y, z):
    """The gates example: (x + y) * z."""
    return (x + y) * z


def network_loss(params, X, y):
    """Cross-entropy of a 2-16-1 tanh network's logits z: mean(softplus(z) - y*z), overflow-free."""
    W1, b1, w2, b2 = params
    z = np.tanh(X @ W1 + b1) @ w2 + b2
    return np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z)


def _listing(graph, paint) -> str:
    # Colour the backward pass so the two halves of a gradient graph stand apart.
    return "\n".join(paint(line, "31") if "; adjoint of" in line else line for line in str(graph).splitlines())


def _central_difference(f, args, i, eps=1e-6):
    plus = list(args)
    minus = list(args)
    plus[i] += eps
    minus[i] -= eps
    return (f(*plus) - f(*minus)) / (2 * eps)


def demo(color: bool) -> int:
    paint = _paint(color)
    head = lambda title: print("\n" + paint(f"== {title} ", "1;36") + paint("=" * max(0, 76 - len(title)), "36"))

    head("1. trace: g(x, y, z) = (x + y) * z")
    print(_listing(graphc.trace(seed_g, 1.0, 3.0, -3.0), paint))
    value, grads = graphc.value_and_grad(seed_g, argnums=(0, 1, 2))(1.0, 3.0, -3.0)
    print(f"value at (1, 3, -3) = {value:g}; gradients (dg/dx, dg/dy, dg/dz) = "
          f"({grads[0]:g}, {grads[1]:g}, {grads[2]:g})\n"
          "(add distributes the gradient, multiply switches its inputs)")

    head("2. trace: f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)")
    print(_listing(graphc.trace(seed_f, 3.0, -4.0), paint))

    head("3. the gradient graph: forward pass, then adjoint nodes (red)")
    vg = graphc.value_and_grad(seed_f, argnums=(0, 1))
    print(_listing(graphc.trace(vg, 3.0, -4.0), paint))

    head("4. optimized: folding, CSE, IEEE-exact simplification, DCE, fusion (nodes before -> after)")
    lowered = vg.lower(3.0, -4.0)
    print(lowered.stats_table())
    print(_listing(lowered.graph, paint))

    head("5. generated Numba source (node %7 is v7, constant %7 is k7)")
    print(lowered.source)

    head("6. a fused loop: value and gradient of sum(exp(x) * cos(x)) + sum(x)**2, x of 10")
    w4 = graphc.value_and_grad(lambda x: np.sum(np.exp(x) * np.cos(x)) + np.sum(x) ** 2)
    print(_listing(w4.lower(np.linspace(-1, 1, 10)).graph, paint))

    head("7. value and gradient at x=3, y=-4, against central differences")
    value, (dx, dy) = vg(3.0, -4.0)
    fd = [_central_difference(seed_f, [3.0, -4.0], i) for i in range(2)]
    ok = all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip((dx, dy), fd))
    print(f"f = {value:.12f}\ndf/dx = {dx:.12f}   (finite differences {fd[0]:.12f})\n"
          f"df/dy = {dy:.12f}   (finite differences {fd[1]:.12f})   "
          + (paint("agree", "32") if ok else paint("DISAGREE", "31")))

    head("8. a small network trained for a few steps: 2-16-1 tanh net, minibatch SGD")
    ok = _train_network(paint) and ok

    head("9. backpropagation through time with shared weights: the loop as one scan node")
    ok = _bptt(paint) and ok

    head("10. repeated evaluation: graphc vs the same function in plain NumPy")
    x, y = 3.0, -4.0
    numbers = 20000
    t_graphc = min(timeit.repeat(lambda: vg(x, y), number=numbers, repeat=5)) / numbers
    t_numpy = min(timeit.repeat(lambda: _numpy_value_and_grad(x, y), number=numbers, repeat=5)) / numbers
    print(f"{'value_and_grad, graphc':<36}{t_graphc * 1e6:8.2f} us/call")
    print(f"{'value_and_grad, hand-written NumPy':<36}{t_numpy * 1e6:8.2f} us/call   "
          f"({t_numpy / t_graphc:.1f}x graphc's time)")
    return 0 if ok else 1


def _train_network(paint) -> bool:
    """Fit the sign of x0*x1 (points in the four quadrants) with value_and_grad on a pytree of weights."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    params = (rng.standard_normal((2, 16)), np.zeros(16), 0.5 * rng.standard_normal(16), 0.0)
    step = graphc.value_and_grad(network_loss)  # gradients come back as a tuple like params
    print("data: 200 points in [-1, 1]^2, label 1 where x0*x1 > 0; batches of 50, learning rate 0.5")
    losses, first = [], None
    for i in range(1, 301):
        start = (i % 4) * 50
        loss, grads = step(params, X[start:start + 50], y[start:start + 50])
        params = tuple(p - 0.5 * g for p, g in zip(params, grads))
        losses.append(loss)
        if i == 1 or i % 50 == 0:
            W1, b1, w2, b2 = params
            accuracy = np.mean(((np.tanh(X @ W1 + b1) @ w2 + b2) > 0) == (y > 0))
            mean = float(np.mean(losses))
            first = first or mean
            bar = "#" * max(1, round(40 * mean / first))
            print(f"step {i:3d}  loss {mean:.4f}  accuracy {accuracy:6.1%}  {paint(bar, '33')}")
            losses = []
    return mean < first / 2


def rnn_loss(W, U, h0, xs):
    """h = tanh(W @ h + U @ x) over the steps of xs, with one W and one U shared by every step."""
    def step(h, x):
        h = np.tanh(W @ h + U @ x)
        return h, np.sum(h)
    h, per_step = graphc.scan(step, h0, xs)
    return np.sum(h * h) + 0.1 * np.sum(per_step)


def rnn_loss_unrolled(W, U, h0, xs):
    """The same loss as a Python loop: it unrolls into the graph, one copy of the step per x."""
    h, total = h0, 0.0
    for x in xs:
        h = np.tanh(W @ h + U @ x)
        total = total + np.sum(h)
    return np.sum(h * h) + 0.1 * total


def _bptt(paint) -> bool:
    rng = np.random.default_rng(1)
    W, U, h0, xs = rng.normal(size=(4, 4)) * 0.5, rng.normal(size=(4, 3)) * 0.5, rng.normal(size=4), \
        rng.normal(size=(50, 3))
    vg = graphc.value_and_grad(rnn_loss, argnums=(0, 1))
    graph = vg.lower(W, U, h0, xs).graph
    scans = [n for n in graph.topo_order() if graph[n]["op"] == "scan"]
    print(_listing(graphc.trace(rnn_loss, W, U, h0, xs), paint))
    print(f"its gradient graph, optimized, has {len(graph)} nodes for the 50 steps: the forward scan "
          f"%{scans[0]} stacks\nwhat the reverse scan %{scans[-1]} reads (print(vg.lower(*args).graph) "
          "shows them)")
    value, (gW, gU) = vg(W, U, h0, xs)
    unrolled = graphc.trace(graphc.value_and_grad(rnn_loss_unrolled, argnums=(0, 1)), W, U, h0, xs)
    from graphc.evaluate import evaluate

    value_u, gW_u, gU_u = evaluate(unrolled, W, U, h0, xs)
    diff = max(abs(value - value_u), np.max(np.abs(gW - gW_u)), np.max(np.abs(gU - gU_u)))
    ok = diff < 1e-12
    print(f"the unrolled Python loop traces to {len(unrolled)} nodes; value and gradients of the two\n"
          f"differ by {diff:.1e} " + (paint("(agree)", "32") if ok else paint("(DISAGREE)", "31")))
    return ok


def _numpy_value_and_grad(x, y):
    # The staged backward pass by hand (CS231n's layout), as a user would write it without graphc.
    sigy = 1.0 / (1 + np.exp(-y))
    num = x + sigy
    sigx = 1.0 / (1 + np.exp(-x))
    xpy = x + y
    xpysqr = xpy ** 2
    den = sigx + xpysqr
    invden = 1.0 / den
    f = num * invden
    dnum = invden
    dinvden = num
    dden = (-1.0 / den ** 2) * dinvden
    dsigx = dden
    dxpysqr = dden
    dxpy = 2 * xpy * dxpysqr
    dx = dxpy + (1 - sigx) * sigx * dsigx + dnum
    dy = dxpy + (1 - sigy) * sigy * dnum
    return f, (dx, dy)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, exit status 2 (argparse's default prints the whole usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    parser = _Parser(prog="graphc", description="Trace, differentiate and compile NumPy functions.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="walk the seed examples through the whole pipeline")
    demo_parser.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")
    inspect_cmd.add_parser(commands)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            color = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
            return demo(color)
        return inspect_cmd.run(args)
    except BrokenPipeError:
        # `graphc demo | head`: the reader has gone. Point stdout at devnull so that Python's own flush
        # at exit does not fail again (the recipe of Python's signal module documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
