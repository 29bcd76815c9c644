"""The first tier: an optimized graph as generated plain Python that calls NumPy, one line a node.

It answers the first calls for a signature while the Numba kernel compiles in the background
(:mod:`graphc.codegen.background`). Building it takes about a microsecond a node and needs no Numba,
so a user's first result does not wait for a compiler. Each line calls the node's registry
``reference`` (the same NumPy oracle the tests check every pass against)::

    def run(a0, a1):
        if a0.shape != S0 or a0.dtype != D0:
            refuse(0, a0)
        v0 = asarray(a0, D0)
        ...
        v7 = F7(v3, v5)           # %7 = multiply %3 %5
        del v3                    # its last use: big graphs hold little at a time
        v8 = A(F8(v7, P8_0, P8_1, P8_2, P8_3))   # %8 = sum %7: 0-d, so made an array
        return (scalar(v8), array(v7))

(``F8`` is ``np.add.reduce``: where a reference is a NumPy function that only forwards to a method
or a ufunc's ``reduce``, the line makes that call itself; see ``_FORWARDS``.)

A loop's or branch's body is built the same way, once, as a function its node's reference calls at
every step (:func:`build_body_binder`); what the body reads only from the enclosing graph is computed
once per loop, not per step.

It behaves as the kernel does: a call with another shape or dtype is refused with the kernel's errors
(so the dispatcher's slow path takes it), and results have the kernel's structure and types: C-ordered
arrays of their own, Python ``float``/``int``/``bool`` for 0-d float64/int64/bool and NumPy scalars of
other dtypes. The generated text holds only node numbers and names from this module; references,
attributes, constants and dtypes enter through the namespace.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from graphc.errors import ArgumentShapeError
from graphc.graph import Graph
from graphc.ops import REGISTRY
from graphc.runner import structure_source


def _refuse(position: int, value, shape: tuple, dtype: np.dtype):
    if value.dtype != dtype:  # Numba's refusal of another dtype is a TypeError: the same here
        raise TypeError(f"argument {position} has dtype {value.dtype}; this code was made for {dtype}")
    raise ArgumentShapeError(f"argument {position} must have shape {shape}")


def _array_result(value: np.ndarray, arguments: tuple) -> np.ndarray:
    # The kernel hands back arrays it made: never an argument, a view or a constant, always C-ordered.
    flags = value.flags
    if flags.owndata and flags.c_contiguous and flags.writeable and not any(value is a for a in arguments):
        return value
    return np.array(value, order="C")


_PLAIN_SCALARS = {np.dtype(np.float64): float, np.dtype(np.int64): int, np.dtype(np.bool_): bool}


def _scalar_result(dtype: np.dtype) -> Callable:
    # What Numba boxes a 0-d result as: Python scalars for its native types, else NumPy scalars.
    return _PLAIN_SCALARS.get(dtype, dtype.type)


def build_numpy_runner(graph: Graph) -> Callable:
    """``run(*leaves)`` computing ``graph``'s outputs with NumPy, in its output structure."""
    namespace: dict = {"asarray": np.asarray, "A": np.asarray, "refuse": _refuse, "errstate": np.errstate,
                       "ndarray": np.ndarray}
    params = [f"a{i}" for i in range(len(graph.inputs))]
    arguments = "".join(f"{p}, " for p in params)
    checks, lines = [], []
    for i, node in enumerate(graph.inputs):
        data = graph[node]
        namespace[f"D{i}"], namespace[f"S{i}"] = data["dtype"], data["shape"]
        # Only arrays need a check: a scalar's Python type already fixed the signature it was routed by.
        checks.append(f"if type(a{i}) is ndarray and (a{i}.shape != S{i} or a{i}.dtype != D{i}):\n"
                      f"        refuse({i}, a{i}, S{i}, D{i})")
        lines.append(f"v{node} = asarray(a{i}, D{i})")
    inputs = set(graph.inputs)
    lines += _statements(graph, [n for n in graph.topo_order() if n not in inputs], namespace, keep=set(graph.outputs))
    result = structure_source(graph.out_tree, _converters(graph, arguments, namespace).__getitem__, namespace)
    body = "\n        ".join(lines) or "pass"
    source = (f"def run({', '.join(params)}):\n"
              + "".join(f"    {check}\n" for check in checks)
              + "    with errstate(all='ignore'):  # inf and NaN are answers here, as in the kernel\n"
              + f"        {body}\n"
              + f"        return {result}\n")
    return _compiled(source, namespace, "run")


