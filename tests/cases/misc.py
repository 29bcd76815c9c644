"""Rows for graphc/ops/misc.py: NumPy functions composed from primitives (COMPOSITE_CASES only)."""
from __future__ import annotations

import numpy as np

from op_cases import case

CASES: dict = {}

COMPOSITE_CASES = [
    case(lambda x, y: np.full_like(x, 2.0) * x + np.zeros_like(x) + np.ones_like(x) * np.full_like(x, np.sum(y)),
         (2, 3), (3,), id="np.*_like"),
    case(lambda x, y: np.append(x, y), (2, 3), (3,), id="np.append"),
    case(lambda x, y: np.append(x, y, axis=0), (2, 3), (1, 3), id="np.append-axis"),
    case(lambda x: np.sinc(x), (2, 3), id="np.sinc"),
    case(lambda x: np.nan_to_num(x, nan=-1.0), (4,), id="np.nan_to_num"),
    case(lambda a, b: np.linspace(a, b, 5), (), (), id="np.linspace"),
    case(lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1), (2,), (2,), id="np.linspace-arrays-axis"),
    case(lambda x: np.real_if_close(x), (3,), id="np.real_if_close"),
    case(lambda x: np.fft.fftshift(x), (3, 4), id="np.fft.fftshift"),
    case(lambda x: np.fft.ifftshift(x, axes=1), (3, 5), id="np.fft.ifftshift-axis"),
    case(lambda x: np.where(np.isreal(x) & ~np.iscomplex(x), x, 0.0), (2, 3), id="np.isreal-iscomplex"),
]
