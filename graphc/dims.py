"""Sizes read from arguments, so that one kernel serves every shape whose generated code is the same.

Tracing an argument of shape ``(256, 64)`` gives its input node the shape ``(Dim(256), Dim(64))``:
ints equal to those sizes that also remember where they come from ("axis 0 of input %3"). Shape rules
compute with them as with any int; ``+ - * // %`` of Dims give Dims that remember the arithmetic
(``n // 2``, ``n * m``), and broadcasting keeps them (:func:`keep_dims`), as does basic indexing
(``x[1:]`` stops at ``n``, ``x[-1]`` is ``n - 1``: ``graphc.ops.shape``). Everything else (NumPy, the
listings, error messages, the NumPy tier) sees plain ints.

Only while a kernel's source is generated (:func:`rendering`) does a Dim print as the expression that
reads it from the kernel's own arguments: ``np.empty((256, 10))`` becomes
``np.empty((v3.shape[0], 10))``. Two shapes whose generated sources are the same text then share one
module, one Numba dispatcher and its machine code (the cache key hashes the source). That is safe
because every shape's source comes from its own trace: a kernel only ever runs shapes whose trace wrote
exactly its text. A size that lost its origin (through NumPy or a folded constant) prints as a number,
which only makes the source, and so the kernel, specific to that size: never wrong, only less shared.

Sizes 0 and 1 are never Dims: they change broadcasting and indexing, so they stay in the code.
A Dim of another trace prints as a number too: its expression would name that trace's arguments. A
graph an inner transformation traced (``jit(grad(f))``) is replayed into the caller's with the Dims of
its nodes' attributes rebuilt from the caller's arguments (:func:`substitute`), so it stays generic.
"""
from __future__ import annotations

import itertools
import operator
import os
import threading

_scopes = itertools.count()
_local = threading.local()


def new_scope() -> str:
    """A token naming one trace's arguments (unique across processes: graphs travel to workers)."""
    return f"{os.getpid()}.{next(_scopes)}"


class Dim(int):
    """An int that is a size of an argument, or arithmetic on such sizes (see the module docstring).

    ``form`` is ``("arg", scope, node, axis)`` or ``(symbol, left, right)`` with ints or Dims.
    """

    def __new__(cls, value: int, form: tuple):
        self = super().__new__(cls, value)
        self.form = form
        return self

    def __reduce__(self):
        return Dim, (int(self), self.form)

    def __repr__(self):
        return render(self)

    __str__ = __repr__

    def __format__(self, spec):
        return render(self) if not spec else format(int(self), spec)


def _arithmetic(symbol: str, fn, reflected: bool = False):
    def method(self, other):
        if type(other) is not int and not isinstance(other, Dim):  # floats, bools, NumPy: plain int rules
            return getattr(int, f"__{'r' if reflected else ''}{fn.__name__.strip('_')}__")(self, other)
        left, right = (other, self) if reflected else (self, other)
        if type(other) is int and (other == 0 and (symbol == "+" or symbol == "-" and not reflected)
                                   or other == 1 and (symbol == "*" or symbol == "//" and not reflected)):
            return self  # math.prod starts from 1, sum() from 0: keep the expressions short
        return Dim(fn(int(left), int(right)), (symbol, left, right))
    return method


_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod}
for _symbol, _fn in _OPERATORS.items():
    _name = _fn.__name__.strip("_")
    setattr(Dim, f"__{_name}__", _arithmetic(_symbol, _fn))
    setattr(Dim, f"__r{_name}__", _arithmetic(_symbol, _fn, reflected=True))
Dim.__neg__ = lambda self: Dim(-int(self), ("-", 0, self))
Dim.__pos__ = lambda self: self


def argument_shape(shape: tuple, scope: str, node: int) -> tuple:
    """The shape of input ``node`` with each size of 2 or more as a Dim reading it from that input."""
    return tuple(Dim(n, ("arg", scope, node, axis)) if n >= 2 else int(n) for axis, n in enumerate(shape))


def keep_dims(result: tuple, *shapes) -> tuple:
    """``result`` (a broadcast of ``shapes``) with each size taken from an operand that has it as a Dim."""
    out = list(result)
    for shape in shapes:
        for i in range(1, min(len(shape), len(out)) + 1):
            if isinstance(shape[-i], Dim) and not isinstance(out[-i], Dim) and shape[-i] == out[-i]:
                out[-i] = shape[-i]
    return tuple(out)


def substitute(value, sizes: dict):
    """``value`` (an attribute: ints, Dims, tuples, lists, dicts, slices) with every Dim rebuilt from
    ``sizes``: an argument size's form -> the size to use in its place. A graph traced by an inner
    transformation and replayed into the caller's (``graphc.tracer.inline``) so reads the caller's
    arguments; Dims of other arguments stay as they are."""
    if isinstance(value, Dim):
        if value.form[0] == "arg":
            return sizes.get(value.form, value)
        symbol, left, right = value.form
        return _OPERATORS[symbol](substitute(left, sizes), substitute(right, sizes))
    if type(value) is tuple or type(value) is list:
        return type(value)(substitute(v, sizes) for v in value)
    if type(value) is dict:
        return {k: substitute(v, sizes) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(*(substitute(v, sizes) for v in (value.start, value.stop, value.step)))
    return value


def mentions_dim(value) -> bool:
    """Whether a shape or attribute value holds a Dim (anywhere inside tuples, lists and slices)."""
    if isinstance(value, Dim):
        return True
    if isinstance(value, (tuple, list)):
        return any(mentions_dim(v) for v in value)
    if isinstance(value, slice):
        return any(mentions_dim(v) for v in (value.start, value.stop, value.step))
    return False


class rendering:
    """``with rendering(scope, names):`` Dims of ``scope`` whose input node is in ``names`` (node ->
    the variable holding that argument) print as expressions over those variables; the others as
    numbers. ``rendered`` counts the Dims printed as expressions."""

    def __init__(self, scope: str | None, names: dict):
        self.scope, self.names, self.rendered = scope, names, 0

    def __enter__(self):
        self.outer = getattr(_local, "context", None)
        _local.context = self
        return self

    def __exit__(self, *exc):
        _local.context = self.outer


def render(value) -> str:
    """``value`` as generated source: an expression for a Dim printable here, else the number."""
    context = getattr(_local, "context", None)
    expression = _expression(value, context) if context is not None else None
    if expression is None:
        return int.__repr__(int(value))
    context.rendered += 1
    return expression


def _expression(value, context: rendering) -> str | None:
    if not isinstance(value, Dim):
        return int.__repr__(int(value))
    form = value.form
    if form[0] == "arg":
        _, scope, node, axis = form
        if scope is None or scope != context.scope or node not in context.names:
            return None
        return f"{context.names[node]}.shape[{axis}]"
    symbol, left, right = form
    a, b = _expression(left, context), _expression(right, context)
    return None if a is None or b is None else f"({a} {symbol} {b})"
