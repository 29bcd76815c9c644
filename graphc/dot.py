r"""Graphviz DOT output for a Graph: op and type on every node, the passes told apart by style.

Inputs are green, constants grey, the forward pass white, the backward pass (adjoint nodes) red,
forward-mode tangent nodes orange, outputs bold. A fused loop is one blue box per value that leaves
it; the boxes of one loop sit in one dashed cluster whose label says how many ops the loop runs, so an
optimized graph stays small.

>>> import graphc
>>> dot = graphc.trace(lambda x, y: (x + y) * x, 1.0, 2.0).to_dot()
>>> 'n2 [label="%2 add\\nf64[]"' in dot
True

Render it with Graphviz: ``dot -Tsvg graph.dot -o graph.svg`` (or ``graphc inspect --svg``).
"""
from __future__ import annotations

from graphc.graph import Graph, body_graphs, data_type_name, format_constant, format_index
from graphc.ops import REGISTRY

_RED = "#c62828"
_ORANGE = "#ef6c00"
# Fill colours: inputs green, constants grey, the forward pass white, the backward pass red, loops blue.
_STYLE = {
    "input": 'shape=box, style="filled,rounded", fillcolor="#c8e6c9"',
    "constant": 'shape=box, style=filled, fillcolor="#eeeeee", fontsize=10',
    "adjoint_constant": f'shape=box, style=filled, fillcolor="#eeeeee", color="{_RED}", fontsize=10',
    "forward": 'shape=box, style="filled,rounded", fillcolor="#ffffff"',
    "adjoint": f'shape=box, style="filled,rounded", fillcolor="#ffcdd2", color="{_RED}"',
    "tangent": f'shape=box, style="filled,rounded", fillcolor="#ffe0b2", color="{_ORANGE}"',
    "fused": 'shape=box3d, style=filled, fillcolor="#bbdefb"',
    "adjoint_fused": f'shape=box3d, style=filled, fillcolor="#bbdefb", color="{_RED}"',
}

# The key drawn above every picture, in the colours of _STYLE.
_LEGEND = ('<<table border="0" cellspacing="4"><tr>'
           '<td bgcolor="#c8e6c9">input</td><td bgcolor="#eeeeee">constant</td>'
           '<td bgcolor="#ffffff" border="1">forward</td><td bgcolor="#ffcdd2">adjoint (backward pass)</td>'
           '<td bgcolor="#ffe0b2">tangent (forward mode)</td>'
           '<td bgcolor="#bbdefb">fused loop</td><td border="3">output</td></tr></table>>')

# How many op names a loop's cluster label lists before "...".
_MAX_LISTED = 6


