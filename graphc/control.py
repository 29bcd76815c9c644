"""Loops and branches that stay one graph node: ``scan``, ``fori_loop``, ``while_loop``, ``cond``.

They follow JAX's ``lax`` functions. Each traces its body once, as a graph of its own, whatever the
trip count; the body may read traced values of the enclosing function (weights), which the node then
takes as operands, so their gradients accumulate over the iterations.

>>> import numpy as np, graphc
>>> def cumulative(xs):
...     return graphc.scan(lambda c, x: (c + x, c + x), 0.0, xs)
>>> cumulative(np.arange(4.0))
(np.float64(6.0), array([0., 1., 3., 6.]))

Called outside a traced function they run at once (traced and evaluated by the reference evaluator).
"""
from __future__ import annotations

import numpy as np

from graphc.dims import Dim
from graphc.errors import TracingError, user_frame
from graphc.graph import Graph, type_name
from graphc.ops import Aval, apply
from graphc.tracer import Tracer, add_constant, aval_of, building, current_graph, trace_function
from graphc.tree import TreeDef, tree_flatten, tree_unflatten


class ControlFlowError(TracingError, TypeError):
    """A loop or branch whose body does not fit its contract (a carry that changes type, branches
    that return different structures): a ``TypeError`` too, as JAX's. The message names the user's
    line that built it."""


class ScanLengthError(ControlFlowError, ValueError):
    """A scan whose ``xs`` and ``length`` disagree about the trip count: a ``ValueError`` too, as JAX's."""


def _fn_name(fun) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def _as_array(leaf, what: str):
    """A leaf of init/xs/operands: a tracer as it is, anything else as a NumPy array (its own dtype)."""
    if isinstance(leaf, Tracer):
        return leaf
    aval_of(leaf, what)  # a clear error for strings and objects
    return np.asarray(leaf)


def _aval(leaf) -> Aval:
    return Aval(tuple(leaf.shape), np.dtype(leaf.dtype))


def trace_body(fun, groups: list[tuple[TreeDef, list[Aval]]], labels: tuple):
    """Trace ``fun`` on one argument per group (a pytree of fresh inputs) into a body graph; its
    inputs are named after ``labels`` (one per group: ``carry``, ``carry[1]``…).

    Returns the graph (its inputs: the argument leaves, captured values not yet among them), the
    result's leaves as body nodes, and the result's structure.
    """
    body = Graph()
    body.parent = current_graph()
    with building(body):
        args = []
        for label, (tree, avals) in zip(labels, groups):
            tracers = []
            for i, aval in enumerate(avals):
                name = label if len(avals) == 1 else f"{label}[{i}]"
                node = body.add_node("input", shape=aval.shape, dtype=aval.dtype, name=name)
                body.inputs.append(node)
                tracers.append(Tracer(body, node))
            args.append(tree_unflatten(tree, tracers))
        result = fun(*args)
        leaves, tree = tree_flatten(result)
        outputs = [_body_node(body, leaf, f"the result of {_fn_name(fun)}") for leaf in leaves]
    return body, outputs, tree


def _body_node(body: Graph, leaf, what: str) -> int:
    if isinstance(leaf, Tracer):
        if leaf.graph is body:
            return leaf.node
        if body.encloses(leaf.graph):  # the body returned a value of the enclosing function as it is
            return body.capture(leaf.graph, leaf.node)
        raise TracingError(f"{what} is a value traced by another function", user_frame())
    aval_of(leaf, what)  # a clear error for strings and objects
    return add_constant(body, np.asarray(leaf))


def _close(bodies: list[Graph]) -> list[int]:
    """Give every body the same leading inputs: the enclosing values any of them reads, in one order.

    Returns those values as node ids of the enclosing graph.
    """
    consts: list[int] = []
    for body in bodies:
        consts += [c for c in body.captures if c not in consts]
    parent = bodies[0].parent
    for body in bodies:
        own = list(body.inputs)
        body.inputs = [body.capture(parent, c) for c in consts] + own
        # Traced: the body no longer needs its enclosing graph (and must not carry it when pickled).
        body.parent, body.captures = None, {}
    return consts


def _mismatch(kind: str, index: int, before: Aval, after: Aval, fun) -> ControlFlowError:
    return ControlFlowError(
        f"{kind} {index} changes from {type_name(*before)} to {type_name(*after)} in {_fn_name(fun)}; "
        "a carry must keep its shape and dtype on every iteration (cast with .astype, or reshape)", user_frame())


def _check_carry(fun, kind: str, init_tree: TreeDef, init_avals: list, out_tree: TreeDef, body: Graph,
                 outputs: list) -> None:
    if out_tree != init_tree:
        raise ControlFlowError(f"{_fn_name(fun)} returns a {kind} of structure {out_tree!r} where the initial "
                               f"value has structure {init_tree!r}", user_frame())
    for i, (before, node) in enumerate(zip(init_avals, outputs)):
        after = body.aval(node)
        if tuple(after.shape) != tuple(before.shape) or after.dtype != before.dtype:
            raise _mismatch(kind, i, before, after, fun)


