"""Advanced indexing: integer-array gathers and static boolean masks, whose adjoint is a scatter-add.

``x[idx]``, ``x[:, idx]``, ``x[rows, cols]``, ``x[mask]``, ``x[np.argmax(x)]``, ``np.take`` and
``np.take_along_axis`` all end in one primitive::

    gather(x, i0, ..., ik, axis=a)    # x's axes a..a+k indexed by the index arrays, broadcast together

The index arrays are operands: graph constants (checked and wrapped while tracing) or traced integer
values (checked when the function runs). Slices and ``None`` go to a basic ``getitem`` first, and a
``transpose`` brings the indexed axes to the front where NumPy's rule says so ("advanced indices
separated by a slice, ``...`` or ``None`` go first"). The adjoint of ``gather`` is ``scatter_add``
(``np.add.at`` into zeros: repeated indices accumulate), whose adjoint is ``gather`` again; neither
has a gradient with respect to the indices (JAX's convention).

>>> import graphc
>>> print(graphc.trace(lambda x: x[[2, 0, 2]], np.ones(3)))
graph (x: f64[3]) -> f64[3]
  %0 = input x : f64[3]
  %1 = constant [2,0,2] : i64[3]
  %2 = gather %0 %1 axis=0 : f64[3]
  return %2
"""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import GraphcError, IndexOutOfBoundsError, ShapeError, user_frame
from graphc.ops import (
    INDICES, Aval, Statements, apply, broadcast_shapes, defcomposite, defop, dtype_source, ndim_of, normalize_axis,
    shape_of, unsupported,
)
from graphc.ops.shape import normalize_index


def _traced(value) -> bool:
    return getattr(type(value), "_bind", None) is not None


def _index_operand(value, size: int, axis: int, what: str = "index"):
    """An index for an axis of ``size``: a traced integer value, or a checked, wrapped intp constant."""
    if _traced(value):
        if value.dtype.kind == "b":
            raise unsupported("a traced boolean mask (x[mask] with a computed mask), whose number of True "
                              "values, and so the result's shape, is only known at run time",
                              "keep the shape with np.where(mask, x, 0), or use a constant mask")
        if value.dtype.kind not in "iu":
            raise ShapeError(f"{what} arrays must be integers, got a traced {value.dtype} value; "
                             "convert it with .astype(np.int64)", user_frame())
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        if array.size or array.dtype.kind not in "f":
            raise ShapeError(f"{what} arrays must be integers (or booleans), got {array.dtype}", user_frame())
        array = array.astype(np.intp)  # x[[]]: an empty list is an empty integer index, as in NumPy
    bad = array[(array < -size) | (array >= size)]
    if bad.size:
        raise ShapeError(f"index {bad.ravel()[0]} is out of bounds for axis {axis} with size {size}",
                         user_frame())
    return np.where(array < 0, array + size, array).astype(np.intp)


# ---- the primitives ----------------------------------------------------------------------------
def _gather_shape(x, *idx, axis):
    for i in idx:
        if i.dtype.kind not in "iu":
            raise ShapeError(f"index arrays must be integers, got {i.dtype}", user_frame())
    if not idx or axis < 0 or axis + len(idx) > len(x.shape):
        raise ShapeError(f"too many indices ({axis + len(idx)}) for an array of shape {x.shape}", user_frame())
    batch = broadcast_shapes("indexing (index arrays must broadcast together)", *(i.shape for i in idx))
    return Aval(x.shape[:axis] + batch + x.shape[axis + len(idx):], x.dtype)


def _numpy_index(idx: tuple, axis: int) -> tuple:
    return (slice(None),) * axis + tuple(idx)


def _out_of_bounds(error: IndexError) -> IndexOutOfBoundsError:
    return IndexOutOfBoundsError(f"{error} (a traced index: graphc can only check it when the function runs)")


def _gather(x, *idx, axis):
    try:
        return x[_numpy_index(idx, axis)]
    except IndexError as error:
        raise _out_of_bounds(error) from None


def _scatter_add(g, *idx, axis, shape):
    out = np.zeros(shape, g.dtype)
    try:
        np.add.at(out, _numpy_index(idx, axis), g)
    except IndexError as error:
        raise _out_of_bounds(error) from None
    return out


