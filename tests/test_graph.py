"""The graph IR: listings, the networkx graph underneath, DOT output, verification, copies."""
from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest

import graphc
from graphc.errors import GraphcInternalError
from graphc.graph import Graph


def seed_product(x, y, z):
    return (x + y) * z


def seed_cs231n(x, y):
    return (x + graphc.sigmoid(y)) / (graphc.sigmoid(x) + (x + y) ** 2)


# ---- listings ----------------------------------------------------------------------------------
def test_listing_of_the_first_seed_function():
    assert str(graphc.trace(seed_product, 1.0, 3.0, -3.0)) == """\
graph (x: f64[], y: f64[], z: f64[]) -> f64[]
  %0 = input x : f64[]
  %1 = input y : f64[]
  %2 = input z : f64[]
  %3 = add %0 %1 : f64[]
  %4 = multiply %3 %2 : f64[]
  return %4"""


def test_listing_of_the_second_seed_function():
    assert str(graphc.trace(seed_cs231n, 3.0, -4.0)) == """\
graph (x: f64[], y: f64[]) -> f64[]
  %0 = input x : f64[]
  %1 = input y : f64[]
  %2 = sigmoid %1 : f64[]
  %3 = add %0 %2 : f64[]
  %4 = sigmoid %0 : f64[]
  %5 = add %0 %1 : f64[]
  %6 = constant 2.0 : f64[]
  %7 = power %5 %6 : f64[]
  %8 = add %4 %7 : f64[]
  %9 = divide %3 %8 : f64[]
  return %9"""


def test_listing_shows_types_attributes_and_several_outputs():
    text = str(graphc.trace(lambda x, y: (x @ y, np.sum(x[:, ::2] * 2.0, axis=0)),
                            np.ones((2, 4), np.float32), np.ones(4, np.float32)))
    assert text.splitlines()[0] == "graph (x: f32[2,4], y: f32[4]) -> (f32[2], f32[2])"
    assert "  %2 = matmul %0 %1 : f32[2]" in text
    assert re.search(r"getitem %0 \[.*::?2\] : f32\[2,2\]", text)
    assert "constant 2.0 : f32[]" in text  # a Python scalar is weak: float32 stays float32
    assert "sum %5 axis=(0,) keepdims=False : f32[2]" in text
    assert text.splitlines()[-1] == "  return %2, %6"


def test_listing_of_a_gradient_marks_the_adjoint_lines():
    g = graphc.trace(graphc.grad(lambda x: np.sum(np.sin(x) * x)), np.ones(2))
    lines = str(g).splitlines()
    forward = [line for line in lines[1:-1] if "adjoint of" not in line]
    backward = [line for line in lines[1:-1] if "adjoint of" in line]
    assert [line.split("=")[1].split()[0] for line in forward] == ["input", "sin", "multiply", "sum"]
    assert backward and all(re.search(r"; adjoint of %\d+$", line) for line in backward)
    assert any(" cos %0 " in line for line in backward)
    # Topological order: every operand is defined on an earlier line.
    defined = set()
    for line in lines[1:-1]:
        node, rest = line.split(" = ")
        assert set(re.findall(r"%\d+", rest.split(" : ")[0])) <= defined, line
        defined.add(node.strip())


def test_repr_is_short():
    g = graphc.trace(seed_product, 1.0, 3.0, -3.0)
    assert repr(g) == "<graphc.Graph (x: f64[], y: f64[], z: f64[]) -> f64[], 5 nodes>"


# ---- the networkx graph ------------------------------------------------------------------------
def test_nx_is_a_multidigraph_with_op_shape_dtype_on_every_node():
    g = graphc.trace(lambda x, W: np.tanh(W @ x) * 2.0, np.ones(3), np.ones((2, 3)))
    assert isinstance(g, Graph)
    assert isinstance(g.nx, nx.MultiDiGraph)
    assert nx.is_directed_acyclic_graph(g.nx)
    for node, data in g.nx.nodes(data=True):
        assert isinstance(data["op"], str)
        assert isinstance(data["shape"], tuple)
        assert isinstance(data["dtype"], np.dtype)
    ops = [g[n]["op"] for n in g.topo_order()]
    assert ops == ["input", "input", "matmul", "tanh", "constant", "multiply"]
    assert [g[n]["name"] for n in g.inputs] == ["x", "W"]
    assert g[g.outputs[0]]["shape"] == (2,) and g[g.outputs[0]]["dtype"] == np.float64
    const = next(n for n in g.nx if g[n]["op"] == "constant")
    assert g[const]["value"] == 2.0


def test_x_times_x_has_two_edges_from_one_node():
    g = graphc.trace(lambda x: x * x, 2.0)
    (x,), (out,) = g.inputs, g.outputs
    assert g.nx.number_of_edges(x, out) == 2
    assert sorted(k for _, _, k in g.nx.in_edges(out, keys=True)) == [0, 1]
    assert g.operands(out) == [x, x]
    assert g.users(x) == [out]


def test_operand_order_is_kept():
    for fn, order in [(lambda x, y: x - y, (0, 1)), (lambda x, y: y - x, (1, 0)),
                      (lambda x, y: x / y, (0, 1)), (lambda x, y: y ** x, (1, 0))]:
        g = graphc.trace(fn, 1.0, 2.0)
        assert g.operands(g.outputs[0]) == [g.inputs[i] for i in order]
    g = graphc.trace(lambda c, x, y: np.where(c, y, x), True, 1.0, 2.0)
    c, x, y = g.inputs
    assert g.operands(g.outputs[0]) == [c, y, x]


