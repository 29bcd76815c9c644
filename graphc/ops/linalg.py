"""Linear algebra: matmul with NumPy's batch broadcasting; np.dot and tensor contractions on top of it."""
from __future__ import annotations

import functools
import importlib.util
import math

import numpy as np

from graphc.ops import (
    LINEAR_EACH, Aval, Statements, apply, broadcast_shapes, defcomposite, defop, dtype_source, lift, ndim_of,
    normalize_axis, probe_dtype, shape_of, unbroadcast, unsupported,
)
from graphc.errors import ShapeError, user_frame


def _promoted(a: tuple, b: tuple) -> tuple:
    """NumPy's view of matmul operands: a 1-d ``a`` is a row (1, k), a 1-d ``b`` a column (k, 1)."""
    return (a if len(a) >= 2 else (1,) + a), (b if len(b) >= 2 else b + (1,))


def _matmul_shape(a: Aval, b: Aval) -> Aval:
    if not a.shape or not b.shape:
        raise ShapeError("matmul does not take 0-d operands; use * for a product with a scalar", user_frame())
    pa, pb = _promoted(a.shape, b.shape)
    if pa[-1] != pb[-2]:
        raise ShapeError(f"matmul shapes {a.shape} and {b.shape} do not align "
                         f"({pa[-1]} != {pb[-2]})", user_frame())
    batch = broadcast_shapes("matmul", pa[:-2], pb[:-2])
    shape = batch + (pa[-2:-1] if len(a.shape) >= 2 else ()) + (pb[-1:] if len(b.shape) >= 2 else ())
    return Aval(shape, probe_dtype(np.multiply, a.dtype, b.dtype))


