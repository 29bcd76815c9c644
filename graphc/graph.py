"""The graph IR: a static DAG in networkx's multi-digraph layout, one node per primitive op.

A node is an integer id with data ``op``, ``shape``, ``dtype``, ``attrs`` (a dict of hashable
values), ``value`` (constants), ``name`` (inputs), ``adjoint_of`` (the primal node whose
adjoint rule created it) and ``loc`` (the user's ``file:line``). Operand ``i`` of node ``v``
is the edge ``(u, v, key=i)``, so ``x * x`` has two edges from ``x`` and operand order is kept.
``graph.nx`` is that graph as a ``networkx.MultiDiGraph`` (sharing its dicts); graphc's own passes
work on the dicts and never import networkx, whose import (0.15 s, its algorithms and backends)
was half of ``import graphc``.

>>> import numpy as np, graphc
>>> print(graphc.trace(lambda x, y: (x + y) * x, 1.0, 3.0))
graph (x: f64[], y: f64[]) -> f64[]
  %0 = input x : f64[]
  %1 = input y : f64[]
  %2 = add %0 %1 : f64[]
  %3 = multiply %2 %0 : f64[]
  return %3
"""
from __future__ import annotations

import copy
import hashlib
import heapq

import numpy as np

from graphc.errors import GraphcInternalError
from graphc.ops import LEAF_OPS, REGISTRY, Aval, Results
from graphc.tree import LEAF, TreeDef


#: Attribute keys that hold body graphs (loops, branches, calls, custom rules): listed nested, never as
#: ``key=value``.
BODY_ATTRS = ("body", "cond", "branches", "bwd")


def body_graphs(data: dict) -> list:
    """The body graphs a node holds in its attributes (a scan's body, a cond's branches), in order."""
    attrs = data["attrs"]
    found = []
    for key in BODY_ATTRS:
        value = attrs.get(key)
        if isinstance(value, Graph):
            found.append(value)
        elif isinstance(value, tuple) and value and all(isinstance(v, Graph) for v in value):
            found.extend(value)
    return found


def attr_key(value) -> str:
    """A text that tells attribute values apart: a body graph by its fingerprint, others by repr."""
    if isinstance(value, Graph):
        return "graph:" + value.fingerprint()
    if isinstance(value, tuple) and value and all(isinstance(v, Graph) for v in value):
        return "graphs:" + ",".join(v.fingerprint() for v in value)
    return repr(value)


def dtype_name(dtype) -> str:
    """``f64``, ``f32``, ``i64``, ``bool``…: the short dtype names of listings."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "bool"
    return f"{dtype.kind}{dtype.itemsize * 8}"


def type_name(shape, dtype) -> str:
    """``f64[256,10]``: a node's type as listings show it; a length known only at run time is ``?``."""
    return f"{dtype_name(dtype)}[{','.join('?' if n is None else str(n) for n in shape)}]"


def data_type_name(data: dict) -> str:
    """A node's type: ``f64[3]``, or ``(f64[16], f64[200,16])`` for a node with several results."""
    results = data.get("results")
    if results is not None:
        return "(" + ", ".join(type_name(*r) for r in results) + ")"
    return type_name(data["shape"], data["dtype"])


def format_index(index: tuple) -> str:
    """A normalized basic index as Python writes it: ``[1:, ::2]``."""
    parts = []
    for e in index:
        if e is None:
            parts.append("None")
        elif isinstance(e, tuple):
            _, start, stop, step = e
            parts.append(f"{start}:{stop if stop >= 0 else ''}" + (f":{step}" if step != 1 else ""))
        else:
            parts.append(str(e))
    return "[" + ", ".join(parts) + "]"


def _format_attr(key, value) -> str:
    if key == "index":
        return f"[{value}]" if isinstance(value, int) else format_index(value)  # unpack's result number
    if key == "dtype":
        return f"dtype={dtype_name(value)}"
    return f"{key}={value}"


