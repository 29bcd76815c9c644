"""graphc.scipy: SciPy's non-ufunc functions for traced values, against SciPy itself, both tiers."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc

import graphc
from graphc.errors import GraphcError
from graphc.scipy import special

TIERS = [pytest.param("numpy", id="numpy-tier"), pytest.param(False, id="numba")]


@pytest.mark.parametrize("tier", TIERS)
def test_logsumexp_softmax_and_log_softmax_match_scipy(tier, rng):
    x, b = rng.normal(size=(3, 4)) * 50, rng.uniform(0.5, 2.0, size=4)  # large: the max shift matters

    def everything(x):
        return (special.logsumexp(x), special.logsumexp(x, axis=1, b=b, keepdims=True), special.softmax(x, axis=0),
                special.log_softmax(x, axis=-1), special.softmax(x))

    got = graphc.jit(everything, tiered=tier)(x)
    expected = (sc.logsumexp(x), sc.logsumexp(x, axis=1, b=b, keepdims=True), sc.softmax(x, axis=0),
                sc.log_softmax(x, axis=-1), sc.softmax(x))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-12)  # x ~ 100: log_softmax near 0 cancels
    gradient = graphc.grad(lambda x: special.logsumexp(x, b=b[None, :]), tiered=tier)(x)
    np.testing.assert_allclose(gradient, b * np.exp(x - sc.logsumexp(x, b=b[None, :])), rtol=1e-12, atol=1e-300)


def test_polygamma_orders_and_its_gradient():
    x = np.array([0.3, 1.0, 7.5])
    for n in (0, 1, 4):
        np.testing.assert_allclose(graphc.jit(lambda x: special.polygamma(n, x), tiered="numpy")(x), sc.polygamma(n, x),
                                   rtol=1e-13)
        np.testing.assert_allclose(graphc.grad(lambda x: np.sum(special.polygamma(n, x)), tiered="numpy")(x),
                                   sc.polygamma(n + 1, x), rtol=1e-13)
    with pytest.raises(GraphcError, match="non-negative integer"):
        graphc.jit(lambda x: special.polygamma(1.5, x))(x)
    with pytest.raises(GraphcError, match="return_sign"):
        graphc.jit(lambda x: special.logsumexp(x, return_sign=True))(x)


def test_scipy_special_ufuncs_trace_from_scipy_itself():
    x = np.array([0.5, 1.5, 3.0])
    f = lambda x: np.sum(sc.gammaln(x) + sc.erf(x) * sc.digamma(x) + sc.xlogy(x, x))  # noqa: E731
    np.testing.assert_allclose(graphc.jit(f, tiered="numpy")(x), f(x), rtol=1e-14)
    ops = {graphc.trace(f, x)[n]["op"] for n in graphc.trace(f, x).nx}
    assert {"gammaln", "erf", "digamma"} <= ops


def test_stats_densities_match_scipy_and_differentiate():
    import scipy.stats as ss

    from graphc.scipy import stats as gs

    rng = np.random.default_rng(3)
    x, tails = np.array([-3.0, -0.2, 0.5, 2.0]), np.array([-45.0, -25.0, -19.0, -1.0, 3.0])
    positive = np.array([0.3, 1.2, 4.0])
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 0.5]])
    mean, points = np.array([0.1, -0.2, 0.3]), rng.normal(size=(4, 3))
    pairs = [
        (lambda v: gs.norm.logpdf(v, 0.5, 2.0), lambda v: ss.norm.logpdf(v, 0.5, 2.0), x),
        (lambda v: gs.norm.pdf(v, 0.5, 2.0), lambda v: ss.norm.pdf(v, 0.5, 2.0), x),
        (lambda v: gs.norm.cdf(v), lambda v: ss.norm.cdf(v), tails),
        (lambda v: gs.norm.logcdf(v), lambda v: ss.norm.logcdf(v), tails),  # the asymptotic tail below -20
        (lambda v: gs.t.logpdf(v, 3.5, 0.2, 1.5), lambda v: ss.t.logpdf(v, 3.5, 0.2, 1.5), x),
        (lambda p: gs.multivariate_normal.logpdf(p, mean, cov), lambda p: ss.multivariate_normal.logpdf(p, mean, cov),
         points),
        (lambda p: gs.multivariate_normal.logpdf(p, mean, np.array([1.0, 2.0, 0.5])),
         lambda p: ss.multivariate_normal.logpdf(p, mean, np.array([1.0, 2.0, 0.5])), points[0]),
        (lambda v: gs.gamma.logpdf(v, 2.5, scale=1.5), lambda v: ss.gamma.logpdf(v, 2.5, scale=1.5), positive),
        (lambda v: gs.beta.logpdf(v / 5, 2.5, 0.7), lambda v: ss.beta.logpdf(v / 5, 2.5, 0.7), positive),
        (lambda mu: gs.poisson.logpmf(np.array([0.0, 3.0, 7.0]), mu),
         lambda mu: ss.poisson.logpmf(np.array([0.0, 3.0, 7.0]), mu), positive),
        (lambda a: gs.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), a),
         lambda a: ss.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), a), positive),
        (lambda v: gs.chi2.logpdf(v, 3.0), lambda v: ss.chi2.logpdf(v, 3.0), positive),
    ]
    for ours, scipys, value in pairs:
        np.testing.assert_allclose(graphc.jit(ours, tiered="numpy")(value), scipys(value), rtol=1e-12)
    # d/dx log Phi(x) = phi(x) / Phi(x): finite in the far tail, where SciPy's own ratio is 0/0
    gradient = graphc.grad(lambda v: np.sum(gs.norm.logcdf(v)), tiered="numpy")(tails)
    np.testing.assert_allclose(gradient[1:], ss.norm.pdf(tails[1:]) / ss.norm.cdf(tails[1:]), rtol=1e-10)
    assert 44.9 < gradient[0] < 45.1  # ~ -x there
    grad_mean = graphc.grad(lambda m: np.sum(gs.multivariate_normal.logpdf(points, m, cov)), tiered="numpy")(mean)
    np.testing.assert_allclose(grad_mean, np.sum(np.linalg.solve(cov, (points - mean).T), axis=1), rtol=1e-12)


@pytest.mark.parametrize("tier", TIERS)
def test_linalg_triangular_and_cholesky_solves_match_scipy_and_differentiate(tier, rng):
    import scipy.linalg as sl

    from graphc.scipy import linalg as gl

    m = rng.normal(size=(4, 4))
    a = m @ m.T + 4 * np.eye(4)
    b, v = rng.normal(size=(4, 2)), rng.normal(size=4)
    upper = np.triu(rng.normal(size=(4, 4))) + 3 * np.eye(4)

    def everything(a, b, v, upper):
        return (gl.solve_triangular(upper, b), gl.solve_triangular(upper, v, trans="T"),
                gl.solve_triangular(upper.T, b, lower=True, unit_diagonal=True),
                gl.cho_solve(gl.cho_factor(a), b), gl.cho_solve(gl.cho_factor(a, lower=True), v),
                gl.cholesky(a), gl.cholesky(a, lower=True))

    got = graphc.jit(everything, tiered=tier)(a, b, v, upper)
    expected = (sl.solve_triangular(upper, b), sl.solve_triangular(upper, v, trans="T"),
                sl.solve_triangular(upper.T, b, lower=True, unit_diagonal=True),
                sl.cho_solve(sl.cho_factor(a), b), sl.cho_solve(sl.cho_factor(a, lower=True), v),
                sl.cholesky(a), sl.cholesky(a, lower=True))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    # d/da of w . cho_solve(a, v) = -x (a^-1 w)^T, symmetrized by the Cholesky adjoint as JAX does
    w = rng.normal(size=4)
    grad = graphc.grad(lambda a: np.dot(w, gl.cho_solve(gl.cho_factor(a), v)), tiered=tier)(a)
    x, y = np.linalg.solve(a, v), np.linalg.solve(a, w)
    np.testing.assert_allclose(grad, -0.5 * (np.outer(y, x) + np.outer(x, y)), rtol=1e-10, atol=1e-12)
    with pytest.raises(GraphcError, match="trans must be"):
        graphc.jit(lambda u, b: gl.solve_triangular(u, b, trans="X"))(upper, b)


@pytest.mark.parametrize("tier", TIERS)
def test_rgamma_and_multigammaln_match_scipy_and_differentiate(tier):
    x = np.array([-2.0, -1.5, -1.0, 0.0, 0.3, 2.5, 7.0, 200.0])
    got = graphc.jit(lambda x: (sc.rgamma(x), special.multigammaln(x[5:7], 3)), tiered=tier)(x)
    np.testing.assert_allclose(got[0], sc.rgamma(x), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(got[1], sc.multigammaln(x[5:7], 3), rtol=1e-13)
    smooth = np.array([-1.5, 0.3, 2.5, 7.0])   # d/dx 1/gamma = -digamma / gamma
    np.testing.assert_allclose(graphc.grad(lambda x: np.sum(sc.rgamma(x)), tiered=tier)(smooth),
                               -sc.digamma(smooth) * sc.rgamma(smooth), rtol=1e-12)
    assert np.all(np.isfinite(graphc.grad(lambda x: np.sum(sc.rgamma(x)), tiered=tier)(x)))
    np.testing.assert_allclose(graphc.grad(lambda a: special.multigammaln(a, 4), tiered=tier)(5.0),
                               sum(sc.digamma(5.0 - j / 2) for j in range(4)), rtol=1e-13)
    with pytest.raises(GraphcError, match="positive integer dimension"):
        graphc.jit(lambda a: special.multigammaln(a, 0))(5.0)


_COMPILED_SPECIAL = [  # (graphc.scipy.special function, its parameters) for test_compiled_special_functions
    (special.gammainc, (2.5,)), (special.gammaincc, (0.7,)), (special.betainc, (2.0, 0.7)), (special.erfcinv, ()),
    (special.i0, ()), (special.i1, ()), (special.iv, (1.5,)), (special.ive, (2.0,)), (special.j0, ()),
    (special.j1, ()), (special.jv, (2.5,)), (special.jn, (3,)), (special.y0, ()), (special.y1, ()),
    (special.yn, (2,)),
]


@pytest.mark.parametrize("tier", TIERS)
def test_compiled_special_functions_are_scipys_own_with_gradients_in_x(tier):
    # Edges included: 0, the ends of the domains, beyond them (NaN), infinities. Kernels call SciPy's
    # compiled code, so values agree exactly, NaN for NaN.
    x = np.array([0.0, 1e-300, 0.25, 0.5, 1.0, 1.9, 2.0, 7.5, 40.0, 700.0, -0.5, np.inf, -np.inf, np.nan])
    funcs = [lambda x, f=f, p=p: f(*p, x) for f, p in _COMPILED_SPECIAL]
    with np.errstate(all="ignore"):
        got = graphc.jit(lambda x: [f(x) for f in funcs], tiered=tier)(x)
        for g, f in zip(got, funcs):
            np.testing.assert_array_equal(g, f(x))
    # Gradients in x, and second derivatives, against central differences of SciPy's values.
    smooth = np.array([0.3, 0.8, 1.4])
    for f in funcs:
        first = graphc.grad(lambda x: np.sum(f(x)), tiered=tier)
        second = graphc.grad(lambda x: np.sum(first(x) * smooth), tiered=tier)
        h = 1e-6
        np.testing.assert_allclose(first(smooth), (f(smooth + h) - f(smooth - h)) / (2 * h), rtol=1e-7, atol=1e-9)
        h = 1e-4
        np.testing.assert_allclose(second(smooth), smooth * (f(smooth + h) - 2 * f(smooth) + f(smooth - h)) / h**2,
                                   rtol=1e-5, atol=1e-7)


def test_special_parameter_gradients_raise_naming_the_parameter():
    with pytest.raises(GraphcError, match=r"scipy.special.gammainc .* parameter a"):
        graphc.grad(lambda a: special.gammainc(a, 1.0))(2.0)
    with pytest.raises(GraphcError, match=r"scipy.special.betainc .* parameter b"):
        graphc.grad(lambda b: special.betainc(2.0, b, 0.5))(2.0)
    with pytest.raises(GraphcError, match=r"scipy.special.jv .* parameter v"):
        graphc.grad(lambda v, x: special.jn(v, x), argnums=(0, 1))(2.0, 1.0)
    # The parameter as a constant, or as an argument not differentiated: fine.
    assert graphc.grad(lambda x, a: special.gammainc(a, x))(1.0, 2.0) == pytest.approx(np.exp(-1.0))


def test_stats_cdfs_entropy_and_singular_covariances_match_scipy():
    import scipy.stats as ss

    from graphc.scipy import stats as gs

    x, positive = np.array([-2.5, -0.3, 0.4, 1.7, 3.0]), np.array([0.2, 0.9, 2.5, 4.0])
    counts = np.array([-1.0, 0.0, 3.0, 7.5])
    pairs = [
        (lambda v: gs.t.cdf(v, 3.5, 0.2, 1.5), lambda v: ss.t.cdf(v, 3.5, 0.2, 1.5), x),
        (lambda v: gs.t.logcdf(v, 3.5), lambda v: ss.t.logcdf(v, 3.5), x),
        (lambda v: gs.t.sf(v, 3.5), lambda v: ss.t.sf(v, 3.5), x),
        (lambda v: gs.gamma.cdf(v, 2.5, scale=1.5), lambda v: ss.gamma.cdf(v, 2.5, scale=1.5), np.r_[-1.0, positive]),
        (lambda v: gs.gamma.sf(v, 2.5), lambda v: ss.gamma.sf(v, 2.5), positive),
        (lambda v: gs.beta.cdf(v / 5, 2.5, 0.7), lambda v: ss.beta.cdf(v / 5, 2.5, 0.7), positive),
        (lambda v: gs.chi2.logcdf(v, 3.0), lambda v: ss.chi2.logcdf(v, 3.0), positive),
        (lambda mu: gs.poisson.cdf(counts, mu), lambda mu: ss.poisson.cdf(counts, mu), positive),
    ]
    for ours, scipys, value in pairs:
        np.testing.assert_allclose(graphc.jit(ours, tiered="numpy")(value), scipys(value), rtol=1e-13, atol=1e-15)
        step = 1e-6
        central = np.array([(np.sum(scipys(value + step * e)) - np.sum(scipys(value - step * e))) / (2 * step)
                            for e in np.eye(len(value))])
        np.testing.assert_allclose(graphc.grad(lambda v: np.sum(ours(v)), tiered="numpy")(value), central,
                                   rtol=1e-7, atol=1e-9)
    at_centre = np.array([0.0, 1e-9, 1e-7, -2.0])  # the incomplete beta's argument rounds to 1 at the centre
    np.testing.assert_allclose(graphc.grad(lambda v: np.sum(gs.t.cdf(v, 4.0)), tiered="numpy")(at_centre),
                               ss.t.pdf(at_centre, 4.0), rtol=1e-12)
    with pytest.raises(GraphcError, match="scipy.special.betainc .* parameter a"):  # df has no closed form
        graphc.grad(lambda df: gs.t.cdf(0.5, df))(3.0)
    cov = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # rank 2
    points = np.random.default_rng(0).normal(size=(4, 3))
    points[:, 1] = points[:, 0]  # on the support
    np.testing.assert_allclose(
        graphc.jit(lambda p: gs.multivariate_normal.logpdf(p, np.zeros(3), cov, allow_singular=True), tiered="numpy")(
            points), ss.multivariate_normal.logpdf(points, np.zeros(3), cov, allow_singular=True), rtol=1e-12)
    off = np.array([[1.0, 0.0, 0.3]])  # off the support: -inf, as SciPy's
    assert gs.multivariate_normal.logpdf(off, np.zeros(3), cov, allow_singular=True)[0] == -np.inf
    spd = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert graphc.jit(lambda c: gs.multivariate_normal.entropy(cov=c), tiered="numpy")(spd) == pytest.approx(
        ss.multivariate_normal.entropy(cov=spd), rel=1e-14)
    for mean, variance in [(None, 2.0), (np.zeros(3), 2.0)]:
        assert gs.multivariate_normal.entropy(mean, variance) == pytest.approx(
            ss.multivariate_normal.entropy(mean, variance), rel=1e-14)
    assert gs.multivariate_normal.entropy(cov=np.array([1.0, 2.0])) == pytest.approx(
        ss.multivariate_normal.entropy(cov=np.diag([1.0, 2.0])), rel=1e-14)


def test_multivariate_normal_cdf_matches_scipy_and_differentiates():
    import scipy.stats as ss
    from graphc.scipy import stats as gs

    mvn = gs.multivariate_normal
    rng = np.random.default_rng(1)
    for d in (2, 3, 5):  # a lattice rule of 16,384 points against SciPy run to 1e-7, within its default abseps
        a = rng.normal(size=(d, d))
        cov, mean, points = a @ a.T + 0.5 * d * np.eye(d), 0.3 * rng.normal(size=d), rng.normal(size=(4, d))
        lower = points[0] - np.abs(rng.normal(size=d))
        swapped = points[1] + rng.normal(size=d)  # above the point in some coordinates: a signed integral
        exact = dict(abseps=1e-7, releps=1e-7, maxpts=10 ** 6, rng=np.random.default_rng(0))
        got = graphc.jit(lambda p: (mvn.cdf(p, mean, cov), mvn.logcdf(p[0], mean, cov, lower_limit=lower),
                                    mvn.cdf(p[1], mean, cov, lower_limit=swapped)), tiered="numpy")(points)
        np.testing.assert_allclose(got[0], ss.multivariate_normal.cdf(points, mean, cov, **exact), rtol=0, atol=1e-5)
        assert np.shape(got[1]) == () and np.shape(got[2]) == ()
        np.testing.assert_allclose(np.exp(got[1]), ss.multivariate_normal.cdf(points[0], mean, cov, lower_limit=lower,
                                                                                **exact), rtol=0, atol=1e-5)
        np.testing.assert_allclose(got[2], ss.multivariate_normal.cdf(points[1], mean, cov, lower_limit=swapped,
                                                                        **exact), rtol=0, atol=1e-5)
    # Independent coordinates and one dimension are products of normal CDFs, exactly.
    for args in [(0.5, 1.0, 2.0), ([0.5, 0.1], [1.0, 0.0], [2.0, 3.0]),
                 (np.ones((2, 3, 2)) * [0.2, -0.4], np.zeros(2), np.array([0.7, 1.3]))]:
        np.testing.assert_allclose(mvn.cdf(*args), ss.multivariate_normal.cdf(*args), rtol=1e-14, strict=True)
    # The gradient: the bivariate normal's in x in closed form, and in the correlation its density.
    rho, x = 0.6, np.array([0.3, -0.2])
    cov = np.array([[1.0, rho], [rho, 1.0]])
    s = np.sqrt(1.0 - rho * rho)
    closed_form = [ss.norm.pdf(x[0]) * ss.norm.cdf((x[1] - rho * x[0]) / s),
                   ss.norm.pdf(x[1]) * ss.norm.cdf((x[0] - rho * x[1]) / s)]
    by_x = graphc.grad(lambda x: mvn.cdf(x, None, cov), tiered="numpy")(x)
    np.testing.assert_allclose(by_x, closed_form, rtol=0, atol=1e-6)
    by_cov = graphc.grad(lambda c: mvn.cdf(x, None, c), tiered="numpy")(cov)
    assert by_cov[0, 1] + by_cov[1, 0] == pytest.approx(ss.multivariate_normal.pdf(x, None, cov), abs=2e-6)
    # An infinite bound is 0 or 1 exactly, with a finite gradient (not pdf(inf) * inf).
    cov3 = np.array([[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 1.5]])
    bounds = dict(x=[0.4, np.inf, -0.3], lower_limit=[-np.inf, -1.0, -2.0])
    value, gradient = graphc.value_and_grad(lambda m: mvn.cdf(mean=m, cov=cov3, **bounds), tiered="numpy")(np.zeros(3))
    assert value == pytest.approx(ss.multivariate_normal.cdf(mean=np.zeros(3), cov=cov3, abseps=1e-7, releps=1e-7,
                                                             rng=np.random.default_rng(0), **bounds), abs=1e-5)
    assert np.all(np.isfinite(gradient))
    with pytest.raises(GraphcError, match="allow_singular"):
        mvn.cdf(x, None, cov, allow_singular=True)
