"""Array manipulation: ravel, atleast_Nd, moveaxis, tile, repeat, flip, rot90, roll (pad, splits, stacks and
select are in ``graphc.ops.joins``).

Every function here is a composite of the shape primitives (``reshape``, ``transpose``, ``broadcast_to``,
``getitem``, ``concatenate``, ``where``, ``astype``), so gradients and Numba code come for free::

    np.flip(x, 0)        ->  getitem x[::-1]           (adjoint: index_scatter, a flip back)
    np.tile(x, 3)        ->  reshape, broadcast_to, reshape   (adjoint: a sum over the copies)
    np.pad(x, 1)         ->  concatenate of zeros and x       (adjoint: a slice)
    np.roll(x, 1)        ->  concatenate(x[-1:], x[:-1])

Operands may be tracers or constants (NumPy arrays, lists, Python scalars) in any mix. Arguments that
decide the output's shape (repeats, reps, shifts, split points, pad widths) must be static ints.
"""
from __future__ import annotations

import itertools

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, defcomposite, shape_of, unsupported
from graphc.ops.shape import normalize_index


# ---- helpers -------------------------------------------------------------------------------------
def _traced(x) -> bool:
    return hasattr(type(x), "_bind")


def _array(x):
    """A tracer as it is; anything else (list, Python scalar, ndarray) as a NumPy array."""
    return x if _traced(x) else np.asarray(x)


def _any_traced(value) -> bool:
    """Whether ``value`` is traced or a (nested) list or tuple holding a traced value."""
    return _traced(value) or isinstance(value, (list, tuple)) and any(_any_traced(v) for v in value)


def _static_ints(value, what: str, op: str) -> np.ndarray:
    """``value`` as an integer array known while tracing; a clear error for traced or fractional values."""
    if _any_traced(value):
        raise unsupported(f"{op} with traced {what}", f"the result's shape must be known when tracing; "
                          f"pass {what} as Python ints")
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
        arr = arr.astype(np.intp)
    if arr.dtype.kind not in "iu":
        raise ShapeError(f"{what} of {op} must be integers, got {value!r}", user_frame())
    return arr.astype(np.intp)


def _axis(axis, ndim: int, op: str) -> int:
    """One axis, negatives allowed, as a non-negative int; an error out of range (also for 0-d arrays)."""
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis!r} is out of range for '{op}' of a {ndim}-d array", user_frame())
    return int(axis) % ndim


def _axes(axis, ndim: int, op: str) -> tuple:
    """An int or sequence of axes, normalized but kept in the caller's order; repeats are an error."""
    axes = tuple(_axis(a, ndim, op) for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in '{op}': {axis!r}", user_frame())
    return axes


def _permute(x, axes: tuple):
    return x if axes == tuple(range(len(axes))) else apply("transpose", x, axes=axes)


def _reshape(x, shape: tuple):
    return x if shape_of(x) == tuple(shape) else apply("reshape", x, shape=tuple(shape))


def _slice(x, axis: int, start, stop, step=None):
    """``x[..., start:stop:step, ...]`` with the slice on ``axis``."""
    shape = shape_of(x)
    index = (slice(None),) * axis + (slice(start, stop, step),)
    return apply("getitem", x, index=normalize_index(index, shape))


def _concatenate(parts: list, axis: int):
    return parts[0] if len(parts) == 1 else apply("concatenate", *parts, axis=axis)


# ---- ravel, atleast_Nd ---------------------------------------------------------------------------
def ravel(a, order="C"):
    """``np.ravel`` / ``x.flatten()``: a reshape to one axis (C order only)."""
    if order != "C":
        raise unsupported(f"np.ravel with order={order!r}", "graphc arrays are C-ordered: use order='C'")
    a = _array(a)
    return _reshape(a, (int(np.prod(shape_of(a))),))


def _at_least(arys, grow):
    out = tuple(_reshape(a, grow(shape_of(a))) for a in map(_array, arys))
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys):
    """``np.atleast_1d``: 0-d becomes (1,); one result for one argument, a tuple for several."""
    return _at_least(arys, lambda s: s or (1,))


