"""Fuzzing the whole pipeline: random functions built from the registry's ops (and scans and conds
over them), with random shapes.

Each drawn function is traced, differentiated, optimized and compiled; the compiled value and
gradient must equal the reference evaluator's, and the reference gradient must match central
finite differences along a random direction. Bounded for CI; for a longer run:

    GRAPHC_FUZZ_EXAMPLES=500 python -m pytest tests/test_fuzz.py
"""
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
from graphc.evaluate import evaluate
from graphc.ops import AT_LEAST_ONE, NONDIFFERENTIABLE, NONZERO, POSITIVE, REGISTRY, UNIT

EXAMPLES = int(os.environ.get("GRAPHC_FUZZ_EXAMPLES", "8"))

# Smooth elementwise ops from the registry; kinks (abs, relu, maximum, ...) would make finite
# differences meaningless at random points, and comparisons carry no gradient.
SMOOTH_UNARY = sorted(name for name, op in REGISTRY.items()
                      if op.elementwise and op.arity == 1 and op.adjoint is not NONDIFFERENTIABLE
                      and name not in ("absolute", "relu", "stop_gradient", "astype", "sign"))
SMOOTH_BINARY = ["add", "subtract", "multiply", "divide"]
SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1)]


def _into_domain(name, v):
    """Move a value of any sign into the op's domain, smoothly."""
    domain = REGISTRY[name].domain
    if domain == POSITIVE:
        return v * v + 0.5
    if domain == UNIT:
        return np.tanh(v) * 0.9
    if domain == NONZERO:
        return v * v + 0.5
    if domain == AT_LEAST_ONE:
        return v * v + 1.25
    return np.tanh(v) * 2.0  # bounded: exp, sinh-like ops stay well inside float range


@st.composite
def functions(draw):
    steps = draw(st.lists(st.tuples(st.sampled_from(["unary", "binary", "sum", "matmul", "scan", "cond"]),
                                    st.sampled_from(SMOOTH_UNARY), st.sampled_from(SMOOTH_BINARY),
                                    st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=7))
    shapes = (draw(st.sampled_from(SHAPES)), draw(st.sampled_from(SHAPES)))

    def f(a, b):
        pool = [a, b, a * b]
        for kind, unary, binary, i, j in steps:
            u, v = pool[i % len(pool)], pool[j % len(pool)]
            if kind == "unary":
                out = graphc.ops.apply(unary, _into_domain(unary, u))
            elif kind == "binary":
                rhs = _into_domain("divide", v) if binary == "divide" else v
                out = graphc.ops.apply(binary, u, rhs)
            elif kind == "sum":
                out = np.sum(u, axis=-1, keepdims=True) * 0.5 if np.ndim(u) else u * 0.5
            elif kind == "scan":  # three steps over xs made from u, the body reading v from outside
                w = np.sum(np.tanh(v)) * 0.3
                xs = np.stack([u * 0.1, u * 0.2, u * 0.3])
                carry, ys = graphc.scan(lambda c, x: (np.tanh(c * 0.5 + x * w), c * x), u, xs)
                out = carry + np.sum(ys, axis=0)
            elif kind == "cond":
                out = graphc.cond(np.sum(u) > 0, lambda a, b: a * np.tanh(b), lambda a, b: np.sin(a) + b * 0.5, u, v)
            else:
                out = v * np.sum(np.tanh(np.reshape(u, (-1,)) @ np.ones((int(np.size(u)), 2)) * 0.2))
            pool.append(out)
        return np.sum(np.tanh(pool[-1])) + 0.1 * np.sum(pool[-2] * pool[-2])

    return f, shapes


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(functions(), st.integers(0, 2**16))
def test_random_functions_compile_to_the_reference_and_differentiate_correctly(drawn, seed):
    f, shapes = drawn
    rng = np.random.default_rng(seed)
    a, b = (rng.normal(size=s) for s in shapes)
    vg = graphc.value_and_grad(f, argnums=(0, 1))
    value, (ga, gb) = vg(a, b)
    expected = evaluate(graphc.trace(vg, a, b), a, b)
    np.testing.assert_allclose(value, expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ga, expected[1], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gb, expected[2], rtol=1e-9, atol=1e-11)
    # the reference gradient against central differences along one random direction
    da, db = rng.normal(size=np.shape(a)), rng.normal(size=np.shape(b))
    eps = 1e-6
    plus = evaluate(graphc.trace(f, a + eps * da, b + eps * db), a + eps * da, b + eps * db)[0]
    minus = evaluate(graphc.trace(f, a - eps * da, b - eps * db), a - eps * da, b - eps * db)[0]
    directional = np.sum(expected[1] * da) + np.sum(expected[2] * db)
    np.testing.assert_allclose((plus - minus) / (2 * eps), directional, rtol=1e-5, atol=1e-6)
