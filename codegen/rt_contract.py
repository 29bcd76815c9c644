"""Numba helpers for graphc.ops.contract (generated code imports them through graphc.codegen.runtime)."""
from __future__ import annotations

__all__: list[str] = []
