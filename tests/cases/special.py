"""Op test rows for graphc/ops/special.py (scipy.special's ufuncs); merged into op_cases.CASES.

Each row calls the scipy.special function itself on the traced value (it reaches graphc through
``__array_ufunc__``), so the NumPy expectation is SciPy's own value.
"""
from __future__ import annotations

import numpy as np
import scipy.special as sc

from graphc.ops import apply
from op_cases import case, unary

CASES = {
    "gammaln": unary(lambda x: sc.gammaln(x), "gammaln"),
    "digamma": unary(lambda x: sc.digamma(x), "digamma",
                     extra=[case(lambda x: sc.psi(x), (3,), id="psi")]),
    "polygamma": [case(lambda x: apply("polygamma", 1, x), (4,), id="trigamma",
                       expected=lambda x: sc.polygamma(1, x)),
                  case(lambda x: apply("polygamma", 3, x), (2, 3), id="n=3", expected=lambda x: sc.polygamma(3, x))],
    "gamma": unary(lambda x: sc.gamma(x), "gamma"),
    "erf": unary(lambda x: sc.erf(x), "erf"),
    "erfc": unary(lambda x: sc.erfc(x), "erfc"),
    "erfinv": unary(lambda x: sc.erfinv(x), "erfinv"),
    # SciPy's compiled functions (graphc.codegen.rt_scipy). A parameter that has no derivative is a
    # constant here: a scalar first (the special-values test reads the first row), then an array of them
    # (broadcasting). SciPy computes gammainc(2.5, float32) and yn(2, float32) in float64 (its double
    # loop comes first); graphc keeps float32, as for NumPy's ufuncs, so those rows' expectations pass
    # a float32 parameter.
    "gammainc": [case(lambda x: sc.gammainc(2.5, x), (4,), id="a=2.5",
                      expected=lambda x: sc.gammainc(np.asarray(2.5, x.dtype), x)),
                 case(lambda x: sc.gammainc(np.array([0.7, 3.0]), x), (3, 1), id="a-row")],
    "gammaincc": [case(lambda x: sc.gammaincc(np.float64(0.7), x), (3,), id="a=0.7"),
                  case(lambda x: sc.gammaincc(np.array([0.7, 3.0]), x), (3, 1), id="a-row")],
    "betainc": [case(lambda x: sc.betainc(2.0, 0.7, x / 2.5), (3,), id="x/2.5"),
                case(lambda x: sc.betainc(np.array([2.0, 0.6]), 0.7, x / 2.5), (3, 2), id="a-row")],
    "erfcinv": [case(lambda x: sc.erfcinv(0.5 * x + 0.3), (2, 3), id="0.3..1.3")],
    "i0": [case(lambda x: sc.i0(x), (2, 3))],
    "i1": [case(lambda x: sc.i1(x), (4,))],
    "iv": [case(lambda x: sc.iv(1.5, x), (3,), id="v=1.5"),
           case(lambda x: sc.iv(np.array([0.0, 1.5, 4.0]), x), (2, 3), id="v-row")],
    "ive": [case(lambda x: sc.ive(2.0, x), (3,), id="v=2"),
            case(lambda x: sc.ive(np.array([0.5, 2.0]), 4.0 * x), (3, 2), id="v-row")],
    "j0": [case(lambda x: sc.j0(3.0 * x), (2, 3))],
    "j1": [case(lambda x: sc.j1(3.0 * x), (4,))],
    "jv": [case(lambda x: sc.jv(2.5, x), (3,), id="v=2.5"),
           case(lambda x: sc.jv(np.array([0.5, 3.0]), 3.0 * x), (3, 2), id="v-row"),
           case(lambda x: sc.jn(2, x), (3,), id="jn")],
    "y0": [case(lambda x: sc.y0(x), (2, 3))],
    "y1": [case(lambda x: sc.y1(x), (4,))],
    "yn": [case(lambda x: sc.yn(2, x), (3,), id="n=2", expected=lambda x: sc.yn(np.asarray(2, x.dtype), x)),
           case(lambda x: sc.yn(np.array([0, 3]), 2.0 * x), (3, 2), id="n-row")],
}

COMPOSITE_CASES = [
    case(lambda x: sc.expit(x), (2, 3), id="sc.expit"),
    case(lambda u: sc.logit(0.5 + 0.5 * u), (4,), id="sc.logit", domains=("unit",)),
    case(lambda x, y: sc.xlogy(x, y), (3,), (3,), id="sc.xlogy", domains=("real", "positive")),
    case(lambda x, y: sc.xlog1py(x, y), (3,), (2, 3), id="sc.xlog1py", domains=("real", "positive")),
    case(lambda a, b: sc.betaln(a, b), (3,), (3,), id="sc.betaln", domains=("positive", "positive")),
    case(lambda x: sc.ndtr(x), (2, 3), id="sc.ndtr"),
    case(lambda u: sc.ndtri(0.5 + 0.5 * u), (2, 3), id="sc.ndtri", domains=("unit",)),
    case(lambda a, b: sc.beta(a, b), (3,), (2, 3), id="sc.beta"),
    case(lambda x: sc.gammasgn(x) * x, (2, 3), id="sc.gammasgn"),  # REAL stays off the poles
]
