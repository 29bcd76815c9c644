"""Op test rows for graphc/ops/signal.py (the ``convolve`` primitive); merged into op_cases.CASES.

Each row calls ``graphc.scipy.signal.convolve`` or ``np.convolve`` and is checked against SciPy's direct
sum (or NumPy itself). Ranks 1 to 3, odd and even sizes, both modes of the primitive and SciPy's 'same',
and operands in either order where SciPy swaps them ('valid') or keeps the first one's shape ('same').
Inputs are positive: a convolution is a sum of products, and signed terms that cancel would leave
results far smaller than their terms, beyond the float32 comparison's tolerance (as for einsum).
"""
from __future__ import annotations

import numpy as np
import scipy.signal

from graphc.ops import POSITIVE
from graphc.scipy import signal
from op_cases import case


def _scipy(shape_a, shape_b, mode, id):
    return case(lambda a, b: signal.convolve(a, b, mode=mode), shape_a, shape_b, id=id, domains=(POSITIVE, POSITIVE),
                expected=lambda a, b: scipy.signal.convolve(a, b, mode=mode, method="direct"))


def _numpy(shape_a, shape_b, mode, id):
    return case(lambda a, v: np.convolve(a, v, mode), shape_a, shape_b, id=id, domains=(POSITIVE, POSITIVE))


CASES = {
    "convolve": [
        _scipy((5,), (2,), "full", "1d-full"),
        _scipy((3,), (6,), "valid", "1d-valid-in2-larger"),
        _scipy((3,), (6,), "same", "1d-same-in2-larger"),
        _numpy((4,), (7,), "same", "np.convolve-same"),
        _scipy((4, 5), (3, 2), "full", "2d-full"),
        _scipy((5, 4), (2, 3), "valid", "2d-valid"),
        _scipy((4, 4), (2, 3), "same", "2d-same-even"),
        _scipy((2, 3, 4), (3, 2, 2), "same", "3d-same-mixed"),
    ],
}
