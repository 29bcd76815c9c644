"""Op test rows for graphc/ops/manip.py; merged into op_cases.CASES.

Every manip function is a composite, so its rows are COMPOSITE_CASES (no primitive rows). Functions that
return several arrays (atleast_Nd of several arguments, the splits) are checked through one array made of
all of them, each piece weighted differently, so a piece swapped or mis-sized shows.
"""
from __future__ import annotations

import numpy as np

from op_cases import BOOL, REAL, case

CASES: dict = {}


def _joined(pieces, axis=0):
    """The pieces of a split (or tuple) as one array, piece i scaled by i + 1."""
    return np.concatenate([p * (i + 1.0) for i, p in enumerate(pieces)], axis=axis)


def _flat(pieces):
    return np.concatenate([np.ravel(p) * (i + 1.0) for i, p in enumerate(pieces)])


COMPOSITE_CASES = [
    # ---- ravel / flatten ----
    case(lambda x: np.ravel(x), (2, 3), id="np.ravel-2d"),
    case(lambda x: np.ravel(x), (), id="np.ravel-0d"),
    case(lambda x: np.ravel(x[:, ::2]), (2, 3, 4), id="np.ravel-of-slice"),
    case(lambda x: x.ravel(), (4,), id="method-ravel-1d"),
    case(lambda x: x.flatten(), (2, 1, 3), id="method-flatten"),
    # ---- atleast_Nd ----
    case(lambda x: np.atleast_1d(x), (), id="np.atleast_1d-0d"),
    case(lambda x: np.atleast_1d(x), (2, 3), id="np.atleast_1d-2d"),
    case(lambda x, y: _flat(np.atleast_1d(x, y)), (), (3,), id="np.atleast_1d-two"),
    case(lambda x: np.atleast_2d(x), (), id="np.atleast_2d-0d"),
    case(lambda x: np.atleast_2d(x), (3,), id="np.atleast_2d-1d"),
    case(lambda x: np.atleast_2d(x), (2, 3, 4), id="np.atleast_2d-3d"),
    case(lambda x, y, z: _flat(np.atleast_2d(x, y, z)), (), (3,), (2, 2), id="np.atleast_2d-three"),
    case(lambda x: np.atleast_3d(x), (), id="np.atleast_3d-0d"),
    case(lambda x: np.atleast_3d(x), (3,), id="np.atleast_3d-1d"),
    case(lambda x: np.atleast_3d(x), (2, 3), id="np.atleast_3d-2d"),
    case(lambda x, y: _flat(np.atleast_3d(x, y)), (4,), (2, 3), id="np.atleast_3d-two"),
    # ---- axis permutations ----
    case(lambda x: np.moveaxis(x, 0, -1), (2, 3, 4), id="np.moveaxis-0-to-1"),
    case(lambda x: np.moveaxis(x, -1, 0), (2, 3, 4), id="np.moveaxis--1-to-0"),
    case(lambda x: np.moveaxis(x, (0, 1), (2, 0)), (2, 3, 4), id="np.moveaxis-two"),
    case(lambda x: np.moveaxis(x, 1, 1), (2, 3), id="np.moveaxis-identity"),
    case(lambda x: np.swapaxes(x, 0, 2), (2, 3, 4), id="np.swapaxes"),
    case(lambda x: np.swapaxes(x, -1, -2), (2, 3), id="np.swapaxes-negative"),
    case(lambda x: x.swapaxes(1, 0), (2, 3), id="method-swapaxes"),
    case(lambda x: np.rollaxis(x, 2), (2, 3, 4), id="np.rollaxis"),
    case(lambda x: np.rollaxis(x, 0, 3), (2, 3, 4), id="np.rollaxis-start3"),
    case(lambda x: np.rollaxis(x, -1, 1), (2, 3, 4), id="np.rollaxis-negative"),
    case(lambda x: np.rollaxis(x, 1, -1), (2, 3, 4), id="np.rollaxis-start-1"),
    # ---- tile ----
    case(lambda x: np.tile(x, 3), (2,), id="np.tile-1d"),
    case(lambda x: np.tile(x, (2, 2)), (2, 3), id="np.tile-2d"),
    case(lambda x: np.tile(x, (2, 1, 3)), (2, 3), id="np.tile-reps-longer"),
    case(lambda x: np.tile(x, 2), (2, 3), id="np.tile-reps-shorter"),
    case(lambda x: np.tile(x, (3, 2)), (), id="np.tile-0d"),
    case(lambda x: np.tile(x, (1, 1)), (3,), id="np.tile-ones"),
    # ---- repeat ----
    case(lambda x: np.repeat(x, 2), (2, 3), id="np.repeat-flat"),
    case(lambda x: np.repeat(x, 3), (), id="np.repeat-0d"),
    case(lambda x: np.repeat(x, 2, axis=0), (2, 3), id="np.repeat-axis0"),
    case(lambda x: np.repeat(x, 2, axis=-1), (2, 3, 2), id="np.repeat-axis-1"),
    case(lambda x: np.repeat(x, [1, 0, 2], axis=1), (2, 3), id="np.repeat-counts-axis1"),
    case(lambda x: np.repeat(x, [2, 2, 1, 3]), (4,), id="np.repeat-counts-runs"),
    case(lambda x: np.repeat(x, np.array([3, 1]), axis=-2), (2, 3), id="np.repeat-counts-ndarray"),
    case(lambda x: np.repeat(x, [2]), (3,), id="np.repeat-one-count"),
    case(lambda x: x.repeat(2, axis=1), (2, 3), id="method-repeat"),
    # ---- flips and rotations ----
    case(lambda x: np.flip(x), (2, 3), id="np.flip-all"),
    case(lambda x: np.flip(x), (), id="np.flip-0d"),
    case(lambda x: np.flip(x, 0), (4,), id="np.flip-1d"),
    case(lambda x: np.flip(x, -1), (2, 3, 4), id="np.flip-axis-1"),
    case(lambda x: np.flip(x, (0, 2)), (2, 3, 4), id="np.flip-axes"),
    case(lambda x: np.fliplr(x), (2, 3), id="np.fliplr"),
    case(lambda x: np.fliplr(x), (2, 3, 2), id="np.fliplr-3d"),
    case(lambda x: np.flipud(x), (3,), id="np.flipud-1d"),
    case(lambda x: np.flipud(x), (3, 2), id="np.flipud-2d"),
    case(lambda x: np.rot90(x), (2, 3), id="np.rot90"),
    case(lambda x: np.rot90(x, 2), (2, 3), id="np.rot90-k2"),
    case(lambda x: np.rot90(x, 3), (2, 3), id="np.rot90-k3"),
    case(lambda x: np.rot90(x, -1), (2, 3), id="np.rot90-k-1"),
    case(lambda x: np.rot90(x, 4), (2, 3), id="np.rot90-k4"),
    case(lambda x: np.rot90(x, 1, axes=(2, 0)), (2, 3, 4), id="np.rot90-axes(2,0)"),
    case(lambda x: np.rot90(x, 3, axes=(-1, 1)), (2, 3, 4), id="np.rot90-axes(-1,1)"),
    # ---- roll ----
    case(lambda x: np.roll(x, 1), (5,), id="np.roll-1d"),
    case(lambda x: np.roll(x, -2), (2, 3), id="np.roll-flat"),
    case(lambda x: np.roll(x, 7, axis=1), (2, 3), id="np.roll-wraps"),
    case(lambda x: np.roll(x, 3, axis=0), (3, 2), id="np.roll-full-turn"),
    case(lambda x: np.roll(x, (1, -1), axis=(0, -1)), (2, 3, 4), id="np.roll-two-axes"),
    case(lambda x: np.roll(x, (1, 1), axis=(1, 1)), (2, 3), id="np.roll-same-axis-twice"),
    case(lambda x: np.roll(x, [1, 2], axis=0), (4, 2), id="np.roll-shifts-one-axis"),
    case(lambda x: np.roll(x, 1), (), id="np.roll-0d"),
    # ---- pad ----
    case(lambda x: np.pad(x, 1), (3,), id="np.pad-1d"),
    case(lambda x: np.pad(x, (1, 2)), (2, 3), id="np.pad-before-after"),
    case(lambda x: np.pad(x, ((0, 1), (2, 0))), (2, 3), id="np.pad-per-axis"),
    case(lambda x: np.pad(x, ((1,), (2,))), (2, 3), id="np.pad-per-axis-both"),
    case(lambda x: np.pad(x, [[1, 1]]), (2, 2, 2), id="np.pad-3d"),
    case(lambda x: np.pad(x, 1, constant_values=2.5), (2, 2), id="np.pad-value"),
    case(lambda x: np.pad(x, ((1, 1), (1, 1)), constant_values=((1.0, 2.0), (3.0, 4.0))), (2, 3),
         id="np.pad-values-corners"),
    case(lambda x: np.pad(x, (1, 2), mode="constant", constant_values=(-1.0, 5.0)), (3,), id="np.pad-mode"),
    case(lambda x: np.pad(x, {1: (1, 2)}), (2, 2), id="np.pad-dict"),
    case(lambda x: np.pad(x, 2), (), id="np.pad-0d"),
    case(lambda x, v: np.pad(x, 1, constant_values=v), (2, 2), (), id="np.pad-traced-value"),
    # ---- split ----
    case(lambda x: _joined(np.split(x, 3)), (6,), id="np.split-sections"),
    case(lambda x: _joined(np.split(x, [1, 3], axis=1), axis=1), (2, 4), id="np.split-indices-axis1"),
    case(lambda x: _joined(np.split(x, [-1, 10])), (5,), id="np.split-negative-and-past-end"),
    case(lambda x: _joined(np.split(x, 2, axis=-1), axis=-1), (2, 3, 4), id="np.split-axis-1"),
    case(lambda x: _joined(np.array_split(x, 3)), (5,), id="np.array_split-uneven"),
    case(lambda x: _joined(np.array_split(x, 4, axis=1), axis=1), (2, 3), id="np.array_split-more-than-n"),
    case(lambda x: _joined(np.array_split(x, [2])), (4, 2), id="np.array_split-indices"),
    case(lambda x: _joined(np.vsplit(x, 2)), (4, 3), id="np.vsplit"),
    case(lambda x: _joined(np.hsplit(x, [1])), (5,), id="np.hsplit-1d"),
    case(lambda x: _joined(np.hsplit(x, 3), axis=1), (2, 3, 2), id="np.hsplit-3d"),
    case(lambda x: _joined(np.dsplit(x, [1, 2]), axis=2), (2, 2, 4), id="np.dsplit"),
    case(lambda x: np.stack(np.split(x, 2)), (4, 3), id="np.split-then-stack"),
    # ---- stacking ----
    case(lambda x, y: np.vstack([x, y]), (3,), (3,), id="np.vstack-1d"),
    case(lambda x, y: np.vstack((x, y)), (2, 3), (1, 3), id="np.vstack-2d"),
    case(lambda x, y: np.vstack([x, y]), (), (1,), id="np.vstack-0d"),
    case(lambda x, y: np.hstack([x, y]), (3,), (2,), id="np.hstack-1d"),
    case(lambda x, y: np.hstack([x, y]), (2, 1), (2, 3), id="np.hstack-2d"),
    case(lambda x, y: np.hstack((x, y)), (), (), id="np.hstack-0d"),
    case(lambda x, y: np.dstack([x, y]), (3,), (3,), id="np.dstack-1d"),
    case(lambda x, y: np.dstack([x, y]), (2, 3), (2, 3, 2), id="np.dstack-2d-3d"),
    case(lambda x, y: np.column_stack([x, y]), (3,), (3,), id="np.column_stack-1d"),
    case(lambda x, y: np.column_stack((x, y)), (3,), (3, 2), id="np.column_stack-mixed"),
    case(lambda x, y: np.column_stack([x, y]), (), (1, 2), id="np.column_stack-0d"),
    case(lambda x: np.vstack([x, np.arange(3.0)]), (3,), id="np.vstack-with-ndarray"),
    case(lambda x: np.hstack([np.ones(2), x, [5.0]]), (3,), id="np.hstack-with-list"),
    case(lambda x: np.column_stack([np.zeros(2), x]), (2, 2), id="np.column_stack-with-ndarray"),
    # ---- select ----
    case(lambda x: np.select([x < -0.5, x > 0.5], [x * 2.0, x ** 2]), (2, 3), id="np.select"),
    case(lambda x, y: np.select([x > y, x < 0.0], [x, y], default=-1.0), (2, 3), (3,), id="np.select-default"),
    case(lambda c, x: np.select([c], [x], default=x * 3.0), (2, 1), (3,), domains=(BOOL, REAL),
         id="np.select-bool-input"),
    # ---- piecewise ----
    case(lambda x: np.piecewise(x, [x < -0.5, x > 0.5], [lambda v: -v, lambda v: v ** 2, lambda v: np.sin(v)]),
         (2, 3), id="np.piecewise-otherwise"),
    case(lambda x, k: np.piecewise(x, x > 0.0, [lambda v, k: v * k], k), (4,), (), id="np.piecewise-args"),
    case(lambda x: np.piecewise(x, [x < 0.0, x > 0.3], [-1.0, lambda v: np.exp(v)]) * x, (5,),
         id="np.piecewise-constants-overlap"),
    case(lambda x: np.piecewise(x, [True, False, True, False], [lambda v: v * 3.0]), (4,), id="np.piecewise-bool-list"),
    case(lambda x: np.piecewise(x, np.stack([x < 0.0, x > 0.5]), [np.sin, 0.5]), (2, 3), id="np.piecewise-stacked"),
    case(lambda x: np.piecewise(x, x > 0.0, [lambda v: v * v, lambda v: -v]), (), id="np.piecewise-0d"),
    case(lambda x: np.select([x > 0.0, x > 1.0], [1.0, x]), (4,), id="np.select-scalar-choice"),
    case(lambda x, d: np.select([x > 0.0], [x], default=d), (), (2, 2), id="np.select-traced-default"),
    case(lambda x: np.select([x > 0.0, np.array([True, False, True])], [x, np.arange(3.0)], default=x),
         (3,), id="np.select-with-ndarray"),
]

if hasattr(np, "row_stack"):  # NumPy deprecated np.row_stack in 2.0; NumPy's own result comes from vstack
    COMPOSITE_CASES.append(case(lambda x, y: np.row_stack([x, y]), (3,), (2, 3), id="np.row_stack",
                                expected=lambda x, y: np.vstack([x, y])))
