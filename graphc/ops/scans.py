"""Reductions and scans beyond sum/max/min: prod, cumsum, cumprod, sort, partition, argmax/argmin.

Primitives: ``prod``, ``cumsum``, ``cumprod``, ``sort``, ``partition`` (values), ``argsort``,
``argpartition``, ``argmax``, ``argmin`` (integer, no gradient), and two that NumPy has no name for:
``permute`` (reorder along an axis by a permutation: the adjoint of sort and partition) and
``linear_recurrence`` (``h[i] = a[i] * h[i-1] + b[i]``: the adjoint of cumprod).
The composites ``np.var``, ``np.std``, ``np.diff`` and ``np.gradient`` are in ``graphc.ops.differences``.

Gradients are exact where the input has zeros: prod's is the product of the *other* elements (an
exclusive cumprod from each side, as JAX's), never ``out / x``; cumprod's runs a reverse linear
recurrence instead of dividing. sort and partition route the gradient back through the stable
permutation, so tied values each get the gradient of one output position (JAX's convention).
"""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import GraphcInternalError, ShapeError, user_frame
from graphc.ops import (
    LINEAR_ALL, NONDIFFERENTIABLE, Aval, Statements, apply, batch_along_axis, defop, dtype_source, ndim_of,
    normalize_axis, shape_of, unsupported,
)
from graphc.ops.reduce import _expand, _parse_reduction, _reduced_shape

INDEX = np.dtype(np.intp)  # what np.argsort / np.argmax return


# ---- helpers: one axis, shifts and flips -------------------------------------------------------
def _one_axis(axis, ndim: int, op: str) -> int:
    if not isinstance(axis, (int, np.integer)):
        raise unsupported(f"np.{op} with axis={axis!r}", "give one integer axis (or None to flatten)")
    if ndim == 0:
        raise ShapeError(f"axis {axis} is out of bounds for the 0-d input of np.{op}; use axis=None", user_frame())
    return normalize_axis(axis, ndim, op)[0]


def _flat_or_axis(a, axis, op: str, scan: bool = False):
    """NumPy's ``axis=None`` means the flattened array, axis 0; so does any axis of a 0-d input to a scan."""
    if axis is None or (scan and ndim_of(a) == 0):
        return apply("reshape", a, shape=(math.prod(shape_of(a)),)), 0
    return a, _one_axis(axis, ndim_of(a), op)


def _along(axis: int, s: slice) -> tuple:
    return (slice(None),) * axis + (s,)


def _flip(x, axis: int):
    return x[_along(axis, slice(None, None, -1))]


def _shift(x, axis: int, fill: float, later: bool):
    """``x`` moved one place along ``axis`` (to later indices if ``later``), ``fill`` in the gap."""
    shape = shape_of(x)
    gap = np.full(shape[:axis] + (1,) + shape[axis + 1:], fill, np.dtype(x.dtype))
    if shape[axis] <= 1:
        return apply("broadcast_to", gap, shape=shape) if shape[axis] else x
    if later:
        return apply("concatenate", gap, x[_along(axis, slice(None, -1))], axis=axis)
    return apply("concatenate", x[_along(axis, slice(1, None))], gap, axis=axis)


def _dims3(shape: tuple, axis: int | None) -> tuple:
    if axis is None:
        return (1, math.prod(shape), 1)
    return (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))


def _view3(x: str, shape: tuple, axis: int | None) -> str:
    """Numba source: ``x`` as the C-contiguous ``(pre, n, post)`` view the rt_scans helpers take."""
    return f"_reshape({x}, {_dims3(shape, axis)})"


def _emit_along(helper: str, *extra: str):
    """Emission of a same-shape op along ``attrs['axis']`` by one rt_scans helper; ``extra`` are more
    arguments, formatted with ``{dims}`` (the 3-d shape), ``{dtype}`` and the node's attrs."""

    def emit(args, node, operands):
        shape, attrs = node["shape"], node["attrs"]
        views = [_view3(a, o["shape"], attrs["axis"]) for a, o in zip(args, operands)]
        more = [e.format(dims=_dims3(shape, attrs["axis"]), dtype=dtype_source(node["dtype"]),
                         **{k: (bool(v) if isinstance(v, (bool, np.bool_)) else int(v)) for k, v in attrs.items()})
                for e in extra]
        return f"{helper}({', '.join(views + more)}).reshape({shape})"

    return emit


