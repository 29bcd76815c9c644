"""Batching: nodes written for one example, rebuilt to compute a whole batch at once.

A batched value has a leading batch axis ahead of one example's shape. :func:`batch_nodes` walks nodes
of a graph in order and builds each into the graph being built (:func:`graphc.tracer.building`):

* a node none of whose operands is batched is copied as it is (it is the same for every example);
* otherwise its op's batching rule (``OpDef.batch``) builds the batched result from ordinary ops,
  written with NumPy calls on tracers as adjoint rules are. Elementwise ops declare no rule: NumPy's
  broadcasting batches them once each batched operand has as many axes as the widest one
  (:func:`batch_elementwise`).

A rule for an op of several results (a loop, a branch, a call) gives all of them, each batched. Loops
and branches batch their bodies with :func:`batch_graph`: a scan walks a batch of sequences as a
sequence of batches, a carry is batched only once something batched flows into it, a ``cond`` whose
predicate varies per example runs both branches and selects (as JAX does), and a ``while_loop`` whose
condition varies runs until every example is done, each keeping its carry once its own is.

A node whose rule declines its operands (a gather by per-example indices, a gradient's recording
while_loop whose trip count varies) is batched by running it once per example, in a scan over the
batch axis: correct for every op, but a loop. :func:`can_batch` says whether an op has a rule of its
own; the NumPy tier's loop fission (:mod:`graphc.passes.fission`) moves only such nodes out of a loop.
"""
from __future__ import annotations

from typing import Callable, Iterable

from graphc.errors import GraphcInternalError
from graphc.graph import Graph
from graphc.ops import REGISTRY, apply, lift, shape_of
from graphc.tracer import Tracer, add_constant, building, current_graph


def batch_elementwise(name: str) -> Callable:
    """The batching rule every elementwise op shares: batched operands lifted to one rank (1s after
    the batch axis), then broadcasting does the rest."""

    def rule(batched, *operands, **attrs):
        rank = max(len(shape_of(x)) - b for x, b in zip(operands, batched))
        return apply(name, *(lift(x, rank) if b else x for x, b in zip(operands, batched)), **attrs)

    return rule


def batching_rule(op: str) -> Callable | None:
    """The batching rule of ``op``, or None where it has none."""
    definition = REGISTRY.get(op)
    if definition is None:
        return None
    if definition.batch is not None:
        return definition.batch
    return batch_elementwise(op) if definition.elementwise and not definition.internal else None


def can_batch(op: str) -> bool:
    """Whether nodes of ``op`` batch by a rule of their own, not a loop (constants and inputs do)."""
    return op in ("constant", "input") or batching_rule(op) is not None


def batch_nodes(graph: Graph, nodes: Iterable[int], values: dict) -> None:
    """Build ``graph``'s ``nodes`` (in topological order) into the graph being built.

    ``values`` maps a node of ``graph`` to ``(tracer, batched)``: its value in the new graph and whether
    that has the batch axis. It must hold every operand of ``nodes`` that is not among them; each
    node's own entry is added. A batched node whose op has no rule runs once per example, in a scan
    over the batch axis (:func:`_batch_by_loop`).
    """
    for node in nodes:
        data = graph[node]
        op = data["op"]
        if op == "constant":
            target = current_graph()
            values[node] = (Tracer(target, add_constant(target, data["value"])), False)
            continue
        operands = [values[u] for u in graph.operands(node)]
        batched = tuple(b for _, b in operands)
        tracers = [t for t, _ in operands]
        if op == "unpack" and isinstance(tracers[0], tuple):  # a result of a node batched by a loop
            values[node] = (tracers[0][data["attrs"]["index"]], True)
            continue
        if not any(batched):
            values[node] = (_copy(data, tracers), False)
            continue
        rule = batching_rule(op)
        result = rule(batched, *tracers, **data["attrs"]) if rule is not None else None
        if result is None:  # no rule, or one that declines these attributes
            values[node] = (_batch_by_loop(data, tracers, batched), True)
            continue
        several = "results" in data  # the rule gives every result, each batched; its unpacks read them
        expected = data["results"] if several else [(data["shape"], data["dtype"])]
        for made, (shape, dtype) in zip(result if several else [result], expected):
            if tuple(made.shape[1:]) != tuple(shape) or made.dtype != dtype:
                raise GraphcInternalError(
                    f"the batching rule of '{op}' made {made.dtype}{list(made.shape)} for one example's "
                    f"{dtype}{list(shape)} (graphc bug; please report)")
        values[node] = (tuple(result) if several else result, True)


