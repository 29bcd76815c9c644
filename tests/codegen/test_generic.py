"""Shape-generic kernels: a new shape of the same rank, dtypes and structure reuses the compiled kernel.

Kernels read their sizes from their arguments (graphc.dims), the cache key hashes the generated
source, so every shape that generates the same source shares one Numba dispatcher. Exactness stays
with the size table each signature passes in.
"""
import numpy as np
import pytest

import graphc
from graphc.codegen import compile as compile_module
from graphc.errors import ArgumentShapeError, ShapeError
from graphc.evaluate import evaluate


def _mlp_loss(W1, b1, W2, X, Y):
    h = np.tanh(X @ W1 + b1)
    return 0.5 * np.mean((h @ W2 - Y) ** 2)


def _mlp_args(batch, rng=np.random.default_rng(0)):
    return (rng.normal(size=(4, 6)) * 0.3, rng.normal(size=6) * 0.1, rng.normal(size=(6, 2)) * 0.3,
            rng.normal(size=(batch, 4)), rng.normal(size=(batch, 2)))


def _reference(fun, argnums, args):
    """Value and gradient by the reference evaluator (no Numba)."""
    graph = graphc.value_and_grad(fun, argnums=argnums, tiered=False).__graphc_transform__.traced_graph(*args)
    value, *grads = evaluate(graph, *args)
    return value, (grads if isinstance(argnums, tuple) else grads[0])


def _compiles():
    return compile_module.STATS["compiled"] + compile_module.STATS["disk_hits"]


def test_a_last_minibatch_of_another_size_reuses_the_kernel():
    vg = graphc.value_and_grad(_mlp_loss, argnums=(0, 1, 2), tiered=False)
    first = vg.lower(*_mlp_args(32))
    before = dict(compile_module.STATS)
    for batch in (7, 32, 2, 100):
        args = _mlp_args(batch)
        value, grads = vg(*args)
        want_value, want_grads = _reference(_mlp_loss, (0, 1, 2), args)
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        for got, want in zip(grads, want_grads):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)
    assert _compiles() == before["compiled"] + before["disk_hits"]  # no Numba compile for any new batch
    assert compile_module.STATS["reused"] == before["reused"] + 3
    second = vg.lower(*_mlp_args(7))
    assert second.source == first.source and second.kernel.dispatcher is first.kernel.dispatcher
    assert "v3.shape[0]" in first.source  # the batch size is read from X, not pasted in


def test_size_one_axes_stay_part_of_the_code():
    f = graphc.grad(lambda x, y: np.sum(x * y), tiered=False)
    wide, single = f.lower(np.ones((3, 4)), np.ones(4)), f.lower(np.ones((3, 1)), np.ones(4))
    assert wide.source != single.source  # (3, 1) broadcasts against (4,): another kernel
    np.testing.assert_array_equal(f(np.ones((3, 1)), np.arange(4.0)), np.full((3, 1), 6.0))
    np.testing.assert_array_equal(f(np.ones((5, 4)), np.arange(4.0)), np.tile(np.arange(4.0), (5, 1)))


def test_shape_checks_stay_exact():
    f = graphc.grad(lambda x: np.sum(np.sin(x) * x), tiered=False)
    lowered = f.lower(np.ones(5))
    with pytest.raises(ArgumentShapeError, match="argument 0 must have shape"):
        lowered.dispatcher(np.ones(6))  # the generic kernel underneath could run it; this signature may not
    np.testing.assert_allclose(lowered.dispatcher(np.full(5, 0.5)), np.sin(0.5) + 0.5 * np.cos(0.5))
    transformed = f.__graphc_transform__
    runner = transformed._lookup(transformed._where((np.ones(5),), {})[0])
    with pytest.raises(ArgumentShapeError):
        runner(np.ones(6))  # a signature's runner passes its own sizes
    np.testing.assert_allclose(f(np.full(6, 0.5)), np.full(6, np.sin(0.5) + 0.5 * np.cos(0.5)))
    with pytest.raises(ShapeError, match="test_generic.py"):
        graphc.jit(lambda a, b: a @ b, tiered=False)(np.ones((5, 3)), np.ones((4, 2)))


def _branchy(x):
    if x.shape[0] > 4:  # Python control flow on a size: each side traces its own graph
        return np.sum(x * x)
    return np.sum(np.cos(x))


