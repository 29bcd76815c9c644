"""Special functions: scipy.special's ufuncs, traced when they meet a traced value.

``scipy.special`` functions are NumPy ufuncs, so ``scipy.special.gammaln(x)`` on a traced ``x`` reaches
graphc's ``__array_ufunc__`` like ``np.log`` does. Primitives: ``gammaln``, ``digamma`` (``psi``),
``polygamma(n, x)`` (integer ``n``; no gradient in ``n``), ``gamma``, ``erf``, ``erfc``, ``erfinv``.
Composites: ``expit`` (graphc's sigmoid), ``logit``, ``xlogy``, ``xlog1py``, ``betaln``, ``beta``,
``gammasgn``, ``rgamma``, ``ndtr`` and ``ndtri``. Functions of scipy.special that are not ufuncs (``logsumexp``,
``softmax``, ``log_softmax``, ``polygamma`` itself) are in :mod:`graphc.scipy.special`.

Numba emission: libm's through ``math`` where it has the function (``lgamma``, ``gamma``, ``erf``,
``erfc``), else a helper of ``graphc.codegen.rt_special`` (digamma, polygamma, erfinv).

SciPy's own compiled code (``scipy.special.cython_special``, called by symbol from kernels:
graphc.codegen.rt_scipy) for the incomplete gamma and beta functions (``gammainc``, ``gammaincc``,
``betainc``), ``erfcinv`` and the Bessel functions (``i0``, ``i1``, ``iv``, ``ive``, ``j0``, ``j1``, ``jv``
and its alias ``jn``, ``y0``, ``y1``, ``yn``): the same values as SciPy's to the bit. They differentiate
in x; their parameters (a, b, the order v) have no closed-form derivative, and a gradient that needs
one is a DifferentiationError naming it.

Importing graphc does not import SciPy: the references import it when first called, and SciPy's
ufunc objects become dispatch keys the first time one of them meets a traced value.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from graphc.errors import DifferentiationError
from graphc.ops import NUMPY_API, POSITIVE, UNIT, apply, defcomposite
from graphc.ops.elementwise import elementwise

#: Codes of the functions graphc.codegen.rt_special's ``_special_array`` maps over an array (here, so
#: that importing graphc needs no Numba).
GAMMALN, GAMMA, ERF, ERFC, DIGAMMA, ERFINV = range(6)

_SQRT_PI = math.sqrt(math.pi)


def _scipy(name: str):
    """scipy.special's function ``name``, as a reference that imports SciPy only when first called:
    importing graphc does not import SciPy (about 0.35 s)."""

    def reference(*args):
        import scipy.special

        return getattr(scipy.special, name)(*args)

    reference.__name__ = name
    return reference


def _float_emit(scalar: str, code: int):
    """Emissions of a function computed in float64 (the helpers' and libm's), cast to the node's dtype:
    arrays through ``_special_array`` with the function's code (graphc.codegen.rt_special)."""
    return dict(emit=f"_special_array({{0}}, {code}).astype({{dtype}})", scalar_emit=f"{{dtype}}({scalar})")


elementwise("gammaln", _scipy("gammaln"), lambda g, out, x: (g * apply("digamma", x),),
            numpy=(), **_float_emit("math.lgamma({0})", GAMMALN), domain=POSITIVE,
            doc="scipy.special.gammaln: log|Gamma(x)|")
elementwise("digamma", _scipy("digamma"), lambda g, out, x: (g * apply("polygamma", np.ones((), np.int64), x),),
            numpy=(), **_float_emit("_digamma_scalar({0})", DIGAMMA), domain=POSITIVE,
            doc="scipy.special.digamma (psi): d/dx log Gamma(x)")


def _polygamma_reference(n, x):
    import scipy.special

    return np.asarray(scipy.special.polygamma(n, x), np.float64)  # float64 for every x, as SciPy's on arrays


elementwise("polygamma", _polygamma_reference,
            lambda g, out, n, x: (None, g * apply("polygamma", n + 1, x)), arity=2, numpy=(),
            emit="_polygamma_array({0}, {1}).astype({dtype})", scalar_emit="{dtype}(_polygamma_scalar({0}, {1}))",
            domain=POSITIVE, doc="the n-th derivative of digamma (integer n >= 0, x > 0); no gradient in n")
elementwise("gamma", _scipy("gamma"), lambda g, out, x: (g * out * apply("digamma", x),),
            numpy=(), **_float_emit("math.gamma({0})", GAMMA), domain=POSITIVE, doc="scipy.special.gamma")
elementwise("erf", _scipy("erf"), lambda g, out, x: (g * (2.0 / _SQRT_PI) * np.exp(-(x * x)),),
            numpy=(), **_float_emit("math.erf({0})", ERF), doc="scipy.special.erf: the error function")
elementwise("erfc", _scipy("erfc"), lambda g, out, x: (g * (-2.0 / _SQRT_PI) * np.exp(-(x * x)),),
            numpy=(), **_float_emit("math.erfc({0})", ERFC), doc="scipy.special.erfc: 1 - erf(x), without cancellation")
