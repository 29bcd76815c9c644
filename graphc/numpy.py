"""NumPy, with the entry points that NumPy's array protocols cannot hand to graphc made traceable.

``import graphc.numpy as np`` changes nothing for untraced code: every name is NumPy's own, except
``array``, ``asarray``, ``r_``, ``c_``, and the reductions and ``linalg.norm`` below, which inside a
traced function

* build arrays from (nested lists of) traced values: ``np.array([a, b])`` (NumPy's own would ask
  each traced value for its data, which does not exist while tracing);
* make a constant array a graph value, so that a traced index can index it: ``np.asarray(table)[i]``;
* take ``sum``, ``prod``, ``mean``, ``std``, ``var``, ``max``, ``min``, ``average``, ``append`` and
  ``linalg.norm`` of a list of traced values: ``np.mean([x, y])``.

Outside a traced function they are NumPy's.

>>> import graphc, graphc.numpy as gnp
>>> float(graphc.grad(lambda a, b: gnp.sum(gnp.array([a, 2 * b]) ** 2))(1.0, 3.0))
2.0
"""
from __future__ import annotations

import sys as _sys
import types as _types

import numpy as _np
from numpy import *  # noqa: F401,F403 -- NumPy itself, for everything graphc.numpy does not change

from graphc.tracer import Tracer, add_constant, current_graph

__all__ = [name for name in dir(_np) if not name.startswith("_")]


def _traced(obj) -> bool:
    if isinstance(obj, Tracer):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_traced(item) for item in obj)
    return False


def _build(obj, dtype):
    """A traced array from ``obj``: a tracer, or a nested list of tracers and numbers (stacked)."""
    if isinstance(obj, (list, tuple)):
        if not obj:
            return _np.zeros((0,), dtype or _np.float64)
        return _np.stack([_build(item, dtype) for item in obj])
    value = obj if isinstance(obj, Tracer) else _np.asarray(obj, dtype)
    return value.astype(dtype) if dtype is not None and value.dtype != _np.dtype(dtype) else value


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, like=None):
    """``np.array``; inside a traced function, also of traced values, and always a graph value."""
    graph = current_graph()
    if graph is None:
        return _np.array(obj, dtype=dtype, copy=copy, order=order, subok=subok, ndmin=ndmin)
    if _traced(obj):
        result = _build(obj, dtype)
    else:  # a constant: a graph node, so that traced indices may index it
        result = Tracer(graph, add_constant(graph, _np.array(obj, dtype=dtype)))
    while result.ndim < ndmin:
        result = result[None]
    return result


def asarray(a, dtype=None, order=None, like=None):
    """``np.asarray``; inside a traced function, as :func:`array` (a traced value stays itself)."""
    if isinstance(a, Tracer) and (dtype is None or a.dtype == _np.dtype(dtype)):
        return a
    if current_graph() is None:
        return _np.asarray(a, dtype=dtype, order=order)
    return array(a, dtype=dtype)


class _Concatenator:
    """``r_`` and ``c_``: NumPy's index-expression concatenation, for traced items too (numbers,
    arrays, slices ``start:stop:step`` as ``arange``)."""

    def __init__(self, numpy_version, columns: bool):
        self._numpy, self._columns = numpy_version, columns

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if current_graph() is None or not any(isinstance(item, Tracer) for item in items):
            return self._numpy[key]
        parts = []
        for item in items:
            if isinstance(item, slice):
                item = _np.arange(item.start or 0, item.stop, item.step or 1)
            elif isinstance(item, str):
                raise TypeError(f"graphc.numpy's r_/c_ do not take the directive {item!r} with traced values")
            item = item if isinstance(item, Tracer) else _np.asarray(item)
            if self._columns and item.ndim <= 1:
                item = _np.reshape(item, (-1, 1))
            elif item.ndim == 0:
                item = _np.reshape(item, (1,))
            parts.append(item)
        return _np.concatenate(parts, axis=-1 if self._columns else 0)


r_ = _Concatenator(_np.r_, columns=False)
c_ = _Concatenator(_np.c_, columns=True)


def _taking_lists(fn, positions=(0,)):
    """``fn`` taking lists of traced values too at ``positions`` (``np.mean([x, y])``): NumPy converts a
    list before graphc sees it, so graphc.numpy stacks it first."""
    def wrapped(*args, **kwargs):
        if current_graph() is not None:
            args = tuple(array(a) if i in positions and isinstance(a, (list, tuple)) and _traced(a) else a
                         for i, a in enumerate(args))
        return fn(*args, **kwargs)

    wrapped.__name__, wrapped.__qualname__, wrapped.__doc__ = fn.__name__, fn.__name__, fn.__doc__
    return wrapped


sum, prod, mean, std, var, max, min, average = (  # noqa: A001 -- NumPy's names
    _taking_lists(f) for f in (_np.sum, _np.prod, _np.mean, _np.std, _np.var, _np.max, _np.min, _np.average))
append = _taking_lists(_np.append, positions=(0, 1))
_norm = _taking_lists(_np.linalg.norm)


#: ``graphc.numpy.linalg``: NumPy's, with ``norm`` taking lists of traced values too.
linalg = _types.ModuleType("graphc.numpy.linalg", "numpy.linalg, with norm of lists of traced values")
linalg.__dict__.update({name: value for name, value in vars(_np.linalg).items() if not name.startswith("_")})
linalg.norm = _norm
_sys.modules[linalg.__name__] = linalg
