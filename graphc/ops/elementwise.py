"""Elementwise primitives: NumPy's arithmetic ufuncs, transcendental functions, comparisons, where.

Adjoint rules follow JAX's conventions at non-differentiable points: ``abs'(0) = 0``,
``relu'(0) = 0``, ``sign' = 0``; ``maximum``/``minimum`` split a tie's gradient equally between
both operands; ``where`` and comparisons send the gradient to the selected branch only.
"""
from __future__ import annotations

import numpy as np

from graphc.ops import (
    LINEAR_ALL, LINEAR_EACH, NONDIFFERENTIABLE, NONZERO, NUMPY_API, POSITIVE, REAL, UNIT, apply, defcomposite,
    defop, elementwise_shape, unsupported,
)


def _stable_sigmoid(x):
    # exp of -|x| never overflows; both branches are exact where they are used.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.result_type(x, np.float16))


def _relu(x):
    return np.maximum(x, np.zeros((), x.dtype))


def elementwise(name, reference, adjoint, *, arity=1, numpy=None, emit=None, scalar_emit=None,
                domain=REAL, singular=False, doc="", **fields):
    """Declare an elementwise op: broadcasting shape rule, fusable, NumPy ufunc as key."""
    return defop(
        name, arity=arity, shape=elementwise_shape(reference, name), reference=reference,
        adjoint=adjoint, emit=emit, scalar_emit=scalar_emit or emit,
        numpy=(reference,) if numpy is None else numpy, elementwise=True, domain=domain,
        singular=singular, doc=doc, **fields,
    )


def _tie(x, y, g):
    # Gradient share of x in max(x, y): all of it where x wins, half on a tie (JAX's convention).
    return np.where(x > y, g, np.where(x == y, 0.5 * g, 0.0))


def _tie_low(x, y, g):
    return np.where(x < y, g, np.where(x == y, 0.5 * g, 0.0))


# ---- arithmetic --------------------------------------------------------------------------------
elementwise("add", np.add, lambda g, out, x, y: (g, g), arity=2,
            emit="({0} + {1})", doc="x + y", commutative=True, linear=LINEAR_ALL)
elementwise("subtract", np.subtract, lambda g, out, x, y: (g, -g), arity=2,
            emit="({0} - {1})", doc="x - y", linear=LINEAR_ALL)
elementwise("multiply", np.multiply, lambda g, out, x, y: (g * y, g * x), arity=2,
            emit="({0} * {1})", doc="x * y", commutative=True, linear=LINEAR_EACH)
elementwise("divide", np.true_divide, lambda g, out, x, y: (g / y, -(g * out) / y), arity=2,
            numpy=(np.true_divide, np.divide), emit="({0} / {1})", singular=True, domain=NONZERO,
            doc="x / y", linear=(0,))
def _power_adjoint(g, out, x, y):
    # JAX's convention at the edges: x ** 0 is constant (d/dx 0, not 0 * x ** -1 = NaN at x = 0), and
    # d/dy 0 ** y = 0 (not 0 * log(0) = NaN).
    gx = g * np.where(y == 0, 0.0, y * x ** (y - 1))
    gy = g * np.where(x == 0, 0.0, out * np.log(np.where(x == 0, 1.0, x)))
    return gx, gy


elementwise("power", np.power, _power_adjoint, arity=2,
            emit="({0} ** {1})", domain=POSITIVE, singular=True, doc="x ** y, array or scalar exponent")
elementwise("negative", np.negative, lambda g, out, x: (-g,), emit="(-{0})", doc="-x", linear=LINEAR_ALL)
elementwise("square", np.square, lambda g, out, x: (g * (2 * x),), emit="({0} * {0})", doc="x * x")
elementwise("sqrt", np.sqrt, lambda g, out, x: (g / (2 * out),), emit="np.sqrt({0})",
            domain=POSITIVE, singular=True, doc="square root")
elementwise("maximum", np.maximum, lambda g, out, x, y: (_tie(x, y, g), _tie(y, x, g)), arity=2,
            emit="np.maximum({0}, {1})", doc="elementwise max; ties split the gradient")
elementwise("minimum", np.minimum, lambda g, out, x, y: (_tie_low(x, y, g), _tie_low(y, x, g)),
            arity=2, emit="np.minimum({0}, {1})", doc="elementwise min; ties split the gradient")
elementwise("absolute", np.absolute, lambda g, out, x: (g * np.sign(x),), numpy=(np.absolute, np.fabs),
            emit="np.abs({0})", doc="|x|; gradient 0 at 0")
elementwise("sign", np.sign, NONDIFFERENTIABLE, emit="np.sign({0})", doc="sign; gradient 0")

# ---- transcendental ----------------------------------------------------------------------------
def _vector_math(name, numpy_is_faster=("float32", "float64")):
    # The body of a fused loop calls graphc's vectorizable math (codegen/rt_vmath.py); float32 values go
    # through float64 and round once. Alone on a big array, NumPy's ufunc is faster for the dtypes in
    # numpy_is_faster (docs/performance.md, "Vector math in fused loops").
    return dict(scalar_emit=f"{{dtype}}(v{name}(np.float64({{0}})))", numpy_is_faster=numpy_is_faster)


