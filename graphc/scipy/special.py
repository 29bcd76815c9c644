"""``scipy.special`` for traced values: its ufuncs (which also trace when called from scipy.special
itself) and the functions that are not ufuncs, with SciPy's signatures.

>>> import numpy as np, graphc
>>> from graphc.scipy.special import logsumexp
>>> float(graphc.grad(lambda x: logsumexp(x))(np.zeros(4))[0])
0.25
"""
from __future__ import annotations

import numpy as np
import scipy.special as sc
# The ufuncs: SciPy's own objects, which dispatch to graphc's primitives on traced values. The
# incomplete gamma and beta functions and the Bessel functions differentiate in x only (their
# parameters' derivatives have no closed form: asking for one is a DifferentiationError).
from scipy.special import (  # noqa: F401 -- re-exported
    beta, betainc, betaln, digamma, erf, erfc, erfcinv, erfinv, expit, gamma, gammainc, gammaincc, gammaln, i0, i1, iv,
    gammasgn, ive, j0, j1, jn, jv, logit, ndtr, ndtri, psi, rgamma, xlog1py, xlogy, y0, y1, yn)

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, composite

__all__ = ["beta", "betainc", "betaln", "digamma", "erf", "erfc", "erfcinv", "erfinv", "expit", "gamma", "gammainc",
           "gammaincc", "gammaln", "gammasgn", "i0", "i1", "iv", "ive", "j0", "j1", "jn", "jv", "log_softmax", "logit", "logsumexp",
           "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "rgamma", "softmax", "xlog1py", "xlogy", "y0", "y1", "yn"]


def polygamma(n, x):
    """The n-th derivative of digamma (``n`` a non-negative integer, or an array of them)."""
    n = np.asarray(n)
    if n.dtype.kind not in "iu" or np.any(n < 0):
        raise ShapeError(f"polygamma needs non-negative integer orders n, got {n!r}", user_frame())
    return apply("polygamma", n, x)


def multigammaln(a, d):
    """The log of the multivariate gamma function of dimension ``d`` (a positive integer):
    ``d (d - 1) / 4 log(pi) + sum_j gammaln(a - j / 2)`` for j = 0 .. d - 1."""
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ShapeError(f"multigammaln needs a positive integer dimension d, got {d!r}", user_frame())
    total = d * (d - 1) / 4.0 * np.log(np.pi)
    for j in range(d):
        total = total + sc.gammaln(a - j / 2.0)
    return total


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a), axis))`` without overflow: SciPy's, for positive weights ``b``."""
    if return_sign:
        raise ShapeError("graphc's logsumexp does not return a sign (return_sign=True): pass positive b",
                         user_frame())
    return composite.logsumexp(a, axis=axis, keepdims=keepdims, b=b)


def softmax(x, axis=None):
    """``exp(x) / sum(exp(x), axis)`` (SciPy's default: over every axis), shifted by the max."""
    return composite.softmax(x, axis=axis)


def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis, keepdims=True)``."""
    return x - logsumexp(x, axis=axis, keepdims=True)
