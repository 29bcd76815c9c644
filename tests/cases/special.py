"""Op test rows for graphc/ops/special.py (scipy.special's ufuncs); merged into op_cases.CASES.

Each row calls the scipy.special function itself on the traced value (it reaches graphc through
``__array_ufunc__``), so the NumPy expectation is SciPy's own value.
"""
from __future__ import annotations

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
}

COMPOSITE_CASES = [
    case(lambda x: sc.expit(x), (2, 3), id="sc.expit"),
    case(lambda u: sc.logit(0.5 + 0.5 * u), (4,), id="sc.logit", domains=("unit",)),
    case(lambda x, y: sc.xlogy(x, y), (3,), (3,), id="sc.xlogy", domains=("real", "positive")),
    case(lambda x, y: sc.xlog1py(x, y), (3,), (2, 3), id="sc.xlog1py", domains=("real", "positive")),
    case(lambda a, b: sc.betaln(a, b), (3,), (3,), id="sc.betaln", domains=("positive", "positive")),
    case(lambda x: sc.ndtr(x), (2, 3), id="sc.ndtr"),
]
