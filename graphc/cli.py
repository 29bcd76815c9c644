"""The ``graphc`` command: ``graphc demo`` walks the seed examples through the whole pipeline."""
from __future__ import annotations

import argparse
import math
import os
import sys
import timeit

import numpy as np

import graphc


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
          f"({grads[0]:g}, {grads[1]:g}, {grads[2]:g})   [add distributes, mul switches]")

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

    head("8. repeated evaluation: graphc vs the same function in plain NumPy")
    x, y = 3.0, -4.0
    numbers = 20000
    t_graphc = min(timeit.repeat(lambda: vg(x, y), number=numbers, repeat=5)) / numbers
    t_numpy = min(timeit.repeat(lambda: _numpy_value_and_grad(x, y), number=numbers, repeat=5)) / numbers
    print(f"{'value_and_grad, graphc':<36}{t_graphc * 1e6:8.2f} us/call")
    print(f"{'value_and_grad, hand-written NumPy':<36}{t_numpy * 1e6:8.2f} us/call   "
          f"({t_numpy / t_graphc:.1f}x graphc's time)")
    return 0 if ok else 1


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="graphc", description="Trace, differentiate and compile NumPy functions.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="walk the seed examples through the whole pipeline")
    demo_parser.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")
    args = parser.parse_args(argv)
    if args.command == "demo":
        color = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        return demo(color)
    return 2


if __name__ == "__main__":
    sys.exit(main())
