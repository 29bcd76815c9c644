"""Elementwise fusion: connected elementwise nodes over one iteration space become one loop.

1. Walk the graph in topological order. An elementwise node (or a ``broadcast_to``, which inside a
   loop is just a read with broadcasting) of shape ``S`` joins the groups of its operands of the same
   shape, if that keeps the graph acyclic: no other operand of it may depend on those groups, and
   none of those groups may depend on another through nodes outside them. These checks search the
   graph of groups (each group contracted to one node), kept in a topological order as groups merge,
   only as far back as the groups asked about: about linear work in all (:class:`_Groups`).
2. A ``sum`` of a group member joins the group as an accumulator of the loop.
3. Each group becomes ``fused`` nodes, one per value the rest of the graph uses (all share one
   :class:`FusedBody` and one loop), whose operands are the values the group reads. A group of one
   op becomes a loop too: Numba compiles an explicit loop nest much faster than its own array
   expression for ``a * b`` (a third to a half of the time, see :func:`fuse_elementwise`), graphc's
   vector math needs the loop, and an op with no array emission (scipy.special's compiled
   functions) has no other form. Two lone ops stay out: a ``broadcast_to`` (a view, no loop), and
   an op that NumPy's ufunc computes faster on a large array (:func:`calls_numpy_ufunc`).

The body is a small Graph whose node ids are the original ones, so a listing and the generated
loop still name ``%7`` as ``t7``.

Bodies: fuses inside every loop and branch body first (an elementwise step of a scan becomes one
loop inside the scan's loop); loop and branch nodes themselves are never fused.
"""
from __future__ import annotations

import heapq
import math

from graphc.graph import Graph
from graphc.ops import REGISTRY
from graphc.ops.fused import FusedBody
from graphc.passes.bodies import bodies_first


#: From this many elements on, a lone node of an op that NumPy computes faster (``OpDef.numpy_is_faster``:
#: its SIMD loops use the full AVX-512 width; see docs/performance.md) runs as a NumPy ufunc. Below it,
#: the cost of leaving nopython mode (a few microseconds) outweighs the gain. With other ops around it,
#: the op is fused: one pass over memory and no temporaries beat NumPy's faster single op.
NUMPY_UFUNC_MIN_ELEMENTS = 4096

#: Gap between the labels of successive nodes in the graph of groups, so that nodes moved before a
#: merged group get labels in between without renumbering the others.
LABEL_SPACING = 1 << 32
_DONE = object()


def calls_numpy_ufunc(data: dict) -> bool:
    """Whether a node left out of fused loops (a lone one) is computed by NumPy's own ufunc."""
    op = REGISTRY.get(data["op"])
    return (op is not None and data["dtype"].name in op.numpy_is_faster and None not in data["shape"]
            and math.prod(data["shape"]) >= NUMPY_UFUNC_MIN_ELEMENTS)


def _fusable(graph: Graph, node: int) -> bool:
    data = graph[node]
    op = REGISTRY.get(data["op"])
    if op is None or not data["shape"] or None in data["shape"] or math.prod(data["shape"]) == 0:
        return False
    return (op.elementwise and op.scalar_emit is not None) or data["op"] == "broadcast_to"


