"""Op test rows for graphc/ops/calls.py (checkpoint, custom_vjp); merged into op_cases.CASES.

Each row's NumPy expectation is the function called plainly; the custom rules here are the true
derivatives, so the table's finite-difference and transposition checks hold them to it.
"""
from __future__ import annotations

import numpy as np

import graphc
from op_cases import case


def _layer(x, w):
    return np.tanh(np.sin(x) * w + x)


_checkpointed_layer = graphc.checkpoint(_layer)


@graphc.custom_vjp
def _softplus(x):
    return np.log1p(np.exp(x))


def _softplus_fwd(x):
    return _softplus(x), x


def _softplus_bwd(x, g):
    return (g / (1.0 + np.exp(-x)),)


_softplus.defvjp(_softplus_fwd, _softplus_bwd)


@graphc.custom_jvp
def _scaled_sin(x, a):
    return np.sin(x) * a


@_scaled_sin.defjvp
def _scaled_sin_jvp(primals, tangents):
    (x, a), (tx, ta) = primals, tangents
    return _scaled_sin(x, a), np.cos(x) * a * tx + np.sin(x) * ta


CASES = {
    "checkpoint": [
        case(_checkpointed_layer, (3,), (3,), id="layer", expected=_layer),
        case(lambda x, w: _checkpointed_layer(_checkpointed_layer(x, w), w), (2, 3), (3,), id="two-layers",
             expected=lambda x, w: _layer(_layer(x, w), w)),
    ],
    "custom_vjp": [
        case(_softplus, (4,), id="custom_vjp", expected=lambda x: np.log1p(np.exp(x))),
        case(_scaled_sin, (3,), (3,), id="custom_jvp", expected=lambda x, a: np.sin(x) * a),
    ],
}