def format_constant(value) -> str:
    value = np.asarray(value)
    if value.ndim == 0:
        return repr(value.item())
    if value.size <= 6:
        return np.array2string(value, separator=",", precision=6).replace("\n", "")
    return "<array>"


def _first(pair):
    return pair[0]


class Dag:
    """A ``networkx.MultiDiGraph``'s storage, laid out as networkx lays it out, without networkx.

    ``_node`` maps a node to its attribute dict; ``_succ[u][v]`` and ``_pred[v][u]`` are the same key
    dict ``{key: edge attributes}``. :attr:`Graph.nx` wraps these dicts in a real MultiDiGraph, so
    what networkx shows and what graphc changes are one graph. tests/test_graph.py checks the
    operations here against networkx's own.
    """

    __slots__ = ("_node", "_succ", "_pred", "graph")

    def __init__(self):
        self._node: dict = {}
        self._succ: dict = {}
        self._pred: dict = {}
        self.graph: dict = {}

    def __iter__(self):
        return iter(self._node)

    def __contains__(self, node) -> bool:
        return node in self._node

    def __len__(self) -> int:
        return len(self._node)

    def add_node(self, node: int, **attrs) -> None:
        if node in self._node:
            self._node[node].update(attrs)
            return
        self._node[node], self._succ[node], self._pred[node] = attrs, {}, {}

    def add_edge(self, u: int, v: int, key: int) -> None:
        for node in (u, v):  # as networkx does: an edge's missing end becomes a node
            if node not in self._node:
                self.add_node(node)
        keys = self._succ[u].get(v)
        if keys is None:
            keys = self._succ[u][v] = self._pred[v][u] = {}
        keys[key] = {}

    def remove_edge(self, u: int, v: int, key: int) -> None:
        keys = self._succ[u][v]
        del keys[key]
        if not keys:
            del self._succ[u][v], self._pred[v][u]

    def in_edges(self, node: int) -> list[tuple]:
        """``(operand, node, position)`` for every edge into ``node``."""
        return [(u, node, key) for u, keys in self._pred[node].items() for key in keys]

    def remove_in_edges(self, node: int) -> None:
        for u, _, key in self.in_edges(node):
            self.remove_edge(u, node, key)

    def remove_node(self, node: int) -> None:
        for v in self._succ.pop(node):
            del self._pred[v][node]
        for u in self._pred.pop(node):
            del self._succ[u][node]
        del self._node[node]

    def remove_nodes_from(self, nodes) -> None:
        for node in nodes:
            if node in self._node:
                self.remove_node(node)

    def copy(self) -> "Dag":
        """What networkx's ``copy()`` makes (the same dicts in the same order, each edge's key dict
        shared by its two ends, attribute dicts copied one level), built on the dicts directly:
        networkx adds the edges one ``add_edge`` at a time, which was half the time of the passes."""
        new = Dag()
        new.graph.update(self.graph)
        new._node.update((n, data.copy()) for n, data in self._node.items())
        succ, pred = new._succ, new._pred
        for n in self._node:
            succ[n], pred[n] = {}, {}
        for u, users in self._succ.items():
            out = succ[u]
            for v, keys in users.items():
                out[v] = pred[v][u] = {key: data.copy() for key, data in keys.items()}
        return new

    def reachable(self, start: int, upstream: bool) -> set[int]:
        """The nodes ``start`` reads, directly or not (``upstream``), or the nodes that read it;
        ``start`` itself is not included (networkx's ``ancestors`` / ``descendants``)."""
        links = self._pred if upstream else self._succ
        seen, stack = set(), [start]
        while stack:
            for other in links[stack.pop()]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        seen.discard(start)
        return seen


