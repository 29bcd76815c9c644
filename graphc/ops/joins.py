"""Cutting and joining arrays: constant pad, the split and stack variants, select and piecewise.

Composites of the shape primitives, like ``graphc.ops.manip`` (whose helpers they share)::

    np.pad(x, 1)         ->  concatenate of zeros and x       (adjoint: a slice)
    np.split(x, 2)       ->  a list of getitem slices
    np.select(c, v)      ->  nested np.where
    np.piecewise(x, c, f) ->  np.where, function by function
"""
from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError, TracingError, user_frame
from graphc.ops import apply, broadcast_shapes, defcomposite, shape_of, unsupported
from graphc.ops.manip import (
    _any_traced, _array, _axis, _concatenate, _reshape, _slice, _static_ints, _traced, atleast_1d, atleast_2d,
    atleast_3d,
)


# ---- pad ---------------------------------------------------------------------------------------
def _pairs(x, ndim: int) -> list:
    """NumPy's broadcasting of a pad argument to one (before, after) pair per axis."""
    x = np.asarray(x)
    if x.size == 1:
        return [(x.ravel()[0], x.ravel()[0])] * ndim
    if x.size == 2 and x.shape != (2, 1):
        return [(x.ravel()[0], x.ravel()[1])] * ndim
    try:
        return [tuple(p) for p in np.broadcast_to(x, (ndim, 2)).tolist()]
    except ValueError:
        raise ShapeError(f"np.pad: an argument of shape {x.shape} does not broadcast to ({ndim}, 2)",
                         user_frame()) from None


def _widths(pad_width, ndim: int) -> list:
    if isinstance(pad_width, dict):
        seq = [(0, 0)] * ndim
        for ax, w in pad_width.items():
            seq[_axis(ax, ndim, "np.pad")] = (w, w) if isinstance(w, (int, np.integer)) else tuple(w)
        pad_width = seq
    widths = _static_ints(pad_width, "pad_width", "np.pad")
    if widths.size and widths.min() < 0:
        raise ShapeError(f"np.pad: pad widths may not be negative, got {widths.tolist()}", user_frame())
    return [(int(b), int(e)) for b, e in _pairs(widths, ndim)]


def _filled(shape: tuple, value, dtype):
    """A block of ``value`` (a constant or a traced 0-d value) in the padded array's dtype."""
    if not _traced(value):
        return np.full(shape, value, dtype)
    if value.dtype != dtype:
        value = apply("astype", value, dtype=np.dtype(dtype).str)
    return apply("broadcast_to", value, shape=shape)


def pad(array, pad_width, mode="constant", **kwargs):
    """``np.pad`` in constant mode: the value blocks are concatenated on, axis by axis (so later axes
    fill the corners, as NumPy does); the adjoint is the slice that cuts them off again."""
    if mode != "constant":
        raise unsupported(f"np.pad with mode={mode!r}", "only mode='constant' is supported")
    if set(kwargs) - {"constant_values"}:
        raise unsupported(f"np.pad with {sorted(set(kwargs) - {'constant_values'})}", "only constant_values")
    x = _array(array)
    ndim, dtype = len(shape_of(x)), x.dtype
    values = kwargs.get("constant_values", 0)
    if _any_traced(values) and not (_traced(values) and values.ndim == 0):
        raise unsupported("np.pad with traced constant_values other than one scalar", "use one traced scalar")
    values = [(values, values)] * ndim if _traced(values) else _pairs(values, ndim)
    for ax, ((before, after), (v0, v1)) in enumerate(zip(_widths(pad_width, ndim), values)):
        shape = shape_of(x)
        parts = ([_filled(shape[:ax] + (before,) + shape[ax + 1:], v0, dtype)] if before else []) + [x] + (
            [_filled(shape[:ax] + (after,) + shape[ax + 1:], v1, dtype)] if after else [])
        x = _concatenate(parts, ax)
    return x


# ---- split -------------------------------------------------------------------------------------
def array_split(ary, indices_or_sections, axis=0):
    """``np.array_split``: a list of getitem slices; N sections need not divide the axis."""
    ary = _array(ary)
    axis = _axis(axis, len(shape_of(ary)), "np.array_split")
    n = shape_of(ary)[axis]
    spec = _static_ints(indices_or_sections, "indices_or_sections", "np.split")
    if spec.ndim == 0:
        sections = int(spec)
        if sections <= 0:
            raise ShapeError("np.array_split: the number of sections must be larger than 0", user_frame())
        each, extras = divmod(n, sections)
        points = np.cumsum([0] + [each + 1] * extras + [each] * (sections - extras)).tolist()
    else:
        points = [0] + spec.ravel().tolist() + [n]
    return [_slice(ary, axis, start, stop) for start, stop in zip(points[:-1], points[1:])]


def split(ary, indices_or_sections, axis=0):
    """``np.split``: as ``np.array_split``, but N sections must divide the axis evenly."""
    ary = _array(ary)
    spec = _static_ints(indices_or_sections, "indices_or_sections", "np.split")
    if spec.ndim == 0 and spec > 0:
        n = shape_of(ary)[_axis(axis, len(shape_of(ary)), "np.split")]
        if n % int(spec):
            raise ShapeError(f"np.split: {int(spec)} sections do not divide an axis of length {n} equally; "
                             "use np.array_split", user_frame())
    return array_split(ary, spec, axis)


