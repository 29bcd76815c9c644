"""``scipy.signal.convolve`` for traced values, with SciPy's signature and modes.

>>> import numpy as np, graphc
>>> from graphc.scipy.signal import convolve
>>> x, k = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5])
>>> graphc.jit(lambda x, k: convolve(x, k, mode="same"))(x, k)
array([1. , 2.5, 4. ])
>>> graphc.grad(lambda k: np.sum(convolve(x, k, mode="valid") ** 2))(k)  # d/dk of (3 k0 + 2 k1 + k2)^2
array([15., 10.,  5.])

It is graphc's ``convolve`` primitive (graphc.ops.signal): the direct sum, differentiable in both inputs
to any order, batched by ``vmap`` and compiled to a Numba loop for arrays of any rank.
"""
from __future__ import annotations

from graphc.errors import ShapeError, user_frame
from graphc.ops.signal import convolve_like_scipy

__all__ = ["convolve"]


def convolve(in1, in2, mode="full", method="auto"):
    """The convolution of N-d ``in1`` and ``in2`` (of one rank, real): ``mode`` 'full', 'valid' or 'same',
    with SciPy's shapes and its operand swap in 'valid' (see
    :func:`graphc.ops.signal.convolve_like_scipy`).

    ``method`` is checked and otherwise ignored: graphc always sums directly, which is what SciPy's
    'direct' gives (its 'fft', and 'auto' where it picks FFT, differ from that by FFT rounding). A
    gradient through a sum has the sum's accuracy, and for the small kernels of models the compiled
    loop is as fast as SciPy's choice.
    """
    if method not in ("auto", "direct", "fft"):
        raise ShapeError(f"scipy.signal.convolve: method must be 'auto', 'direct' or 'fft', got {method!r}",
                         user_frame())
    return convolve_like_scipy(in1, in2, mode)
