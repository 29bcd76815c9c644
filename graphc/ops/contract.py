"""Linear algebra beyond 2-d matmul: batched matmul, outer, inner, tensordot, einsum, kron, cross, trace, diag, triu/tril."""
from __future__ import annotations