def _quote(text: str) -> str:
    """A DOT string literal; backslash and quote escaped, newlines as DOT line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _loop_ops(body) -> list[str]:
    """The op names a fused loop runs, in order (its inputs are not ops)."""
    inner = body.graph
    return [inner[m]["op"] for m in inner.topo_order() if inner[m]["op"] not in ("input", "constant")]


def _label(graph: Graph, node: int) -> str:
    data = graph[node]
    op = data["op"]
    attrs = data["attrs"]
    head = f"%{node} {op}"
    if op == "input":
        head = f"%{node} {data.get('name', 'input')}"
    elif op == "constant":
        head = f"%{node} {format_constant(data['value'])}"
    elif op == "fused":
        # As the listing names it, and which of the loop's ops this box carries out: "%81 fused[1]: sum".
        body, output = attrs["body"], attrs["output"]
        inner = body.graph
        head = f"%{node} fused[{output}]: {inner[inner.outputs[output]]['op']}"
    if "index" in attrs:
        head += f"[{attrs['index']}]" if isinstance(attrs["index"], int) else format_index(attrs["index"])
    elif op == "scan":
        head += f" x{attrs['length'] if attrs['length'] is not None else '?'}" + (" reverse" if attrs["reverse"] else "")
    elif "axis" in attrs and op != "fused":
        head += f" axis={attrs['axis']}"
    return f"{head}\n{data_type_name(data)}"


def _kind(graph: Graph, node: int) -> str:
    op = graph[node]["op"]
    if op == "input":
        return op
    if op in ("constant", "fused"):
        return ("adjoint_" if graph.is_adjoint(node) else "") + op
    if graph.is_tangent(node):
        return "tangent"
    return "adjoint" if graph.is_adjoint(node) else "forward"


def _node_line(graph: Graph, node: int, outputs: set, indent: str, prefix: str = "n") -> str:
    data = graph[node]
    style = _STYLE[_kind(graph, node)]
    if node in outputs:
        style += ", penwidth=3"
    if "loc" in data:  # hovering over a node in an SVG shows the user's line that made it
        style += f", tooltip={_quote(data['loc'])}"
    return f"{indent}{prefix}{node} [label={_quote(_label(graph, node))}, {style}];"


def _statements(graph: Graph, prefix: str, indent: str) -> list[str]:
    """Nodes, fused-loop clusters, body clusters and edges of one graph; its node ``%7`` is ``<prefix>7``."""
    lines = []
    outputs = set(graph.outputs)
    order = graph.topo_order()
    loops: dict[int, list[int]] = {}  # id of a loop's body -> its fused nodes, in order
    bodies = {}
    for node in order:
        if graph[node]["op"] == "fused":
            body = graph[node]["attrs"]["body"]
            loops.setdefault(id(body), []).append(node)
            bodies[id(body)] = body
        else:
            lines.append(_node_line(graph, node, outputs, indent, prefix))
    for number, (key, members) in enumerate(loops.items()):
        body = bodies[key]
        ops = _loop_ops(body)
        listed = ", ".join(ops[:_MAX_LISTED]) + (", ..." if len(ops) > _MAX_LISTED else "")
        space = ",".join(map(str, body.space))
        title = f"loop {number} over [{space}]: {len(ops)} ops\n{listed}"
        lines.append(f"{indent}subgraph cluster_{prefix}loop{number} {{")
        lines.append(f'{indent}  label={_quote(title)}; style="dashed,rounded"; color="#1565c0"; fontsize=10;')
        lines += [_node_line(graph, node, outputs, indent + "  ", prefix) for node in members]
        lines.append(f"{indent}}}")
    for node in order:
        for k, body in enumerate(body_graphs(graph[node])):
            # A loop or branch body: its own graph in a cluster, entered by a dotted edge from its node.
            inner = f"{prefix}{node}_{k}_"
            kind = graph[node]["op"]
            title = f"{'branch ' + str(k) if kind == 'cond' else ('condition' if kind == 'while_loop' and k == 0 else 'body')} of %{node} {kind}"
            lines.append(f"{indent}subgraph cluster_{inner} {{")
            lines.append(f'{indent}  label={_quote(title)}; style="rounded"; color="#6a1b9a"; fontsize=10;')
            lines += _statements(body, inner, indent + "  ")
            lines.append(f"{indent}}}")
            if body.inputs:
                lines.append(f'{indent}{prefix}{node} -> {inner}{body.inputs[0]} [style=dotted, color="#6a1b9a", '
                             f'lhead=cluster_{inner}];')
    for node in order:
        operands = graph.operands(node)
        # A commutative op's operand order does not change its result (a fused loop's edges are its
        # cluster's inputs): no position labels on its edges.
        op = graph[node]["op"]
        numbered = len(operands) > 1 and op != "fused" and not REGISTRY[op].commutative
        for position, operand in enumerate(operands):
            attrs = [f"label={position}"] if numbered else []
            if graph.is_adjoint(node):
                attrs.append('color="#e57373"')
            lines.append(f"{indent}{prefix}{operand} -> {prefix}{node}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    return lines


def graph_to_dot(graph: Graph, name: str = "graphc") -> str:
    """DOT text for ``graph``: one statement a line, node ``%7`` drawn as ``n7``.

    Outputs get a bold border and a dashed arrow to an ``output i`` label; edges into an op whose
    operand order matters show the operand position; edges of the backward pass are red.
    """
    lines = [f"digraph {_quote(name)} {{", "  rankdir=TB;",
             f"  graph [fontname=\"Helvetica\", labelloc=t, nodesep=0.3, ranksep=0.4, label={_LEGEND}];",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontsize=9, color="#555555"];']
    lines += _statements(graph, "n", "  ")
    for i, node in enumerate(graph.outputs):
        lines.append(f'  out{i} [label={_quote(f"output {i}")}, shape=plaintext];')
        lines.append(f"  n{node} -> out{i} [style=dashed];")
    lines.append("}")
    return "\n".join(lines)
