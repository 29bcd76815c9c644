"""Op test rows for graphc/ops/matfuncs.py (scipy.linalg's expm, sqrtm, solve_sylvester, solve_banded);
merged into op_cases.CASES.

Each row builds, from the sampled entries (in +-[0.1, 2]), a matrix its function is well defined and
well conditioned at: ``m / 4 + 2 I`` has its eigenvalues in the disc of radius 1.5 around 2 (3x3), so
a Sylvester equation with two such matrices is far from singular and ``sqrtm``'s principal root is
real (complex eigenvalue pairs included, the real Schur form's 2x2 blocks); ``expm`` gets ``m / 2``,
norms where SciPy's and the kernel's Padé approximants agree to rounding. The ``expected`` column
calls SciPy itself.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from graphc.scipy import linalg as gl
from op_cases import case


def _shifted(m):
    """``m / 4 + 2 I`` (in m's dtype): eigenvalues with real parts of at least 0.5 for 3x3 ``m``."""
    return m / 4.0 + 2.0 * np.eye(m.shape[-1], dtype=m.dtype)


def _spd(m):
    return m @ np.swapaxes(m, -1, -2) + np.eye(m.shape[-1], dtype=m.dtype)


def _each(fn, *arrays):
    """SciPy's ``fn`` over the leading axis of stacked operands (unstacked ones shared)."""
    return np.stack([fn(*(x[i] if x.ndim == arrays[0].ndim else x for x in arrays)) for i in range(len(arrays[0]))])


def _band(ab, u):
    """Banded storage with a dominant main diagonal (row ``u``): well conditioned."""
    return ab + 6.0 * (np.arange(ab.shape[-2]) == u).astype(ab.dtype)[:, None]


CASES = {
    "expm": [
        case(lambda m: gl.expm(m / 2.0), (3, 3), id="3x3", expected=lambda m: scipy.linalg.expm(m / 2.0)),
        case(lambda m: gl.expm(m / 2.0), (2, 3, 3), id="batched",
             expected=lambda m: _each(scipy.linalg.expm, m / 2.0)),
    ],
    "sqrtm": [
        case(lambda m: gl.sqrtm(_spd(m)), (3, 3), id="spd", expected=lambda m: scipy.linalg.sqrtm(_spd(m))),
        case(lambda m: gl.sqrtm(_shifted(m)), (2, 3, 3), id="nonsymmetric-batched",
             expected=lambda m: _each(scipy.linalg.sqrtm, _shifted(m))),
    ],
    "solve_sylvester": [
        case(lambda a, b, q: gl.solve_sylvester(_shifted(a), _shifted(b), q), (3, 3), (2, 2), (3, 2), id="3x2",
             expected=lambda a, b, q: scipy.linalg.solve_sylvester(_shifted(a), _shifted(b), q)),
        case(lambda a, b, q: gl.solve_sylvester(_shifted(a), _shifted(b), q), (2, 3, 3), (3, 3), (2, 3, 3),
             id="batched-broadcast-b",
             expected=lambda a, b, q: _each(scipy.linalg.solve_sylvester, _shifted(a), _shifted(b), q)),
    ],
    "solve_banded": [
        case(lambda ab, b: gl.solve_banded((1, 2), _band(ab, 2), b), (4, 5), (5,), id="l1-u2-vector",
             expected=lambda ab, b: scipy.linalg.solve_banded((1, 2), _band(ab, 2), b)),
        case(lambda ab, b: gl.solve_banded((1, 1), _band(ab, 1), b), (2, 3, 4), (2, 4, 2), id="tridiagonal-batched",
             expected=lambda ab, b: _each(lambda x, y: scipy.linalg.solve_banded((1, 1), x, y), _band(ab, 1), b)),
    ],
}