# ---- prod --------------------------------------------------------------------------------------
def _prod_shape(x: Aval, axis, keepdims):
    return Aval(_reduced_shape(x.shape, axis, keepdims), np.prod(np.ones((1,), x.dtype)).dtype)


def _others_product(x, axis: tuple):
    """For each element, the product of the other elements of its reduction group; exact with zeros."""
    shape = shape_of(x)
    kept = [i for i in range(len(shape)) if i not in axis]
    perm = tuple(kept + list(axis))
    moved = apply("transpose", x, axes=perm) if perm != tuple(range(len(shape))) else x
    rows = apply("reshape", moved, shape=tuple(shape[i] for i in kept) + (math.prod(shape[i] for i in axis),))
    last = len(kept)
    before = _shift(apply("cumprod", rows, axis=last), last, 1.0, later=True)  # prod of x[:i]
    after = _flip(_shift(apply("cumprod", _flip(rows, last), axis=last), last, 1.0, later=True), last)
    others = apply("reshape", before * after, shape=tuple(shape[i] for i in perm))
    if moved is x:
        return others
    return apply("transpose", others, axes=tuple(np.argsort(perm).tolist()))


def _prod_adjoint(g, out, x, axis, keepdims):
    g = _expand(g, shape_of(x), axis, keepdims)
    if not axis or math.prod(shape_of(x)) == 0:
        return (g,)
    return (g * _others_product(x, axis),)


def _emit_prod(args, node, operands):
    (x,), shape = args, operands[0]["shape"]
    axis, out_shape, dtype = node["attrs"]["axis"], node["shape"], dtype_source(node["dtype"])
    if not axis:
        return x if operands[0]["dtype"] == node["dtype"] else f"{dtype}({x})" if shape == () else f"{x}.astype({dtype})"
    n = math.prod(shape[i] for i in axis)
    if axis == tuple(range(axis[0], axis[-1] + 1)):  # adjacent axes: a (pre, n, post) view, no copy
        view, dims = x, (math.prod(shape[:axis[0]]), n, math.prod(shape[axis[-1] + 1:]))
    else:  # the reduced axes moved last
        kept = [i for i in range(len(shape)) if i not in axis]
        view, dims = f"_transpose({x}, {tuple(kept + list(axis))})", (math.prod(shape[i] for i in kept), n, 1)
    core = f"_prod3(_reshape({view}, {dims}), np.ones({(dims[0], dims[2])}, {dtype}))"
    return f"{core}[0, 0]" if out_shape == () else f"{core}.reshape({out_shape})"


defop("prod", arity=1, shape=_prod_shape, reference=np.prod, numpy=(np.prod,), parse=_parse_reduction("prod"),
      adjoint=_prod_adjoint, emit=_emit_prod, batch=batch_along_axis("prod"),
      doc="product over axes (axis=, keepdims=); gradient exact with zeros")


# ---- cumsum, cumprod and the linear recurrence behind cumprod's gradient ----------------------
def _parse_scan(name):
    def parse(a, axis=None, dtype=None, out=None):
        if out is not None:
            raise unsupported(f"np.{name} with out=")
        if dtype is not None:
            a = apply("astype", a, dtype=np.dtype(dtype).str)
        a, axis = _flat_or_axis(a, axis, name, scan=True)
        return (a,), {"axis": axis}

    return parse


def _along_axis(name: str, rule):
    """``rule``, the shape rule of an op along ``attrs['axis']``, after a check that the axis is
    normalized: the emission (``_view3``) and the adjoint rules (``_along``) index by it, and would
    misread a negative one. The NumPy functions' parse normalizes it; a primitive applied with
    another axis is graphc's bug, caught here at trace time instead of as wrong code."""

    def shape(*avals, **attrs):
        axis, ndim = attrs["axis"], len(avals[0].shape)
        if not 0 <= axis < ndim:
            raise GraphcInternalError(f"'{name}' applied with axis={axis} to a {ndim}-d operand; "
                                      "primitives take 0 <= axis < ndim")
        return rule(*avals, **attrs)

    return shape


