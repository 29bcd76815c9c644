"""Graphviz DOT output for a Graph: op and type on every node, the passes told apart by style."""
from __future__ import annotations

from graphc.graph import Graph, format_constant, format_index, type_name

# Fill colours: inputs green, constants grey, the forward pass white, the backward pass red.
_STYLE = {
    "input": 'shape=box, style="filled,rounded", fillcolor="#c8e6c9"',
    "constant": 'shape=box, style=filled, fillcolor="#eeeeee", fontsize=10',
    "adjoint_constant": 'shape=box, style=filled, fillcolor="#eeeeee", color="#c62828", fontsize=10',
    "forward": 'shape=box, style="filled,rounded", fillcolor="#ffffff"',
    "adjoint": 'shape=box, style="filled,rounded", fillcolor="#ffcdd2", color="#c62828"',
    "fused": 'shape=box3d, style=filled, fillcolor="#bbdefb"',
}


def _quote(text: str) -> str:
    """A DOT string literal; backslash and quote escaped, newlines as DOT line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(graph: Graph, node: int) -> str:
    data = graph[node]
    op = data["op"]
    head = f"%{node} {op}"
    if op == "input":
        head = f"%{node} {data.get('name', 'input')}"
    elif op == "constant":
        head = f"%{node} {format_constant(data['value'])}"
    attrs = data["attrs"]
    if "index" in attrs:
        head += format_index(attrs["index"])
    elif "axis" in attrs:
        head += f" axis={attrs['axis']}"
    if "fused" in attrs:
        head += f" ({len(attrs['fused'])} ops)"
    return f"{head}\n{type_name(data['shape'], data['dtype'])}"


def _kind(graph: Graph, node: int) -> str:
    op = graph[node]["op"]
    if op == "input":
        return op
    if op == "constant":
        return "adjoint_constant" if graph.is_adjoint(node) else "constant"
    if op == "fused":
        return "fused"
    return "adjoint" if graph.is_adjoint(node) else "forward"


def graph_to_dot(graph: Graph, name: str = "graphc") -> str:
    """DOT text for ``graph``; outputs get a bold border, edges show operand positions."""
    lines = [f"digraph {_quote(name)} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontsize=9, color="#555555"];']
    outputs = set(graph.outputs)
    for node in graph.topo_order():
        style = _STYLE[_kind(graph, node)]
        if node in outputs:
            style += ", penwidth=3"
        lines.append(f"  n{node} [label={_quote(_label(graph, node))}, {style}];")
    for node in graph.topo_order():
        operands = graph.operands(node)
        for position, operand in enumerate(operands):
            label = f" [label={position}]" if len(operands) > 1 else ""
            lines.append(f"  n{operand} -> n{node}{label};")
    for i, node in enumerate(graph.outputs):
        lines.append(f'  out{i} [label={_quote(f"output {i}")}, shape=plaintext];')
        lines.append(f"  n{node} -> out{i} [style=dashed];")
    lines.append("}")
    return "\n".join(lines)
