"""Op test rows for graphc/ops/contract.py and batched matmul; merged into op_cases.CASES.

Every function of the family is a composite (its rows are COMPOSITE_CASES). The matmul primitive's own row
lives in op_cases.py; its batch-broadcasting forms are checked here as composite rows (same three checks:
NumPy, finite differences, compiled) and in tests/test_contract.py for float32 and integers.
"""
from __future__ import annotations

import numpy as np

from graphc.ops import POSITIVE
from op_cases import case

CASES: dict = {}


def _einsum(spec, *shapes, id=None):
    # Positive inputs: NumPy's einsum loops and BLAS round float32 sums in different orders, and signed
    # inputs cancel to results far smaller than their terms, beyond the float32 comparison's tolerance.
    return case(lambda *xs: np.einsum(spec, *xs), *shapes, id=id or f"np.einsum-{spec}",
                domains=(POSITIVE,) * len(shapes))


COMPOSITE_CASES = [
    case(lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [2, 0]), (2, 3), (3, 4), id="np.einsum-interleaved"),
    # ---- matmul with batch axes (the primitive, N-d) ----
    case(lambda a, b: a @ b, (2, 3, 4), (2, 4, 5), id="matmul-batch"),
    case(lambda a, b: a @ b, (2, 3, 4), (4, 5), id="matmul-batch@mat"),
    case(lambda a, b: a @ b, (3, 4), (2, 4, 5), id="matmul-mat@batch"),
    case(lambda a, b: np.matmul(a, b), (2, 1, 3, 4), (5, 4, 2), id="matmul-broadcast-batch"),
    case(lambda a, b: a @ b, (2, 3, 4), (4,), id="matmul-batch@vec"),
    case(lambda a, b: a @ b, (4,), (2, 4, 5), id="matmul-vec@batch"),
    case(lambda a, b: a @ b, (1, 3, 4), (2, 4, 1), id="matmul-size1-batch"),
    # ---- np.dot of N-d operands: last axis of a with second-to-last of b ----
    case(lambda a, b: np.dot(a, b), (2, 3, 4), (5, 4, 2), id="np.dot-3d@3d"),
    case(lambda a, b: np.dot(a, b), (2, 3, 4), (4,), id="np.dot-3d@vec"),
    case(lambda a, b: a.dot(b), (3,), (2, 3, 4), id="np.dot-vec@3d"),
    # ---- outer, inner ----
    case(lambda a, b: np.outer(a, b), (3,), (4,), id="np.outer"),
    case(lambda a, b: np.outer(a, b), (2, 2), (3,), id="np.outer-flattens"),
    case(lambda a: np.outer(a, np.arange(3.0)), (2,), id="np.outer-const"),
    case(lambda a, b: np.inner(a, b), (3,), (3,), id="np.inner-vec"),
    case(lambda a, b: np.inner(a, b), (2, 3), (4, 3), id="np.inner-mat"),
    case(lambda a, b: np.inner(a, b), (2, 2, 3), (3,), id="np.inner-3d-vec"),
    case(lambda a, b: np.inner(a, b), (), (2, 3), id="np.inner-scalar"),
    # ---- tensordot: every axes form ----
    case(lambda a, b: np.tensordot(a, b), (2, 3, 4), (3, 4, 5), id="np.tensordot-default"),
    case(lambda a, b: np.tensordot(a, b, axes=1), (2, 3), (3, 4), id="np.tensordot-1"),
    case(lambda a, b: np.tensordot(a, b, axes=0), (2,), (3, 2), id="np.tensordot-0"),
    case(lambda a, b: np.tensordot(a, b, axes=(1, 0)), (2, 3), (3, 4), id="np.tensordot-int-pair"),
    case(lambda a, b: np.tensordot(a, b, axes=(-1, 1)), (3, 4, 5), (2, 5), id="np.tensordot-negative"),
    case(lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 1])), (3, 4, 5), (4, 3, 2), id="np.tensordot-lists"),
    case(lambda a, b: np.tensordot(a, b, axes=[[0, 2], [2, 1]]), (2, 3, 4), (5, 4, 2), id="np.tensordot-permuted"),
    case(lambda a, b: np.tensordot(a, b, axes=3), (2, 3, 4), (2, 3, 4), id="np.tensordot-full"),
    # ---- einsum ----
    _einsum("ij,jk->ik", (2, 3), (3, 4)),
    _einsum("ij,jk", (2, 3), (3, 4), id="np.einsum-implicit-matmul"),
    _einsum("ij,kj->ik", (2, 3), (4, 3)),
    _einsum("i,i->", (3,), (3,)),
    _einsum("i,i", (3,), (3,), id="np.einsum-implicit-dot"),
    _einsum("i,j->ij", (2,), (3,)),
    _einsum("ij,ij->ij", (2, 3), (2, 3)),
    _einsum("ij,ij->", (2, 3), (2, 3)),
    _einsum("ji", (3, 2), id="np.einsum-implicit-transpose"),
    _einsum("ijk->kij", (2, 3, 4)),
    _einsum("ij->", (2, 3)),
    _einsum("ij->j", (2, 3)),
    _einsum("ii->i", (3, 3)),
    _einsum("ii", (3, 3), id="np.einsum-implicit-trace"),
    _einsum("iji->j", (3, 2, 3)),
    _einsum("ii,i->i", (3, 3), (3,)),
    _einsum("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    _einsum("bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 2, 4)),
    _einsum("bi,bi->b", (4, 3), (4, 3)),
    _einsum("...ij,...jk->...ik", (2, 3, 4), (4, 5)),
    _einsum("...i,...i", (2, 1, 3), (4, 3), id="np.einsum-implicit-ellipsis-broadcast"),
    _einsum("i...->...", (3, 2)),
    _einsum("ij,ij->ij", (3, 1), (3, 2), id="np.einsum-size1-broadcast"),
    _einsum("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
    _einsum("i,j,k->ijk", (2,), (3,), (2,)),
    _einsum("bi,bj,ij->b", (2, 3), (2, 4), (3, 4)),
    _einsum("ij,jk,ki", (2, 3), (3, 4), (4, 2), id="np.einsum-implicit-three-trace"),
    case(lambda a: np.einsum("ij,jk->ik", a, np.ones((3, 2))), (2, 3), id="np.einsum-const"),
    case(lambda a, b: np.einsum("ij,jk->ik", a, b, optimize=True), (2, 3), (3, 4), id="np.einsum-optimize"),
    # ---- kron ----
    case(lambda a, b: np.kron(a, b), (2, 3), (2, 2), id="np.kron-2d"),
    case(lambda a, b: np.kron(a, b), (3,), (2,), id="np.kron-1d"),
    case(lambda a, b: np.kron(a, b), (3,), (2, 2), id="np.kron-1d-2d"),
    case(lambda a, b: np.kron(a, b), (), (2, 3), id="np.kron-scalar"),
    # ---- cross ----
    case(lambda a, b: np.cross(a, b), (3,), (3,), id="np.cross-3"),
    case(lambda a, b: np.cross(a, b), (4, 3), (3,), id="np.cross-broadcast"),
    case(lambda a, b: np.cross(a, b, axis=0), (3, 4), (3, 4), id="np.cross-axis0"),
    case(lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), (3, 2), (2, 3), id="np.cross-axisabc"),
    case(lambda a, b: np.cross(a, b), (4, 2), (4, 2), id="np.cross-2"),
    case(lambda a, b: np.cross(a, b), (2,), (3,), id="np.cross-2-3"),
    # ---- trace, diagonal, diag ----
    case(lambda a: np.trace(a), (3, 3), id="np.trace"),
    case(lambda a: np.trace(a, 1), (3, 4), id="np.trace-offset"),
    case(lambda a: np.trace(a, offset=-1), (4, 3), id="np.trace-negative-offset"),
    case(lambda a: np.trace(a, 0, 2, 0), (3, 2, 3), id="np.trace-axes"),
    case(lambda a: a.trace(axis1=-1, axis2=-2), (2, 3, 3), id="method-trace"),
    case(lambda a: np.diagonal(a), (3, 4), id="np.diagonal"),
    case(lambda a: np.diagonal(a, 1), (3, 4), id="np.diagonal-offset"),
    case(lambda a: np.diagonal(a, -2), (4, 3), id="np.diagonal-negative-offset"),
    case(lambda a: np.diagonal(a, 1, 2, 0), (3, 2, 4), id="np.diagonal-axes"),
    case(lambda a: a.diagonal(axis1=1, axis2=2), (2, 3, 3), id="method-diagonal"),
    case(lambda a: np.diag(a), (3,), id="np.diag-1d"),
    case(lambda a: np.diag(a, 1), (3,), id="np.diag-1d-k1"),
    case(lambda a: np.diag(a, k=-2), (2,), id="np.diag-1d-k-2"),
    case(lambda a: np.diag(a), (3, 3), id="np.diag-2d"),
    case(lambda a: np.diag(a, -1), (3, 4), id="np.diag-2d-k-1"),
    # ---- triu, tril ----
    case(lambda a: np.triu(a), (3, 4), id="np.triu"),
    case(lambda a: np.triu(a, 1), (4, 3), id="np.triu-k1"),
    case(lambda a: np.triu(a, k=-1), (2, 3, 3), id="np.triu-batch"),
    case(lambda a: np.tril(a), (3, 3), id="np.tril"),
    case(lambda a: np.tril(a, -1), (3, 4), id="np.tril-k-1"),
    case(lambda a: np.tril(a, 2), (2, 2, 4), id="np.tril-batch"),
    case(lambda a: np.tril(a), (3,), id="np.tril-1d"),
]
