"""Op test rows for graphc/ops/ufuncs.py; merged into op_cases.CASES."""
from __future__ import annotations

CASES: dict = {}
