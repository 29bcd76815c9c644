"""Gradient rules of the user's own (``custom_vjp``, ``custom_jvp``) and rematerialization
(``checkpoint``), with JAX's semantics.

A function with a custom rule is traced as ordinary nodes (what it computes) followed by one
``custom_vjp`` node that passes the results through and holds the rule as a body graph that maps
cotangents of the results to cotangents of the arguments (:mod:`graphc.ops.calls`). Every mode reads
that one rule: reverse mode inlines it; forward mode (a transposition of reverse mode,
:mod:`graphc.passes.forward`) transposes it back, so ``jvp`` works on a ``custom_vjp`` function too
when its rule is linear in the cotangents (JAX refuses forward mode of every custom_vjp; graphc only
of those whose rule is not, such as a clipped gradient); a ``custom_jvp`` rule is turned into that
form once, when the function is traced, by transposing the user's (linear) tangent map. Optimization,
which runs after differentiation, drops the node.

>>> import numpy as np, graphc
>>> @graphc.custom_vjp
... def clip_gradient(x):
...     return x
>>> clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (np.clip(g, -1.0, 1.0),))
>>> float(graphc.grad(lambda x: 3.0 * clip_gradient(x))(2.0))
1.0
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from graphc.control import _aval, _as_array, _close, _fn_name, _operand_tracers, trace_body
from graphc.errors import TracingError, user_frame
from graphc.graph import Graph, type_name
from graphc.ops import apply
from graphc.passes.forward import linear_in
from graphc.tracer import Tracer, current_graph, inline, trace_function
from graphc.tree import TreeDef, tree_flatten, tree_unflatten

__all__ = ["CustomRuleError", "checkpoint", "custom_jvp", "custom_vjp"]


class CustomRuleError(TracingError, ValueError):
    """A custom rule that returns the wrong structure, shape or dtype, or a custom function used
    before its rule was defined. The message names the user's line that called the function."""


def _merged(fixed: dict, dynamic, count: int) -> list:
    """The ``count`` arguments of a call: ``fixed[i]`` at the positions it holds, ``dynamic`` in order
    at the others."""
    values = iter(dynamic)
    return [fixed[i] if i in fixed else next(values) for i in range(count)]


# ---- checkpoint -----------------------------------------------------------------------------------
def checkpoint(fun, *, static_argnums=()):
    """``fun`` whose intermediates the backward sweep recomputes instead of keeping (JAX's
    ``jax.checkpoint``): a gradient then stores only the arguments of each checkpointed call.

    Traced, a call is one ``checkpoint`` node holding ``fun``'s graph; its adjoint is another that
    recomputes it. ``static_argnums`` name arguments passed to ``fun`` as they are (Python ints for a
    ``range``, flags) rather than traced.

    >>> import numpy as np, graphc
    >>> layer = graphc.checkpoint(lambda x: np.tanh(np.sin(x) * x))
    >>> round(float(graphc.grad(lambda x: layer(layer(x)))(0.5)), 6)
    0.399376
    """
    static = {static_argnums} if isinstance(static_argnums, int) else set(static_argnums)

    @functools.wraps(fun)
    def checkpointed(*args, **kwargs):
        if current_graph() is None:
            return fun(*args, **kwargs)
        fixed = {i: a for i, a in enumerate(args) if i in static or i - len(args) in static}
        dynamic = tuple(a for i, a in enumerate(args) if i not in fixed)
        leaves, tree = tree_flatten((dynamic, kwargs))
        leaves = [_as_array(v, "argument") for v in leaves]

        def call(packed):
            dynamic_args, keywords = packed
            return fun(*_merged(fixed, dynamic_args, len(args)), **keywords)

        body, outputs, out_tree = trace_body(call, [(tree, [_aval(v) for v in leaves])], ("arg",))
        body.outputs = outputs
        consts = _close([body])
        results = apply("checkpoint", *_operand_tracers(consts), *leaves, body=body, function=_fn_name(fun))
        return tree_unflatten(out_tree, list(results))

    return checkpointed


