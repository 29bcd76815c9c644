"""SciPy's own compiled special functions, called from Numba kernels: ``_scipy_<name>(…)`` of one
element. The ops have no array emission: even a lone node of one is a loop (passes/fuse.py), which
broadcasts like every fused loop.

``scipy.special.cython_special`` exports each function's C entry point in ``__pyx_capi__``. Its address
is given to LLVM under a symbol of graphc's (``llvmlite.binding.add_symbol``), and the helpers call
that symbol. A symbol, not the address: kernels cached on disk refer to it by name, and each process
binds the name again when this module is imported, so they stay cacheable. Generated modules import
this module only when they call one of its helpers (emit.py), so other kernels never import
scipy.special (about 0.3 s).

The functions are the ones :data:`graphc.ops.special.SCIPY_COMPILED` lists, in float64: the real,
double-precision variant of SciPy's (``__pyx_fuse_0jv`` is complex; the real one is another fuse index),
found by its C signature.
"""
from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
import numba
import numpy as np
import scipy.special.cython_special as cython_special
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from graphc.errors import GraphcInternalError
from graphc.ops.special import SCIPY_COMPILED

__all__: list[str] = []  # filled below: one helper per function

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.py_object]


def _entry_point(name: str, arity: int) -> int:
    """The address of SciPy's ``double name(double, …, int skip_dispatch)``."""
    signature = "double (" + "double, " * arity + "int __pyx_skip_dispatch)"
    exported = cython_special.__pyx_capi__
    for key in [name] + [f"__pyx_fuse_{i}{name}" for i in range(4)]:
        capsule = exported.get(key)
        if capsule is not None and _capsule_name(capsule).decode() == signature:
            return _capsule_pointer(capsule, _capsule_name(capsule))
    raise GraphcInternalError(f"scipy.special.cython_special has no {signature} {name} (graphc bug; please report)")


def _external_call(symbol: str, arity: int):
    """An intrinsic calling the C function ``symbol`` on ``arity`` float64 values."""
    def codegen(context, builder, signature, values):
        double = ir.DoubleType()
        function_type = ir.FunctionType(double, [double] * arity + [ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, function_type, symbol)
        return builder.call(fn, [*values, ir.Constant(ir.IntType(32), 0)])

    signature = types.float64(*[types.float64] * arity)
    # An intrinsic's arity is its Python signature's: one definition per arity.
    if arity == 1:
        return intrinsic(lambda typingctx, x: (signature, codegen))
    if arity == 2:
        return intrinsic(lambda typingctx, a, x: (signature, codegen))
    return intrinsic(lambda typingctx, a, b, x: (signature, codegen))


def _helper(name: str, arity: int):
    """The scalar function for ``scipy.special.<name>``."""
    symbol = f"graphc_scipy_{name}"
    llvm.add_symbol(symbol, _entry_point(name, arity))
    call = _external_call(symbol, arity)
    if arity == 1:
        def scalar(x):
            return call(np.float64(x))
    elif arity == 2:
        def scalar(a, x):
            return call(np.float64(a), np.float64(x))
    else:
        def scalar(a, b, x):
            return call(np.float64(a), np.float64(b), np.float64(x))
    # Numba names a cache file after the function's qualified name: each needs its own.
    scalar.__name__ = scalar.__qualname__ = f"_scipy_{name}"
    return numba.njit(cache=True, error_model="numpy")(scalar)


for _name, _arity in SCIPY_COMPILED.items():
    globals()[f"_scipy_{_name}"] = _helper(_name, _arity)
    __all__.append(f"_scipy_{_name}")
