"""Linear algebra beyond matmul, all composites: outer, inner, tensordot, einsum, kron, cross, trace, diag,
diagonal, triu/tril.

Contractions become one matmul (transpose + reshape + BLAS, see ``linalg.contract``); diagonals are strided
slices of a flattened matrix (getitem, whose adjoint scatters back); triangles are ``where`` with a constant mask.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, broadcast_shapes, defcomposite, ndim_of, normalize_axis, shape_of, unsupported
from graphc.ops.linalg import contract
from graphc.ops.shape import normalize_index


def _array(x):
    """A traced value as it is; anything else (lists, Python scalars) as a NumPy array."""
    return x if getattr(type(x), "_bind", None) is not None else np.asarray(x)


def _axis(axis, ndim: int, op: str) -> int:
    return normalize_axis(axis, ndim, op)[0]


def _transpose(x, order):
    order = tuple(order)
    return x if order == tuple(range(len(order))) else apply("transpose", x, axes=order)


def _reshape(x, shape):
    shape = tuple(shape)
    return x if shape_of(x) == shape else apply("reshape", x, shape=shape)


# ---- products --------------------------------------------------------------------------------------
def outer(a, b, out=None):
    """``np.outer``: both operands flattened, a column times a row."""
    if out is not None:
        raise unsupported("np.outer with out=")
    a, b = _array(a), _array(b)
    return _reshape(a, (math.prod(shape_of(a)), 1)) * _reshape(b, (1, math.prod(shape_of(b))))


def inner(a, b):
    """``np.inner``: a sum over the last axes of both operands (a product with a scalar)."""
    a, b = _array(a), _array(b)
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return a * b
    return contract(a, b, (ndim_of(a) - 1,), (ndim_of(b) - 1,))


def _axes_list(axes, ndim: int) -> tuple:
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = tuple(_axis(int(i), ndim, "tensordot") for i in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in 'tensordot': {axes!r}", user_frame())
    return out


def tensordot(a, b, axes=2):
    """``np.tensordot`` with ``axes`` an int (last of ``a`` with first of ``b``), or a pair of ints or sequences."""
    a, b = _array(a), _array(b)
    na, nb = ndim_of(a), ndim_of(b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = tuple(range(na - axes, na)), tuple(range(0, axes))
        if axes > min(na, nb):
            raise ShapeError(f"tensordot axes={axes} is more than the dimensions of {shape_of(a)} and "
                             f"{shape_of(b)}", user_frame())
    else:
        try:
            first, second = axes
        except (TypeError, ValueError):
            raise ShapeError(f"tensordot axes must be an int or a pair, got {axes!r}", user_frame()) from None
        axes_a, axes_b = _axes_list(first, na), _axes_list(second, nb)
        if len(axes_a) != len(axes_b):
            raise ShapeError(f"tensordot pairs {len(axes_a)} axes of a with {len(axes_b)} of b", user_frame())
    return contract(a, b, axes_a, axes_b)


def kron(a, b):
    """``np.kron``: the blocks ``a[i] * b``, as an interleaved broadcasting product reshaped."""
    a, b = _array(a), _array(b)
    n = max(ndim_of(a), ndim_of(b))
    sa = (1,) * (n - ndim_of(a)) + shape_of(a)
    sb = (1,) * (n - ndim_of(b)) + shape_of(b)
    product = (_reshape(a, [d for m in sa for d in (m, 1)]) * _reshape(b, [d for m in sb for d in (1, m)]))
    return _reshape(product, [p * q for p, q in zip(sa, sb)])


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross`` of 3-vectors (or 2-vectors, as NumPy: with z = 0) along an axis, componentwise."""
    a, b = _array(a), _array(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    comps = []
    for x, ax in ((a, axisa), (b, axisb)):
        n = ndim_of(x)
        if n == 0:
            raise ShapeError("np.cross needs arrays of vectors, got a 0-d array", user_frame())
        ax = _axis(ax, n, "cross")
        x = _transpose(x, [i for i in range(n) if i != ax] + [ax])
        if shape_of(x)[-1] not in (2, 3):
            raise ShapeError(f"np.cross needs vectors of 2 or 3 components, got {shape_of(x)[-1]}", user_frame())
        comps.append([x[..., i] for i in range(shape_of(x)[-1])] + [None] * (3 - shape_of(x)[-1]))
    (a0, a1, a2), (b0, b1, b2) = comps
    z = a0 * b1 - a1 * b0
    if a2 is None and b2 is None:  # two 2-vectors: the z component alone
        return z
    lead = broadcast_shapes("cross", shape_of(a0), shape_of(b0))
    x = _sub(_mul(a1, b2), _mul(a2, b1))
    y = _sub(_mul(a2, b0), _mul(a0, b2))
    parts = [c if shape_of(c) == lead else apply("broadcast_to", c, shape=lead) for c in (x, y, z)]
    return np.stack(parts, axis=_axis(axisc, len(lead) + 1, "cross"))


def _mul(p, q):
    return None if p is None or q is None else p * q


def _sub(p, q):
    return p if q is None else -q if p is None else p - q


# ---- diagonals and triangles --------------------------------------------------------------------------
def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: the two axes moved last and flattened; the diagonal is a strided slice of that."""
    a = _array(a)
    n = ndim_of(a)
    if n < 2:
        raise ShapeError(f"np.diagonal needs at least two dimensions, got a {n}-d array", user_frame())
    ax1, ax2 = _axis(axis1, n, "diagonal"), _axis(axis2, n, "diagonal")
    if ax1 == ax2:
        raise ShapeError("np.diagonal's axis1 and axis2 cannot be the same axis", user_frame())
    shape = shape_of(a)
    rest = [i for i in range(n) if i not in (ax1, ax2)]
    lead, rows, cols, k = tuple(shape[i] for i in rest), shape[ax1], shape[ax2], int(offset)
    length = max(0, min(rows, cols - k) if k >= 0 else min(rows + k, cols))
    start = k if k >= 0 else -k * cols
    flat = _reshape(_transpose(a, rest + [ax1, ax2]), lead + (rows * cols,))
    stop = start + (length - 1) * (cols + 1) + 1 if length else 0
    index = normalize_index((Ellipsis, slice(start if length else 0, stop, cols + 1)), shape_of(flat))
    return apply("getitem", flat, index=index)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``np.trace``: the sum of :func:`diagonal`."""
    if out is not None:
        raise unsupported("np.trace with out=")
    d = diagonal(a, offset, axis1, axis2)
    if dtype is not None:
        d = apply("astype", d, dtype=np.dtype(dtype).str)
    return apply("sum", d, axis=(ndim_of(d) - 1,), keepdims=False)


def diag(v, k=0):
    """``np.diag``: a 2-d array's k-th diagonal, or a square matrix with a 1-d array placed on it."""
    v = _array(v)
    if ndim_of(v) == 2:
        return diagonal(v, k)
    if ndim_of(v) != 1:
        raise ShapeError(f"np.diag needs a 1-d or 2-d array, got a {ndim_of(v)}-d array", user_frame())
    k = int(k)
    length = shape_of(v)[0]
    size = length + abs(k)
    if length == 0:
        return np.zeros((size, size), v.dtype)
    start = k if k >= 0 else -k * size
    index = normalize_index((slice(start, start + (length - 1) * (size + 1) + 1, size + 1),), (size * size,))
    return _reshape(apply("index_scatter", v, index=index, shape=(size * size,)), (size, size))


def _triangle(name: str, lower: bool):
    def triangle(m, k=0):
        m = _array(m)
        if ndim_of(m) == 0:
            raise ShapeError(f"np.{name} needs at least a 1-d array, got a 0-d one", user_frame())
        # NumPy's own definition: a mask of the last two axes (a 1-d array is repeated as rows).
        mask = np.tri(*shape_of(m)[-2:], k=int(k) if lower else int(k) - 1, dtype=bool)
        zero = np.zeros((), m.dtype)
        return np.where(mask, m, zero) if lower else np.where(mask, zero, m)

    triangle.__name__ = triangle.__qualname__ = name
    triangle.__doc__ = f"``np.{name}``: ``where`` with a constant triangular mask."
    return triangle


# ---- einsum ---------------------------------------------------------------------------------------------
def _parse_term(term: str, ndim: int, where: str) -> list:
    """Labels of one operand: letters, and ``-d .. -1`` for the axes that '...' stands for (right-aligned)."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise ShapeError(f"einsum subscripts {where!r}: '.' only in one '...'", user_frame())
    letters = term.replace("...", "")
    if not all(c.isalpha() and c.isascii() for c in letters):
        raise ShapeError(f"einsum subscripts {where!r}: labels must be letters", user_frame())
    if "..." not in term:
        if len(term) != ndim:
            raise ShapeError(f"einsum subscripts {term!r} name {len(term)} axes of a {ndim}-d operand", user_frame())
        return list(term)
    dots = ndim - len(letters)
    if dots < 0:
        raise ShapeError(f"einsum subscripts {term!r} name more axes than the {ndim}-d operand has", user_frame())
    head, tail = term.split("...")
    return list(head) + list(range(-dots, 0)) + list(tail)


def _parse_einsum(subscripts: str, ndims: list) -> tuple:
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims) or "->" in rhs:
        raise ShapeError(f"einsum subscripts {subscripts!r} do not match {len(ndims)} operand(s)", user_frame())
    inputs = [_parse_term(t, n, subscripts) for t, n in zip(terms, ndims)]
    dots = -min([0] + [l for labels in inputs for l in labels if isinstance(l, int)])
    if arrow:
        if dots and "..." not in rhs:
            raise ShapeError(f"einsum subscripts {subscripts!r}: the output needs '...' for the broadcast axes",
                             user_frame())
        output = _parse_term(rhs, len(rhs.replace("...", "")) + dots, subscripts)
    else:  # implicit: broadcast axes, then the letters used once, in alphabetical order
        counts = {}
        for labels in inputs:
            for l in labels:
                counts[l] = counts.get(l, 0) + 1
        output = list(range(-dots, 0)) + sorted(l for l, c in counts.items() if c == 1 and isinstance(l, str))
    known = {l for labels in inputs for l in labels}
    if len(set(output)) != len(output) or not set(output) <= known:
        raise ShapeError(f"einsum output {rhs!r} repeats a label or names one no operand has", user_frame())
    return inputs, output


def _take_diagonals(x, labels: list) -> tuple:
    """A label repeated within one operand ('ii') takes the diagonal of those axes."""
    while len(set(labels)) != len(labels):
        i = next(p for p, l in enumerate(labels) if labels.count(l) > 1)
        j = labels.index(labels[i], i + 1)
        if shape_of(x)[i] != shape_of(x)[j]:
            raise ShapeError(f"einsum label {labels[i]!r} repeats on axes of sizes {shape_of(x)[i]} and "
                             f"{shape_of(x)[j]}", user_frame())
        x = diagonal(x, 0, i, j)
        labels = [l for p, l in enumerate(labels) if p not in (i, j)] + [labels[i]]
    return x, labels


def _sum_labels(x, labels: list, drop) -> tuple:
    axes = tuple(p for p, l in enumerate(labels) if l in drop)
    if not axes:
        return x, labels
    return apply("sum", x, axis=axes, keepdims=False), [l for l in labels if l not in drop]


def _pair(a, la: list, b, lb: list, keep: set) -> tuple:
    """Contract two operands: shared labels that stay are batch axes (a batched matmul), the others are summed."""
    batch = [l for l in la if l in lb and l in keep]
    summed = [l for l in la if l in lb and l not in keep]
    free_a, free_b = [l for l in la if l not in lb], [l for l in lb if l not in la]
    size = dict(zip(la, shape_of(a))) | dict(zip(lb, shape_of(b)))
    if not batch:
        out = contract(a, b, tuple(la.index(l) for l in summed), tuple(lb.index(l) for l in summed))
        return out, free_a + free_b
    bshape = tuple(size[l] for l in batch)
    if not summed:  # a broadcasting product: free axes of a, then of b, after the batch
        a2 = _reshape(_transpose(a, [la.index(l) for l in batch + free_a]), bshape + tuple(
            size[l] for l in free_a) + (1,) * len(free_b))
        b2 = _reshape(_transpose(b, [lb.index(l) for l in batch + free_b]), bshape + (1,) * len(free_a) + tuple(
            size[l] for l in free_b))
        return a2 * b2, batch + free_a + free_b
    rows, inner_, cols = (math.prod(size[l] for l in part) for part in (free_a, summed, free_b))
    a3 = _reshape(_transpose(a, [la.index(l) for l in batch + free_a + summed]), bshape + (rows, inner_))
    b3 = _reshape(_transpose(b, [lb.index(l) for l in batch + summed + free_b]), bshape + (inner_, cols))
    out = apply("matmul", a3, b3)
    return _reshape(out, bshape + tuple(size[l] for l in free_a + free_b)), batch + free_a + free_b


def _interleaved_subscripts(operands) -> tuple:
    """``np.einsum(a, [0, 1], b, [1, 2], [0, 2])`` as ``("ab,bc->ac", a, b)``."""
    output = operands[-1] if len(operands) % 2 else None  # an odd count ends with the output's list
    pairs = operands[:-1] if output is not None else operands
    arrays, sublists = list(pairs[0::2]), list(pairs[1::2])
    labels: dict = {}

    def letters(sublist) -> str:
        out = ""
        for label in sublist:
            if label is Ellipsis:
                out += "..."
                continue
            if not isinstance(label, (int, np.integer)):
                raise unsupported(f"np.einsum axis label {label!r}", "use integers (or ...)")
            if label not in labels:
                labels[label] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(labels)]
            out += labels[label]
        return out

    spec = ",".join(letters(s) for s in sublists)
    if output is not None:
        spec += "->" + letters(output)
    return (spec, *arrays)


def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """``np.einsum`` with a subscripts string (explicit or implicit output, '...', repeated labels) or in
    the interleaved form: diagonals and lone labels first, then operands contracted left to right by
    matmul or products."""
    if out is not None or dtype is not None or order not in ("K", "A", "C") or casting != "safe":
        raise unsupported("np.einsum with out=, dtype=, order= or casting=")
    if operands and not isinstance(operands[0], str):
        operands = _interleaved_subscripts(operands)
    if not operands:
        raise ShapeError("np.einsum needs a subscripts string and operands", user_frame())
    arrays = [_array(x) for x in operands[1:]]
    inputs, output = _parse_einsum(operands[0], [ndim_of(x) for x in arrays])
    size = {}
    for x, labels in zip(arrays, inputs):
        for l, n in zip(labels, shape_of(x)):  # size 1 broadcasts against any size, 0 included
            if size.get(l, 1) == 1:
                size[l] = n
            elif n not in (1, size[l]):
                raise ShapeError(f"einsum label {l!r} has sizes {size[l]} and {n}", user_frame())
    terms = []
    for p, (x, labels) in enumerate(zip(arrays, inputs)):
        x, labels = _take_diagonals(x, list(labels))
        others = set(output).union(*(set(ls) for q, ls in enumerate(inputs) if q != p))
        x, labels = _sum_labels(x, labels, {l for l in labels if l not in others})
        full = tuple(size[l] for l in labels)  # size-1 axes that meet a longer one are broadcast
        terms.append((x if shape_of(x) == full else apply("broadcast_to", x, shape=full), labels))
    x, labels = terms[0]
    for q in range(1, len(terms)):
        keep = set(output).union(*(set(ls) for _, ls in terms[q + 1:]))
        x, labels = _pair(x, labels, *terms[q], keep)
    x, labels = _sum_labels(x, labels, {l for l in labels if l not in output})
    return _transpose(x, [labels.index(l) for l in output])


defcomposite((np.outer,), outer)
defcomposite((np.inner,), inner)
defcomposite((np.tensordot,), tensordot)
defcomposite((np.kron,), kron)
defcomposite((np.cross,), cross)
defcomposite((np.diagonal,), diagonal)
defcomposite((np.trace,), trace)
defcomposite((np.diag,), diag)
defcomposite((np.triu,), _triangle("triu", lower=False))
defcomposite((np.tril,), _triangle("tril", lower=True))
defcomposite((np.einsum,), einsum)
