"""Batching: nodes written for one example, rebuilt to compute a whole batch at once.

A batched value has a leading batch axis ahead of one example's shape. :func:`batch_nodes` walks nodes
of a graph in order and builds each into the graph being built (:func:`graphc.tracer.building`):

* a node none of whose operands is batched is copied as it is (it is the same for every example);
* otherwise its op's batching rule (``OpDef.batch``) builds the batched result from ordinary ops,
  written with NumPy calls on tracers as adjoint rules are. Elementwise ops declare no rule: NumPy's
  broadcasting batches them once each batched operand has as many axes as the widest one
  (:func:`batch_elementwise`).

Loops, branches and integer-array gathers have no rule yet: :func:`can_batch` says so, and the NumPy
tier's loop fission (:mod:`graphc.passes.fission`) leaves such nodes inside their loop.
"""
from __future__ import annotations

from typing import Callable, Iterable

from graphc.errors import GraphcInternalError
from graphc.graph import Graph
from graphc.ops import REGISTRY, apply, lift, shape_of
from graphc.tracer import Tracer, add_constant, current_graph


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
    """Whether nodes of ``op`` can be batched (constants and inputs always can)."""
    return op in ("constant", "input") or batching_rule(op) is not None


def batch_nodes(graph: Graph, nodes: Iterable[int], values: dict) -> None:
    """Build ``graph``'s ``nodes`` (in topological order) into the graph being built.

    ``values`` maps a node of ``graph`` to ``(tracer, batched)``: its value in the new graph and whether
    that has the batch axis. It must hold every operand of ``nodes`` that is not among them; each
    node's own entry is added.
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
        if not any(batched):
            values[node] = (_copy(data, tracers), False)
            continue
        rule = batching_rule(op)
        if rule is None:
            raise GraphcInternalError(f"'{op}' has no batching rule (graphc bug: callers check can_batch)")
        result = rule(batched, *tracers, **data["attrs"])
        if tuple(result.shape[1:]) != tuple(data["shape"]) or result.dtype != data["dtype"]:
            raise GraphcInternalError(
                f"the batching rule of '{op}' made {result.dtype}{list(result.shape)} for one example's "
                f"{data['dtype']}{list(data['shape'])} (graphc bug; please report)")
        values[node] = (result, True)


def _copy(data: dict, operands: list) -> Tracer:
    """The node ``data`` over ``operands`` in the graph being built, its attributes and type kept."""
    graph = current_graph()
    extra = {k: data[k] for k in ("results", "loc", "name") if k in data}
    node = graph.add_node(data["op"], [t.node for t in operands], shape=data["shape"], dtype=data["dtype"],
                          attrs=data["attrs"], **extra)
    return Tracer(graph, node)


def batch_graph(graph: Graph, batched: list[bool], size: int) -> Graph:
    """``graph`` for a batch of ``size`` examples: input ``i`` gains a leading batch axis where
    ``batched[i]``, and every output has one (an output the same for every example is broadcast).

    Raises GraphcInternalError where a node that the batch reaches has no batching rule (check
    :func:`unbatchable` first)."""
    from graphc.tracer import building

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
        for node in graph.outputs:
            value, b = values[node]
            outputs.append(value if b else apply("broadcast_to", value, shape=(size,) + tuple(value.shape)))
    new.inputs = [values[n][0].node for n in graph.inputs]
    new.outputs = [t.node for t in outputs]
    return new


def unbatchable(graph: Graph, batched: list[bool]) -> list[str]:
    """The ops, in order of appearance, of the nodes that a batch over ``batched`` inputs reaches but
    that have no batching rule."""
    varying = {n for n, b in zip(graph.inputs, batched) if b}
    missing: list[str] = []
    for node in graph.topo_order():
        if node in varying or not any(u in varying for u in graph.operands(node)):
            continue
        varying.add(node)
        op = graph[node]["op"]
        if not can_batch(op) and op not in missing:
            missing.append(op)
    return missing
