"""The reverse-mode pass: every differentiable primitive against central finite differences (first and
second order), broadcasting and fan-out, JAX's conventions at non-differentiable points, and the
structure of the graph it returns."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import graphc
from graphc.errors import DifferentiationError
from graphc.evaluate import evaluate
from graphc.ops import NONDIFFERENTIABLE, REGISTRY, STRUCTURAL, apply
from graphc.passes import differentiate

from op_cases import CASES, COMPOSITE_CASES, shapes_and_basic_indices

TRACEABLE = [name for name, op in REGISTRY.items() if not getattr(op, "internal", False)]
DIFFERENTIABLE = [pytest.param(name, c, id=f"{name}-{c.id}") for name in TRACEABLE
                  if REGISTRY[name].adjoint is not NONDIFFERENTIABLE for c in CASES.get(name, []) if c.fd]
ELEMENTWISE = [p for p in DIFFERENTIABLE if REGISTRY[p.values[0]].elementwise]
NONDIFF = [pytest.param(name, c, id=f"{name}-{c.id}") for name in TRACEABLE
           if REGISTRY[name].adjoint is NONDIFFERENTIABLE for c in CASES.get(name, [])
           if c.float_operands(name)]  # rows of booleans alone (a & b) have nothing to differentiate
EPS = 1e-5


def reference_grad(fun, argnums, *args):
    """``graphc.grad(fun, argnums)(*args)`` through the reference evaluator; a list, one per argnum."""
    graph = graphc.trace(graphc.grad(fun, argnums=argnums), *args)
    graph.verify()
    return graph, evaluate(graph, *args)


def shifted(args, nums, v, step):
    out = list(args)
    for i, d in zip(nums, v):
        out[i] = args[i] + step * d
    return out


def weighted_sum(case, w):
    """A scalar function of the op: ``sum(op(*args) * w)`` for a fixed random ``w``."""
    return lambda *a: np.sum(case.fn(*a) * w)


@pytest.mark.parametrize("name", [n for n in TRACEABLE])
def test_every_op_has_an_adjoint_or_is_marked_nondifferentiable(name):
    adjoint = REGISTRY[name].adjoint
    # STRUCTURAL: unpack, whose cotangent the sweep hands to the loop node it reads.
    assert callable(adjoint) or adjoint in (NONDIFFERENTIABLE, STRUCTURAL), f"no adjoint rule for {name!r}"


def check_vjp(case, args, nums, rng):
    """The gradient of ``sum(case(args) * w)`` against central differences in a random direction."""
    w = rng.normal(size=np.shape(case.numpy(*args)))
    graph, grads = reference_grad(weighted_sum(case, w), nums, *args)
    for i, g in zip(nums, grads):
        assert np.shape(g) == np.shape(args[i]) and np.result_type(g) == np.float64
        assert np.all(np.isfinite(g))
    v = [rng.normal(size=np.shape(args[i])) for i in nums]
    numeric = lambda a: np.sum(case.numpy(*a) * w)  # noqa: E731 -- NumPy only
    fd = (numeric(shifted(args, nums, v, EPS)) - numeric(shifted(args, nums, v, -EPS))) / (2 * EPS)
    analytic = sum(np.sum(g * d) for g, d in zip(grads, v))
    np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)
    return graph


@pytest.mark.parametrize("name, case", DIFFERENTIABLE)
def test_vjp_matches_central_differences(name, case, rng):
    graph = check_vjp(case, case.inputs(name, rng), case.float_operands(name), rng)
    assert name in {d["op"] for _, d in graph.nx.nodes(data=True)}


@pytest.mark.parametrize("case", [c for c in COMPOSITE_CASES if c.fd], ids=lambda c: c.id)
def test_composite_vjp_matches_central_differences(case, rng):
    check_vjp(case, case.composite_inputs(rng), case.float_operands(), rng)


@pytest.mark.parametrize("name, case", ELEMENTWISE)
def test_second_order_matches_central_differences_of_the_gradient(name, case, rng):
    args = case.inputs(name, rng)
    nums = case.float_operands(name)
    w = rng.normal(size=np.shape(case.numpy(*args)))
    fun = weighted_sum(case, w)
    u = [rng.normal(size=np.shape(args[i])) for i in nums]
    v = [rng.normal(size=np.shape(args[i])) for i in nums]

    def directional(*a):  # <grad f(a), u>, itself traced, so its gradient is grad(grad(f))
        return sum(np.sum(g * d) for g, d in zip(graphc.grad(fun, argnums=nums)(*a), u))

    _, second = reference_grad(directional, nums, *args)
    first, _ = reference_grad(fun, nums, *args)
    plus, minus = evaluate(first, *shifted(args, nums, v, EPS)), evaluate(first, *shifted(args, nums, v, -EPS))
    fd = sum(np.sum((p - m) / (2 * EPS) * d) for p, m, d in zip(plus, minus, u))
    analytic = sum(np.sum(s * d) for s, d in zip(second, v))
    np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, case", NONDIFF)
def test_nondifferentiable_ops_pass_zero_gradient(name, case, rng):
    args = case.inputs(name, rng)
    nums = case.float_operands(name)
    w = rng.normal(size=np.shape(case.numpy(*args)))
    _, grads = reference_grad(lambda *a: np.sum(case.fn(*a).astype(np.float64) * w), nums, *args)
    for i, g in zip(nums, grads):
        np.testing.assert_array_equal(g, np.zeros(np.shape(args[i])), strict=False)
        assert np.shape(g) == np.shape(args[i])


# ---- fan-out, broadcasting, reductions ---------------------------------------------------------
def test_x_times_x_and_x_plus_x(ref, rng):
    x = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(x * x)), x), 2 * x)
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(x + x)), x), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: x * x), 3.0), 6.0)
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: x - x), 3.0), 0.0)
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: x / x), 3.0), 0.0)


def test_fan_out_to_ten_uses(ref, rng):
    x = rng.normal(size=4)

    def f(x):
        h = np.sin(x)  # one value, ten consumers
        return sum(np.sum(h * (k + 1)) for k in range(10))

    np.testing.assert_allclose(ref(graphc.grad(f), x), 55 * np.cos(x), rtol=1e-14, strict=True)
    # Ten uses of the input itself, each through a different op.
    uses = [lambda x: x, np.sin, np.cos, np.exp, np.tanh, np.square, np.arctan, np.negative, np.expm1,
            lambda x: x * 3.0]
    deriv = [np.ones_like(x), np.cos(x), -np.sin(x), np.exp(x), 1 - np.tanh(x) ** 2, 2 * x, 1 / (1 + x * x),
             -np.ones_like(x), np.exp(x), np.full_like(x, 3.0)]
    np.testing.assert_allclose(ref(graphc.grad(lambda x: sum(np.sum(u(x)) for u in uses)), x), sum(deriv),
                               rtol=1e-13)


@pytest.mark.parametrize("xshape, yshape", [((), (2, 3)), ((3,), (2, 3)), ((1, 3), (2, 3)), ((2, 1), (2, 3)),
                                            ((2, 1), (1, 3)), ((4, 1, 1), (2, 3))])
@pytest.mark.parametrize("op", [np.add, np.multiply, np.subtract])
def test_broadcast_cotangents_are_summed_back_to_the_operand_shape(op, xshape, yshape, ref, rng):
    x, y = rng.normal(size=xshape), rng.normal(size=yshape)
    out_shape = np.broadcast_shapes(xshape, yshape)
    w = rng.normal(size=out_shape)
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(op(x, y) * w), argnums=(0, 1)), x, y)
    dx = {np.add: w, np.subtract: w, np.multiply: w * y}[op] * np.ones(out_shape)
    dy = {np.add: w, np.subtract: -w, np.multiply: w * x}[op] * np.ones(out_shape)

    def reduce_to(g, shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
        return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)

    np.testing.assert_allclose(gx, reduce_to(dx, xshape), rtol=1e-13, strict=True)
    np.testing.assert_allclose(gy, reduce_to(dy, yshape), rtol=1e-13, strict=True)


def test_python_scalar_argument_broadcast_against_an_array(ref, rng):
    w = rng.normal(size=(2, 3))
    g = ref(graphc.grad(lambda s, x: np.sum(s * x * w)), 2.0, np.ones((2, 3)))
    assert np.shape(g) == () and np.result_type(g) == np.float64
    np.testing.assert_allclose(g, w.sum(), rtol=1e-14)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), True),
                                            ((-1, -3), False)])
@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min"])
def test_reductions_with_axis_and_keepdims(reduction, axis, keepdims, ref, rng):
    x = rng.normal(size=(2, 3, 4))
    f = getattr(np, reduction)
    w = rng.normal(size=np.shape(f(x, axis=axis, keepdims=keepdims)))
    g = ref(graphc.grad(lambda x: np.sum(f(x, axis=axis, keepdims=keepdims) * w)), x)
    wk = w if keepdims else np.expand_dims(w, axis if axis is not None else (0, 1, 2))
    if reduction == "sum":
        expected = np.broadcast_to(wk, x.shape)
    elif reduction == "mean":
        expected = np.broadcast_to(wk, x.shape) / (x.size / np.size(w))
    else:  # one-hot at the arg-extreme (no ties in random data)
        expected = (x == f(x, axis=axis, keepdims=True)) * wk
    np.testing.assert_allclose(g, expected, rtol=1e-14, strict=True)


def test_matmul_gradients_are_the_textbook_ones(ref, rng):
    A, B, w = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    gA, gB = ref(graphc.grad(lambda A, B: np.sum((A @ B) * w), argnums=(0, 1)), A, B)
    np.testing.assert_allclose(gA, w @ B.T, rtol=1e-13, strict=True)
    np.testing.assert_allclose(gB, A.T @ w, rtol=1e-13, strict=True)
    a, b = rng.normal(size=3), rng.normal(size=3)
    ga, gb = ref(graphc.grad(lambda a, b: a @ b, argnums=(0, 1)), a, b)
    np.testing.assert_allclose(ga, b, strict=True)
    np.testing.assert_allclose(gb, a, strict=True)


def test_getitem_and_concatenate_route_gradients_to_the_right_elements(ref):
    x = np.arange(5.0)
    g = ref(graphc.grad(lambda x: np.sum(x[1:] - x[:-1] ** 2)), x)
    np.testing.assert_allclose(g, [0.0, 1 - 2 * 1.0, 1 - 2 * 2.0, 1 - 2 * 3.0, 1.0], strict=True)
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(np.concatenate([x, y]) * np.arange(5.0)), argnums=(0, 1)),
                 np.ones(2), np.ones(3))
    np.testing.assert_array_equal(gx, [0.0, 1.0])
    np.testing.assert_array_equal(gy, [2.0, 3.0, 4.0])
    X = np.ones((3, 4))
    np.testing.assert_array_equal(ref(graphc.grad(lambda X: np.sum(X[:, ::2])), X),
                                  [[1.0, 0, 1, 0]] * 3)


def test_stop_gradient_blocks_only_its_own_path(ref, rng):
    x = rng.normal(size=3)
    g = ref(graphc.grad(lambda x: np.sum(apply("stop_gradient", x) * x)), x)
    np.testing.assert_array_equal(g, x)
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(apply("stop_gradient", x))), x), np.zeros(3))


def test_cast_to_float32_and_back_carries_the_rounded_cotangent(ref, rng):
    x, w = rng.normal(size=4), rng.normal(size=4)
    g = ref(graphc.grad(lambda x: np.sum(x.astype(np.float32) * w)), x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, w, rtol=1e-7)


# ---- JAX's conventions at non-differentiable points ---------------------------------------------
def test_relu_and_abs_have_zero_derivative_at_zero(ref):
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(graphc.relu(x))), x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(np.abs(x))), x), [-1.0, 0.0, 1.0])
    assert ref(graphc.grad(graphc.relu), 0.0) == 0.0
    assert ref(graphc.grad(abs), 0.0) == 0.0
    np.testing.assert_array_equal(ref(graphc.grad(lambda x: np.sum(np.sign(x) * 3.0)), x), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("op", [np.maximum, np.minimum])
def test_maximum_and_minimum_ties_split_the_gradient(op, ref):
    gx, gy = ref(graphc.grad(lambda x, y: op(x, y), argnums=(0, 1)), 2.0, 2.0)
    assert (gx, gy) == (0.5, 0.5)
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(op(x, y)), argnums=(0, 1)), x, y)
    first = {np.maximum: [0.0, 0.5, 1.0], np.minimum: [1.0, 0.5, 0.0]}[op]
    np.testing.assert_array_equal(gx, first)
    np.testing.assert_array_equal(gy, 1 - np.array(first))
    assert ref(graphc.grad(lambda x: op(x, 0.0)), 0.0) == 0.5


@pytest.mark.parametrize("reduction", [np.max, np.min])
def test_max_and_min_reductions_share_the_gradient_among_ties(reduction, ref):
    x = np.array([1.0, 3.0, 3.0, 2.0]) * (1 if reduction is np.max else -1)
    np.testing.assert_array_equal(ref(graphc.grad(reduction), x), [0.0, 0.5, 0.5, 0.0])
    X = np.array([[5.0, 5.0, 5.0], [1.0, 2.0, 0.0]]) * (1 if reduction is np.max else -1)
    w = np.array([3.0, 1.0])
    g = ref(graphc.grad(lambda X: np.sum(reduction(X, axis=1) * w)), X)
    np.testing.assert_allclose(g, [[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], rtol=1e-15)
    np.testing.assert_array_equal(ref(graphc.grad(reduction), np.full(4, 7.0)), np.full(4, 0.25))


def test_where_sends_the_gradient_to_the_selected_branch_only(ref, rng):
    c = np.array([True, False, True])
    x, y = rng.normal(size=3), rng.normal(size=3)
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(np.where(c, x, y)), argnums=(0, 1)), x, y)
    np.testing.assert_array_equal(gx, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.0, 1.0, 0.0])
    # The condition computed from the inputs carries no gradient itself.
    g = ref(graphc.grad(lambda x: np.sum(np.where(x > 0, x * 3.0, -x))), np.array([-2.0, 1.0]))
    np.testing.assert_array_equal(g, [-1.0, 3.0])


@pytest.mark.parametrize("x", [-1.0, 0.0])
def test_where_guarding_sqrt_has_zero_gradient_not_nan(x, ref):
    f = lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0))  # noqa: E731
    assert ref(graphc.grad(f), np.array(x)) == 0.0
    np.testing.assert_array_equal(ref(graphc.grad(f), np.array([x, 4.0])), [0.0, 0.25])
    # The same guard around the other ops with a singular derivative.
    for guarded in (lambda x: np.where(x > 0, np.log(x), 0.0), lambda x: np.where(x > 0, x ** 0.5, 0.0),
                    lambda x: np.where(x > 0, 1.0 / x, 0.0), lambda x: np.where(x > 0, np.log1p(x), 0.0)):
        assert ref(graphc.grad(lambda x: np.sum(guarded(x))), np.array([x]))[0] == 0.0


# ---- the graph the pass returns ----------------------------------------------------------------
def _snapshot(graph):
    return (sorted(graph.nx.nodes(data="op")), sorted(graph.nx.edges(keys=True)), list(graph.inputs),
            list(graph.outputs), {n: dict(d) for n, d in graph.nx.nodes(data=True)})


def test_differentiate_appends_marked_nodes_and_leaves_its_input_alone(rng):
    fwd = graphc.trace(lambda x, W: np.sum(np.tanh(W @ x) ** 2) + np.sum(x), rng.normal(size=3),
                       rng.normal(size=(2, 3)))
    before = _snapshot(fwd)
    new, grads = differentiate(fwd, fwd.outputs[0], fwd.inputs)
    assert _snapshot(fwd) == before
    new.verify()
    assert new is not fwd and new.nx is not fwd.nx
    assert new.outputs == grads and len(grads) == 2
    assert [new[g]["shape"] for g in grads] == [(3,), (2, 3)]
    added = set(new.nx) - set(fwd.nx)
    assert added
    for node in added:
        assert new.is_adjoint(node) and new[node]["adjoint_of"] in fwd.nx, new.format_node(node)
    for node in fwd.nx:  # forward nodes are kept as they were, unmarked
        assert not new.is_adjoint(node)
        assert new[node] == fwd[node]


def test_differentiate_keeps_only_adjoints_that_a_gradient_needs():
    fwd = graphc.trace(lambda x, y: x * y, 2.0, 5.0)
    new, (gx,) = differentiate(fwd, fwd.outputs[0], [fwd.inputs[0]])
    assert len(new) == len(fwd) + 2  # the seed and g * y; no g * x
    assert new.operands(gx)[1] == fwd.inputs[1]
    assert evaluate(new, 2.0, 5.0) == [5.0]


def test_gradient_of_an_unused_input_is_zero_of_its_shape(ref):
    gx, gy = ref(graphc.grad(lambda x, y: np.sum(x * 2.0), argnums=(0, 1)), np.ones(3), np.ones((2, 2)))
    np.testing.assert_array_equal(gx, np.full(3, 2.0))
    np.testing.assert_array_equal(gy, np.zeros((2, 2)), strict=True)


def test_differentiate_rejects_a_non_scalar_output():
    fwd = graphc.trace(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(DifferentiationError, match="scalar"):
        differentiate(fwd, fwd.outputs[0], fwd.inputs)


def test_shared_subexpressions_give_a_linear_size_gradient_graph(ref):
    def f(x):
        for _ in range(30):  # each value used twice: 2**30 paths, one sweep
            x = np.sin(x) * 0.5 + np.cos(x) * 0.5
        return x

    fwd = graphc.trace(f, 0.3)
    grad_graph = graphc.trace(graphc.grad(f), 0.3)
    assert len(grad_graph) < 6 * len(fwd)
    x, chain = 0.3, 1.0
    for _ in range(30):  # the chain rule by hand
        chain *= 0.5 * np.cos(x) - 0.5 * np.sin(x)
        x = np.sin(x) * 0.5 + np.cos(x) * 0.5
    np.testing.assert_allclose(evaluate(grad_graph, 0.3)[0], chain, rtol=1e-12)


def test_gradient_graph_is_an_ordinary_graph_that_can_be_differentiated_again(ref):
    f = lambda x: np.sin(x) * x  # noqa: E731
    g2 = graphc.trace(graphc.grad(graphc.grad(f)), 0.7)
    g2.verify()
    assert nx.is_directed_acyclic_graph(g2.nx)
    x = 0.7
    np.testing.assert_allclose(evaluate(g2, x)[0], 2 * np.cos(x) - x * np.sin(x), rtol=1e-14)
    g3 = ref(graphc.grad(graphc.grad(graphc.grad(f))), x)
    np.testing.assert_allclose(g3, -3 * np.sin(x) - x * np.cos(x), rtol=1e-14)


# ---- generated: broadcasting and basic indexing -------------------------------------------------
@settings(max_examples=40, deadline=None, derandomize=True)
@given(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
def test_generated_broadcasts_reduce_cotangents_to_operand_shapes(shapes):
    (xshape, yshape), out_shape = shapes
    rng = np.random.default_rng(len(xshape) * 7 + len(yshape))
    x, y, w = rng.normal(size=xshape), rng.normal(size=yshape), rng.normal(size=out_shape)
    gx, gy = reference_grad(lambda x, y: np.sum(x * y * w), (0, 1), x, y)[1]

    def reduce_to(g, shape):
        g = g.sum(axis=tuple(range(g.ndim - len(shape))))
        return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)

    np.testing.assert_allclose(gx, reduce_to(np.broadcast_to(w * y, out_shape), xshape), rtol=1e-13, strict=True)
    np.testing.assert_allclose(gy, reduce_to(np.broadcast_to(w * x, out_shape), yshape), rtol=1e-13, strict=True)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(shapes_and_basic_indices())
def test_generated_basic_indices_send_the_cotangent_back_to_the_indexed_elements(shape_and_index):
    shape, index = shape_and_index
    x = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    w = np.random.default_rng(len(shape)).normal(size=np.shape(x[index]))
    (g,) = reference_grad(lambda x: np.sum(x[index] * w), (0,), x)[1]
    expected = np.zeros(shape)
    expected[index] = w
    np.testing.assert_array_equal(g, expected, strict=True)
