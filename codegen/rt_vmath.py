"""Vectorizable transcendental functions for fused loops.

PyPI's llvmlite has no SVML, so a Numba loop that calls ``np.exp`` or ``np.tanh`` calls libm once per
element and LLVM cannot vectorize it. The functions here are the same mathematics written as
straight-line float64 code: a range reduction, a polynomial, and a scale by ``2**k`` built from the
exponent bits. Edge cases are handled with selects: ``a if c else b`` only on values already computed,
which LLVM turns into vector selects (an expression inside a conditional arm stays a branch). A loop
over these functions vectorizes.

Accuracy (tests/codegen/test_vmath.py, 10^6 points over each function's whole domain): within 2 ulp
of NumPy in float64. float32 arguments are evaluated through float64 and rounded once, within 1 ulp.
Special values (signed zeros, infinities, NaN, subnormals, the overflow and underflow thresholds)
give NumPy's results.

Reductions: ``k = round(x / ln2)`` and ``k = round(x / (pi/2))`` round by adding and subtracting
1.5 * 2**52 (no libm ``rint``); ``x - k * c`` uses ``c`` split into pieces short enough that each
product ``k * piece`` is exact (Cody and Waite; pi/2 in four pieces, 143 bits, so that near a multiple
of pi/2 the tiny reduced argument keeps its precision), and sin and cos keep the reduction's rounding
error as a correction term. The polynomials are Taylor series (tanh's from the Bernoulli numbers), cut
where the next term is below 2**-60 of the result over the reduced range, and evaluated with
multiply-adds that fuse where the core has FMA. ``sin`` and ``cos`` of ``|x| >= 2**22`` need more
bits of pi/2 than these pieces hold: those arguments go to libm, lane by lane (``_huge_call``).
"""
from __future__ import annotations

import math
from decimal import Decimal, getcontext
from fractions import Fraction

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable

__all__ = ["vcos", "vexp", "vexpm1", "vlog", "vlog1p", "vsigmoid", "vsin", "vtanh"]

#: The functions generated code calls: compiled once (and cached on disk), then inlined by LLVM.
_public = numba.njit(cache=True, error_model="numpy")


def _inlined(fn):
    """The pieces of those functions: inlined into them in Numba's IR, so that each public function is
    one compile. (A new decorator per function: register_jitable pops ``inline`` from its keywords.)"""
    return register_jitable(error_model="numpy", inline="always")(fn)


@intrinsic
def _always_inline(typingctx):
    """Marks the function being compiled ``alwaysinline``: LLVM then inlines it into every loop that
    calls it, however big, and the loop can vectorize (a call would stay a call). The function itself
    is compiled once and cached on disk; inlining it into the callers' Numba IR instead would have
    every kernel type its whole body again, which doubled compile times."""
    def codegen(context, builder, signature, args):
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64 as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, n):
    """The float64 whose IEEE bits are the int64 ``n``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _multiply_add(typingctx, a, b, c):
    """a * b + c, fused into one rounding where the core has FMA (LLVM's fmuladd), plain otherwise."""
    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(double, [double] * 3),
                                            "llvm.fmuladd.f64")
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


# ---- constants, derived here from the definitions ------------------------------------------------
getcontext().prec = 60


def _pi() -> Decimal:
    """pi to the context's precision, by Machin's formula."""
    def arctan_inverse(n: int) -> Decimal:
        x, total, term, k = Decimal(1) / n, Decimal(0), Decimal(1) / n, 0
        while term > Decimal(10) ** -(getcontext().prec + 5):
            total += term / (2 * k + 1) * (-1) ** k
            term *= x * x
            k += 1
        return total
    return 4 * (4 * arctan_inverse(5) - arctan_inverse(239))


def _pieces(value: Decimal, lead_bits: int, count: int) -> list[float]:
    """``value`` as ``count`` floats, each but the last with only ``lead_bits`` significant bits, summing
    to ``value`` to about ``count * lead_bits + 53`` bits (so ``k * piece`` is exact for small ``k``)."""
    pieces, rest = [], value
    for _ in range(count - 1):
        exponent = math.frexp(float(rest))[1]
        quantum = Decimal(2) ** (exponent - lead_bits)
        piece = (rest / quantum).to_integral_value(rounding="ROUND_FLOOR") * quantum
        pieces.append(float(piece))
        rest -= piece
    return pieces + [float(rest)]