elementwise("erfinv", _scipy("erfinv"), lambda g, out, x: (g * (_SQRT_PI / 2.0) * np.exp(out * out),),
            numpy=(), **_float_emit("_erfinv_scalar({0})", ERFINV), domain=UNIT, singular=True,
            doc="scipy.special.erfinv: the inverse of erf on (-1, 1)")


#: The scipy.special functions whose Numba emission calls SciPy's own compiled code, by name: their
#: arity (graphc.codegen.rt_scipy makes the scalar ``_scipy_<name>`` of each).
SCIPY_COMPILED: dict[str, int] = {}


def _no_closed_form(name: str, parameter: str) -> DifferentiationError:
    return DifferentiationError(
        f"scipy.special.{name} has no closed-form derivative with respect to its parameter {parameter}; graphc "
        f"differentiates it only in its last argument. Pass {parameter} as a constant (or stop_gradient it)")


def _compiled(name: str, adjoint, *, arity: int = 1, **fields) -> None:
    """Declare scipy.special's ``name``: SciPy's ufunc as the reference, SciPy's compiled C function in
    kernels (graphc.codegen.rt_scipy), float64 inside, always in a loop (no array emission)."""
    SCIPY_COMPILED[name] = arity
    args = ", ".join(f"{{{i}}}" for i in range(arity))
    doc = fields.pop("doc") + ("; gradient in x only" if arity > 1 else "")
    elementwise(name, _scipy(name), adjoint, arity=arity, numpy=(), scalar_emit=f"{{dtype}}(_scipy_{name}({args}))",
                doc=doc, **fields)


def _gamma_density(a, x):
    """x^(a-1) e^(-x) / Gamma(a): the derivative of the regularized incomplete gamma function in x."""
    return np.exp(xlogy(a - 1.0, x) - x - apply("gammaln", a))


_compiled("gammainc", lambda g, out, a, x: (_no_closed_form("gammainc", "a"), g * _gamma_density(a, x)), arity=2,
          domain=POSITIVE, doc="scipy.special.gammainc: the regularized lower incomplete gamma P(a, x)")
_compiled("gammaincc", lambda g, out, a, x: (_no_closed_form("gammaincc", "a"), -(g * _gamma_density(a, x))),
          arity=2, domain=POSITIVE, doc="scipy.special.gammaincc: 1 - P(a, x), without cancellation")


def _betainc_adjoint(g, out, a, b, x):
    density = np.exp(xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - betaln(a, b))
    return _no_closed_form("betainc", "a"), _no_closed_form("betainc", "b"), g * density


_compiled("betainc", _betainc_adjoint, arity=3, domain=POSITIVE,
          doc="scipy.special.betainc: the regularized incomplete beta I_x(a, b)")
_compiled("erfcinv", lambda g, out, x: (g * (-_SQRT_PI / 2.0) * np.exp(out * out),), domain=POSITIVE,
          singular=True, doc="scipy.special.erfcinv: the inverse of erfc on (0, 2)")
# Bessel functions. Derivatives in x by the recurrences (DLMF 10.6.2, 10.29.1): C_v' = (C_{v-1} - C_{v+1}) / 2
# for J and Y, (I_{v-1} + I_{v+1}) / 2 for I; none in the order v.
_compiled("i0", lambda g, out, x: (g * apply("i1", x),), doc="scipy.special.i0: modified Bessel I_0")
_compiled("i1", lambda g, out, x: (g * 0.5 * (apply("i0", x) + apply("iv", 2.0, x)),),
          doc="scipy.special.i1: modified Bessel I_1")
_compiled("iv", lambda g, out, v, x: (_no_closed_form("iv", "v"),
                                      g * 0.5 * (apply("iv", v - 1.0, x) + apply("iv", v + 1.0, x))),
          arity=2, domain=POSITIVE, doc="scipy.special.iv: modified Bessel I_v of real order")
# ive = iv e^-|x|: its derivative adds -sign(x) ive.
_compiled("ive", lambda g, out, v, x: (_no_closed_form("ive", "v"),
                                       g * (0.5 * (apply("ive", v - 1.0, x) + apply("ive", v + 1.0, x))
                                            - np.sign(x) * out)),
          arity=2, domain=POSITIVE, doc="scipy.special.ive: iv(v, x) e^-|x|")
_compiled("j0", lambda g, out, x: (-(g * apply("j1", x)),), doc="scipy.special.j0: Bessel J_0")
_compiled("j1", lambda g, out, x: (g * 0.5 * (apply("j0", x) - apply("jv", 2.0, x)),),
          doc="scipy.special.j1: Bessel J_1")
_compiled("jv", lambda g, out, v, x: (_no_closed_form("jv", "v"),
                                      g * 0.5 * (apply("jv", v - 1.0, x) - apply("jv", v + 1.0, x))),
          arity=2, domain=POSITIVE, doc="scipy.special.jv (also jn): Bessel J_v of real order")
