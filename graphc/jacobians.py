"""The graphs of ``jvp``, ``jacfwd`` and ``jacrev`` (made by :class:`graphc.transformed.Transformed`).

``jvp`` is the forward-mode pass (:mod:`graphc.passes.forward`) on the traced function. ``jacfwd``
pushes every basis tangent through that graph at once: the tangent inputs become a batch of one-hot
constants and the batching pass (:mod:`graphc.passes.batching`) rebuilds the tangent nodes over it,
while the function's own nodes run once. ``jacrev`` does the same with the basis cotangents of the
reverse sweep. Either way the graph does not grow with the number of basis vectors, so a Hessian,
``jacfwd(grad(f))``, has the same node count for every size of its argument. The basis, ``eye(n)``,
is built from the arguments' sizes (:func:`_basis_block`), so the kernel reads them at run time and
serves every length (graphc.dims).

Shapes follow JAX: each output leaf's Jacobian has shape ``output shape + argument leaf shape``, and
the result has the function's output structure with each leaf replaced by the differentiated
arguments' structure (a tuple of them for a tuple of ``argnums``).
"""
from __future__ import annotations

import math

import numpy as np

from graphc.arguments import differentiated_inputs
from graphc.errors import GradientTypeError, SignatureError
from graphc.graph import Graph
from graphc.ops import apply
from graphc.residuals import check_cotangent, check_primals
from graphc.tracer import Tracer, add_constant, aval_of, building, flatten_call, trace_function
from graphc.tree import TreeDef, tree_flatten


def jvp_traced(fun, args: tuple, parent: Graph | None = None) -> Graph:
    """The graph of ``jvp(fun, primals, tangents)`` for ``args = (*primals, *tangents)``: outputs
    ``(fun(*primals), J @ tangents)``."""
    from graphc.passes.forward import jvp_graph

    n = len(args) // 2
    primals, tangents = args[:n], args[n:]
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(tangents)
    if p_tree != t_tree:
        raise SignatureError(f"jvp: the tangents {t_tree!r} do not have the primals' structure {p_tree!r}")
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        (ps, pd), (ts, td) = aval_of(p, f"primal {i}"), aval_of(t, f"tangent {i}")
        if tuple(ps) != tuple(ts) or pd != td:
            raise SignatureError(f"jvp: tangent {i} is {td}{list(ts)}, but its primal is {pd}{list(ps)}; give each "
                                 "tangent its primal's shape and dtype")
    forward = trace_function(fun, primals, parent=parent)
    graph, _ = jvp_graph(forward, list(range(len(forward.inputs))))
    graph.captures = dict(forward.captures)  # the caller's values fun reads: the same input nodes
    graph.in_tree = flatten_call(args)[1]
    graph.out_tree = TreeDef("tuple", (), (forward.out_tree, forward.out_tree))
    return graph


def vjp_traced(fun, args: tuple, parent: Graph | None = None) -> Graph:
    """The graph of ``vjp(fun, *primals)[1](cotangent)`` for ``args = (*primals, cotangent)``: one
    cotangent per primal, in a tuple, each with its primal's structure."""
    from graphc.passes.autodiff import vjp_graph

    primals, cotangent = args[:-1], args[-1]
    forward = trace_function(fun, primals, parent=parent)
    c_leaves, c_tree = tree_flatten(cotangent)
    check_cotangent(c_leaves, c_tree, forward.out_tree, [forward[n]["shape"] for n in forward.outputs])
    check_primals(forward)
    floats = [i for i, n in enumerate(forward.outputs) if forward[n]["dtype"].kind == "f"]
    graph, _ = vjp_graph(forward, floats, list(range(len(forward.inputs))))
    seeded = dict(zip(floats, graph.inputs[len(forward.inputs):]))
    with building(graph):  # every output takes a cotangent; a non-float one's input is not read
        cotangents = [seeded[i] if i in seeded else graph.add_node(
                          "input", shape=forward[node]["shape"], dtype=aval_of(c_leaves[i], "cotangent").dtype,
                          name=f"cotangent{i}")
                      for i, node in enumerate(forward.outputs)]
    graph.inputs = list(forward.inputs) + cotangents
    graph.captures = dict(forward.captures)
    graph.in_tree = flatten_call(args)[1]
    graph.out_tree = TreeDef("tuple", (), tuple(tree_flatten(p)[1] for p in primals))
    return graph


