"""Linear algebra: matmul of 1-d and 2-d operands; np.dot on top of it."""
from __future__ import annotations

import functools
import importlib.util

import numpy as np

from graphc.ops import (
    Aval, Statements, apply, defcomposite, defop, dtype_source, ndim_of, probe_dtype, shape_of, unsupported,
)
from graphc.errors import ShapeError, user_frame


def _matmul_shape(a: Aval, b: Aval) -> Aval:
    if not (1 <= len(a.shape) <= 2 and 1 <= len(b.shape) <= 2):
        raise unsupported(f"matmul of {len(a.shape)}-d and {len(b.shape)}-d operands",
                          "graphc's matmul takes 1-d and 2-d operands")
    inner_a = a.shape[-1]
    inner_b = b.shape[0]
    if inner_a != inner_b:
        raise ShapeError(f"matmul shapes {a.shape} and {b.shape} do not align "
                         f"({inner_a} != {inner_b})", user_frame())
    shape = a.shape[:-1] + b.shape[1:]
    return Aval(shape, probe_dtype(np.multiply, a.dtype, b.dtype))


def _as_matrix(x, row: bool):
    """View a 1-d operand as a 1-row (left) or 1-column (right) matrix."""
    if ndim_of(x) == 2:
        return x
    n = shape_of(x)[0]
    return apply("reshape", x, shape=(1, n) if row else (n, 1))


def _matmul_adjoint(g, out, a, b):
    a2, b2 = _as_matrix(a, row=True), _as_matrix(b, row=False)
    g2 = apply("reshape", g, shape=(shape_of(a2)[0], shape_of(b2)[1]))
    ga = apply("reshape", g2 @ apply("transpose", b2, axes=(1, 0)), shape=shape_of(a))
    gb = apply("reshape", apply("transpose", a2, axes=(1, 0)) @ g2, shape=shape_of(b))
    return ga, gb


@functools.lru_cache(maxsize=None)
def numba_has_blas() -> bool:
    """Numba's np.dot calls BLAS through SciPy; without SciPy installed it cannot compile at all."""
    return importlib.util.find_spec("scipy") is not None


def _emit_matmul(args, node, operands):
    # Numba's np.dot wants one dtype: mixed operands are cast to the result's first.
    a, b = (f"{x}.astype({dtype_source(node['dtype'])})" if o["dtype"] != node["dtype"] else x
            for x, o in zip(args, operands))
    if node["dtype"].kind in "fc":
        if numba_has_blas():  # BLAS in nopython mode (C- or F-contiguous operands)
            return f"np.dot({a}, {b})"
        # No SciPy: NumPy's own BLAS, called out of nopython mode (a few microseconds a call).
        shape = node["shape"]
        kind = node["dtype"].name + ("" if not shape else "[" + ", ".join([":"] * (len(shape) - 1) + ["::1"]) + "]")
        result = f"np.ascontiguousarray(np.dot({a}, {b}))" if shape else f"np.dot({a}, {b})[()]"
        return Statements(f"with numba.objmode({{out}}='{kind}'):\n    {{out}} = {result}")
    (sa, sb), out = (o["shape"] for o in operands), node["shape"]
    a2 = f"{a}.reshape((1, {sa[0]}))" if len(sa) == 1 else a
    b2 = f"{b}.reshape(({sb[0]}, 1))" if len(sb) == 1 else b
    rows, cols = (1 if len(sa) == 1 else sa[0]), (1 if len(sb) == 1 else sb[1])
    product = f"_matmul_loops({a2}, {b2}, np.zeros(({rows}, {cols}), {dtype_source(node['dtype'])}))"
    return f"{product}[0, 0]" if out == () else f"{product}.reshape({out})"


defop("matmul", arity=2, shape=_matmul_shape, reference=np.matmul, numpy=(np.matmul,),
      adjoint=_matmul_adjoint, emit=_emit_matmul, doc="matrix product of 1-d/2-d operands (a @ b)")


def dot(a, b, out=None):
    """``np.dot``: a product with a scalar, or matmul for 1-d and 2-d operands."""
    if out is not None:
        raise unsupported("np.dot with out=")
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return a * b
    if ndim_of(a) > 2 or ndim_of(b) > 2:
        raise unsupported("np.dot of arrays with more than 2 dimensions", "use np.matmul or np.tensordot")
    return apply("matmul", a, b)


defcomposite((np.dot,), dot)
