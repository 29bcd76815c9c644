"""Op test rows for graphc/ops/lapack.py (np.linalg); merged into op_cases.CASES.

Inputs are random matrices, so each row first makes the matrix its function needs from them: a
symmetric positive-definite one for cholesky and eigh (``_spd``), a well-conditioned one for solves
(``_shifted``). Each row returns one array (a weighted mix of a factorization's results), so the
table's finite-difference, forward-mode, batching and compiled checks see every result's gradient.
The composite functions (norm in each form, pinv, lstsq, matrix_power, multi_dot) are
COMPOSITE_CASES.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from graphc.ops import apply
from op_cases import case


def _spd(m):
    return m @ np.swapaxes(m, -1, -2) + m.shape[-1] * np.eye(m.shape[-1])


def _shifted(m):
    return m + 3.0 * np.eye(m.shape[-1])


def _weights(shape):
    return np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)


def _eigh_mix(m):
    w, v = np.linalg.eigh(m + np.swapaxes(m, -1, -2))
    return w * 0.5 + np.sum(v * v * _weights(v.shape[-2:]), axis=-1)  # v * v: eigenvectors' signs are free


def _svd_mix(m):
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    return np.sum(u * u * _weights(u.shape[-2:]), axis=-1)[..., :s.shape[-1]] + s


def _qr_mix(m):
    q, r = np.linalg.qr(m)
    return np.sum(q * _weights(q.shape[-2:]), axis=-2) + np.sum(r * r, axis=-2)


CASES = {
    "cholesky": [
        case(lambda m: np.linalg.cholesky(_spd(m)), (3, 3), id="3x3"),
        case(lambda m: np.linalg.cholesky(_spd(m)), (2, 3, 3), id="batched"),
    ],
    "solve": [
        case(lambda m, b: np.linalg.solve(_shifted(m), b), (3, 3), (3, 2), id="matrix"),
        case(lambda m, b: np.linalg.solve(_shifted(m), b), (3, 3), (3,), id="vector"),
        case(lambda m, b: np.linalg.solve(_shifted(m), b), (2, 3, 3), (3, 1), id="batch-broadcast"),
    ],
    "inv": [
        case(lambda m: np.linalg.inv(_shifted(m)), (3, 3), id="3x3"),
        case(lambda m: np.linalg.inv(_shifted(m)), (2, 3, 3), id="batched"),
    ],
    "slogdet": [
        case(lambda m: np.linalg.slogdet(m)[1], (3, 3), id="logabsdet"),
        case(lambda m: np.linalg.slogdet(m).sign * np.linalg.slogdet(m).logabsdet, (2, 3, 3), id="batched"),
        case(lambda m: np.linalg.det(m), (3, 3), id="det"),
    ],
    "eigh": [
        case(_eigh_mix, (3, 3), id="3x3"),
        case(_eigh_mix, (2, 3, 3), id="batched"),
        case(lambda m: np.linalg.eigvalsh(_spd(m), UPLO="U"), (3, 3), id="eigvalsh-upper"),
        # UPLO='U': LAPACK reduces the other triangle, giving eigenvectors of other signs than 'L'; v itself
        # (not v * v) checks that both tiers give NumPy's.
        case(lambda m: np.sum(np.linalg.eigh(m, UPLO="U")[1] * _weights((3, 3)), axis=-1), (2, 3, 3),
             id="upper-vectors"),
    ],
    "svd": [
        case(_svd_mix, (4, 3), id="tall"),
        case(_svd_mix, (3, 4), id="wide"),
        case(_svd_mix, (2, 3, 3), id="batched"),
        case(lambda m: np.linalg.svd(m, compute_uv=False), (4, 2), id="values"),
    ],
    "qr": [
        case(_qr_mix, (4, 3), id="tall"),
        case(_qr_mix, (2, 3, 3), id="batched"),
        case(lambda m: np.linalg.qr(m, mode="r"), (3, 2), id="r"),
    ],
}

COMPOSITE_CASES = [
    case(lambda x: np.linalg.norm(x), (2, 3, 4), id="norm-flat"),
    case(lambda x: np.linalg.norm(x, keepdims=True), (2, 3), id="norm-keepdims"),
    case(lambda x: np.linalg.norm(x, axis=1), (2, 3), id="norm-rows"),
    case(lambda x: np.linalg.norm(x, 3, axis=0), (2, 3), id="norm-p3"),
    case(lambda x: np.linalg.norm(x, np.inf), (4,), id="norm-vec-inf"),
    case(lambda x: np.linalg.norm(x, -np.inf, axis=-1), (2, 4), id="norm-vec-minf"),
    case(lambda x: np.linalg.norm(x, 1), (4,), id="norm-vec-1"),
    case(lambda x: np.linalg.norm(x, 0.5), (4,), id="norm-vec-half"),
    case(lambda x: np.linalg.norm(x, "fro"), (3, 4), id="norm-fro"),
    case(lambda x: np.linalg.norm(x, "nuc"), (3, 4), id="norm-nuc"),
    case(lambda x: np.linalg.norm(x, 2), (4, 3), id="norm-2"),
    case(lambda x: np.linalg.norm(x, -2), (3, 3), id="norm-minus-2"),
    case(lambda x: np.linalg.norm(x, 1), (3, 4), id="norm-mat-1"),
    case(lambda x: np.linalg.norm(x, -np.inf), (3, 4), id="norm-mat-minf"),
    case(lambda x: np.linalg.norm(x, 2, axis=(0, 2), keepdims=True), (3, 2, 4), id="norm-axes"),
    case(lambda x: np.linalg.vector_norm(x, ord=3), (2, 3), id="vector_norm"),
    case(lambda x: np.linalg.matrix_norm(x, ord="nuc"), (2, 3, 3), id="matrix_norm"),
    case(lambda x: np.linalg.pinv(x), (4, 3), id="pinv"),
    case(lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0], (5, 3), (5, 2), id="lstsq"),
    case(lambda a, b: np.linalg.lstsq(a, b, rcond=None)[1], (5, 3), (5,), id="lstsq-residuals"),
    case(lambda x: np.linalg.matrix_power(x, 5), (3, 3), id="matrix_power"),
    case(lambda x: np.linalg.matrix_power(_shifted(x), -2), (2, 3, 3), id="matrix_power-negative"),
    case(lambda a, b, c: np.linalg.multi_dot([a, b, c]), (4,), (4, 2), (2, 3), id="multi_dot"),
]

CASES["solve_triangular"] = [
    case(lambda m, b: apply("solve_triangular", np.tril(m) + 3.0 * np.eye(3), b, lower=True, trans=False), (3, 3),
         (3, 2), id="lower", expected=lambda m, b: scipy.linalg.solve_triangular(np.tril(m) + 3 * np.eye(3), b, lower=True)),
    case(lambda m, b: apply("solve_triangular", m + 3.0 * np.eye(3), b, lower=False, trans=True), (2, 3, 3),
         (2, 3, 1), id="upper-transposed-batched",
         expected=lambda m, b: np.stack([scipy.linalg.solve_triangular(a + 3 * np.eye(3), c, lower=False, trans=1)
                                         for a, c in zip(m, b)])),
]