# ---- shared by custom_vjp and custom_jvp ----------------------------------------------------------
class _Custom:
    """What custom_vjp and custom_jvp share: the wrapped function, its non-differentiated arguments,
    and the guard that lets a rule call the function itself (``f_fwd`` returning ``f(x), x``)."""

    kind = ""

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = (nondiff_argnums,) if isinstance(nondiff_argnums, int) else tuple(nondiff_argnums)
        self._inside = threading.local()

    def __call__(self, *args, **kwargs):
        args = self._positional(args, kwargs)
        if not self._defined():
            raise CustomRuleError(f"the {self.kind} function {_fn_name(self.fun)} has no rule yet: call "
                                  f"{'defvjp' if self.kind == 'custom_vjp' else 'defjvp'} before using it",
                                  user_frame())
        if current_graph() is None or getattr(self._inside, "depth", 0):
            return self.fun(*args)  # untraced, or the function called from within its own rule
        self._inside.depth = 1
        try:
            return self._traced(args)
        finally:
            self._inside.depth = 0

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """The call's arguments by position, keywords and defaults bound as JAX binds them (the rules
        then see every argument, as ``f`` does)."""
        import inspect

        try:
            bound = inspect.signature(self.fun).bind(*args, **kwargs)
        except (TypeError, ValueError):  # no signature to read (a builtin): positions as given
            if kwargs:
                raise
            return args
        bound.apply_defaults()
        if bound.kwargs:
            raise CustomRuleError(f"{self.kind} function {_fn_name(self.fun)} takes its arguments by position; "
                                  f"got keyword-only {sorted(bound.kwargs)}", user_frame())
        return bound.args

    def _split(self, args: tuple) -> tuple[dict, tuple]:
        """The non-differentiated arguments (in ``nondiff_argnums`` order, as the rules receive them)
        and the others (in order)."""
        graph = current_graph()
        # A traced non-differentiated argument is read by the rules through their closures: as a
        # value of this graph, so that what they capture can be told apart from other closures.
        fixed = {}
        for i in self.nondiff_argnums:
            if not -len(args) <= i < len(args):
                raise CustomRuleError(f"nondiff_argnums {self.nondiff_argnums} of {_fn_name(self.fun)} names "
                                      f"argument {i}, but the call has {len(args)}", user_frame())
            fixed[i % len(args)] = _local(graph, args[i])
        return fixed, tuple(a for i, a in enumerate(args) if i not in fixed)

    def _primal(self, function, fixed: dict, dynamic: tuple, count: int):
        """Trace ``function`` (the wrapped function or the fwd rule) on the differentiated arguments
        into this graph; returns its result's leaves and structure, and the enclosing values it read
        that are not non-differentiated arguments."""
        graph = current_graph()
        leaves, tree = tree_flatten(dynamic)
        leaves = [_as_array(v, "argument") for v in leaves]
        traced = trace_function(lambda *d: function(*_merged(fixed, d, count)),
                                tree_unflatten(tree, leaves), parent=graph)
        captured = list(traced.captures.items())
        traced.inputs = list(traced.inputs) + [inner for _, inner in captured]
        out = inline(traced, leaves + [Tracer(graph, outer) for outer, _ in captured])
        quiet = {v.node for v in fixed.values() if isinstance(v, Tracer)}
        closures = [Tracer(graph, outer) for outer, _ in captured if outer not in quiet]
        return leaves, tree, out, traced.out_tree, closures

    def _mark(self, outs: list, residuals: list, rule: Graph, consts: list, args: list, closures: list, out_tree,
              linear: bool):
        results = apply("custom_vjp", *outs, *residuals, *consts, *args, *closures, bwd=rule,
                        num_outputs=len(outs), num_residuals=len(residuals), num_consts=len(consts),
                        num_args=len(args), function=_fn_name(self.fun), linear=linear)
        return tree_unflatten(out_tree, list(results))

    def __get__(self, instance, owner=None):  # a method: bind like a function
        return self if instance is None else functools.partial(self, instance)


def _local(graph: Graph, value):
    if isinstance(value, Tracer) and value.graph is not graph and graph.encloses(value.graph):
        return Tracer(graph, graph.capture(value.graph, value.node))
    return value


def _check_like(what: str, got, expected_tree: TreeDef, expected_avals: list, name: str) -> list:
    """The leaves of ``got`` (a rule's result for one value), checked against the value's structure
    and types; floating leaves are cast to the value's dtype. None stands for zeros."""
    if got is None:
        return [np.zeros(a.shape, a.dtype) for a in expected_avals]
    leaves, tree = tree_flatten(got)
    if tree != expected_tree:
        raise CustomRuleError(f"{name} returns {tree!r} for {what}, which has structure {expected_tree!r}",
                              user_frame())
    checked = []
    for leaf, aval in zip(leaves, expected_avals):
        leaf = _as_array(leaf, what)
        if tuple(leaf.shape) != tuple(aval.shape) or np.dtype(leaf.dtype).kind not in "iuf":
            raise CustomRuleError(f"{name} returns {type_name(leaf.shape, leaf.dtype)} for {what}, which is "
                                  f"{type_name(aval.shape, aval.dtype)}", user_frame())
        checked.append(leaf if leaf.dtype == aval.dtype else leaf.astype(aval.dtype))
    return checked


