"""The op test table: for every primitive in ``graphc.ops.REGISTRY``, the argument combinations that matter.

Adding an op means one registry declaration and one row in ``CASES`` (``tests/test_ops.py`` fails for an
op without a row). Each :class:`Case` calls the op through the public NumPy surface (or, for primitives
NumPy has no function for, through ``graphc.ops.apply``) and says how to sample its operands: by default
from the op's ``REGISTRY[name].domain``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from hypothesis import strategies as st

import graphc
from graphc.ops import AT_LEAST_ONE, NONZERO, POSITIVE, REAL, REGISTRY, UNIT, apply
from graphc.ops.shape import normalize_index

# Operand kinds beyond the op domains: conditions, small integers (ties), inf/NaN mixes.
BOOL, INTS, SPECIAL = "bool", "ints", "special"
SPECIAL_VALUES = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan])


def sample(rng: np.random.Generator, shape: tuple, domain: str, dtype=np.float64) -> np.ndarray:
    """Inputs of ``shape`` from ``domain``; REAL stays 0.1 away from 0 (kinks of abs, relu, sign)."""
    size = tuple(shape)
    if domain == BOOL:
        return rng.random(size) < 0.5
    if domain == REAL:
        x = rng.choice([-1.0, 1.0], size) * rng.uniform(0.1, 2.0, size)
    elif domain == POSITIVE:
        x = rng.uniform(0.5, 2.0, size)
    elif domain == UNIT:
        x = rng.uniform(-0.9, 0.9, size)
    elif domain == AT_LEAST_ONE:
        x = rng.uniform(1.1, 3.0, size)
    elif domain == NONZERO:
        x = rng.choice([-1.0, 1.0], size) * rng.uniform(0.5, 2.0, size)
    elif domain == INTS:
        x = rng.integers(-2, 3, size).astype(np.float64)
    elif domain == SPECIAL:
        x = rng.choice(SPECIAL_VALUES, size)
    else:
        raise ValueError(f"unknown domain {domain!r}")
    return np.asarray(x, dtype)


@dataclasses.dataclass(frozen=True)
class Case:
    """One call of an op: ``fn(*operands)`` with operands of ``shapes``.

    expected: the same computation in plain NumPy, where ``fn`` is not plain NumPy already.
    domains: per-operand sampling domain; default: the op's domain for every operand.
    fd: False where a finite-difference check means nothing (the reason is in the row's comment).
    """

    fn: Callable
    shapes: tuple
    id: str
    expected: Callable | None = None
    domains: tuple | None = None
    fd: bool = True

    def numpy(self, *args):
        return (self.expected or self.fn)(*args)

    def inputs(self, op: str, rng: np.random.Generator, dtype=np.float64) -> list:
        domains = self.domains or (REGISTRY[op].domain,) * len(self.shapes)
        return [sample(rng, s, d, dtype) for s, d in zip(self.shapes, domains)]

    def composite_inputs(self, rng: np.random.Generator, dtype=np.float64) -> list:
        """Inputs of a composite case (not keyed by an op): its own domains, REAL by default."""
        return [sample(rng, s, d, dtype) for s, d in zip(self.shapes, self.domains or (REAL,) * len(self.shapes))]

    def float_operands(self, op: str | None = None) -> tuple:
        """The positions of floating-point operands: the ones gradients are taken for."""
        domains = self.domains or ((REGISTRY[op].domain if op else REAL),) * len(self.shapes)
        return tuple(i for i, d in enumerate(domains) if d != BOOL)


def case(fn, *shapes, id=None, **kw) -> Case:
    return Case(fn, tuple(shapes), id or "-".join("x".join(map(str, s)) or "0d" for s in shapes), **kw)


# Broadcasting that matters: 0-d, scalar/row/column against a matrix, rank growth on both sides.
BINARY_SHAPES = [((), ()), ((3,), ()), ((), (3,)), ((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 3), (1, 3)),
                 ((2, 3), (2, 1)), ((2, 1), (1, 3)), ((3, 1, 4), (2, 1))]
UNARY_SHAPES = [(), (4,), (2, 3), (2, 1, 3)]


def binary(fn, ufunc, extra=(), shapes=BINARY_SHAPES, **kw) -> list[Case]:
    """The operator form over every broadcasting shape pair, the ufunc once, and extra cases."""
    return ([case(fn, a, b, **kw) for a, b in shapes]
            + [case(lambda x, y: ufunc(x, y), (2, 3), (3,), id=f"np.{ufunc.__name__}", **kw)] + list(extra))


def unary(fn, name, extra=(), **kw) -> list[Case]:
    return [case(fn, s, id=f"{name}-{'x'.join(map(str, s)) or '0d'}", **kw) for s in UNARY_SHAPES] + list(extra)


def scatter(index, shape, g_shape) -> Case:
    """``index_scatter`` has no NumPy function: called through apply, checked against zeros + assignment."""
    norm = normalize_index(index, shape)

    def expected(g):
        out = np.zeros(shape, g.dtype)
        out[index] = g
        return out

    return case(lambda g: apply("index_scatter", g, index=norm, shape=shape), g_shape,
                id=f"scatter{norm}->{shape}", expected=expected)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_relu(x):
    return np.maximum(x, np.zeros((), x.dtype))


def reductions(fn_name) -> list[Case]:
    f = getattr(np, fn_name)
    return [
        case(lambda x: f(x), (), id="0d"),
        case(lambda x: f(x), (5,), id="all-1d"),
        case(lambda x: f(x), (2, 3), id="all-2d"),
        case(lambda x: f(x, axis=0), (2, 3), id="axis0"),
        case(lambda x: f(x, axis=1), (2, 3), id="axis1"),
        case(lambda x: f(x, axis=-1), (2, 3, 4), id="axis-1"),
        case(lambda x: f(x, axis=-2, keepdims=True), (2, 3, 4), id="axis-2-keepdims"),
        case(lambda x: f(x, axis=(0, 2)), (2, 3, 4), id="axes(0,2)"),
        case(lambda x: f(x, axis=(-1, 0), keepdims=True), (2, 3, 4), id="axes(-1,0)-keepdims"),
        case(lambda x: f(x, keepdims=True), (2, 3), id="all-keepdims"),
        case(lambda x: f(x, axis=0), (1, 3), id="size1-axis"),
        case(lambda x: getattr(x, fn_name)(axis=1), (2, 3), id="method-axis1"),
    ]


def comparison(ufunc, operator) -> list[Case]:
    # Small integers make ties (x == y) common, where the comparisons differ from each other.
    return binary(operator, ufunc, domains=(INTS, INTS), extra=[
        case(lambda x: operator(x, 0.0), (2, 3), id="vs-0.0", domains=(INTS,)),
        case(lambda x: ufunc(1.0, x), (3,), id="scalar-first", domains=(INTS,)),
        case(operator, (2, 3), (2, 3), id="real"),
    ])


CASES: dict[str, list[Case]] = {
    # ---- arithmetic ----
    "add": binary(lambda x, y: x + y, np.add, extra=[
        case(lambda x: 2.0 + x, (2, 3), id="reflected-scalar"),
        case(lambda x: x + 1, (3,), id="python-int"),
        case(lambda x: x + np.arange(3.0), (2, 3), id="const-array"),
    ]),
    "subtract": binary(lambda x, y: x - y, np.subtract, extra=[
        case(lambda x: 2.0 - x, (2, 3), id="reflected-scalar"),
        case(lambda x, y: y - x, (2, 3), (3,), id="swapped"),
    ]),
    "multiply": binary(lambda x, y: x * y, np.multiply, extra=[
        case(lambda x: 3.0 * x, (2, 3), id="reflected-scalar"),
        case(lambda x: x * x, (2, 3), id="x*x"),
        case(lambda x: x * np.float64(2.0), (3,), id="np.float64-const"),
    ]),
    "divide": binary(lambda x, y: x / y, np.divide, extra=[
        case(lambda x, y: np.true_divide(x, y), (3,), (3,), id="true_divide"),
        case(lambda x: 1.0 / x, (2, 3), id="reflected-scalar"),
        case(lambda x: x / 4, (3,), id="python-int"),
    ]),
    "power": binary(lambda x, y: x ** y, np.power, extra=[
        case(lambda x: x ** 3.0, (2, 3), id="scalar-exponent"),
        case(lambda x: x ** -1.5, (3,), id="negative-exponent"),
        case(lambda x: np.power(x, 0.5), (3,), id="np.power-0.5"),
        case(lambda x: 2.0 ** x, (2, 3), id="reflected-base"),
        # An integer power of negative numbers: the exponent's log(x) rule must not leak NaN.
        case(lambda x: x ** 2, (2, 3), id="int-exponent-negative-base", domains=(REAL,)),
        case(lambda x: x ** 3.0, (4,), id="cube-negative-base", domains=(REAL,)),
    ]),
    "negative": unary(lambda x: -x, "op", extra=[case(lambda x: np.negative(x), (3,), id="np.negative")]),
    "square": unary(lambda x: np.square(x), "np.square"),
    "sqrt": unary(lambda x: np.sqrt(x), "np.sqrt"),
    "maximum": binary(lambda x, y: np.maximum(x, y), np.maximum, extra=[
        case(lambda x: np.maximum(0.0, x), (2, 3), id="scalar-first"),
        case(lambda x: np.maximum(x, 0.5), (2, 3), id="scalar-second"),
    ]),
    "minimum": binary(lambda x, y: np.minimum(x, y), np.minimum, extra=[
        case(lambda x: np.minimum(0.0, x), (2, 3), id="scalar-first"),
        case(lambda x: np.minimum(x, -0.5), (2, 3), id="scalar-second"),
    ]),
    "absolute": unary(lambda x: abs(x), "abs", extra=[
        case(lambda x: np.abs(x), (2, 3), id="np.abs"),
        case(lambda x: np.fabs(x), (3,), id="np.fabs"),
    ]),
    "sign": unary(lambda x: np.sign(x), "np.sign", extra=[
        case(lambda x: np.sign(x), (2, 3), id="ints-with-zero", domains=(INTS,)),
    ]),
    # ---- transcendental ----
    "exp": unary(lambda x: np.exp(x), "np.exp"),
    "log": unary(lambda x: np.log(x), "np.log"),
    "log1p": unary(lambda x: np.log1p(x), "np.log1p"),
    "expm1": unary(lambda x: np.expm1(x), "np.expm1"),
    "sin": unary(lambda x: np.sin(x), "np.sin"),
    "cos": unary(lambda x: np.cos(x), "np.cos"),
    "tan": unary(lambda x: np.tan(x), "np.tan"),
    "tanh": unary(lambda x: np.tanh(x), "np.tanh"),
    "arctan": unary(lambda x: np.arctan(x), "np.arctan"),
    "sigmoid": unary(lambda x: graphc.sigmoid(x), "graphc.sigmoid", expected=_np_sigmoid),
    "relu": unary(lambda x: graphc.relu(x), "graphc.relu", expected=_np_relu),
    "isfinite": unary(lambda x: np.isfinite(x), "np.isfinite", domains=(SPECIAL,)),
    # ---- comparisons and selection ----
    "greater": comparison(np.greater, lambda x, y: x > y),
    "greater_equal": comparison(np.greater_equal, lambda x, y: x >= y),
    "less": comparison(np.less, lambda x, y: x < y),
    "less_equal": comparison(np.less_equal, lambda x, y: x <= y),
    "equal": comparison(np.equal, lambda x, y: x == y),
    "not_equal": comparison(np.not_equal, lambda x, y: x != y),
    # The first row of each has a float operand (the special-values and zero-gradient tests read it).
    "logical_and": [case(lambda x, b: np.logical_and(x, b), (2, 3), (3,), domains=(REAL, BOOL), id="float-bool"),
                    case(lambda a, b: a & b, (3,), (), domains=(BOOL, BOOL), id="a&b")],
    "logical_or": [case(lambda x, a: a | (x > 0), (2, 3), (3,), domains=(REAL, BOOL), id="a|(x>0)"),
                   case(lambda a, b: np.logical_or(a, b), (2, 3), (2, 3), domains=(BOOL, BOOL))],
    "logical_xor": [case(lambda x, y: np.logical_xor(x, y), (3,), (3,), domains=(REAL, INTS), id="floats"),
                    case(lambda a, b: a ^ b, (2, 3), (3,), domains=(BOOL, BOOL), id="a^b")],
    "logical_not": [case(lambda x: np.logical_not(x), (3,), domains=(INTS,), id="floats"),
                    case(lambda a: ~a, (2, 3), domains=(BOOL,), id="~a")],
    "where": [
        case(lambda c, x, y: np.where(c, x, y), (2, 3), (2, 3), (2, 3), domains=(BOOL, REAL, REAL)),
        case(lambda c, x, y: np.where(c, x, y), (2, 1), (3,), (), domains=(BOOL, REAL, REAL)),
        case(lambda c, x, y: np.where(c, x, y), (), (2, 3), (1, 3), domains=(BOOL, REAL, REAL)),
        case(lambda x, y: np.where(x > y, x, y), (2, 3), (3,), id="computed-condition"),
        case(lambda x: np.where(x > 0, x, 0.0), (4,), id="scalar-branch"),
        case(lambda x: np.where(x < 0, -1.0, x * 2.0), (2, 3), id="scalar-first-branch"),
    ],
    # ---- reductions ----
    "sum": reductions("sum"),
    "max": reductions("max") + [case(lambda x: np.amax(x, axis=0), (3, 2), id="np.amax")],
    "min": reductions("min") + [case(lambda x: np.amin(x, axis=-1), (3, 2), id="np.amin")],
    # ---- linear algebra ----
    "matmul": [
        case(lambda a, b: a @ b, (2, 3), (3, 4), id="mat@mat"),
        case(lambda a, b: a @ b, (2, 3), (3,), id="mat@vec"),
        case(lambda a, b: a @ b, (3,), (3, 4), id="vec@mat"),
        case(lambda a, b: a @ b, (3,), (3,), id="vec@vec"),
        case(lambda a, b: a @ b, (2, 3, 4), (2, 4, 5), id="batch"),
        case(lambda a, b: np.matmul(a, b), (2, 1, 3, 4), (5, 4, 2), id="broadcast-batch"),
        case(lambda a, b: a @ b, (4,), (2, 4, 5), id="vec@batch"),
        case(lambda a, b: np.matmul(a, b), (1, 3), (3, 1), id="np.matmul-outer-1"),
        case(lambda a, b: np.dot(a, b), (4, 2), (2, 3), id="np.dot"),
        case(lambda a, b: a.dot(b), (3,), (3, 2), id="method-dot"),
        case(lambda a: a @ np.arange(6.0).reshape(3, 2), (2, 3), id="const-right"),
        case(lambda b: np.ones((2, 3)) @ b, (3,), id="const-left-reflected"),
    ],
    # ---- shapes ----
    "transpose": [
        case(lambda x: x.T, (2, 3), id=".T"),
        case(lambda x: x.T, (3,), id=".T-1d"),
        case(lambda x: np.transpose(x), (2, 3, 4), id="reverse-3d"),
        case(lambda x: np.transpose(x, (1, 0, 2)), (2, 3, 4), id="axes(1,0,2)"),
        case(lambda x: np.transpose(x, (-1, 0, 1)), (2, 3, 4), id="negative-axes"),
        case(lambda x: x.transpose(1, 0), (2, 3), id="method"),
    ],
    "reshape": [
        case(lambda x: x.reshape(3, 2), (2, 3), id="method-varargs"),
        case(lambda x: x.reshape((1, 6)), (2, 3), id="method-tuple"),
        case(lambda x: np.reshape(x, (-1,)), (2, 3), id="flatten-minus1"),
        case(lambda x: np.reshape(x, (2, -1, 2)), (4, 3), id="infer-middle"),
        case(lambda x: np.reshape(x, (1,)), (), id="0d-to-1"),
        case(lambda x: np.reshape(x, ()), (1, 1), id="to-0d"),
    ],
    "broadcast_to": [
        case(lambda x: np.broadcast_to(x, (2, 3)), (3,), id="row"),
        case(lambda x: np.broadcast_to(x, (2, 3)), (2, 1), id="column"),
        case(lambda x: np.broadcast_to(x, (2, 3)), (), id="scalar"),
        case(lambda x: np.broadcast_to(x, (4, 2, 3)), (1, 3), id="new-axis"),
    ],
    "getitem": [
        case(lambda x: x[0], (4,), id="x[0]"),
        case(lambda x: x[-1], (2, 3), id="X[-1]"),
        case(lambda x: x[1:], (4,), id="x[1:]"),
        case(lambda x: x[:-1], (4,), id="x[:-1]"),
        case(lambda x: x[::-1], (4,), id="x[::-1]"),
        case(lambda x: x[:, ::2], (3, 5), id="X[:,::2]"),
        case(lambda x: x[1, :], (3, 4), id="X[1,:]"),
        case(lambda x: x[None], (3,), id="x[None]"),
        case(lambda x: x[..., 1], (2, 3, 4), id="x[...,1]"),
        case(lambda x: x[:, None, 1:], (2, 3), id="X[:,None,1:]"),
        case(lambda x: x[1, 2], (2, 3), id="X[1,2]"),
        case(lambda x: x[1:] - x[:-1] ** 2, (5,), id="x[1:]-x[:-1]**2"),
    ],
    "index_scatter": [
        scatter((slice(1, None),), (4,), (3,)),
        scatter((0,), (3,), ()),
        scatter((slice(None), slice(None, None, 2)), (3, 5), (3, 3)),
        scatter((Ellipsis, 1), (2, 3, 4), (2, 3)),
        scatter((slice(None, None, -1),), (4,), (4,)),
    ],
    "concatenate": [
        case(lambda x, y: np.concatenate([x, y]), (3,), (2,), id="1d"),
        case(lambda x, y: np.concatenate((x, y), axis=0), (2, 3), (1, 3), id="axis0"),
        case(lambda x, y: np.concatenate((x, y), axis=1), (2, 3), (2, 2), id="axis1"),
        case(lambda x, y, z: np.concatenate([x, y, z], axis=-1), (2, 1), (2, 3), (2, 2), id="three-axis-1"),
        case(lambda x, y: np.concatenate([x, y], axis=2), (2, 3, 1), (2, 3, 2), id="axis2"),
        case(lambda x: np.concatenate([x, np.zeros(2)]), (3,), id="with-constant"),
    ],
    # ---- casts and gradient stops ----
    "astype": [
        case(lambda x: x.astype(np.float64), (2, 3), id="same-dtype"),
        # Rounding to float32 is piecewise constant at float64 resolution: no finite difference there.
        case(lambda x: x.astype(np.float32), (2, 3), id="to-float32", fd=False),
        case(lambda x: (x > 0).astype(np.float64), (3,), id="bool-to-float"),
        case(lambda x: np.sum(x, dtype=np.float64), (3,), id="sum-dtype"),
    ],
    # A size of an argument used as a number: read at run time, so one kernel serves every size.
    "dim": [
        case(lambda x: np.mean(x), (2, 3), id="mean-count"),
        case(lambda x: x * x.shape[0] + len(x), (3,), id="times-size"),
        case(lambda x: x / (x.size - 1), (2, 3), id="size-arithmetic"),
    ],
    # stop_gradient's gradient is zero by definition, not the finite difference (tested in test_autodiff).
    "stop_gradient": [
        case(lambda x: apply("stop_gradient", x), s, id=f"apply-{'x'.join(map(str, s)) or '0d'}",
             expected=lambda x: x, fd=False) for s in ((), (2, 3))
    ],
}


def _merge_case_tables() -> None:
    """Each op family's rows live in tests/cases/<family>.py, beside its graphc/ops/<family>.py."""
    import importlib
    import pathlib

    for path in sorted((pathlib.Path(__file__).parent / "cases").glob("[!_]*.py")):
        module = importlib.import_module(f"cases.{path.stem}")
        overlap = set(module.CASES) & set(CASES)
        assert not overlap, f"{path.name} repeats rows for {sorted(overlap)}"
        CASES.update(module.CASES)
        COMPOSITE_CASES.extend(getattr(module, "COMPOSITE_CASES", []))


# Functions of the public surface that are built from primitives rather than being one.
def _np_logsumexp(x, axis=None):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m, axis=axis)