def _scan_shape(fn):
    return lambda x, axis: Aval(x.shape, fn(np.ones((1,), x.dtype)).dtype)


def _cumprod_adjoint(g, out, x, axis):
    # d out[j] / d x[i] = prod(x[:i]) * prod(x[i+1:j+1]) for j >= i: no division, so zeros are exact.
    before = _shift(out, axis, 1.0, later=True)
    after = apply("linear_recurrence", _shift(x, axis, 0.0, later=False), g, axis=axis, reverse=True)
    return (before * after,)


def _reversed_cumsum(g, axis):
    return _flip(apply("cumsum", _flip(g, axis), axis=axis), axis)


defop("cumsum", linear=LINEAR_ALL, arity=1, shape=_along_axis("cumsum", _scan_shape(np.cumsum)),
      reference=np.cumsum, numpy=(np.cumsum,),
      parse=_parse_scan("cumsum"), adjoint=lambda g, out, x, axis: (_reversed_cumsum(g, axis),),
      emit=_emit_along("_cumsum3", "np.empty({dims}, {dtype})"), batch=batch_along_axis("cumsum"),
      doc="running sum along an axis (None flattens); gradient: reversed running sum")
defop("cumprod", arity=1, shape=_along_axis("cumprod", _scan_shape(np.cumprod)), reference=np.cumprod,
      numpy=(np.cumprod,),
      parse=_parse_scan("cumprod"), adjoint=_cumprod_adjoint,
      emit=_emit_along("_cumprod3", "np.empty({dims}, {dtype})"), batch=batch_along_axis("cumprod"),
      doc="running product along an axis (None flattens); gradient exact with zeros")


def _linrec_reference(a, b, axis, reverse):
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    out = np.empty(b.shape, np.result_type(a, b))
    order = range(len(b) - 1, -1, -1) if reverse else range(len(b))
    prev = None
    for j in order:
        out[j] = b[j] if prev is None else a[j] * out[prev] + b[j]
        prev = j
    return np.moveaxis(out, 0, axis)


def _linrec_shape(a: Aval, b: Aval, axis, reverse):
    if a.shape != b.shape:
        raise ShapeError(f"linear_recurrence needs operands of one shape, got {a.shape} and {b.shape}", user_frame())
    return Aval(b.shape, np.result_type(a.dtype, b.dtype))


def _linrec_adjoint(g, out, a, b, axis, reverse):
    # h[j] = a[j] h[j-1] + b[j]  =>  lam[j] = g[j] + a[j+1] lam[j+1] (the same recurrence, run the other way).
    lam = apply("linear_recurrence", _shift(a, axis, 0.0, later=reverse), g, axis=axis, reverse=not reverse)
    return lam * _shift(out, axis, 0.0, later=not reverse), lam


defop("linear_recurrence", arity=2, shape=_along_axis("linear_recurrence", _linrec_shape),
      reference=_linrec_reference, adjoint=_linrec_adjoint,
      emit=_emit_along("_linrec3", "np.empty({dims}, {dtype})", "{reverse}"),
      batch=batch_along_axis("linear_recurrence"),
      doc="h[i] = a[i] * h[i-1] + b[i] along an axis, h[0] = b[0] (cumprod's gradient)")


# ---- sort, partition and the permutation that carries their gradients ------------------------
def _parse_sort(name):
    def parse(a, axis=-1, kind=None, order=None, *, stable=None):
        if order is not None:
            raise unsupported(f"np.{name} with order=", "structured arrays are not traced")
        a, axis = _flat_or_axis(a, axis, name)
        return (a,), {"axis": axis}

    return parse


#: From this many elements on, sort and argsort call NumPy's SIMD sorts (in ``numba.objmode``), which
#: beat Numba's quicksort by several times; below it the call's few microseconds would dominate.
NUMPY_SORT_MIN = 1 << 12


