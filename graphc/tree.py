"""Pytrees: nested tuples, lists and dicts (string keys) of leaves, flattened and rebuilt.

>>> leaves, tree = tree_flatten({"w": 1.0, "b": (2.0, None)})
>>> leaves
[2.0, 1.0]
>>> tree_unflatten(tree, [20.0, 10.0])
{'b': (20.0, None), 'w': 10.0}

``ravel_pytree`` turns a pytree of arrays into one flat vector and back (for scipy.optimize).

Dict keys are visited in sorted order, as JAX does, so equal structures flatten alike.
``None`` is an empty subtree, not a leaf.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from graphc.errors import GraphcError


class TreeDef(NamedTuple):
    """The structure of a pytree: a node kind, its keys or length, and its children's structures."""

    kind: str  # "leaf", "none", "tuple", "list" or "dict"
    keys: tuple
    children: tuple

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children))
        else:  # a tuple of one is written (*,), as Python writes it
            inner = ", ".join(repr(c) for c in self.children) + ("," if self.kind == "tuple" and len(self.children) == 1
                                                                   else "")
        return {"tuple": "({})", "list": "[{}]", "dict": "{{{}}}"}[self.kind].format(inner)

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)


LEAF = TreeDef("leaf", (), ())


def is_tuple_tree(tree: TreeDef) -> bool:
    """True for a leaf or nested tuples of leaves: structures a Numba function can return as they are."""
    return tree.kind == "leaf" or (tree.kind == "tuple" and all(map(is_tuple_tree, tree.children)))


def tuple_tree_source(tree: TreeDef, leaves: list[str]) -> str:
    """Python source building a tuple tree from the leaf expressions: ``(a, (b, c))``."""
    it = iter(leaves)

    def build(t: TreeDef) -> str:
        if t.kind == "leaf":
            return next(it)
        inner = [build(c) for c in t.children]
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"

    return build(tree)


def tree_flatten(tree: Any) -> tuple[list, TreeDef]:
    """Split a pytree into its list of leaves and its structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves: list) -> TreeDef:
    if tree is None:
        return TreeDef("none", (), ())
    if isinstance(tree, (tuple, list)):
        kind = "list" if isinstance(tree, list) else "tuple"
        return TreeDef(kind, (), tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise GraphcError(f"pytree dicts need string keys, got {sorted(map(repr, tree))}")
        keys = tuple(sorted(tree))
        return TreeDef("dict", keys, tuple(_flatten(tree[k], leaves) for k in keys))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves) -> Any:
    """Rebuild a pytree of structure ``treedef`` from ``leaves``."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    if next(it, _END) is not _END:
        raise GraphcError(f"too many leaves for pytree structure {treedef!r}")
    return out


_END = object()


def _unflatten(treedef: TreeDef, it):
    if treedef.kind == "leaf":
        leaf = next(it, _END)
        if leaf is _END:
            raise GraphcError(f"too few leaves for pytree structure {treedef!r}")
        return leaf
    if treedef.kind == "none":
        return None
    children = [_unflatten(c, it) for c in treedef.children]
    if treedef.kind == "dict":
        return dict(zip(treedef.keys, children))
    return children if treedef.kind == "list" else tuple(children)


def ravel_pytree(tree: Any):
    """Flatten a pytree of arrays and numbers into one float64 vector, and a function to undo it.

    >>> flat, unravel = ravel_pytree({"w": np.ones((2, 2)), "b": 0.5})
    >>> flat
    array([0.5, 1. , 1. , 1. , 1. ])
    >>> unravel(flat * 2)["w"]
    array([[2., 2.],
           [2., 2.]])

    Meant for optimizers that want a flat vector (``scipy.optimize.minimize``): the leaves keep
    their shapes and dtypes when unravelled; a Python float leaf comes back as a NumPy float.
    """
    leaves, treedef = tree_flatten(tree)
    arrays = [np.asarray(leaf) for leaf in leaves]
    shapes = [a.shape for a in arrays]
    dtypes = [a.dtype for a in arrays]
    sizes = [a.size for a in arrays]
    flat = np.concatenate([a.ravel().astype(np.float64) for a in arrays]) if arrays else np.zeros(0)

    def unravel(vector) -> Any:
        vector = np.asarray(vector)
        if vector.shape != flat.shape:
            raise GraphcError(f"unravel expects a vector of shape {flat.shape}, got {vector.shape}")
        parts, start = [], 0
        for shape, dtype, size in zip(shapes, dtypes, sizes):
            part = vector[start:start + size].reshape(shape).astype(dtype)
            parts.append(part[()] if shape == () else part)
            start += size
        return tree_unflatten(treedef, parts)

    return flat, unravel
