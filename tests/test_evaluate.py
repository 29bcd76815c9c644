"""The NumPy reference evaluator: the oracle every pass and the compiled code are checked against."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcInternalError, SignatureError
from graphc.evaluate import evaluate


def test_seed_value():
    g = graphc.trace(lambda x, y, z: (x + y) * z, 1.0, 3.0, -3.0)
    assert evaluate(g, 1.0, 3.0, -3.0) == [-12.0]
    assert evaluate(g, 2.0, 0.5, 4.0) == [10.0]  # the graph does not depend on the traced values


def test_zero_d_results_are_numpy_scalars_and_arrays_stay_arrays(rng):
    x = rng.normal(size=3)
    out = evaluate(graphc.trace(lambda x: (np.sum(x), x * 2.0, x[0].astype(np.float32)), x), x)
    assert type(out[0]) is np.float64
    assert type(out[1]) is np.ndarray and out[1].shape == (3,)
    assert type(out[2]) is np.float32


def test_wrong_number_of_inputs_is_a_signature_error():
    g = graphc.trace(lambda x, y: x * y, 1.0, 2.0)
    with pytest.raises(SignatureError, match="2 inputs, got 1"):
        evaluate(g, 1.0)
    with pytest.raises(graphc.GraphcError):
        evaluate(g, 1.0, 2.0, 3.0)


def test_inputs_are_taken_as_the_traced_dtype():
    g = graphc.trace(lambda x: x * 2.0, np.ones(2, np.float32))
    (out,) = evaluate(g, [1.5, 2.5])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([3.0, 5.0], np.float32))


def test_outputs_that_are_also_intermediates_or_inputs_survive(rng):
    x = rng.normal(size=4)

    def f(x):
        h = np.sin(x)
        return h * 2.0, h, x, h

    out = evaluate(graphc.trace(f, x), x)
    for got, want in zip(out, f(x)):
        np.testing.assert_array_equal(got, want)


def test_inf_and_nan_results_are_answers_not_warnings():
    x = np.array([0.0, -1.0, 1.0])
    g = graphc.trace(lambda x: (np.log(x), 1.0 / x, np.sqrt(x)), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log, inv, sqrt = evaluate(g, x)
    np.testing.assert_array_equal(log, [-np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(inv, [np.inf, -1.0, 1.0])
    np.testing.assert_array_equal(sqrt, [0.0, np.nan, 1.0])


def test_user_arrays_are_not_modified(rng):
    x = rng.normal(size=(2, 3))
    saved = x.copy()
    g = graphc.trace(graphc.grad(lambda x: np.sum(x[:, 1:] ** 2) + np.sum(x * x)), x)
    evaluate(g, x)
    np.testing.assert_array_equal(x, saved)


def test_a_node_whose_type_disagrees_with_its_reference_is_an_internal_error():
    g = graphc.trace(lambda x: np.exp(x), np.ones(2))
    g[g.outputs[0]]["dtype"] = np.dtype(np.float32)  # the shape rule said f64; pretend it said f32
    with pytest.raises(GraphcInternalError, match="exp"):
        evaluate(g, np.ones(2))


def test_evaluates_gradient_graphs_of_any_order():
    g1 = graphc.trace(graphc.grad(lambda x: x ** 4), 2.0)
    g2 = graphc.trace(graphc.grad(graphc.grad(lambda x: x ** 4)), 2.0)
    assert evaluate(g1, 2.0) == [32.0]
    assert evaluate(g2, 2.0) == [48.0]
