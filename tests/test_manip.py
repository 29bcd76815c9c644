"""graphc/ops/manip.py beyond the case table: list results (splits), the graphs the composites make,
second order, tracers mixed with NumPy operands, and one test per argument graphc refuses."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import run_reference
from graphc.errors import GraphcError, ShapeError, UnsupportedOperationError


def ops_in(fun, *args) -> list:
    graph = graphc.trace(fun, *args)
    return [data["op"] for _, data in graph.nx.nodes(data=True) if data["op"] not in ("input", "constant")]


# ---- list results ----------------------------------------------------------------------------------
@pytest.mark.parametrize("split", [lambda x: np.split(x, 3, axis=1), lambda x: np.array_split(x, [1, -1]),
                                   lambda x: np.hsplit(x, [2])], ids=["split", "array_split", "hsplit"])
def test_a_split_returns_a_list_through_trace_and_jit(split, rng):
    x = rng.normal(size=(4, 6))
    expected = split(x)
    traced = run_reference(split, x)
    compiled = graphc.jit(split)(x)
    for got in (traced, compiled):
        assert isinstance(got, list) and len(got) == len(expected)
        for a, e in zip(got, expected):
            np.testing.assert_allclose(a, e, strict=True)


def test_gradient_through_split_pieces(rng):
    def f(x):
        a, b, c = np.split(x, 3)
        return np.sum(a * 1.0 + b * 2.0 + c ** 2)

    x = rng.normal(size=6)
    expected = np.concatenate([np.ones(2), 2 * np.ones(2), 2 * x[4:]])
    np.testing.assert_allclose(graphc.grad(f)(x), expected)
    np.testing.assert_allclose(run_reference(graphc.grad(f), x), expected)


def test_atleast_nd_of_several_arguments_is_a_tuple_and_keeps_ndarrays():
    def f(x):
        return np.atleast_2d(x, np.arange(3.0))

    a, b = run_reference(f, 2.0)
    assert np.shape(a) == (1, 1) and np.shape(b) == (1, 3)


# ---- the graphs the composites make ------------------------------------------------------------------
def test_flip_is_one_getitem_and_tile_needs_no_concatenate():
    assert ops_in(lambda x: np.flip(x, (0, 1)), np.ones((2, 3))) == ["getitem"]
    assert "concatenate" not in ops_in(lambda x: np.tile(x, (2, 3)), np.ones((2, 3)))


def test_equal_repeat_counts_share_one_broadcast():
    assert "concatenate" not in ops_in(lambda x: np.repeat(x, [2, 2, 2]), np.ones(3))
    assert ops_in(lambda x: np.repeat(x, [1, 1, 3, 3]), np.ones(4)).count("broadcast_to") == 1


def test_identities_add_no_nodes():
    x = np.ones((2, 3))
    for f in (lambda x: np.moveaxis(x, 0, 0), lambda x: np.rot90(x, 4), lambda x: np.roll(x, 3, axis=1),
              lambda x: np.pad(x, 0), lambda x: np.tile(x, 1), lambda x: np.atleast_2d(x)):
        assert ops_in(f, x) == []


# ---- second order and dtypes -----------------------------------------------------------------------
def test_hessian_through_tile_and_pad(rng):
    x = rng.normal(size=3)
    # sum(tile(x, 2)**3) = 2 sum(x**3): the Hessian is diag(12 x); the padding adds nothing.
    hess = graphc.hessian(lambda x: np.sum(np.pad(np.tile(x, 2), 1, constant_values=1.0) ** 3))(x)
    np.testing.assert_allclose(hess, np.diag(12 * x), rtol=1e-12)


def test_float32_stays_float32_with_float64_constants():
    x = np.ones((2, 2), np.float32)
    assert run_reference(lambda x: np.pad(x, 1, constant_values=np.float64(2.5)), x).dtype == np.float32
    assert run_reference(lambda x: np.select([x > 0], [x], default=0), x).dtype == np.float32
    assert run_reference(lambda x: np.select([x > 0], [x], default=np.float64(1)), x).dtype == np.float64


def test_empty_results(rng):
    x = rng.normal(size=(2, 3))
    for f in (lambda x: np.repeat(x, [0, 0, 0], axis=1), lambda x: np.tile(x, 0),
              lambda x: np.split(x, [5], axis=1)[1], lambda x: np.repeat(x, 0)):
        np.testing.assert_array_equal(run_reference(f, x), f(x), strict=True)
        np.testing.assert_array_equal(graphc.jit(f)(x), f(x), strict=True)


def test_row_stack_is_registered_only_where_numpy_has_it():
    from graphc.ops import NUMPY_API
    assert (getattr(np, "row_stack", None) in NUMPY_API) == hasattr(np, "row_stack")


# ---- refused arguments ----------------------------------------------------------------------------
REFUSED = [
    (UnsupportedOperationError, "mode='reflect'", lambda x: np.pad(x, 1, mode="reflect")),
    (UnsupportedOperationError, "stat_length", lambda x: np.pad(x, 1, stat_length=2)),
    (UnsupportedOperationError, "traced constant_values", lambda x: np.pad(x, 1, constant_values=x)),
    (ShapeError, "negative", lambda x: np.pad(x, -1)),
    (ShapeError, "integers", lambda x: np.pad(x, 1.5)),
    (UnsupportedOperationError, "order='F'", lambda x: np.ravel(x, order="F")),
    (UnsupportedOperationError, "traced repeats", lambda x: np.repeat(x, x[0, 0])),
    (ShapeError, "2 repeats for an axis of length 3", lambda x: np.repeat(x, [1, 2], axis=1)),
    (ShapeError, "negative", lambda x: np.repeat(x, -1)),
    (ShapeError, "integers", lambda x: np.repeat(x, 1.5)),
    (ShapeError, "negative reps", lambda x: np.tile(x, -1)),
    (UnsupportedOperationError, "traced shift", lambda x: np.roll(x, x[0, 0])),
    (ShapeError, "do not broadcast", lambda x: np.roll(x, [1, 2, 3], axis=(0, 1))),
    (ShapeError, "out of range", lambda x: np.roll(x, 1, axis=2)),
    (ShapeError, "divide an axis of length 3 equally", lambda x: np.split(x, 2, axis=1)),
    (ShapeError, "larger than 0", lambda x: np.array_split(x, 0)),
    (ShapeError, "3 or more dimensions", lambda x: np.dsplit(x, 2)),
    (ShapeError, "2 or more dimensions", lambda x: np.vsplit(x[0], 3)),
    (ShapeError, "1 or more dimensions", lambda x: np.hsplit(x[0, 0], 1)),
    (ShapeError, "2 or more dimensions", lambda x: np.fliplr(x[0])),
    (ShapeError, "1 or more dimensions", lambda x: np.flipud(x[0, 0])),
    (ShapeError, "out of range", lambda x: np.flip(x[0, 0], 0)),
    (ShapeError, "repeated axis", lambda x: np.rot90(x, 1, axes=(0, -2))),
    (ShapeError, "len\\(axes\\) must be 2", lambda x: np.rot90(x, 1, axes=(0,))),
    (ShapeError, "same number", lambda x: np.moveaxis(x, (0, 1), 0)),
    (ShapeError, "out of range", lambda x: np.swapaxes(x, 0, 2)),
    (ShapeError, "start 4", lambda x: np.rollaxis(x, 0, 4)),
    (UnsupportedOperationError, "dtype=", lambda x: np.vstack([x, x], dtype=np.float32)),
    (ShapeError, "as long as", lambda x: np.select([x > 0], [x, x])),
    (GraphcError, "must be boolean", lambda x: np.select([x], [x])),
    (ShapeError, "either 2 or 3 functions", lambda x: np.piecewise(x, [x > 0, x < 0], [np.sin])),
]


@pytest.mark.parametrize("kind, message, f", REFUSED, ids=[f"{r[0].__name__}-{r[1]}" for r in REFUSED])
def test_refused_arguments_raise_a_clear_error_at_the_users_line(kind, message, f):
    with pytest.raises(kind, match=message) as info:
        graphc.trace(f, np.ones((2, 3)))
    assert "test_manip.py" in str(info.value)


def test_indexing_a_0d_value_compiles_with_its_gradient():
    # A 0-d value may be a Numba scalar (no index) or a 0-d array; x[None] and the gradient of x[()]
    # and x[...] (a scatter with an empty index) once generated invalid code.
    f = graphc.jit(lambda s: (s[None] * 2.0, np.sum(s)[None, None]), tiered=False)
    for s in (np.float64(2.0), np.array(2.0)):
        np.testing.assert_array_equal(f(s)[0], [4.0])
        assert graphc.grad(lambda s: s[()] * 2.0 + np.sum(s[...] * 3.0), tiered=False)(s) == 5.0