def _check_values(fun, before, after) -> None:
    """The carry check on values (tracers or arrays): for wrappers such as fori_loop's, so the error
    speaks of the user's own carry."""
    leaves_before, tree_before = tree_flatten(before)
    leaves_after, tree_after = tree_flatten(after)
    if tree_after != tree_before:
        raise ControlFlowError(f"{_fn_name(fun)} returns a carry of structure {tree_after!r} where the initial "
                               f"value has structure {tree_before!r}", user_frame())
    for i, (a, b) in enumerate(zip(leaves_before, leaves_after)):
        a, b = _aval(_as_array(a, "carry")), _aval(_as_array(b, "carry"))
        if a != b:
            raise _mismatch("carry", i, a, b, fun)


def _eager(function, *args):
    """Run a control-flow function on concrete values: trace it, then evaluate the graph."""
    from graphc.evaluate import evaluate

    graph = trace_function(function, args)
    return tree_unflatten(graph.out_tree, evaluate(graph, *tree_flatten(args)[0]))


def _operand_tracers(consts: list[int]) -> list[Tracer]:
    graph = current_graph()
    return [Tracer(graph, c) for c in consts]


# ---- scan -----------------------------------------------------------------------------------------
def scan(f, init, xs=None, length=None, reverse=False):
    """Loop ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``; return ``(carry, ys)``.

    JAX's ``lax.scan``: ``init`` and ``xs`` are pytrees, ``ys`` stacks each step's ``y`` on a new
    leading axis, ``length`` gives the trip count when there are no ``xs``, and ``reverse=True``
    walks ``xs`` from the end (``ys`` still line up with ``xs``). One graph node for any length.
    """
    if current_graph() is None:
        return _eager(lambda i, x: scan(f, i, x, length, reverse), init, xs)
    init_leaves, init_tree = tree_flatten(init)
    x_leaves, x_tree = tree_flatten(xs)
    init_leaves = [_as_array(v, "init") for v in init_leaves]
    x_leaves = [_as_array(v, "xs") for v in x_leaves]
    length = _scan_length(x_leaves, length)
    init_avals = [_aval(v) for v in init_leaves]
    x_avals = [Aval(tuple(v.shape[1:]), np.dtype(v.dtype)) for v in x_leaves]

    def step(carry, x):
        result = f(carry, x)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ControlFlowError(f"the body {_fn_name(f)} of scan must return a pair (carry, y), "
                                   f"got {type(result).__name__}", user_frame())
        return tuple(result)

    body, outputs, out_tree = trace_body(step, [(init_tree, init_avals), (x_tree, x_avals)], ("carry", "x"))
    carry_tree, y_tree = out_tree.children
    n = len(init_leaves)
    _check_carry(f, "carry", init_tree, init_avals, carry_tree, body, outputs[:n])
    body.outputs = outputs
    consts = _close([body])
    results = apply("scan", *_operand_tracers(consts), *init_leaves, *x_leaves, body=body,
                    num_consts=len(consts), num_carry=n, length=length, reverse=bool(reverse))
    return tree_unflatten(carry_tree, results[:n]), tree_unflatten(y_tree, results[n:])


def _scan_length(x_leaves: list, length) -> int:
    lengths = {int(v.shape[0]) for v in x_leaves if len(v.shape) >= 1}
    if any(len(v.shape) == 0 for v in x_leaves):
        raise ScanLengthError("scan xs must be arrays with a leading axis to loop over; got a 0-d value",
                               user_frame())
    if len(lengths) > 1:
        raise ScanLengthError(f"scan xs have different leading lengths {sorted(lengths)}", user_frame())
    if length is not None:
        if isinstance(length, Tracer) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ScanLengthError(f"scan length must be a non-negative Python int, got {length!r}; a trip "
                                   "count that depends on traced values needs while_loop", user_frame())
        if lengths and lengths != {int(length)}:
            raise ScanLengthError(f"scan length={length} disagrees with the xs' leading length "
                                   f"{lengths.pop()}", user_frame())
        return length if isinstance(length, Dim) else int(length)
    if not lengths:
        raise ScanLengthError("scan needs xs or length= to know how many steps to run", user_frame())
    # The xs' own leading size: a Dim when it is an argument's, so the kernel reads the trip count.
    first = next(v.shape[0] for v in x_leaves if len(v.shape) >= 1)
    return first if isinstance(first, Dim) else int(first)