@pytest.mark.parametrize("fun, shapes", [
    (_branchy, [(3,), (4,), (5,), (9,)]),
    (lambda x: np.sum(x[1:] * x[:-1]), [(4,), (7,)]),
    (lambda x: np.sum(x[:3] ** 2) + np.sum(x), [(4,), (6,)]),  # a literal bound stays literal
    (lambda x: np.sum(x.reshape(2, -1) @ np.ones(x.shape[0] // 2)), [(4,), (10,)]),
    (lambda x: np.sum(np.concatenate([x, 2.0 * x]) ** 2) / len(x), [(3,), (8,)]),
    (lambda x: np.mean(x, axis=0) @ np.mean(x.T, axis=1), [(2, 2), (5, 2), (2, 7)]),
    (lambda x: np.sum(np.cumsum(x, axis=1) * x.T.sum(axis=1)[:, None]), [(3, 3), (6, 6)]),
    (lambda x: np.max(np.exp(x)) + x.size, [(2, 3), (4, 5)]),
])
def test_every_shape_gets_its_own_answer(fun, shapes):
    rng = np.random.default_rng(1)
    vg = graphc.value_and_grad(fun, tiered=False)
    for shape in shapes:
        x = rng.normal(size=shape)
        value, grad = vg(x)
        want_value, want_grad = _reference(fun, 0, (x,))
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-11, atol=1e-14)


def _slices(x):
    return (np.sum(x[1:] * x[:-1]) + x[-1] * x[0] + np.sum(x[-3:] ** 2) + np.sum(x[::2] * 1.5)
            + np.sum(x[::-1] * x) + np.sum(x[-2::-2]) + np.sum(x[:5] ** 3) + np.sum(x[5:]))


def test_slices_counted_from_the_end_read_the_length_at_run_time():
    # x[1:], x[:-1], x[-1], x[::2]: bounds and lengths that follow the argument's size are read from it,
    # so lengths past the literal bounds (x[:5], x[5:], x[-3:]) run one kernel. Shorter ones, where a
    # bound is clipped, and those where two slices happen to have one length (x[::2] and x[5:] at 11),
    # and so fuse into one loop, generate other code. Each length's answer is checked against the reference.
    rng = np.random.default_rng(2)
    vg = graphc.value_and_grad(_slices, tiered=False)
    for n in (2, 3, 4, 5, 6, 11, 12, 13, 15, 17):
        x = rng.normal(size=n)
        value, grad = vg(x)
        want_value, want_grad = _reference(_slices, 0, (x,))
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-11, atol=1e-14)
    lowered = [vg.lower(np.ones(n)) for n in (13, 15, 17)]
    assert all(low.kernel.dispatcher is lowered[0].kernel.dispatcher for low in lowered)
    assert "v0[1:v0.shape[0]:1" in lowered[0].source  # x[1:]'s stop is read, not pasted in
    before = _compiles()
    matrix = graphc.grad(lambda X: np.sum(X[1:, :-1] * X[:-1, 1:]), tiered=False)
    shapes = [(3, 4), (5, 7), (4, 3)]
    for shape in shapes:
        X = rng.normal(size=shape)
        want = np.zeros(shape)
        want[1:, :-1] += X[:-1, 1:]
        want[:-1, 1:] += X[1:, :-1]
        np.testing.assert_allclose(matrix(X), want, rtol=1e-14)
    assert _compiles() == before + 1


def test_a_batched_slice_reads_the_batch_length():
    # vmap puts the batch axis in front of every index; its length used to be pasted in.
    per_example = graphc.vmap(graphc.grad(lambda x: np.sum(x[1:] * x[:-1])))
    f = graphc.jit(per_example, tiered=False)
    before = _compiles()
    for batch in (8, 9, 3):
        X = np.arange(batch * 5.0).reshape(batch, 5)
        want = np.zeros_like(X)
        want[:, :-1] += X[:, 1:]
        want[:, 1:] += X[:, :-1]
        np.testing.assert_allclose(f(X), want, rtol=1e-14)
    assert _compiles() == before + 1


def test_a_transformation_replayed_inside_jit_reads_the_callers_sizes():
    # jit(grad(f)), JAX's idiom: grad's graph is traced on its own and replayed into jit's, and the sizes
    # in its nodes (x[1:]'s bound, the scatter of its gradient) must then read jit's argument.
    f = graphc.jit(graphc.grad(lambda x: np.sum(x[1:] * x[:-1])), tiered=False)
    before = _compiles()
    for n in (6, 7, 9):
        x = np.linspace(-1.0, 1.0, n)
        want = np.zeros(n)
        want[:-1] += x[1:]
        want[1:] += x[:-1]
        np.testing.assert_allclose(f(x), want, rtol=1e-14)
    assert _compiles() == before + 1


def test_a_hessian_serves_every_length():
    # jacfwd's basis is eye(n) made from the argument's size, forward mode's zero masks fold to
    # broadcasts that keep it, and np.roll cuts at -s: one kernel for every n. Closed form: with
    # f = sum_i sin(x_i) x_(i-1) + x_i**4, H_ii = -sin(x_i) x_(i-1) + 12 x_i**2 and cos(x_i) at (i, i-1), (i-1, i).
    h = graphc.hessian(lambda x: np.sum(np.sin(x) * np.roll(x, 1)) + np.sum(x ** 4), tiered=False)
    h(np.linspace(0.1, 1.0, 48))
    before = _compiles()
    for n in (60, 7, 2):
        x = np.linspace(0.1, 1.0, n)
        want = np.diag(-np.sin(x) * np.roll(x, 1) + 12 * x ** 2)
        for i in range(n):
            want[i, i - 1] += np.cos(x[i])
            want[i - 1, i] += np.cos(x[i])
        np.testing.assert_allclose(h(x), want, rtol=1e-13, atol=1e-14)
    assert _compiles() == before + 1  # n=2 alone: there x[:-1] has length 1, never a Dim (it broadcasts)


def test_a_gradient_through_a_sum_over_an_argument_axis_serves_every_size():
    # The cotangent of x[:, None] * 2 is summed over y's axis: 2 * len(y) at run time, not folded in.
    g = graphc.grad(lambda x, y: np.sum(x[:, None] * 2.0 + y[None, :]), tiered=False)
    g(np.ones(3), np.ones(4))
    before = _compiles()
    for m in (5, 9):
        np.testing.assert_array_equal(g(np.ones(3), np.ones(m)), np.full(3, 2.0 * m))
    assert _compiles() == before


@pytest.mark.parametrize("transform", [graphc.jacfwd, graphc.jacrev])
def test_jacobians_of_a_matrix_serve_every_shape(transform):
    # d/dx_kl of 2 tanh(S_ij), S = x x^T: 2 (1 - tanh(S_ij)**2) (delta_ik x_jl + delta_jk x_il)
    jacobian = transform(lambda x: np.tanh(x @ x.T) * 2.0, tiered=False)
    jacobian(np.ones((3, 4)) * 0.1)
    before = _compiles()
    for shape in ((5, 2), (4, 4)):
        x = np.random.default_rng(3).normal(size=shape) * 0.5
        slope, eye = 2.0 * (1.0 - np.tanh(x @ x.T) ** 2), np.eye(shape[0])
        want = slope[:, :, None, None] * (np.einsum("ik,jl->ijkl", eye, x) + np.einsum("jk,il->ijkl", eye, x))
        np.testing.assert_allclose(jacobian(x), want, rtol=1e-13, atol=1e-15)
    assert _compiles() == before


@pytest.mark.parametrize("shift", [2, -2, 7])
def test_roll_reads_the_length_at_run_time(shift):
    vg = graphc.value_and_grad(lambda x, w: np.sum(np.roll(x, shift) * w), argnums=(0, 1), tiered=False)
    sources = set()
    for n in (9, 11):
        x, w = np.arange(float(n)), np.linspace(1.0, 2.0, n)
        value, (gx, gw) = vg(x, w)
        assert value == np.sum(np.roll(x, shift) * w)
        np.testing.assert_array_equal(gx, np.roll(w, -shift))
        np.testing.assert_array_equal(gw, np.roll(x, shift))
        sources.add(vg.lower(x, w).source.split("\n", 1)[1])
    assert len(sources) == 1


def test_scan_length_is_read_at_run_time():
    def loss(W, h0, xs):
        def step(h, x):
            h = np.tanh(W @ h + x)
            return h, np.sum(h)
        h, per_step = graphc.scan(step, h0, xs)
        return np.sum(h) + np.sum(per_step)

    rng = np.random.default_rng(2)
    W, h0 = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)
    vg = graphc.value_and_grad(loss, argnums=(0, 1, 2), tiered=False)
    vg(W, h0, rng.normal(size=(4, 3)))
    compiles = _compiles()
    for T in (9, 2):
        xs = rng.normal(size=(T, 3))
        value, grads = vg(W, h0, xs)
        want_value, want_grads = _reference(loss, (0, 1, 2), (W, h0, xs))
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        for got, want in zip(grads, want_grads):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)
    assert _compiles() == compiles  # neither compiled nor loaded from disk: the same dispatcher


def test_tiered_second_shape_switches_to_the_kernel_without_compiling():
    vg = graphc.value_and_grad(_mlp_loss, argnums=(0, 1, 2), tiered=True)
    vg.lower(*_mlp_args(16))
    compiles = _compiles()
    args = _mlp_args(9)
    vg(*args)  # the NumPy tier answers; the job finds the kernel loaded
    transformed = vg.__graphc_transform__
    signature = transformed._signatures[transformed._where(args, {})[0]]
    signature.job.wait()
    assert signature.job.how == "memory"
    assert "already compiled for another shape" in signature.history[-1]
    assert _compiles() == compiles
