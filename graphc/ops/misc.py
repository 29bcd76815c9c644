"""NumPy functions written with primitives that fit no family: ``append``, ``sinc``, ``nan_to_num``,
``linspace`` (with traced endpoints), ``real_if_close``, ``fft.fftshift``/``ifftshift`` (rolls), and
``iscomplex``/``isreal``/``iscomplexobj``/``isrealobj``, answered from the dtype (graphc traces real
values only), and ``zeros_like``/``ones_like``/``empty_like``/``full_like`` (constants of the traced
value's shape and dtype).
"""
from __future__ import annotations

import math

import numpy as np

from graphc.errors import ShapeError, user_frame
from graphc.ops import apply, defcomposite, shape_of


def append(arr, values, axis=None):
    """NumPy's: flattened and joined when ``axis`` is None, else joined along ``axis``."""
    if axis is None:
        arr, values = np.ravel(arr), np.ravel(values)
        axis = 0
    return np.concatenate([arr, values], axis=axis)


def sinc(x):
    """``sin(pi x) / (pi x)``, and 1 at 0 (where its gradient is 0)."""
    zero = x == 0
    safe = np.where(zero, 1.0, x) * math.pi
    return np.where(zero, 1.0, np.sin(safe) / safe)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN to ``nan``, +-inf to ``posinf``/``neginf`` (the dtype's largest finite values by default)."""
    dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
    if dtype.kind not in "f":
        return x
    info = np.finfo(dtype)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    x = np.where(x != x, np.asarray(nan, dtype), x)
    x = np.where(x == np.inf, np.asarray(big, dtype), x)
    return np.where(x == -np.inf, np.asarray(small, dtype), x)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """NumPy's, with traced ``start``/``stop`` (``num`` is a Python int): ``start + i * step``, the last
    point exactly ``stop`` when ``endpoint``."""
    if not isinstance(num, (int, np.integer)) or num < 0:
        raise ShapeError(f"np.linspace needs a non-negative int num, got {num!r}", user_frame())
    num = int(num)
    start, stop = (v if hasattr(v, "shape") else np.asarray(v, np.float64) for v in (start, stop))
    shape = tuple(np.broadcast_shapes(shape_of(start), shape_of(stop)))
    div = (num - 1) if endpoint else num
    delta = stop - start
    step = delta / div if div > 0 else delta * np.nan
    common = np.result_type(np.dtype(start.dtype), np.dtype(stop.dtype))  # NumPy's: a float num is weak
    index = np.arange(num, dtype=common if common.kind == "f" else np.float64).reshape((num,) + (1,) * len(shape))
    points = index * step + start if div > 0 else index * delta + start
    if endpoint and num > 1:
        last = apply("reshape", apply("broadcast_to", stop, shape=shape), shape=(1,) + shape)
        points = np.concatenate([points[:-1], last], axis=0)
    points = apply("broadcast_to", points, shape=(num,) + shape) if shape_of(points) != (num,) + shape else points
    if axis != 0:
        points = np.moveaxis(points, 0, axis)
    if dtype is not None:
        points = points.astype(dtype)
    return (points, step) if retstep else points


def real_if_close(a, tol=100):
    """Real input is returned as it is (graphc traces real values only)."""
    return a


def _shift_axes(x, axes, sign: int):
    axes = tuple(range(np.ndim(x))) if axes is None else ((axes,) if isinstance(axes, (int, np.integer)) else axes)
    return np.roll(x, tuple(sign * (shape_of(x)[a] // 2) for a in axes), axis=tuple(axes))


def fftshift(x, axes=None):
    """The zero frequency moved to the centre: a roll by ``n // 2`` along each axis."""
    return _shift_axes(x, axes, 1)


def ifftshift(x, axes=None):
    """fftshift's inverse: a roll by ``-(n // 2)``."""
    return _shift_axes(x, axes, -1)


def iscomplex(x):
    return np.zeros(shape_of(x), bool) if hasattr(x, "shape") else False


def isreal(x):
    return np.ones(shape_of(x), bool) if hasattr(x, "shape") else True


def _like(a, dtype, shape) -> tuple:
    """The shape and dtype of an ``np.*_like`` result."""
    return (tuple(shape) if shape is not None else shape_of(a),
            np.dtype(dtype) if dtype is not None else a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype)


def zeros_like(a, dtype=None, order="K", subok=True, shape=None):
    """Zeros of ``a``'s shape and dtype: a constant (it reads nothing of ``a``'s values)."""
    return np.zeros(*_like(a, dtype, shape))


def ones_like(a, dtype=None, order="K", subok=True, shape=None):
    return np.ones(*_like(a, dtype, shape))


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    """``fill_value`` everywhere in ``a``'s shape. A traced ``fill_value`` works when ``a`` is traced too:
    NumPy hands graphc the call only when its template ``a`` is (``np.full(shape, x)`` is the way)."""
    shape, dtype = _like(a, dtype, shape)
    if hasattr(fill_value, "shape") and not isinstance(fill_value, np.ndarray):  # traced
        return apply("broadcast_to", fill_value.astype(dtype), shape=shape)
    return np.full(shape, fill_value, dtype)


defcomposite((np.zeros_like, np.empty_like), zeros_like)  # empty_like's contents are unspecified: zeros
defcomposite((np.ones_like,), ones_like)
defcomposite((np.full_like,), full_like)
defcomposite((np.append,), append)
defcomposite((np.fft.fftshift,), fftshift)
defcomposite((np.fft.ifftshift,), ifftshift)
defcomposite((np.iscomplex,), iscomplex)
defcomposite((np.isreal,), isreal)
defcomposite((np.iscomplexobj,), lambda x: False)
defcomposite((np.isrealobj,), lambda x: True)
defcomposite((np.sinc,), sinc)
defcomposite((np.nan_to_num,), nan_to_num)
defcomposite((np.linspace,), linspace)
defcomposite((np.real_if_close,), real_if_close)
