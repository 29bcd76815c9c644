"""Dead-code elimination: remove every node that no output needs (inputs always stay)."""
from __future__ import annotations

import networkx as nx

from graphc.graph import Graph


def eliminate_dead_code(graph: Graph) -> Graph:
    """A copy of ``graph`` without the nodes that are not ancestors of an output."""
    needed = set(graph.outputs) | set(graph.inputs)
    for out in graph.outputs:
        needed |= nx.ancestors(graph.nx, out)
    new = graph.copy()
    new.nx.remove_nodes_from([n for n in graph.nx if n not in needed])
    return new