class _Groups:
    """Union-find over groups, and the graph of groups: the graph with each group contracted to one node.

    A node of that graph is a group (named by its root) or a node in no group. ``preds`` and ``succs``
    hold what feeds it and what it feeds (ids maybe stale, read through :meth:`canon`), and ``label``
    numbers the nodes in a topological order: labels grow along every edge. A search for "does ``x``
    depend on group ``g``" then only visits nodes labelled at least ``g``'s, so it stays near the pair
    asked about instead of walking everything ``x`` depends on. ``steps`` counts the nodes visited.
    """

    def __init__(self):
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.group_of: dict[int, int] = {}  # member -> a group id (canonical through find)
        self.preds: dict[int, set] = {}     # node or group -> the nodes or groups that feed it
        self.succs: dict[int, set] = {}     # node or group -> the nodes or groups it feeds
        self.label: dict[int, int] = {}     # node or group -> its place in a topological order
        self.top = 0
        self.steps = 0

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def canon(self, x: int) -> int:
        """The node of the graph of groups that ``x`` (a group id, maybe stale, or a node) is now."""
        return self.find(x) if x in self.parent else x

    def of(self, node: int) -> int:
        """The node of the graph of groups that holds ``node``: its group, or itself."""
        return self.find(self.group_of[node]) if node in self.group_of else node

    def add(self, node: int, operands: list[int]) -> None:
        """Enter a node in no group."""
        self._enter(node, operands)

    def new(self, node: int, operands: list[int]) -> int:
        """Enter ``node`` as a group of its own."""
        self.parent[node] = node
        self.members[node] = [node]
        self.group_of[node] = node
        self._enter(node, operands)
        return node

    def merge(self, groups: set, node: int, operands: list[int]) -> int:
        """``node`` joins ``groups``, which become one (``_joinable`` checked that this makes no cycle)."""
        root = min(groups)
        low = min(self.label[g] for g in groups)
        # What the parts placed after ``low`` read may be placed after it too (see _attach).
        before = [p for g in groups if self.label[g] > low for p in self.preds[g]]
        for edges in (self.preds, self.succs):
            parts = [edges.pop(g) for g in groups]
            joined = max(parts, key=len)  # the smaller sets go into the largest
            for part in parts:
                if part is not joined:
                    joined |= part
            edges[root] = joined
        for g in groups - {root}:
            self.parent[g] = root
            self.members[root] += self.members.pop(g)
            del self.label[g]
        self.members[root].append(node)
        self.group_of[node] = root
        self._attach(root, node, operands, low, before)
        return root

    def join_as_reduction(self, node: int, g: int, operands: list[int]) -> None:
        """A ``sum`` of a member of ``g`` joins ``g`` as an accumulator of its loop."""
        self.members[g].append(node)
        self.group_of[node] = g
        self._attach(g, node, operands, self.label[g], [])

    def depends(self, x: int, targets: set) -> bool:
        """Whether ``x`` (a node of the graph of groups) is or depends on one of the groups ``targets``."""
        if not targets:
            return False
        floor = min(self.label[t] for t in targets)
        if self.label[x] < floor:  # labelled before every target: it cannot depend on one
            return False
        heap, seen = [(self.label[x], x)], {x}
        while heap:  # lowest label first: a path down to a target is followed before others
            _, y = heapq.heappop(heap)
            self.steps += 1
            if y in targets:
                return True
            for p in self.preds[y]:
                p = self.canon(p)
                if p not in seen and self.label[p] >= floor:
                    seen.add(p)
                    heapq.heappush(heap, (self.label[p], p))
        return False

    def _enter(self, node: int, operands: list[int]) -> None:
        self.preds[node] = {self.of(u) for u in operands}
        self.succs[node] = set()
        for p in self.preds[node]:
            self.succs[p].add(node)
        if operands:
            self.top += LABEL_SPACING
        self.label[node] = self.top if operands else 0  # an input or a constant: before everything

    def _attach(self, root: int, node: int, operands: list[int], low: int, before: list[int]) -> None:
        """Give group ``root`` (now holding ``node``) the reads of ``node``, and a label again.

        Either the group keeps ``low`` (the earliest label of its parts) and what it depends on that
        is labelled after ``low`` moves to just before it, or the group goes last and what depends
        on it moves after it. Both sets are collected in step, and the smaller one moves.
        """
        added = {self.of(u) for u in operands} - {root}
        self.preds[root] |= added
        for p in added:
            self.succs[p].add(root)
        self.label[root] = low
        walks = (self._walk(before + list(added), self.preds, root, low),
                 self._walk(list(self.succs[root]), self.succs, root, None))
        found: tuple[dict, dict] = ({}, {})
        while True:  # one step of each walk in turn, until one of them is done
            for side, walk in enumerate(walks):
                y = next(walk, _DONE)
                if y is _DONE:
                    return self._move_before(root, found[0]) if side == 0 else self._move_last(root, found[1])
                if y is not None:
                    found[side][y] = self.label[y]

    def _walk(self, seeds: list[int], edges: dict, root: int, low):
        """Yield, one step at a time, the nodes reachable from ``seeds`` through ``edges`` (only those
        labelled above ``low`` unless it is None), ``root`` excluded; None for a step that finds none."""
        seen, stack = {root}, list(seeds)
        while stack:
            y = self.canon(stack.pop())
            self.steps += 1
            if y in seen or (low is not None and self.label[y] <= low):
                yield None
                continue
            seen.add(y)
            stack += edges[y]
            yield y

    def _move_last(self, root: int, descendants: dict) -> None:
        """Label ``root`` and then everything that depends on it after every other node."""
        for y in [root, *sorted(descendants, key=descendants.get)]:
            self.top += LABEL_SPACING
            self.label[y] = self.top

    def _move_before(self, root: int, ancestors: dict) -> None:
        """Label what ``root`` depends on and is labelled after it just below it, in the same order."""
        if not ancestors:
            return
        low = self.label[root]
        floor = max((self.label[p] for y in ancestors for p in map(self.canon, self.preds[y]) if p not in ancestors),
                    default=0)  # the highest label of what the moved nodes depend on, that stays
        step = (low - floor) // (len(ancestors) + 1)
        if step == 0:
            self._relabel()
            return
        for i, y in enumerate(sorted(ancestors, key=ancestors.get), 1):
            self.label[y] = floor + i * step

    def _relabel(self) -> None:
        """Number the whole graph of groups afresh (when no room is left between two labels)."""
        order, done = [], set()
        for start in sorted(self.label, key=self.label.get):
            stack = [(start, False)]
            while stack:  # depth-first, a node after everything it depends on
                y, expanded = stack.pop()
                if expanded:
                    order.append(y)
                elif y not in done:
                    done.add(y)
                    self.steps += 1
                    stack.append((y, True))
                    stack += [(p, False) for p in map(self.canon, self.preds[y]) if p not in done]
        for i, y in enumerate(order, 1):
            self.label[y] = i * LABEL_SPACING if self.preds[y] else 0
        self.top = len(order) * LABEL_SPACING


