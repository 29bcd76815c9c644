"""scipy.optimize.minimize(..., jac=True, method="L-BFGS-B") fed by graphc.value_and_grad.

    python examples/lbfgs.py            # Rosenbrock in 100 dimensions; logistic regression, 2000 x 20
    python examples/lbfgs.py --quick    # 10 dimensions; 300 x 5 (for the test suite)

With ``jac=True`` SciPy wants one function returning (value, gradient): exactly what
``graphc.value_and_grad`` compiles, value and gradient sharing the forward pass. Each problem is
checked against its known optimum: Rosenbrock's minimum is all ones; the logistic regression's is
found again by SciPy from a hand-written NumPy gradient, and by scikit-learn when it is installed.
Needs the `examples` extra: pip install -e ".[examples]"
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import scipy.optimize

import graphc


def rosenbrock(x):
    """sum(100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2); minimum 0 at x = (1, ..., 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def logistic_loss(theta, X, y, lam):
    """Mean logistic loss of labels y in {0, 1}, plus lam/2 |w|^2; theta = (w, b), b not penalized.

    The loss of one example is softplus(z) - y z with z = X w + b, written so exp never overflows.
    """
    w, b = theta[:-1], theta[-1]
    z = X @ w + b
    softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    return np.mean(softplus - y * z) + 0.5 * lam * np.sum(w * w)


def logistic_by_hand(theta, X, y, lam):
    """The same loss and its gradient written out in NumPy: the reference fit."""
    w, b = theta[:-1], theta[-1]
    z = X @ w + b
    value = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * w @ w
    residual = (1.0 / (1.0 + np.exp(-z)) - y) / len(y)
    return value, np.concatenate([X.T @ residual + lam * w, [residual.sum()]])


def solve_rosenbrock(n: int) -> bool:
    x0 = np.tile([-1.2, 1.0], n // 2)  # the classic start, away from the optimum
    fun = graphc.value_and_grad(rosenbrock)
    # graphc's gradient against SciPy's closed form, at the start
    grad_error = np.max(np.abs(fun(x0)[1] - scipy.optimize.rosen_der(x0)))
    res = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": 10000, "ftol": 1e-15, "gtol": 1e-10})
    distance = np.max(np.abs(res.x - 1.0))
    print(f"Rosenbrock, n={n}: {res.nit} iterations, {res.nfev} evaluations, f = {res.fun:.3e}, "
          f"max |x - 1| = {distance:.2e} (gradient vs scipy.optimize.rosen_der at x0: {grad_error:.1e})")
    return res.success and distance < 1e-4 and grad_error < 1e-9


def solve_logistic(n: int, d: int, lam: float = 1e-2) -> bool:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w_true + 0.5)))).astype(np.float64)
    # At the optimum the loss (about 0.46) cannot fall by the ~1e-17 a smaller gradient would give, so a
    # tighter gtol ends in a failed line search whose outcome depends on the last bit of the sums.
    options = {"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-8}
    fun = graphc.value_and_grad(logistic_loss)
    res = scipy.optimize.minimize(fun, np.zeros(d + 1), args=(X, y, lam), jac=True, method="L-BFGS-B",
                                  options=options)
    ref = scipy.optimize.minimize(logistic_by_hand, np.zeros(d + 1), args=(X, y, lam), jac=True,
                                  method="L-BFGS-B", options=options)
    grad_norm = np.linalg.norm(logistic_by_hand(res.x, X, y, lam)[1])
    gap = np.max(np.abs(res.x - ref.x))
    print(f"logistic regression, {n} x {d}, lambda={lam}: {res.nit} iterations, loss = {res.fun:.10f}, "
          f"|gradient| = {grad_norm:.1e}")
    print(f"  reference (SciPy on a hand-written gradient): loss = {ref.fun:.10f}, "
          f"max |theta - theta_ref| = {gap:.1e}")
    ok = res.success and grad_norm < 1e-6 and gap < 1e-5 and abs(res.fun - ref.fun) < 1e-10
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return ok
    # scikit-learn minimizes C * sum(loss) + |w|^2 / 2: the same optimum for C = 1 / (lam n).
    model = LogisticRegression(C=1.0 / (lam * n), tol=1e-12, max_iter=10000).fit(X, y)
    sk_gap = np.max(np.abs(np.append(model.coef_[0], model.intercept_[0]) - res.x))
    print(f"  scikit-learn's LogisticRegression(C=1/(lambda n)): max |theta - theta_sklearn| = {sk_gap:.1e}")
    return ok and sk_gap < 1e-4


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems (for tests)")
    args = parser.parse_args(argv)
    ok = solve_rosenbrock(10 if args.quick else 100)
    ok = solve_logistic(*((300, 5) if args.quick else (2000, 20))) and ok
    print("all converged to the known optimum" if ok else "NOT CONVERGED to the known optimum")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