def _flat_index_source(names: list, operands: list, dims: tuple) -> list[str]:
    """Statements that build ``{out}_i``: the broadcast indices as one flat index into ``dims``.

    Each index is wrapped (negatives count from the end) and bounds-checked by ``_wrap_index``.
    """
    batch = tuple(np.broadcast_shapes(*(o["shape"] for o in operands)))
    lines, stride = [f"{{out}}_i = np.zeros({math.prod(batch)}, np.int64)"], math.prod(dims)
    for name, operand, n in zip(names, operands, dims):
        stride //= n
        if operand["shape"] == ():  # a 0-d value is a scalar in generated code
            lines.append(f"{{out}}_i += _wrap_index({name}, {n}) * {stride}")
        else:
            full = name if operand["shape"] == batch else f"np.broadcast_to({name}, {batch})"
            lines.append(f"_add_index({{out}}_i, _contiguous({full}).ravel(), {n}, {stride})")
    return lines


def _emit_gather(args, node, operands):
    axis, x = node["attrs"]["axis"], operands[0]["shape"]
    dims = x[axis:axis + len(args) - 1]
    rows = f"({math.prod(x[:axis])}, {math.prod(dims)}, {math.prod(x[axis + len(dims):])})"
    result = f"_gather_rows(_reshape({args[0]}, {rows}), {{out}}_i)"
    result += "[0, 0, 0]" if node["shape"] == () else f".reshape({node['shape']})"
    return Statements("\n".join(_flat_index_source(args[1:], operands[1:], dims) + [f"{{out}} = {result}"]))


def _emit_scatter_add(args, node, operands):
    axis, shape = node["attrs"]["axis"], node["attrs"]["shape"]
    dims = shape[axis:axis + len(args) - 1]
    batch = math.prod(np.broadcast_shapes(*(o["shape"] for o in operands[1:])))
    rows = f"({math.prod(shape[:axis])}, {batch}, {math.prod(shape[axis + len(dims):])})"
    g = (f"np.full({rows}, {args[0]}, {dtype_source(node['dtype'])})" if operands[0]["shape"] == ()
         else f"_reshape({args[0]}, {rows})")
    return Statements("\n".join(_flat_index_source(args[1:], operands[1:], dims) + [
        f"{{out}} = _scatter_add_rows({g}, {{out}}_i, {math.prod(dims)}).reshape({tuple(shape)})"]))


def _parse_take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        raise unsupported("np.take with out=")
    if axis is None:
        a, axis = apply("reshape", a, shape=(math.prod(shape_of(a)),)), 0
    axis = normalize_axis(axis, ndim_of(a), "take")[0]
    size = shape_of(a)[axis]
    if mode not in ("raise", "wrap", "clip"):
        raise unsupported(f"np.take with mode={mode!r}")
    if mode != "raise":
        if _traced(indices):
            raise unsupported(f"np.take with mode={mode!r} and a traced index", "use mode='raise'")
        if size == 0:
            raise ShapeError("cannot do a non-empty take from an empty axis", user_frame())
        indices = np.asarray(indices)
        indices = np.mod(indices, size) if mode == "wrap" else np.clip(indices, 0, size - 1)
    return (a, _index_operand(indices, size, axis)), {"axis": axis}


def _gather_batch(batched, x, *idx, axis):
    if any(batched[1:]):
        return None  # indices of each example's own: one example at a time (graphc.passes.batching)
    return apply("gather", x, *idx, axis=axis + 1)


def _scatter_add_batch(batched, g, *idx, axis, shape):
    if any(batched[1:]):
        return None
    return apply("scatter_add", g, *idx, axis=axis + 1, shape=(shape_of(g)[0],) + tuple(shape))


defop("gather", linear=(0,), raises=INDICES,
      arity=None, reference=_gather, shape=_gather_shape, numpy=(np.take,), parse=_parse_take,
      adjoint=lambda g, out, x, *idx, axis: (
          (apply("scatter_add", g, *idx, axis=axis, shape=shape_of(x)),) + (None,) * len(idx)),
      emit=_emit_gather, batch=_gather_batch,
      doc="integer-array indexing: x[idx], x[:, idx], x[rows, cols], x[mask], x[np.argmax(x)], np.take")
defop("scatter_add", linear=(0,), raises=INDICES, arity=None, reference=_scatter_add,
      shape=lambda g, *idx, axis, shape: Aval(tuple(shape), g.dtype),
      adjoint=lambda g, out, x, *idx, axis, shape: ((apply("gather", g, *idx, axis=axis),) + (None,) * len(idx)),
      emit=_emit_scatter_add, batch=_scatter_add_batch,
      doc="zeros with values added at integer indices, repeats accumulating (np.add.at; gather's adjoint)")


