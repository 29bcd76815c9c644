"""Rolled kernels (codegen/rolled.py) and the Numba helpers every product, reshape and basic index
calls (codegen/rt_linalg.py, rt_shape.py, rt_rolled.py): issue 13, Numba's compile time per node."""
import re
import warnings

import numba
import numpy as np
import pytest

import graphc
from graphc.codegen import rolled
from graphc.codegen.runtime import (_index_lead, _matmul2, _matmul2_into, _put, _reshape, _scatter_lead,
                                    _scatter_lead_into, _slot)
from graphc.evaluate import evaluate


def _layouts(a):
    """``a`` C-contiguous, F-contiguous and strided (a view of every other element of a bigger array)."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return {"C": np.ascontiguousarray(a), "F": np.asfortranarray(a), "strided": wide[..., ::2]}


@numba.njit
def _products(a, b, out):
    _matmul2_into(a, b, out)
    return _matmul2(a, b), out


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 5))], ids=str)
def test_matmul_helpers_match_numpy_for_c_f_and_strided_operands(shapes, dtype, rng):
    a, b = (rng.normal(size=s) + (1j * rng.normal(size=s) if dtype == np.complex128 else 0) for s in shapes)
    a, b = a.astype(dtype), b.astype(dtype)
    expected = np.dot(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error", numba.NumbaPerformanceWarning)  # no copy warnings from np.dot
        for (la, x), (lb, y) in [(p, q) for p in _layouts(a).items() for q in _layouts(b).items()]:
            got, into = _products(x, y, np.empty(expected.shape, dtype))
            tol = 1e-5 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(got, expected, rtol=tol, err_msg=f"{la} @ {lb}")
            np.testing.assert_allclose(into, expected, rtol=tol, err_msg=f"{la} @ {lb} into")


@numba.njit
def _shape_helpers(x, g):
    return (_reshape(x, (6, 2)), _reshape(x.T, (12,)), _index_lead(x, (1,)), _index_lead(x, (2, 1)),
            _scatter_lead(g, (2,), (4, 3), np.float64))


def test_shape_helpers_match_numpy_on_any_layout(rng):
    x, g = rng.normal(size=(4, 3)), rng.normal(size=3)
    for layout, y in _layouts(x).items():
        r1, r2, row, element, scattered = _shape_helpers(y, g)
        np.testing.assert_array_equal(r1, x.reshape(6, 2), err_msg=layout)
        np.testing.assert_array_equal(r2, x.T.reshape(12), err_msg=layout)
        np.testing.assert_array_equal(row, x[1], err_msg=layout)
        assert element == x[2, 1]
    expected = np.zeros((4, 3))
    expected[2] = g
    np.testing.assert_array_equal(scattered, expected)


@numba.njit
def _buffer_helpers(buffer, x, g):
    _put(buffer, 2, x.T)  # any layout in, C order out
    view = _slot(buffer, 2, (3, 4))
    _scatter_lead_into(g, (1,), (2, 3), np.float64, _slot(buffer, 14, (2, 3)))
    return view.copy(), _slot(buffer, 14, (2, 3)).copy()


def test_buffer_helpers_keep_values_in_c_order(rng):
    x, g = rng.normal(size=(4, 3)), rng.normal(size=3)
    buffer = np.full(20, np.nan)
    view, scattered = _buffer_helpers(buffer, x, g)
    np.testing.assert_array_equal(view, x.T)
    np.testing.assert_array_equal(scattered, [[0, 0, 0], g])
    assert np.isnan(buffer[:2]).all()  # nothing written before the offset


def _reshape_signatures() -> list:
    """Every signature ``_reshape`` has been compiled for in this process, over all its typing entries."""
    function = numba.core.registry.cpu_target.typing_context.resolve_value_type(_reshape)
    return [sig for template in function.templates for _, (dispatcher, _) in template._impl_cache.items()
            for sig in dispatcher.signatures]


def test_integer_literals_compile_a_helper_once_per_rank():
    # An @njit dispatcher would compile again for every distinct literal: (16, 1), (8, 2), (4, 4)...
    @numba.njit
    def f(x):
        return _reshape(x, (16, 1)).sum() + _reshape(x, (8, 2)).sum() + _reshape(x, (4, 4)).sum() + \
            _reshape(x, (16,)).sum()

    before = list(_reshape_signatures())
    f(np.ones(16))
    compiled = _reshape_signatures()
    assert not any(isinstance(t, numba.types.Literal) or isinstance(getattr(t, "dtype", None), numba.types.Literal)
                   for sig in compiled for t in sig)
    mine = {sig for sig in compiled if sig[0] == numba.float64[::1]}
    assert {(numba.float64[::1], numba.types.UniTuple(numba.int64, n)) for n in (1, 2)} <= mine
    # Other tests in this process may have compiled it already (under other flags too): what f added is at
    # most one signature per rank of the shape tuple, not one per literal.
    added = [sig for sig in compiled if sig not in before]
    assert len(added) <= 2 and len(added) == len(set(added))


def _rnn(steps):
    def loss(W, U, b, h0, xs):
        h = h0
        for t in range(steps):
            h = np.tanh(W @ h + U @ xs[t] + b)
        return np.sum(h)
    return loss


def _rnn_args(rng, steps):
    return (rng.normal(size=(16, 16)) * 0.3, rng.normal(size=(16, 8)) * 0.3, rng.normal(size=16) * 0.1,
            rng.normal(size=16), rng.normal(size=(steps, 8)))


def _assert_matches_reference(f, args):
    got = graphc.tree_flatten(f(*args))[0]
    expected = evaluate(graphc.trace(f, *args), *args)
    assert len(got) == len(expected)
    for a, e in zip(got, expected):
        assert np.shape(a) == np.shape(e) and np.result_type(a) == np.result_type(e)
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-14)


def _forms(source: str) -> int:
    return len(re.findall(r"^ +(?:el)?if f == \d+:$", source, re.MULTILINE))


def test_unrolled_rnn_rolls_into_a_loop_whose_code_does_not_grow_with_the_steps(rng):
    sources = {}
    for steps in (20, 40):
        args = _rnn_args(rng, steps)
        f = graphc.value_and_grad(_rnn(steps), argnums=(0, 1, 2, 3, 4), tiered=False)
        sources[steps] = f.lower(*args).source
        assert "SITE_PARAM" in sources[steps]
        _assert_matches_reference(f, args)
    assert _forms(sources[20]) == _forms(sources[40]) < 25
    # Twice the steps, the same code but for the last piece of each split sum (loops.split_body).
    assert abs(len(sources[40].splitlines()) - len(sources[20].splitlines())) < 20


def test_rolled_kernel_is_cacheable(rng):
    # A global array over 1 MB, or a pointer, would make Numba refuse to cache the kernel.
    args = _rnn_args(rng, 20)
    f = graphc.value_and_grad(_rnn(20), argnums=(0, 1, 2, 3, 4), tiered=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", numba.NumbaWarning)
        f.lower(*args)


def test_rolled_buffer_reuses_the_space_of_dead_values(monkeypatch, rng):
    # Forward only: each step's values die in the next, so a few vectors' space serves all 40 steps.
    monkeypatch.setattr(rolled, "ROLL_MIN", 1)

    def f(W, x):
        for _ in range(40):
            x = np.tanh(W @ x) + x
        return x

    args = (rng.normal(size=(16, 16)) * 0.3, rng.normal(size=16))
    jitted = graphc.jit(f, tiered=False)
    source = jitted.lower(*args).source
    (size,) = [int(n) for n in re.findall(r"b0 = np.empty\((\d+), np.float64\)", source)]
    assert size <= 4 * 16
    _assert_matches_reference(jitted, args)


def _forced(monkeypatch):
    """Every kernel rolled, whatever its length and however little its sites share."""
    monkeypatch.setattr(rolled, "ROLL_MIN", 1)
    monkeypatch.setattr(rolled, "ROLL_SHARING", 0)


def _mixed(x, W, v):
    # Reshapes, transposes, basic indexing (and its adjoint, a scatter), a keepdims sum, a comparison
    # (a bool value), a scalar chain and a product of a transposed slice.
    h = np.tanh(x @ W)
    rows = h.reshape(2, 6).T
    s = np.sum(rows * rows, axis=0, keepdims=True)
    mask = (h > 0).astype(np.float64)
    scalar = np.sum(h[1] * v[0]) * 2.0 + h[0, 3]
    return np.sum(s) + np.sum(mask * h) + scalar + np.sum(x[:, ::2] @ W[::2, ::-1].T.T)


@pytest.mark.parametrize("case", ["mixed", "rnn"])
def test_any_kernel_rolled_matches_reference(case, monkeypatch, rng):
    _forced(monkeypatch)
    if case == "mixed":
        args = (rng.normal(size=(3, 4)), rng.normal(size=(4, 4)), rng.normal(size=4))
        f = graphc.value_and_grad(_mixed, argnums=(0, 1, 2), tiered=False)
    else:
        args = _rnn_args(rng, 3)
        f = graphc.value_and_grad(_rnn(3), argnums=(0, 1, 2, 3, 4), tiered=False)
    assert "SITE_PARAM" in f.lower(*args).source
    _assert_matches_reference(f, args)


def test_a_long_fused_sum_runs_as_loops_of_a_few_reads(monkeypatch, rng):
    # sum_t outer(a_t, b_t): the fusion pass makes one loop reading every term; rolled, it is split.
    _forced(monkeypatch)
    monkeypatch.setattr(rolled, "SPLIT_READS", 4)

    def f(A, B):
        total = 0.0
        for t in range(9):
            total = total + np.outer(np.tanh(A[t]), B[t])
        return total

    args = (rng.normal(size=(9, 5)), rng.normal(size=(9, 3)))
    vg = graphc.jit(f, tiered=False)
    source = vg.lower(*args).source
    loops = re.findall(r"\n( +)for i0 in range\(5\):\n\1    for i1 in range\(3\):\n((?:\1        .*\n)+)", source)
    assert loops and all(body.count("= b0[") <= 4 for _, body in loops)
    _assert_matches_reference(vg, args)