def atleast_2d(*arys):
    """``np.atleast_2d``: () -> (1, 1), (N,) -> (1, N)."""
    return _at_least(arys, lambda s: (1,) * (2 - len(s)) + s if len(s) < 2 else s)


def atleast_3d(*arys):
    """``np.atleast_3d``: () -> (1, 1, 1), (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
    grow = {0: lambda s: (1, 1, 1), 1: lambda s: (1,) + s + (1,), 2: lambda s: s + (1,)}
    return _at_least(arys, lambda s: grow.get(len(s), lambda s: s)(s))


# ---- axis permutations -------------------------------------------------------------------------
def moveaxis(a, source, destination):
    """``np.moveaxis`` as a transpose."""
    a = _array(a)
    n = len(shape_of(a))
    source, destination = _axes(source, n, "np.moveaxis"), _axes(destination, n, "np.moveaxis")
    if len(source) != len(destination):
        raise ShapeError("np.moveaxis: `source` and `destination` must have the same number of elements",
                         user_frame())
    order = [i for i in range(n) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _permute(a, tuple(order))


def swapaxes(a, axis1, axis2):
    """``np.swapaxes`` / ``x.swapaxes`` as a transpose."""
    a = _array(a)
    n = len(shape_of(a))
    i, j = _axis(axis1, n, "np.swapaxes"), _axis(axis2, n, "np.swapaxes")
    order = list(range(n))
    order[i], order[j] = j, i
    return _permute(a, tuple(order))


def rollaxis(a, axis, start=0):
    """``np.rollaxis``: ``axis`` moves to before ``start`` (NumPy's rule), as a transpose."""
    a = _array(a)
    n = len(shape_of(a))
    axis = _axis(axis, n, "np.rollaxis")
    start = start + n if start < 0 else start
    if not 0 <= start <= n:
        raise ShapeError(f"np.rollaxis: start {start!r} is out of range for a {n}-d array", user_frame())
    start -= axis < start
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return _permute(a, tuple(order))


# ---- copies: tile, repeat ----------------------------------------------------------------------
def tile(A, reps):
    """``np.tile``: each axis (size n, r copies) becomes (1, n) broadcast to (r, n), then merged to r * n."""
    A = _array(A)
    reps = tuple(np.atleast_1d(_static_ints(reps, "reps", "np.tile")).tolist())
    if any(r < 0 for r in reps):
        raise ShapeError(f"np.tile: negative reps {reps}", user_frame())
    d = max(len(reps), len(shape_of(A)))
    shape = (1,) * (d - len(shape_of(A))) + shape_of(A)
    reps = (1,) * (d - len(reps)) + reps
    if all(r == 1 for r in reps):
        return _reshape(A, shape)
    interleaved = tuple(v for n in shape for v in (1, n))  # (1, n0, 1, n1, ..) -> (r0, n0, r1, n1, ..)
    wide = tuple(v for r, n in zip(reps, shape) for v in (r, n))
    copies = apply("broadcast_to", _reshape(A, interleaved), shape=wide)
    return _reshape(copies, tuple(r * n for r, n in zip(reps, shape)))


def _repeat_each(x, r: int, axis: int):
    """Every element along ``axis`` ``r`` times: (.., n, ..) -> (.., n, 1, ..) -> (.., n, r, ..) -> (.., n*r, ..)."""
    if r == 0:
        return _slice(x, axis, 0, 0)
    if r == 1:
        return x
    shape = shape_of(x)
    inner = shape[:axis + 1] + (1,) + shape[axis + 1:]
    wide = apply("broadcast_to", _reshape(x, inner), shape=shape[:axis + 1] + (r,) + shape[axis + 1:])
    return _reshape(wide, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])


