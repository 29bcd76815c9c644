"""Op test rows for graphc/ops/ufuncs.py; merged into op_cases.CASES."""
from __future__ import annotations

import numpy as np

from graphc.ops import POSITIVE, REAL, UNIT

from op_cases import INTS, binary, case, unary


def _unary(name, extra=()):
    f = getattr(np, name)
    return unary(lambda x: f(x), f"np.{name}", extra=extra)


def _binary(name, extra=(), **kw):
    f = getattr(np, name)
    return binary(lambda x, y: f(x, y), f, extra=extra, **kw)


CASES: dict = {
    # ---- powers, exponentials, logarithms ----
    "cbrt": _unary("cbrt", extra=[case(lambda x: np.cbrt(x) * x, (3,), id="times-x")]),
    "reciprocal": _unary("reciprocal", extra=[case(lambda x: np.reciprocal(x * 2.0), (2, 3), id="of-2x")]),
    "exp2": _unary("exp2", extra=[case(lambda x: np.exp2(-x), (3,), id="of-minus-x")]),
    "log2": _unary("log2"),
    "log10": _unary("log10"),
    "logaddexp": _binary("logaddexp", extra=[
        case(lambda x: np.logaddexp(x, 0.0), (2, 3), id="scalar-second"),
        case(lambda x: np.logaddexp(x, x), (3,), id="same-operand"),
        case(lambda x, y: np.logaddexp(30.0 * x, y), (3,), (3,), id="far-apart"),
    ]),
    "logaddexp2": _binary("logaddexp2", extra=[
        case(lambda x: np.logaddexp2(1.0, x), (2, 3), id="scalar-first"),
    ]),
    # ---- hyperbolic and inverse trigonometric ----
    "sinh": _unary("sinh"),
    "cosh": _unary("cosh"),
    "arcsin": _unary("arcsin"),
    "arccos": _unary("arccos"),
    "arcsinh": _unary("arcsinh", extra=[case(lambda x: np.arcsinh(100.0 * x), (3,), id="large")]),
    # arccosh is defined for x >= 1; its domain samples 1.1..3 (away from the singular point 1).
    "arccosh": unary(np.arccosh, "np.arccosh"),
    "arctanh": _unary("arctanh"),
    "arctan2": _binary("arctan2", extra=[
        case(lambda y: np.arctan2(y, 1.0), (2, 3), id="scalar-x"),
        case(lambda x: np.arctan2(-1.0, x), (2, 3), id="scalar-y"),
    ]),
    "hypot": _binary("hypot", extra=[case(lambda x: np.hypot(x, 3.0), (3,), id="scalar-second")]),
    # ---- signs, NaN-ignoring extrema, remainders ----
    "copysign": _binary("copysign", extra=[
        case(lambda x: np.copysign(x, -1.0), (2, 3), id="negative-scalar"),
        case(lambda y: np.copysign(2.0, y), (3,), id="scalar-magnitude"),
    ]),
    "fmax": _binary("fmax", extra=[
        case(lambda x: np.fmax(x, 0.5), (2, 3), id="scalar-second"),
        case(lambda x: np.fmax(0.0, x), (3,), id="scalar-first"),
    ]),
    "fmin": _binary("fmin", extra=[
        case(lambda x: np.fmin(x, -0.5), (2, 3), id="scalar-second"),
        case(lambda x: np.fmin(0.0, x), (3,), id="scalar-first"),
    ]),
    "remainder": _binary("remainder", extra=[
        case(lambda x, y: np.mod(x, y), (2, 3), (3,), id="np.mod"),
        case(lambda x: np.remainder(3.0 * x, 0.7), (2, 3), id="scalar-divisor"),
        case(lambda x: np.remainder(x, -0.7), (4,), id="negative-divisor"),
        case(lambda y: np.mod(5.0, y), (3,), id="scalar-dividend"),
        case(lambda x, y: np.stack(np.divmod(x, y)) + np.stack(divmod(x, -0.7)), (2, 3), (3,), id="divmod"),
    ]),
    "floor_divide": _binary("floor_divide", extra=[
        case(lambda x, y: x // y + np.floor_divide(3.0, y) + 2.5 // x, (2, 3), (3,), id="operator"),
        case(lambda x: (10.0 * x) // 0.1, (5,), id="float-boundaries"),  # NumPy's fmod-based rounding
        case(lambda x, y: x // y, (4,), (4,), domains=(INTS, INTS), id="with-zeros"),
        case(lambda x: (x * 3.0).astype(np.int64) // 2 + np.floor_divide(7, (x * 3.0).astype(np.int64) + 10), (6,),
             domains=(INTS,), id="int64"),
    ]),
    "fmod": _binary("fmod", extra=[
        case(lambda x: np.fmod(3.0 * x, 0.7), (2, 3), id="scalar-divisor"),
        case(lambda x: np.fmod(x, -0.7), (4,), id="negative-divisor"),
        case(lambda y: np.fmod(-5.0, y), (3,), id="scalar-dividend"),
    ]),
    # ---- rounding (gradient zero) ----
    "floor": _unary("floor", extra=[case(lambda x: np.floor(x), (5,), id="integers", domains=(INTS,))]),
    "ceil": _unary("ceil", extra=[case(lambda x: np.ceil(x), (5,), id="integers", domains=(INTS,))]),
    # x + 0.5 of integers: halves, where rint rounds to even.
    "rint": _unary("rint", extra=[case(lambda x: np.rint(x + 0.5), (5,), id="halves", domains=(INTS,))]),
    "trunc": _unary("trunc", extra=[case(lambda x: np.trunc(3.0 * x), (2, 3), id="of-3x")]),
}

COMPOSITE_CASES = [
    # ---- degrees and radians: x times NumPy's constant ----
    case(lambda x: np.deg2rad(x), (2, 3), id="np.deg2rad"),
    case(lambda x: np.radians(x), (), id="np.radians-0d"),
    case(lambda x: np.rad2deg(x), (2, 3), id="np.rad2deg"),
    case(lambda x: np.degrees(x), (4,), id="np.degrees"),
    # ---- complex parts of real input ----
    case(lambda x: np.real(x), (2, 3), id="np.real"),
    case(lambda x: x.real * 2.0, (3,), id="attr-real"),
    case(lambda x: np.imag(x) + x, (2, 3), id="np.imag"),
    case(lambda x: x.imag, (), id="attr-imag-0d"),
    case(lambda x: np.conj(x) * x, (2, 3), id="np.conj"),
    case(lambda x: np.conjugate(x), (3,), id="np.conjugate"),
    case(lambda x: x.conj() + x.conjugate(), (3,), id="method-conj"),
    case(lambda x: np.angle(x) + x, (2, 3), id="np.angle"),
    case(lambda x: np.angle(x, deg=True), (4,), id="np.angle-deg"),
    # ---- clip: scalar, array and None bounds, every spelling ----
    case(lambda x: np.clip(x, -0.5, 0.5), (2, 3), id="np.clip-scalars"),
    case(lambda x: np.clip(x, -0.5, 0.5), (), id="np.clip-0d"),
    case(lambda x, lo, hi: np.clip(x, lo, hi), (2, 3), (3,), (2, 1), id="np.clip-array-bounds",
         domains=(REAL, UNIT, POSITIVE)),
    case(lambda x, lo: np.clip(x, lo, 1.0), (2, 3, 4), (3, 1), id="np.clip-array-low"),
    case(lambda x: np.clip(x, None, 0.3), (2, 3), id="np.clip-no-low"),
    case(lambda x: np.clip(x, -0.3, None), (2, 3), id="np.clip-no-high"),
    case(lambda x: np.clip(x, a_min=-1.0, a_max=1.0), (4,), id="np.clip-a_min-a_max"),
    case(lambda x: np.clip(x, min=0.2), (4,), id="np.clip-min-keyword"),
    case(lambda x: x.clip(-1.0, 1.0), (2, 3), id="method-clip"),
    case(lambda x: x.clip(max=0.5), (3,), id="method-clip-max"),
    case(lambda lo: np.clip(2.5, lo, 3.0), (3,), id="np.clip-traced-bound-only", domains=(POSITIVE,)),
]