def test_constants_are_private_read_only_copies():
    k = np.array([1.0, 2.0])
    g = graphc.trace(lambda x: x * k, np.ones(2))
    k[0] = 100.0  # the user changes the array after tracing
    const = next(n for n in g.nx if g[n]["op"] == "constant")
    np.testing.assert_array_equal(g[const]["value"], [1.0, 2.0])
    assert not g[const]["value"].flags.writeable


def test_nodes_remember_the_users_line():
    g = graphc.trace(lambda x: np.exp(x), 1.0)
    assert "test_graph.py:" in g[g.outputs[0]]["loc"]


# ---- DOT ---------------------------------------------------------------------------------------
def _dot_nodes(dot: str) -> dict:
    """``{node id: attribute text}`` of the node statements of DOT text."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\s*n(\d+) \[(.*)\];$", dot, re.M)}


def _fill(attrs: str) -> str:
    return re.search(r'fillcolor="([^"]+)"', attrs).group(1)


def test_to_dot_is_well_formed():
    g = graphc.trace(seed_cs231n, 3.0, -4.0)
    dot = g.to_dot()
    assert dot.startswith("digraph ") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    nodes = _dot_nodes(dot)
    assert set(nodes) == set(g.nx)
    edges = re.findall(r"^\s*n(\d+) -> n(\d+)", dot, re.M)
    assert len(edges) == g.nx.number_of_edges()
    assert all(int(a) in nodes and int(b) in nodes for a, b in edges)
    for line in dot.splitlines():  # labels are quoted strings with no raw newline or stray quote
        for label in re.findall(r'label=("(?:[^"\\]|\\.)*"|\w+)', line):
            assert "\n" not in label
    assert "sigmoid" in nodes[2] and "f64[]" in nodes[2]


def test_to_dot_draws_the_backward_pass_in_another_colour():
    g = graphc.trace(graphc.grad(seed_cs231n), 3.0, -4.0)
    nodes = _dot_nodes(g.to_dot())
    computed = [n for n in g.nx if g[n]["op"] not in ("input", "constant")]
    forward = {_fill(nodes[n]) for n in computed if not g.is_adjoint(n)}
    backward = {_fill(nodes[n]) for n in computed if g.is_adjoint(n)}
    assert forward and backward
    assert not forward & backward, (forward, backward)


# ---- verification and copies -------------------------------------------------------------------
def test_verify_passes_on_traced_and_gradient_graphs():
    graphc.trace(seed_cs231n, 3.0, -4.0).verify()
    graphc.trace(graphc.grad(seed_cs231n, argnums=(0, 1)), 3.0, -4.0).verify()
    graphc.trace(graphc.hessian(lambda x: np.sum(x ** 3)), np.ones(2)).verify()


def test_verify_reports_a_wrong_node_type():
    g = graphc.trace(lambda x: x + 1.0, np.ones(3))
    g[g.outputs[0]]["shape"] = (4,)
    with pytest.raises(GraphcInternalError, match="add should give f64\\[3\\]"):
        g.verify()


def test_verify_reports_a_cycle_and_a_wrong_operand_count():
    g = graphc.trace(lambda x: np.exp(x) + x, 1.0)
    exp_node = g.operands(g.outputs[0])[0]
    g.nx.add_edge(g.outputs[0], exp_node, key=1)
    with pytest.raises(GraphcInternalError, match="cycle"):
        g.verify()


def test_copy_is_independent():
    g = graphc.trace(seed_product, 1.0, 3.0, -3.0)
    before = str(g)
    c = g.copy()
    c.add_node("negative", [c.outputs[0]], shape=(), dtype=np.float64)
    c.outputs.append(max(c.nx))
    assert str(g) == before and len(c) == len(g) + 1


def unrolled_gradient_graph():
    """A value-and-gradient graph with constants, shared operands and ``h * h`` (two edges)."""
    def loss(w, h):
        for _ in range(3):
            h = np.tanh(w @ h + h * h * 0.5)
        return np.sum(h)

    rng = np.random.default_rng(0)
    return graphc.trace(graphc.value_and_grad(loss, argnums=(0, 1)), rng.normal(size=(3, 3)), rng.normal(size=3))


def test_copy_has_the_dicts_networkx_copy_makes():
    # Graph.copy builds networkx's dicts itself (networkx's copy was half of the passes' time).
    g = unrolled_gradient_graph()
    ours, theirs = g.copy().nx, g.nx.copy()
    for name in ("_node", "_succ", "_pred"):
        assert list(getattr(ours, name).items()) == list(getattr(theirs, name).items())
    assert all(ours._pred[v][u] is keys for u, users in ours._succ.items() for v, keys in users.items())
    assert all(ours._node[n] is not g.nx._node[n] for n in g.nx)
    ours.remove_edges_from(list(ours.in_edges(g.outputs[0], keys=True)))
    assert g.operands(g.outputs[0])


def test_topo_order_operands_and_users_are_what_networkx_says():
    g = unrolled_gradient_graph()
    assert g.topo_order() == list(nx.lexicographical_topological_sort(g.nx))
    for n in g.nx:
        assert g.operands(n) == [u for u, _, _ in sorted(g.nx.in_edges(n, keys=True), key=lambda e: e[2])]
        assert g.users(n) == list(dict.fromkeys(v for _, v in g.nx.out_edges(n)))


def test_topo_order_refuses_a_cycle():
    g = graphc.trace(lambda x: np.exp(x) + x, 1.0)
    g.nx.add_edge(g.outputs[0], g.operands(g.outputs[0])[0], key=1)
    with pytest.raises(graphc.errors.GraphcInternalError, match="cycle"):
        g.topo_order()
