"""``graphc.vmap``: a function of one example, mapped over a batch axis by a graph pass.

The function is traced once on one example (the mapped axes removed from its arguments); the batching
pass (:mod:`graphc.passes.batching`) then rebuilds each node over a leading batch axis, and the mapped
arguments' axes are moved to the front and the outputs' batch axis to ``out_axes``. The result is an
ordinary graph: it is optimized, compiled per signature and differentiated like any other, so
``vmap(grad(f))`` gives per-example gradients and ``grad(vmap(f))`` works too.

``in_axes`` and ``out_axes`` follow JAX: an int (negative counts from the end), None (not mapped:
the same for every example), or, for ``in_axes``, a tuple or list with one entry per positional
argument, each an int, None or a pytree of them matching (a prefix of) that argument. Keyword
arguments are mapped over their axis 0.
"""
from __future__ import annotations

import numpy as np

from graphc.dims import new_scope
from graphc.errors import TracingError, user_frame
from graphc.graph import Graph
from graphc.ops import apply
from graphc.tracer import (
    Tracer, _leaf_paths, add_constant, argument_inputs, argument_labels, building, current_graph, flatten_call,
    is_static, trace_function,
)
from graphc.tree import tree_flatten, tree_unflatten


class BatchingError(TracingError, ValueError):
    """``in_axes``/``out_axes`` that do not fit the arguments or results (a ``ValueError`` too, as in
    JAX); the message ends with the user's line that called the mapped function."""

    def __init__(self, message: str):
        super().__init__(message, user_frame())


def mapped_graph(fun, args: tuple, kwargs: dict, in_axes, out_axes) -> Graph:
    """The graph of ``vmap(fun, in_axes, out_axes)(*args, **kwargs)``, unoptimized."""
    leaves, in_tree = flatten_call(args, kwargs)
    labels = argument_labels(fun, [_leaf_paths(a) for a in args], kwargs)
    graph = Graph()
    graph.in_tree, graph.dim_scope = in_tree, new_scope()
    with building(graph):
        values = argument_inputs(graph, leaves, labels)
        outputs, graph.out_tree = _mapped(fun, args, kwargs, leaves, values, in_axes, out_axes)
    graph.outputs = [v.node for v in outputs]
    return graph


def mapped_call(fun, args: tuple, kwargs: dict, in_axes, out_axes):
    """``vmap(fun, in_axes, out_axes)(*args, **kwargs)`` called inside another transformation: the
    batched nodes go straight into the graph being built, and ``fun`` may read its values."""
    graph = current_graph()
    leaves, _ = flatten_call(args, kwargs)
    values = [leaf if is_static(leaf) or isinstance(leaf, Tracer) else Tracer(graph, add_constant(graph, leaf))
              for leaf in leaves]
    outputs, out_tree = _mapped(fun, args, kwargs, leaves, values, in_axes, out_axes, parent=graph)
    return tree_unflatten(out_tree, outputs)


def _mapped(fun, args, kwargs, leaves, values, in_axes, out_axes, parent=None):
    """Trace ``fun`` on one example and build it batched from ``values`` (the call's leaves as tracers
    of the graph being built, static ones as they are); returns the output tracers and structure."""
    from graphc.passes.batching import batch_nodes

    axes = _leaf_axes(in_axes, args, kwargs)
    size = _batch_size(leaves, axes)
    examples = [leaf if axis is None or is_static(leaf) else _one_example(leaf, axis)
                for leaf, axis in zip(leaves, axes)]
    _, in_tree = flatten_call(args, kwargs)
    rebuilt = tree_unflatten(in_tree, examples)
    example = trace_function(fun, *((rebuilt[0], rebuilt[1]) if kwargs else (rebuilt, {})), parent=parent)
    batched: dict = {}
    dynamic = [(value, axis) for value, axis in zip(values, axes) if isinstance(value, Tracer)]
    for node, (value, axis) in zip(example.inputs, dynamic):
        if axis not in (None, 0):  # the batch axis first, the others in order
            rest = [i for i in range(value.ndim) if i != axis]
            value = apply("transpose", value, axes=(axis, *rest))
        batched[node] = (value, axis is not None)
    for outer, node in example.captures.items():  # values of the enclosing trace that fun read
        batched[node] = (Tracer(parent, outer), False)
    batch_nodes(example, [n for n in example.topo_order() if n not in batched], batched)
    outputs = []
    for node, axis in zip(example.outputs, _output_axes(out_axes, example)):
        value, varies = batched[node]
        if axis is None:
            if varies:
                raise BatchingError("vmap: out_axes is None for an output that varies over the batch; "
                                    "give it an axis")
            outputs.append(value)
            continue
        if not varies:
            value = apply("broadcast_to", value, shape=(size,) + tuple(value.shape))
        axis = _axis(axis, value.ndim, "out_axes")
        if axis:
            rest = list(range(1, value.ndim))
            value = apply("transpose", value, axes=(*rest[:axis], 0, *rest[axis:]))
        outputs.append(value)
    return outputs, example.out_tree


