"""Numba helpers for graphc.ops.manip (generated code imports them through graphc.codegen.runtime)."""
from __future__ import annotations

__all__: list[str] = []
