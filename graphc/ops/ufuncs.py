"""More elementwise NumPy functions: inverse and hyperbolic trigonometry, exp2/log2/log10, rounding, clip, ..."""
from __future__ import annotations
