"""Fit a damped oscillator to observations of its position, through odeint's adjoint gradient.

    x'' + c x' + k x = 0,   x(0) = x0,   x'(0) = 0

The data are positions at 40 times from SciPy's own odeint at tight tolerances, without noise. The
model integrates the same equation with ``graphc.scipy.integrate.odeint``; ``graphc.value_and_grad``
gives the squared error and its gradient in (k, c, x0) by the adjoint method, and SciPy's BFGS
(``minimize(jac=True)``) fits them from a poor start. The gradient is first checked against central
differences of SciPy's solution.

    python examples/damped_oscillator.py            # t in [0, 10]
    python examples/damped_oscillator.py --quick    # t in [0, 4], 12 observations
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.integrate import odeint as scipy_odeint
from scipy.optimize import minimize

import graphc
from graphc.scipy.integrate import odeint

TRUE = np.array([2.0, 0.3, 1.0])     # stiffness k, damping c, starting position x0
START = np.array([1.2, 0.8, 0.5])
TOLERANCE = 1e-10                    # odeint's rtol and atol in the model


def oscillator(state, t, k, c):
    """d/dt (x, v) = (v, -k x - c v)."""
    return np.stack([state[1], -k * state[0] - c * state[1]])


def positions(theta, times, solver=odeint, tolerance=TOLERANCE):
    k, c, x0 = theta[0], theta[1], theta[2]
    start = np.stack([x0, 0.0 * x0])
    return solver(oscillator, start, times, args=(k, c), rtol=tolerance, atol=tolerance)[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter record (for tests)")
    options = parser.parse_args()
    times = np.linspace(0.0, 4.0, 12) if options.quick else np.linspace(0.0, 10.0, 40)
    observed = positions(TRUE, times, scipy_odeint, tolerance=1e-13)

    def squared_error(theta):
        return np.sum((positions(theta, times) - observed) ** 2)

    fit = graphc.value_and_grad(squared_error)

    # The gradient against central differences of SciPy's solution (tight tolerances: its own error
    # stays far below the differences' step).
    _, gradient = fit(START)
    scipy_error = lambda theta: np.sum((positions(theta, times, scipy_odeint, 1e-13) - observed) ** 2)  # noqa: E731
    step = 1e-5
    differences = np.array([(scipy_error(START + step * e) - scipy_error(START - step * e)) / (2 * step)
                            for e in np.eye(3)])
    agreement = np.max(np.abs(gradient - differences) / np.abs(differences))
    print(f"gradient at the start: {np.array2string(gradient, precision=8)}")
    print(f"central differences:   {np.array2string(differences, precision=8)}")
    print(f"largest relative difference: {agreement:.2e}")

    began = time.perf_counter()
    result = minimize(lambda theta: tuple(map(np.asarray, fit(theta))), START, jac=True, method="BFGS",
                      options=dict(gtol=1e-12, maxiter=200))
    seconds = time.perf_counter() - began
    error = np.max(np.abs(result.x - TRUE))
    print(f"fitted (k, c, x0) = {np.array2string(result.x, precision=10)}; true {TRUE}")
    # The first evaluations run on graphc's NumPy tier while the Numba kernel compiles in the background.
    print(f"max |fitted - true| = {error:.2e} after {result.nfev} evaluations in {seconds:.1f} s")
    if error > 1e-6 or agreement > 1e-6:
        raise SystemExit("the fit or the gradient check missed its 1e-6 target")
    print("recovered the parameters to 1e-6")


if __name__ == "__main__":
    main()
