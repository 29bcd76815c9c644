"""Advanced indexing: integer-array gathers and static boolean masks, whose adjoint is a scatter-add."""
from __future__ import annotations
