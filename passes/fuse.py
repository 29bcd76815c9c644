"""Elementwise fusion: connected elementwise nodes over one iteration space become one loop.

1. Walk the graph in topological order. An elementwise node (or a ``broadcast_to``, which inside a
   loop is just a read with broadcasting) of shape ``S`` joins the groups of its operands of the same
   shape, if that keeps the graph acyclic: no other operand of it may depend on those groups, and
   none of those groups may depend on another through nodes outside them.
2. A ``sum`` of a group member joins the group as an accumulator of the loop.
3. Each group with at least two members becomes ``fused`` nodes, one per value the rest of the graph
   uses (all share one :class:`FusedBody` and one loop), whose operands are the values the group reads.

The body is a small Graph whose node ids are the original ones, so a listing and the generated
loop still name ``%7`` as ``t7``.

Bodies: fuses inside every loop and branch body first (an elementwise step of a scan becomes one
loop inside the scan's loop); loop and branch nodes themselves are never fused.
"""
from __future__ import annotations

import math

from graphc.graph import Graph
from graphc.ops import REGISTRY
from graphc.ops.fused import FusedBody
from graphc.passes.bodies import bodies_first


#: From this many elements on, ops that NumPy computes with SIMD (``OpDef.numpy_is_faster``) are
#: left out of loops and run as NumPy ufuncs: measured here, tanh costs 15.7 ns an element in a
#: Numba loop and 1.18 ns in NumPy, log1p 10.6 vs 0.92, exp 3.24 vs 0.79. Below it, the cost of
#: leaving nopython mode (a few microseconds) and the temporary array outweigh the gain.
NUMPY_UFUNC_MIN_ELEMENTS = 4096


def calls_numpy_ufunc(data: dict) -> bool:
    """Whether a node is computed by NumPy's own ufunc rather than in a Numba loop."""
    op = REGISTRY.get(data["op"])
    return (op is not None and op.numpy_is_faster and data["dtype"].kind == "f" and None not in data["shape"]
            and math.prod(data["shape"]) >= NUMPY_UFUNC_MIN_ELEMENTS)


def _fusable(graph: Graph, node: int) -> bool:
    data = graph[node]
    op = REGISTRY.get(data["op"])
    if op is None or not data["shape"] or None in data["shape"] or math.prod(data["shape"]) == 0 \
            or calls_numpy_ufunc(data):
        return False
    return (op.elementwise and op.scalar_emit is not None) or data["op"] == "broadcast_to"


class _Groups:
    """Union-find over groups, with the set of groups each node depends on."""

    def __init__(self):
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.deps: dict[int, set] = {}      # node -> group ids it depends on (maybe stale ids)
        self.group_deps: dict[int, set] = {}  # group -> group ids its members depend on

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def canonical(self, ids) -> set:
        return {self.find(g) for g in ids}

    def reach(self, ids) -> set:
        """Every group that ``ids`` depend on, through the dependencies of whole groups.

        Groups grow as the walk goes on, so what a value read from a group depends on is what the
        whole group depends on now, not what that one member depended on when it joined.
        """
        seen: set = set()
        stack = [self.find(g) for g in ids]
        while stack:
            g = stack.pop()
            if g not in seen:
                seen.add(g)
                stack += [self.find(h) for h in self.group_deps.get(g, ())]
        return seen

    def new(self, node: int) -> int:
        self.parent[node] = node
        self.members[node] = [node]
        self.group_deps[node] = set()
        return node

    def merge(self, groups: set, node: int) -> int:
        root = min(groups)
        for g in groups - {root}:
            self.parent[g] = root
            self.members[root] += self.members.pop(g)
            self.group_deps[root] |= self.group_deps.pop(g)
        self.members[root].append(node)
        return root


