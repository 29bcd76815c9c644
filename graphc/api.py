"""The public transformations: jit, grad, value_and_grad, hessian, vmap, and trace.

Each returns a :class:`CompiledFunction`. On the first call for an argument signature
(pytree structure, shapes and dtypes) it traces the function, differentiates it if asked,
optimizes and compiles the graph, and keeps the result; later calls with the same signature
reuse it. Called on tracers (inside another transformation) it inlines its graph instead,
which is how ``grad(grad(f))`` works.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from graphc.graph import Graph
from graphc.tracer import trace_function
from graphc.tree import tree_flatten, tree_unflatten
from graphc.arguments import as_tuple, normalize_argnums, parameter_names
from graphc.transformed import Transformed, _unpickle_transformed

__all__ = ["grad", "hessian", "jit", "trace", "value_and_grad", "vmap", "Transformed", "_unpickle_transformed"]


def jit(fun: Callable, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """Compile ``fun`` for each argument signature it is called with.

    ``static_argnums``/``static_argnames`` name arguments that are constants of the compiled code
    (``range(n)``, an axis, a flag): their values are part of the signature, so a new value compiles
    again. Strings and callables are static wherever they appear; keyword arguments are traced
    like positional ones unless named static.

    ``tiered`` (default: ``$GRAPHC_TIERED``, else True): the first calls for a new signature run the
    optimized graph with NumPy while the Numba kernel compiles in the background, and later calls
    switch to the kernel once it is ready. ``tiered=False`` waits for the kernel instead; ``"numpy"``
    never compiles. ``f.lower(*args)`` always returns with the kernel compiled.

    >>> import numpy as np, graphc
    >>> f = graphc.jit(lambda x: np.sum(np.exp(x)))
    >>> float(f(np.zeros(3)))
    3.0
    >>> power = graphc.jit(lambda x, n: x ** n, static_argnums=1)
    >>> float(power(2.0, 3)), float(power(2.0, 4))
    (8.0, 16.0)
    """
    return Transformed(fun, "jit", static_argnums=static_argnums, static_argnames=static_argnames,
                       tiered=tiered).function()


def grad(fun: Callable, argnums=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """The gradient of scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    ``static_argnums``/``static_argnames`` and ``tiered`` as for :func:`jit`.

    >>> import graphc
    >>> graphc.grad(lambda x, y, z: (x + y) * z, argnums=(0, 1, 2))(1.0, 3.0, -3.0)
    (np.float64(-3.0), np.float64(-3.0), np.float64(4.0))
    """
    return Transformed(fun, "grad", argnums, static_argnums=static_argnums,
                       static_argnames=static_argnames, tiered=tiered).function()


def value_and_grad(fun: Callable, argnums=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """``(fun(*args), grad(fun, argnums)(*args))`` from one evaluation. Keywords as for :func:`grad`."""
    return Transformed(fun, "value_and_grad", argnums, static_argnums=static_argnums,
                       static_argnames=static_argnames, tiered=tiered).function()


def vmap(fun: Callable, in_axes=0, out_axes=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """``fun`` of one example, mapped over a batch axis: ``in_axes`` says which axis of each argument
    is the batch's (None: the same for every example), ``out_axes`` where the results get it. Traced
    once on one example and batched by a graph pass, then compiled per signature like :func:`jit`;
    composes with every other transformation (``vmap(grad(f))``: per-example gradients).

    >>> import numpy as np, graphc
    >>> graphc.vmap(lambda w, x: np.sum(w * x), in_axes=(None, 0))(np.ones(3), np.arange(6.0).reshape(2, 3))
    array([ 3., 12.])
    """
    return Transformed(fun, "vmap", static_argnums=static_argnums, static_argnames=static_argnames,
                       tiered=tiered, axes=(in_axes, out_axes)).function()


def hessian(fun: Callable, argnums=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """Second derivatives of scalar-valued ``fun``: the gradient graph differentiated again.

    For one argument of shape ``s`` the result has shape ``s + s``; for a tuple of argnums it is a
    nested tuple of blocks, ``H[i][j] = d2 f / d arg_i d arg_j``. Each row is one more reverse sweep
    over the gradient graph, so the graph grows with the argument's size: meant for small arguments.
    """
    names = as_tuple(static_argnames, str, "static_argnames", "hessian")
    positions = as_tuple(static_argnums, int, "static_argnums", "hessian") + tuple(
        i for i, p in enumerate(parameter_names(fun)) if p in names)
    statics = dict(static_argnums=positions, static_argnames=names)
    return jit(_jacobian(grad(fun, argnums, **statics), argnums, statics), **statics, tiered=tiered)


def _jacobian(fun: Callable, argnums, statics: dict) -> Callable:
    """Reverse-mode Jacobian of ``fun``, one gradient per output element, for pytrees of arrays.

    The result has ``fun``'s output structure with each leaf replaced by the differentiated
    arguments' structure, whose leaves are blocks of shape ``output leaf shape + argument leaf shape``.
    """

    def jacobian(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), "hessian")
        selected = tuple(args[n] for n in nums) if isinstance(argnums, (tuple, list)) else args[nums[0]]
        in_leaves, in_tree = tree_flatten(selected)
        out_leaves, out_tree = tree_flatten(fun(*args, **kwargs))
        rows_per_output = []
        for i, out in enumerate(out_leaves):
            def element(*a, i=i, k=0, **kw):
                return np.reshape(tree_flatten(fun(*a, **kw))[0][i], (-1,))[k]

            rows = [tree_flatten(grad(functools.partial(element, i=i, k=k), argnums=argnums, **statics)(*args, **kwargs))[0]
                    for k in range(int(np.size(out)))]
            blocks = []
            for j, x in enumerate(in_leaves):
                stacked = np.stack([r[j] for r in rows]) if rows else np.zeros((0,) + np.shape(x))
                blocks.append(np.reshape(stacked, np.shape(out) + np.shape(x)))
            rows_per_output.append(tree_unflatten(in_tree, blocks))
        return tree_unflatten(out_tree, rows_per_output)

    return jacobian


def trace(fun: Callable, *args, **kwargs) -> Graph:
    """The graph of ``fun`` at ``args``, unoptimized. For ``trace(grad(f), x)`` the gradient graph.

    >>> import graphc
    >>> g = graphc.trace(lambda x, y: (x + y) * x, 1.0, 2.0)
    >>> len(g), g.outputs
    (4, [3])
    """
    transformed = getattr(fun, "__graphc_transform__", None)
    if isinstance(transformed, Transformed):
        return transformed.traced_graph(*args, **kwargs)
    return trace_function(fun, args, kwargs)