# ---- custom_vjp -----------------------------------------------------------------------------------
class custom_vjp(_Custom):  # noqa: N801 -- JAX's name
    """A function with its own reverse-mode rule (JAX's ``jax.custom_vjp``)::

        @graphc.custom_vjp
        def f(x, y): ...
        def f_fwd(x, y): return f(x, y), residuals        # value and what bwd needs
        def f_bwd(residuals, g): return (g_x, g_y)        # one cotangent (or None) per argument
        f.defvjp(f_fwd, f_bwd)

    ``nondiff_argnums`` name arguments with no cotangent; ``f_bwd`` receives them first. grad, jvp,
    vmap and jit all use the rule; a second derivative differentiates ``f_bwd``.
    """

    kind = "custom_vjp"

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd) -> None:
        """Set the rule: ``fwd(*args) -> (value, residuals)``, ``bwd(residuals, g) -> cotangents``."""
        self.fwd, self.bwd = fwd, bwd

    def _defined(self) -> bool:
        return self.fwd is not None

    def _traced(self, args: tuple):
        fixed, dynamic = self._split(args)
        name = f"the fwd rule {_fn_name(self.fwd)} of {_fn_name(self.fun)}"
        leaves, arg_tree, out, tree, closures = self._primal(self.fwd, fixed, dynamic, len(args))
        if tree.kind not in ("tuple", "list") or len(tree.children) != 2:
            raise CustomRuleError(f"{name} must return a pair (value, residuals), got {tree!r}", user_frame())
        out_tree, residual_tree = tree.children
        outs, residuals = out[:out_tree.num_leaves], out[out_tree.num_leaves:]
        outs = [_as_array(v, "the value") for v in outs]
        residuals = [_as_array(v, "a residual") for v in residuals]
        self._check_value(fixed, dynamic, len(args), out_tree, outs, name)

        arg_avals = [_aval(v) for v in leaves]
        arg_trees = list(tree_flatten(dynamic)[1].children)
        bwd_name = f"the bwd rule {_fn_name(self.bwd)} of {_fn_name(self.fun)}"

        def backward(res, g):
            result = self.bwd(*fixed.values(), res, g)
            if not isinstance(result, (tuple, list)) or len(result) != len(dynamic):
                raise CustomRuleError(f"{bwd_name} must return a tuple of {len(dynamic)} cotangent(s), one per "
                                      f"differentiated argument, got {_describe(result)}", user_frame())
            return _cotangents(result, arg_trees, arg_avals, bwd_name)

        rule, rule_outputs, _ = trace_body(backward, [(residual_tree, [_aval(v) for v in residuals]),
                                                      (out_tree, [_aval(v) for v in outs])],
                                           ("residual", "cotangent"))
        rule.outputs = rule_outputs
        consts = _operand_tracers(_close([rule]))
        # Forward mode transposes the rule: only a rule linear in its cotangents has a transpose.
        linear = linear_in(rule, rule.inputs[len(rule.inputs) - len(outs):])
        return self._mark(outs, residuals, rule, consts, leaves, closures, out_tree, linear)


    def _check_value(self, fixed: dict, dynamic: tuple, count: int, out_tree: TreeDef, outs: list, name: str):
        """JAX's check: the fwd rule's value has the function's structure, shapes and dtypes (a wrong one
        would reach the caller's code and bwd's cotangent). It traces the function on its own, so it
        checks only where the function traces: a rule may stand in for code graphc cannot trace."""
        leaves, tree = tree_flatten(dynamic)
        try:
            traced = trace_function(lambda *d: self.fun(*_merged(fixed, d, count)),
                                    tree_unflatten(tree, [_as_array(v, "argument") for v in leaves]),
                                    parent=current_graph())
        except Exception:  # noqa: BLE001 -- nothing to compare with; the rule's own value stands
            return
        wanted = [type_name(traced[n]["shape"], traced[n]["dtype"]) for n in traced.outputs]
        got = [type_name(v.shape, v.dtype) for v in outs]
        if traced.out_tree != out_tree or got != wanted:
            shown = lambda tree, types: types[0] if tree.kind == "leaf" else f"{tree!r} of {', '.join(types)}"  # noqa: E731
            raise CustomRuleError(f"{name} returns a value of {shown(out_tree, got)}, but {_fn_name(self.fun)} "
                                  f"returns {shown(traced.out_tree, wanted)}", user_frame())


def _describe(value) -> str:
    return f"a {type(value).__name__}" + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")


