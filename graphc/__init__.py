"""graphc: trace NumPy functions into graphs, differentiate them, compile them with Numba.

>>> import graphc
>>> graphc.value_and_grad(lambda x, y, z: (x + y) * z, argnums=(0, 1, 2))(1.0, 3.0, -3.0)
(np.float64(-12.0), (np.float64(-3.0), np.float64(-3.0), np.float64(4.0)))
"""
from graphc.errors import GraphcError
from graphc.graph import Graph
from graphc.ops.composite import logsumexp, softmax
from graphc.ops.elementwise import relu, sigmoid
from graphc.tree import ravel_pytree, tree_flatten, tree_unflatten
from graphc.api import (
    checkpoint, custom_jvp, custom_vjp, grad, hessian, hvp, jacfwd, jacobian, jacrev, jit, jvp, stop_gradient, trace, value_and_grad, vjp, vmap,
)
from graphc.control import cond, fori_loop, scan, while_loop

__version__ = "0.1.0"

__all__ = [
    "GraphcError", "Graph", "checkpoint", "cond", "custom_jvp", "custom_vjp", "fori_loop", "grad", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jit",
    "jvp", "logsumexp", "relu", "scan", "sigmoid", "softmax", "stop_gradient", "ravel_pytree", "trace",
    "tree_flatten", "tree_unflatten", "value_and_grad", "vjp", "vmap", "while_loop",
]