# ---- fori_loop ------------------------------------------------------------------------------------
def fori_loop(lower, upper, body_fun, init_val):
    """``body_fun(i, val) -> val`` for ``i`` from ``lower`` to ``upper - 1``; return the last ``val``.

    With Python-int bounds it is a scan (fixed trip count); with traced bounds a while_loop. Both are
    differentiable in reverse mode.
    """
    static = all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in (lower, upper))

    def checked(i, val):
        new = body_fun(i, val)
        _check_values(body_fun, val, new)
        return new

    if static:
        def step(carry, _):
            i, val = carry
            return (i + 1, checked(i, val)), None

        (_, val), _ = scan(step, (np.int64(lower), init_val), None, length=max(0, int(upper) - int(lower)))
        return val

    def cond_fun(carry):
        return carry[0] < carry[1]

    def body(carry):
        i, stop, val = carry
        return i + 1, stop, checked(i, val)

    bounds = [b if isinstance(b, Tracer) else np.int64(b) for b in (lower, upper)]
    return while_loop(cond_fun, body, (bounds[0], bounds[1], init_val))[2]


# ---- while_loop -----------------------------------------------------------------------------------
def while_loop(cond_fun, body_fun, init_val):
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)`` is true; return the final ``val``.

    JAX's ``lax.while_loop``, but differentiable in reverse mode: when a gradient is asked for, the
    loop records its trip count and each step's carry as it runs, and the reverse sweep walks back
    through them.
    """
    if current_graph() is None:
        return _eager(lambda v: while_loop(cond_fun, body_fun, v), init_val)
    leaves, tree = tree_flatten(init_val)
    leaves = [_as_array(v, "init_val") for v in leaves]
    avals = [_aval(v) for v in leaves]
    cond, pred, pred_tree = trace_body(cond_fun, [(tree, avals)], ("carry",))
    if pred_tree.kind != "leaf" or cond.aval(pred[0]).shape != ():
        raise ControlFlowError(f"the condition {_fn_name(cond_fun)} of while_loop must return one boolean "
                               f"scalar, got {pred_tree!r}", user_frame())
    cond.outputs = [_as_bool(cond, pred[0])]
    body, outputs, out_tree = trace_body(body_fun, [(tree, avals)], ("carry",))
    _check_carry(body_fun, "carry", tree, avals, out_tree, body, outputs)
    body.outputs = outputs
    consts = _close([cond, body])
    results = apply("while_loop", *_operand_tracers(consts), *leaves, cond=cond, body=body,
                    num_consts=len(consts))
    return tree_unflatten(tree, results)


def _as_bool(graph: Graph, node: int) -> int:
    if graph[node]["dtype"] == np.bool_:
        return node
    with building(graph):
        return apply("not_equal", Tracer(graph, node), 0).node


# ---- cond -----------------------------------------------------------------------------------------
def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``; only the chosen branch runs.

    JAX's ``lax.cond``: ``pred`` is a scalar (bool or number; nonzero means true), both branches
    return the same structure of the same types, and the gradient flows through the branch that ran.
    """
    if current_graph() is None:
        return _eager(lambda p, *ops: cond(p, true_fun, false_fun, *ops), pred, *operands)
    pred = _as_array(pred, "pred")
    if tuple(pred.shape) != () or np.dtype(pred.dtype).kind not in "biuf":
        raise ControlFlowError(f"cond needs a scalar predicate, got {type_name(pred.shape, pred.dtype)}",
                               user_frame())
    if np.dtype(pred.dtype).kind == "f":
        pred = pred != 0
    leaves, tree = tree_flatten(tuple(operands))
    leaves = [_as_array(v, "operand") for v in leaves]
    avals = [_aval(v) for v in leaves]
    unpacked = lambda fun: (lambda ops: fun(*ops))  # noqa: E731 -- branches take the operands spread out
    false_body, false_out, false_tree = trace_body(unpacked(false_fun), [(tree, avals)], ("operand",))
    true_body, true_out, true_tree = trace_body(unpacked(true_fun), [(tree, avals)], ("operand",))
    if false_tree != true_tree:
        raise ControlFlowError(f"cond branches return different structures: {_fn_name(true_fun)} gives "
                               f"{true_tree!r}, {_fn_name(false_fun)} gives {false_tree!r}", user_frame())
    for i, (a, b) in enumerate(zip(true_out, false_out)):
        ta, fb = true_body.aval(a), false_body.aval(b)
        if tuple(ta.shape) != tuple(fb.shape) or ta.dtype != fb.dtype:
            raise ControlFlowError(f"cond branches give different types for result {i}: {_fn_name(true_fun)} "
                                   f"gives {type_name(*ta)}, {_fn_name(false_fun)} gives {type_name(*fb)}",
                                   user_frame())
    false_body.outputs, true_body.outputs = false_out, true_out
    consts = _close([false_body, true_body])
    results = apply("cond", pred, *_operand_tracers(consts), *leaves, branches=(false_body, true_body))
    return tree_unflatten(true_tree, results)
