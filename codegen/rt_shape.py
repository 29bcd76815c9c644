"""Numba helpers for graphc.ops.shape (generated code imports them through graphc.codegen.runtime).

Shapes and indices reach these helpers as tuples of integer literals (``_reshape(v7, (16, 1))``;
an index always second, where a rolled kernel puts the site's own: ``_index_lead(v4, (9,))``).
A call to an ``@njit`` dispatcher would compile it again for every distinct literal, so they are
registered with ``register_jitable``: Numba types a call to them with the literals' plain types
first, and compiles each once per rank (and keeps it on disk). Issue 13 measured an inline
``np.ascontiguousarray(x).reshape(s)`` at about 25 ms of Numba time per site; a call costs a few.
"""
from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

__all__ = ["_reshape", "_index_lead", "_scatter_lead", "_scatter_lead_into", "_transpose", "_contiguous",
           "_concatenate"]

_jitable = register_jitable(cache=True, error_model="numpy")

#: Helpers whose second argument is an index of integer literals, which a rolled kernel
#: (codegen/rolled.py) takes from its table, so that ``xs[t]`` is one form for every ``t``.
INDEXED = ("_index_lead", "_scatter_lead", "_scatter_lead_into")
#: Helpers with a variant that writes its result into one more, last argument: a rolled kernel's buffer.
WRITES_INTO = {"_scatter_lead": "_scatter_lead_into"}


@_jitable
def _reshape(x, shape):
    """``x`` (any layout) in C order with a new ``shape`` of the same size: a view when ``x`` is C-contiguous."""
    return np.ascontiguousarray(x).reshape(shape)


@_jitable
def _transpose(x, axes):
    """``x.transpose(axes)``, a view, for a tuple of ints. Inline, Numba compiles its implementation
    again at every site (about 0.9 s each: the prod op-table kernel's ten took 8.9 s)."""
    return x.transpose(axes)


@_jitable
def _contiguous(x):
    """``np.ascontiguousarray(x)``: ``x`` itself when C-contiguous, else a C-ordered copy (inline, about
    0.5 s of Numba's time a site)."""
    return np.ascontiguousarray(x)


@_jitable
def _concatenate(arrays, axis):
    """``np.concatenate(arrays, axis)`` for a tuple of arrays. Inline, each site compiles NumPy's
    implementation anew, with its slice assignments and their shape checks."""
    return np.concatenate(arrays, axis=axis)


@_jitable
def _index_lead(x, lead):
    """``x[lead]`` for a tuple of non-negative ints: a view of the trailing axes, or one element."""
    return x[lead]


@_jitable
def _scatter_lead(g, lead, shape, dtype):
    """Zeros of ``shape`` with ``g`` at ``[lead]`` (a tuple of non-negative ints): getitem's adjoint."""
    out = np.zeros(shape, dtype)
    out[lead] = g
    return out


@_jitable
def _scatter_lead_into(g, lead, shape, dtype, out):
    """``_scatter_lead`` written into ``out`` (of ``shape``): a rolled kernel's buffer."""
    out[...] = 0
    out[lead] = g
