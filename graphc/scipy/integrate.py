"""``scipy.integrate.odeint`` for traced values: an adaptive Runge-Kutta solve that stays a few graph
nodes, differentiable by the adjoint method.

>>> import numpy as np, graphc
>>> from graphc.scipy.integrate import odeint
>>> decay = lambda y, t, k: -k * y
>>> t = np.array([0.0, 1.0])
>>> round(float(graphc.jit(lambda k: odeint(decay, 1.0, t, args=(k,))[-1])(2.0)), 7)  # exp(-2)
0.1353353

**Forward.** Dormand and Prince's explicit 5(4) pair with its first-same-as-last property (six
evaluations of ``func`` a step), step-size control on the 4th-order error estimate in the RMS norm
``sqrt(mean((err / (atol + rtol * max(|y|, |y_new|)))^2)) <= 1``, and Hairer, Norsett and Wanner's
starting step (Solving ODEs I, II.4). A step that would pass an output time is cut to end on it, so
the values at ``t`` are the solver's own, not interpolated. The whole solve is one ``while_loop``
node whatever the number of steps (its body runs the stages as a ``scan`` over the tableau's rows),
one Numba loop in compiled kernels. Time runs either way: ``t`` may decrease; it must be monotonic,
as SciPy requires (checked when ``t`` is a constant).

**Gradient** (Pontryagin's adjoint method, as in Chen et al. 2018, "Neural ordinary differential
equations"): one backward solve, from the last time to the first, of the augmented system
``y' = f``, ``a' = -a^T df/dy``, ``p' = -a^T df/dp`` with the same solver and tolerances, stopping at
each output time, where ``y`` restarts from the forward solution and ``a`` takes that output's
cotangent. Then ``dL/dy0 = a(t0) + g_0``, ``dL/dp = p(t0)``, ``dL/dt_i = g_i . f(y_i, t_i)`` for
i > 0 and ``dL/dt_0 = -a(t0) . f(y0, t0)``. The backward solve keeps nothing per step, so memory
does not grow with the number of steps; its error is of the order of the tolerances. It is a graph
too: a second derivative differentiates it (discretize-then-optimize at second order), which is why
no loop nests in another (a reverse sweep over a while_loop inside a scan would need records of
different lengths). Forward mode (``jvp``, ``jacfwd``) is refused, as JAX refuses it.

Differences from SciPy: SciPy calls LSODA, which switches to a stiff (BDF) method when the problem
needs it; graphc's solver is explicit, so a stiff problem takes many steps, and ``mxstep`` (SciPy's
default, 500 a time point) ends them: graphc allows ``mxstep`` times ``len(t) - 1`` steps in all, and
the times not reached by then are NaN (and so is the gradient when the backward solve runs out),
where SciPy warns and returns what it has. ``rtol``
and ``atol`` are scalars. ``Dfun``, ``col_deriv``, ``ml``, ``mu`` (Jacobian hints for the stiff method)
are accepted and not needed; ``full_output`` and ``tcrit`` raise.
"""
from __future__ import annotations

import dataclasses

import numpy as np

import graphc.numpy as graphc_numpy
from graphc.control import scan, while_loop
from graphc.custom import custom_vjp
from graphc.errors import ShapeError, UnsupportedOperationError, user_frame
from graphc.ops import ndim_of, shape_of
from graphc.tree import tree_flatten, tree_unflatten

__all__ = ["odeint"]

