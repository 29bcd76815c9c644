"""Batching rules, over the op table: a batched graph equals a Python loop over the examples, for every
choice of which operands vary over the batch."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
from graphc.evaluate import evaluate
from graphc.ops import REGISTRY
from graphc.passes.batching import batch_graph, can_batch

from op_cases import CASES

BATCH = 3
TRACEABLE = [name for name, op in REGISTRY.items() if not op.internal]
OP_CASES = [pytest.param(name, c, id=f"{name}-{c.id}") for name in TRACEABLE for c in CASES.get(name, [])]
#: Ops with no batching rule: batched by a scan over the examples (loop fission leaves them in their loop).
NOT_BATCHED = {"gather", "scatter_add", "scan", "while_loop", "cond", "unpack"}


def test_every_op_has_a_batching_rule_but_the_listed_ones():
    missing = {name for name in TRACEABLE if not can_batch(name)}
    assert missing - {"dim"} == NOT_BATCHED  # dim has no operands, so nothing of it is ever batched


def _patterns(count: int) -> list[tuple]:
    """Every operand batched, and each operand alone batched (the others shared by the batch)."""
    patterns = [(True,) * count]
    if count > 1:
        patterns += [tuple(i == k for i in range(count)) for k in range(count)]
    return patterns


@pytest.mark.parametrize("name, case", OP_CASES)
def test_batched_graph_equals_a_loop_over_examples(name, case, rng):
    args = case.inputs(name, rng)
    graph = graphc.trace(case.fn, *args)
    for batched in _patterns(len(args)):
        examples = [[case.inputs(name, rng)[i] if b else a for i, (a, b) in enumerate(zip(args, batched))]
                    for _ in range(BATCH)]
        stacked = [np.stack([e[i] for e in examples]) if b else a for i, (a, b) in enumerate(zip(args, batched))]
        new = batch_graph(graph, list(batched), BATCH)
        new.verify()
        (out,) = evaluate(new, *stacked)
        with np.errstate(all="ignore"):
            expected = np.stack([np.asarray(case.numpy(*e)) for e in examples])
        assert out.shape == expected.shape and out.dtype == expected.dtype, (batched, out.shape, expected.shape)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15, equal_nan=True,
                                   err_msg=f"batched operands {batched}")


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                                    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2))],
                         ids=str)
def test_matmul_batches_every_rank_combination(shapes, rng):
    a, b = (rng.normal(size=s) for s in shapes)
    graph = graphc.trace(lambda x, y: x @ y, a, b)
    for batched in itertools.product([False, True], repeat=2):
        if not any(batched):
            continue
        examples = [[rng.normal(size=s) if flag else v for s, flag, v in zip(shapes, batched, (a, b))]
                    for _ in range(BATCH)]
        stacked = [np.stack([e[i] for e in examples]) if flag else v
                   for i, (flag, v) in enumerate(zip(batched, (a, b)))]
        (out,) = evaluate(batch_graph(graph, list(batched), BATCH), *stacked)
        np.testing.assert_allclose(out, np.stack([x @ y for x, y in examples]), rtol=1e-13, atol=1e-15)