def _one_example(leaf, axis: int) -> np.ndarray:
    """A stand-in for one example of ``leaf`` (zeros without the mapped axis): only its type is traced."""
    shape = np.shape(leaf) if not isinstance(leaf, Tracer) else tuple(leaf.shape)
    dtype = leaf.dtype if isinstance(leaf, Tracer) else np.asarray(leaf).dtype
    return np.zeros(shape[:axis] + shape[axis + 1:], dtype)


def _axis(axis, ndim: int, what: str) -> int:
    """``axis`` of a value with ``ndim`` dimensions, made non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise BatchingError(f"vmap: {what} entries are ints or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise BatchingError(f"vmap: {what} axis {axis} is out of range for a value of {ndim} dimension(s)")
    return int(axis) % ndim


def _leaf_axes(in_axes, args: tuple, kwargs: dict) -> list:
    """One mapped axis (non-negative) or None per leaf of the call (keywords: axis 0)."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple):
        if len(in_axes) != len(args):
            raise BatchingError(f"vmap: in_axes has {len(in_axes)} entries for {len(args)} positional arguments")
        per_arg = [_broadcast_prefix(a, x, f"in_axes[{i}]") for i, (a, x) in enumerate(zip(in_axes, args))]
    else:
        per_arg = [_broadcast_prefix(in_axes, x, "in_axes") for x in args]
    axes = [axis for arg_axes in per_arg for axis in arg_axes]
    if kwargs:
        axes += _broadcast_prefix(0, kwargs, "keyword arguments")
    leaves, _ = flatten_call(args, kwargs)
    return [None if axis is None or is_static(leaf) else _axis(axis, _ndim(leaf), "in_axes")
            for leaf, axis in zip(leaves, axes)]


def _broadcast_prefix(axes, value, where: str) -> list:
    """``axes`` (an int, None or a pytree prefix of ``value``) as one entry per leaf of ``value``."""
    if axes is None or isinstance(axes, (int, np.integer)):
        return [axes] * len(tree_flatten(value)[0])
    if isinstance(axes, dict) and isinstance(value, dict) and set(axes) == set(value):
        return [a for k in sorted(value) for a in _broadcast_prefix(axes[k], value[k], f"{where}[{k!r}]")]
    if isinstance(axes, (tuple, list)) and isinstance(value, (tuple, list)) and len(axes) == len(value):
        return [a for i, (x, v) in enumerate(zip(axes, value)) for a in _broadcast_prefix(x, v, f"{where}[{i}]")]
    raise BatchingError(f"vmap: {where} is {axes!r}, which does not match the structure of its argument; give an "
                        "int, None, or a tuple/list/dict of them shaped like the argument")


def _ndim(leaf) -> int:
    return leaf.ndim if isinstance(leaf, Tracer) else np.ndim(leaf)


def _batch_size(leaves: list, axes: list) -> int:
    sizes = {}
    for i, (leaf, axis) in enumerate(zip(leaves, axes)):
        if axis is not None:
            sizes.setdefault(int((leaf.shape if isinstance(leaf, Tracer) else np.shape(leaf))[axis]), i)
    if not sizes:
        raise BatchingError("vmap needs at least one mapped argument, but in_axes maps none (all None, or only "
                            "scalars and static values)")
    if len(sizes) > 1:
        raise BatchingError(f"vmap: the mapped axes have different sizes {sorted(sizes)}; every mapped argument "
                            "must have the batch's size along its axis")
    return next(iter(sizes))


def _output_axes(out_axes, example: Graph) -> list:
    """One axis or None per output leaf of ``example``."""
    outputs = tree_unflatten(example.out_tree, example.outputs)
    if isinstance(out_axes, list):
        out_axes = tuple(out_axes)
    return _broadcast_prefix(out_axes, outputs, "out_axes")