elementwise("exp", np.exp, lambda g, out, x: (g * out,), emit="np.exp({0})", doc="e ** x", **_vector_math("exp"))
elementwise("log", np.log, lambda g, out, x: (g / x,), emit="np.log({0})", domain=POSITIVE,
            singular=True, doc="natural logarithm", **_vector_math("log"))
elementwise("log1p", np.log1p, lambda g, out, x: (g / (1 + x),), emit="np.log1p({0})",
            domain=POSITIVE, singular=True, doc="log(1 + x), accurate near 0", **_vector_math("log1p"))
elementwise("expm1", np.expm1, lambda g, out, x: (g * (out + 1),), emit="np.expm1({0})",
            doc="exp(x) - 1, accurate near 0", **_vector_math("expm1"))
elementwise("sin", np.sin, lambda g, out, x: (g * np.cos(x),), emit="np.sin({0})", doc="sine",
            **_vector_math("sin", numpy_is_faster=("float32",)))
elementwise("cos", np.cos, lambda g, out, x: (-(g * np.sin(x)),), emit="np.cos({0})", doc="cosine",
            **_vector_math("cos", numpy_is_faster=("float32",)))
elementwise("tan", np.tan, lambda g, out, x: (g * (1 + out * out),), emit="np.tan({0})",
            domain=UNIT, doc="tangent")
elementwise("tanh", np.tanh, lambda g, out, x: (g * (1 - out * out),), emit="np.tanh({0})",
            doc="hyperbolic tangent", **_vector_math("tanh"))
elementwise("arctan", np.arctan, lambda g, out, x: (g / (1 + x * x),), emit="np.arctan({0})",
            doc="inverse tangent")
elementwise("sigmoid", _stable_sigmoid, lambda g, out, x: (g * (out * (1 - out)),), numpy=(),
            emit="_sigmoid_array({0})", doc="graphc.sigmoid: 1 / (1 + exp(-x)), overflow-free",
            **_vector_math("sigmoid", numpy_is_faster=()))
elementwise("relu", _relu, lambda g, out, x: (np.where(x > 0, g, 0.0),), numpy=(),
            emit="np.maximum({0}, {dtype}(0))", doc="graphc.relu: max(x, 0); gradient 0 at 0")
elementwise("isfinite", np.isfinite, NONDIFFERENTIABLE, emit="np.isfinite({0})",
            doc="not inf and not NaN")


def _isnan(x):
    return np.not_equal(x, x)  # only NaN differs from itself


def _isinf(x):
    return np.logical_and(np.logical_not(np.isfinite(x)), np.equal(x, x))


defcomposite((np.isnan,), _isnan)
defcomposite((np.isinf,), _isinf)

# ---- comparisons and selection -----------------------------------------------------------------
for _name, _fn, _sym in [("greater", np.greater, ">"), ("greater_equal", np.greater_equal, ">="),
                         ("less", np.less, "<"), ("less_equal", np.less_equal, "<="),
                         ("equal", np.equal, "=="), ("not_equal", np.not_equal, "!=")]:
    elementwise(_name, _fn, NONDIFFERENTIABLE, arity=2, emit=f"({{0}} {_sym} {{1}})", doc=f"x {_sym} y",
                commutative=_name in ("equal", "not_equal"))

for _name, _fn in [("logical_and", np.logical_and), ("logical_or", np.logical_or), ("logical_xor", np.logical_xor)]:
    elementwise(_name, _fn, NONDIFFERENTIABLE, arity=2, emit=f"np.{_name}({{0}}, {{1}})", commutative=True,
                doc=f"np.{_name}; also ``{dict(logical_and='&', logical_or='|', logical_xor='^')[_name]}`` on booleans")
elementwise("logical_not", np.logical_not, NONDIFFERENTIABLE, emit="np.logical_not({0})",
            doc="np.logical_not; also ``~`` on booleans")


def _boolean_only(bitwise, logical: str):
    """The handler of NumPy's bitwise ufunc (``&``, ``|``, ``^``, ``~``): the logical op on booleans."""
    def handler(*operands):
        if all((x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype) == np.bool_ for x in operands):
            return apply(logical, *operands)
        raise unsupported(f"np.{bitwise.__name__} (the operators &, |, ^, ~) on integers",
                          "it is supported on booleans (masks); for integer bit operations compute outside graphc")
    return handler


for _bitwise, _logical in [(np.bitwise_and, "logical_and"), (np.bitwise_or, "logical_or"),
                           (np.bitwise_xor, "logical_xor"), (np.invert, "logical_not")]:
    NUMPY_API[_bitwise] = _boolean_only(_bitwise, _logical)

elementwise("where", np.where, lambda g, out, c, x, y: (None, np.where(c, g, 0.0), np.where(c, 0.0, g)),
            arity=3, emit="np.where({0}, {1}, {2})", scalar_emit="({1} if {0} else {2})", linear=(1, 2),
            doc="select x where cond, else y; gradient to the chosen side")


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow for any ``x``."""
    return apply("sigmoid", x)


def relu(x):
    """``max(x, 0)``; its gradient at 0 is 0, as in JAX."""
    return apply("relu", x)
