"""graphc's vectorizable math (codegen/rt_vmath.py): accuracy against NumPy over each function's whole
domain, NumPy's special values, loops that really vectorize, and fused sums in their documented order."""
import re

import numba
import numpy as np
import pytest
from graphc.codegen.rt_vmath import (
    vcos,
    vexp,
    vexpm1,
    vlog,
    vlog1p,
    vsigmoid,
    vsin,
    vtanh,
)

import graphc

FUNCTIONS = ["exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid"]
POINTS = 10 ** 6
#: The issue's bounds, in units in the last place of the result's dtype.
MAX_ULP = {np.float64: 2.0, np.float32: 1.0}

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, np.pi, -np.pi, np.pi / 2, 1e-300,
           -1e-300, 5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308, 1.7976931348623157e308,
           -1.7976931348623157e308,
           # exp and expm1 overflow above 709.78..., exp's result goes subnormal below -708.39... and to 0
           # below -745.13...
           709.782712893384, 709.7827128933841, -708.3964185322641, -708.4, -745.1332191019411,
           -745.1332191019412, -745.14, 88.72283, 88.72284, -103.97, -87.33655,
           # log1p's pole, tanh's switch between its two forms, sin and cos's switch to libm (2**22)
           -1.0 + 2.0 ** -53, 0.55, -0.55, 0.5499999999999999, 22.0, 4194303.999999999, 4194304.0, -4194304.0,
           1e22, 3.4028234663852886e38, 1.1754943508222875e-38, 1e-45, 1.401298464324817e-45]


def _points(dtype, rng):
    """Log-uniform magnitudes over the dtype's range, both signs, plus the special values."""
    info = np.finfo(dtype)
    exponents = rng.uniform(np.log10(float(info.smallest_subnormal)), np.log10(float(info.max)), POINTS)
    x = (10.0 ** exponents * rng.choice([-1.0, 1.0], POINTS))
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(SPECIAL), x]).astype(dtype)