def _cotangents(result, arg_trees: list, arg_avals: list, name: str) -> list:
    """A rule's per-argument cotangents, checked and flattened to one per argument leaf."""
    flat, start = [], 0
    for i, (got, tree) in enumerate(zip(result, arg_trees)):
        avals = arg_avals[start:start + tree.num_leaves]
        start += tree.num_leaves
        flat += _check_like(f"argument {i}", got, tree, avals, name)
    return flat


# ---- custom_jvp -----------------------------------------------------------------------------------
class custom_jvp(_Custom):  # noqa: N801 -- JAX's name
    """A function with its own forward-mode rule (JAX's ``jax.custom_jvp``)::

        @graphc.custom_jvp
        def f(x): ...
        @f.defjvp
        def f_jvp(primals, tangents):            # tuples, one entry per argument
            return f(*primals), tangent_out      # tangent_out linear in tangents

    Reverse mode transposes the rule (it must be linear in the tangents, as JAX requires), so grad,
    jvp, vmap and jit all use it. ``nondiff_argnums`` name arguments with no tangent; the rule
    receives them first.
    """

    kind = "custom_jvp"

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp = None

    def defjvp(self, jvp):
        """Set the rule ``jvp(primals, tangents) -> (value, tangent_out)``; returns it (a decorator)."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *rules) -> None:
        """One rule per argument, ``rule(tangent, value, *primals) -> tangent_out`` (None: no
        dependence), summed: JAX's ``defjvps``."""
        def jvp(primals, tangents):
            value = self.fun(*primals)
            parts = [rule(t, value, *primals) for rule, t in zip(rules, tangents) if rule is not None]
            return value, functools.reduce(lambda a, b: a + b, parts) if parts else None

        self.jvp = jvp

    def _defined(self) -> bool:
        return self.jvp is not None

    def _traced(self, args: tuple):
        fixed, dynamic = self._split(args)
        leaves, arg_tree, outs, out_tree, closures = self._primal(self.fun, fixed, dynamic, len(args))
        outs = [_as_array(v, "the value") for v in outs]
        rule, consts = self._transposed_rule(fixed, arg_tree, leaves, out_tree, outs)
        return self._mark(outs, leaves, rule, _operand_tracers(consts), leaves, closures, out_tree, linear=True)

    def _transposed_rule(self, fixed, arg_tree, leaves, out_tree, outs) -> tuple[Graph, list[int]]:
        """The rule as a map from the results' cotangents to the arguments': the VJP, in the tangents,
        of the user's tangent map, with the tangents then set to zero (it is linear in them). Returns
        it and the enclosing values it reads (its leading inputs)."""
        from graphc.passes.autodiff import vjp_graph

        name = f"the jvp rule {_fn_name(self.jvp)} of {_fn_name(self.fun)}"
        avals = [_aval(v) for v in leaves]
        out_avals = [_aval(v) for v in outs]

        def tangent_map(primals, tangents):
            result = self.jvp(*fixed.values(), tuple(primals), tuple(tangents))
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise CustomRuleError(f"{name} must return a pair (value, tangent), got {_describe(result)}",
                                      user_frame())
            return _check_like("the value's tangent", result[1], out_tree, out_avals, name)

        group = (arg_tree, avals)
        jvp, tangent_outs, _ = trace_body(tangent_map, [group, group], ("primal", "tangent"))
        jvp.outputs = tangent_outs
        consts = _close([jvp])
        K, n = len(consts), len(leaves)
        floats = [i for i, o in enumerate(jvp.outputs) if jvp.aval(o).dtype.kind == "f"]
        tangents = [K + n + i for i in range(n) if avals[i].dtype.kind == "f"]
        rule, _ = vjp_graph(jvp, floats, tangents)
        cotangent_inputs = dict(zip(floats, rule.inputs[len(jvp.inputs):]))
        for node in rule.inputs[K + n:K + 2 * n]:  # the map is linear in the tangents: read it at zero
            rule.make_constant(node, np.zeros(rule.aval(node).shape, rule.aval(node).dtype))
        for i, aval in enumerate(out_avals):  # integer results: a cotangent input that nothing reads
            if i not in cotangent_inputs:
                cotangent_inputs[i] = rule.add_node("input", shape=aval.shape, dtype=aval.dtype)
        grads = dict(zip(tangents, rule.outputs))
        rule.outputs = [grads[K + n + i] if K + n + i in grads else
                        rule.add_node("constant", shape=a.shape, dtype=a.dtype, value=_zeros(a))
                        for i, a in enumerate(avals)]
        rule.inputs = rule.inputs[:K + n] + [cotangent_inputs[i] for i in range(len(outs))]
        return rule, consts


def _zeros(aval) -> np.ndarray:
    value = np.zeros(aval.shape, aval.dtype)
    value.flags.writeable = False
    return value