def _objmode_call(node, call: str) -> Statements:
    layout = ", ".join([":"] * (len(node["shape"]) - 1) + ["::1"])
    return Statements(f"with numba.objmode({{out}}='{node['dtype'].name}[{layout}]'):\n    {{out}} = {call}")


def _emit_sort(helper: str):
    numba_emit = _emit_along(f"_{helper}3")

    def emit(args, node, operands):
        if math.prod(node["shape"]) < NUMPY_SORT_MIN:
            return numba_emit(args, node, operands)
        return _objmode_call(node, f"_np_{helper}({args[0]}, {int(node['attrs']['axis'])})")

    return emit


def _index_shape(x: Aval, **attrs):
    return Aval(x.shape, INDEX)


def _sort_adjoint(g, out, x, axis):
    # out[j] = x[s[j]] for the stable argsort s: x[s[j]] receives g[j].
    return (apply("permute", g, apply("argsort", x, axis=axis), axis=axis, inverse=True),)


def _permute_reference(x, perm, axis, inverse):
    if not inverse:
        return np.take_along_axis(x, perm, axis=axis)
    out = np.empty_like(x)
    np.put_along_axis(out, perm, x, axis=axis)
    return out


def _permute_shape(x: Aval, perm: Aval, axis, inverse):
    if perm.shape != x.shape or perm.dtype.kind not in "iu":
        raise ShapeError(f"permute needs integer indices of the operand's shape {x.shape}, got "
                         f"{perm.dtype}{list(perm.shape)}", user_frame())
    return Aval(x.shape, x.dtype)


defop("sort", arity=1, shape=_along_axis("sort", lambda x, axis: x), reference=lambda x, axis: np.sort(x, axis=axis),
      numpy=(np.sort,), parse=_parse_sort("sort"), adjoint=_sort_adjoint, emit=_emit_sort("sort"),
      batch=batch_along_axis("sort"),
      doc="sorted along an axis (default -1, None flattens); gradient follows the stable order")
defop("argsort", arity=1, shape=_along_axis("argsort", _index_shape),
      reference=lambda x, axis: np.argsort(x, axis=axis, kind="stable"),
      numpy=(np.argsort,), parse=_parse_sort("argsort"), adjoint=NONDIFFERENTIABLE, emit=_emit_sort("argsort"),
      batch=batch_along_axis("argsort"),
      doc="indices that sort along an axis; always stable (ties in index order), int64")
defop("permute", linear=(0,), arity=2, shape=_along_axis("permute", _permute_shape), reference=_permute_reference,
      adjoint=lambda g, out, x, perm, axis, inverse: (apply("permute", g, perm, axis=axis, inverse=not inverse), None),
      emit=_emit_along("_permute3", "{inverse}"), batch=batch_along_axis("permute"),
      doc="out[j] = x[perm[j]] along an axis (out[perm[j]] = x[j] if inverse); sort's gradient")


def _parse_partition(name):
    def parse(a, kth, axis=-1, kind="introselect", order=None):
        if order is not None or kind != "introselect":
            raise unsupported(f"np.{name} with order= or kind={kind!r}")
        a, axis = _flat_or_axis(a, axis, name)
        n = shape_of(a)[axis]
        ks = [kth] if isinstance(kth, (int, np.integer)) else list(kth)
        if not all(isinstance(k, (int, np.integer)) and -n <= k < n for k in ks):
            raise ShapeError(f"kth {kth!r} is out of bounds (or not an integer) for an axis of size {n} in np.{name}",
                             user_frame())
        ks = [int(k) % n for k in ks]
        return (a,), {"kth": ks[0] if isinstance(kth, (int, np.integer)) else tuple(ks), "axis": axis}

    return parse


def _partition_adjoint(g, out, x, kth, axis):
    # out is a permutation of x: pair them up through both stable sorts (x[s[r]] == out[t[r]]).
    in_sorted_order = apply("permute", g, apply("argsort", out, axis=axis), axis=axis, inverse=False)
    return (apply("permute", in_sorted_order, apply("argsort", x, axis=axis), axis=axis, inverse=True),)


