"""Shape primitives: transpose, reshape, broadcast_to, basic indexing, concatenate, casts."""
from __future__ import annotations

import math

import numpy as np

from graphc.dims import Dim, render
from graphc.errors import GraphcInternalError, ShapeError, user_frame
from graphc.ops import (
    LINEAR_ALL, Aval, Statements, apply, batch_along_axis, defcomposite, defop, dtype_source, lift, ndim_of,
    normalize_axis, shape_of, unbroadcast, unsupported,
)


# ---- transpose, reshape, broadcast_to ------------------------------------------------------------
def _parse_transpose(a, axes=None):
    n = ndim_of(a)
    axes = tuple(reversed(range(n))) if axes is None else tuple(int(i) % max(n, 1) for i in axes)
    if sorted(axes) != list(range(n)):
        raise ShapeError(f"axes {axes} are not a permutation of the {n} axes of the array", user_frame())
    return (a,), {"axes": axes}


def _emit_transpose(x: str, axes: tuple) -> str:
    if not axes:
        return x
    if axes == tuple(reversed(range(len(axes)))):
        return f"{x}.T"  # Numba types a C array's .T as F-contiguous, so BLAS takes it without a copy
    return f"_transpose({x}, {axes})"


defop("transpose", linear=LINEAR_ALL, view=True,
      arity=1, reference=np.transpose, numpy=(np.transpose,), parse=_parse_transpose,
      shape=lambda x, axes: Aval(tuple(x.shape[i] for i in axes), x.dtype),
      adjoint=lambda g, out, x, axes: (apply("transpose", g, axes=tuple(np.argsort(axes).tolist())),),
      emit=lambda args, node, ops: _emit_transpose(args[0], node["attrs"]["axes"]),
      batch=lambda batched, x, axes: apply("transpose", x, axes=(0,) + tuple(a + 1 for a in axes)),
      doc="permute axes (x.T, np.transpose)")