_compiled("y0", lambda g, out, x: (-(g * apply("y1", x)),), domain=POSITIVE, doc="scipy.special.y0: Bessel Y_0")
_compiled("y1", lambda g, out, x: (g * 0.5 * (apply("y0", x) - apply("yn", 2.0, x)),), domain=POSITIVE,
          doc="scipy.special.y1: Bessel Y_1")
_compiled("yn", lambda g, out, n, x: (_no_closed_form("yn", "n"),
                                      g * 0.5 * (apply("yn", n - 1.0, x) - apply("yn", n + 1.0, x))),
          arity=2, domain=POSITIVE, doc="scipy.special.yn: Bessel Y_n of integer order")


def logit(p):
    """``log(p / (1 - p))`` as ``log(p) - log1p(-p)``."""
    return np.log(p) - np.log1p(-p)


def xlogy(x, y):
    """``x * log(y)``, and 0 where ``x`` is 0 (also at ``y = 0``)."""
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def xlog1py(x, y):
    """``x * log1p(y)``, and 0 where ``x`` is 0."""
    return np.where(x == 0, 0.0, x * np.log1p(np.where(x == 0, 0.0, y)))


def betaln(a, b):
    """``log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``."""
    return apply("gammaln", a) + apply("gammaln", b) - apply("gammaln", a + b)


def rgamma(x):
    """``1 / gamma(x)``: 0 at the poles of gamma (0, -1, -2...; the gradient there is 0 too, not the
    slope rgamma has) and beyond 171.6, where gamma overflows (rgamma is below 1e-308 there)."""
    zero = np.where(x <= 0, np.floor(x), np.nan) == x   # the poles; NaN compares unequal
    zero = np.where(x > 171.6, True, zero)
    return np.where(zero, 0.0, 1.0 / apply("gamma", np.where(zero, 1.0, x)))


def gammasgn(x):
    """The sign of gamma(x): 1 for x > 0 (and +0), -1 at -0, (-1)^ceil(-x) between the poles below 0,
    NaN at the poles and at -inf; its gradient is 0."""
    flips = np.ceil(-x)
    below = np.where(np.floor(x) == x, np.nan, 1.0 - 2.0 * np.remainder(flips, 2.0))
    sign = np.where(x > 0, 1.0, np.where(x == 0, np.copysign(1.0, x), below))
    return np.where(x == np.inf, 1.0, sign)


def beta(a, b):
    """``B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b)``: its sign from gammasgn, its size from betaln."""
    return gammasgn(a) * gammasgn(b) * gammasgn(a + b) * np.exp(betaln(a, b))


def ndtr(x):
    """The standard normal CDF, ``erfc(-x / sqrt(2)) / 2`` (accurate in the left tail)."""
    return 0.5 * apply("erfc", -x * (1.0 / math.sqrt(2.0)))


def ndtri(p):
    """The standard normal quantile, the inverse of ndtr: ``-sqrt(2) erfcinv(2 p)`` (doubling is exact, so
    the left tail keeps erfcinv's accuracy); -inf at 0, inf at 1, NaN outside [0, 1]."""
    return -math.sqrt(2.0) * apply("erfcinv", 2.0 * p)


#: graphc's handler of each scipy.special ufunc it traces, by name (registered in NUMPY_API once SciPy
#: is imported: see :func:`scipy_ufunc_handler`).
_HANDLERS = {"expit": lambda x: apply("sigmoid", x), "logit": logit, "xlogy": xlogy, "xlog1py": xlog1py,
             "betaln": betaln, "ndtr": ndtr, "ndtri": ndtri, "rgamma": rgamma, "gammasgn": gammasgn, "beta": beta}
_PRIMITIVES = ("gammaln", "digamma", "psi", "gamma", "erf", "erfc", "erfinv", "jn", *SCIPY_COMPILED)
#: scipy.special's other names for graphc's primitives.
_ALIASES = {"psi": "digamma", "jn": "jv"}


def register_scipy_ufuncs() -> None:
    """Make scipy.special's ufuncs dispatch to graphc (their NUMPY_API keys are SciPy's objects)."""
    import scipy.special

    for name in _PRIMITIVES:
        primitive = _ALIASES.get(name, name)
        NUMPY_API.setdefault(getattr(scipy.special, name), _primitive_handler(primitive))
    for name, handler in _HANDLERS.items():
        if getattr(scipy.special, name) not in NUMPY_API:
            defcomposite((getattr(scipy.special, name),), handler)


def _primitive_handler(name: str):
    def handler(*args):
        return apply(name, *args)

    handler.__name__ = name
    return handler


def scipy_ufunc_handler(ufunc):
    """The handler of a ufunc graphc has none for yet: scipy.special's are registered the first time
    one reaches a traced value (SciPy is imported by then: the user called it)."""
    if "scipy.special" in sys.modules and ufunc.__name__ in set(_PRIMITIVES) | set(_HANDLERS):
        register_scipy_ufuncs()
    return NUMPY_API.get(ufunc)
