"""Batched matmul and the contraction composites beyond the op table: float32 and integer kernels, the
no-SciPy path, second order, which kernels the contractions compile to, and the errors they raise."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError, ShapeError
from graphc.evaluate import evaluate

BATCH_SHAPES = [((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                ((2, 3, 4), (4,)), ((4,), (2, 4, 5)), ((1, 3, 4), (2, 4, 1))]


def _matmul_and_grads(a, b, w):
    return a @ b, graphc.grad(lambda a, b: np.sum((a @ b) * w), argnums=(0, 1))(a, b)


@pytest.mark.parametrize("sa, sb", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_batched_matmul_compiles_to_the_reference_value_and_gradient(sa, sb, dtype, rng):
    a, b = rng.normal(size=sa).astype(dtype), rng.normal(size=sb).astype(dtype)
    w = rng.normal(size=np.matmul(a, b).shape).astype(dtype)
    f = graphc.jit(lambda a, b: _matmul_and_grads(a, b, w))
    value, (ga, gb) = f(a, b)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(value, np.matmul(a, b), strict=True, **tol)
    graph = graphc.trace(f, a, b)
    _, (ra, rb) = graphc.tree_unflatten(graph.out_tree, evaluate(graph, a, b))
    np.testing.assert_allclose(ga, ra, strict=True, **tol)
    np.testing.assert_allclose(gb, rb, strict=True, **tol)
    # The gradients by hand: g @ b^T and a^T @ g on the promoted operands, summed over broadcast batch axes.
    a2, b2 = (a[None] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)
    g2 = np.broadcast_to(w, np.matmul(a, b).shape).reshape(np.matmul(a2, b2).shape)
    expect_a = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
    expect_b = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
    np.testing.assert_allclose(ga, expect_a, **tol)
    np.testing.assert_allclose(gb, expect_b, **tol)


def _unbroadcast(g, shape):
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


@pytest.mark.parametrize("sa, sb", BATCH_SHAPES, ids=str)
def test_integer_batched_matmul_is_exact(sa, sb, rng):
    a, b = rng.integers(-5, 6, sa), rng.integers(-5, 6, sb)
    out = graphc.jit(lambda a, b: a @ b)(a, b)
    np.testing.assert_array_equal(out, np.matmul(a, b), strict=True)


def test_batched_matmul_without_scipy_calls_numpy_outside_nopython_mode(monkeypatch, rng):
    from graphc.ops import linalg

    monkeypatch.setattr(linalg, "numba_has_blas", lambda: False)
    a, b = rng.normal(size=(2, 1, 3, 4)), rng.normal(size=(5, 4, 2))
    f = graphc.value_and_grad(lambda a, b: np.sum(np.tanh(a @ b)), argnums=(0, 1))
    assert "np.matmul" in f.lower(a, b).source and "numba.objmode" in f.lower(a, b).source
    value, grads = f(a, b)
    expected = evaluate(graphc.trace(f, a, b), a, b)
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    for g, e in zip(grads, expected[1:]):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_stack_times_matrix_is_one_gemm_forward_and_backward(rng):
    # x (batch, n, k) @ W (k, m), the layer of every sequence model: no per-matrix loop anywhere.
    x, W = rng.normal(size=(4, 3, 5)), rng.normal(size=(5, 2))
    source = graphc.grad(lambda x, W: np.sum(np.tanh(x @ W)), argnums=(0, 1)).lower(x, W).source
    assert "_batched_matmul" not in source and source.count("_matmul2(") == 3


def test_batched_matmul_second_order(rng):
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 2))
    h = graphc.hessian(lambda a: np.sum(np.sin(a @ b)))(a)
    eps, v = 1e-5, rng.normal(size=a.shape)
    grad = graphc.grad(lambda a: np.sum(np.sin(a @ b)))
    fd = (grad(a + eps * v) - grad(a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(np.tensordot(h, v, axes=3), fd, rtol=1e-6, atol=1e-8)


def test_tensordot_and_einsum_contract_with_blas(rng):
    a, b = rng.normal(size=(3, 4, 5)), rng.normal(size=(4, 3, 2))
    assert "_matmul2(" in graphc.jit(lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 1]))).lower(a, b).source
    q, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    source = graphc.jit(lambda q, k: np.einsum("bqd,bkd->bqk", q, k)).lower(q, k).source
    assert "_batched_matmul(" in source


def test_einsum_matches_numpy_on_integers_and_mixed_dtypes(rng):
    a, b = rng.integers(-3, 4, (2, 3)), rng.normal(size=(3, 4)).astype(np.float32)
    out = graphc.jit(lambda a, b: np.einsum("ij,jk->ik", a, b))(a, b)
    np.testing.assert_allclose(out, np.einsum("ij,jk->ik", a, b), rtol=1e-6, strict=True)


@pytest.mark.parametrize("fn, shapes, match", [
    (lambda a, b: a @ b, ((2, 3), (4, 5)), "do not align"),
    (lambda a, b: a @ b, ((2, 3, 4), (3, 4, 5)), "do not broadcast"),
    (lambda a, b: np.matmul(a, b), ((), (3,)), "0-d"),
    (lambda a, b: np.tensordot(a, b, axes=([0], [0])), ((2, 3), (3, 2)), "shape mismatch"),
    (lambda a, b: np.tensordot(a, b, axes=([0, 1], [0])), ((2, 3), (2, 3)), "pairs 2 axes"),
    (lambda a, b: np.tensordot(a, b, axes=3), ((2, 3), (2, 3)), "more than the dimensions"),
    (lambda a, b: np.inner(a, b), ((2, 3), (2,)), "shape mismatch"),
    (lambda a, b: np.dot(a, b), ((2, 3, 4), (3, 5, 4)), "shape mismatch"),
    (lambda a, b: np.einsum("ij,jk->ik", a, b), ((2, 3), (4, 5)), "has sizes 3 and 4"),
    (lambda a, b: np.einsum("ij,jk->ik", a), ((2, 3), (3, 4)), "do not match 1 operand"),
    (lambda a, b: np.einsum("ijk,jk->ik", a, b), ((2, 3), (3, 4)), "name 3 axes of a 2-d"),
    (lambda a, b: np.einsum("ij,jk->iz", a, b), ((2, 3), (3, 4)), "names one no operand has"),
    (lambda a, b: np.einsum("ij,jk->ii", a, b), ((2, 3), (3, 4)), "repeats a label"),
    (lambda a, b: np.einsum("...j,jk->k", a, b), ((2, 3), (3, 4)), "needs '...'"),
    (lambda a, b: np.einsum("i1,jk", a, b), ((2, 3), (3, 4)), "must be letters"),
    (lambda a, b: np.einsum("ii->i", a), ((2, 3), (3,)), "sizes 2 and 3"),
    (lambda a, b: np.cross(a, b), ((4,), (4,)), "2 or 3 components"),
    (lambda a, b: np.diagonal(a, 0, 1, 1), ((3, 3), ()), "cannot be the same axis"),
    (lambda a, b: np.diagonal(a), ((3,), ()), "at least two dimensions"),
    (lambda a, b: np.diag(a), ((2, 2, 2), ()), "1-d or 2-d"),
    (lambda a, b: np.triu(a), ((), ()), "at least a 1-d"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments_raise_shape_errors(fn, shapes, match, rng):
    args = [rng.normal(size=s) for s in shapes]
    with pytest.raises(ShapeError, match=match):
        graphc.trace(fn, *args)


def test_unsupported_forms_name_the_alternative(rng):
    a = rng.normal(size=(2, 3))
    with pytest.raises(GraphcError, match="axis label 'i'"):
        graphc.trace(lambda a: np.einsum(a, ["i", "j"], ["j", "i"]), a)
    np.testing.assert_array_equal(graphc.jit(lambda a: np.einsum(a, [0, 1], [1, 0]))(a), a.T)  # interleaved form
    with pytest.raises(GraphcError, match="out="):
        graphc.trace(lambda a: np.einsum("ij->ji", a, out=np.empty((3, 2))), a)
    with pytest.raises(GraphcError, match="out="):
        graphc.trace(lambda a: np.outer(a, a, out=np.empty((6, 6))), a)


def test_empty_diagonals_and_diag_of_an_empty_vector(rng):
    a = rng.normal(size=(3, 3))
    out = graphc.jit(lambda a: (np.diagonal(a, 5), np.trace(a, -4)))(a)
    np.testing.assert_array_equal(out[0], np.diagonal(a, 5), strict=True)
    assert out[1] == np.trace(a, -4)


@pytest.mark.parametrize("sa, sb", [((0, 2, 3), (0, 3, 4)), ((1, 2, 3), (0, 3, 4)), ((0, 2, 3), (1, 3, 4))],
                         ids=["both-empty", "broadcast-to-empty", "empty-broadcast"])
def test_einsum_with_an_empty_batch_axis_broadcasts_as_numpy_does(sa, sb, rng):
    # A size-1 axis broadcasts against a 0-length one (autograd's test_einsum_matmult_broadcast_leadzero).
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    f = lambda a, b: np.einsum("...ij,...jk->...ik", a, b)  # noqa: E731
    np.testing.assert_array_equal(graphc.jit(f, tiered="numpy")(a, b), f(a, b), strict=True)
    ga, gb = graphc.grad(lambda a, b: np.sum(f(a, b)), argnums=(0, 1), tiered="numpy")(a, b)
    assert ga.shape == sa and gb.shape == sb and not ga.any() and not gb.any()
