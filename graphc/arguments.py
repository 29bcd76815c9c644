"""Reading a call's arguments: argnums, static names, signature keys, and what a kernel is handed."""
from __future__ import annotations

import inspect

import numpy as np

from graphc.errors import GraphcError
from graphc.tracer import Tracer
from graphc.tree import TreeDef


def normalize_argnums(argnums, nargs: int, name: str) -> tuple[int, ...]:
    """``argnums`` (an int or a tuple of them, negatives counting from the end) as positions in a call
    with ``nargs`` positional arguments; a clear error for anything else."""
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    if not nums or not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise GraphcError(f"{name}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    out = []
    for i in nums:
        if not -nargs <= i < nargs:
            raise GraphcError(f"{name}: argnums {argnums!r} is out of range for a call with {nargs} "
                              f"positional argument{'s' if nargs != 1 else ''}")
        out.append(i % nargs)
    return tuple(out)


def signature_key(leaves: list, tree: TreeDef) -> tuple:
    """What a compiled function is specialised on: structure, shapes and dtypes, not values."""
    return (tree, tuple((np.shape(leaf), np.result_type(leaf) if not isinstance(leaf, Tracer) else leaf.dtype)
                        for leaf in leaves))


def kernel_args(leaves: list) -> list:
    """Call arguments for a kernel: 0-d arrays become scalars (Numba's scalar types)."""
    return [leaf[()] if type(leaf) is np.ndarray and leaf.ndim == 0 else leaf for leaf in leaves]


def zero_d_positions(leaves: list) -> tuple:
    """Positions of the leaves that arrive as 0-d arrays (the kernel takes those as scalars)."""
    return tuple(i for i, leaf in enumerate(leaves) if type(leaf) is np.ndarray and leaf.ndim == 0)


def example_argument(data: dict):
    """A value of a graph input's type, for compiling ahead of the first call."""
    if data["shape"] == ():
        return data["dtype"].type(0)
    return np.zeros(data["shape"], data["dtype"])


def as_tuple(value, kind: type, what: str, mode: str) -> tuple:
    """A ``static_argnums``/``static_argnames`` value as a tuple of ``kind``; a clear error otherwise."""
    values = (value,) if isinstance(value, kind) else tuple(value)
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise GraphcError(f"{mode}: {what} must be {'an int' if kind is int else 'a str'} or a tuple of them, "
                          f"got {value!r}")
    return values


def parameter_names(fun) -> list[str]:
    """The names of ``fun``'s positional parameters ([] when Python cannot tell, as for some builtins)."""
    try:
        return [p.name for p in inspect.signature(fun).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []
