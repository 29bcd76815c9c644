"""The op registry: every primitive declared once, with everything graphc needs to know about it.

A primitive is one :class:`OpDef`, made by :func:`defop`::

    defop("log", arity=1,
          shape=elementwise_shape(np.log),   # shape + dtype rule
          reference=np.log,                  # NumPy oracle; also the __array_ufunc__ key
          adjoint=lambda g, out, x: (g / x,),# written with NumPy calls on tracers: differentiable again
          emit="np.log({0})", scalar_emit="math.log({0})",
          domain=POSITIVE, singular=True)

``REGISTRY`` maps op names to their ``OpDef``; ``NUMPY_API`` maps NumPy callables
(``np.log``, ``np.sum``) to the handler the tracer calls. Composite functions built
from primitives (``np.mean``, ``np.stack``) register with :func:`defcomposite`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import numpy as np

from graphc.dims import keep_dims
from graphc.errors import ShapeError, UnsupportedOperationError, user_frame


class Aval(NamedTuple):
    """The abstract value of a node: what is known before any data arrives."""

    shape: tuple
    dtype: np.dtype


class Results(tuple):
    """The types of a node with several results (a loop's carries and stacked outputs), in order.

    A shape rule returns one for such an op; the node records them as ``results`` and each result is
    read by an ``unpack`` node (``%9 = unpack %8 [1]``), which is what every other op consumes.
    """

    #: The placeholder type such a node records as its own shape and dtype.
    SHAPE, DTYPE = (), np.dtype(object)

    @staticmethod
    def name(results) -> str:
        from graphc.graph import type_name

        return "(" + ", ".join(type_name(*r) for r in results) + ")"


# Input domains the tests sample from, per op.
REAL, POSITIVE, UNIT, NONZERO, AT_LEAST_ONE = "real", "positive", "unit", "nonzero", "at least one"

#: An adjoint rule for ops whose output carries no gradient (comparisons, sign).
NONDIFFERENTIABLE = "nondifferentiable"

#: An emission (or adjoint) that follows from the op's structure rather than a template: codegen
#: writes loop and branch nodes from their bodies (``graphc.codegen.control``), and the reverse sweep
#: routes an ``unpack`` node's cotangent to its loop node.
STRUCTURAL = "structural"
#: ``OpDef.linear``: linear in all its operands jointly (add, reshape), or in each one while the others
#: stay fixed (multiply, matmul).
LINEAR_ALL = "all"
LINEAR_EACH = "each"
#: ``OpDef.raises``: only when an index operand (every operand after the first) is traced.
INDICES = "indices"


@dataclasses.dataclass(frozen=True)
class OpDef:
    """One primitive. See the module docstring for an example declaration.

    Fields:
        name: the op's name, NumPy's where NumPy has one.
        arity: number of operands, or None for variadic ops (concatenate).
        shape: ``(*avals, **attrs) -> Aval``.
        reference: ``(*arrays, **attrs) -> ndarray``, the NumPy oracle.
        adjoint: ``(g, out, *operands, **attrs) -> tuple`` of one cotangent (or None) per operand,
            built from NumPy calls on tracers; or ``NONDIFFERENTIABLE``. An operand the rule cannot
            differentiate gets an exception, raised only if a gradient needs that operand.
        emit: array Numba emission, a format string over operand names or ``(args, attrs) -> str``; None
            for an elementwise op emitted only in loops (``scalar_emit``: the fusion pass makes a loop of
            even a lone node of it).
        scalar_emit: the same for one element, used inside fused loops; None if not elementwise.
        numpy: the NumPy callables that dispatch to this op.
        parse: ``(*args, **kwargs) -> (operands, attrs)`` adapting NumPy's signature; default positional.
        elementwise: output element i depends only on operand element i (fusable).
        domain: where tests sample inputs.
        singular: the local derivative can be infinite where the value is finite (sqrt at 0), so a zero
            cotangent is masked to give zero instead of 0 * inf = NaN.
        version: bumped whenever the emission changes; part of the compile-cache key.
        doc: one line for the README's table.
        internal: made only by optimization passes (fused loops): never traced, differentiated or folded.
        numpy_is_faster: the dtype names (``"float32"``...) for which, alone on a big array, NumPy's SIMD
            ufunc beats a Numba loop over the op; codegen then calls NumPy for it (in ``numba.objmode``).
            In a loop with other ops it is fused.
        batch: ``(batched, *operands, **attrs) -> result``, the op over a leading batch axis: the operands
            flagged in ``batched`` have one, and so must the result (see :mod:`graphc.passes.batching`).
            Built from NumPy calls on tracers, like ``adjoint``; for an op of several results, a tuple
            of them. None for elementwise ops, which broadcasting batches
            (:func:`graphc.passes.batching.batch_elementwise`). A rule may return None for operands it
            does not handle (a gather's per-example indices): the batching pass then runs the node once
            per example, in a scan.
        commutative: ``op(x, y)`` and ``op(y, x)`` give the same values, signed zeros included (NaN's
            sign aside), so CSE merges the two orders. Not ``maximum``: ``np.maximum(0.0, -0.0)`` is -0.0.
        linear: the operands the op is linear in: ``LINEAR_ALL`` (jointly in all), ``LINEAR_EACH`` (in any
            one while the others stay fixed: a product), a tuple of operand positions (jointly in those,
            the rest fixed: ``divide`` in (0,)), or None. Forward mode transposes a custom rule only when
            this says it is linear in its cotangents (:func:`graphc.passes.forward.linear_in`).
        raises: whether the op can raise on the values it gets, not only on their shapes: True (a
            singular or indefinite matrix), ``INDICES`` (an out-of-bounds traced index), or False. A
            batched branch or loop that would run it on values it discards declines
            (:mod:`graphc.ops.control`).
        view: the result may share memory with operand 0 (reshape, transpose, broadcast, basic indexing),
            so generated code copies it before handing it back or writing into it.
    """

    name: str
    arity: int | None
    shape: Callable[..., Aval]
    reference: Callable[..., Any]
    adjoint: Any
    emit: Any = None
    scalar_emit: Any = None
    numpy: tuple = ()
    parse: Callable | None = None
    elementwise: bool = False
    domain: str = REAL
    singular: bool = False
    version: int = 1
    doc: str = ""
    internal: bool = False
    numpy_is_faster: tuple = ()
    batch: Any = None
    commutative: bool = False
    linear: Any = None
    raises: Any = False
    view: bool = False


REGISTRY: dict[str, OpDef] = {}
NUMPY_API: dict[Any, Callable] = {}
#: Ops whose rows live outside the registry's op list: the graph's leaves.
LEAF_OPS = ("input", "constant")


def may_alias(op: str) -> bool:
    """Whether a node of ``op`` may share memory with an argument or a constant: the leaves and views."""
    return op in LEAF_OPS or REGISTRY[op].view


def defop(name: str, **fields) -> OpDef:
    """Declare a primitive; see :class:`OpDef`. Returns the declaration."""
    if name in REGISTRY or name in LEAF_OPS:
        raise ValueError(f"op {name!r} is declared twice")
    op = OpDef(name=name, **fields)
    REGISTRY[name] = op
    parse = op.parse or _positional
    for fn in op.numpy:
        NUMPY_API[fn] = _numpy_handler(name, parse)
    return op


def defcomposite(numpy_fns: tuple, fn: Callable) -> Callable:
    """Register ``fn`` (written with primitives) as the traced meaning of each NumPy callable."""
    for np_fn in numpy_fns:
        NUMPY_API[np_fn] = fn
    return fn


def _positional(*operands):
    return operands, {}


def _numpy_handler(name: str, parse: Callable) -> Callable:
    def handler(*args, **kwargs):
        operands, attrs = parse(*args, **kwargs)
        return apply(name, *operands, **attrs)

    handler.__name__ = name
    return handler


def apply(name: str, *operands, **attrs):
    """Apply primitive ``name``: records a node when any operand is traced, else runs the reference."""
    for operand in operands:
        bind = getattr(type(operand), "_bind", None)
        if bind is not None:
            return bind(operand, name, operands, attrs)
    return REGISTRY[name].reference(*(np.asarray(o) for o in operands), **attrs)


# ---- helpers shared by the op modules --------------------------------------------------------


def ndim_of(x) -> int:
    return x.ndim if hasattr(x, "ndim") else np.ndim(x)


def shape_of(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def normalize_axis(axis, ndim: int, op: str) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ShapeError(f"axis {a!r} is out of range for '{op}' of a {ndim}-d array", user_frame())
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in '{op}': {axis!r}", user_frame())
    return tuple(sorted(out)) if ndim else ()


def broadcast_shapes(op: str, *shapes) -> tuple:
    try:
        return keep_dims(tuple(np.broadcast_shapes(*shapes)), *shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(f"shapes {listed} do not broadcast in '{op}'", user_frame()) from None


def probe_dtype(fn: Callable, *dtypes, **attrs) -> np.dtype:
    """The dtype NumPy gives ``fn`` on inputs of ``dtypes``, found on 0-d ones."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(np.ones((), d) for d in dtypes), **attrs)).dtype


def elementwise_shape(reference: Callable, name: str | None = None) -> Callable[..., Aval]:
    """Shape rule of an elementwise op: NumPy broadcasting, NumPy's dtype."""

    def rule(*avals, **attrs):
        shape = broadcast_shapes(name or reference.__name__, *(a.shape for a in avals))
        return Aval(shape, probe_dtype(reference, *(a.dtype for a in avals), **attrs))

    return rule


def unbroadcast(g, shape: tuple):
    """Sum cotangent ``g`` over the axes that broadcasting added, back to ``shape``."""
    gshape = shape_of(g)
    if gshape == tuple(shape):
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )
    summed = apply("sum", g, axis=axes, keepdims=False) if axes else g
    if shape_of(summed) != tuple(shape):
        summed = apply("reshape", summed, shape=tuple(shape))
    return summed


def batch_size(batched: tuple, operands) -> int:
    """The batch axis' length, read from the first batched operand (for batching rules)."""
    return next(shape_of(x)[0] for x, b in zip(operands, batched) if b)


def lift(x, rank: int):
    """Batched ``x`` (a leading batch axis before its own shape) with 1s inserted after the batch axis
    to give its own shape ``rank`` axes, so that it broadcasts against unbatched operands of that rank."""
    batched = shape_of(x)
    missing = rank - (len(batched) - 1)
    return apply("reshape", x, shape=batched[:1] + (1,) * missing + batched[1:]) if missing > 0 else x


def with_batch_axis(x, size: int):
    """``x`` (the same for every example) broadcast along a new leading batch axis of ``size``."""
    return apply("broadcast_to", x, shape=(size,) + shape_of(x))


def batched_like(batched: tuple, operands) -> list:
    """Every operand with the batch axis: unbatched ones broadcast along a new leading axis."""
    size = batch_size(batched, operands)
    return [x if b else with_batch_axis(x, size) for x, b in zip(operands, batched)]


def batch_along_axis(name: str) -> Callable:
    """The batching rule of an op that works along ``axis`` (an int or a tuple of ints) and whose
    operands all have one rank (a sort, a reduction, concatenate): every operand batched, the axes
    moved one place on."""

    def rule(batched, *operands, axis, **attrs):
        shifted = axis + 1 if isinstance(axis, int) else tuple(a + 1 for a in axis)
        return apply(name, *batched_like(batched, operands), axis=shifted, **attrs)

    return rule


class Statements(str):
    """An emission that is whole statements assigning ``{out}``, not an expression."""


def dtype_source(dtype) -> str:
    """``np.float64``: how emission templates name a dtype in generated source."""
    return f"np.{np.dtype(dtype).name}"


def unsupported(what: str, hint: str = "") -> UnsupportedOperationError:
    return UnsupportedOperationError(f"{what} is not supported by graphc{'; ' + hint if hint else ''}", user_frame())


# How users reach the primitives that no NumPy function names.
_SPELLED = {"astype": "`x.astype(dtype)`", "getitem": "`x[i]`, `x[a:b:c]`, `x[None]`, `x[...]`",
            "gather": "`x[idx]`, `x[rows, cols]`, `x[mask]`, `np.take`",
            "sigmoid": "`graphc.sigmoid`", "relu": "`graphc.relu`", "transpose": "`np.transpose`, `x.T`",
            "scan": "`graphc.scan`, `graphc.fori_loop` with int bounds", "cond": "`graphc.cond`",
            "while_loop": "`graphc.while_loop`, `graphc.fori_loop` with traced bounds",
            "solve": "`np.linalg.solve`", "slogdet": "`np.linalg.slogdet`, `np.linalg.det`",
            "eigh": "`np.linalg.eigh`, `np.linalg.eigvalsh`", "svd": "`np.linalg.svd`, `np.linalg.svdvals`",
            "qr": "`np.linalg.qr`", "digamma": "`scipy.special.digamma`, `scipy.special.psi`",
            "polygamma": "`graphc.scipy.special.polygamma`", "expm": "`graphc.scipy.linalg.expm`",
            "sqrtm": "`graphc.scipy.linalg.sqrtm`", "solve_sylvester": "`graphc.scipy.linalg.solve_sylvester`",
            "solve_banded": "`graphc.scipy.linalg.solve_banded`",
            "convolve": "`np.convolve`, `graphc.scipy.signal.convolve`"}


def _numpy_name(fn) -> str:
    """``np.sum``, ``np.linalg.solve``, ``scipy.special.erf``: a callable as users spell it."""
    name = getattr(fn, "__name__", str(fn))
    if isinstance(fn, np.ufunc) and getattr(np, name, None) is not fn:
        return f"`scipy.special.{name}`"  # the ufuncs graphc knows are NumPy's and scipy.special's
    module = getattr(fn, "__module__", None) or "numpy"
    prefix = "np" + module[len("numpy"):] if module.startswith("numpy.") and not module.startswith("numpy._") else "np"
    return f"`{prefix}.{getattr(fn, '__name__', fn)}`"


def operations_table() -> str:
    """The README's table of supported operations, generated from the registry (a test keeps it in sync)."""
    from graphc.ops.special import register_scipy_ufuncs

    register_scipy_ufuncs()  # their spellings are SciPy's objects
    spellings: dict[str, list[str]] = {}
    for fn, handler in NUMPY_API.items():
        target = getattr(handler, "__name__", "")
        spellings.setdefault(target, []).append(_numpy_name(fn))
    rows = ["| op | NumPy spellings | gradient | what it computes |", "|---|---|---|---|"]
    for name, op in sorted(REGISTRY.items()):
        if op.internal:
            continue
        names = _SPELLED.get(name) or ", ".join(sorted(set(spellings.get(name, [])))) or "(made by graphc)"
        gradient = "yes"
        if op.adjoint is NONDIFFERENTIABLE:
            result = probe_dtype(op.reference, *[np.float64] * (op.arity or 1)) if op.elementwise else None
            gradient = "zero (piecewise constant)" if result is not None and result.kind == "f" else "none"
        rows.append(f"| `{name}` | {names} | {gradient} | {op.doc.replace('|', '&#124;')} |")
    composites = sorted(_numpy_name(fn) for fn, h in NUMPY_API.items() if getattr(h, "__name__", "") not in REGISTRY)
    rows.append(f"| composites | {', '.join(composites)}, `graphc.logsumexp`, `graphc.softmax` | yes | "
                "written with the primitives above |")
    return "\n".join(rows)


# Importing the op modules fills REGISTRY and NUMPY_API.
from graphc.ops import elementwise, reduce, linalg, shape, composite, fused  # noqa: E402,F401
from graphc.ops import ufuncs, scans, differences, manip, joins, contract, gather  # noqa: E402,F401
from graphc.ops import control  # noqa: E402,F401
from graphc.ops import calls  # noqa: E402,F401
from graphc.ops import lapack  # noqa: E402,F401
from graphc.ops import matfuncs  # noqa: E402,F401
from graphc.ops import special  # noqa: E402,F401
from graphc.ops import misc  # noqa: E402,F401
from graphc.ops import nanfuncs  # noqa: E402,F401
from graphc.ops import signal  # noqa: E402,F401
