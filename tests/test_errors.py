"""One test per user mistake: the error's class (a GraphcError), its message, and for tracing errors the
file and line of the user's code (this file) where it happened."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import (
    DifferentiationError, EscapedTracerError, GraphcError, ShapeError, SignatureError, TracerBoolConversionError,
    TracerConversionError, TracingError, UnsupportedOperationError,
)


def raised(kind, fun, *args) -> str:
    """Call ``fun(*args)``; it must raise ``kind`` (a GraphcError); return the message."""
    assert issubclass(kind, GraphcError)
    with pytest.raises(kind) as info:
        fun(*args)
    assert isinstance(info.value, GraphcError)
    return str(info.value)


def at_line(fun, offset: int) -> str:
    """``test_errors.py:N`` for the line ``offset`` lines below ``def fun``."""
    return f"test_errors.py:{fun.__code__.co_firstlineno + offset}"


def test_if_on_a_tracer_says_use_np_where():
    def f(x):
        if x > 0:
            return x
        return -x

    msg = raised(TracerBoolConversionError, graphc.trace, f, 1.0)
    assert "np.where" in msg and "if" in msg
    assert at_line(f, 1) in msg


def test_while_on_a_tracer():
    def f(x):
        while x < 10:
            x = x * 2
        return x

    msg = raised(TracerBoolConversionError, graphc.grad(f), 1.0)
    assert "np.where" in msg and at_line(f, 1) in msg


def test_bool_of_a_tracer():
    def f(x):
        return bool(x)

    msg = raised(TracerBoolConversionError, graphc.trace, f, 1.0)
    assert "bool()" in msg and at_line(f, 1) in msg


@pytest.mark.parametrize("convert", [float, int])
def test_float_and_int_of_a_tracer(convert):
    def f(x):
        return convert(x) * 2

    msg = raised(TracerConversionError, graphc.trace, f, 1.0)
    assert f"{convert.__name__}()" in msg and at_line(f, 1) in msg


@pytest.mark.parametrize("fn, name", [(lambda x: np.linalg.eig(x), "np.linalg.eig"),
                                      (lambda x: np.fft.fft(x), "np.fft.fft"),
                                      (lambda x: np.unique(x), "np.unique")], ids=["eig", "fft", "unique"])
def test_unsupported_numpy_function_is_named(fn, name):
    msg = raised(UnsupportedOperationError, graphc.trace, fn, np.eye(2))
    assert name in msg, msg
    assert "test_errors.py:" in msg


def test_scipy_code_that_converts_a_tracer_points_to_graphc_scipy():
    # SciPy's functions call np.asarray on their input: the error names the traceable one, and the user's
    # line, not SciPy's.
    import scipy.signal
    import scipy.special
    import scipy.stats

    for fn, hint in [(scipy.special.logsumexp, r"graphc\.scipy\.special\.logsumexp traces it"),
                     (scipy.stats.norm.logpdf, r"graphc\.scipy\.stats\.norm\.logpdf traces it"),
                     (lambda x: scipy.signal.lfilter([1.0], [1.0, -0.5], x),
                      r"scipy\.signal\.lfilter .*graphc\.scipy has")]:
        with pytest.raises(TracerConversionError, match=hint + r".* at test_errors\.py:\d+"):
            graphc.grad(lambda x: np.sum(fn(x)))(np.ones(3))


def test_item_and_tolist_of_a_tracer_say_why():
    with pytest.raises(TracerConversionError, match=r"x\.item\(\) of a traced value .* at test_errors\.py"):
        graphc.grad(lambda x: x[0].item() * x[1])(np.ones(3))
    with pytest.raises(TracerConversionError, match=r"x\.tolist\(\)"):
        graphc.jit(lambda x: x.tolist())(np.ones(3))


def test_unsupported_ufunc_is_named():
    def f(x):
        return np.spacing(x)

    msg = raised(UnsupportedOperationError, graphc.trace, f, np.ones(3))
    assert "np.spacing" in msg and at_line(f, 1) in msg


def test_unsupported_assignment():
    msg = raised(UnsupportedOperationError, graphc.trace, lambda x: x.__setitem__(0, 1.0), np.ones(2))
    assert "np.where" in msg or "np.concatenate" in msg


def test_shapes_that_do_not_broadcast_name_both_shapes():
    def f(x, y):
        return x + y

    msg = raised(ShapeError, graphc.trace, f, np.ones(3), np.ones((2, 4)))
    assert "(3,)" in msg and "(2, 4)" in msg and "'add'" in msg
    assert at_line(f, 1) in msg


def test_matmul_shape_mismatch():
    def f(a, b):
        return a @ b

    msg = raised(ShapeError, graphc.trace, f, np.ones((2, 3)), np.ones((4, 2)))
    assert "(2, 3)" in msg and "(4, 2)" in msg and "matmul" in msg
    assert at_line(f, 1) in msg


def test_grad_of_a_non_scalar_output():
    msg = raised(DifferentiationError, graphc.grad(lambda x: x * 2.0), np.ones(3))
    assert "scalar" in msg and "f64[3]" in msg and "np.sum" in msg


def test_grad_with_respect_to_an_integer_argument():
    msg = raised(DifferentiationError, graphc.grad(lambda x: x * 2.0), 3)
    assert "float" in msg and "i64[]" in msg


def test_argnums_out_of_range():
    msg = raised(GraphcError, graphc.grad(lambda x, y: x * y, argnums=2), 1.0, 2.0)
    assert "argnums" in msg and "2" in msg and "out of range" in msg
    msg = raised(GraphcError, graphc.grad(lambda x, y: x * y, argnums=(0, -3)), 1.0, 2.0)
    assert "out of range" in msg


def test_argnums_of_the_wrong_type():
    msg = raised(GraphcError, graphc.grad(lambda x: x * x, argnums="x"), 1.0)
    assert "argnums" in msg


def test_escaped_tracer_used_later_outside_a_trace():
    kept = []

    def f(x):
        kept.append(x * 2.0)
        return x

    graphc.trace(f, 1.0)

    def later():
        return kept[0] + 1.0

    msg = raised(EscapedTracerError, later)
    assert "return it" in msg and at_line(later, 1) in msg


def test_escaped_tracer_used_later_inside_another_trace():
    kept = []

    def f(x):
        kept.append(x * 2.0)
        return x

    graphc.trace(f, 1.0)

    def g(y):
        return y + kept[0]

    msg = raised(EscapedTracerError, graphc.trace, g, 1.0)
    assert at_line(g, 1) in msg


def test_np_array_of_tracers_says_use_np_stack():
    def f(x, y):
        return np.array([x, y])

    msg = raised(TracerConversionError, graphc.trace, f, 1.0, 2.0)
    assert "np.stack" in msg and at_line(f, 1) in msg


def test_function_returning_none():
    def f(x):
        x * 2.0

    msg = raised(TracingError, graphc.trace, f, 1.0)
    assert "f returned None" in msg


def test_string_argument():
    # Strings are static arguments (API.md): the function sees the string itself, so multiplying a
    # traced value by it fails at that operation, on the user's line.
    f = lambda x, y: x * y  # noqa: E731
    msg = raised(TracingError, graphc.trace, f, 1.0, "abc")
    assert "'multiply'" in msg and "str" in msg and "'abc'" in msg and at_line(f, 0) in msg
    msg = raised(TracingError, graphc.jit(lambda x: x), "abc")
    assert "str" in msg and "return" in msg


def test_string_constant_inside_the_function():
    def f(x):
        return x * "abc"

    msg = raised(TracingError, graphc.trace, f, 1.0)
    assert "str" in msg and at_line(f, 1) in msg


def test_errors_from_a_helper_name_the_helpers_line():
    def helper(a, b):
        return a * b

    def f(x):
        return helper(x, np.ones(4))

    msg = raised(ShapeError, graphc.trace, f, np.ones(3))
    assert at_line(helper, 1) in msg and "(in helper)" in msg


def test_errors_keep_the_python_type_numpy_or_jax_would_raise():
    def assign(x):
        x[0] = 1.0
        return x

    from graphc.errors import GradientTypeError

    with pytest.raises(TypeError):  # as JAX's immutable arrays
        graphc.jit(assign)(np.ones(3))
    with pytest.raises(TypeError):  # as NumPy's own refusal in __array_function__
        graphc.jit(lambda x: np.allclose(x, 1.0))(np.ones(3))
    for fun, arg in ((lambda x: x > 0, 1.0), (lambda x: x * 2.0, 1), (lambda x: x * 2.0, np.ones(2))):
        with pytest.raises(GradientTypeError) as info:
            graphc.grad(fun)(arg)
        assert isinstance(info.value, TypeError) and isinstance(info.value, DifferentiationError)
    with pytest.raises(ValueError) as info:
        graphc.jit(lambda x, y: x + y)(np.ones(3), np.ones(4))
    assert isinstance(info.value, ShapeError)
    with pytest.raises(GradientTypeError):
        graphc.jacfwd(lambda x: x > 0)(np.ones(2))
    with pytest.raises(GradientTypeError):
        graphc.jvp(lambda x: x * 2, (1,), (1,))
    with pytest.raises(GradientTypeError):
        graphc.grad(lambda x: x * 2.0, has_aux=True)(1.0)
    with pytest.raises(TypeError):  # a call that does not fit the function, as Python's own
        graphc.jit(lambda x: x)(1.0, 2.0)
    from graphc.control import ControlFlowError
    with pytest.raises(TypeError) as info:  # a carry that changes type, as JAX's
        graphc.jit(lambda x: graphc.scan(lambda c, x: (c + x[None], None), 0.0, x)[0])(np.ones(3))
    assert isinstance(info.value, ControlFlowError)
    with pytest.raises(ValueError):  # xs of different lengths, as JAX's
        graphc.jit(lambda a, b: graphc.scan(lambda c, x: (c, None), 0.0, (a, b))[0])(np.ones(3), np.ones(4))


def test_gradient_with_respect_to_an_empty_dict_is_an_empty_dict():
    for tiered in ("numpy", False):
        assert graphc.grad(lambda d, x: x * 2.0, tiered=tiered)({}, 1.0) == {}
        assert graphc.grad(lambda d, x: x * 2.0, argnums=(0, 1), tiered=tiered)({}, 1.0) == ({}, 2.0)


def test_bit_operators_work_on_masks_and_are_refused_on_integers():
    def f(i):
        return i & 3

    msg = raised(UnsupportedOperationError, graphc.trace, f, np.arange(4))
    assert "np.bitwise_and" in msg and "booleans" in msg and at_line(f, 1) in msg
    masked = graphc.jit(lambda x: np.where((x > 0) & ~(x > 2) | (x == -1), x, 0.0), tiered="numpy")
    x = np.array([-1.0, 0.5, 3.0, -2.0])
    np.testing.assert_array_equal(masked(x), [-1.0, 0.5, 0.0, 0.0])
