"""custom_vjp, custom_jvp and checkpoint (graphc/custom.py, graphc/ops/calls.py): each used by grad, jvp,
vmap and jit, composed with each other and with loops, and their errors. The op table
(tests/cases/calls.py) checks the two ops against finite differences and transposition."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.custom import CustomRuleError
from graphc.errors import DifferentiationError, GraphcError

NUMPY = dict(tiered="numpy")
TIERS = [pytest.param(dict(tiered="numpy"), id="numpy-tier"), pytest.param(dict(tiered=False), id="numba")]


def ops_of(graph) -> set:
    return {data["op"] for _, data in graph.nx.nodes(data=True)}


# ---- custom_vjp -------------------------------------------------------------------------------------
@graphc.custom_vjp
def clip_gradient(x, bound):
    return x


clip_gradient.defvjp(lambda x, bound: (x, bound), lambda bound, g: (np.clip(g, -bound, bound), None))


@graphc.custom_vjp
def log1pexp(x):
    return np.log1p(np.exp(x))


def _log1pexp_fwd(x):
    return log1pexp(x), x  # the rule calls the function itself, as JAX's examples do


log1pexp.defvjp(_log1pexp_fwd, lambda x, g: (g * (1.0 - 1.0 / (1.0 + np.exp(x))),))


@pytest.mark.parametrize("tier", TIERS)
def test_custom_vjp_rule_replaces_the_derivative(tier):
    # d/dx of 3 * x is 3; the rule clips it to the bound.
    gradient = graphc.grad(lambda x, b: 3.0 * np.sum(clip_gradient(x, b)), **tier)
    np.testing.assert_array_equal(gradient(np.array([1.0, -2.0]), 1.5), [1.5, 1.5])
    value = graphc.jit(lambda x: clip_gradient(x, 1.0) * 2.0, **tier)(np.array([4.0]))
    np.testing.assert_array_equal(value, [8.0])  # the value is the function's


def test_custom_vjp_gives_a_stable_gradient_where_autodiff_does_not():
    with np.errstate(over="ignore", invalid="ignore"):
        naive = graphc.grad(lambda x: np.log1p(np.exp(x)), **NUMPY)(1000.0)
    assert np.isnan(naive)
    assert graphc.grad(log1pexp, **NUMPY)(1000.0) == 1.0
    np.testing.assert_allclose(graphc.grad(log1pexp, **NUMPY)(0.3), 1.0 / (1.0 + np.exp(-0.3)), rtol=1e-15)


def test_custom_vjp_pytrees_residuals_and_none_cotangents():
    @graphc.custom_vjp
    def weighted(params, x):
        return params["w"] * x + params["b"]

    def fwd(params, x):
        return weighted(params, x), (params["w"], x)

    def bwd(res, g):
        w, x = res
        return {"w": g * x * 10.0, "b": np.sum(g) * 10.0}, None  # scaled, so the rule is what ran

    weighted.defvjp(fwd, bwd)
    params, x = {"w": np.array([1.0, 2.0]), "b": 0.5}, np.array([3.0, 4.0])
    grads = graphc.grad(lambda p: np.sum(weighted(p, x)), **NUMPY)(params)
    np.testing.assert_allclose(grads["w"], [30.0, 40.0])
    assert grads["b"] == 20.0
    assert graphc.grad(lambda x: np.sum(weighted(params, x)), **NUMPY)(x).tolist() == [0.0, 0.0]


def test_custom_vjp_nondiff_argnums_reach_bwd_first():
    def scale(factor, x):
        return x * factor

    custom = graphc.custom_vjp(scale, nondiff_argnums=(0,))
    custom.defvjp(lambda factor, x: (x * factor, None), lambda factor, _, g: (g * factor * 2.0,))
    assert graphc.grad(lambda x: custom(3.0, x), **NUMPY)(1.0) == 6.0
    # a traced value as the non-differentiated argument gets no gradient, and no error
    assert graphc.grad(lambda x: custom(x, 2.0), **NUMPY)(5.0) == 0.0


def test_custom_vjp_composes_with_jvp_vmap_and_second_derivatives():
    @graphc.custom_vjp
    def cube(x):
        return x ** 3

    cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3.0 * x * x * g,))
    x = np.array([0.5, -1.0, 2.0])
    _, tangent = graphc.jvp(cube, (x,), (np.ones(3),))  # forward mode transposes the rule
    np.testing.assert_allclose(tangent, 3 * x ** 2)
    per_example = graphc.vmap(graphc.grad(lambda x: cube(x) * 2.0))(x)
    np.testing.assert_allclose(per_example, 6 * x ** 2)
    assert "scan" not in ops_of(graphc.trace(graphc.vmap(cube), x))  # a batching rule, not a loop
    np.testing.assert_allclose(graphc.grad(lambda w: np.sum(graphc.vmap(lambda v: cube(v * w))(x)))(1.5),
                               np.sum(3 * (1.5 * x) ** 2 * x))
    np.testing.assert_allclose(graphc.grad(graphc.grad(cube))(2.0), 12.0)  # differentiates bwd
    np.testing.assert_allclose(graphc.hessian(lambda x: np.sum(cube(x)))(x), np.diag(6 * x), atol=1e-12)


def test_custom_vjp_inside_a_scan_body():
    def loss(w, xs):
        carry, _ = graphc.scan(lambda c, x: (log1pexp(c * w + x), None), 0.0, xs)
        return carry

    def plain(w, xs):
        c = 0.0
        for x in xs:
            c = np.log1p(np.exp(c * w + x))
        return c

    xs = np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(graphc.grad(loss, **NUMPY)(0.7, xs), graphc.grad(plain, **NUMPY)(0.7, xs), rtol=1e-13)


def test_custom_vjp_graph_shows_the_rule_then_forgets_it():
    graph = graphc.trace(graphc.grad(log1pexp), 0.3)
    assert "custom_vjp" in ops_of(graph) and "bwd (" in str(graph)
    assert "custom_vjp" not in ops_of(graphc.grad(log1pexp).lower(0.3).graph)


def test_custom_vjp_errors_name_the_rule_and_the_line():
    pair = graphc.custom_vjp(lambda x, y: x * y)
    pair.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1],))
    with pytest.raises(CustomRuleError, match=r"tuple of 2 cotangent.*test_custom.py:\d+") as error:
        graphc.grad(lambda x: pair(x, 2.0))(1.0)
    assert isinstance(error.value, ValueError) and isinstance(error.value, GraphcError)
    pair.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1], np.ones(3)))
    with pytest.raises(CustomRuleError, match=r"f64\[3\] for argument 1, which is f64\[\].*test_custom.py"):
        graphc.grad(lambda x: pair(x, 2.0))(1.0)
    pair.defvjp(lambda x, y: x * y, lambda r, g: (g, g))
    with pytest.raises(CustomRuleError, match="must return a pair"):
        graphc.grad(lambda x: pair(x, 2.0))(1.0)
    undefined = graphc.custom_vjp(lambda x: x)
    with pytest.raises(CustomRuleError, match="call defvjp"):
        graphc.grad(undefined)(1.0)


def test_custom_vjp_fwd_must_give_the_functions_value_type():
    # As in JAX: fwd's value must have the structure, shapes and dtypes of the function's own.
    square = graphc.custom_vjp(lambda x: x * x)
    square.defvjp(lambda x: (np.stack([x * x, x]), x), lambda x, g: (2 * x * g,))
    with pytest.raises(CustomRuleError, match=r"value of f64\[2,3\], but .* returns f64\[3\].*test_custom.py:\d+"):
        graphc.grad(lambda x: np.sum(square(x)))(np.ones(3))
    square.defvjp(lambda x: ((x * x, x), x), lambda x, g: (2 * x * g,))
    with pytest.raises(CustomRuleError, match=r"value of \(\*, \*\) of f64\[3\], f64\[3\], but .* returns f64\[3\]"):
        graphc.jit(lambda x: square(x))(np.ones(3))
    square.defvjp(lambda x: ((x * x).astype(np.float32), x), lambda x, g: (2 * x * g,))
    with pytest.raises(CustomRuleError, match=r"f32\[3\], but .* returns f64\[3\]"):
        graphc.jit(lambda x: square(x))(np.ones(3))
    square.defvjp(lambda x: (x * x, x), lambda x, g: (2 * x * g,))
    np.testing.assert_allclose(graphc.grad(lambda x: np.sum(square(x)))(np.arange(3.0)), [0.0, 2.0, 4.0])


def test_a_custom_vjp_rule_may_stand_in_for_a_function_graphc_cannot_trace():
    opaque = graphc.custom_vjp(lambda x: np.asarray(float(x)) * 2.0)  # float() of a tracer does not trace
    opaque.defvjp(lambda x: (x * 2.0, None), lambda r, g: (2.0 * g,))
    assert graphc.grad(opaque)(1.5) == 2.0


def test_custom_vjp_closing_over_a_differentiated_value_is_an_error():
    def outer(w):
        scaled = graphc.custom_vjp(lambda x: x * w)
        scaled.defvjp(lambda x: (x * w, None), lambda _, g: (g * w,))
        return scaled(2.0)

    with pytest.raises(DifferentiationError, match=r"pass it as an argument \(called at test_custom.py"):
        graphc.grad(outer)(3.0)
    assert graphc.jit(outer, **NUMPY)(3.0) == 6.0  # without a gradient nothing is wrong


# ---- custom_jvp -------------------------------------------------------------------------------------
@graphc.custom_jvp
def softplus(x):
    return np.log1p(np.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t / (1.0 + np.exp(-x))


@pytest.mark.parametrize("tier", TIERS)
def test_custom_jvp_rule_serves_forward_and_reverse_mode(tier):
    x = np.array([-2.0, 0.0, 1000.0])
    with np.errstate(over="ignore"):
        expected = 1.0 / (1.0 + np.exp(-x))
    gradient = graphc.grad(lambda x: np.sum(softplus(x)), **tier)(x)
    np.testing.assert_allclose(gradient, expected, rtol=1e-15)  # finite at 1000: the rule, transposed
    _, tangent = graphc.jvp(softplus, (x,), (np.full(3, 2.0),))
    np.testing.assert_allclose(tangent, 2 * expected, rtol=1e-15)
    np.testing.assert_allclose(graphc.vmap(graphc.grad(softplus))(x), expected, rtol=1e-15)


def test_custom_jvp_two_arguments_defjvps_and_second_order():
    @graphc.custom_jvp
    def f(x, y):
        return np.sin(x) * y

    f.defjvps(lambda tx, ans, x, y: np.cos(x) * y * tx, lambda ty, ans, x, y: np.sin(x) * ty)
    gx, gy = graphc.grad(f, argnums=(0, 1), **NUMPY)(0.5, 2.0)
    np.testing.assert_allclose([gx, gy], [np.cos(0.5) * 2.0, np.sin(0.5)], rtol=1e-15)
    np.testing.assert_allclose(graphc.grad(graphc.grad(f))(0.5, 2.0), -np.sin(0.5) * 2.0, rtol=1e-14)


def test_custom_jvp_rule_with_wrong_tangent_is_an_error():
    @graphc.custom_jvp
    def f(x):
        return x * 2.0

    f.defjvp(lambda primals, tangents: (f(*primals), np.ones(4)))
    with pytest.raises(CustomRuleError, match=r"f64\[4\] for the value's tangent, which is f64\[3\].*test_custom"):
        graphc.grad(lambda x: np.sum(f(x)))(np.ones(3))


# ---- checkpoint -------------------------------------------------------------------------------------
def _layer(x, w):
    return np.tanh(np.sin(x) * w + x)


layer = graphc.checkpoint(_layer)


def _chain(step, depth=3):
    def loss(x, w):
        for _ in range(depth):
            x = step(x, w)
        return np.sum(x * x)
    return loss


@pytest.mark.parametrize("tier", TIERS)
def test_checkpoint_gives_the_same_gradient(tier):
    x, w = np.linspace(-1.0, 1.0, 5), np.linspace(0.5, 1.5, 5)
    got = graphc.value_and_grad(_chain(layer), argnums=(0, 1), **tier)(x, w)
    expected = graphc.value_and_grad(_chain(_layer), argnums=(0, 1), **tier)(x, w)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-15)
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_checkpoint_recomputes_inside_its_adjoint_node():
    """The backward sweep reads only the checkpointed calls' arguments: every tanh of the optimized
    gradient lies inside a checkpoint node, none in the outer graph, where CSE or fusion could share
    it with the forward sweep."""
    x, w = np.linspace(-1.0, 1.0, 5), np.ones(5)
    outer, _ = graphc.passes.run_pipeline(graphc.trace(graphc.grad(_chain(layer)), x, w), graphc.passes.GRAPH_PASSES)
    assert not {"tanh", "sin", "cos"} & ops_of(outer)
    adjoints = [n for n in outer.nx if outer[n]["op"] == "checkpoint" and outer.is_adjoint(n)]
    assert len(adjoints) == 3
    for node in adjoints:  # each recomputes its layer
        assert {"tanh", "sin", "cos"} <= ops_of(outer[node]["attrs"]["body"])


def test_checkpoint_composes_with_jvp_vmap_scan_and_second_derivatives():
    x, w = np.array([0.3, -0.4]), np.array([1.0, 2.0])
    loss = _chain(layer, depth=2)
    plain = _chain(_layer, depth=2)
    np.testing.assert_allclose(graphc.jvp(lambda x: layer(x, w), (x,), (np.ones(2),))[1],
                               graphc.jvp(lambda x: _layer(x, w), (x,), (np.ones(2),))[1], rtol=1e-14)
    batch = np.stack([x, 2 * x, -x])
    np.testing.assert_allclose(graphc.vmap(graphc.grad(loss), in_axes=(0, None))(batch, w),
                               np.stack([graphc.grad(plain)(b, w) for b in batch]), rtol=1e-14)
    assert "scan" not in ops_of(graphc.trace(graphc.vmap(loss, in_axes=(0, None)), batch, w))
    np.testing.assert_allclose(graphc.hessian(loss)(x, w), graphc.hessian(plain)(x, w), rtol=1e-12, atol=1e-14)

    def scanned(step):
        return lambda x, w: np.sum(graphc.scan(lambda c, _: (step(c, w), None), x, None, length=4)[0])

    np.testing.assert_allclose(graphc.grad(scanned(layer), argnums=(0, 1), **NUMPY)(x, w),
                               graphc.grad(scanned(_layer), argnums=(0, 1), **NUMPY)(x, w), rtol=1e-14)


def test_checkpoint_static_arguments_keywords_and_eager_calls():
    def power_chain(x, n, scale=1.0):
        for _ in range(n):
            x = np.sin(x) * scale
        return x

    checkpointed = graphc.checkpoint(power_chain, static_argnums=1)
    got = graphc.grad(lambda x: checkpointed(x, 3, scale=0.5), **NUMPY)(0.7)
    expected = graphc.grad(lambda x: power_chain(x, 3, scale=0.5), **NUMPY)(0.7)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    assert checkpointed(0.7, 2) == power_chain(0.7, 2)  # untraced: the function itself
    assert checkpointed.__name__ == "power_chain"


# ---- found in review ---------------------------------------------------------------------------------
def test_forward_mode_of_a_nonlinear_custom_vjp_rule_is_an_error_and_a_linear_one_works():
    from graphc.errors import GradientTypeError

    with pytest.raises(GradientTypeError, match=r"clip_gradient.*not linear.*custom_jvp.*test_custom.py"):
        graphc.jacfwd(lambda x: 3.0 * clip_gradient(x, 1.0))(2.0)
    assert graphc.jacrev(lambda x: 3.0 * clip_gradient(x, 1.0))(2.0) == 1.0
    _, tangent = graphc.jvp(log1pexp, (0.3,), (2.0,))  # g * (1 - 1/(1 + e^x)): linear in g
    np.testing.assert_allclose(tangent, 2.0 / (1.0 + np.exp(-0.3)), rtol=1e-15)


def test_nondiff_arguments_reach_the_rules_in_the_listed_order_and_defaults_are_bound():
    from functools import partial

    @partial(graphc.custom_vjp, nondiff_argnums=(2, 0))
    def affine(a, x, b):
        return x * a + b

    affine.defvjp(lambda a, x, b: (affine(a, x, b), None), lambda b, a, _, g: (g * a * 10.0 + b,))
    assert graphc.grad(affine, argnums=1, **NUMPY)(2.0, 1.0, 100.0) == 120.0  # JAX's order: b, then a

    @graphc.custom_vjp
    def scaled(x, a=2.0, b=3.0):
        return x * a * b

    scaled.defvjp(lambda x, a=2.0, b=3.0: (scaled(x, a, b), (a, b)), lambda r, g: (g * r[0] * r[1], g, g))
    assert graphc.grad(lambda x: scaled(x, b=4.0), **NUMPY)(1.0) == 8.0
    assert graphc.grad(lambda x: scaled(x), **NUMPY)(1.0) == 6.0


def test_a_boolean_tangent_is_not_a_tangent():
    @graphc.custom_jvp
    def f(x):
        return x * 2.0

    f.defjvp(lambda primals, tangents: (f(*primals), tangents[0] > 0))
    with pytest.raises(CustomRuleError, match="bool"):
        graphc.grad(f)(1.0)
