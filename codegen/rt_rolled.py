"""Numba helpers for rolled kernels (graphc.codegen.rolled): values kept in one flat buffer per dtype.

Offsets come from the kernel's site table and shapes are literals; ``register_jitable`` makes Numba
type both with their plain types, so each helper compiles once per rank, not once per site.
"""
from __future__ import annotations

from numba.extending import register_jitable

__all__ = ["_slot", "_put"]

_jitable = register_jitable(cache=True, error_model="numpy")


@_jitable
def _slot(buffer, offset, shape):
    """The C-contiguous view of ``buffer[offset:]`` with ``shape``: a value the kernel keeps there."""
    size = 1
    for n in shape:
        size *= n
    return buffer[offset:offset + size].reshape(shape)


@_jitable
def _put(buffer, offset, value):
    """Copy the array ``value`` (any layout) into ``buffer[offset:]`` in C order."""
    buffer[offset:offset + value.size].reshape(value.shape)[...] = value