# ---- x[index]: NumPy's advanced indexing, in terms of getitem, transpose and gather --------------
def _entries(index) -> list:
    """The index as ``(kind, value)`` pairs: "basic" (slice, None, '...'), "array" or "mask"."""
    entries = list(index) if isinstance(index, tuple) else [index]
    if sum(e is Ellipsis for e in entries) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')", user_frame())
    out = []
    for e in entries:
        if e is None or e is Ellipsis or isinstance(e, slice):
            out.append(("basic", e))
        elif _traced(e) or np.asarray(e).dtype.kind != "b":
            out.append(("array", [e]))
        elif np.ndim(e) == 0:
            raise unsupported("indexing with a boolean scalar", "use x[None] for a new axis, or np.where")
        else:
            out.append(("mask", np.asarray(e)))
    return out


def advanced_index(x, index):
    """``x[index]`` where ``index`` holds integer arrays, lists, constant boolean masks or traced integers."""
    shape = shape_of(x)
    entries = _entries(index)
    consumed = sum(1 if k == "array" or isinstance(v, slice) else v.ndim if k == "mask" else 0 for k, v in entries)
    if consumed > len(shape):
        raise ShapeError(f"too many indices ({consumed}) for an array of shape {shape}", user_frame())
    basic, arrays, positions, groups, dim = [], [], [], [], 0
    for j, (kind, value) in enumerate(entries):
        if value is Ellipsis:
            basic += [slice(None)] * (len(shape) - consumed)
            dim += len(shape) - consumed
            continue
        if kind == "basic":
            basic.append(value)
            dim += value is not None
            continue
        if kind == "mask":
            if value.shape != shape[dim:dim + value.ndim]:
                raise ShapeError(f"boolean index of shape {value.shape} does not match the indexed axes "
                                 f"{shape[dim:dim + value.ndim]} of an array of shape {shape}", user_frame())
            value = list(np.nonzero(value))
        for v in value:
            arrays.append(_index_operand(v, shape[dim], dim))
            positions.append(len(basic))
            groups.append(j)
            basic.append(slice(None))
            dim += 1
    y = x
    normalized = normalize_index(tuple(basic), shape)
    if normalized != tuple(("s", 0, n, 1) for n in shape[:len(normalized)]):
        y = apply("getitem", x, index=normalized)
    # NumPy: advanced entries next to each other keep their place; any slice, '...' or None between
    # them sends the indexed dimensions to the front.
    axis = positions[0]
    if sorted(set(groups)) != list(range(groups[0], groups[-1] + 1)):
        rest = [a for a in range(ndim_of(y)) if a not in positions]
        y, axis = apply("transpose", y, axes=tuple(positions + rest)), 0
    if len(arrays) > 1 and not any(_traced(a) for a in arrays):
        # All constant: one flat index into the indexed axes, known now, so one pass at run time.
        dims = shape_of(y)[axis:axis + len(arrays)]
        batch = broadcast_shapes("indexing (index arrays must broadcast together)", *(a.shape for a in arrays))
        arrays = [np.ravel_multi_index([np.broadcast_to(a, batch) for a in arrays], dims).astype(np.intp)]
        ys = shape_of(y)
        y = apply("reshape", y, shape=ys[:axis] + (math.prod(dims),) + ys[axis + len(dims):])
    return apply("gather", y, *arrays, axis=axis)


# ---- np.take_along_axis -------------------------------------------------------------------------
def take_along_axis(arr, indices, axis=-1):
    """``np.take_along_axis``: a gather over every axis, with ``arange`` indices on all but ``axis``."""
    if axis is None:
        arr, axis = apply("reshape", arr, shape=(math.prod(shape_of(arr)),)), 0
    shape, n = shape_of(arr), ndim_of(arr)
    if ndim_of(indices) != n:
        raise ShapeError(f"np.take_along_axis needs indices with as many dimensions as the array ({n}), "
                         f"got {ndim_of(indices)}", user_frame())
    axis = normalize_axis(axis, n, "take_along_axis")[0]
    operands = [_index_operand(indices, shape[d], d) if d == axis else
                np.arange(shape[d], dtype=np.intp).reshape([-1 if e == d else 1 for e in range(n)])
                for d in range(n)]
    return apply("gather", arr, *operands, axis=0)


defcomposite((np.take_along_axis,), take_along_axis)