class Graph:
    """A traced computation: ``dag`` (its nodes and edges; ``nx`` shows them as a networkx graph),
    ``inputs`` and ``outputs`` (node ids).

    ``print(graph)`` lists the nodes in topological order; ``to_dot()`` draws them.
    ``in_tree``/``out_tree`` keep the pytree structure of the arguments and results.
    """

    def __init__(self):
        self.dag = Dag()
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.in_tree: TreeDef = TreeDef("tuple", (), ())
        self.out_tree: TreeDef = LEAF
        self.next_id = 0
        # The trace whose argument sizes this graph's shapes may read at run time (graphc.dims).
        self.dim_scope: str | None = None
        self.notes: dict = {}  # what passes report about their work (rule counts), for lower().stats
        # A body graph being traced inside another (a scan's body): the enclosing graph, and the input
        # node that stands for each value of it that the body reads (a closed-over weight).
        self.parent: Graph | None = None
        self.captures: dict[int, int] = {}

    # ---- building ------------------------------------------------------------------------------
    def add_node(self, op: str, operands=(), *, shape, dtype, attrs=None, **data) -> int:
        """Append a node; returns its id. ``data`` may hold value, name, adjoint_of, loc, and
        ``results`` (the types of a node with several results, read through ``unpack`` nodes)."""
        node = self.next_id
        self.next_id += 1
        self.dag.add_node(node, op=op, shape=tuple(shape), dtype=np.dtype(dtype), attrs=dict(attrs or {}),
                          **{k: v for k, v in data.items() if v is not None})
        for position, operand in enumerate(operands):
            self.dag.add_edge(operand, node, key=position)
        return node

    @property
    def nx(self):
        """This graph as a ``networkx.MultiDiGraph`` (nodes carry op/shape/dtype; operand ``i`` of
        ``v`` is the edge ``(u, v, key=i)``). It shares this graph's dicts: no copy is made, and a change
        made through it is a change to the graph."""
        import networkx

        view = networkx.MultiDiGraph()
        view._node, view._pred, view.graph = self.dag._node, self.dag._pred, self.dag.graph
        view._adj = view._succ = self.dag._succ
        return view

    def copy(self) -> "Graph":
        """A copy that can be changed without touching this graph (constant values are shared)."""
        new = copy.copy(self)
        new.dag = self.dag.copy()
        new.inputs, new.outputs = list(self.inputs), list(self.outputs)
        new.notes = dict(self.notes)
        new.captures = dict(self.captures)
        return new

    def replace_uses(self, old: int, new: int) -> None:
        """Make every user of ``old`` (and the outputs) use ``new`` instead, operand positions kept."""
        moved = [(user, position) for user, positions in self.dag._succ[old].items() for position in positions]
        for user, position in moved:
            self.dag.remove_edge(old, user, key=position)
            self.dag.add_edge(new, user, key=position)
        self.outputs = [new if n == old else n for n in self.outputs]

    def make_constant(self, node: int, value) -> None:
        """Turn ``node`` into a constant holding ``value`` (its id, and so its name, is kept)."""
        value = np.asarray(value)
        value.flags.writeable = False
        self.dag.remove_in_edges(node)
        data = self.dag._node[node]
        kept = {k: data[k] for k in ("adjoint_of", "loc") if k in data}
        data.clear()
        data.update(op="constant", shape=value.shape, dtype=value.dtype, attrs={}, value=value, **kept)

    # ---- reading -------------------------------------------------------------------------------
    def __getitem__(self, node: int) -> dict:
        return self.dag._node[node]

    def __len__(self) -> int:
        return len(self.dag._node)

    def operands(self, node: int) -> list[int]:
        """The operands of ``node`` in order."""
        edges = [(position, u) for u, positions in self.dag._pred[node].items() for position in positions]
        edges.sort(key=_first)
        return [u for _, u in edges]

    def users(self, node: int) -> list[int]:
        """The nodes that read ``node``, each once, in the order their edges were made."""
        return list(self.dag._succ[node])

    def aval(self, node: int) -> Aval:
        """The node's type; for a node of several results, their types as :class:`Results`."""
        data = self.dag._node[node]
        results = data.get("results")
        if results is not None:
            return results
        return Aval(data["shape"], data["dtype"])

    def capture(self, outer_graph: "Graph", outer_node: int) -> int:
        """The input node of this body graph that stands for ``outer_node`` of an enclosing graph.

        Made on first use (through every graph in between when the value is from further out); the
        control-flow node passes the captured values in as operands.
        """
        if self.parent is None:
            raise GraphcInternalError("capture into a graph that has no enclosing graph")
        if self.parent is not outer_graph:
            outer_node = self.parent.capture(outer_graph, outer_node)
        node = self.captures.get(outer_node)
        if node is None:
            data = self.parent[outer_node]
            node = self.add_node("input", shape=data["shape"], dtype=data["dtype"], name=f"outer%{outer_node}")
            self.captures[outer_node] = node
        return node

    def encloses(self, other: "Graph") -> bool:
        """Whether ``other`` is this graph or one of the graphs it is traced inside."""
        graph = self
        while graph is not None:
            if graph is other:
                return True
            graph = graph.parent
        return False

    def fingerprint(self) -> str:
        """SHA-256 of everything the graph computes: nodes, operands, attributes (bodies included),
        constant bytes, inputs and outputs. Equal fingerprints mean interchangeable graphs."""
        h = hashlib.sha256()
        for node in self.topo_order():
            data = self.dag._node[node]
            attrs = sorted((k, attr_key(v)) for k, v in data["attrs"].items())
            h.update(f"{node}={data['op']}{self.operands(node)}{attrs}{data_type_name(data)}"
                     f"{data['dtype'].str}\n".encode())
            if data["op"] == "constant":
                h.update(np.ascontiguousarray(data["value"]).tobytes())
        h.update(f"in={self.inputs};out={self.outputs}".encode())
        return h.hexdigest()

    def topo_order(self) -> list[int]:
        """Node ids in topological order, earliest-created first among equals.

        The order of ``nx.lexicographical_topological_sort``, computed on the adjacency dicts:
        passes call this on every graph they make, and networkx's generic version took about
        20 µs a node (its edge views and key wrappers).
        """
        succ = self.dag._succ
        waiting = {v: len(preds) for v, preds in self.dag._pred.items()}
        ready = [v for v, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for user in succ[node]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, user)
        if len(order) != len(waiting):
            raise GraphcInternalError("the graph has a cycle (graphc bug; please report)")
        return order

    def is_adjoint(self, node: int) -> bool:
        return "adjoint_of" in self.dag._node[node]

    def is_tangent(self, node: int) -> bool:
        """Whether forward mode made ``node`` (graphc.passes.forward)."""
        return bool(self.dag._node[node].get("tangent"))

    # ---- showing -------------------------------------------------------------------------------
    def format_node(self, node: int) -> str:
        """One listing line: ``%5 = multiply %3 %4 : f64[256,10]``."""
        data = self.dag._node[node]
        op = data["op"]
        words = [f"%{node} =", op]
        if op == "input":
            words.append(data.get("name", "?"))
        elif op == "constant":
            words.append(format_constant(data["value"]))
        if op == "fused":
            words[-1] = f"fused[{data['attrs']['output']}]"
        words += [f"%{u}" for u in self.operands(node)]
        words += [_format_attr(k, v) for k, v in data["attrs"].items() if k not in BODY_ATTRS + ("output",)]
        line = " ".join(words) + f" : {data_type_name(data)}"
        if data.get("tangent"):
            line += "  ; tangent"
        elif "adjoint_of" in data:
            line += f"  ; adjoint of %{data['adjoint_of']}"
        return line

    def signature(self) -> str:
        args = ", ".join(f"{self[n].get('name', '?')}: {type_name(self[n]['shape'], self[n]['dtype'])}"
                         for n in self.inputs)
        results = ", ".join(type_name(self[n]["shape"], self[n]["dtype"]) for n in self.outputs)
        return f"({args}) -> {results if len(self.outputs) == 1 else '(' + results + ')'}"

    def __str__(self) -> str:
        return "\n".join([f"graph {self.signature()}", *self._body_lines("  "),
                          "  return " + ", ".join(f"%{n}" for n in self.outputs)])

    def _body_lines(self, indent: str) -> list[str]:
        """The listing's node lines, with bodies of control-flow nodes nested one level deeper."""
        lines = []
        for node in self.topo_order():
            lines.append(indent + self.format_node(node))
            data = self[node]
            attrs = data["attrs"]
            if data["op"] == "fused":
                body = attrs["body"]
                if attrs["output"] == 0:  # the loop's ops, indented under its first result
                    inner = body.graph
                    lines += [indent + "    " + inner.format_node(m) for m in inner.topo_order()
                              if inner[m]["op"] != "input"]
                else:
                    lines[-1] += f"  ; same loop as %{body.nodes[0]}"
                continue
            for key in BODY_ATTRS:
                value = attrs.get(key)
                bodies = value if isinstance(value, tuple) else (value,)
                for i, body in enumerate(bodies):
                    if isinstance(body, Graph):
                        label = key if not isinstance(value, tuple) else f"{key}[{i}]"
                        params = ", ".join(f"%{n}" for n in body.inputs)
                        lines.append(f"{indent}    {label} ({params}):")
                        lines += body._body_lines(indent + "      ")
                        lines.append(f"{indent}      yield " + ", ".join(f"%{n}" for n in body.outputs))
        return lines

    def __repr__(self) -> str:
        return f"<graphc.Graph {self.signature()}, {len(self)} nodes>"

    def to_dot(self, name: str = "graphc") -> str:
        """Graphviz DOT text; the backward pass is drawn in red, inputs green, outputs bold."""
        from graphc.dot import graph_to_dot

        return graph_to_dot(self, name)

    # ---- checking ------------------------------------------------------------------------------
    def verify(self) -> None:
        """Check the graph's invariants, bodies of control-flow nodes included; raise
        GraphcInternalError when one does not hold."""
        problems = self._problems()
        if problems:
            raise GraphcInternalError("graph failed verification (graphc bug; please report):\n  "
                                      + "\n  ".join(problems))

    def _problems(self, where: str = "") -> list[str]:
        problems = []
        try:
            self.topo_order()
        except GraphcInternalError:
            problems.append("the graph has a cycle")
        for n in list(self.inputs) + list(self.outputs):
            if n not in self.dag:
                problems.append(f"input/output %{n} is not a node")
        for node, data in self.dag._node.items():
            op = data["op"]
            operands = self.operands(node)
            if sorted(k for _, _, k in self.dag.in_edges(node)) != list(range(len(operands))):
                problems.append(f"%{node}: operand positions are not 0..{len(operands) - 1}")
            if op in LEAF_OPS:
                if operands:
                    problems.append(f"%{node}: {op} has operands")
                continue
            opdef = REGISTRY.get(op)
            if opdef is None:
                problems.append(f"%{node}: unknown op {op!r}")
                continue
            if opdef.arity is not None and len(operands) != opdef.arity:
                problems.append(f"%{node}: {op} takes {opdef.arity} operands, has {len(operands)}")
                continue
            if any("results" in self[u] for u in operands) and op != "unpack":
                problems.append(f"%{node}: {op} reads a node of several results; only unpack may")
                continue
            for i, body in enumerate(body_graphs(data)):
                problems += body._problems(f"{where}%{node} body {i}: ")
            try:
                expected = opdef.shape(*(self.aval(u) for u in operands), **data["attrs"])
            except Exception as error:  # noqa: BLE001 -- a shape rule refusing its operands is a finding
                problems.append(f"%{node}: {op}'s shape rule refuses its operands: {error}")
                continue
            if isinstance(expected, Results):
                if tuple(expected) != tuple(data.get("results", ())):
                    problems.append(f"%{node}: {op} should give {Results.name(expected)}, node says "
                                    f"{data_type_name(data)}")
            elif tuple(expected.shape) != data["shape"] or np.dtype(expected.dtype) != data["dtype"]:
                problems.append(f"%{node}: {op} should give {type_name(*expected)}, "
                                f"node says {type_name(data['shape'], data['dtype'])}")
        return [where + p for p in problems]
