"""The graph IR: a static DAG over a networkx multi-digraph, one node per primitive op.

A node is an integer id with data ``op``, ``shape``, ``dtype``, ``attrs`` (a dict of hashable
values), ``value`` (constants), ``name`` (inputs), ``adjoint_of`` (the primal node whose
adjoint rule created it) and ``loc`` (the user's ``file:line``). Operand ``i`` of node ``v``
is the edge ``(u, v, key=i)``, so ``x * x`` has two edges from ``x`` and operand order is kept.

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

import networkx as nx
import numpy as np

from graphc.errors import GraphcInternalError
from graphc.ops import LEAF_OPS, REGISTRY, Aval
from graphc.tree import LEAF, TreeDef


def dtype_name(dtype) -> str:
    """``f64``, ``f32``, ``i64``, ``bool``…: the short dtype names of listings."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "bool"
    return f"{dtype.kind}{dtype.itemsize * 8}"


def type_name(shape, dtype) -> str:
    """``f64[256,10]``: a node's type as listings show it."""
    return f"{dtype_name(dtype)}[{','.join(map(str, shape))}]"


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
        return format_index(value)
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


class Graph:
    """A traced computation: ``nx`` (networkx), ``inputs`` and ``outputs`` (node ids).

    ``print(graph)`` lists the nodes in topological order; ``to_dot()`` draws them.
    ``in_tree``/``out_tree`` keep the pytree structure of the arguments and results.
    """

    def __init__(self):
        self.nx = nx.MultiDiGraph()
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.in_tree: TreeDef = TreeDef("tuple", (), ())
        self.out_tree: TreeDef = LEAF
        self.next_id = 0
        self.notes: dict = {}  # what passes report about their work (rule counts), for lower().stats

    # ---- building ------------------------------------------------------------------------------
    def add_node(self, op: str, operands=(), *, shape, dtype, attrs=None, **data) -> int:
        """Append a node; returns its id. ``data`` may hold value, name, adjoint_of, loc."""
        node = self.next_id
        self.next_id += 1
        self.nx.add_node(node, op=op, shape=tuple(shape), dtype=np.dtype(dtype), attrs=dict(attrs or {}),
                         **{k: v for k, v in data.items() if v is not None})
        for position, operand in enumerate(operands):
            self.nx.add_edge(operand, node, key=position)
        return node

    def copy(self) -> "Graph":
        """A copy that can be changed without touching this graph (constant values are shared)."""
        new = copy.copy(self)
        new.nx = self.nx.copy()
        new.inputs, new.outputs = list(self.inputs), list(self.outputs)
        new.notes = dict(self.notes)
        return new

    def replace_uses(self, old: int, new: int) -> None:
        """Make every user of ``old`` (and the outputs) use ``new`` instead, operand positions kept."""
        for _, user, position in list(self.nx.out_edges(old, keys=True)):
            self.nx.remove_edge(old, user, key=position)
            self.nx.add_edge(new, user, key=position)
        self.outputs = [new if n == old else n for n in self.outputs]

    def make_constant(self, node: int, value) -> None:
        """Turn ``node`` into a constant holding ``value`` (its id, and so its name, is kept)."""
        value = np.asarray(value)
        value.flags.writeable = False
        self.nx.remove_edges_from(list(self.nx.in_edges(node, keys=True)))
        data = self.nx.nodes[node]
        kept = {k: data[k] for k in ("adjoint_of", "loc") if k in data}
        data.clear()
        data.update(op="constant", shape=value.shape, dtype=value.dtype, attrs={}, value=value, **kept)

    # ---- reading -------------------------------------------------------------------------------
    def __getitem__(self, node: int) -> dict:
        return self.nx.nodes[node]

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def operands(self, node: int) -> list[int]:
        """The operands of ``node`` in order."""
        edges = sorted(self.nx.in_edges(node, keys=True), key=lambda e: e[2])
        return [u for u, _, _ in edges]

    def users(self, node: int) -> list[int]:
        return list(dict.fromkeys(v for _, v in self.nx.out_edges(node)))

    def aval(self, node: int) -> Aval:
        data = self.nx.nodes[node]
        return Aval(data["shape"], data["dtype"])

    def topo_order(self) -> list[int]:
        """Node ids in topological order, earliest-created first among equals."""
        return list(nx.lexicographical_topological_sort(self.nx))

    def is_adjoint(self, node: int) -> bool:
        return "adjoint_of" in self.nx.nodes[node]

    # ---- showing -------------------------------------------------------------------------------
    def format_node(self, node: int) -> str:
        """One listing line: ``%5 = multiply %3 %4 : f64[256,10]``."""
        data = self.nx.nodes[node]
        op = data["op"]
        words = [f"%{node} =", op]
        if op == "input":
            words.append(data.get("name", "?"))
        elif op == "constant":
            words.append(format_constant(data["value"]))
        if op == "fused":
            words[-1] = f"fused[{data['attrs']['output']}]"
        words += [f"%{u}" for u in self.operands(node)]
        words += [_format_attr(k, v) for k, v in data["attrs"].items() if k not in ("body", "output")]
        line = " ".join(words) + f" : {type_name(data['shape'], data['dtype'])}"
        if "adjoint_of" in data:
            line += f"  ; adjoint of %{data['adjoint_of']}"
        return line

    def signature(self) -> str:
        args = ", ".join(f"{self[n].get('name', '?')}: {type_name(self[n]['shape'], self[n]['dtype'])}"
                         for n in self.inputs)
        results = ", ".join(type_name(self[n]["shape"], self[n]["dtype"]) for n in self.outputs)
        return f"({args}) -> {results if len(self.outputs) == 1 else '(' + results + ')'}"

    def __str__(self) -> str:
        lines = [f"graph {self.signature()}"]
        for node in self.topo_order():
            lines.append("  " + self.format_node(node))
            attrs = self[node]["attrs"]
            if self[node]["op"] == "fused":
                body = attrs["body"]
                if attrs["output"] == 0:  # the loop's ops, indented under its first result
                    inner = body.graph
                    lines += ["      " + inner.format_node(m) for m in inner.topo_order() if inner[m]["op"] != "input"]
                else:
                    lines[-1] += f"  ; same loop as %{body.nodes[0]}"
        lines.append("  return " + ", ".join(f"%{n}" for n in self.outputs))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<graphc.Graph {self.signature()}, {len(self)} nodes>"

    def to_dot(self, name: str = "graphc") -> str:
        """Graphviz DOT text; the backward pass is drawn in red, inputs green, outputs bold."""
        from graphc.dot import graph_to_dot

        return graph_to_dot(self, name)

    # ---- checking ------------------------------------------------------------------------------
    def verify(self) -> None:
        """Check the graph's invariants; raise GraphcInternalError when one does not hold."""
        problems = []
        if not nx.is_directed_acyclic_graph(self.nx):
            problems.append("the graph has a cycle")
        for n in list(self.inputs) + list(self.outputs):
            if n not in self.nx:
                problems.append(f"input/output %{n} is not a node")
        for node, data in self.nx.nodes(data=True):
            op = data["op"]
            operands = self.operands(node)
            if sorted(k for _, _, k in self.nx.in_edges(node, keys=True)) != list(range(len(operands))):
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
            expected = opdef.shape(*(self.aval(u) for u in operands), **data["attrs"])
            if tuple(expected.shape) != data["shape"] or np.dtype(expected.dtype) != data["dtype"]:
                problems.append(f"%{node}: {op} should give {type_name(*expected)}, "
                                f"node says {type_name(data['shape'], data['dtype'])}")
        if problems:
            raise GraphcInternalError("graph failed verification (graphc bug; please report):\n  "
                                      + "\n  ".join(problems))
