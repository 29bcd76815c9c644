"""Reliability: NumPy's answer or a clear GraphcError, never a crash or a silently wrong result."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import graphc
from graphc.codegen.compile import STATS
from graphc.errors import SignatureError
from graphc.evaluate import evaluate


def _compiles():
    return STATS["compiled"] + STATS["disk_hits"] + STATS["in_memory"]


# ---- bad input ----------------------------------------------------------------------------------
def test_wrong_number_of_arguments_is_a_clear_error():
    f = graphc.grad(lambda x, y: x * y)
    with pytest.raises(SignatureError, match="cannot be called with 3 positional arguments"):
        f(1.0, 2.0, 3.0)
    with pytest.raises(SignatureError, match="missing a required argument: 'y'"):
        f(1.0)


def test_a_new_ndim_or_dtype_recompiles_and_gives_numpy_types():
    f = graphc.jit(lambda x: np.sum(x * 2.0, axis=0))
    before = _compiles()
    assert f(np.ones(3)) == 6.0
    np.testing.assert_array_equal(f(np.ones((2, 3))), np.full(3, 4.0))
    out = f(np.ones((2, 3), np.float32))
    assert out.dtype == np.float32
    assert _compiles() - before == 3


@pytest.mark.parametrize("bad", [object(), {"a": object()}, [1.0, b"x"]])
def test_values_that_are_not_arrays_are_named(bad):
    with pytest.raises(graphc.GraphcError, match="argument"):
        graphc.jit(lambda x: x * 2.0)(bad)


def test_strings_are_static_so_arithmetic_on_them_fails_where_the_user_wrote_it():
    # A string argument is a constant of the compiled code (an einsum subscript, a mode name); used
    # as a number, the error names the operation and the line.
    with pytest.raises(graphc.errors.TracingError, match=r"'multiply' got str 'text'.*test_reliability.py:\d+"):
        graphc.jit(lambda x, s: x * s)(2.0, "text")


def test_none_is_an_empty_pytree_not_an_error():
    assert graphc.jit(lambda x, unused: x * 2.0)(1.5, None) == 3.0


def test_dispatcher_called_with_another_shape_raises_instead_of_reading_garbage():
    d = graphc.grad(lambda x: np.sum(x * x)).lower(np.ones(3)).dispatcher
    with pytest.raises(graphc.GraphcError, match="argument 0 must have shape"):
        d(np.ones(4))
    with pytest.raises(TypeError):  # another dtype is refused, not compiled for the wrong graph
        d(np.ones(3, np.float32))


def test_non_contiguous_arguments_work():
    x = np.arange(12.0).reshape(3, 4)
    f = graphc.grad(lambda a: np.sum(a * a))
    np.testing.assert_array_equal(f(x.T), 2 * x.T)
    np.testing.assert_array_equal(f(x[:, ::2].copy()), 2 * x[:, ::2])
    np.testing.assert_array_equal(f(np.asfortranarray(x)), 2 * x)


# ---- numbers ------------------------------------------------------------------------------------
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5])


@pytest.mark.parametrize("fun", [
    lambda x: np.sum(np.sin(x) * x),
    lambda x: np.sum(np.maximum(x, 0.5) * np.exp(-x * x)),
    lambda x: np.sum(np.where(x > 0, np.sqrt(np.abs(x)), x)),
    lambda x: np.max(x * 2.0) + np.sum(np.tanh(x)),
], ids=["sin", "maximum-exp", "where-sqrt", "max-tanh"])
def test_nan_and_inf_propagate_as_numpy_does(fun):
    vg = graphc.value_and_grad(fun)
    value, grad = vg(SPECIAL)
    expected = evaluate(graphc.trace(vg, SPECIAL), SPECIAL)
    with np.errstate(all="ignore"):
        numpy_value = fun(SPECIAL)
    # NaN and inf exactly where NumPy has them; finite values within a few ulp (the fused loops'
    # exp, sin and tanh are graphc's own, within 2 ulp of NumPy's)
    for got, want in ((value, numpy_value), (value, expected[0]), (grad, expected[1])):
        got, want = np.asarray(got), np.asarray(want)
        finite = np.isfinite(want)
        np.testing.assert_array_equal(got[~finite], want[~finite])
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-15, atol=0)


def test_empty_and_zero_d_arrays():
    f = graphc.value_and_grad(lambda x: np.sum(x * x) + np.sum(np.sin(x)))
    value, grad = f(np.zeros(0))
    assert value == 0.0 and grad.shape == (0,)
    value, grad = f(np.array(2.0))
    assert value == pytest.approx(4.0 + np.sin(2.0)) and np.shape(grad) == ()
    assert graphc.jit(lambda x: x.sum(axis=1))(np.zeros((3, 0))).shape == (3,)


@pytest.mark.parametrize("fun", [
    graphc.sigmoid,
    lambda x: graphc.logsumexp(x),
    lambda x: graphc.softmax(x)[0],
    lambda x: np.log1p(np.abs(x)),
], ids=["sigmoid", "logsumexp", "softmax", "log1p"])
@pytest.mark.parametrize("size", [5, 5000], ids=["small", "big"])
def test_stable_functions_stay_finite_without_warnings_up_to_1e3(fun, size):
    x = np.linspace(-1e3, 1e3, size)
    loss = lambda x: np.sum(fun(x) * 0.5)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            value, grad = graphc.value_and_grad(loss)(x)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_float32_stays_float32_end_to_end():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 5)).astype(np.float32)
    W = rng.normal(size=(5, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)

    def loss(W, b):
        return np.mean(graphc.softmax(np.tanh(X @ W + b)) ** 2) + np.sum(graphc.sigmoid(b))

    value, (gW, gb) = graphc.value_and_grad(loss, argnums=(0, 1))(W, b)
    assert type(value) is np.float32 and gW.dtype == np.float32 and gb.dtype == np.float32


# ---- concurrency --------------------------------------------------------------------------------
def test_two_threads_compile_a_new_function_once():
    f = graphc.value_and_grad(lambda x: np.sum(np.cos(x) * x * 1.25))
    x = np.linspace(0, 1, 7)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            results.append(f(x))
        except Exception as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)

    before = _compiles()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _compiles() - before == 1
    for value, grad in results:
        assert value == pytest.approx(np.sum(np.cos(x) * x * 1.25))
        np.testing.assert_allclose(grad, 1.25 * (np.cos(x) - x * np.sin(x)), rtol=1e-12)


PROCESS = textwrap.dedent("""
    import json, numpy as np, graphc
    value, grad = graphc.value_and_grad(lambda x: np.sum(np.exp(-x * x) * 3.5))(np.linspace(0, 1, 9))
    print(json.dumps([float(value), grad.tolist()]))
""")


def test_two_processes_filling_the_same_cache_key_both_succeed(tmp_path):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert first == second
    assert len(list(tmp_path.glob("graphc_*.py"))) == 1
    assert not list(tmp_path.glob(".tmp-*"))