@bodies_first
def fuse_elementwise(graph: Graph) -> Graph:
    """A copy of ``graph`` in which each fusable group has become ``fused`` nodes.

    ``new.notes["fuse"]["dependency_steps"]`` counts the nodes the legality checks visited (this
    graph's, not its bodies'): about proportional to the number of nodes.
    """
    groups = _Groups()
    group_of = groups.group_of
    reductions: set[int] = set()
    for node in graph.topo_order():
        operands = graph.operands(node)
        data = graph[node]
        if _fusable(graph, node):
            chosen = _joinable(graph, groups, reductions, node, operands)
            if chosen:
                groups.merge(chosen, node, operands)
            else:
                groups.new(node, operands)
        elif data["op"] == "sum" and operands[0] in group_of and operands[0] not in reductions:
            groups.join_as_reduction(node, groups.find(group_of[operands[0]]), operands)
            reductions.add(node)
        else:
            groups.add(node, operands)
    new = graph.copy()
    new.notes["fuse"] = {"dependency_steps": groups.steps}
    carried: dict[int, int] = {}  # member of an earlier contracted group -> the fused node carrying it
    for root, members in groups.members.items():
        elementwise = [m for m in members if m not in reductions]
        # A lone op is a loop as well. Measured on the op table's kernels (min of 3 compiles, numba
        # 0.68.1): prod's value and gradient 20.8 -> 16.9 s, multiply's 11.0 -> 8.7 s; a micro-benchmark
        # of 20 statements put Numba's array expression ``a * b`` of two 4x4 arrays at about 600 ms a
        # statement (1,350 lines of LLVM IR each) against about 130 ms for the loop with its np.empty.
        lone_ufunc = len(members) == 1 and calls_numpy_ufunc(graph[members[0]])
        if not lone_ufunc and any(graph[m]["op"] != "broadcast_to" for m in elementwise):
            _contract(new, graph, sorted(members), graph[elementwise[0]]["shape"], carried)
    return new


def _joinable(graph: Graph, groups: _Groups, reductions: set, node: int, operands: list[int]) -> set:
    """The groups of ``node``'s operands it can join without making a cycle, largest first."""
    group_of = groups.group_of
    shape = graph[node]["shape"]
    candidates = {groups.find(group_of[u]) for u in operands
                  if u in group_of and u not in reductions and graph[u]["shape"] == shape}
    chosen: set = set()
    for g in sorted(candidates, key=lambda g: -len(groups.members[g])):
        trial = chosen | {g}
        outside = [u for u in operands
                   if not (u in group_of and u not in reductions and groups.find(group_of[u]) in trial)]
        # Joining is legal when no value read from outside depends on the joined groups, and
        # no joined group depends on another one (directly or through nodes outside them).
        if any(groups.depends(groups.of(u), trial) for u in outside):
            continue
        if any(groups.depends(h, trial - {h}) for h in trial):
            continue
        chosen = trial
    return chosen


def _contract(new: Graph, graph: Graph, members: list[int], space: tuple, carried: dict) -> None:
    """Replace ``members`` in ``new`` by fused nodes sharing one body."""
    member_set = set(members)
    read: dict[int, None] = {}  # the values the group reads, in order of first read
    for m in members:
        for u in graph.operands(m):
            u = carried.get(u, u)
            if u not in member_set:
                read.setdefault(u)
    reads = list(read)
    outputs = [m for m in members if graph[m]["op"] == "sum"
               or m in graph.outputs or any(v not in member_set for v in graph.users(m))]
    inner = Graph()
    for u in reads:
        inner.dag.add_node(u, op="input", shape=new[u]["shape"], dtype=new[u]["dtype"], attrs={}, name=f"%{u}")
        inner.inputs.append(u)
    for m in members:
        inner.dag.add_node(m, **graph[m])
        for position, u in enumerate(graph.operands(m)):
            inner.dag.add_edge(carried.get(u, u), m, key=position)
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
    new.dag.remove_nodes_from(members)
