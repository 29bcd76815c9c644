"""Graph passes (installed as ``graphc.passes``): differentiation now, optimization to follow.

A pass takes a Graph and returns a new one; the graph it is given is never changed.
"""
from graphc.passes.autodiff import differentiate

__all__ = ["differentiate"]
