"""How passes reach inside loop and branch nodes: a pass maps itself over every body graph.

A body keeps its interface under every optimization pass (the same inputs, the same outputs in the
same order), so a loop node stays valid whatever a pass does inside it. Only dead-code elimination
changes interfaces, and it rebuilds the node itself (:mod:`graphc.passes.dce`).
"""
from __future__ import annotations

from typing import Callable

from graphc.graph import BODY_ATTRS, Graph, body_graphs


def map_bodies(graph: Graph, transform: Callable[[Graph], Graph]) -> Graph:
    """A copy of ``graph`` in which every body graph of every node is replaced by ``transform(body)``
    (the bodies' own bodies are the transform's business); ``graph`` itself when it holds no body
    graph, so a pass that copies what it is given does not copy twice."""
    if not any(body_graphs(data) for data in graph.dag._node.values()):
        return graph
    new = graph.copy()
    for node in new.dag:
        data = new[node]
        if not body_graphs(data):
            continue
        attrs = dict(data["attrs"])  # never change the attrs dict that the input graph shares
        for key in BODY_ATTRS:
            value = attrs.get(key)
            if isinstance(value, Graph):
                attrs[key] = transform(value)
            elif isinstance(value, tuple) and value and all(isinstance(v, Graph) for v in value):
                attrs[key] = tuple(transform(v) for v in value)
        data["attrs"] = attrs
    return new


def bodies_first(graph_pass: Callable[[Graph], Graph]) -> Callable[[Graph], Graph]:
    """Make ``graph_pass`` run on every body graph (innermost first) before the graph itself."""

    def recursive(graph: Graph) -> Graph:
        return graph_pass(map_bodies(graph, recursive))

    recursive.__name__ = graph_pass.__name__
    recursive.__qualname__ = graph_pass.__qualname__
    recursive.__doc__ = graph_pass.__doc__
    recursive.__wrapped__ = graph_pass
    return recursive