def resolve_shape(old: tuple, new) -> tuple:
    """``new`` (an int or tuple, one -1 allowed) as a concrete shape of the same size as ``old``."""
    new = (new,) if isinstance(new, (int, np.integer)) else tuple(int(n) for n in new)
    size = math.prod(old)
    if new.count(-1) == 1:
        known = math.prod(n for n in new if n != -1)
        if known and size % known == 0:
            new = tuple(size // known if n == -1 else n for n in new)
    if new.count(-1) or math.prod(new) != size or any(n < 0 for n in new):
        raise ShapeError(f"cannot reshape an array of shape {old} into shape {new}", user_frame())
    return new


def _parse_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise unsupported(f"np.reshape with order={order!r}")
    target = shape if shape is not None else newshape
    return (a,), {"shape": resolve_shape(shape_of(a), target)}


def _emit_reshape(args, node, operands):
    (x,), old, new = args, operands[0]["shape"], node["shape"]
    if old == new:
        return x
    if old == ():  # a scalar becomes an array of one element
        return f"np.full({new}, {x})"
    if new == ():
        return f"_contiguous({x}).ravel()[0]"
    return f"_reshape({x}, {new})"  # one compiled helper per rank (codegen/rt_shape.py)


defop("reshape", linear=LINEAR_ALL, view=True, arity=1, reference=np.reshape, numpy=(np.reshape,), parse=_parse_reshape,
      shape=lambda x, shape: Aval(shape, x.dtype),
      adjoint=lambda g, out, x, shape: (apply("reshape", g, shape=shape_of(x)),), emit=_emit_reshape,
      batch=lambda batched, x, shape: apply("reshape", x, shape=shape_of(x)[:1] + tuple(shape)),
      version=2, doc="same elements, new shape (C order)")


def _shape_argument(shape) -> tuple:
    # Python ints (Dims among them, graphc.dims) as they are; anything else through NumPy.
    if isinstance(shape, (tuple, list)) and all(type(n) is int or isinstance(n, Dim) for n in shape):
        return tuple(shape)
    return tuple(int(n) for n in np.atleast_1d(shape))


def _broadcast_to_shape(x: Aval, shape):
    try:
        ok = np.broadcast_shapes(x.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"cannot broadcast shape {x.shape} to {tuple(shape)}", user_frame())
    return Aval(tuple(shape), x.dtype)


defop("broadcast_to", linear=LINEAR_ALL, view=True, arity=1, reference=np.broadcast_to, numpy=(np.broadcast_to,),
      parse=lambda a, shape, subok=False: ((a,), {"shape": _shape_argument(shape)}),
      shape=_broadcast_to_shape,
      adjoint=lambda g, out, x, shape: (unbroadcast(g, shape_of(x)),),
      emit=lambda args, node, ops: (f"np.full({node['shape']}, {args[0]})" if ops[0]["shape"] == ()
                                    else f"np.broadcast_to({args[0]}, {node['shape']})"),
      batch=lambda batched, x, shape: apply("broadcast_to", lift(x, len(shape)), shape=shape_of(x)[:1] + tuple(shape)),
      doc="repeat along new or size-1 axes")


# ---- basic indexing ----------------------------------------------------------------------------
def normalize_index(index, shape: tuple) -> tuple:
    """A basic index as a hashable tuple: ints, ``("s", start, stop, step)`` and ``None`` (newaxis)."""
    index = index if isinstance(index, tuple) else (index,)
    if sum(e is Ellipsis for e in index) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')", user_frame())
    real = sum(e is not None and e is not Ellipsis for e in index)
    if real > len(shape):
        raise ShapeError(f"too many indices ({real}) for an array of shape {shape}", user_frame())
    out, dim = [], 0
    for entry in index:
        if entry is Ellipsis:
            for _ in range(len(shape) - real):
                out.append(("s", 0, shape[dim], 1))
                dim += 1
        elif entry is None:
            out.append(None)
        elif isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
            if not -shape[dim] <= entry < shape[dim]:
                raise ShapeError(f"index {entry} is out of bounds for axis {dim} with size {shape[dim]}",
                                 user_frame())
            out.append(int(entry) + shape[dim] if entry < 0 else int(entry))  # x[-1] of a Dim axis: n - 1
            dim += 1
        elif isinstance(entry, slice) and all(
                v is None or isinstance(v, (int, np.integer)) for v in (entry.start, entry.stop, entry.step)):
            bounds = _slice_bounds(entry, shape[dim])
            # An empty slice is spelled 0:0:1: a start of -1 left by indices() would mean "the last".
            out.append(("s",) + (bounds if len(range(*map(int, bounds))) else (0, 0, 1)))
            dim += 1
        else:
            raise unsupported(f"indexing with {type(entry).__name__}",
                              "graphc supports integers, static slices, None and '...'")
    return tuple(out)


def _slice_bounds(entry: slice, n: int) -> tuple:
    """``entry.indices(n)``, with the arithmetic on ``n`` kept where ``n`` is a Dim (graphc.dims): ``x[1:]``
    of an argument's axis stops at that axis's size and ``x[:-1]`` one before it, read at run time, so
    the kernel serves every length. The values, and the checks (a zero step), are ``slice.indices``'s."""
    start, stop, step = entry.indices(int(n))
    if not isinstance(n, Dim):
        return start, stop, step
    # CPython's rule (PySlice_AdjustIndices): a negative bound counts from the end, then both are
    # clamped to [lower, upper]; the defaults are the ends the step runs from and to.
    lower, upper = (-1, n - 1) if step < 0 else (0, n)

    def adjust(given, default):
        if given is None:
            return default
        given = int(given)
        if given < 0:
            return given + n if given + int(n) >= 0 else lower
        return upper if given >= int(n) else given

    kept = adjust(entry.start, upper if step < 0 else 0), adjust(entry.stop, lower if step < 0 else upper), step
    if tuple(map(int, kept)) != (start, stop, step):
        raise GraphcInternalError(f"slice {entry} of a size-{int(n)} axis normalized to {kept}")
    return kept


def _counted_from(bound: int):
    """The Dim a slice bound counts from (``n`` of ``n``, ``n - 1``, ``-3 + n`` as :func:`_slice_bounds`
    makes them; any other Dim is its own), or None for a plain int."""
    if not isinstance(bound, Dim):
        return None
    symbol, left, right = bound.form if bound.form[0] in ("+", "-") else (None, None, None)
    if symbol == "+" and type(left) is int and isinstance(right, Dim):
        return right
    if symbol == "-" and isinstance(left, Dim) and type(right) is int:
        return left
    return bound


def _slice_length(start: int, stop: int, step: int) -> int:
    """``len(range(start, stop, step))``, as arithmetic on Dims where a bound is one (sizes 0 and 1 stay
    plain ints, as everywhere: they change broadcasting)."""
    count = len(range(int(start), int(stop), step))
    start_base, stop_base = _counted_from(start), _counted_from(stop)
    if count <= 1 or start_base is stop_base or (
            start_base is not None and stop_base is not None and start_base.form == stop_base.form):
        return count  # no Dim, or both bounds a fixed distance from one (x[-3:]: 3 at every length)
    return (stop - start + (step - 1)) // step if step > 0 else (start - stop + (-step - 1)) // -step


def numpy_index(index: tuple) -> tuple:
    """The NumPy index that a normalized index stands for."""
    # A negative stop left by slice.indices() means "run past index 0", which only None says.
    return tuple(slice(e[1], e[2] if e[2] >= 0 else None, e[3]) if isinstance(e, tuple) else e
                 for e in index)


def _index_shape(shape: tuple, index: tuple) -> tuple:
    """The shape of ``x[index]`` for a normalized basic index, keeping the Dims of the axes it keeps."""
    out, dim = [], 0
    for e in index:
        if e is None:
            out.append(1)
        elif isinstance(e, tuple):
            out.append(_slice_length(*e[1:]))
            dim += 1
        else:
            dim += 1
    return tuple(out) + tuple(shape[dim:])


def index_source(index: tuple) -> str:
    """A normalized index as Numba source: only ints from the graph, never user text."""
    parts = []
    for e in index:
        if e is None:
            parts.append("None")
        elif isinstance(e, tuple):  # a bound or step that is a Dim prints as the size it reads (graphc.dims)
            stop = "" if e[2] < 0 else render(e[2])
            parts.append(f"{render(e[1])}:{stop}:{render(e[3])}")
        else:
            parts.append(render(e))
    return ", ".join(parts) + ("," if len(parts) == 1 else "")


def _lead(index: tuple) -> str | None:
    """A non-empty index of ints only (``xs[t]``, ``X[i, j]``) as a tuple literal, else None. Such an
    index goes to a helper compiled once per rank (codegen/rt_shape.py), not into the kernel's code."""
    return f"({index_source(index)})" if index and all(isinstance(e, int) for e in index) else None


def _emit_getitem(args, node, operands):
    index = node["attrs"]["index"]
    if operands[0]["shape"] == ():  # x[None]: a 0-d value may be a Numba scalar, which takes no index
        return f"np.full({node['shape']}, {args[0]}, {dtype_source(node['dtype'])})"
    lead = _lead(index)
    return f"_index_lead({args[0]}, {lead})" if lead else f"{args[0]}[{index_source(index)}]"


def _emit_scatter(args, node, operands):
    index, dtype = node["attrs"]["index"], dtype_source(node["dtype"])
    lead = _lead(index)
    if lead:
        return f"_scatter_lead({args[0]}, {lead}, {node['shape']}, {dtype})"
    zeros = f"np.zeros({node['shape']}, {dtype})"
    where = index_source(index) or "..."  # an empty index (x[()] of a 0-d x): the whole of it
    return Statements(f"{{out}} = {zeros}\n{{out}}[{where}] = {args[0]}")


def _all_of_batch_axis(x) -> tuple:
    # The batch axis, all of it, as the first entry of a normalized index.
    return (("s", 0, shape_of(x)[0], 1),)


def _scatter(g, index, shape):
    out = np.zeros(shape, np.asarray(g).dtype)
    out[numpy_index(index)] = g
    return out


defop("getitem", linear=LINEAR_ALL, view=True, arity=1, reference=lambda x, index: x[numpy_index(index)],
      shape=lambda x, index: Aval(_index_shape(x.shape, index), x.dtype),
      adjoint=lambda g, out, x, index: (apply("index_scatter", g, index=index, shape=shape_of(x)),),
      emit=_emit_getitem, version=3,
      batch=lambda batched, x, index: apply("getitem", x, index=_all_of_batch_axis(x) + index),
      doc="basic indexing: x[0], x[1:], X[:, ::2], x[None]")
defop("index_scatter", linear=LINEAR_ALL, arity=1, reference=_scatter,
      shape=lambda g, index, shape: Aval(tuple(shape), g.dtype),
      adjoint=lambda g, out, x, index, shape: (apply("getitem", g, index=index),), emit=_emit_scatter,
      batch=lambda batched, g, index, shape: apply("index_scatter", g, index=_all_of_batch_axis(g) + index,
                                                   shape=shape_of(g)[:1] + tuple(shape)),
      version=2, doc="zeros of a shape with values placed at a basic index (getitem's adjoint)")


# ---- joining -----------------------------------------------------------------------------------
def _parse_concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    if out is not None or dtype is not None:
        raise unsupported("np.concatenate with out= or dtype=")
    arrays = tuple(arrays)
    if not arrays:
        raise ShapeError("need at least one array to concatenate", user_frame())
    return arrays, {"axis": normalize_axis(axis, ndim_of(arrays[0]), "concatenate")[0]}


def _concatenate_shape(*avals, axis):
    first = avals[0].shape
    for a in avals[1:]:
        if len(a.shape) != len(first) or any(
                n != m for i, (n, m) in enumerate(zip(a.shape, first)) if i != axis):
            raise ShapeError(f"cannot concatenate shapes {first} and {a.shape} along axis {axis}", user_frame())
    size = sum(a.shape[axis] for a in avals)
    return Aval(first[:axis] + (size,) + first[axis + 1:], np.result_type(*(a.dtype for a in avals)))


def _concatenate_adjoint(g, out, *xs, axis):
    cotangents, start = [], 0
    for x in xs:
        stop = start + shape_of(x)[axis]
        index = tuple(("s", 0, n, 1) for n in shape_of(x)[:axis]) + (("s", start, stop, 1),)
        cotangents.append(apply("getitem", g, index=index))
        start = stop
    return tuple(cotangents)


defop("concatenate", linear=LINEAR_ALL, arity=None, reference=lambda *xs, axis: np.concatenate(xs, axis=axis),
      numpy=(np.concatenate,), parse=_parse_concatenate, shape=_concatenate_shape,
      adjoint=_concatenate_adjoint, batch=batch_along_axis("concatenate"),
      emit=lambda args, node, ops: f"_concatenate(({', '.join(args)},), {node['attrs']['axis']})", doc="join arrays along an existing axis")


def expand_dims(a, axis):
    """``np.expand_dims`` as a reshape."""
    n = ndim_of(a) + (len(axis) if isinstance(axis, tuple) else 1)
    axes = normalize_axis(axis, n, "expand_dims")
    it = iter(shape_of(a))
    return apply("reshape", a, shape=tuple(1 if i in axes else next(it) for i in range(n)))


def stack(arrays, axis=0, out=None, **kwargs):
    """``np.stack``: each array gains the new axis, then they are concatenated along it."""
    arrays = tuple(arrays)
    if out is not None or kwargs.get("dtype") is not None:
        raise unsupported("np.stack with out= or dtype=")
    if not arrays:
        raise ShapeError("need at least one array to stack", user_frame())
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"np.stack needs arrays of one shape, got {sorted(shapes)}", user_frame())
    axis = normalize_axis(axis, ndim_of(arrays[0]) + 1, "stack")[0]
    return apply("concatenate", *(expand_dims(a, axis) for a in arrays), axis=axis)


