"""Convolution: one primitive, ``convolve``, and SciPy's and NumPy's convolutions on top of it.

``convolve(x, k, mode, batch_axes)`` is the direct N-d sum over the axes after the first
``batch_axes``, in two modes::

    full:   out[t] = sum_j x[t - j] k[j]              shape n + m - 1 on each axis
    valid:  out[p] = sum_j x[p + m - 1 - j] k[j]      shape n - m + 1; needs n >= m on each axis

where ``x`` has ``n`` and ``k`` has ``m`` elements along an axis and the sums run over the indices that
exist. The leading ``batch_axes`` are not convolved: they pair up the operands' entries, broadcasting
as NumPy does (a size-1 axis is shared), so a batch of convolutions is one node; only the batching
pass makes them (``vmap``), and users never spell them.

SciPy's third mode, 'same', is a centred slice of 'full' (:func:`convolve_like_scipy`), as SciPy
itself defines it; ``np.convolve`` is that on 1-d operands, the longer one first. Why one primitive
with two modes and not three: the two are each other's adjoints. With ``flip`` reversing every
convolved axis,

    full:   x-bar = valid(g, flip(k))        k-bar = valid(g, flip(x))
    valid:  x-bar = full(g, flip(k))         k-bar = valid(flip(x), g)

(each a correlation of the cotangent with the other operand), so the rule is written with the
primitive itself and a getitem: it is differentiable again with nothing more declared, and forward
mode (passes/forward.py) transposes it. The sizes check out on odd and even lengths alike (full:
``(n + m - 1) - m + 1 = n``; valid: ``(n - m + 1) + m - 1 = n`` and ``n - (n - m + 1) + 1 = m``), and
every 'valid' call there has its larger operand first.

Only real operands (integer or float) are taken; complex and boolean ones are errors, and so are empty
ones (where SciPy's own answers disagree with each other between modes).
"""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import (
    LINEAR_EACH, Aval, apply, broadcast_shapes, defcomposite, defop, dtype_source, ndim_of, probe_dtype, shape_of,
    unsupported,
)
from graphc.ops.manip import flip

MODES = ("full", "valid")


def _sizes(xs: tuple, ks: tuple, mode: str) -> tuple:
    """The output's sizes along the convolved axes."""
    return tuple(n + m - 1 for n, m in zip(xs, ks)) if mode == "full" else tuple(n - m + 1 for n, m in zip(xs, ks))


def _offsets(ks: tuple, mode: str) -> tuple:
    """Per convolved axis, ``o`` in ``p = i + j - o`` (output index from x's and k's): 0, or m - 1 for 'valid'."""
    return (0,) * len(ks) if mode == "full" else tuple(m - 1 for m in ks)


def _convolve_shape(x: Aval, k: Aval, mode: str, batch_axes: int) -> Aval:
    if mode not in MODES:
        raise ShapeError(f"convolve mode must be one of {MODES}, got {mode!r}", user_frame())
    if len(x.shape) != len(k.shape):
        raise ShapeError(f"convolve needs operands of the same number of dimensions, got shapes {tuple(x.shape)} "
                         f"and {tuple(k.shape)}", user_frame())
    if len(x.shape) <= batch_axes:
        raise ShapeError("convolve of 0-d operands is a product: use *", user_frame())
    dtype = probe_dtype(np.multiply, x.dtype, k.dtype)
    if dtype.kind not in "iuf":
        raise unsupported(f"convolve of {np.dtype(x.dtype).name} and {np.dtype(k.dtype).name} operands",
                          "graphc convolves real (integer or float) arrays; cast booleans with .astype(float)")
    lead = broadcast_shapes("convolve", x.shape[:batch_axes], k.shape[:batch_axes])
    xs, ks = tuple(x.shape[batch_axes:]), tuple(k.shape[batch_axes:])
    if 0 in xs or 0 in ks:
        raise ShapeError(f"convolve of an empty array (shapes {xs} and {ks})", user_frame())
    if mode == "valid" and any(n < m for n, m in zip(xs, ks)):
        raise ShapeError(f"'valid' convolution needs the first operand at least as large as the second in every "
                         f"dimension, got shapes {xs} and {ks}", user_frame())
    return Aval(lead + _sizes(xs, ks, mode), dtype)


