"""Numba code generation (installed as ``graphc.codegen``)."""