@bodies_first
def fuse_elementwise(graph: Graph) -> Graph:
    """A copy of ``graph`` in which each fusable group has become ``fused`` nodes."""
    groups = _Groups()
    group_of: dict[int, int] = {}   # member -> a group id (canonical through groups.find)
    reductions: set[int] = set()
    for node in graph.topo_order():
        operands = graph.operands(node)
        upstream = set()
        for u in operands:
            upstream |= graph_deps(groups, u)
        data = graph[node]
        if _fusable(graph, node):
            chosen = _joinable(graph, groups, group_of, reductions, node)
            g = groups.merge(chosen, node) if chosen else groups.new(node)
            group_of[node] = g
        elif data["op"] == "sum" and operands[0] in group_of and operands[0] not in reductions:
            g = groups.find(group_of[operands[0]])
            groups.members[g].append(node)
            group_of[node] = g
            reductions.add(node)
        else:
            groups.deps[node] = upstream
            continue
        g = groups.find(group_of[node])
        groups.group_deps[g] |= upstream
        groups.deps[node] = upstream | {g}
    new = graph.copy()
    carried: dict[int, int] = {}  # member of an earlier contracted group -> the fused node carrying it
    for root, members in groups.members.items():
        elementwise = [m for m in members if m not in reductions]
        if len(members) >= 2 and any(graph[m]["op"] != "broadcast_to" for m in elementwise):
            _contract(new, graph, sorted(members), graph[elementwise[0]]["shape"], carried)
    return new


def _joinable(graph: Graph, groups: _Groups, group_of: dict, reductions: set, node: int) -> set:
    """The groups of ``node``'s operands it can join without making a cycle, largest first."""
    shape = graph[node]["shape"]
    operands = graph.operands(node)
    candidates = {groups.find(group_of[u]) for u in operands
                  if u in group_of and u not in reductions and graph[u]["shape"] == shape}
    chosen: set = set()
    for g in sorted(candidates, key=lambda g: -len(groups.members[g])):
        trial = chosen | {g}
        outside = [u for u in operands
                   if not (u in group_of and u not in reductions and groups.find(group_of[u]) in trial)]
        # Joining is legal when no value read from outside depends on the joined groups, and
        # no joined group depends on another one through nodes outside them.
        if any(groups.reach(graph_deps(groups, u)) & trial for u in outside):
            continue
        if any(groups.reach(groups.group_deps[h]) & (trial - {h}) for h in trial):
            continue
        chosen = trial
    return chosen


def graph_deps(groups: _Groups, node: int) -> set:
    return groups.deps.get(node, set())


def _contract(new: Graph, graph: Graph, members: list[int], space: tuple, carried: dict) -> None:
    """Replace ``members`` in ``new`` by fused nodes sharing one body."""
    member_set = set(members)
    reads: list[int] = []
    for m in members:
        for u in graph.operands(m):
            u = carried.get(u, u)
            if u not in member_set and u not in reads:
                reads.append(u)
    outputs = [m for m in members if graph[m]["op"] == "sum"
               or m in graph.outputs or any(v not in member_set for v in graph.users(m))]
    inner = Graph()
    for u in reads:
        inner.nx.add_node(u, op="input", shape=new[u]["shape"], dtype=new[u]["dtype"], attrs={}, name=f"%{u}")
        inner.inputs.append(u)
    for m in members:
        inner.nx.add_node(m, **graph[m])
        for position, u in enumerate(graph.operands(m)):
            inner.nx.add_edge(carried.get(u, u), m, key=position)
    inner.outputs = list(outputs)
    inner.next_id = max(members) + 1
    body = FusedBody(inner, tuple(space))
    carriers = []
    for index, m in enumerate(outputs):
        data = graph[m]
        fused = new.add_node("fused", reads, shape=data["shape"], dtype=data["dtype"],
                             attrs={"body": body, "output": index}, adjoint_of=data.get("adjoint_of"))
        new.replace_uses(m, fused)
        carriers.append(fused)
        carried[m] = fused
    body.nodes = tuple(carriers)
    new.nx.remove_nodes_from(members)
