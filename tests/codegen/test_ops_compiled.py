"""Every op through the compiled path agrees with the reference evaluator, value and gradient, and
the NumPy tier (``tiered="numpy"``) agrees with the compiled kernel: structure, types, 1e-12.

One kernel per op covers all of its cases (a compile costs far more than a case; putting several
ops in one kernel was measured slower still, Numba's compile time growing faster than the code).
float64 values and gradients are checked to rtol 1e-12; float32 values to 2e-6, since Numba's loops
sum in another order than NumPy's pairwise summation.
"""
import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate
from graphc.ops import NONDIFFERENTIABLE, REGISTRY

from op_cases import CASES, COMPOSITE_CASES

TRACEABLE = [name for name, op in REGISTRY.items() if not op.internal]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-6, atol=1e-6)}


def _all_cases(name, rng, dtype):
    """The op's cases as one function of all their inputs, the inputs, and a weight per case output."""
    cases = CASES[name]
    inputs, spans = [], []
    for c in cases:
        xs = c.inputs(name, rng, dtype)
        spans.append((len(inputs), len(inputs) + len(xs)))
        inputs += xs

    def outputs(*xs):
        return tuple(c.fn(*xs[a:b]) for c, (a, b) in zip(cases, spans))

    return cases, spans, inputs, outputs


def _assert_tiers_agree(kernel_result, numpy_result, dtype):
    """The NumPy tier's result has the kernel's structure and, leaf by leaf, its Python type, shape
    and dtype; float64 values agree to 1e-12 relative."""
    kernel_leaves, kernel_tree = graphc.tree_flatten(kernel_result)
    numpy_leaves, numpy_tree = graphc.tree_flatten(numpy_result)
    assert kernel_tree == numpy_tree
    for a, b in zip(kernel_leaves, numpy_leaves):
        assert type(a) is type(b)
        tolerance = dict(rtol=1e-12, atol=1e-300) if dtype == np.float64 else TOL[dtype]
        _assert_same(b, a, dtype, tolerance)


def _assert_same(actual, expected, dtype, tolerance=None):
    assert np.shape(actual) == np.shape(expected)
    assert np.result_type(actual) == np.result_type(expected)
    if np.result_type(expected).kind == "b":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, equal_nan=True, **(tolerance or TOL[dtype]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", TRACEABLE)
def test_compiled_value_and_gradient_match_reference(name, dtype, rng):
    cases, spans, inputs, outputs = _all_cases(name, rng, dtype)
    # Gradients are compiled in float64; float32 kernels check the forward values (each compile costs
    # seconds, and float32 gradients are covered by the reference tests and test_reliability).
    differentiable = REGISTRY[name].adjoint is not NONDIFFERENTIABLE and dtype == np.float64
    wrt = [a + i for c, (a, b) in zip(cases, spans) if c.fd and differentiable for i in c.float_operands(name)]
    weights = [rng.normal(size=np.shape(o)).astype(dtype) if np.result_type(o).kind == "f" else None
               for o in outputs(*inputs)]

    def loss(*xs):
        return sum(np.sum(o * w) for o, w in zip(outputs(*xs), weights) if w is not None)

    def everything(*xs):
        grads = graphc.grad(loss, argnums=tuple(wrt))(*xs) if wrt else ()
        return outputs(*xs), grads

    compiled = graphc.jit(everything)
    got = compiled(*inputs)
    _assert_tiers_agree(got, graphc.jit(everything, tiered="numpy")(*inputs), dtype)
    reference = graphc.tree_unflatten(graphc.trace(compiled, *inputs).out_tree,
                                      evaluate(graphc.trace(compiled, *inputs), *inputs))
    for a, e in zip(graphc.tree_flatten(got)[0], graphc.tree_flatten(reference)[0]):
        _assert_same(a, e, dtype)
    for value, c, (a, b) in zip(got[0], cases, spans):  # and NumPy itself, for the forward values
        _assert_same(value, c.numpy(*inputs[a:b]), dtype)


def _batches(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


@pytest.mark.parametrize("batch", _batches(COMPOSITE_CASES, 8), ids=lambda b: f"{b[0].id}..{b[-1].id}")
def test_compiled_composites_match_reference(batch, rng):
    inputs, spans = [], []
    for c in batch:
        xs = c.composite_inputs(rng)
        spans.append((len(inputs), len(inputs) + len(xs)))
        inputs += xs
    wrt = tuple(a + i for c, (a, b) in zip(batch, spans) if c.fd for i in c.float_operands())

    def outputs(*xs):
        return tuple(c.fn(*xs[a:b]) for c, (a, b) in zip(batch, spans))

    weights = [rng.normal(size=np.shape(o)) for o in outputs(*inputs)]

    def everything(*xs):
        loss = lambda *ys: sum(np.sum(o * w) for o, w in zip(outputs(*ys), weights))  # noqa: E731
        return outputs(*xs), (graphc.grad(loss, argnums=wrt)(*xs) if wrt else ())

    compiled = graphc.jit(everything)
    got = compiled(*inputs)
    _assert_tiers_agree(got, graphc.jit(everything, tiered="numpy")(*inputs), np.float64)
    graph = graphc.trace(compiled, *inputs)
    reference = graphc.tree_unflatten(graph.out_tree, evaluate(graph, *inputs))
    for a, e in zip(graphc.tree_flatten(got)[0], graphc.tree_flatten(reference)[0]):
        _assert_same(a, e, np.float64)