def _np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


COMPOSITE_CASES: list[Case] = [
    case(lambda x: np.mean(x), (2, 3), id="np.mean"),
    case(lambda x: np.mean(x, axis=-1, keepdims=True), (2, 3), id="np.mean-axis-1-keepdims"),
    case(lambda x: x.mean(axis=(0, 2)), (2, 3, 4), id="method-mean-axes"),
    case(lambda x: x.sum(), (2, 3), id="method-sum"),
    case(lambda x: np.add.reduce(x, axis=0), (2, 3), id="np.add.reduce"),
    case(lambda x: np.maximum.reduce(x, axis=1), (2, 3), id="np.maximum.reduce"),
    case(lambda x, y: np.stack([x, y]), (3,), (3,), id="np.stack-axis0"),
    case(lambda x, y: np.stack([x, y], axis=1), (2, 3), (2, 3), id="np.stack-axis1"),
    case(lambda x, y, z: np.stack((x, y, z), axis=-1), (2,), (2,), (2,), id="np.stack-axis-1"),
    case(lambda x: np.expand_dims(x, 1), (2, 3), id="np.expand_dims"),
    case(lambda x: np.squeeze(x), (1, 3, 1), id="np.squeeze"),
    case(lambda x: x.squeeze(axis=0), (1, 3), id="method-squeeze"),
    case(lambda x, y: np.dot(x, y), (), (2, 3), id="np.dot-scalar"),
    case(lambda x: graphc.logsumexp(x), (2, 3), id="logsumexp", expected=lambda x: _np_logsumexp(x)),
    case(lambda x: graphc.logsumexp(x, axis=1), (2, 3), id="logsumexp-axis1",
         expected=lambda x: _np_logsumexp(x, axis=1)),
    case(lambda x: graphc.softmax(x), (2, 3), id="softmax", expected=_np_softmax),
    case(lambda x: graphc.softmax(x, axis=0), (2, 3), id="softmax-axis0",
         expected=lambda x: _np_softmax(x, axis=0)),
]


# Basic indices for generated (hypothesis) tests of getitem and its adjoint.
@st.composite
def shapes_and_basic_indices(draw):
    """A shape and a basic index into it: ints, slices (any start/stop/step), None and '...'."""
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    k = draw(st.integers(0, len(shape)))
    ellipsis = draw(st.sampled_from(["none", "end", "front"]))
    dims = shape[len(shape) - k:] if ellipsis == "front" else shape[:k]
    bound, step = st.none() | st.integers(-5, 5), st.none() | st.sampled_from([-2, -1, 1, 2, 3])
    entries = [draw(st.integers(-n, n - 1) | st.builds(slice, bound, bound, step)) for n in dims]
    for _ in range(draw(st.integers(0, 2))):
        entries.insert(draw(st.integers(0, len(entries))), None)
    if ellipsis == "front":
        entries.insert(0, Ellipsis)
    elif ellipsis == "end":
        entries.append(Ellipsis)
    return shape, tuple(entries)


_merge_case_tables()
