"""The Python wrapper around a compiled kernel, kept to one small function per signature.

Calling a Numba dispatcher costs about 0.15 us; everything the wrapper adds is measured against
that. So the wrapper for a signature is generated once as straight-line Python, with the result
structure written out (``return (o[0], (o[1], o[2]))``) instead of walking a pytree per call.
The generated text holds only positions and names from this module; dict keys, dtypes and the
dispatcher enter through the namespace, never as pasted text.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from graphc.graph import Graph
from graphc.tree import TreeDef, is_tuple_tree


def _scalar_converter(dtype: np.dtype):
    # Numba hands back Python floats, ints and bools; other dtypes (float32…) are restored.
    return None if dtype in (np.float64, np.int64, np.bool_) else dtype.type


def structure_source(tree: TreeDef, leaf: Callable[[int], str], namespace: dict) -> str:
    """Source that builds a value of structure ``tree``; ``leaf(i)`` is the expression of leaf ``i``.
    Dict keys go into ``namespace`` (as ``K<n>``), never into the text."""
    return _structure(tree, leaf, [0], namespace)


def _structure(tree: TreeDef, leaf: Callable[[int], str], counter: list, namespace: dict) -> str:
    if tree.kind == "leaf":
        counter[0] += 1
        return leaf(counter[0] - 1)
    if tree.kind == "none":
        return "None"
    children = [_structure(c, leaf, counter, namespace) for c in tree.children]
    inner = ", ".join(children) + ("," if len(children) == 1 else "")
    if tree.kind == "dict":
        keys = f"K{len(namespace)}"
        namespace[keys] = tree.keys
        return f"dict(zip({keys}, ({inner})))"
    return f"[{inner}]" if tree.kind == "list" else f"({inner})"


def _leaf_paths(tree: TreeDef, prefix: str = "o") -> list[str]:
    """Where each leaf sits in a tuple-tree result: ``o``, ``o[1][0]``…"""
    if tree.kind == "leaf":
        return [prefix]
    return [p for i, c in enumerate(tree.children) for p in _leaf_paths(c, f"{prefix}[{i}]")]


def make_runner(graph: Graph, dispatcher, zero_d_arrays: tuple[int, ...] = (), sizes: tuple = ()) -> Callable:
    """``run(*leaves)``: call ``dispatcher`` and hand back the result pytree.

    ``zero_d_arrays`` are the positions of leaves that arrive as 0-d ndarrays; the kernel takes
    those as scalars. ``sizes``: the ints a shape-generic kernel takes first (codegen.compile).
    Where nothing needs converting, the dispatcher itself is the runner (with the sizes bound by a
    ``functools.partial``, which adds about 0.05 us).
    """
    tree = graph.out_tree
    converters = {i: c for i, node in enumerate(graph.outputs)
                  if graph[node]["shape"] == () and (c := _scalar_converter(graph[node]["dtype"])) is not None}
    structured = is_tuple_tree(tree)  # then the kernel already returns the final structure
    call = functools.partial(dispatcher, *sizes) if sizes else dispatcher
    if structured and not converters and not zero_d_arrays:
        return call
    namespace: dict = {"D": call}
    namespace.update({f"C{i}": c for i, c in converters.items()})
    paths = _leaf_paths(tree) if structured else [f"o[{i}]" for i in range(len(graph.outputs))]
    leaf = lambda i: f"C{i}({paths[i]})" if i in converters else paths[i]  # noqa: E731
    params = [f"a{i}" for i in range(len(graph.inputs))]
    call_args = [f"a{i}[()]" if i in zero_d_arrays else f"a{i}" for i in range(len(graph.inputs))]
    source = (f"def run({', '.join(params)}):\n"
              f"    o = D({', '.join(call_args)})\n"
              f"    return {structure_source(tree, leaf, namespace)}\n")
    exec(source, namespace)  # noqa: S102 -- positions and fixed names only
    return namespace["run"]


def array_key(args) -> tuple:
    """The part of a flat call's signature its types do not fix: shape and dtype of each array."""
    return tuple(part for a in args if type(a) is np.ndarray for part in (a.shape, a.dtype))


def make_router(types: tuple, slow: Callable) -> tuple[Callable, dict]:
    """A function for calls whose argument types are ``types``: it finds the runner by the
    arrays' shapes and dtypes (the same key as :func:`array_key`), or hands the call to ``slow``."""
    arrays = [i for i, t in enumerate(types) if t is np.ndarray]
    params = ", ".join(f"a{i}" for i in range(len(types)))
    key = ", ".join(f"a{i}.shape, a{i}.dtype" for i in arrays) + ("," if arrays else "")
    table: dict = {}
    namespace = {"T": table, "S": slow}
    exec(f"def route({params}):\n"  # noqa: S102 -- positions only
         f"    run = T.get(({key}))\n"
         f"    if run is None:\n"
         f"        return S(({params}{',' if types else ''}))\n"
         f"    return run({params})\n", namespace)
    return namespace["route"], table
