"""Compiled callables pickle as their optimized graphs, not as the user's Python function."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import graphc


def _loss(w, X, y):
    return np.mean((graphc.sigmoid(X @ w) - y) ** 2)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=3), rng.normal(size=(20, 3)), rng.random(20)


def test_roundtrip_in_process_gives_the_same_results():
    w, X, y = _data()
    vg = graphc.value_and_grad(_loss)
    expected = vg(w, X, y)
    again = pickle.loads(pickle.dumps(vg))
    value, grad = again(w, X, y)
    assert value == expected[0]
    np.testing.assert_array_equal(grad, expected[1])


def test_the_python_function_does_not_travel():
    w, X, y = _data()
    fun = lambda w, X, y: np.sum(X @ w * y)  # noqa: E731 -- a lambda: pickle could not send it
    f = graphc.grad(fun)
    f(w, X, y)
    payload = pickle.dumps(f)
    assert fun.__code__.co_code not in payload
    np.testing.assert_allclose(pickle.loads(payload)(w, X, y), X.T @ y)


def test_unpickled_function_refuses_new_signatures_clearly():
    f = graphc.jit(lambda x: x * 2.0)
    f(np.ones(3))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(np.ones(3)), np.full(3, 2.0))
    with pytest.raises(graphc.GraphcError, match="unpickled without its Python function"):
        g(np.ones(4))


def test_pickling_before_any_call_is_a_clear_error():
    with pytest.raises(graphc.GraphcError, match="not been compiled"):
        pickle.dumps(graphc.jit(lambda x: x + 1.0))


def test_another_graphc_version_is_refused():
    f = graphc.jit(lambda x: x + 1.0)
    f(1.0)
    state = f.__graphc_transform__.__getstate__()
    state["version"] = "0.0.0-other"
    from graphc.api import _unpickle_transformed

    with pytest.raises(graphc.GraphcError, match="pickled by graphc 0.0.0-other"):
        _unpickle_transformed(state)


def test_a_fresh_process_loads_the_pickle(tmp_path):
    w, X, y = _data()
    vg = graphc.value_and_grad(_loss)
    expected = vg(w, X, y)
    (tmp_path / "f.pkl").write_bytes(pickle.dumps((vg, (w, X, y))))
    script = ("import pickle, sys, numpy as np\n"
              "f, args = pickle.loads(open(sys.argv[1], 'rb').read())\n"
              "value, grad = f(*args)\n"
              "print(repr(float(value)), grad.tolist())\n")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path / "cache"))  # this process has never seen it
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "f.pkl")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    value, grad = done.stdout.strip().split(" ", 1)
    assert float(value) == expected[0]
    np.testing.assert_allclose(eval(grad), expected[1], rtol=0)  # noqa: S307 -- our own list literal