# ---- Dormand-Prince 5(4) ----------------------------------------------------------------------------
#: The Butcher tableau's rows (row i: the weights of stages 0..i-1 in stage i's argument; the last row
#: is the 5th-order solution's, whose slope is the next step's first stage: FSAL), the stage times and
#: the error weights (5th minus 4th order).
_TABLEAU = np.zeros((7, 7))
for _i, _row in enumerate([(1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
                           (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
                           (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
                           (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)], start=1):
    _TABLEAU[_i, :_i] = _row
_TIMES = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_ERROR = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
_TINY = 1e-300  # the error scale's floor: with atol = 0, a component at 0 (SciPy's LSODA refuses it)


@dataclasses.dataclass(frozen=True)
class _Options:
    rtol: float
    atol: float
    mxstep: int
    hmax: float
    h0: float


def odeint(func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, ml=None, mu=None, rtol=None, atol=None,
           tcrit=None, h0=0.0, hmax=0.0, hmin=0.0, ixpr=0, mxstep=0, mxhnil=0, mxordn=12, mxords=5, printmessg=0,
           tfirst=False):
    """The solution of ``dy/dt = func(y, t, *args)``, ``y(t[0]) = y0``, at the times ``t`` (SciPy's
    signature; ``func(t, y, *args)`` with ``tfirst=True``): an array of shape ``(len(t), *y0.shape)``.

    Differentiable with respect to ``y0``, ``t`` and every floating-point array in ``args`` (see the
    module docstring). ``rtol`` and ``atol`` (default 1.49012e-8, SciPy's) bound each step's error;
    ``hmax`` caps the step, ``h0`` sets the first one, ``mxstep`` (default 500) times the number of
    intervals, ``len(t) - 1``, caps the steps. ``y0`` may have any shape (a number is a vector of one,
    as in SciPy); ``func`` returns an array of that shape.
    """
    if full_output:
        raise UnsupportedOperationError("odeint(full_output=True): graphc's solver keeps no LSODA statistics; "
                                        "call it without full_output", user_frame())
    if tcrit is not None:
        raise UnsupportedOperationError("odeint(tcrit=...): graphc's solver does not stop at critical times; "
                                        "split the integration at them instead", user_frame())
    options = _Options(rtol=_tolerance(rtol, "rtol"), atol=_tolerance(atol, "atol"), mxstep=int(mxstep) or 500,
                       hmax=float(hmax) or np.inf, h0=float(h0))
    rhs = (lambda y, s, *a: func(s, y, *a)) if tfirst else func
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    y0, t = _as_float(y0), _as_float(t)
    if ndim_of(t) != 1 or shape_of(t)[0] < 1:
        raise ShapeError(f"odeint needs a 1-d array of output times t, got shape {shape_of(t)}", user_frame())
    if options.rtol == 0 and options.atol == 0:
        raise ShapeError("odeint needs rtol or atol above zero", user_frame())
    if ndim_of(y0) == 0:  # SciPy's y0 is a vector: a number is one of length 1
        y0 = y0[None]
    if isinstance(t, np.ndarray) and not (np.all(np.diff(t) >= 0) or np.all(np.diff(t) <= 0)):
        raise ShapeError("odeint needs monotonic output times t (increasing or decreasing), as SciPy's does",
                         user_frame())
    if shape_of(t)[0] == 1:  # nothing to integrate
        return y0[None]
    return _odeint(rhs, options, y0, t, *args)


def _tolerance(value, name: str) -> float:
    if value is None:
        return 1.49012e-8
    if np.ndim(value) != 0 or not value >= 0:
        raise ShapeError(f"odeint needs a non-negative scalar {name}, got {value!r}", user_frame())
    return float(value)


def _array(value):
    """``func``'s result as an array: SciPy's users often return a list (``[y[1], -y[0]]``)."""
    return graphc_numpy.array(value) if isinstance(value, (list, tuple)) else value


def _as_float(x):
    """``y0`` or ``t`` in float64, as SciPy computes (a list may hold traced values)."""
    x = _array(x)
    if hasattr(x, "shape") and not isinstance(x, np.ndarray):  # traced
        return x if x.dtype == np.float64 else x.astype(np.float64)
    return np.asarray(x, np.float64)


# ---- the solver ------------------------------------------------------------------------------------
def _integrate(f, z0, s0, stops, options: _Options, arrive=None):
    """Integrate ``dz/ds = f(z, s)`` from ``(s0, z0)`` through the increasing times ``stops`` with
    Dormand-Prince, ending a step exactly at each stop; return ``z`` at each stop (NaN at a stop not
    reached within the step budget) and at the last one.

    ``arrive(z, at)``, if given, changes ``z`` on arrival at the stops flagged by the float mask ``at``
    (the adjoint's jumps); the first stage is then evaluated afresh each step instead of reusing the
    last step's slope.

    One ``while_loop``: the steps of every interval, so that no loop nests in another and the loop
    differentiates in reverse mode again (a second derivative of odeint).
    """
    shape = shape_of(z0)
    recorded = np.where(np.reshape(stops == s0, (-1,) + (1,) * len(shape)), z0[None], np.nan)
    last, budget = stops[-1], options.mxstep * shape_of(stops)[0]
    slope0 = f(z0, s0)
    h0 = options.h0 if options.h0 > 0 else _first_step(f, z0, slope0, s0, options)

    def running(carry):
        return (carry[2] < last) & (carry[5] < budget)

    def step(carry):
        z, slope, s, h, recorded, steps = carry
        if arrive is not None:
            slope = f(z, s)
        following = np.min(np.where(stops > s, stops, np.inf))  # the next stop
        proposed = np.minimum(h, options.hmax)
        clipped = s + proposed >= following  # as the step would end: s + h may round onto the stop
        h_used = np.where(clipped, following - s, proposed)
        z_new, slope_new, error = _dormand_prince(f, z, slope, s, h_used)
        ratio = _error_ratio(error, z, z_new, options)
        accept = ratio <= 1.0
        factor = np.clip(_SAFETY * np.maximum(ratio, 1e-10) ** -0.2, _MIN_FACTOR, _MAX_FACTOR)
        landed = accept & clipped
        at = np.where(landed & (stops == following), 1.0, 0.0)  # stops is sorted: ties land together
        if arrive is not None:
            z_new = arrive(z_new, at)
        recorded = np.where(np.reshape(at, (-1,) + (1,) * len(shape)) > 0, z_new[None], recorded)
        # A step cut short to land on a stop says nothing against the step proposed before it.
        h_next = np.where(landed, proposed, h_used * factor)
        return (np.where(accept, z_new, z), np.where(accept, slope_new, slope),
                np.where(accept, np.where(clipped, following, s + h_used), s), h_next, recorded, steps + 1)

    z, _, s_end, _, recorded, _ = while_loop(running, step, (z0, slope0, s0 * np.ones(()), h0 * np.ones(()),
                                                              recorded, np.int64(0)))
    return recorded, np.where(s_end >= last, z, np.nan)  # NaN, not a value from part of the way


def _in_direction(rhs, t, args):
    """``(f, s)``: the right-hand side and the times in s = direction * t, where time always runs
    forward (``t`` may decrease): ``dy/ds = direction * rhs(y, direction * s)``."""
    direction = np.sign(t[-1] - t[0])
    direction = np.where(direction == 0, 1.0, direction)

    def f(y, s):
        slope = direction * _array(rhs(y, direction * s, *args))
        if shape_of(slope) != shape_of(y):
            raise ShapeError(f"odeint: func returns shape {shape_of(slope)} for y of shape {shape_of(y)}; it "
                             "must return dy/dt, of y's shape", user_frame())
        return slope if slope.dtype == y.dtype else slope.astype(y.dtype)

    return f, direction * t


def _solve(rhs, options: _Options, y0, t, args: tuple):
    """``y`` at each of ``t`` (``t[0]``: ``y0``)."""
    f, s = _in_direction(rhs, t, args)
    recorded, _ = _integrate(f, y0, s[0], s[1:], options)
    return np.concatenate([y0[None], recorded])


def _first_step(f, y0, f0, s0, options: _Options):
    """Hairer, Norsett and Wanner's starting step (Solving ODEs I, II.4) for a method of order 4."""
    scale = np.maximum(options.atol + np.abs(y0) * options.rtol, _TINY)
    d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.maximum(d1, 1e-300))
    f1 = f(y0 + h0 * f0, s0 + h0)
    d2 = _rms((f1 - f0) / scale) / h0
    largest = np.maximum(d1, d2)
    h1 = np.where(largest <= 1e-15, np.maximum(1e-6, h0 * 1e-3), (0.01 / np.maximum(largest, 1e-300)) ** 0.2)
    return np.minimum(np.minimum(100 * h0, h1), options.hmax)


def _rms(x):
    return np.sqrt(np.mean(x * x))


def _dormand_prince(f, y, slope, s, h):
    """One step: the new value, its slope (the last stage: the next step's first) and the error
    estimate. The stages are a scan over the tableau's rows, so the graph holds ``func`` once, not
    once a stage (a sixth of the code for Numba to compile)."""
    shape = shape_of(y)
    flat = np.ravel(slope)

    def stage(stages, row):
        weights, time, mine = row
        k = np.ravel(f(y + h * np.reshape(weights @ stages, shape), s + time * h))
        return stages + mine[:, None] * k[None, :], None  # row i, zero until now, becomes k exactly

    # Elementwise products with one-hot rows rather than np.where and np.concatenate: they fuse into
    # loops, where Numba compiles an overload of each of those per kernel.
    rows = np.eye(7)
    stages, _ = scan(stage, rows[0][:, None] * flat[None, :], (_TABLEAU[1:], _TIMES[1:], rows[1:]))
    y_new = y + h * np.reshape(_TABLEAU[6] @ stages, shape)
    return y_new, np.reshape(stages[6], shape), h * np.reshape(_ERROR @ stages, shape)


def _error_ratio(error, y, y_new, options: _Options):
    return _rms(error / np.maximum(options.atol + options.rtol * np.maximum(np.abs(y), np.abs(y_new)), _TINY))


# ---- the adjoint method ----------------------------------------------------------------------------
def _odeint_value(rhs, options, y0, t, *args):
    return _solve(rhs, options, y0, t, args)


def _odeint_forward(rhs, options, y0, t, *args):
    ys = _solve(rhs, options, y0, t, args)
    return ys, (ys, t, args)


def _odeint_backward(rhs, options, residuals, g):
    from graphc.api import vjp

    ys, t, args = residuals
    y_shape, n = shape_of(ys)[1:], int(np.prod(shape_of(ys)[1:], dtype=np.int64))
    leaves, tree = tree_flatten(args)
    wrt = [i for i, leaf in enumerate(leaves) if np.dtype(getattr(leaf, "dtype", np.float64)).kind == "f"]
    sizes = [int(np.prod(shape_of(leaves[i]), dtype=np.int64)) for i in wrt]

    def with_leaves(chosen):
        values = list(leaves)
        for i, value in zip(wrt, chosen):
            values[i] = value
        return tree_unflatten(tree, values)

    def augmented(z, time, *args):
        """d/dt of (y, a, p), flat: y' = f, a' = -a^T df/dy, p' = -a^T df/dp."""
        y, a = np.reshape(z[:n], y_shape), np.reshape(z[n:2 * n], y_shape)
        chosen = [tree_flatten(args)[0][i] for i in wrt]
        slope, pullback = vjp(lambda y, *p: _array(rhs(y, time, *with_leaves(p))), y, *chosen)
        bars = pullback(a)
        return np.concatenate([np.ravel(slope), -np.ravel(bars[0])] + [-np.ravel(b) for b in bars[1:]])

    # Backward from t[-1] to t[0], stopping at each earlier output time: there y restarts from the
    # forward solution and a takes that output's cotangent (none at t[0]: a(t0) excludes g[0]).
    count = shape_of(t)[0]
    ys_flat, g_flat = np.reshape(ys, (count, n)), np.reshape(g, (count, n))
    # Outputs at t[-1] itself (a repeated last time) seed a: the solve starts there and lands on no stop
    # at its own start.
    at_end = np.concatenate([np.zeros(1), np.where(t[1:] == t[-1], 1.0, 0.0)])
    later = np.concatenate([np.zeros((1, n)), g_flat[1:-1]]) * (1.0 - at_end[:-1])[:, None]

    def arrive(z, at):
        landing = np.sum(at) > 0
        y = (at[::-1] / np.maximum(np.sum(at), 1.0)) @ ys_flat[:-1]  # stops run t[-2], ..., t[0]
        return np.concatenate([np.where(landing, y, z[:n]), z[n:2 * n] + at[::-1] @ later, z[2 * n:]])

    f, s = _in_direction(augmented, t[::-1], args)
    z0 = np.concatenate([ys_flat[-1], at_end @ g_flat, np.zeros(sum(sizes))])
    _, z = _integrate(f, z0, s[0], s[1:], options, arrive=arrive)
    a, p = np.reshape(z[n:2 * n], y_shape), z[2 * n:]
    # dL/dt_i = g_i . f(y_i, t_i) for i > 0; dL/dt_0 = -a(t0) . f(y0, t0).
    def time_cotangent(_, x):
        y_i, t_i, g_i = x
        return None, np.sum(_array(rhs(y_i, t_i, *args)) * g_i)

    _, t_bars = scan(time_cotangent, None, (ys[1:], t[1:], g[1:]))
    t0_bar = -np.sum(_array(rhs(ys[0], t[0], *args)) * a)
    arg_bars, offset = [np.zeros(shape_of(leaf)) for leaf in leaves], 0
    for i, size in zip(wrt, sizes):
        arg_bars[i] = np.reshape(p[offset:offset + size], shape_of(leaves[i]))
        offset += size
    return (a + g[0], np.concatenate([t0_bar[None], t_bars]), *tree_unflatten(tree, arg_bars))


_odeint_value.__name__ = _odeint_value.__qualname__ = "odeint"  # as errors name it
_odeint = custom_vjp(_odeint_value, nondiff_argnums=(0, 1))
_odeint.defvjp(_odeint_forward, _odeint_backward)
