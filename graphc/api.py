"""The public transformations: jit, grad, value_and_grad, hessian, vmap, and trace.

Each returns a :class:`CompiledFunction`. On the first call for an argument signature
(pytree structure, shapes and dtypes) it traces the function, differentiates it if asked,
optimizes and compiles the graph, and keeps the result; later calls with the same signature
reuse it. Called on tracers (inside another transformation) it inlines its graph instead,
which is how ``grad(grad(f))`` works.
"""
from __future__ import annotations

from typing import Callable

from graphc.errors import SignatureError
from graphc.ops import apply
from graphc.tree import tree_flatten, tree_unflatten
from graphc.graph import Graph
from graphc.residuals import Pullback, replay, split_vjp
from graphc.tracer import Tracer, current_graph, trace_function
from graphc.arguments import as_tuple, parameter_names, signature_key
from graphc.transformed import Transformed, _unpickle_transformed
from graphc.custom import checkpoint, custom_jvp, custom_vjp

__all__ = ["checkpoint", "custom_jvp", "custom_vjp", "grad", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jit", "jvp", "stop_gradient", "trace", "vjp",
           "value_and_grad", "vmap",
           "Transformed", "_unpickle_transformed"]


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


def grad(fun: Callable, argnums=0, has_aux=False, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """The gradient of scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    ``static_argnums``/``static_argnames`` and ``tiered`` as for :func:`jit`.

    >>> import graphc
    >>> graphc.grad(lambda x, y, z: (x + y) * z, argnums=(0, 1, 2))(1.0, 3.0, -3.0)
    (np.float64(-3.0), np.float64(-3.0), np.float64(4.0))
    """
    return Transformed(fun, "grad", argnums, static_argnums=static_argnums,
                       static_argnames=static_argnames, tiered=tiered, has_aux=has_aux).function()


def value_and_grad(fun: Callable, argnums=0, has_aux=False, static_argnums=(), static_argnames=(),
                   tiered=None) -> Callable:
    """``(fun(*args), grad(fun, argnums)(*args))`` from one evaluation; with ``has_aux``,
    ``((value, aux), grads)``. Keywords as for :func:`grad`."""
    return Transformed(fun, "value_and_grad", argnums, static_argnums=static_argnums,
                       static_argnames=static_argnames, tiered=tiered, has_aux=has_aux).function()


def stop_gradient(x):
    """``x`` (a pytree of arrays), with a derivative of zero: what flows through it is a constant to
    every differentiation, as ``jax.lax.stop_gradient``."""
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [apply("stop_gradient", leaf) for leaf in leaves])


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