def build_body_binder(graph: Graph, num_bound: int) -> Callable:
    """``bind(consts) -> run(*leaves)`` for a loop's or branch's body: what ``evaluator`` gives a control
    op's reference (:mod:`graphc.ops.control`), called once a step.

    ``bind`` takes the body's first inputs (what it reads from the enclosing graph, the same at every
    step) and computes once the nodes that read nothing else (``W.T`` in a matmul's adjoint);
    ``run`` takes the rest and returns the outputs as a tuple, 0-d ones as 0-d arrays::

        def bind(consts):
            v2, v4, v13 = consts
            v13 = asarray(v13, D13)      # 0-d inputs arrive as NumPy scalars too
            v35 = F35(v2, P35_0)         # %35 = transpose %2 axes=(1, 0), once
            def run(v12, v9, v0, v1):
                v25 = F25(v23, P25_0)
                ...
                return (v37, v39, v41, v43, v30)
            return run

    A body runs under its outer runner's ``errstate``. Nothing is checked: the loop's reference hands it
    what the body's previous step or the enclosing graph made.
    """
    namespace: dict = {"asarray": np.asarray, "A": np.asarray}
    inputs = list(graph.inputs)
    bound = set(inputs[:num_bound])
    order = [n for n in graph.topo_order() if graph[n]["op"] != "input"]
    invariant = set(bound)
    for node in order:  # a node reading only the consts (or constants) is the same at every step
        if all(u in invariant or graph[u]["op"] == "constant" for u in graph.operands(node)):
            invariant.add(node)
    hoisted = [n for n in order if n in invariant]
    per_step = [n for n in order if n not in invariant]
    outputs = set(graph.outputs)
    used_by_step = {u for n in per_step for u in graph.operands(n)} | outputs
    step_inputs = [n for n in inputs if n not in bound]
    zero_d = [n for n in inputs if graph[n]["shape"] == ()]
    for n in zero_d:
        namespace[f"D{n}"] = graph[n]["dtype"]
    prelude = ["".join(f"v{n}, " for n in inputs if n in bound) + "= consts"] if bound else []
    prelude += [f"v{n} = asarray(v{n}, D{n})" for n in zero_d if n in bound]
    prelude += _statements(graph, hoisted, namespace, keep=used_by_step)
    step = [f"v{n} = asarray(v{n}, D{n})" for n in zero_d if n not in bound]
    step += _statements(graph, per_step, namespace, keep=outputs | invariant)
    result = "(" + "".join(f"v{n}, " for n in graph.outputs) + ")"
    source = ("def bind(consts):\n"
              + "".join(f"    {line}\n" for line in prelude)
              + f"    def run({', '.join(f'v{n}' for n in step_inputs)}):\n"
              + "".join(f"        {line}\n" for line in step)
              + f"        return {result}\n"
              + "    return run\n")
    return _compiled(source, namespace, "bind")


def _compiled(source: str, namespace: dict, name: str) -> Callable:
    exec(compile(source, "<graphc numpy tier>", "exec"), namespace)  # noqa: S102 -- numbers and fixed names only
    function = namespace[name]
    function.source = source
    return function


def _statements(graph: Graph, nodes: list, namespace: dict, keep: set) -> list[str]:
    """One line a node of ``nodes`` (in order), calling its reference; after a value's last use among
    them a ``del`` unless it is in ``keep``: big graphs hold little at a time."""
    last_use = {}
    for position, node in enumerate(nodes):
        for u in graph.operands(node):
            last_use[u] = position
    lines = []
    for position, node in enumerate(nodes):
        data = graph[node]
        op = data["op"]
        if op == "constant":
            namespace[f"v{node}"] = data["value"]
            continue
        operands = graph.operands(node)
        call = _call(graph, node, operands, namespace)
        # A loop or branch hands back a tuple of results (read by unpack nodes); a NumPy function may
        # hand back a NumPy scalar where the node is 0-d: made an array, as every operand is one.
        lines.append(f"v{node} = A({call})" if data["shape"] == () and "results" not in data
                     else f"v{node} = {call}")
        dead = sorted({u for u in operands if last_use[u] == position and u not in keep
                       and graph[u]["op"] != "constant"})
        if dead:
            lines.append(f"del {', '.join(f'v{u}' for u in dead)}")
    return lines


def _converters(graph: Graph, arguments: str, namespace: dict) -> list[str]:
    """Per output, the expression that gives it the kernel's type."""
    converters = []
    for i, node in enumerate(graph.outputs):
        data = graph[node]
        if data["shape"] == ():
            namespace[f"C{i}"] = _scalar_result(data["dtype"])
            converters.append(f"C{i}(v{node}[()])")
        else:
            copy = data["op"] in ("input", "constant")
            converters.append(f"array(v{node}, order='C')" if copy else f"array_result(v{node}, ({arguments}))")
    namespace.update(array_result=_array_result, array=np.array)
    return converters


#: NumPy functions that, given an ndarray, only forward to one of its methods or to a ufunc's ``reduce``
#: (``numpy/_core/fromnumeric.py``: ``_wrapfunc``, ``_wrapreduction``), with the node's attributes in
#: this order: the tier makes that call itself. Same function, same result, without 1-3 us of Python
#: dispatch a call, which a loop's body pays at every step. Every operand of a tier line is an ndarray.
_FORWARDS = {
    np.transpose: (np.ndarray.transpose, ("axes",)),
    np.reshape: (np.ndarray.reshape, ("shape",)),
    np.sum: (np.add.reduce, ("axis", None, None, "keepdims")),  # reduce(a, axis, dtype, out, keepdims)
    np.max: (np.maximum.reduce, ("axis", None, None, "keepdims")),
    np.min: (np.minimum.reduce, ("axis", None, None, "keepdims")),
}


