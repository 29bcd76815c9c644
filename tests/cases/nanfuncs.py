"""Rows for graphc/ops/nanfuncs.py: composites only (no primitives of their own).

NaN-carrying inputs (SPECIAL) check values against NumPy, not finite differences; REAL inputs check the
gradients too. Warnings NumPy gives for all-NaN slices are its own, not graphc's.
"""
from __future__ import annotations

import numpy as np

from graphc.ops import POSITIVE, REAL
from op_cases import SPECIAL, case

CASES: dict = {}

_WEIGHTS = np.array([0.5, 1.0, 2.0, 1.5])

COMPOSITE_CASES = [
    case(lambda x: np.nansum(x, axis=1), (3, 4), id="np.nansum-axis1"),
    case(lambda x: np.nansum(x), (3, 4), id="np.nansum-nan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.nanprod(x, axis=0, keepdims=True), (3, 4), id="np.nanprod-keepdims"),
    case(lambda x: np.nancumsum(x, axis=1), (3, 4), id="np.nancumsum-axis1"),
    case(lambda x: np.nancumsum(x), (3, 4), id="np.nancumsum-nan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.nancumprod(x, axis=0), (3, 4), id="np.nancumprod-axis0"),
    case(lambda x: np.nancumprod(x), (4, 3), id="np.nancumprod-nan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.nanmean(x), (3, 4), id="np.nanmean"),
    case(lambda x: np.nanmean(x, axis=0), (5, 2), id="np.nanmean-nan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.nanvar(x, axis=1, ddof=1), (3, 4), id="np.nanvar-ddof1"),
    case(lambda x: np.nanstd(x, axis=0), (6, 3), id="np.nanstd-nan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.nanmax(x, axis=1), (3, 4), id="np.nanmax-axis1"),
    case(lambda x: np.nanmin(x), (4, 3), id="np.nanmin-nan", domains=(SPECIAL,), fd=False),
    case(lambda x: np.ptp(x, axis=0), (3, 4), id="np.ptp-axis0"),
    case(lambda x: np.average(x, axis=1, weights=_WEIGHTS), (3, 4), id="np.average-weights-axis1"),
    case(lambda x, w: np.average(x, weights=w, returned=True)[0], (2, 3), (2, 3), id="np.average-traced-weights",
         domains=(REAL, POSITIVE)),
    case(lambda x: np.stack(np.average(x, axis=0, returned=True)), (3, 4), id="np.average-returned"),
    case(lambda x: np.round(x * 7.3) * x + np.around(x, 1), (5,), id="np.round"),
    case(lambda x: np.heaviside(x, 0.5) * x, (6,), id="np.heaviside"),
    case(lambda x: np.heaviside(np.round(x), x), (6,), id="np.heaviside-at-zero", domains=(SPECIAL,), fd=False),
    case(lambda x, y: np.vdot(x, y), (2, 3), (6,), id="np.vdot"),
    case(lambda x: np.where(np.any(x > 1.0, axis=1, keepdims=True), x, -x), (3, 4), id="np.any"),
    case(lambda x: np.where(np.all(x > -1.0), x, 2.0 * x), (3, 4), id="np.all"),
    case(lambda x: np.where(x.any(axis=0) & x.all(), x.round(1) * x, x.copy()), (3, 4),
         id="methods-any-all-round-copy"),
    case(lambda x, y: np.stack(np.meshgrid(x, y)), (3,), (2,), id="np.meshgrid"),
    case(lambda x, y, z: np.meshgrid(x, y, z, indexing="ij", sparse=True)[2] * z, (2,), (3,), (4,),
         id="np.meshgrid-ij-sparse"),
    case(lambda x: np.where(np.isclose(x, np.round(x, 1), atol=0.02), x, -x), (6,), id="np.isclose"),
    case(lambda x: np.isclose(x, 1.5, equal_nan=True), (7,), id="np.isclose-special", domains=(SPECIAL,), fd=False),
    case(lambda x: np.count_nonzero(x > 0, axis=1) * x[:, 0], (3, 4), id="np.count_nonzero"),
    case(lambda x: np.cov(x), (3, 5), id="np.cov"),
    case(lambda x, y: np.cov(x, y, rowvar=False, bias=True), (4, 2), (4, 1), id="np.cov-y-rowvar"),
    case(lambda x: np.corrcoef(x), (3, 5), id="np.corrcoef"),
    case(lambda x: np.interp(x, [-1.0, -0.2, 0.3, 1.5], [0.5, 2.0, -1.0, 4.0]), (3, 4), id="np.interp"),
    case(lambda x, fp: np.interp(x, [-1.0, 0.05, 1.0], fp, left=-3.0), (7,), (3,), id="np.interp-traced-fp"),
    case(lambda x: np.interp(x, [-1.0, 0.0, 1.0], [0.5, 2.0, -1.0]), (7,), id="np.interp-special",
         domains=(SPECIAL,), fd=False),
]
