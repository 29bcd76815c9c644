"""The graphs of ``jvp``, ``jacfwd`` and ``jacrev`` (made by :class:`graphc.transformed.Transformed`).

``jvp`` is the forward-mode pass (:mod:`graphc.passes.forward`) on the traced function. ``jacfwd``
pushes every basis tangent through that graph at once: the tangent inputs become a batch of one-hot
constants and the batching pass (:mod:`graphc.passes.batching`) rebuilds the tangent nodes over it,
while the function's own nodes run once. ``jacrev`` does the same with the basis cotangents of the
reverse sweep. Either way the graph does not grow with the number of basis vectors, so a Hessian,
``jacfwd(grad(f))``, has the same node count for every size of its argument. For one differentiated
array the basis is ``eye(n)`` built from that array's size (:func:`_identity`), so the kernel reads
``n`` from its argument and serves every length (graphc.dims).

Shapes follow JAX: each output leaf's Jacobian has shape ``output shape + argument leaf shape``, and
the result has the function's output structure with each leaf replaced by the differentiated
arguments' structure (a tuple of them for a tuple of ``argnums``).
"""
from __future__ import annotations

import math

import numpy as np

from graphc.arguments import differentiated_inputs
from graphc.dims import Dim
from graphc.errors import GradientTypeError, SignatureError
from graphc.graph import Graph
from graphc.ops import apply
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
    if c_tree != forward.out_tree:
        raise SignatureError(f"vjp: the cotangent {c_tree!r} does not have the output's structure {forward.out_tree!r}")
    for i, (leaf, node) in enumerate(zip(c_leaves, forward.outputs)):
        shape, dtype = aval_of(leaf, f"cotangent {i}")
        if tuple(shape) != tuple(forward[node]["shape"]):
            raise SignatureError(f"vjp: cotangent {i} has shape {tuple(shape)}, but the output it pairs with has "
                                 f"{tuple(forward[node]['shape'])}")
    for node in forward.inputs:
        if forward[node]["dtype"].kind != "f":
            raise GradientTypeError(f"vjp needs floating-point primals, but {forward[node].get('name')} is "
                                       f"{forward[node]['dtype']}; pass it as a float")
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
        if len(basis_inputs) == 1 and isinstance(count, Dim):
            node = basis_inputs[0]
            basis = apply("reshape", _identity(graph, count, np.dtype(pushed[node]["dtype"])),
                          shape=(count,) + basis_shapes[0])
            values[node] = (basis, True)
        else:
            eye, offset = np.eye(count, dtype=np.float64), 0
            for node, shape, size in zip(basis_inputs, basis_shapes, sizes):
                block = eye[:, offset:offset + size].reshape((count,) + shape).astype(pushed[node]["dtype"])
                values[node] = (Tracer(graph, add_constant(graph, block)), True)
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


def _identity(graph: Graph, n: Dim, dtype) -> Tracer:
    """``eye(n)`` as nodes of ``graph``: ones scattered along the diagonal of a raveled ``n * n`` array
    (``np.diag``'s way). A constant ``eye`` would paste ``n`` into the kernel; these read it from the
    argument it is a size of (graphc.dims), so one Hessian kernel serves every length. The scatter
    is not elementwise, so the identity is written once, as the constant was, and not recomputed
    inside every loop that reads it."""
    one = Tracer(graph, add_constant(graph, np.ones((), dtype)))
    diagonal = apply("index_scatter", apply("broadcast_to", one, shape=(n,)), index=(("s", 0, n * n, n + 1),),
                     shape=(n * n,))
    return apply("reshape", diagonal, shape=(n, n))


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

