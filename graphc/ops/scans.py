"""Reductions and scans beyond sum/max/min: prod, var, std, cumsum, cumprod, diff, sort, partition, gradient, argmax/argmin."""
from __future__ import annotations