def _emit_numpy_call(helper: str):
    """``np.partition`` / ``np.argpartition`` run by NumPy itself (in ``numba.objmode``): the order of the
    elements besides ``kth`` is NumPy's implementation detail, which only NumPy reproduces exactly."""

    def emit(args, node, operands):
        kth, axis = node["attrs"]["kth"], int(node["attrs"]["axis"])
        kth = int(kth) if isinstance(kth, int) else tuple(int(k) for k in kth)
        return _objmode_call(node, f"{helper}({args[0]}, {kth!r}, {axis})")

    return emit


defop("partition", arity=1, shape=_along_axis("partition", lambda x, kth, axis: x),
      reference=lambda x, kth, axis: np.partition(x, list(kth) if isinstance(kth, tuple) else kth, axis=axis),
      numpy=(np.partition,), parse=_parse_partition("partition"), adjoint=_partition_adjoint,
      emit=_emit_numpy_call("_np_partition"), batch=batch_along_axis("partition"),
      doc="np.partition, exactly NumPy's order (NumPy computes it); gradient through the stable pairing")
defop("argpartition", arity=1, shape=_along_axis("argpartition", lambda x, kth, axis: _index_shape(x)),
      reference=lambda x, kth, axis: np.argpartition(x, list(kth) if isinstance(kth, tuple) else kth, axis=axis),
      numpy=(np.argpartition,), parse=_parse_partition("argpartition"), adjoint=NONDIFFERENTIABLE,
      emit=_emit_numpy_call("_np_argpartition"), batch=batch_along_axis("argpartition"),
      doc="np.argpartition, exactly NumPy's order, int64")


# ---- argmax, argmin ----------------------------------------------------------------------------
def _parse_arg(name):
    def parse(a, axis=None, out=None, *, keepdims=False):
        if out is not None:
            raise unsupported(f"np.{name} with out=")
        if axis is not None and ndim_of(a):
            axis = _one_axis(axis, ndim_of(a), name)
        elif axis is not None:  # a 0-d input takes axis 0 or -1: its one element
            normalize_axis(axis, 0, name)
            axis = None
        return (a,), {"axis": axis, "keepdims": bool(keepdims)}

    return parse


def _arg_shape(name):
    def rule(x: Aval, axis, keepdims):
        if (math.prod(x.shape) if axis is None else x.shape[axis]) == 0:
            raise ShapeError(f"np.{name} of an empty sequence", user_frame())
        if axis is None:
            return Aval((1,) * len(x.shape) if keepdims else (), INDEX)
        return Aval(_reduced_shape(x.shape, (axis,), keepdims), INDEX)

    return rule


def _emit_arg(helper):
    def emit(args, node, operands):
        shape, axis = operands[0]["shape"], node["attrs"]["axis"]
        if shape == ():
            return "np.int64(0)"
        core = f"{helper}({_view3(args[0], shape, axis)})"
        return f"{core}[0, 0]" if node["shape"] == () else f"{core}.reshape({node['shape']})"

    return emit


def _batch_arg(name):
    def rule(batched, x, axis, keepdims):
        if axis is not None:
            return apply(name, x, axis=axis + 1, keepdims=keepdims)
        shape = shape_of(x)  # over all of one example's elements: its flattened row
        found = apply(name, apply("reshape", x, shape=(shape[0], math.prod(shape[1:]))), axis=1, keepdims=False)
        return apply("reshape", found, shape=shape[:1] + (1,) * (len(shape) - 1)) if keepdims else found

    return rule


for _name, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    defop(_name, arity=1, shape=_arg_shape(_name), reference=_fn, numpy=(_fn,), parse=_parse_arg(_name),
          adjoint=NONDIFFERENTIABLE, emit=_emit_arg(f"_{_name}3"), batch=_batch_arg(_name),
          doc=f"index of the first {_name[3:]}imum (axis=, keepdims=; NaN wins), int64; no gradient")