def jacfwd(fun: Callable, argnums=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """The Jacobian of ``fun`` by forward mode: every basis tangent pushed through at once (a batch of
    one-hot tangents over the forward-mode graph), so the graph does not grow with the input's size.

    Shapes as JAX's: ``output shape + argument shape`` per output leaf; pytree outputs and arguments keep
    their structure (each output leaf replaced by the arguments'). Keywords as for :func:`grad`.

    >>> import numpy as np, graphc
    >>> graphc.jacfwd(lambda x: x ** 2)(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    return Transformed(fun, "jacfwd", argnums, static_argnums=static_argnums, static_argnames=static_argnames,
                       tiered=tiered).function()


def jacrev(fun: Callable, argnums=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """The Jacobian of ``fun`` by reverse mode (a batch of one-hot cotangents over the reverse sweep);
    shapes and keywords as for :func:`jacfwd`. ``graphc.jacobian`` is this."""
    return Transformed(fun, "jacrev", argnums, static_argnums=static_argnums, static_argnames=static_argnames,
                       tiered=tiered).function()


jacobian = jacrev


def jvp(fun: Callable, primals, tangents):
    """``(fun(*primals), J @ tangents)``: the Jacobian-vector product by forward mode, as ``jax.jvp``.
    ``primals`` and ``tangents`` are tuples (or lists) of the same structure, shapes and dtypes. The
    forward-mode graph compiles once per ``fun`` and signature.

    >>> import numpy as np, graphc
    >>> graphc.jvp(np.sin, (0.0,), (2.0,))
    (0.0, 2.0)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise SignatureError("jvp takes its primals and tangents as tuples: jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise SignatureError(f"jvp got {len(primals)} primals and {len(tangents)} tangents")
    pushed = _per_function(fun, ("jvp", len(primals)), lambda: Transformed(fun, "jvp").function())
    return pushed(*primals, *tangents)


def vjp(fun: Callable, *primals):
    """``(fun(*primals), vjp_fun)`` as ``jax.vjp``: ``vjp_fun(cotangent)``, the cotangent shaped like the
    output (any pytree, any shape), returns a tuple with one cotangent per primal. The forward pass runs
    once and keeps what the backward pass reads, so each ``vjp_fun`` call runs only the backward pass
    (:mod:`graphc.residuals`). Both compile once per ``fun`` and signature.

    >>> import numpy as np, graphc
    >>> out, pull = graphc.vjp(lambda x: x * np.arange(3.0), np.ones(3))
    >>> pull(np.ones(3))
    (array([0., 1., 2.]),)
    """
    leaves, tree = tree_flatten(primals)
    if current_graph() is not None or any(isinstance(leaf, Tracer) for leaf in leaves):
        # Inside another transformation: one graph that the caller's inlines, recomputing the forward.
        pull = _per_function(fun, ("vjp", len(primals)), lambda: Transformed(fun, "vjp").function())
        return _per_function(fun, ("jit",), lambda: jit(fun))(*primals), lambda cotangent: pull(*primals, cotangent)
    forward, backward, split = _per_function(fun, ("vjp-split", signature_key(leaves, tree)),
                                             lambda: _split_vjp(fun, primals))
    results = forward(*leaves)
    count = len(split.out_avals)
    return tree_unflatten(split.out_tree, list(results[:count])), Pullback(split, backward, results[count:])


def _split_vjp(fun: Callable, primals: tuple) -> tuple:
    """The forward (outputs and residuals) and backward (from residuals) parts of ``vjp(fun)``, jitted."""
    split = split_vjp(fun, primals)
    return jit(replay(split.forward)), jit(replay(split.backward)), split


def hvp(fun: Callable, primals, tangents):
    """The Hessian-vector product ``H @ tangents`` of scalar ``fun`` at ``primals``: ``jvp`` of its
    gradient (forward over reverse), so no n x n matrix is formed. For one primal an array shaped like
    it; for several, a tuple."""
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    gradient = _per_function(fun, ("hvp", len(primals)), lambda: grad(fun, argnums=argnums))
    return jvp(gradient, primals, tangents)[1]


#: jvp and hvp of objects with no __dict__ (NumPy ufuncs): a few, kept strongly.
_MADE_FOR_OBJECTS: dict = {}


def _per_function(fun: Callable, key: tuple, make: Callable) -> Callable:
    """The transformation ``make()`` of ``fun``, made once: calling ``jvp(f, ...)`` again reuses the
    compile. Kept in the function's own ``__dict__``, so it lives and dies with the function."""
    store = getattr(fun, "__dict__", None)
    if not isinstance(store, dict):
        store = _MADE_FOR_OBJECTS.setdefault(fun, {}) if len(_MADE_FOR_OBJECTS) < 64 else {}
    else:
        store = store.setdefault("__graphc_made__", {})
    if key not in store:
        store[key] = make()
    return store[key]


def hessian(fun: Callable, argnums=0, static_argnums=(), static_argnames=(), tiered=None) -> Callable:
    """Second derivatives of scalar-valued ``fun``: ``jacfwd(grad(fun))``, forward over reverse.

    For one argument of shape ``s`` the result has shape ``s + s``; for a tuple of argnums it is a
    nested tuple of blocks, ``H[i][j] = d2 f / d arg_i d arg_j``. All rows come from one batched
    forward sweep over the gradient graph, so the graph's size does not grow with the argument's.
    """
    names = as_tuple(static_argnames, str, "static_argnames", "hessian")
    positions = as_tuple(static_argnums, int, "static_argnums", "hessian") + tuple(
        i for i, p in enumerate(parameter_names(fun)) if p in names)
    statics = dict(static_argnums=positions, static_argnames=names)
    return jacfwd(grad(fun, argnums, **statics), argnums, **statics, tiered=tiered)


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
