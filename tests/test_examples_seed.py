"""The worked examples of the reverse-mode issue, exactly: the seed expressions, a hand-derived staged
backward pass, layer errors in a tiny sigmoid network, a ReLU network trained for 50 steps, backprop
through time with shared weights, and Hessians against finite differences of the gradient."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---- (x + y) * z --------------------------------------------------------------------------------
def test_seed_product_of_sum_value_and_gradients():
    value, grads = graphc.value_and_grad(lambda x, y, z: (x + y) * z, argnums=(0, 1, 2))(1.0, 3.0, -3.0)
    assert value == -12.0
    assert grads == (-3.0, -3.0, 4.0)
    assert isinstance(grads, tuple) and len(grads) == 3
    assert graphc.grad(lambda x, y, z: (x + y) * z, argnums=2)(1.0, 3.0, -3.0) == 4.0


# ---- CS231n: f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)**2) -----------------------------
def staged_backprop(x, y):
    """The classic staged forward and backward pass, one line per stage, in plain Python."""
    sigy = 1.0 / (1 + math.exp(-y))
    num = x + sigy
    sigx = 1.0 / (1 + math.exp(-x))
    xpy = x + y
    xpysqr = xpy ** 2
    den = sigx + xpysqr
    invden = 1.0 / den
    f = num * invden
    # backward, stage by stage, in reverse
    dnum = invden
    dinvden = num
    dden = (-1.0 / den ** 2) * dinvden
    dsigx = 1 * dden
    dxpysqr = 1 * dden
    dxpy = (2 * xpy) * dxpysqr
    dx = 1 * dxpy
    dy = 1 * dxpy
    dx += ((1 - sigx) * sigx) * dsigx
    dx += 1 * dnum
    dsigy = 1 * dnum
    dy += ((1 - sigy) * sigy) * dsigy
    return f, dx, dy


def test_cs231n_staged_backprop_example():
    def f(x, y):
        return (x + graphc.sigmoid(y)) / (graphc.sigmoid(x) + (x + y) ** 2)

    value, (dx, dy) = graphc.value_and_grad(f, argnums=(0, 1))(3.0, -4.0)
    f_hand, dx_hand, dy_hand = staged_backprop(3.0, -4.0)
    np.testing.assert_allclose([value, dx, dy], [f_hand, dx_hand, dy_hand], rtol=1e-14, atol=0)
    assert value == pytest.approx(1.5456448841066441, rel=1e-14)


# ---- a 2-2-2 sigmoid network: weight gradient = layer error times layer input --------------------
def test_two_two_two_sigmoid_network_layer_errors(ref):
    # Inputs, weights and targets of the well-known worked example (Mazur); z = W.T @ x + b, so
    # W[i, j] connects input i to unit j.
    x, target = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    W1, b1 = np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([0.35, 0.35])
    W2, b2 = np.array([[0.40, 0.50], [0.45, 0.55]]), np.array([0.60, 0.60])

    def cost(W1, b1, W2, b2):
        a1 = graphc.sigmoid(W1.T @ x + b1)
        a2 = graphc.sigmoid(W2.T @ a1 + b2)
        return 0.5 * np.sum((a2 - target) ** 2)

    # Through the reference evaluator: the compiled path is checked against it in tests/codegen.
    value, (dW1, db1, dW2, db2) = ref(graphc.value_and_grad(cost, argnums=(0, 1, 2, 3)), W1, b1, W2, b2)

    # By hand: delta = (W_next @ delta_next) * f'(z); dW = outer(layer input, delta).
    a1 = np_sigmoid(W1.T @ x + b1)
    a2 = np_sigmoid(W2.T @ a1 + b2)
    delta2 = (a2 - target) * a2 * (1 - a2)
    delta1 = (W2 @ delta2) * a1 * (1 - a1)
    np.testing.assert_allclose(value, 0.5 * np.sum((a2 - target) ** 2), rtol=1e-14)
    np.testing.assert_allclose(dW2, np.outer(a1, delta2), rtol=1e-13, strict=True)
    np.testing.assert_allclose(db2, delta2, rtol=1e-13, strict=True)
    np.testing.assert_allclose(dW1, np.outer(x, delta1), rtol=1e-13, strict=True)
    np.testing.assert_allclose(db1, delta1, rtol=1e-13, strict=True)
    # The published numbers: total error, dE/dw5 and dE/dw1.
    assert value == pytest.approx(0.298371109, abs=1e-9)
    assert dW2[0, 0] == pytest.approx(0.082167041, abs=1e-9)
    assert dW1[0, 0] == pytest.approx(0.000438568, abs=1e-9)


# ---- a one-hidden-layer ReLU network trained for 50 steps -----------------------------------------
def test_relu_network_training_matches_hand_written_numpy_loop(rng):
    X, y = rng.normal(size=(8, 3)), rng.normal(size=8)
    params0 = (rng.normal(size=(3, 5)) * 0.5, np.full(5, 0.1), rng.normal(size=5) * 0.5, np.float64(0.1))
    lr, steps = 0.01, 50

    def cost(W1, b1, W2, b2, X, y):
        yhat = graphc.relu(X @ W1 + b1) @ W2 + b2
        return np.sum(0.5 * (yhat - y) ** 2)

    # Traced once and run by the reference evaluator (a Numba compile would dominate the suite's time;
    # tests/codegen checks the compiled gradients against this evaluator).
    graph = graphc.trace(graphc.value_and_grad(cost, argnums=(0, 1, 2, 3)), *params0, X, y)
    params, losses = params0, []
    for _ in range(steps):
        loss, *grads = evaluate(graph, *params, X, y)
        losses.append(loss)
        params = tuple(p - lr * g for p, g in zip(params, grads))

    W1, b1, W2, b2 = params0
    hand_losses = []
    for _ in range(steps):
        pre = X @ W1 + b1
        h = np.maximum(pre, 0.0)
        err = h @ W2 + b2 - y
        hand_losses.append(np.sum(0.5 * err ** 2))
        dW2, db2 = h.T @ err, np.sum(err)
        dpre = np.outer(err, W2) * (pre > 0)
        dW1, db1 = X.T @ dpre, np.sum(dpre, axis=0)
        W1, b1, W2, b2 = W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2

    np.testing.assert_allclose(losses, hand_losses, rtol=1e-10, atol=1e-10)
    for got, want in zip(params, (W1, b1, W2, b2)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, strict=True)
    assert losses[-1] < losses[0]  # it learned something


# ---- backprop through time: 20 steps, one weight matrix ---------------------------------------------
def test_rnn_unrolled_twenty_steps_shares_weights(rng, ref):
    T, H, D = 20, 4, 3
    xs = rng.normal(size=(T, D))
    W, U, h0 = rng.normal(size=(H, H)) * 0.5, rng.normal(size=(H, D)) * 0.5, rng.normal(size=H)
    w_out = rng.normal(size=H)

    def loss(W, U, h):
        for t in range(T):  # a Python loop with a fixed trip count unrolls into the graph
            h = np.tanh(W @ h + U @ xs[t])
        return np.sum(h * w_out)

    graph = graphc.trace(loss, W, U, h0)
    w_node = graph.inputs[0]
    assert len(graph.users(w_node)) == T  # the same input node feeds every step
    gW, gU = ref(graphc.grad(loss, argnums=(0, 1)), W, U, h0)

    def numeric(W, U):
        h = h0
        for t in range(T):
            h = np.tanh(W @ h + U @ xs[t])
        return np.sum(h * w_out)

    eps = 1e-6
    for (P, g), which in ((W, gW), 0), ((U, gU), 1):
        fd = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            E = np.zeros_like(P)
            E[idx] = eps
            args_p = (W + E, U) if which == 0 else (W, U + E)
            args_m = (W - E, U) if which == 0 else (W, U - E)
            fd[idx] = (numeric(*args_p) - numeric(*args_m)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_rnn_as_a_scan_equals_its_unrolled_version(rng, ref):
    """The same backprop through time with the loop as one scan node: values and gradients to 1e-12."""
    T, H, D = 20, 4, 3
    xs = rng.normal(size=(T, D))
    W, U, h0 = rng.normal(size=(H, H)) * 0.5, rng.normal(size=(H, D)) * 0.5, rng.normal(size=H)
    w_out = rng.normal(size=H)

    def unrolled(W, U, h):
        for t in range(T):
            h = np.tanh(W @ h + U @ xs[t])
        return np.sum(h * w_out)

    def scanned(W, U, h):
        h, _ = graphc.scan(lambda h, x: (np.tanh(W @ h + U @ x), None), h, xs)
        return np.sum(h * w_out)

    graph = graphc.trace(scanned, W, U, h0)
    assert [graph[n]["op"] for n in graph.topo_order()].count("scan") == 1
    assert len(graph.users(graph.inputs[0])) == 1  # W reaches the loop once, as a weight its body reads
    vg = graphc.value_and_grad(scanned, argnums=(0, 1, 2))
    for value, grads in (ref(vg, W, U, h0), vg(W, U, h0)):  # the reference evaluator, then compiled
        value_u, grads_u = ref(graphc.value_and_grad(unrolled, argnums=(0, 1, 2)), W, U, h0)
        np.testing.assert_allclose(value, value_u, rtol=1e-12, atol=1e-12)
        for g, gu in zip(grads, grads_u):
            np.testing.assert_allclose(g, gu, rtol=1e-12, atol=1e-12)


# ---- Hessians against finite differences of the gradient ------------------------------------------
_A = np.array([[1.0, 0.5, -0.3], [0.2, -1.0, 0.7]])
HESSIAN_FUNCTIONS = [
    pytest.param(lambda x: np.sum(np.sin(x) * x ** 2), (np.array([0.3, -1.2, 2.0]),), 0, id="vector-sin-x2"),
    pytest.param(lambda x: x ** 3 * np.exp(x) + 1.0 / x, (0.7,), 0, id="scalar"),
    pytest.param(lambda x, y: np.sum(np.tanh(_A @ x) * y), (np.array([0.1, 0.4, -0.5]), np.array([1.5, -0.7])),
                 (0, 1), id="two-args-argnums-tuple"),
    pytest.param(lambda W, v: np.sum((W @ v) ** 2) + graphc.logsumexp(W),
                 (np.array([[0.3, -0.2], [0.5, 0.1]]), np.array([1.0, -2.0])), 0, id="matrix-arg"),
    pytest.param(lambda z, y: -np.sum(y * np.log(graphc.softmax(z))) + graphc.relu(z[0]) * z[1],
                 (np.array([0.5, -1.0, 2.0, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])), 0, id="softmax-xent"),
]


@pytest.mark.parametrize("fun, args, argnums", HESSIAN_FUNCTIONS)
def test_hessian_matches_finite_differences_of_the_gradient(fun, args, argnums, ref):
    H = ref(graphc.hessian(fun, argnums=argnums), *args)
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    grad_graph = graphc.trace(graphc.grad(fun, argnums=nums), *args)
    eps = 1e-5
    for j, n in enumerate(nums):
        for i, m in enumerate(nums):
            shape = np.shape(args[m]) + np.shape(args[n])
            block = H[i][j] if isinstance(argnums, tuple) else H
            assert np.shape(block) == shape and np.result_type(block) == np.float64
            fd = np.zeros(shape)
            for k in np.ndindex(np.shape(args[n])):
                E = np.zeros(np.shape(args[n]))
                E[k] = eps
                plus = list(args)
                minus = list(args)
                plus[n], minus[n] = args[n] + E, args[n] - E
                fd[(Ellipsis,) + k] = (evaluate(grad_graph, *plus)[i] - evaluate(grad_graph, *minus)[i]) / (2 * eps)
            np.testing.assert_allclose(block, fd, rtol=1e-6, atol=1e-8)
    if not isinstance(argnums, tuple):  # symmetric, as second derivatives are
        n = np.size(args[argnums])
        Hm = np.reshape(H, (n, n))
        np.testing.assert_allclose(Hm, Hm.T, rtol=1e-12, atol=1e-14)
