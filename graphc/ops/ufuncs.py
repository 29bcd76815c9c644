"""More elementwise NumPy functions: inverse and hyperbolic trigonometry, exp2/log2/log10, rounding, clip, ...

Primitives where no exact composite exists (``cbrt``, ``hypot``, ``logaddexp``, ``remainder``...);
composites where one does: ``deg2rad`` is exactly ``x * (pi/180)`` in NumPy's own C loop, ``clip`` is
exactly ``minimum(maximum(x, lo), hi)``, and ``real``/``conj``/``imag``/``angle`` of real input are
the identity, zeros and ``arctan2(0, x)``.

Gradient conventions (JAX's where JAX has one):

* ``floor, ceil, rint, trunc``: gradient zero, like ``sign``.
* ``fmax``/``fmin``: like ``maximum``/``minimum`` (a tie splits the gradient equally), and a NaN
  operand, which NumPy ignores, gets none: it all goes to the other operand.
* ``remainder`` (``np.mod``): ``d/dx = 1, d/dy = -floor(x/y)``; ``fmod``: ``d/dy = -trunc(x/y)``.
* ``copysign(x, y)``: ``d/dx = sign(x) * sign(out)`` (0 at ``x = 0``, as ``abs``), nothing to ``y``.
* ``clip``: the gradient passes inside the bounds; at a bound it is split with the bound, as
  ``jnp.clip``'s maximum/minimum do.
* ``hypot`` at ``(0, 0)`` and ``angle`` everywhere: gradient zero.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.ops import (
    AT_LEAST_ONE, NONDIFFERENTIABLE, NONZERO, POSITIVE, UNIT, apply, defcomposite, dtype_source, probe_dtype,
    unsupported,
)
from graphc.ops.elementwise import _tie, _tie_low, elementwise

LN2, LN10 = math.log(2.0), math.log(10.0)


def _np(name: str) -> str:
    """The emission ``np.<name>({0})`` (Numba compiles it for arrays and for scalars)."""
    return f"np.{name}({{0}})"


def _np2(name: str) -> str:
    return f"np.{name}({{0}}, {{1}})"


# ---- powers, exponentials, logarithms ----------------------------------------------------------
# Numba's np.cbrt is x ** (1/3), up to 13 ulp off: the runtime's helper gives libm's cube root.
elementwise("cbrt", np.cbrt, lambda g, out, x: (g / (3 * (out * out)),),
            emit="_cbrt_array({0}, np.empty({0}.shape, {dtype}))", scalar_emit="{dtype}(_cbrt_scalar({0}))",
            singular=True, doc="cube root; real for negative x")
elementwise("reciprocal", np.reciprocal, lambda g, out, x: (-(g * (out * out)),), emit=_np("reciprocal"),
            domain=NONZERO, singular=True, doc="1 / x")
elementwise("exp2", np.exp2, lambda g, out, x: (g * (out * LN2),), emit=_np("exp2"), doc="2 ** x")
elementwise("log2", np.log2, lambda g, out, x: (g / (x * LN2),), emit=_np("log2"), domain=POSITIVE,
            singular=True, doc="base-2 logarithm")
elementwise("log10", np.log10, lambda g, out, x: (g / (x * LN10),), emit=_np("log10"), domain=POSITIVE,
            singular=True, doc="base-10 logarithm")
elementwise("logaddexp", np.logaddexp,
            # d/dx log(e^x + e^y) = e^x / (e^x + e^y) = sigmoid(x - y): no overflow, exact at +-inf.
            lambda g, out, x, y: (g * apply("sigmoid", x - y), g * apply("sigmoid", y - x)), arity=2,
            emit=_np2("logaddexp"), doc="log(exp(x) + exp(y)) without overflow")
elementwise("logaddexp2", np.logaddexp2,
            lambda g, out, x, y: (g * apply("sigmoid", (x - y) * LN2), g * apply("sigmoid", (y - x) * LN2)),
            arity=2, emit=_np2("logaddexp2"), doc="log2(2 ** x + 2 ** y) without overflow")

# ---- hyperbolic and inverse trigonometric --------------------------------------------------------
elementwise("sinh", np.sinh, lambda g, out, x: (g * np.cosh(x),), emit=_np("sinh"), doc="hyperbolic sine")
elementwise("cosh", np.cosh, lambda g, out, x: (g * np.sinh(x),), emit=_np("cosh"), doc="hyperbolic cosine")
elementwise("arcsin", np.arcsin, lambda g, out, x: (g / np.sqrt((1 - x) * (1 + x)),), emit=_np("arcsin"),
            domain=UNIT, singular=True, doc="inverse sine")
elementwise("arccos", np.arccos, lambda g, out, x: (-(g / np.sqrt((1 - x) * (1 + x))),), emit=_np("arccos"),
            domain=UNIT, singular=True, doc="inverse cosine")
# hypot(x, 1) = sqrt(x*x + 1) without overflow for large |x|.
elementwise("arcsinh", np.arcsinh, lambda g, out, x: (g / np.hypot(x, 1.0),), emit=_np("arcsinh"),
            doc="inverse hyperbolic sine")
# Defined for x >= 1; the tests shift POSITIVE samples by 1. Two square roots: no overflow of x*x.
elementwise("arccosh", np.arccosh, lambda g, out, x: (g / (np.sqrt(x - 1) * np.sqrt(x + 1)),),
            emit=_np("arccosh"), domain=AT_LEAST_ONE, singular=True, doc="inverse hyperbolic cosine (x >= 1)")
elementwise("arctanh", np.arctanh, lambda g, out, x: (g / ((1 - x) * (1 + x)),), emit=_np("arctanh"),
            domain=UNIT, singular=True, doc="inverse hyperbolic tangent")


def _arctan2_adjoint(g, out, y, x):
    r2 = x * x + y * y
    return g * x / r2, -(g * y) / r2


elementwise("arctan2", np.arctan2, _arctan2_adjoint, arity=2, emit=_np2("arctan2"), singular=True,
            doc="angle of the point (x, y): arctan2(y, x), quadrant-aware")


def _hypot_adjoint(g, out, x, y):
    # x / out and y / out; at the origin the gradient is 0 (as jnp.hypot's), not 0 / 0.
    scale = g / np.where(out == 0, 1.0, out)
    return scale * x, scale * y


elementwise("hypot", np.hypot, _hypot_adjoint, arity=2, emit=_np2("hypot"),
            doc="sqrt(x*x + y*y) without overflow; gradient 0 at the origin")

# ---- signs, NaN-ignoring extrema, remainders -----------------------------------------------------
elementwise("copysign", np.copysign, lambda g, out, x, y: (g * (np.sign(x) * np.sign(out)), None), arity=2,
            emit=_np2("copysign"), doc="|x| with the sign of y; no gradient to y")


def _fmax_adjoint(g, out, x, y, tie=_tie):
    # x != x is NaN: a NaN operand is ignored by fmax/fmin, so its gradient goes to the other one.
    gx = np.where(y != y, g, tie(x, y, g))
    gy = np.where(y != y, 0.0, np.where(x != x, g, tie(y, x, g)))
    return gx, gy


elementwise("fmax", np.fmax, _fmax_adjoint, arity=2, emit=_np2("fmax"),
            doc="elementwise max ignoring NaN; ties split the gradient")
elementwise("fmin", np.fmin, lambda g, out, x, y: _fmax_adjoint(g, out, x, y, tie=_tie_low), arity=2,
            emit=_np2("fmin"), doc="elementwise min ignoring NaN; ties split the gradient")


def _remainder_emit(args, node, operands):
    # A float remainder has the divisor's sign; Numba's gives +0.0 where NumPy gives -0.0 (y < 0).
    r = f"np.remainder({args[0]}, {args[1]})"
    return f"np.copysign({r}, {args[1]})" if node["dtype"].kind == "f" else r


elementwise("remainder", np.remainder, lambda g, out, x, y: (g, -(g * np.floor(x / y))), arity=2,
            emit=_remainder_emit, domain=NONZERO, doc="x % y, the sign of y (np.mod); d/dy = -floor(x/y)")
elementwise("fmod", np.fmod, lambda g, out, x, y: (g, -(g * np.trunc(x / y))), arity=2,
            emit=_np2("fmod"), domain=NONZERO, doc="C's fmod, the sign of x; d/dy = -trunc(x/y)")

def _floor_divide_emit(args, node, operands):
    # Integers: Numba's // is Python's floor division, as NumPy's. Floats: NumPy's algorithm (runtime).
    if node["dtype"].kind == "f":
        t = dtype_source(node["dtype"])
        return f"_floor_divide_scalar({t}({args[0]}), {t}({args[1]}), {t}(0.5), {t}(1.0))"
    return f"({args[0]} // {args[1]})"


elementwise("floor_divide", np.floor_divide, NONDIFFERENTIABLE, arity=2, scalar_emit=_floor_divide_emit,
            domain=NONZERO, doc="x // y, rounded toward -inf as NumPy's (through fmod); gradient 0")


def divmod_(x, y):
    """``np.divmod``: ``(x // y, x % y)``, as NumPy defines it."""
    return np.floor_divide(x, y), np.remainder(x, y)


defcomposite((np.divmod,), divmod_)

# ---- rounding: piecewise constant, gradient zero ---------------------------------------------------
for _name, _what in [("floor", "largest integer <= x"), ("ceil", "smallest integer >= x"),
                     ("rint", "nearest integer, ties to even"), ("trunc", "integer part, toward 0")]:
    elementwise(_name, getattr(np, _name), NONDIFFERENTIABLE, emit=_np(_name), doc=f"{_what}; gradient 0")


# ---- composites ----------------------------------------------------------------------------------
def _scale(x, numerator: float, denominator: float):
    # NumPy's loop multiplies by the constant numerator/denominator computed in the result's dtype.
    dtype = probe_dtype(np.deg2rad, x.dtype if hasattr(x, "dtype") else np.result_type(x))
    return x * (np.asarray(numerator, dtype) / np.asarray(denominator, dtype))


def deg2rad(x):
    """``x * (pi / 180)``, bit for bit NumPy's ``np.deg2rad`` (also ``np.radians``)."""
    return _scale(x, np.pi, 180.0)


def rad2deg(x):
    """``x * (180 / pi)``, bit for bit NumPy's ``np.rad2deg`` (also ``np.degrees``)."""
    return _scale(x, 180.0, np.pi)


def real(val):
    """The real part of a real array: the array itself (graphc traces no complex values)."""
    return val


def conjugate(x):
    """The conjugate of a real array: the array itself."""
    return x


def imag(val):
    """The imaginary part of a real array: zeros of its shape and dtype, with zero gradient."""
    zero = np.zeros((), val.dtype)
    # where() of one constant on both sides: zeros of val's shape, 0 even where val is inf or NaN.
    return np.where(val == val, zero, zero)


def angle(z, deg=False):
    """``arctan2(0, z)`` as ``np.angle`` computes it: 0 or pi (NaN for NaN); gradient zero."""
    a = apply("stop_gradient", np.arctan2(0.0, z))
    return a * (180 / np.pi) if deg else a


_NOVALUE = np._NoValue


def clip(a, a_min=_NOVALUE, a_max=_NOVALUE, out=None, *, min=_NOVALUE, max=_NOVALUE, **kwargs):  # noqa: A002
    """``np.clip``: ``minimum(maximum(a, lo), hi)``, NumPy's own definition; None skips a bound."""
    if out is not None or kwargs:
        raise unsupported(f"np.clip with {'out=' if out is not None else sorted(kwargs)}",
                          "use the returned value")
    if (a_min is not _NOVALUE and min is not _NOVALUE) or (a_max is not _NOVALUE and max is not _NOVALUE):
        raise unsupported("np.clip with both a_min and min (or a_max and max)", "pass each bound once")
    lo = None if a_min is _NOVALUE and min is _NOVALUE else (min if a_min is _NOVALUE else a_min)
    hi = None if a_max is _NOVALUE and max is _NOVALUE else (max if a_max is _NOVALUE else a_max)
    if not hasattr(a, "dtype"):  # NumPy calls the array method: a Python number becomes float64, not weak
        a = np.asarray(a)
    if lo is not None:
        a = np.maximum(a, lo)
    if hi is not None:
        a = np.minimum(a, hi)
    return a


defcomposite((np.deg2rad, np.radians), deg2rad)
defcomposite((np.rad2deg, np.degrees), rad2deg)
defcomposite((np.real,), real)
defcomposite((np.conjugate,), conjugate)
defcomposite((np.imag,), imag)
defcomposite((np.angle,), angle)
defcomposite((np.clip,), clip)