def jacobian_traced(fun, args: tuple, kwargs: dict, argnums, forward_mode: bool, name: str,
                    parent: Graph | None = None) -> Graph:
    """The graph of ``jacfwd(fun, argnums)`` (``forward_mode``) or ``jacrev(fun, argnums)`` at ``args``;
    with ``parent``, what ``fun`` reads of it becomes inputs listed in the graph's ``captures``."""
    from graphc.passes.autodiff import vjp_graph
    from graphc.passes.batching import batch_nodes
    from graphc.passes.forward import jvp_graph

    traced = trace_function(fun, args, kwargs, parent=parent)
    nums, wrt = differentiated_inputs(traced, args, argnums, name)
    outputs = [traced[n] for n in traced.outputs]
    if any(data["dtype"].kind != "f" for data in outputs):
        raise GradientTypeError(f"{name} needs floating-point outputs; the function returns "
                                   f"{[str(d['dtype']) for d in outputs]}")
    ins = [traced[traced.inputs[p]] for p in wrt]
    if forward_mode:
        pushed, basis_inputs = jvp_graph(traced, wrt)  # outputs: primal outputs, then J t
        basis_shapes = [tuple(d["shape"]) for d in ins]
        results = pushed.outputs[len(outputs):]
    else:
        pushed, _ = vjp_graph(traced, list(range(len(outputs))), wrt)  # inputs: then one cotangent per output
        basis_inputs = pushed.inputs[len(traced.inputs):]
        basis_shapes = [tuple(d["shape"]) for d in outputs]
        results = pushed.outputs
    sizes = [math.prod(s) for s in basis_shapes]
    count = sum(sizes)
    graph = Graph()
    graph.in_tree, graph.dim_scope = traced.in_tree, traced.dim_scope
    with building(graph):
        values = {}
        for node in traced.inputs:  # the same ids in the same order, so sizes read from them still render
            data = traced[node]
            values[node] = (Tracer(graph, graph.add_node("input", shape=data["shape"], dtype=data["dtype"],
                                                         **{k: data[k] for k in ("name", "loc") if k in data})), False)
            graph.inputs.append(values[node][0].node)
        for outer, node in traced.captures.items():  # read from the caller's graph: inputs that _inline feeds
            data = traced[node]
            captured = graph.add_node("input", shape=data["shape"], dtype=data["dtype"], name=data.get("name"))
            graph.captures[outer] = captured
            values[node] = (Tracer(graph, captured), False)
        offset = 0
        for node, shape, size in zip(basis_inputs, basis_shapes, sizes):
            values[node] = (_basis_block(graph, count, offset, size, shape, np.dtype(pushed[node]["dtype"])), True)
            offset += size
        batch_nodes(pushed, [n for n in pushed.topo_order() if n not in values], values)
        blocks = [_blocks(values[r], sizes, basis_shapes) for r in results]  # per result, per basis part
        if forward_mode:  # result k is output k's tangent, stacked over the inputs' basis: (count, *out)
            leaves = [[_moved(b, len(basis_shapes[j])) for j, b in enumerate(blocks[k])] for k in range(len(outputs))]
        else:  # result j is input j's cotangent, stacked over the outputs' basis: (count, *in)
            leaves = [[blocks[j][k] for j in range(len(ins))] for k in range(len(outputs))]
    selected = tuple(args[i] for i in nums) if isinstance(argnums, (tuple, list)) else args[nums[0]]
    arg_tree = tree_flatten(selected)[1]
    graph.outputs = [t.node for per_output in leaves for t in per_output]
    graph.out_tree = _replace_leaves(traced.out_tree, arg_tree)
    return graph


def _basis_block(graph: Graph, count: int, offset: int, size: int, shape: tuple, dtype) -> Tracer:
    """Columns ``offset`` to ``offset + size`` of ``eye(count)``, reshaped to ``(count, *shape)``: the
    basis vectors of one differentiated leaf.

    Built as ones scattered into a raveled ``count * size`` array, where row ``offset + c`` has its one
    in column ``c`` (``np.diag``'s way): the scatter's bounds and step are sums and products of the
    arguments' sizes, which the kernel reads at run time (graphc.dims), so one Jacobian or Hessian
    kernel serves every length, where a constant ``eye`` would paste the sizes in. The scatter is not
    elementwise, so the block is written once and not recomputed inside every loop that reads it."""
    one = Tracer(graph, add_constant(graph, np.ones((), dtype)))
    if size == 0:
        return apply("broadcast_to", one * 0, shape=(count,) + shape)
    start = offset * size if offset else 0
    last = start + (size - 1) * (size + 1)
    ones = apply("broadcast_to", one, shape=(size,))
    flat = apply("index_scatter", ones, index=(("s", start, last + 1, size + 1),), shape=(count * size,))
    return apply("reshape", flat, shape=(count,) + shape)


def _blocks(value, sizes: list, shapes: list) -> list:
    """A batched result (count, *rest) cut along the batch into one block per basis part, each
    reshaped to (*that part's shape, *rest)."""
    tracer, batched = value
    if not batched:  # no path from the basis: zeros
        tracer = apply("broadcast_to", tracer, shape=(sum(sizes),) + tuple(tracer.shape))
    rest = tuple(tracer.shape[1:])
    blocks, offset = [], 0
    for size, shape in zip(sizes, shapes):
        index = (("s", offset, offset + size, 1),) + tuple(("s", 0, n, 1) for n in rest)
        part = apply("getitem", tracer, index=index) if size != tracer.shape[0] else tracer
        blocks.append(apply("reshape", part, shape=shape + rest))
        offset += size
    return blocks


def _moved(block, lead: int) -> Tracer:
    """(*input shape, *output shape) -> (*output shape, *input shape)."""
    rank = len(block.shape)
    axes = tuple(range(lead, rank)) + tuple(range(lead))
    return apply("transpose", block, axes=axes) if lead and axes != tuple(range(rank)) else block


def _replace_leaves(tree: TreeDef, leaf_tree: TreeDef) -> TreeDef:
    if tree.kind == "leaf":
        return leaf_tree
    return TreeDef(tree.kind, tree.keys, tuple(_replace_leaves(c, leaf_tree) for c in tree.children))