def _split_along(name: str, min_ndim: int, axis_of):
    def split_fn(ary, indices_or_sections):
        ary = _array(ary)
        if len(shape_of(ary)) < min_ndim:
            raise ShapeError(f"np.{name} only works on arrays of {min_ndim} or more dimensions, got shape "
                             f"{shape_of(ary)}", user_frame())
        return split(ary, indices_or_sections, axis_of(len(shape_of(ary))))

    split_fn.__name__ = split_fn.__qualname__ = name
    split_fn.__doc__ = f"``np.{name}``: ``np.split`` along axis {axis_of(3)}."
    return split_fn


vsplit = _split_along("vsplit", 2, lambda n: 0)
hsplit = _split_along("hsplit", 1, lambda n: 1 if n > 1 else 0)
dsplit = _split_along("dsplit", 3, lambda n: 2)


# ---- stacking ----------------------------------------------------------------------------------
def _stack_along(name: str, grow, axis_of):
    def stack_fn(tup, *, dtype=None, casting="same_kind"):
        if dtype is not None:
            raise unsupported(f"np.{name} with dtype=", "cast the result with .astype")
        arrays = [grow(_array(a)) for a in tup]
        if not arrays:
            raise ShapeError(f"np.{name} needs at least one array", user_frame())
        return apply("concatenate", *arrays, axis=axis_of(arrays))

    stack_fn.__name__ = stack_fn.__qualname__ = name
    stack_fn.__doc__ = f"``np.{name}`` as a concatenate after reshapes."
    return stack_fn


vstack = _stack_along("vstack", atleast_2d, lambda arrays: 0)
hstack = _stack_along("hstack", atleast_1d, lambda arrays: 0 if len(shape_of(arrays[0])) == 1 else 1)
dstack = _stack_along("dstack", atleast_3d, lambda arrays: 2)
column_stack = _stack_along("column_stack", lambda a: _reshape(a, (int(np.prod(shape_of(a))), 1))
                            if len(shape_of(a)) < 2 else a, lambda arrays: 1)


# ---- select ------------------------------------------------------------------------------------
def _weak(x):
    """What ``np.result_type`` should see: Python scalars stay weak (NEP 50), arrays give their dtype."""
    return x if type(x) in (int, float, complex) else x.dtype if _traced(x) else np.asarray(x).dtype


def select(condlist, choicelist, default=0):
    """``np.select`` as nested ``np.where``: the first true condition picks its choice, else ``default``."""
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ShapeError("np.select: the list of cases must be as long as the list of conditions", user_frame())
    for i, cond in enumerate(condlist):
        if np.dtype(_weak(_array(cond))) != np.bool_:
            raise TracingError(f"np.select: entry {i} of condlist must be boolean (a comparison), "
                               f"got {np.dtype(_weak(_array(cond)))}", user_frame())
    dtype = np.result_type(*(_weak(c) for c in choicelist + [default]))
    shape = broadcast_shapes("np.select", *(shape_of(v) for v in condlist + choicelist + [default]))
    result = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        result = np.where(cond, choice, result)
    result = _array(result)
    if result.dtype != dtype:
        result = apply("astype", result, dtype=dtype.str)
    return result if shape_of(result) == shape else apply("broadcast_to", result, shape=shape)


def _array_like(entry) -> bool:
    return isinstance(entry, (list, np.ndarray)) or (_traced(entry) and len(shape_of(entry)) > 0)


def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise`` as ``np.where`` in NumPy's order: a later true condition overwrites an earlier
    one, entries no condition picks are 0, and one function more than conditions is the "otherwise".
    Values are cast to ``x``'s dtype, as NumPy assigns them into ``zeros_like(x)``.

    NumPy calls each function on the 1-d array of the entries its condition picks; here it gets all of
    ``x`` and ``where`` keeps its picked entries, so a function must act elementwise (as those given to
    ``np.piecewise`` do). What the others compute is dropped, and so is its gradient: a ``sqrt`` of
    the negative entries no condition gives it costs nothing, as with ``np.where``."""
    x = _array(x)
    rank = len(shape_of(x))
    # NumPy's reading of condlist: one condition unless its first entry is itself an array (or x is 0-d).
    if isinstance(condlist, (list, tuple)):
        single = rank and condlist and not _array_like(condlist[0])
    else:
        depth = len(shape_of(condlist))
        single = depth == 0 or (rank and depth == 1)
    conditions = [condlist] if single else [condlist[i] for i in range(len(condlist))]
    funclist = list(funclist)
    if len(funclist) == len(conditions) + 1:
        taken = conditions[0]
        for cond in conditions[1:]:
            taken = np.logical_or(taken, cond)
        conditions.append(np.logical_not(taken))
    elif len(funclist) != len(conditions):
        raise ShapeError(f"np.piecewise: with {len(conditions)} condition(s), either {len(conditions)} or "
                         f"{len(conditions) + 1} functions are expected", user_frame())
    dtype = np.dtype(x.dtype)
    result = np.zeros((), dtype)
    for cond, func in zip(conditions, funclist):
        value = func(x, *args, **kw) if callable(func) else func
        value = _array(value)
        if np.dtype(value.dtype) != dtype:
            value = apply("astype", value, dtype=dtype.str)
        result = np.where(cond, value, result)
    result = _array(result)
    return result if shape_of(result) == shape_of(x) else apply("broadcast_to", result, shape=shape_of(x))


# Each function is the traced meaning of the NumPy function of its name.
for _fn in (pad, split, array_split, vsplit, hsplit, dsplit, vstack, hstack, dstack, column_stack, select, piecewise):
    defcomposite((getattr(np, _fn.__name__),), _fn)
if hasattr(np, "row_stack"):  # deprecated in NumPy 2.0; gone from later namespaces
    defcomposite((np.row_stack,), vstack)