def _numpy(name, x):
    """NumPy's value (sigmoid: in extended precision, there being no NumPy sigmoid), rounded to x's
    dtype; float32 from NumPy's float64 function, which is correctly rounded far more often."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            wide = x.astype(np.longdouble)
            return (1 / (1 + np.exp(-wide))).astype(x.dtype)
        return getattr(np, name)(x.astype(np.float64)).astype(x.dtype)


def _ulps(got, want):
    """|got - want| in units in the last place of ``want``; 0 where both are the same (NaN included),
    inf where one is NaN or a zero has the wrong sign."""
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | (np.isnan(got) & np.isnan(want))
    with np.errstate(all="ignore"):
        ulps = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(np.abs(want))
    return np.where(same, 0.0, np.where(np.isnan(ulps), np.inf, ulps))


@numba.njit(error_model="numpy")
def _all_functions(x, out):
    """Each function over ``x``, called as a fused loop's line calls it (graphc/ops/elementwise.py):
    ``dtype(vexp(np.float64(x)))``, the store into ``out`` rounding to its dtype."""
    for i in range(x.size):
        v = np.float64(x[i])
        out[0, i], out[1, i], out[2, i], out[3, i] = vexp(v), vexpm1(v), vlog(v), vlog1p(v)
        out[4, i], out[5, i], out[6, i], out[7, i] = vsin(v), vcos(v), vtanh(v), vsigmoid(v)


@pytest.fixture(scope="module", params=[np.float64, np.float32], ids=["f64", "f32"])
def case(request):
    """(dtype, points, every function's values at them)."""
    dtype = request.param
    x = _points(dtype, np.random.default_rng(16))
    out = np.empty((len(FUNCTIONS), x.size), dtype)
    _all_functions(x, out)
    return dtype, x, out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_are_within_the_ulp_bound_of_numpy_over_the_whole_domain(case, name):
    dtype, x, results = case
    got = results[FUNCTIONS.index(name)]
    assert got.dtype == dtype
    ulps = _ulps(got, _numpy(name, x))
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= MAX_ULP[dtype], f"{name}({x[worst]!r}) = {got[worst]!r}, NumPy {_numpy(name, x)[worst]!r}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_special_values_match_numpy_exactly(case, name):
    """Infinities, NaN, signed zeros, and results at the overflow and underflow ends, where a ulp
    bound says nothing."""
    dtype, x, results = case
    special = slice(0, len(SPECIAL))
    got, want = results[FUNCTIONS.index(name)][special], _numpy(name, x[special])
    exceptional = ~np.isfinite(want) | (want == 0) | (np.abs(want) < np.finfo(dtype).tiny) | ~np.isfinite(x[special])
    np.testing.assert_array_equal(got[exceptional], want[exceptional])
    signed = exceptional & ~np.isnan(want)   # a NaN's sign means nothing
    np.testing.assert_array_equal(np.signbit(got[signed]), np.signbit(want[signed]))


def test_sin_and_cos_near_every_multiple_of_half_pi_below_the_libm_switch():
    """Where sin or cos is near 0, the reduced argument is tiny and all of its error shows: at the double
    nearest k pi/2 for every k below 2**22 * 2/pi, both are within 1 ulp of NumPy (libm)."""
    k = np.arange(1, int(2 ** 22 * 2 / np.pi) + 1, dtype=np.float64)
    x = (k * (np.longdouble(np.pi) / 2)).astype(np.float64)
    x = np.concatenate([x, -x])
    out = np.empty((len(FUNCTIONS), x.size))
    _all_functions(x, out)
    for name in ("sin", "cos"):
        ulps = _ulps(out[FUNCTIONS.index(name)], np.__dict__[name](x))
        assert ulps.max() <= 1.0, (name, x[np.argmax(ulps)])


def _vector_ops(compiled, *args):
    lowered = compiled.lower(*args)
    dispatcher = lowered.kernel.dispatcher
    ir = "\n".join(dispatcher.inspect_llvm().values())
    return re.findall(r"= f(?:mul|add)[^\n]*<(\d+) x (?:double|float)>", ir)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_a_fused_loop_of_transcendentals_and_a_sum_vectorizes(dtype, tmp_path, monkeypatch):
    """The LLVM IR of W3's value and gradient (sin, exp, log1p, tanh, cos and a sum, one loop) does
    its arithmetic on vectors: none of the functions is a libm call, and the sum keeps lanes."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))   # a fresh compile: Numba shows no IR of cached code
    def w3(x):
        return np.sum(np.sin(x) * np.exp(-x * x) + np.log1p(x * x) * np.tanh(x) + graphc.sigmoid(x) * np.log(x * x)
                      + np.expm1(x))

    x = np.linspace(-3, 3, 5000, dtype=dtype)   # big enough for the sum to keep lanes (codegen/loops.py)
    compiled = graphc.jit(graphc.value_and_grad(w3))
    for name in FUNCTIONS:
        assert f"v{name}(" in compiled.lower(x).source
    assert _vector_ops(compiled, x)


def _in_lane_order(rows, lanes):
    """The sum of ``rows`` as the fused loop adds it (codegen/loops.py, ``_lane_loops``): each row a
    1-d piece, or a 2-d block of consecutive indices of axis 0 whose lane j adds, row-major, the
    elements of innermost index j modulo ``lanes``."""
    total = None
    for row in rows:
        row = np.atleast_2d(row)
        sums = [np.cumsum(row[:, j::lanes].ravel())[-1] if row[:, j::lanes].size else 0.0 for j in range(lanes)]
        pairwise = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
        total = pairwise if total is None else total + pairwise
    return total


def test_fused_sums_add_in_the_documented_order(rng):
    """Rows of 8192 elements (one-dimensional loops) or one index of axis 0 (others); in each, lane j
    adds the elements j, j + 8, ... of the innermost axis in order; a row's lanes combine pairwise,
    ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)); rows add in order. A sum is then the same to
    the bit whatever the threads or the vector width. Loops under 1024 elements add in order."""
    from graphc.codegen.loops import LANE_ROW, LANES, LANES_MIN_ELEMENTS

    n = 3 * LANE_ROW + 13
    x = rng.normal(size=n) * 10.0 ** rng.uniform(-8, 8, n)
    squares = x * x
    rows = [squares[start:start + LANE_ROW] for start in range(0, n, LANE_ROW)]
    assert graphc.jit(lambda x: np.sum(x * x))(x) == _in_lane_order(rows, LANES)
    matrix = x[:LANE_ROW * 3].reshape(3 * 64, LANE_ROW // 64)
    matrix = np.ascontiguousarray(matrix[:, :-3])   # an innermost axis that is not a multiple of 8
    got = graphc.jit(lambda m: np.sum(m * 3.0 - 1.0))(matrix)
    per_row = LANE_ROW // matrix.shape[1]           # rows: as many indices of axis 0 as hold 8192 elements
    values = matrix * 3.0 - 1.0
    assert got == _in_lane_order([values[i:i + per_row] for i in range(0, len(values), per_row)], LANES)
    narrow = x[:LANE_ROW * 2].reshape(-1, 2)        # one row of partial sums per 4096 indices, not per index
    assert graphc.jit(lambda m: np.sum(m * m))(narrow) == _in_lane_order(
        [(narrow * narrow)[i:i + LANE_ROW // 2] for i in range(0, len(narrow), LANE_ROW // 2)], LANES)
    small = x[:LANES_MIN_ELEMENTS - 1]
    assert graphc.jit(lambda x: np.sum(x * x))(small) == np.cumsum(small * small)[-1]


def test_lanes_keep_an_unrolled_loop_rolled(rng):
    """Sums with lanes name their partial sums after the value (v7_lanes); the rolled kernel's renaming
    must follow, or no two steps share a form and the kernel is not rolled (codegen/rolled.py)."""
    n = 1024   # big enough for lanes

    def f(W, x):
        acc, h = 0.0, x
        for _ in range(110):   # long enough to roll
            h = np.tanh(W @ h + 0.1)
            acc = acc + np.sum(h * h)
        return acc

    W, x = rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=n)
    source = graphc.jit(f).lower(W, x).source
    assert "SITE_PARAM" in source and "_lanes" in source
    assert len(source.splitlines()) < 150


def test_a_lone_op_whose_result_numpy_makes_float16_still_runs():
    x = np.arange(5, dtype=np.int8)
    np.testing.assert_allclose(graphc.jit(np.sin)(x), np.sin(x), rtol=1e-3)
