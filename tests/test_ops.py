"""The op registry, parametrized over every primitive: declarations complete, trace + reference evaluation
equals calling NumPy directly (shape and dtype strictly), for float64 and float32, 0-d to 3-d, broadcasting,
and inf/NaN inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings

import graphc
from graphc.errors import GraphcInternalError
from graphc.evaluate import evaluate
from graphc.ops import (
    AT_LEAST_ONE, INDICES, LINEAR_ALL, LINEAR_EACH, NONDIFFERENTIABLE, NONZERO, NUMPY_API, POSITIVE, REAL, REGISTRY,
    STRUCTURAL, UNIT, OpDef, apply,
)

from op_cases import BOOL, CASES, COMPOSITE_CASES, SPECIAL_VALUES, sample, shapes_and_basic_indices

# Ops made only by optimization passes (fused loops) are never traced, so they need no case row.
TRACEABLE = [name for name, op in REGISTRY.items() if not getattr(op, "internal", False)]
OP_CASES = [pytest.param(name, c, id=f"{name}-{c.id}") for name in TRACEABLE for c in CASES.get(name, [])]
DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]
TOL = {np.float64: dict(rtol=1e-13, atol=1e-15), np.float32: dict(rtol=2e-6, atol=1e-7)}


def assert_same(actual, expected, dtype=np.float64):
    """Equal values, and the same shape and dtype (a 0-d result is a NumPy scalar, as NumPy gives)."""
    assert np.shape(actual) == np.shape(expected)
    assert np.result_type(actual) == np.result_type(expected), (np.result_type(actual), np.result_type(expected))
    if np.result_type(expected) == np.bool_:
        np.testing.assert_array_equal(actual, expected, strict=True)
    else:
        np.testing.assert_allclose(actual, expected, equal_nan=True, strict=True, **TOL[dtype])


def ops_in(graph) -> set:
    return {data["op"] for _, data in graph.nx.nodes(data=True)}


# ---- the table itself ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", TRACEABLE)
def test_every_registered_op_has_cases(name):
    assert CASES.get(name), f"op {name!r} is registered but has no row in tests/op_cases.py CASES"


def test_every_case_row_names_a_registered_op():
    assert set(CASES) <= set(REGISTRY), set(CASES) - set(REGISTRY)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_op_declaration_is_complete(name):
    op = REGISTRY[name]
    assert isinstance(op, OpDef) and op.name == name
    # arity 0: a value read at run time rather than computed from operands (``dim``, an argument's size)
    assert op.arity is None or (isinstance(op.arity, int) and op.arity >= (0 if name == "dim" else 1))
    assert callable(op.shape), "no shape rule"
    assert callable(op.reference), "no reference implementation"
    assert op.doc and op.doc.strip(), "no doc line"
    assert op.domain in (REAL, POSITIVE, UNIT, NONZERO, AT_LEAST_ONE)
    assert isinstance(op.version, int) and op.version >= 1
    if getattr(op, "internal", False):
        return  # made by the fusion pass; emitted by codegen's loop builder, never differentiated
    if op.elementwise:
        assert op.scalar_emit is not None, "elementwise op without a scalar emission"
    else:  # an elementwise op may be emitted only in loops (OpDef.emit)
        assert op.emit is not None, "no Numba emission"
    # STRUCTURAL: loop and branch nodes are written from their bodies; unpack's cotangent is routed
    # to its loop node by the sweep itself.
    assert callable(op.adjoint) or op.adjoint in (NONDIFFERENTIABLE, STRUCTURAL), (
        f"op {name!r} has no adjoint rule: give one or mark it NONDIFFERENTIABLE")
    for fn in op.numpy:
        assert fn in NUMPY_API, f"np.{fn.__name__} does not dispatch to {name!r}"
    assert op.commutative in (False, True) and op.view in (False, True)
    assert op.raises in (False, True, INDICES)
    assert op.linear in (None, LINEAR_ALL, LINEAR_EACH) or (
        isinstance(op.linear, tuple) and all(isinstance(k, int) and 0 <= k < (op.arity or 99) for k in op.linear))


def test_numpy_keys_dispatch_to_their_op():
    # np.abs and np.fabs trace to 'absolute', np.true_divide and np.divide to 'divide', and so on.
    x = np.array([1.0, -2.0])
    for name in TRACEABLE:
        for fn in REGISTRY[name].numpy:
            if REGISTRY[name].arity != 1 or not REGISTRY[name].elementwise:
                continue
            assert name in ops_in(graphc.trace(lambda x: fn(x), x)), (name, fn)


# ---- trace -> reference evaluation == NumPy ------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, case", OP_CASES)
def test_reference_evaluation_matches_numpy(name, case, dtype, rng):
    args = case.inputs(name, rng, dtype)
    graph = graphc.trace(case.fn, *args)
    graph.verify()
    assert name in ops_in(graph), f"the case does not exercise {name!r}:\n{graph}"
    (out,) = evaluate(graph, *args)
    with np.errstate(all="ignore"):
        expected = case.numpy(*args)
    assert_same(out, expected, dtype)
    # The node types the tracer recorded agree with what ran.
    (node,) = graph.outputs
    assert graph[node]["shape"] == np.shape(expected)
    assert graph[node]["dtype"] == np.result_type(expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", COMPOSITE_CASES, ids=lambda c: c.id)
def test_composite_functions_match_numpy(case, dtype, rng):
    args = case.composite_inputs(rng, dtype)
    graph = graphc.trace(case.fn, *args)
    graph.verify()
    (out,) = evaluate(graph, *args)
    assert_same(out, case.numpy(*args), dtype)


def _special_inputs(name, c, rng):
    """Every pair (or every value) of 0, -0, finite, +-inf and NaN for the float operands."""
    floats = c.float_operands(name)
    grids = np.meshgrid(*([SPECIAL_VALUES] * len(floats)), indexing="ij")
    n = grids[0].size
    it = iter(g.ravel() for g in grids)
    return [next(it) if i in floats else rng.random(n) < 0.5 for i in range(len(c.shapes))]


@pytest.mark.parametrize("name", [n for n in TRACEABLE if REGISTRY[n].elementwise])
def test_elementwise_ops_on_inf_nan_and_zero(name, rng):
    c = CASES[name][0]
    args = _special_inputs(name, c, rng)
    graph = graphc.trace(c.fn, *args)
    (out,) = evaluate(graph, *args)
    with np.errstate(all="ignore"):
        expected = c.numpy(*args)
    assert_same(out, expected)


def test_sigmoid_does_not_overflow_and_saturates(rng):
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(all="raise"):  # no overflow warning inside the evaluator either
        (out,) = evaluate(graphc.trace(graphc.sigmoid, x), x)
    np.testing.assert_allclose(out, [0.0, 1 / (1 + np.exp(40.0)), 0.5, 1 / (1 + np.exp(-40.0)), 1.0],
                               rtol=1e-15, atol=0, strict=True)


def test_logsumexp_and_softmax_are_stable_for_large_inputs():
    x = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    (lse,) = evaluate(graphc.trace(lambda x: graphc.logsumexp(x, axis=1), x), x)
    np.testing.assert_allclose(lse, [1000.0 + np.log(2.0), 0.0], rtol=1e-15, strict=True)
    (sm,) = evaluate(graphc.trace(lambda x: graphc.softmax(x), x), x)
    np.testing.assert_allclose(sm, [[0.5, 0.5], [0.0, 1.0]], rtol=1e-15, atol=0, strict=True)
    y = np.array([-np.inf, -np.inf])  # all -inf: NumPy's answer (-inf), not NaN from inf - inf
    (lse,) = evaluate(graphc.trace(graphc.logsumexp, y), y)
    assert lse == -np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_are_weak_and_numpy_scalars_are_not(dtype):
    x = np.arange(1.0, 4.0, dtype=dtype)
    for fn in (lambda x: x * 2.0, lambda x: 2 - x, lambda x: x / 3, lambda x: x ** 2, lambda x: np.maximum(x, 1.5),
               lambda x: x * np.float64(2.0), lambda x: x + np.ones(3), lambda x: x * np.float32(2.0)):
        graph = graphc.trace(fn, x)
        (out,) = evaluate(graph, x)
        assert_same(out, fn(x), dtype)


def test_shape_and_dtype_rules_reject_what_numpy_rejects():
    for fn, args in [(lambda x, y: x + y, (np.ones((2, 3)), np.ones(2))),
                     (lambda x: np.sum(x, axis=2), (np.ones((2, 3)),)),
                     (lambda x: x.reshape(4, 2), (np.ones((2, 3)),)),
                     (lambda x: np.broadcast_to(x, (3, 2)), (np.ones(3),)),
                     (lambda x, y: np.concatenate([x, y], axis=1), (np.ones((2, 3)), np.ones((3, 3)))),
                     (lambda x: x[3], (np.ones(3),))]:
        with pytest.raises(Exception):
            fn(*args)  # NumPy rejects it
        with pytest.raises(graphc.GraphcError):
            graphc.trace(fn, *args)


def test_sample_respects_domains(rng):
    assert np.all(sample(rng, (1000,), POSITIVE) > 0)
    assert np.all(np.abs(sample(rng, (1000,), UNIT)) < 1)
    assert np.all(np.abs(sample(rng, (1000,), NONZERO)) >= 0.5)
    assert np.all(sample(rng, (1000,), AT_LEAST_ONE) > 1)
    assert np.all(np.abs(sample(rng, (1000,), REAL)) >= 0.1)
    assert sample(rng, (4,), BOOL).dtype == np.bool_
    assert sample(rng, (2, 3), REAL, np.float32).dtype == np.float32


# ---- what an op declares about itself holds -------------------------------------------------------
def _same_values(x, y) -> np.ndarray:
    """Elementwise: equal, with the same sign of zero; or both NaN (IEEE leaves NaN's sign open)."""
    if x.dtype == np.bool_:
        return x == y
    return ((x == y) & (np.signbit(x) == np.signbit(y))) | (np.isnan(x) & np.isnan(y))


@pytest.mark.parametrize("name", [n for n in TRACEABLE if REGISTRY[n].commutative])
def test_commutative_ops_give_the_same_values_with_their_operands_swapped(name):
    # CSE merges op(a, b) with op(b, a): every pair of 0, -0, finite, +-inf and NaN (of False and True
    # for logical ops) must give the same values both ways. np.maximum(0.0, -0.0) is -0.0 and
    # np.maximum(-0.0, 0.0) is 0.0, which is why maximum and minimum are not declared commutative.
    op = REGISTRY[name]
    assert op.arity == 2
    values = np.array([False, True]) if name.startswith("logical_") else SPECIAL_VALUES
    a, b = (g.ravel() for g in np.meshgrid(values, values, indexing="ij"))
    with np.errstate(all="ignore"):
        same = _same_values(np.asarray(op.reference(a, b)), np.asarray(op.reference(b, a)))
    assert same.all(), list(zip(a[~same], b[~same]))


def test_maximum_and_minimum_are_not_commutative_in_the_sign_of_zero():
    assert np.signbit(np.maximum(0.0, -0.0)) != np.signbit(np.maximum(-0.0, 0.0))
    assert not REGISTRY["maximum"].commutative and not REGISTRY["minimum"].commutative


def _operand_values(graph, node, args) -> list:
    """The values ``node``'s operands have when ``graph`` runs on ``args`` (reference evaluation)."""
    probe = graph.copy()
    probe.outputs = list(graph.operands(node))
    return [np.asarray(v) for v in evaluate(probe, *args)]




# unpack's operand is a loop's tuple of results, not an array; selecting one is linear by construction.
@pytest.mark.parametrize("name", [n for n in TRACEABLE if REGISTRY[n].linear is not None and n != "unpack"])
def test_linear_ops_are_linear_in_the_operands_they_declare(name, rng):
    # Forward mode transposes a custom rule only when OpDef.linear says the rule is linear in its
    # cotangents: op(alpha x + beta y) = alpha op(x) + beta op(y) in those operands, the others fixed.
    op, checked = REGISTRY[name], 0
    alpha, beta = 0.7, -1.3
    for c in CASES[name]:
        args = c.inputs(name, rng)
        graph = graphc.trace(c.fn, *args)
        for node in [n for n in graph.topo_order() if graph[n]["op"] == name]:
            if np.dtype(graph[node]["dtype"]).kind != "f":
                continue  # a cast to integers or a result of booleans: linearity means nothing there
            operands, attrs = _operand_values(graph, node, args), graph[node]["attrs"]
            positions = [k for k, v in enumerate(operands) if v.dtype.kind == "f"]
            # (a declared position holding booleans, as astype's from a mask, cannot vary)
            groups = ([positions] if op.linear == LINEAR_ALL else [[k] for k in positions]
                      if op.linear == LINEAR_EACH else [[k for k in op.linear if k in positions]])
            for group in (g for g in groups if g):
                xs, ys = list(operands), list(operands)
                for k in group:
                    ys[k] = rng.normal(size=operands[k].shape).astype(operands[k].dtype)
                mixed = [(alpha * operands[k] + beta * ys[k]).astype(operands[k].dtype) if k in group
                         else operands[k] for k in range(len(operands))]
                with np.errstate(all="ignore"):
                    left = np.asarray(op.reference(*mixed, **attrs))
                    right = (alpha * np.asarray(op.reference(*xs, **attrs))
                             + beta * np.asarray(op.reference(*ys, **attrs)))
                scale = max(1.0, float(np.max(np.abs(right), initial=0.0)))
                tolerance = 1e-5 if left.dtype == np.float32 else 1e-11
                np.testing.assert_allclose(left, right, rtol=0, atol=tolerance * scale, err_msg=f"{c.id}, {group}")
                checked += 1
    assert checked, f"no case of {name!r} has a floating-point result to check"


# ---- basic indexing, generated -----------------------------------------------------------------
@settings(max_examples=60, deadline=None, derandomize=True)
@given(shapes_and_basic_indices())
def test_generated_basic_indices_match_numpy(shape_and_index):
    shape, index = shape_and_index
    x = np.arange(1.0, 1.0 + math.prod(shape)).reshape(shape)
    graph = graphc.trace(lambda x: x[index], x)
    graph.verify()
    (out,) = evaluate(graph, x)
    assert_same(out, x[index])


@pytest.mark.parametrize("name, attrs", [("sort", {}), ("argsort", {}), ("cumsum", {}), ("cumprod", {}),
                                         ("partition", {"kth": 1})])
def test_ops_along_an_axis_refuse_an_unnormalized_one(name, attrs):
    # Their emission and adjoint rules index by the axis; np.sort(x, axis=-1) normalizes it in its parse.
    with pytest.raises(GraphcInternalError, match=f"'{name}' applied with axis=-1"):
        graphc.trace(lambda x: apply(name, x, axis=-1, **attrs), np.ones((2, 3)))
    np.testing.assert_array_equal(graphc.jit(lambda x: getattr(np, name)(x, *attrs.values(), axis=-1),
                                             tiered="numpy")(np.arange(6.0)[::-1].reshape(2, 3)),
                                  getattr(np, name)(np.arange(6.0)[::-1].reshape(2, 3), *attrs.values(), axis=-1))