def squeeze(a, axis=None):
    """``np.squeeze`` as a reshape."""
    shape = shape_of(a)
    axes = tuple(i for i, n in enumerate(shape) if n == 1) if axis is None else normalize_axis(
        axis, len(shape), "squeeze")
    if any(shape[i] != 1 for i in axes):
        raise ShapeError(f"cannot squeeze an axis whose size is not 1 (shape {shape})", user_frame())
    return apply("reshape", a, shape=tuple(n for i, n in enumerate(shape) if i not in axes))


defcomposite((np.expand_dims,), expand_dims)
defcomposite((np.shape,), shape_of)
defcomposite((np.ndim,), ndim_of)
defcomposite((np.size,), lambda a, axis=None: math.prod(shape_of(a)) if axis is None else shape_of(a)[axis])
defcomposite((np.stack,), stack)
defcomposite((np.squeeze,), squeeze)


# ---- casts -------------------------------------------------------------------------------------
def _float_dtype(dtype) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


def _emit_astype(args, node, operands):
    target = dtype_source(node["dtype"])
    return f"{target}({args[0]})" if node["shape"] == () else f"{args[0]}.astype({target})"


defop("astype", linear=(0,), arity=1, elementwise=True, reference=lambda x, dtype: np.asarray(x).astype(dtype),
      shape=lambda x, dtype: Aval(x.shape, np.dtype(dtype)),
      adjoint=lambda g, out, x, dtype: (
          apply("astype", g, dtype=np.dtype(x.dtype).str) if _float_dtype(x.dtype) and _float_dtype(dtype) else None,),
      emit=_emit_astype, scalar_emit=_emit_astype, doc="x.astype(dtype)")


def _emit_dim(args, node, operands) -> str:
    return f"{dtype_source(node['dtype'])}({node['attrs']['size']!r})"  # an expression over the arguments


defop("dim", arity=0, reference=lambda *, size, dtype: np.asarray(int(size), dtype),
      shape=lambda *, size, dtype: Aval((), np.dtype(dtype)),
      adjoint=lambda g, out, *, size, dtype: (),  # no operands: nothing to pass the gradient on to
      emit=_emit_dim, scalar_emit=_emit_dim,
      doc="a size of an argument as a number (np.mean's count), read from the argument at run time")
defop("stop_gradient", linear=LINEAR_ALL, view=True, arity=1, reference=lambda x: x, shape=lambda x: x,
      adjoint=lambda g, out, x: (None,), elementwise=True, emit="{0}", scalar_emit="{0}",
      doc="identity whose gradient is zero (used by stable softmax/logsumexp)")