def _swap(x):
    """The matrix transpose of the last two axes."""
    n = ndim_of(x)
    return apply("transpose", x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


def _product(x, y):
    """``x @ y``; an outer product (a contracted axis of length 1) as a broadcasting multiply, which
    the fusion pass can join with what consumes it (a running sum of weight gradients in a scan)."""
    if shape_of(x)[-1] == 1:
        return x * y
    return apply("matmul", x, y)


def _outer(u, v):
    """The outer product of two vectors, as a broadcasting multiply (fusable)."""
    return apply("reshape", u, shape=(shape_of(u)[0], 1)) * apply("reshape", v, shape=(1, shape_of(v)[0]))


def _matmul_adjoint(g, out, a, b):
    # On the promoted operands: ga = g @ b^T and gb = a^T @ g, summed over broadcast batch axes.
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == len(sb) == 1:  # a dot product: each vector's cotangent is the other, scaled
        return g * b, g * a
    if len(sa) + len(sb) == 3:  # matrix @ vector or vector @ matrix: the vector cotangent is a product
        # with no reshapes around it (a recurrent step's W.T @ g), the matrix one an outer product.
        if len(sb) == 1:
            return _outer(g, b), apply("matmul", _swap(a), g)
        return apply("matmul", b, g), _outer(a, g)
    pa, pb = _promoted(sa, sb)
    a2 = a if pa == sa else apply("reshape", a, shape=pa)
    b2 = b if pb == sb else apply("reshape", b, shape=pb)
    gshape = broadcast_shapes("matmul", pa[:-2], pb[:-2]) + (pa[-2], pb[-1])
    g2 = g if shape_of(g) == gshape else apply("reshape", g, shape=gshape)
    ga = unbroadcast(_product(g2, _swap(b2)), pa)
    if len(pb) == 2 and len(pa) > 2:  # a (..., n, k) against one matrix: fold the batch into rows (one GEMM)
        rows = math.prod(gshape[:-1])
        gb = apply("matmul", _swap(apply("reshape", a2, shape=(rows, pa[-1]))),
                   apply("reshape", g2, shape=(rows, pb[-1])))
    else:
        gb = unbroadcast(_product(_swap(a2), g2), pb)
    return (ga if pa == sa else apply("reshape", ga, shape=sa)), (gb if pb == sb else apply("reshape", gb, shape=sb))


@functools.lru_cache(maxsize=None)
def numba_has_blas() -> bool:
    """Numba's np.dot calls BLAS through SciPy; without SciPy installed it cannot compile at all."""
    return importlib.util.find_spec("scipy") is not None


def _emit_2d(a: str, b: str, sa: tuple, sb: tuple, out: tuple, dtype) -> str:
    """A 1-d/2-d product in nopython mode: np.dot (BLAS, through one helper) for floats, loops for other dtypes."""
    if dtype.kind in "fc":
        return f"_matmul2({a}, {b})"  # BLAS for any layouts, compiled once (codegen/rt_linalg.py)
    a2 = f"{a}.reshape((1, {sa[0]}))" if len(sa) == 1 else a
    b2 = f"{b}.reshape(({sb[0]}, 1))" if len(sb) == 1 else b
    rows, cols = (1 if len(sa) == 1 else sa[0]), (1 if len(sb) == 1 else sb[1])
    product = f"_matmul_loops({a2}, {b2}, np.zeros(({rows}, {cols}), {dtype_source(dtype)}))"
    return f"{product}[0, 0]" if out == () else f"{product}.reshape({out})"


# Operands these ops make may be strided views (Numba types them layout 'A'), on which np.dot warns
# and copies anyway. A transposed matrix is asked to be F-contiguous: free for the .T of a C array.
_STRIDED = frozenset({"getitem", "broadcast_to", "transpose"})


def _blas_operand(name: str, operand: dict, dtype) -> str:
    if operand["dtype"] != dtype:  # Numba's np.dot wants one dtype: cast to the result's first
        return f"{name}.astype({dtype_source(dtype)})"
    if dtype.kind in "fc" and numba_has_blas():  # _matmul2 takes any layout
        return name
    if operand.get("op") == "transpose" and len(operand["shape"]) == 2:
        return f"np.asfortranarray({name})"
    if operand.get("op") in _STRIDED:
        return f"_contiguous({name})"
    return name


def _emit_matmul(args, node, operands):
    a, b = (_blas_operand(x, o, node["dtype"]) for x, o in zip(args, operands))
    (sa, sb), out, dtype = (o["shape"] for o in operands), node["shape"], node["dtype"]
    if dtype.kind in "fc" and not numba_has_blas():
        # No SciPy: NumPy's own BLAS (and batch loop), called out of nopython mode (a few microseconds a call).
        kind = dtype.name + ("" if not out else "[" + ", ".join([":"] * (len(out) - 1) + ["::1"]) + "]")
        call = f"np.dot({a}, {b})" if len(sa) <= 2 and len(sb) <= 2 else f"np.matmul({a}, {b})"
        result = f"_contiguous({call})" if out else f"{call}[()]"
        return Statements(f"with numba.objmode({{out}}='{kind}'):\n    {{out}} = {result}")
    if len(sa) <= 2 and len(sb) <= 2:
        return _emit_2d(a, b, sa, sb, out, dtype)
    if len(sb) <= 2:  # a stack of matrices times one matrix (or vector): one product of the stacked rows
        rows = math.prod(sa[:-1])
        flat = _emit_2d(f"_reshape({a}, ({rows}, {sa[-1]}))", b, (rows, sa[-1]), sb, (rows,) + sb[1:], dtype)
        return f"_reshape({flat}, {out})"
    # Batched: one 2-d product per output matrix, operands picked by broadcast batch index.
    pa, pb = _promoted(sa, sb)
    batch = out[:len(out) - (len(sa) >= 2) - (len(sb) >= 2)]
    pad = lambda p: tuple([1] * (len(batch) - len(p) + 2) + list(p[:-2]))  # noqa: E731
    stacks = [f"_reshape({x}, ({math.prod(p[:-2])}, {p[-2]}, {p[-1]}))" for x, p in ((a, pa), (b, pb))]
    index = [f"_batch_index({pad(p)}, {batch})" for p in (pa, pb)]
    helper = "_batched_matmul" if dtype.kind in "fc" else "_batched_matmul_loops"
    target = f"np.zeros(({math.prod(batch)}, {pa[-2]}, {pb[-1]}), {dtype_source(dtype)})"
    return f"_reshape({helper}({stacks[0]}, {stacks[1]}, {index[0]}, {index[1]}, {target}), {out})"


def _matmul_batch(batched, a, b):
    (ba, bb), sa, sb = batched, shape_of(a)[batched[0]:], shape_of(b)[batched[1]:]
    if not bb and len(sb) <= 2:  # a batch of left operands against one matrix or vector: as it is
        return apply("matmul", a, b)
    if not ba and len(sa) == 2 and len(sb) == 1:  # W @ x for a batch of x: X @ W.T, one GEMM
        return apply("matmul", b, _swap(a))
    # Otherwise: 1-d operands promoted, the batch axis ahead of NumPy's broadcast batch axes.
    size = (shape_of(a) if ba else shape_of(b))[0]
    pa, pb = _promoted(sa, sb)
    rank = max(len(pa), len(pb))
    operands = []
    for x, batched_x, own, promoted in ((a, ba, sa, pa), (b, bb, sb, pb)):
        if own != promoted:
            x = apply("reshape", x, shape=((size,) if batched_x else ()) + promoted)
        operands.append(lift(x, rank) if batched_x else x)
    out = (broadcast_shapes("matmul", pa[:-2], pb[:-2]) + (sa[-2:-1] if len(sa) >= 2 else ())
           + (sb[-1:] if len(sb) >= 2 else ()))
    return apply("reshape", apply("matmul", *operands), shape=(size,) + out)


defop("matmul", linear=LINEAR_EACH, arity=2, shape=_matmul_shape, reference=np.matmul, numpy=(np.matmul,),
      adjoint=_matmul_adjoint, emit=_emit_matmul, version=3, batch=_matmul_batch,
      doc="matrix product (a @ b), 1-d operands promoted and batch axes broadcast as NumPy does")


# ---- contractions as one matmul -------------------------------------------------------------------
def contract(a, b, axes_a: tuple, axes_b: tuple):
    """Sum ``a`` and ``b`` over paired axes: free axes of ``a`` then of ``b``, like ``np.tensordot``.

    The contracted axes go last in ``a`` and first in ``b``, so the whole contraction is one 2-d matmul
    (BLAS); with nothing to contract it is a broadcasting product (an outer product).
    """
    sa, sb = shape_of(a), shape_of(b)
    for i, j in zip(axes_a, axes_b):
        if sa[i] != sb[j]:
            raise ShapeError(f"shape mismatch for sum: axis {i} of {sa} and axis {j} of {sb}", user_frame())
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    out = tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b)
    if not axes_a:
        return apply("reshape", a, shape=sa + (1,) * len(sb)) * b
    k = math.prod(sa[i] for i in axes_a)
    m, n = math.prod(out[:len(free_a)]), math.prod(out[len(free_a):])
    a2 = _moved(a, free_a + list(axes_a), (k,) if not free_a else (m, k))
    b2 = _moved(b, list(axes_b) + free_b, (k,) if not free_b else (k, n))
    product = apply("matmul", a2, b2)
    return product if shape_of(product) == out else apply("reshape", product, shape=out)


def _moved(x, order: list, shape: tuple):
    if order != sorted(order):
        x = apply("transpose", x, axes=tuple(order))
    return x if shape_of(x) == shape else apply("reshape", x, shape=shape)


def dot(a, b, out=None):
    """``np.dot``: a product with a scalar, matmul for 1-d and 2-d operands, else a contraction of the
    last axis of ``a`` with the second-to-last of ``b``."""
    if out is not None:
        raise unsupported("np.dot with out=")
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return a * b
    if ndim_of(a) <= 2 and ndim_of(b) <= 2:
        return apply("matmul", a, b)
    axis_b = normalize_axis(-2 if ndim_of(b) >= 2 else -1, ndim_of(b), "dot")
    return contract(a, b, (ndim_of(a) - 1,), axis_b)


defcomposite((np.dot,), dot)
