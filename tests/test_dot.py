"""DOT pictures: op and type on every node, kinds styled apart, a fused loop's boxes grouped and counted."""
from __future__ import annotations

import re

import numpy as np

import graphc


def mlp_loss(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    return np.mean(graphc.logsumexp(logits, axis=1) - np.sum(logits * Y, axis=1))


def _mlp_args(rng):
    return (rng.standard_normal((8, 16)), np.zeros(16), rng.standard_normal((16, 4)), np.zeros(4),
            rng.standard_normal((32, 8)), np.eye(4)[rng.integers(0, 4, 32)])


def _nodes(dot: str) -> dict:
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\s*n(\d+) \[(.*)\];$", dot, re.M)}


def _clusters(dot: str) -> list[tuple[str, list[int]]]:
    """(label, node ids) of each cluster."""
    found = []
    for block in re.findall(r"subgraph cluster_\w+ \{\n(.*?)\n  \}", dot, re.S):
        label = re.search(r'label="((?:[^"\\]|\\.)*)"', block).group(1)
        found.append((label, [int(n) for n in re.findall(r"^\s*n(\d+) \[", block, re.M)]))
    return found


def test_every_node_shows_op_and_type(rng):
    g = graphc.trace(graphc.grad(mlp_loss, argnums=(0, 2)), *_mlp_args(rng))
    nodes = _nodes(g.to_dot())
    assert set(nodes) == set(g.nx)
    for node, attrs in nodes.items():
        data = g[node]
        label = re.search(r'label="((?:[^"\\]|\\.)*)"', attrs).group(1)
        assert label.startswith(f"%{node} ")
        assert label.endswith("\\n" + graphc.graph.type_name(data["shape"], data["dtype"]))
        if data["op"] not in ("input", "constant"):
            assert data["op"] in label


def test_kinds_are_styled_apart(rng):
    low = graphc.grad(mlp_loss, argnums=(0, 2)).lower(*_mlp_args(rng))
    g = low.graph
    nodes = _nodes(g.to_dot())
    fill = {n: re.search(r'fillcolor="([^"]+)"', a).group(1) for n, a in nodes.items()}
    kinds = {}
    for n in g.nx:
        op = g[n]["op"]
        kind = op if op in ("input", "constant", "fused") else ("adjoint" if g.is_adjoint(n) else "forward")
        kinds.setdefault(kind, set()).add(fill[n])
    assert set(kinds) == {"input", "constant", "fused", "adjoint", "forward"}
    assert all(len(colours) == 1 for colours in kinds.values()), kinds
    assert len({next(iter(c)) for c in kinds.values()}) == 5
    for n in g.outputs:
        assert "penwidth=3" in nodes[n]
    assert sum("penwidth=3" in a for a in nodes.values()) == len(set(g.outputs))


def test_fused_loops_are_clusters_that_count_their_ops(rng):
    g = graphc.grad(mlp_loss, argnums=(0, 1, 2, 3)).lower(*_mlp_args(rng)).graph
    dot = g.to_dot()
    fused = [n for n in g.nx if g[n]["op"] == "fused"]
    bodies = {}
    for n in fused:
        bodies.setdefault(id(g[n]["attrs"]["body"]), []).append(n)
    assert any(len(members) > 1 for members in bodies.values())  # a loop with several results
    clusters = _clusters(dot)
    assert sorted(sorted(m) for _, m in clusters) == sorted(sorted(m) for m in bodies.values())
    for label, members in clusters:
        body = g[members[0]]["attrs"]["body"]
        ops = [body.graph[m]["op"] for m in body.graph.nx if body.graph[m]["op"] not in ("input", "constant")]
        assert f": {len(ops)} ops" in label
        for n in members:  # each box names the op whose value it carries out of the loop
            output = g[n]["attrs"]["output"]
            assert f"fused[{output}]: {body.graph[body.graph.outputs[output]]['op']}" in _nodes(dot)[n]


def test_edges_number_operands_only_where_order_matters():
    g = graphc.trace(lambda x, y: (x - y) * (x + y), 1.0, 2.0)
    dot = g.to_dot()
    assert re.search(r"^  n0 -> n2 \[label=0\];$", dot, re.M)  # subtract: x is operand 0
    assert re.search(r"^  n1 -> n2 \[label=1\];$", dot, re.M)
    assert re.search(r"^  n0 -> n3;$", dot, re.M)  # add: either order
    assert len(re.findall(r"^  n\d+ -> n\d+", dot, re.M)) == g.nx.number_of_edges()


def test_adjoint_edges_and_legend():
    dot = graphc.trace(graphc.grad(lambda x: np.sin(x) * x), 1.0).to_dot()
    assert 'color="#e57373"' in dot
    assert "adjoint (backward pass)" in dot and "fused loop" in dot
    assert dot.count("{") == dot.count("}")


def test_tooltips_name_the_users_line():
    dot = graphc.trace(lambda x: np.exp(x), 1.0).to_dot()
    assert re.search(r'tooltip="test_dot\.py:\d+', dot)
