"""``vjp`` as two compiled functions: the forward pass that also returns what the backward pass reads
(its residuals), and the backward pass from those residuals and a cotangent, as ``jax.vjp`` does.

One graph is traced (:func:`graphc.passes.autodiff.vjp_graph`: the function, then its adjoint nodes) and
cut in two where the cotangent's influence starts::

    forward:  primals -> outputs, residuals     (every node that does not read a cotangent)
    backward: residuals, cotangents -> one cotangent per primal

A residual is a value of the forward part that the backward part reads. Nodes computed only from
constants are not residuals: both parts compute them (a broadcast of zeros costs less than carrying it).
Calling the pullback then runs no forward node again, however often it is called; before, each call
evaluated the whole function again.

Each part is replayed inside :func:`graphc.jit` (:func:`graphc.tracer.inline`), so it is optimized,
tiered, cached and shape-generic as any jitted function.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from graphc.errors import GradientTypeError, SignatureError
from graphc.graph import Graph
from graphc.ops import apply
from graphc.tracer import Tracer, aval_of, inline, trace_function
from graphc.tree import TreeDef, tree_flatten, tree_unflatten


@dataclasses.dataclass
class SplitVjp:
    """The two graphs, and what the pullback needs to check and shape a cotangent."""

    forward: Graph
    backward: Graph
    out_tree: TreeDef
    out_avals: list  # (shape, dtype) of each output leaf
    floats: list  # the output leaves that take a cotangent (the floating-point ones)
    pull_tree: TreeDef  # a tuple of the primals' structures


def split_vjp(fun, primals: tuple) -> SplitVjp:
    """Trace ``fun`` at ``primals`` with its adjoint and cut the graph into forward and backward parts."""
    from graphc.passes.autodiff import vjp_graph

    traced = trace_function(fun, primals)
    check_primals(traced)
    floats = [i for i, n in enumerate(traced.outputs) if traced[n]["dtype"].kind == "f"]
    graph, _ = vjp_graph(traced, floats, list(range(len(traced.inputs))))
    primal_inputs, cotangent_inputs = list(traced.inputs), graph.inputs[len(traced.inputs):]
    backward_nodes = set(cotangent_inputs).union(*(graph.dag.reachable(c, upstream=False) for c in cotangent_inputs))
    constant_only = _constant_only(graph)
    read_by_backward = {u for n in backward_nodes for u in graph.operands(n)}
    residuals = [n for n in graph.topo_order()
                 if n not in backward_nodes and n not in constant_only
                 and (n in read_by_backward or n in graph.outputs)]

    backward = graph.copy()
    for i, node in enumerate(residuals):  # each residual becomes an input of the backward part
        data = backward[node]
        backward.dag.remove_in_edges(node)
        kept = {k: data[k] for k in ("shape", "dtype")}
        data.clear()
        data.update(op="input", attrs={}, name=f"residual{i}", **kept)
    backward = _pruned(backward, residuals + cotangent_inputs, list(graph.outputs))
    forward = _pruned(graph, primal_inputs, list(traced.outputs) + residuals)  # the vjp graph itself, cut
    return SplitVjp(forward, backward, traced.out_tree,
                    [(tuple(traced[n]["shape"]), traced[n]["dtype"]) for n in traced.outputs], floats,
                    TreeDef("tuple", (), tuple(tree_flatten(p)[1] for p in primals)))


def check_primals(traced: Graph) -> None:
    for node in traced.inputs:
        if traced[node]["dtype"].kind != "f":
            raise GradientTypeError(f"vjp needs floating-point primals, but {traced[node].get('name')} is "
                                    f"{traced[node]['dtype']}; pass it as a float")


def check_cotangent(c_leaves: list, c_tree: TreeDef, out_tree: TreeDef, out_shapes: list) -> None:
    """A cotangent must have the output's structure and each leaf its output's shape (as in JAX)."""
    if c_tree != out_tree:
        raise SignatureError(f"vjp: the cotangent {c_tree!r} does not have the output's structure {out_tree!r}")
    for i, (leaf, want) in enumerate(zip(c_leaves, out_shapes)):
        shape, _ = aval_of(leaf, f"cotangent {i}")
        if tuple(shape) != tuple(want):
            raise SignatureError(f"vjp: cotangent {i} has shape {tuple(shape)}, but the output it pairs with has "
                                 f"{tuple(want)}")


def _constant_only(graph: Graph) -> set:
    """The nodes computed from constants alone."""
    found: set = set()
    for node in graph.topo_order():
        op = graph[node]["op"]
        if op == "constant" or (op != "input" and all(u in found for u in graph.operands(node))):
            found.add(node)
    return found


def _pruned(graph: Graph, inputs: list, outputs: list) -> Graph:
    """``graph``, changed in place: these inputs and outputs, and only the nodes the outputs need."""
    needed = set(outputs).union(*(graph.dag.reachable(n, upstream=True) for n in outputs))
    graph.dag.remove_nodes_from([n for n in list(graph.dag._node) if n not in needed and n not in inputs])
    graph.inputs, graph.outputs = list(inputs), list(outputs)
    graph.in_tree = graph.out_tree = None
    return graph


def replay(graph: Graph):
    """A function of ``graph``'s input values returning its outputs as a tuple, for :func:`graphc.jit`."""
    def run(*leaves):
        return tuple(inline(graph, list(leaves)))
    return run


class Pullback:
    """``vjp``'s second result: ``pull(cotangent)`` runs the backward part on the saved residuals."""

    def __init__(self, split: SplitVjp, backward, residuals: tuple):
        self._split, self._backward, self._residuals = split, backward, residuals

    def __call__(self, cotangent):
        split = self._split
        c_leaves, c_tree = tree_flatten(cotangent)
        check_cotangent(c_leaves, c_tree, split.out_tree, [shape for shape, _ in split.out_avals])
        seeds = [_as_dtype(c_leaves[i], split.out_avals[i][1]) for i in split.floats]
        return tree_unflatten(split.pull_tree, list(self._backward(*self._residuals, *seeds)))


def _as_dtype(leaf, dtype):
    """A cotangent leaf in its output's dtype; a traced one (a pullback inside ``jit`` or ``grad``) as
    a cast node, which the backward part's jit then inlines."""
    if isinstance(leaf, Tracer):
        return leaf if leaf.dtype == dtype else apply("astype", leaf, dtype=np.dtype(dtype).str)
    return np.asarray(leaf, dtype)