def _taylor(start: int, stop: int, step: int = 1, alternate: bool = False) -> tuple:
    """Coefficients ``1 / n!`` for ``n = start, start + step, ... < stop``, highest power first; with
    ``alternate``, the signs of sin's and cos's series (``-1`` for ``n = 3, 6, 7, 10, 11, ...``)."""
    return tuple(float(Decimal(-1 if alternate and n // 2 % 2 else 1) / math.factorial(n))
                 for n in range(start, stop, step))[::-1]


def _tanh_series(terms: int) -> tuple:
    """tanh's Taylor coefficients of a**3, a**5, ..., highest power first:
    2**(2n) * (2**(2n) - 1) * B(2n) / (2n)! for n = 2, 3, ...; B from the Bernoulli recurrence."""
    bernoulli = [Fraction(1)]
    for m in range(1, 2 * terms + 3):
        bernoulli.append(-sum(math.comb(m + 1, j) * bernoulli[j] for j in range(m)) / (m + 1))
    return tuple(float(4 ** n * (4 ** n - 1) * bernoulli[2 * n] / math.factorial(2 * n))
                 for n in range(2, terms + 2))[::-1]


_LN2 = Decimal(2).ln()
LN2_HI, LN2_LO = _pieces(_LN2, 32, 2)
INV_LN2 = float(1 / _LN2)
_PI = _pi()
PIO2_1, PIO2_2, PIO2_3, PIO2_4 = _pieces(_PI / 2, 30, 4)   # 143 bits of pi/2
TWO_OVER_PI = float(2 / _PI)
SHIFTER = 1.5 * 2.0 ** 52        # x + SHIFTER - SHIFTER rounds x to an integer for |x| < 2**51
TRIG_LIMIT = 2.0 ** 22           # k * PIO2_1, k * PIO2_2 and k * PIO2_3 are exact below it
TWO54 = 2.0 ** 54
SMALLEST_NORMAL = 2.0 ** -1022
SQRT_HALF = math.sqrt(0.5)

# Polynomial coefficients, highest power first (for Horner's rule):
E1 = _taylor(2, 14)          # exp(r) - 1 - r = r*r * (1/2! + r/3! + ... + r**11/13!)
S1 = _taylor(3, 19, 2, True)      # sin(r) - r = r**3 * (-1/3! + r**2/5! - ... - r**14/17!)
C1 = _taylor(4, 21, 2, True)      # cos(r) - 1 + r*r/2 = r**4 * (1/4! - r**2/6! + ... + r**16/20!)
# tanh(a) - a = a**3 * (-1/3 + 2 a**2/15 - ...), 20 terms, from the Bernoulli numbers
T1 = _tanh_series(20)
TANH_SERIES_LIMIT = 0.55
# log(1 + f) = f - f*f/2 + s * (f*f/2 + R(s*s)), s = f / (2 + f), R(z) = 2z/3 + 2z**2/5 + ... + 2z**12/25
L1 = tuple(2.0 / (2 * n + 1) for n in range(1, 13))[::-1]


# ---- libm for sin and cos of huge arguments ------------------------------------------------------
#: Vector widths LLVM may pick for a loop over float64 (SSE, AVX, AVX-512).
_WIDTHS = (2, 4, 8)


def _huge_variant(module, scalar, libm, width):
    """``<width x double> scalar_v<width>(<width x double>)``: ``libm`` on each lane whose |x| >= TRIG_LIMIT,
    0 on the others, one lane at a time. Defined in the calling module, so it is compiled for the same
    core."""
    vector = ir.VectorType(ir.DoubleType(), width)
    fn = ir.Function(module, ir.FunctionType(vector, [vector]), f"{scalar.name}_v{width}")
    fn.linkage = "linkonce_odr"
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    result = ir.Constant(vector, None)
    for lane in range(width):
        x = builder.extract_element(fn.args[0], ir.Constant(ir.IntType(32), lane))
        value = _if_huge(builder, x, lambda x: builder.call(libm, [x]))
        result = builder.insert_element(result, value, ir.Constant(ir.IntType(32), lane))
    builder.ret(result)
    return fn


#: Our name for the call -> libm's function it makes on huge arguments.
_HUGE_CALLS = {"graphc_vmath_sin": "sin", "graphc_vmath_cos": "cos"}


def _huge_scalar(module, symbol, libm_name):
    """``double symbol(double x)``: libm's function of x where |x| >= TRIG_LIMIT, else 0; and libm's
    function. Never inlined: inside a loop, LLVM would see libm's call and widen it."""
    double = ir.DoubleType()
    libm = cgutils.get_or_insert_function(module, ir.FunctionType(double, [double]), libm_name)
    fn = ir.Function(module, ir.FunctionType(double, [double]), symbol)
    fn.linkage = "linkonce_odr"
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(_if_huge(builder, fn.args[0], lambda x: builder.call(libm, [x])))
    return fn, libm


def _if_huge(builder, x, call):
    """``call(x)`` if |x| >= TRIG_LIMIT else 0.0, as a branch."""
    double = ir.DoubleType()
    magnitude = builder.call(builder.module.declare_intrinsic("llvm.fabs", [double]), [x])
    huge = builder.fcmp_ordered(">=", magnitude, ir.Constant(double, TRIG_LIMIT))
    before = builder.block
    with builder.if_then(huge, likely=False):
        called = call(x)
        inside = builder.block
    value = builder.phi(double)
    value.add_incoming(ir.Constant(double, 0.0), before)
    value.add_incoming(called, inside)
    return value


def _declare_huge(module):
    """Define the calls of ``_HUGE_CALLS`` in ``module``, with their vector versions."""
    if next(iter(_HUGE_CALLS)) in module.globals:
        return
    variants = []
    for symbol, libm_name in _HUGE_CALLS.items():
        scalar, libm = _huge_scalar(module, symbol, libm_name)
        versions = [_huge_variant(module, scalar, libm, width) for width in _WIDTHS]
        variants += versions
        for attribute in ("readnone", "nounwind", "noinline"):
            scalar.attributes.add(attribute)
        # llvmlite's list of attributes predates these two, so they go past its check
        set.add(scalar.attributes, "willreturn")
        mappings = ",".join(f"_ZGV_LLVM_N{width}v_{symbol}({version.name})"
                            for width, version in zip(_WIDTHS, versions))
        set.add(scalar.attributes, f'"vector-function-abi-variant"="{mappings}"')
    # Listed in llvm.compiler.used, the versions live until the vectorizer has looked for them.
    if "llvm.compiler.used" not in module.globals:
        used = ir.GlobalVariable(module, ir.ArrayType(ir.PointerType(), len(variants)), "llvm.compiler.used")
        used.linkage = "appending"
        used.section = "llvm.metadata"
        used.initializer = ir.Constant(used.type.pointee, variants)


def _huge_call(symbol):
    @intrinsic
    def call(typingctx, x):
        """``symbol(x)`` where |x| >= TRIG_LIMIT, else 0. LLVM cannot vectorize a loop around a call it does
        not know, and one it knows (``llvm.sin``) it widens into a libm call on every lane. This call
        comes with vector versions (the ``vector-function-abi-variant`` attribute) that call libm on
        the lanes that need it, so the loop vectorizes and pays for libm only on huge arguments."""
        def codegen(context, builder, signature, args):
            _declare_huge(builder.module)
            return builder.call(builder.module.globals[symbol], args)
        return types.float64(types.float64), codegen
    return call


_sin_huge, _cos_huge = _huge_call("graphc_vmath_sin"), _huge_call("graphc_vmath_cos")


@register_jitable(error_model="numpy")   # not inlined in Numba's IR, which mishandles the loop's variable
def _poly(z, coefficients):
    """sum(c * z**n): Horner's rule over ``coefficients``, highest power first. LLVM unrolls this loop
    into straight-line code (the loop's vectorizable) for up to a dozen coefficients; split longer ones."""
    acc = coefficients[0]
    for c in coefficients[1:]:
        acc = _multiply_add(acc, z, c)
    return acc


@_inlined
def _expm1_reduced(r):
    """exp(r) - 1 for |r| <= ln2 / 2."""
    return r + r * r * _poly(r, E1)


@_inlined
def _round_to_int(v):
    """``(n, float(n))`` for ``n`` = ``v`` rounded to the nearest integer, |v| < 2**51."""
    shifted = v + SHIFTER
    return _bits(shifted) - _bits(SHIFTER), shifted - SHIFTER


@_inlined
def _pow2(n):
    """2.0 ** n for -1022 <= n <= 1023, from the exponent bits."""
    return _from_bits((n + 1023) << 52)


@_inlined
def _reduce_ln2(x):
    """``(k, r)`` with ``x = k * ln2 + r``, |r| <= ln2 / 2, for |x| < 2**40."""
    k, kf = _round_to_int(x * INV_LN2)
    return k, (x - kf * LN2_HI) - kf * LN2_LO


@_inlined
def _exp_parts(x, lowest):
    """``(r, half, a, b)`` with e**x = a * b * e**r, a = 2**half, |r| <= ln2 / 2, for x clamped to
    [lowest, 710] (NaN to 0). Two factors of 2**k reach the subnormal and overflow ends exactly."""
    clamped = min(max(x, lowest), 710.0)
    k, r = _reduce_ln2(0.0 if math.isnan(x) else clamped)
    half = k >> 1
    return r, half, _pow2(half), _pow2(k - half)


@_public
def vexp(x):
    """e ** x."""
    _always_inline()
    x = np.float64(x)
    r, _, a, b = _exp_parts(x, -746.0)
    y = (1.0 + _expm1_reduced(r)) * a * b
    return x if math.isnan(x) else y


@_public
def vexpm1(x):
    """e ** x - 1, accurate near 0."""
    _always_inline()
    x = np.float64(x)
    r, half, a, b = _exp_parts(x, -40.0)
    # 2**k * (e**r - 1) + (2**k - 1), and b - 1/a is exact while |k| <= 52.
    y = a * (b * _expm1_reduced(r) + (b - _pow2(-half)))
    return x if math.isnan(x) | (x == 0.0) else y


@_inlined
def _log_parts(x):
    """``(e, f)`` with ``x = 2**e * (1 + f)``, sqrt(1/2) <= 1 + f < sqrt(2), for finite x > 0."""
    subnormal = x < SMALLEST_NORMAL
    scaled = x * TWO54
    bits = _bits(scaled if subnormal else x)
    e = ((bits >> 52) & 0x7FF) - (1023 + 54 if subnormal else 1023)
    m = _from_bits((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)   # in [1, 2)
    big = m > 2.0 * SQRT_HALF
    halved = 0.5 * m
    return e + big, (halved if big else m) - 1.0


@_inlined
def _log1p_reduced(f, e, correction):
    """e * ln2 + log(1 + f) + correction, for |f| <= sqrt(2) - 1 and a small correction."""
    s = f / (2.0 + f)
    half_square = 0.5 * f * f
    ef = np.float64(e)
    tail = s * (half_square + s * s * _poly(s * s, L1)) + (ef * LN2_LO + correction)
    return ef * LN2_HI + (f - (half_square - tail))


@_inlined
def _log_edges(x, y):
    """log's value ``y`` for 0 < x < inf; -inf at 0, inf at inf, NaN below 0 and at NaN."""
    y = -np.inf if x == 0.0 else y
    y = np.inf if x == np.inf else y
    return np.nan if (x < 0.0) | math.isnan(x) else y


@_public
def vlog(x):
    """Natural logarithm."""
    _always_inline()
    x = np.float64(x)
    e, f = _log_parts(x if (x > 0.0) & (x < np.inf) else 1.0)
    return _log_edges(x, _log1p_reduced(f, e, 0.0))


@_public
def vlog1p(x):
    """log(1 + x), accurate near 0."""
    _always_inline()
    x = np.float64(x)
    u = 1.0 + x
    finite = (u > 0.0) & (u < np.inf)
    e, f = _log_parts(u if finite else 1.0)
    # u rounds 1 + x; log(1 + x) = log(u) + (x - (u - 1)) / u to first order.
    correction = (x - (u - 1.0)) / (u if finite else 1.0)
    y = _log_edges(u, _log1p_reduced(f, e, correction if finite else 0.0))
    return x if x == 0.0 else y


@_public
def vtanh(x):
    """Hyperbolic tangent: its Taylor series below |x| = 0.55, 1 - 2 / (e**(2|x|) + 1) above (where
    the result is at least 1/2, so the subtraction cannot magnify expm1's rounding)."""
    _always_inline()
    x = np.float64(x)
    a = abs(x)
    z = a * a
    z2 = z * z
    z10 = z2 * z2 * z2 * z2 * z2
    series = a + a * z * (_poly(z, T1[:10]) * z10 + _poly(z, T1[10:]))
    t = vexpm1(2.0 * min(a, 40.0))
    rest = 1.0 - 2.0 / (t + 2.0)
    return math.copysign(series if a < TANH_SERIES_LIMIT else rest, x)


@_public
def vsigmoid(x):
    """1 / (1 + e**-x) without overflow."""
    _always_inline()
    x = np.float64(x)
    e = vexp(-abs(x))
    r = 1.0 / (1.0 + e)
    er = e * r
    return r if x >= 0.0 else er


@_inlined
def _sin_reduced(r):
    z = r * r
    return r + r * z * _poly(z, S1)


@_inlined
def _cos_reduced(r):
    z = r * r
    half = 0.5 * z
    w = 1.0 - half
    # 1 - z/2 rounds; adding back what it lost keeps cos within an ulp near |r| = pi/4.
    return w + (((1.0 - w) - half) + z * z * _poly(z, C1))


@_inlined
def _two_sum(a, b):
    """``(s, e)``: s = a + b rounded, and e its rounding error, exactly (Knuth)."""
    s = a + b
    b_part = s - a
    return s, (a - (s - b_part)) + (b - b_part)


@_inlined
def _trig(x, quadrant_shift):
    """sin (quadrant_shift 0) or cos (1) of a finite float64."""
    a = abs(x)
    big = a >= TRIG_LIMIT
    k, kf = _round_to_int((0.0 if big else a) * TWO_OVER_PI)
    # a - k * PIO2_1 is exact; the later steps round, and their errors are kept in r_error. Near a
    # multiple of pi/2, r is tiny and its absolute error must be too: 143 bits of pi/2 make it ~2**-120.
    m1, e1 = _two_sum(a - kf * PIO2_1, -(kf * PIO2_2))
    m2, e2 = _two_sum(m1, -(kf * PIO2_3))
    r, e3 = _two_sum(m2, -(kf * PIO2_4))
    r_error = (e1 + e2) + e3
    q = k + quadrant_shift
    s, c = _sin_reduced(r), _cos_reduced(r)
    # sin(r + e) = sin(r) + cos(r) e, cos(r + e) = cos(r) - sin(r) e, to well below an ulp
    s_corrected, c_corrected = s + c * r_error, c - s * r_error
    y = c_corrected if q & 1 else s_corrected
    # sin is odd, and the reduction ran on |x|
    negative = ((q & 2) != 0) != (quadrant_shift == 0 and x < 0.0)
    minus_y = -y
    return minus_y if negative else y


@_public
def vsin(x):
    """Sine."""
    _always_inline()
    x = np.float64(x)
    y = _trig(x, 0)
    y = x if x == 0.0 else y
    huge = _sin_huge(x)
    return huge if abs(x) >= TRIG_LIMIT else y


@_public
def vcos(x):
    """Cosine."""
    _always_inline()
    x = np.float64(x)
    y = _trig(x, 1)
    huge = _cos_huge(x)
    return huge if abs(x) >= TRIG_LIMIT else y
