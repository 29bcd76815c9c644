"""The errors graphc raises on purpose, and where in the user's code they happened.

Every class derives from :class:`GraphcError`. Tracing errors carry the user's
``file:line`` (found by :func:`user_frame`) so the message points at the line
that did the unsupported thing, not at graphc's internals.
"""
from __future__ import annotations

import os
import sys

_GRAPHC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Frames from these packages are never "the user's code".
_LIBRARY_DIRS = tuple(
    os.path.join(_GRAPHC_DIR, name) + os.sep for name in ("graphc", "passes", "codegen")
)


def _is_library_file(filename: str) -> bool:
    if filename.startswith(_LIBRARY_DIRS):
        return True
    # NumPy's dispatch machinery sits between the user and __array_function__; SciPy's code between the
    # user and the np.asarray that meets a traced value.
    return (any(os.sep + package + os.sep in filename for package in ("numpy", "scipy"))
            or filename.startswith("<__array_function__"))


def user_frame() -> str | None:
    """Return ``"file.py:LINE (in func)"`` for the innermost frame outside graphc, NumPy and SciPy."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if not _is_library_file(code.co_filename):
            return f"{os.path.basename(code.co_filename)}:{frame.f_lineno} (in {code.co_name})"
        frame = frame.f_back
    return None


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class TracingError(GraphcError):
    """A traced function did something graphc cannot record in a graph.

    The message names the operation and, when known, the user's ``file:line``.
    """

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{message} at {where}" if where else message)


class TracerBoolConversionError(TracingError):
    """Python control flow (``if``, ``while``, ``bool()``) on a traced value.

    The graph is static, so it cannot follow a branch that depends on data.
    Fix: express the choice with ``np.where(cond, a, b)``.
    """


class TracerConversionError(TracingError):
    """A traced value was turned into a concrete Python or NumPy value (``float(x)``, ``np.asarray(x)``).

    Inside a traced function values are symbolic; keep them as arrays.
    """


class EscapedTracerError(TracingError):
    """A traced value was used after the function that produced it finished tracing.

    Fix: return the value from the function instead of storing it elsewhere.
    """


class UnsizedTracerError(TracingError, TypeError):
    """``len()`` of, or iteration over, a 0-d traced value. A ``TypeError`` too, as NumPy's "len() of
    unsized object" is: code that probes with ``np.iterable`` (``np.piecewise`` does) sees a scalar."""


class UnsupportedOperationError(TracingError, TypeError):
    """A NumPy function, ufunc, operator or method graphc has no primitive for, or item assignment
    into a traced array. A ``TypeError`` too, as NumPy's own refusal (and JAX's immutable arrays) is."""


class NoKernelError(GraphcError):
    """A signature Numba cannot compile: it holds a float16 value, and Numba has no float16 type. Its
    calls run on the NumPy tier whatever the tiering; ``lower()``, which returns the kernel, raises
    this. Fix: compute in float32 (``x.astype(np.float32)``) to get a kernel."""


class ShapeError(TracingError, ValueError):
    """Operand shapes that do not fit the operation (broadcasting, matmul, reshape); a ``ValueError``
    too, as NumPy's is."""


class DifferentiationError(GraphcError):
    """A gradient was asked for that cannot be taken: a non-scalar output, integer inputs, a missing rule."""


class GradientTypeError(DifferentiationError, TypeError):
    """A gradient of a non-scalar or non-float output, or with respect to a non-float input: a
    ``TypeError`` too, as in JAX."""


class SignatureError(GraphcError, TypeError):
    """A compiled function was called with arguments that do not fit it (their number, structure or
    types): a ``TypeError`` too, as Python's own for a call that does not fit."""


class ArgumentShapeError(SignatureError, ValueError):
    """A compiled kernel was called with an array of another shape than it was compiled for.

    Raised from inside the generated code, so a kernel called from the user's own ``@numba.njit``
    function checks its arguments too. Through graphc's public callables it never reaches the user:
    a new shape compiles a new kernel.
    """


class IndexOutOfBoundsError(GraphcError, IndexError):
    """A traced index was outside its axis when the function ran.

    Constant indices are checked while tracing (a ShapeError); traced ones (``x[np.argmax(y)]``) only
    have values at run time. Compiled kernels raise this with a fixed message; the reference evaluator
    raises it with NumPy's own message. Fix: keep the index in ``-n <= i < n`` (``np.clip`` it).
    """


class ComplexResultError(GraphcError, ValueError):
    """A function of real values whose result, for the values it ran on, is complex: ``sqrtm`` of a
    matrix with a negative real eigenvalue, where SciPy returns a complex matrix.

    graphc traces real arrays and typed the result real when it traced, so both tiers raise this
    when the function runs (a ``ValueError`` too, as NumPy's domain errors are). Fix: keep the
    eigenvalues off the negative real axis (``A @ A.T``, a shift ``A + c * I``).
    """


class GraphcInternalError(GraphcError):
    """A bug in graphc itself, not in the user's code.

    Please report it with ``f.lower(*args).graph`` and the message.
    """
