"""Array manipulation: squeeze, ravel, moveaxis, tile, repeat, flip, roll, pad, split and stack variants, select."""
from __future__ import annotations