def _batch_by_loop(data: dict, operands: list, batched: tuple):
    """The node ``data`` over a batch as a scan whose body is the node itself: one example a step, the
    unbatched operands read as the body's consts. Returns the stacked result, or for a node of several
    results (a loop, a branch) the tuple of them, which its unpack nodes then read."""
    size = next(t.shape[0] for t, b in zip(operands, batched) if b)
    body = Graph()
    with building(body):
        unique = list({id(t): (t, b) for t, b in zip(operands, batched)}.values())  # x * x: one input
        shared = [t for t, b in unique if not b]
        varying = [t for t, b in unique if b]
        inputs = {id(t): body.add_node("input", shape=tuple(t.shape[1:]), dtype=t.dtype) for t in varying}
        inputs.update({id(t): body.add_node("input", shape=tuple(t.shape), dtype=t.dtype) for t in shared})
        body.inputs = [inputs[id(t)] for t in shared + varying]
        node = body.add_node(data["op"], [inputs[id(t)] for t in operands], shape=data["shape"], dtype=data["dtype"],
                             attrs=data["attrs"], **{k: data[k] for k in ("results",) if k in data})
        if "results" in data:
            body.outputs = [body.add_node("unpack", [node], shape=r.shape, dtype=r.dtype, attrs={"index": i})
                            for i, r in enumerate(data["results"])]
        else:
            body.outputs = [node]
    results = apply("scan", *shared, *varying, body=body, num_consts=len(shared), num_carry=0, length=size,
                    reverse=False)
    return results if "results" in data else results[0]


def _copy(data: dict, operands: list) -> Tracer:
    """The node ``data`` over ``operands`` in the graph being built, its attributes and type kept."""
    graph = current_graph()
    extra = {k: data[k] for k in ("results", "loc", "name") if k in data}
    node = graph.add_node(data["op"], [t.node for t in operands], shape=data["shape"], dtype=data["dtype"],
                          attrs=data["attrs"], **extra)
    return Tracer(graph, node)


def batched_outputs(graph: Graph, batched: list[bool]) -> list[bool]:
    """Which outputs of ``graph`` depend on a batched input (those :func:`batch_graph` batches by
    itself: a node is batched when any of its operands is)."""
    reached: set[int] = set()
    for node, b in zip(graph.inputs, batched):
        if b and node not in reached:
            reached |= {node} | graph.dag.reachable(node, upstream=False)
    return [node in reached for node in graph.outputs]


def batch_graph(graph: Graph, batched: list[bool], size: int, out_batched: list[bool] | None = None) -> Graph:
    """``graph`` for a batch of ``size`` examples: input ``i`` gains a leading batch axis where
    ``batched[i]``, and every output has one (an output the same for every example is broadcast);
    with ``out_batched``, only the outputs it flags, the others staying as they are (each must then
    not depend on a batched input, see :func:`batched_outputs`)."""
    new = Graph()
    new.dim_scope, new.out_tree = graph.dim_scope, graph.out_tree
    values: dict = {}
    with building(new):
        for node, b in zip(graph.inputs, batched):
            data = graph[node]
            shape = ((size,) if b else ()) + tuple(data["shape"])
            extra = {k: data[k] for k in ("name", "loc") if k in data}
            values[node] = (Tracer(new, new.add_node("input", shape=shape, dtype=data["dtype"], **extra)), b)
        batch_nodes(graph, [n for n in graph.topo_order() if n not in values], values)
        outputs = []
        for node, wanted in zip(graph.outputs, out_batched or [True] * len(graph.outputs)):
            value, b = values[node]
            if b and not wanted:
                raise GraphcInternalError(f"output %{node} depends on a batched input (graphc bug; please report)")
            outputs.append(apply("broadcast_to", value, shape=(size,) + tuple(value.shape)) if wanted and not b
                           else value)
    new.inputs = [values[n][0].node for n in graph.inputs]
    new.outputs = [t.node for t in outputs]
    return new