def _call(graph: Graph, node: int, operands: list, namespace: dict) -> str:
    """The expression computing ``node`` from its operands' values: its reference, attributes bound."""
    data = graph[node]
    reference, attrs = REGISTRY[data["op"]].reference, data["attrs"]
    args = [f"v{u}" for u in operands]
    forward = _FORWARDS.get(reference)
    if forward and set(attrs) == {a for a in forward[1] if a} and graph[operands[0]]["op"] != "constant":
        function, order = forward
        for k, name in enumerate(order):
            namespace[f"P{node}_{k}"] = attrs[name] if name else None
        args += [f"P{node}_{k}" for k in range(len(order))]
    elif data["op"] == "matmul" and all(len(graph[u]["shape"]) <= 2 for u in operands) \
            and graph[operands[0]]["op"] != "constant":
        # For 1-d and 2-d operands matmul is dot, and ndarray.dot costs about 1 us where np.matmul
        # costs 2 on a recurrent step's 16x16 @ 16 (its ufunc machinery).
        function = np.ndarray.dot
    elif data["op"] == "scan":
        function = _scan_loop(graph, node)
    elif any(isinstance(b, Graph) for v in attrs.values() for b in (v if isinstance(v, tuple) else (v,))):
        # A loop or branch runs its bodies as tier code built once: the reference evaluator would
        # re-plan a body at every step.
        function = functools.partial(reference, **attrs, evaluator=_Bodies())
    else:
        function = functools.partial(reference, **attrs) if attrs else reference
    namespace[f"F{node}"] = function
    return f"F{node}({', '.join(args)})"


def _scan_loop(graph: Graph, node: int) -> Callable:
    """A scan node as a generated Python loop over its body's tier code: the reference's loop
    (graphc.ops.control) with its per-step tuple building, zips and slicing spelled out, about 4 us a
    step less. The body reads the step's slice of each ``xs``; each stacked output is allocated once::

        def loop(k0, c0, x0):
            run = bind((k0,))
            n = 200                        # x0.shape[0] where the length is known only then
            y0 = empty((n,) + L0, D0)      # L0: the output's shape
            for t in range(n):             # range(n - 1, -1, -1) when reverse
                c0, s0, = run(c0, x0[t])
                y0[t] = s0
            return (asarray(c0), y0, )
    """
    attrs = graph[node]["attrs"]
    body, nc, nk = attrs["body"], attrs["num_consts"], attrs["num_carry"]
    operands = graph.operands(node)
    outputs = [body[n] for n in body.outputs[nk:]]
    namespace = {"bind": build_body_binder(body, nc), "empty": np.empty, "asarray": np.asarray}
    for i, data in enumerate(outputs):
        namespace[f"L{i}"], namespace[f"D{i}"] = tuple(data["shape"]), data["dtype"]
    consts, carries = [f"k{i}" for i in range(nc)], [f"c{i}" for i in range(nk)]
    xs = [f"x{i}" for i in range(len(operands) - nc - nk)]
    ys = [f"y{i}" for i in range(len(outputs))]
    # The length of a reverse sweep over a while_loop's record is known only when it runs.
    length = attrs["length"] if attrs["length"] is not None else graph[operands[nc + nk]]["shape"][0]
    length = "x0.shape[0]" if length is None else int(length)
    steps = "range(n - 1, -1, -1)" if attrs["reverse"] else "range(n)"
    targets = "".join(f"{v}, " for v in carries + [f"s{i}" for i in range(len(ys))])
    call = f"run({', '.join(carries + [f'{x}[t]' for x in xs])})"
    lines = [f"def loop({', '.join(consts + carries + xs)}):",
             f"    run = bind(({''.join(f'{k}, ' for k in consts)}))", f"    n = {length}"]
    lines += [f"    {y} = empty((n,) + L{i}, D{i})" for i, y in enumerate(ys)]
    lines += [f"    for t in {steps}:", f"        {targets}= {call}" if targets else f"        {call}"]
    lines += [f"        {y}[t] = s{i}" for i, y in enumerate(ys)]
    lines += [f"    return ({''.join(f'asarray({c}), ' for c in carries)}{''.join(f'{y}, ' for y in ys)})"]
    return _compiled("\n".join(lines) + "\n", namespace, "loop")


class _Bodies:
    """``evaluator(graph, consts) -> run`` for the bodies of one loop or branch node, each built on first
    use (see :func:`build_body_binder`)."""

    def __init__(self):
        self._binders: dict = {}

    def __call__(self, graph: Graph, consts: tuple) -> Callable:
        key = (id(graph), len(consts))  # the node's attributes keep its bodies alive, so ids stay theirs
        bind = self._binders.get(key)
        if bind is None:
            bind = self._binders[key] = build_body_binder(graph, len(consts))
        return bind(consts)
