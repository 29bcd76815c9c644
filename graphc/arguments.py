"""Reading a call's arguments: argnums, static names, signature keys, and what a kernel is handed."""
from __future__ import annotations

import inspect

import numpy as np

from graphc.errors import DifferentiationError, GradientTypeError, GraphcError
from graphc.graph import Graph, type_name
from graphc.tracer import Static, Tracer, is_static
from graphc.tree import TreeDef, tree_flatten


def differentiated_inputs(graph: Graph, args: tuple, argnums, name: str) -> tuple[tuple[int, ...], list[int]]:
    """The argument numbers ``argnums`` names, and the positions in ``graph.inputs`` (the traced call's
    dynamic leaves) of their leaves, in order; a DifferentiationError for a static or a non-float one."""
    nums = normalize_argnums(argnums, len(args), name)
    for i in nums:
        if isinstance(args[i], Static):
            raise DifferentiationError(f"{name}: argnums {argnums!r} includes argument {i}, which is static; "
                                       "a static argument is a constant of the compiled code and has no gradient")
    sizes = [sum(not is_static(leaf) for leaf in tree_flatten(a)[0]) for a in args]
    starts = np.cumsum([0] + sizes).tolist()
    positions = []
    for i in nums:
        for position in range(starts[i], starts[i + 1]):
            data = graph[graph.inputs[position]]
            if data["dtype"].kind != "f":
                raise GradientTypeError(
                    f"{name} of argument {i} ({data.get('name')}: {type_name(data['shape'], data['dtype'])}) "
                    "needs floating-point input; pass it as a float (3.0, not 3) or cast with .astype(float)")
            positions.append(position)
    return nums, positions


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