def _convolve_reference(x, k, mode, batch_axes):
    """The direct sum in NumPy. With more kernel elements than outputs (a kernel's gradient), one windowed
    product per output; otherwise one shifted, scaled ``x`` added per kernel element, in C order, the
    order the compiled helper (graphc.codegen.rt_signal) sums in. 1-d is ``np.convolve``'s."""
    nb = batch_axes
    xs, ks = x.shape[nb:], k.shape[nb:]
    r, lead, dtype = len(xs), np.broadcast_shapes(x.shape[:nb], k.shape[:nb]), np.result_type(x, k)
    os, offs = _sizes(xs, ks, mode), _offsets(ks, mode)
    if nb == 0 and r == 1:  # np.convolve takes either order; our 'valid' has the longer operand first
        return np.convolve(x, k, mode).astype(dtype, copy=False)
    if mode == "valid" and math.prod(ks) > math.prod(os):
        out = np.empty(lead + os, dtype)
        flipped, axes = k[(...,) + (slice(None, None, -1),) * r], tuple(range(-r, 0))
        for p in np.ndindex(*os):
            window = x[(...,) + tuple(slice(q, q + m) for q, m in zip(p, ks))]
            out[(...,) + p] = np.sum(window * flipped, axis=axes)
        return out
    out = np.zeros(lead + os, dtype)
    for j in np.ndindex(*ks):
        # x[i] meets k[j] at p = i + j - o, for the i that put p inside the output
        src = tuple(slice(max(0, o - q), min(n, s + o - q)) for q, o, n, s in zip(j, offs, xs, os))
        if all(s.start < s.stop for s in src):
            dst = tuple(slice(s.start + q - o, s.stop + q - o) for s, q, o in zip(src, j, offs))
            out[(...,) + dst] += k[(...,) + j][(...,) + (None,) * r] * x[(...,) + src]
    return out


def _convolve_adjoint(g, out, x, k, mode, batch_axes):
    # See the module docstring: each cotangent is a correlation, a convolution with a flipped operand.
    axes = tuple(range(batch_axes, ndim_of(x)))
    if mode == "full":
        return (apply("convolve", g, flip(k, axes), mode="valid", batch_axes=batch_axes),
                apply("convolve", g, flip(x, axes), mode="valid", batch_axes=batch_axes))
    return (apply("convolve", g, flip(k, axes), mode="full", batch_axes=batch_axes),
            apply("convolve", flip(x, axes), g, mode="valid", batch_axes=batch_axes))


def _convolve_batch(batched, x, k, mode, batch_axes):
    """One more paired leading axis; an operand the batch shares gets it with size 1 (broadcast)."""
    x, k = (v if b else apply("reshape", v, shape=(1,) + shape_of(v)) for v, b in zip((x, k), batched))
    return apply("convolve", x, k, mode=mode, batch_axes=batch_axes + 1)


def _emit_convolve(args, node, operands):
    """``_convolve3`` (graphc.codegen.rt_signal) on ``(batch, rows, last)`` views of any rank; an operand
    whose batch axes broadcast other than wholesale (a size-1 batch) is broadcast first."""
    nb, mode = node["attrs"]["batch_axes"], node["attrs"]["mode"]
    shape = tuple(node["shape"])
    lead, os = shape[:nb], shape[nb:]
    views = []
    for name, operand in zip(args, operands):
        own, conv = tuple(operand["shape"][:nb]), tuple(operand["shape"][nb:])
        if own != lead and math.prod(own) != 1:
            name, own = f"np.broadcast_to({name}, {lead + conv})", lead
        views.append(f"_reshape({name}, ({math.prod(own)}, {math.prod(conv[:-1])}, {conv[-1]}))")
    xs, ks = (tuple(o["shape"][nb:]) for o in operands)
    dims = f"np.array({xs + ks + os + _offsets(ks, mode)}, np.int64)"
    target = f"np.zeros(({math.prod(lead)}, {math.prod(os[:-1])}, {os[-1]}), {dtype_source(node['dtype'])})"
    return f"_reshape(_convolve3({views[0]}, {views[1]}, {dims}, {target}), {shape})"


defop("convolve", linear=LINEAR_EACH,
      arity=2, shape=_convolve_shape, reference=_convolve_reference, adjoint=_convolve_adjoint,
      emit=_emit_convolve, batch=_convolve_batch,
      doc="N-d convolution by the direct sum, mode 'full' or 'valid' (leading batch_axes paired, not "
          "convolved); its adjoints are convolutions with the other operand flipped")


# ---- SciPy's and NumPy's convolutions --------------------------------------------------------------
def _array(x):
    """A traced value as it is; anything else (lists, Python scalars) as a NumPy array."""
    return x if getattr(type(x), "_bind", None) is not None else np.asarray(x)


def _aval(x) -> Aval:
    return Aval(shape_of(x), np.dtype(x.dtype))


def convolve_like_scipy(in1, in2, mode="full", where="scipy.signal.convolve"):
    """``scipy.signal.convolve(in1, in2, mode)`` of equal-rank real arrays, by the ``convolve`` primitive.

    SciPy's rules, kept: 0-d operands give their product; 'valid' swaps the operands when ``in2`` is the
    larger in every dimension and is an error when neither is; 'same' has ``in1``'s shape, the middle of
    'full' (``(full - n) // 2`` cut from the start of each axis), even where ``in2`` is the larger. For
    'full' and 'same' the operand with more elements goes first (convolution commutes): both tiers loop
    over the second operand's elements and run along the first, so the long loop is the inner one.
    """
    a, b = _array(in1), _array(in2)
    if ndim_of(a) == ndim_of(b) == 0:
        return a * b
    if ndim_of(a) != ndim_of(b):
        raise ShapeError(f"{where}: in1 and in2 should have the same dimensionality, got shapes {shape_of(a)} and "
                         f"{shape_of(b)}", user_frame())
    if mode not in ("full", "valid", "same"):
        raise ShapeError(f"{where}: mode must be 'full', 'valid' or 'same', got {mode!r}", user_frame())
    sa, sb = shape_of(a), shape_of(b)
    if mode == "valid":
        if not all(p >= q for p, q in zip(sa, sb)):
            if not all(q >= p for p, q in zip(sa, sb)):
                raise ShapeError(f"{where}: for 'valid' mode, one of in1 {sa} and in2 {sb} must be at least as "
                                 f"large as the other in every dimension", user_frame())
            a, b = b, a
        _convolve_shape(_aval(a), _aval(b), mode="valid", batch_axes=0)  # the same errors for NumPy arrays
        return apply("convolve", a, b, mode="valid", batch_axes=0)
    if math.prod(sb) > math.prod(sa):
        a, b = b, a
    _convolve_shape(_aval(a), _aval(b), mode="full", batch_axes=0)
    full = apply("convolve", a, b, mode="full", batch_axes=0)
    if mode == "full":
        return full
    return full[tuple(slice((f - n) // 2, (f - n) // 2 + n) for f, n in zip(shape_of(full), sa))]


_NUMPY_MODES = {"valid": "valid", "same": "same", "full": "full", 0: "valid", 1: "same", 2: "full"}


def convolve(a, v, mode="full"):
    """``np.convolve``: 1-d arrays (0-d ones as 1-d), the longer first, then SciPy's rules, whose 'same'
    keeps the first operand's length: NumPy's ``max(len(a), len(v))``."""
    a, v = (_array(x) for x in (a, v))
    a, v = (apply("reshape", x, shape=(1,)) if ndim_of(x) == 0 else x for x in (a, v))
    if ndim_of(a) != 1 or ndim_of(v) != 1:
        raise ShapeError(f"np.convolve needs 1-d arrays, got shapes {shape_of(a)} and {shape_of(v)}", user_frame())
    for name, x in (("a", a), ("v", v)):
        if shape_of(x)[0] == 0:
            raise ShapeError(f"np.convolve: {name} cannot be empty", user_frame())
    if not isinstance(mode, (str, int)) or mode not in _NUMPY_MODES:
        raise ShapeError(f"np.convolve: mode must be one of 'valid', 'same', or 'full' (or 0, 1, 2), got {mode!r}",
                         user_frame())
    if shape_of(v)[0] > shape_of(a)[0]:
        a, v = v, a
    return convolve_like_scipy(a, v, _NUMPY_MODES[mode], where="np.convolve")


defcomposite((np.convolve,), convolve)