def repeat(a, repeats, axis=None):
    """``np.repeat`` with an int or one count per element; runs of equal counts share one broadcast."""
    a = _array(a)
    if axis is None or len(shape_of(a)) == 0:
        if axis is not None:
            _axis(axis, 1, "np.repeat")  # NumPy treats a 0-d array as 1-d here
        a, axis = ravel(a), 0
    axis = _axis(axis, len(shape_of(a)), "np.repeat")
    counts = _static_ints(repeats, "repeats", "np.repeat").ravel()
    n = shape_of(a)[axis]
    if np.any(counts < 0):
        raise ShapeError("np.repeat: repeats may not be negative", user_frame())
    if counts.size == 1:
        return _repeat_each(a, int(counts[0]), axis)
    if counts.size != n:
        raise ShapeError(f"np.repeat: {counts.size} repeats for an axis of length {n}", user_frame())
    parts, start = [], 0
    for r, run in itertools.groupby(counts.tolist()):
        stop = start + len(list(run))
        if r:
            part = a if (start, stop) == (0, n) else _slice(a, axis, start, stop)
            parts.append(_repeat_each(part, r, axis))
        start = stop
    return _concatenate(parts, axis) if parts else _slice(a, axis, 0, 0)


# ---- flips and rotations -----------------------------------------------------------------------
def flip(m, axis=None):
    """``np.flip`` as a getitem with a ``::-1`` slice on each flipped axis."""
    m = _array(m)
    shape = shape_of(m)
    axes = range(len(shape)) if axis is None else _axes(axis, len(shape), "np.flip")
    if not axes:
        return m
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(len(shape)))
    return apply("getitem", m, index=normalize_index(index, shape))


def _flip_axis(name: str, axis: int):
    def flip_fn(m):
        m = _array(m)
        if len(shape_of(m)) <= axis:
            raise ShapeError(f"np.{name} needs an array of {axis + 1} or more dimensions, got shape {shape_of(m)}",
                             user_frame())
        return flip(m, axis)

    flip_fn.__name__ = flip_fn.__qualname__ = name
    flip_fn.__doc__ = f"``np.{name}``: ``np.flip`` of axis {axis}."
    return flip_fn


fliplr, flipud = _flip_axis("fliplr", 1), _flip_axis("flipud", 0)


def rot90(m, k=1, axes=(0, 1)):
    """``np.rot90``: ``k`` quarter turns from ``axes[0]`` towards ``axes[1]``, as flips and a transpose."""
    m = _array(m)
    n = len(shape_of(m))
    axes = tuple(axes)
    if len(axes) != 2:
        raise ShapeError("np.rot90: len(axes) must be 2", user_frame())
    a0, a1 = _axes(axes, n, "np.rot90")
    k = int(_static_ints(k, "k", "np.rot90")) % 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    order = list(range(n))
    order[a0], order[a1] = order[a1], order[a0]
    return _permute(flip(m, a1), tuple(order)) if k == 1 else flip(_permute(m, tuple(order)), a1)


def roll(a, shift, axis=None):
    """``np.roll``: along each axis, ``concatenate(x[-s:], x[:-s])``; with ``axis=None`` on the raveled array."""
    a = _array(a)
    shift = _static_ints(shift, "shift", "np.roll")
    if axis is None:
        return _reshape(roll(ravel(a), shift, 0), shape_of(a))
    try:
        pairs = np.broadcast(shift, np.asarray(axis))
    except ValueError:
        raise ShapeError(f"np.roll: shift {shift.tolist()} and axis {axis!r} do not broadcast", user_frame()) from None
    if pairs.nd > 1:
        raise ShapeError("np.roll: 'shift' and 'axis' should be ints or 1-d sequences", user_frame())
    shape = shape_of(a)
    totals = {}
    for s, ax in pairs:
        ax = _axis(int(ax), len(shape), "np.roll")
        totals[ax] = totals.get(ax, 0) + int(s)
    for ax, s in sorted(totals.items()):
        # The cut written so that it does not depend on n where it need not: x[-s:] and x[:-s] for a
        # shift forward, x[k:] and x[:k] for k = -s back, so a kernel reads the axis's size (graphc.dims).
        n = int(shape[ax])
        cut = -s if 0 < -s < n else -(s % n) if n else 0
        if cut:
            a = apply("concatenate", _slice(a, ax, cut, None), _slice(a, ax, None, cut), axis=ax)
    return a


# Each function is the traced meaning of the NumPy function of its name.
for _fn in (ravel, atleast_1d, atleast_2d, atleast_3d, moveaxis, swapaxes, rollaxis, tile, repeat, flip, fliplr,
            flipud, rot90, roll):
    defcomposite((getattr(np, _fn.__name__),), _fn)
