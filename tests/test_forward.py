"""Forward mode (passes/forward.py) and the Jacobians built on it: every primitive's JVP against central
differences and against its VJP by transposition, then jvp, hvp, jacfwd, jacrev and hessian."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError
from graphc.evaluate import evaluate
from graphc.ops import NONDIFFERENTIABLE, REGISTRY
from graphc.passes.autodiff import vjp_graph
from graphc.passes.forward import jvp_graph

from op_cases import CASES

NUMPY = dict(tiered="numpy")
DIFFERENTIABLE = [pytest.param(name, c, id=f"{name}-{c.id}") for name, op in REGISTRY.items()
                  if not op.internal and op.adjoint is not NONDIFFERENTIABLE for c in CASES.get(name, [])
                  if c.fd and c.float_operands(name)]


def _forward(name, case, rng):
    """A case's arguments, graph, float input positions and forward-mode graph; the last None where the
    output is not a float, after checking that its tangent is zero ((x > 0)[idx] is piecewise constant)."""
    args = case.inputs(name, rng)
    graph = graphc.trace(case.fn, *args)
    wrt = [i for i, n in enumerate(graph.inputs) if graph[n]["dtype"].kind == "f"]
    assert wrt
    pushed, _ = jvp_graph(graph, wrt)
    if graph[graph.outputs[0]]["dtype"].kind != "f":
        assert not np.any(evaluate(pushed, *args, *(np.ones(np.shape(args[i])) for i in wrt))[1])
        return args, graph, wrt, None
    return args, graph, wrt, pushed


@pytest.mark.parametrize("name, case", DIFFERENTIABLE)
def test_every_primitive_jvp_matches_central_differences(name, case, rng):
    args, graph, wrt, pushed = _forward(name, case, rng)
    if pushed is None:
        return
    tangents = [rng.normal(size=np.shape(args[i])) for i in wrt]
    (_, out_tangent) = evaluate(pushed, *args, *tangents)
    eps = 1e-6

    def at(step):
        moved = list(args)
        for i, t in zip(wrt, tangents):
            moved[i] = args[i] + step * t
        return np.asarray(case.numpy(*moved), dtype=np.float64)

    with np.errstate(all="ignore"):
        expected = (at(eps) - at(-eps)) / (2 * eps)
    np.testing.assert_allclose(out_tangent, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, case", DIFFERENTIABLE)
def test_jvp_and_vjp_are_transposes(name, case, rng):
    """<u, J v> = <J^T u, v> for each primitive: the forward and reverse rules agree."""
    args, graph, wrt, pushed = _forward(name, case, rng)
    if pushed is None:
        return
    pulled, _ = vjp_graph(graph, [0], wrt)
    v = [rng.normal(size=np.shape(args[i])) for i in wrt]
    u = rng.normal(size=np.shape(evaluate(graph, *args)[0]))
    (_, jv) = evaluate(pushed, *args, *v)
    jtu = evaluate(pulled, *args, u)
    left = float(np.sum(u * jv))
    right = float(sum(np.sum(a * b) for a, b in zip(jtu, v)))
    assert left == pytest.approx(right, rel=1e-10, abs=1e-12)


def test_jvp_of_the_seed_example_and_of_pytrees():
    # g = (x + y) * z at (1, 3, -3) along (1, 0, 0): dg/dx = z = -3.
    assert graphc.jvp(lambda x, y, z: (x + y) * z, (1.0, 3.0, -3.0), (1.0, 0.0, 0.0)) == (-12.0, -3.0)
    params = {"w": np.array([1.0, 2.0]), "b": 0.5}
    out, tangent = graphc.jvp(lambda p: {"y": p["w"] * p["b"]}, (params,),
                              ({"w": np.array([1.0, 0.0]), "b": 1.0},))
    np.testing.assert_allclose(out["y"], [0.5, 1.0])
    np.testing.assert_allclose(tangent["y"], [0.5 + 1.0, 2.0])


def test_jvp_errors():
    with pytest.raises(GraphcError, match="structure"):
        graphc.jvp(lambda x, y: x * y, (1.0, 2.0), ((1.0,), 0.0))
    with pytest.raises(GraphcError, match="shape and dtype"):
        graphc.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(GraphcError, match="tuples"):
        graphc.jvp(np.sin, np.ones(3), np.ones(3))


def _f(x):
    return np.sum(np.sin(x) * np.roll(x, 1)) + np.sum(x ** 4)


def test_hessian_is_forward_over_reverse_and_its_graph_does_not_grow(rng):
    x = rng.normal(size=6)
    hessian = graphc.hessian(_f, **NUMPY)(x)
    fd = np.stack([(graphc.grad(_f, **NUMPY)(x + 1e-6 * e) - graphc.grad(_f, **NUMPY)(x - 1e-6 * e)) / 2e-6
                   for e in np.eye(6)])
    np.testing.assert_allclose(hessian, fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12)
    sizes = []
    for n in (48, 200):
        optimized, _ = graphc.passes.run_pipeline(graphc.trace(graphc.hessian(_f), np.ones(n)))
        sizes.append(len(optimized))
    assert sizes[0] == sizes[1], sizes


def test_hvp_never_forms_the_matrix(rng):
    n = 10_000
    x, v = rng.normal(size=n), rng.normal(size=n)
    got = graphc.hvp(_f, (x,), (v,))
    # The closed form: sin(x) * roll(x, 1) couples x_i with x_{i-1}.
    s, c, prev = np.sin(x), np.cos(x), np.roll(x, 1)
    hv = -s * prev * v + c * np.roll(v, 1) + np.roll(c * v, -1) + 12 * x ** 2 * v
    np.testing.assert_allclose(got, hv, rtol=1e-10, atol=1e-10)
    traced = graphc.trace(lambda x, v: graphc.hvp(_f, (x,), (v,)), x, v)
    assert max(int(np.prod(traced[node]["shape"])) for node in traced.dag) <= n  # O(n), no n x n array


def test_jacfwd_and_jacrev_agree_and_have_jax_shapes(rng):
    def f(x, y):
        return np.tanh(x[:, None] * y[None, :]), np.sum(x) * y

    x, y = rng.normal(size=3), rng.normal(size=2)
    forward = graphc.jacfwd(f, argnums=(0, 1), **NUMPY)(x, y)
    reverse = graphc.jacrev(f, argnums=(0, 1), **NUMPY)(x, y)
    assert graphc.jacobian is graphc.jacrev
    shapes = [[(3, 2, 3), (3, 2, 2)], [(2, 3), (2, 2)]]
    for k in range(2):
        for j in range(2):
            assert forward[k][j].shape == shapes[k][j]
            np.testing.assert_allclose(forward[k][j], reverse[k][j], rtol=1e-12, atol=1e-14)
    # Against central differences for the first block.
    fd = np.stack([(f(x + 1e-6 * e, y)[0] - f(x - 1e-6 * e, y)[0]) / 2e-6 for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(forward[0][0], fd, rtol=1e-6, atol=1e-8)


def test_jacobians_compose_with_vmap_and_jit(rng):
    xs = rng.normal(size=(4, 3))
    per_example = graphc.vmap(graphc.jacfwd(lambda x: np.sin(x) * x[0]), **NUMPY)(xs)
    assert per_example.shape == (4, 3, 3)
    for x, jac in zip(xs, per_example):
        np.testing.assert_allclose(jac, graphc.jacrev(lambda x: np.sin(x) * x[0], **NUMPY)(x), rtol=1e-12)
    compiled = graphc.jacrev(lambda x: np.cumsum(x) ** 2)  # the suite waits for the kernel
    np.testing.assert_allclose(compiled(xs[0]), graphc.jacfwd(lambda x: np.cumsum(x) ** 2, **NUMPY)(xs[0]),
                               rtol=1e-12)


def test_forward_mode_transformations_read_the_callers_values():
    x = np.array([1.0, 2.0, 3.0])
    # d/dy of sum(hessian of sum(a**3) * y) = sum(6 a) = 36
    assert graphc.grad(lambda y: np.sum(graphc.hessian(lambda a: np.sum(a ** 3) * y)(x)), **NUMPY)(2.0) == 36.0
    inner = lambda y: graphc.jvp(lambda a: np.sin(a * y), (1.0,), (1.0,))[1]  # noqa: E731 -- y cos(y) at a=1
    np.testing.assert_allclose(graphc.grad(inner, **NUMPY)(2.0), np.cos(2.0) - 2.0 * np.sin(2.0), rtol=1e-14)
    np.testing.assert_allclose(graphc.jit(lambda y: graphc.jacfwd(lambda a: a * y)(x), **NUMPY)(2.0), 2 * np.eye(3))
    pulled = lambda y: graphc.vjp(lambda a: a * y * y, 1.0)[1](1.0)[0]  # noqa: E731 -- y**2, so d/dy = 2y
    assert graphc.grad(pulled, **NUMPY)(3.0) == 6.0


def test_second_derivatives_keep_the_gradients_masking():
    # where(a > 0, a log a, 0): at 0 the gradient is 0, not NaN, and so is the Hessian's row.
    f = lambda a: np.sum(np.where(a > 0, a * np.log(a), 0.0))  # noqa: E731
    x = np.array([0.0, 1.0, 4.0])
    np.testing.assert_allclose(graphc.hessian(f, **NUMPY)(x), graphc.jacrev(graphc.grad(f), **NUMPY)(x))
    np.testing.assert_allclose(graphc.hessian(f, **NUMPY)(x), np.diag([0.0, 1.0, 0.25]))
    # x**1.5 has a finite derivative at 0 but an infinite second one: the branch not taken gives 0.
    g = lambda a: np.sum(np.where(a > 0, a ** 1.5, 0.0)) + np.sum(np.array([0.0, 1.0, 0.0]) * np.abs(a) ** 2.5)  # noqa: E731
    x = np.array([0.0, 1.0, -1.0])
    want = np.diag([0.0, 0.75 + 3.75, 0.0])
    np.testing.assert_allclose(graphc.hessian(g, **NUMPY)(x), want, rtol=1e-14)
    np.testing.assert_allclose(graphc.jacrev(graphc.grad(g), **NUMPY)(x), want, rtol=1e-14)


def test_second_derivatives_where_a_cotangent_is_zero_because_of_the_data():
    # c**2 has a masked (singular) rule; its cotangent sum(b**3) is exactly 0 at b = (-1, 0, 1). The
    # gradient in c is 0 there, but its derivative in b is 2 c * 3 b**2: the mask must not cut it.
    f = lambda b, c: np.sum(b ** 3) * c ** 2  # noqa: E731
    b, c = np.array([-1.0, 0.0, 1.0]), 1.3
    mixed = graphc.grad(lambda b, c: graphc.grad(f, argnums=1)(b, c), **NUMPY)
    np.testing.assert_allclose(mixed(b, c), 6 * c * b ** 2, rtol=1e-15)
    hessian = graphc.hessian(lambda x: f(x[:3], x[3]), **NUMPY)(np.append(b, c))
    np.testing.assert_allclose(hessian[3], np.append(6 * c * b ** 2, 0.0), rtol=1e-15)


def test_a_hessian_in_several_arguments():
    # Each argument's basis block is ones scattered at offsets that are sums of the arguments' sizes.
    # b is symmetric, so sum(b**3) is exactly 0: a zero cotangent through c**2's masked rule, by the data.
    def f(a, b, c):
        return np.sum(np.sin(a)[:, None] * b) * c + np.sum(b ** 3) * c ** 2

    kernel, tier = (graphc.hessian(f, argnums=(0, 1, 2), tiered=t) for t in (False, "numpy"))
    for h, n, m in ((kernel, 3, 4), (tier, 3, 4), (tier, 6, 3)):
        a, b, c = np.linspace(0.1, 1.0, n), np.linspace(-1.0, 1.0, n * m).reshape(n, m), 1.3
        upper = {  # H[i][j] for i <= j; the rest by symmetry
            (0, 0): np.diag(-np.sin(a) * b.sum(1) * c),
            (0, 1): np.einsum("i,ik,l->ikl", np.cos(a) * c, np.eye(n), np.ones(m)),
            (0, 2): np.cos(a) * b.sum(1),
            (1, 1): (6 * c ** 2 * b.ravel() * np.eye(n * m)).reshape(n, m, n, m),
            (1, 2): np.sin(a)[:, None] + 6 * c * b ** 2,
            (2, 2): 2 * np.sum(b ** 3),
        }
        ranks = (1, 2, 0)
        got = h(a, b, c)
        for (i, j), block in upper.items():
            np.testing.assert_allclose(got[i][j], block, rtol=1e-13, atol=1e-14, err_msg=f"block {i}, {j}")
            swapped = np.transpose(block, [*range(ranks[i], block.ndim), *range(ranks[i])])
            np.testing.assert_allclose(got[j][i], swapped, rtol=1e-13, atol=1e-14, err_msg=f"block {j}, {i}")


def test_unsupported_second_derivatives_and_arguments_are_clear_errors():
    loop = lambda a: graphc.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * a), (0, np.ones(3)))[1].sum()  # noqa: E731
    with pytest.raises(GraphcError, match="gradient of a while_loop"):
        graphc.hessian(loop, **NUMPY)(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(GraphcError, match="floating-point input"):
        graphc.jacrev(lambda a: a * 2.0, **NUMPY)(np.arange(3))
    with pytest.raises(GraphcError, match="static"):
        graphc.jacfwd(lambda a, n: a * n, argnums=1, static_argnums=1, **NUMPY)(np.ones(2), 3)


def test_jvp_keeps_its_compile_with_the_function_and_frees_it_after(monkeypatch):
    import gc
    import weakref

    monkeypatch.setenv("GRAPHC_TIERED", "numpy")
    fun = lambda a: np.sum(np.sin(a))  # noqa: E731
    graphc.jvp(fun, (np.ones(2),), (np.ones(2),))
    made = dict(fun.__graphc_made__)
    graphc.jvp(fun, (np.ones(2),), (np.ones(2),))
    assert fun.__graphc_made__ == made  # reused, not made again
    alive = weakref.ref(fun)
    del fun, made
    gc.collect()
    assert alive() is None


def test_grad_with_aux_returns_the_aux_undifferentiated(rng):
    w, x = rng.normal(size=3), rng.normal(size=3)

    def loss(w, x):
        pred = np.tanh(w * x)
        return np.sum(pred ** 2), {"pred": pred, "count": 3.0}

    grads, aux = graphc.grad(loss, has_aux=True, **NUMPY)(w, x)
    np.testing.assert_allclose(grads, graphc.grad(lambda w, x: loss(w, x)[0], **NUMPY)(w, x), rtol=1e-14)
    np.testing.assert_allclose(aux["pred"], np.tanh(w * x), rtol=1e-14)
    (value, aux2), grads2 = graphc.value_and_grad(loss, has_aux=True)(w, x)  # compiled
    np.testing.assert_allclose(value, np.sum(np.tanh(w * x) ** 2), rtol=1e-14)
    np.testing.assert_allclose(grads2, grads, rtol=1e-12)
    assert aux2["count"] == 3.0
    per_example, aux3 = graphc.vmap(graphc.grad(loss, has_aux=True), in_axes=(None, 0), **NUMPY)(w, np.stack([x, x]))
    assert per_example.shape == (2, 3) and aux3["pred"].shape == (2, 3)
    with pytest.raises(GraphcError, match=r"return a pair \(value, aux\).*test_forward.py"):
        graphc.grad(lambda w: np.sum(w), has_aux=True, **NUMPY)(w)


def test_stop_gradient_is_a_constant_to_every_derivative():
    f = lambda x: x * graphc.stop_gradient(x)  # noqa: E731  d/dx = stop(x) = x, not 2x
    assert graphc.grad(f, **NUMPY)(3.0) == 3.0
    assert graphc.jvp(f, (3.0,), (1.0,)) == (9.0, 3.0)
    tree = graphc.stop_gradient({"a": np.ones(2), "b": 2.0})
    np.testing.assert_array_equal(tree["a"], np.ones(2))
    assert tree["b"] == 2.0


def test_vjp_of_any_output_with_explicit_cotangents(rng):
    x, y = rng.normal(size=3), 2.0

    def f(x, y):
        return {"a": np.sin(x) * y, "b": np.sum(x)}

    out, pull = graphc.vjp(f, x, y)
    np.testing.assert_allclose(out["a"], np.sin(x) * y)
    cotangent = {"a": rng.normal(size=3), "b": 3.0}
    gx, gy = pull(cotangent)
    np.testing.assert_allclose(gx, np.cos(x) * y * cotangent["a"] + 3.0, rtol=1e-12)
    np.testing.assert_allclose(gy, np.sum(np.sin(x) * cotangent["a"]), rtol=1e-12)
    # The transpose of jacrev, and of jvp: <u, J v> = <vjp(u), v>.
    u, v = rng.normal(size=3), rng.normal(size=3)
    (jtu,) = graphc.vjp(np.tanh, x)[1](u)
    np.testing.assert_allclose(jtu, graphc.jacrev(np.tanh, **NUMPY)(x).T @ u, rtol=1e-12)
    assert float(np.sum(u * graphc.jvp(np.tanh, (x,), (v,))[1])) == pytest.approx(float(np.sum(jtu * v)), rel=1e-12)
    with pytest.raises(GraphcError, match="structure"):
        pull({"a": np.ones(3)})
    with pytest.raises(GraphcError, match="shape"):
        pull({"a": np.ones(2), "b": 1.0})


def test_the_pullback_runs_only_the_backward_pass(rng):
    # vjp's forward keeps what the backward reads (tanh and its derivative's inputs), so a pullback
    # evaluates no node of the function again, however often it is called.
    from graphc.residuals import split_vjp

    W, x = rng.normal(size=(4, 3)), rng.normal(size=3)
    f = lambda W, x: np.tanh(W @ x) * np.sum(x ** 2)  # noqa: E731
    split = split_vjp(f, (W, x))
    forward_ops = {split.forward[n]["op"] for n in split.forward.topo_order()}
    backward_ops = {split.backward[n]["op"] for n in split.backward.topo_order()}
    assert "tanh" in forward_ops and not {"tanh", "power"} & backward_ops
    out, pull = graphc.vjp(f, W, x)
    np.testing.assert_allclose(out, f(W, x), rtol=1e-14)
    for u in (np.ones(4), rng.normal(size=4)):
        gW, gx = pull(u)
        want_W, want_x = graphc.grad(lambda W, x: np.sum(f(W, x) * u), argnums=(0, 1), **NUMPY)(W, x)
        np.testing.assert_allclose(gW, want_W, rtol=1e-13)
        np.testing.assert_allclose(gx, want_x, rtol=1e-13)
    _, pull_ints = graphc.vjp(lambda x: (np.sum(x), np.argmax(x)), x)  # an integer output takes no cotangent
    np.testing.assert_array_equal(pull_ints((2.0, 0))[0], np.full(3, 2.0))
    _, pull_x = graphc.vjp(lambda x: np.sin(x) * x, x)  # a pullback inside a transformation inlines
    slope = np.cos(x) * x + np.sin(x)
    np.testing.assert_allclose(graphc.jit(lambda c: pull_x(c)[0], **NUMPY)(u[:3]), slope * u[:3], rtol=1e-14)
    np.testing.assert_allclose(graphc.grad(lambda c: np.sum(pull_x(c)[0] ** 2), **NUMPY)(np.ones(3)), 2 * slope ** 2,
                               rtol=1e-14)


def test_tangent_nodes_are_listed_and_drawn_as_forward_mode():
    graph = graphc.trace(lambda x: np.sin(x) * x, np.ones(3))
    pushed, _ = jvp_graph(graph, [0])
    optimized, _ = graphc.passes.run_pipeline(pushed, graphc.passes.GRAPH_PASSES)
    tangent_lines = [line for line in str(optimized).splitlines() if line.endswith("; tangent")]
    assert len(tangent_lines) >= 3  # t * cos(x) * x + t * sin(x)
    assert not any(optimized.is_tangent(n) for n in graph.dag if n in optimized.dag)  # the function's own nodes
    assert "#ffe0b2" in optimized.to_dot() and "tangent (forward mode)" in optimized.to_dot()
