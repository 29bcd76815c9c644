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
        v7 = A(F7(v3, v5))        # %7 = multiply %3 %5
        del v3                    # its last use: big graphs hold little at a time
        return (scalar(v9), array(v8))

It behaves as the kernel does: a call with another shape or dtype is refused with the kernel's errors
(so the dispatcher's slow path takes it), and results have the kernel's structure and types: C-ordered
arrays of their own, Python ``float``/``int``/``bool`` for 0-d float64/int64/bool and NumPy scalars of
other dtypes. The generated text holds only node numbers and names from this module; references,
attributes, constants and dtypes enter through the namespace.
"""
from __future__ import annotations

import functools
from typing import Callable

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


def build_numpy_runner(graph: Graph, raw: bool = False) -> Callable:
    """``run(*leaves)`` computing ``graph``'s outputs with NumPy, in its output structure.

    ``raw=True`` gives what :func:`graphc.evaluate.evaluate` gives instead (the list of output values,
    0-d ones as NumPy scalars, no argument checks): the runner of a loop's body, called once a step.
    """
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
    order = graph.topo_order()
    last_use = {}
    for position, node in enumerate(order):
        for u in graph.operands(node):
            last_use[u] = position
    keep = set(graph.outputs)
    for position, node in enumerate(order):
        data = graph[node]
        op = data["op"]
        if op == "input":
            continue
        if op == "constant":
            namespace[f"v{node}"] = data["value"]
            continue
        namespace[f"F{node}"] = _bound_reference(op, data["attrs"])
        call = f"F{node}({', '.join(f'v{u}' for u in graph.operands(node))})"
        # A loop or branch hands back a tuple of results (read by unpack nodes); everything else an array.
        lines.append(f"v{node} = {call}" if "results" in data else f"v{node} = A({call})")
        dead = sorted({u for u in graph.operands(node) if last_use[u] == position and u not in keep
                       and graph[u]["op"] != "constant"})
        if dead:
            lines.append(f"del {', '.join(f'v{u}' for u in dead)}")
    if raw:  # a body runs inside its loop's reference, under the outer runner's errstate
        result = "[" + ", ".join(f"v{n}[()]" if graph[n]["shape"] == () else f"v{n}" for n in graph.outputs) + "]"
        source = f"def run({', '.join(params)}):\n" + "".join(f"    {line}\n" for line in lines) + f"    return {result}\n"
    else:
        result = structure_source(graph.out_tree, _converters(graph, arguments, namespace).__getitem__, namespace)
        body = "\n        ".join(lines) or "pass"
        source = (f"def run({', '.join(params)}):\n"
                  + "".join(f"    {check}\n" for check in checks)
                  + "    with errstate(all='ignore'):  # inf and NaN are answers here, as in the kernel\n"
                  + f"        {body}\n"
                  + f"        return {result}\n")
    exec(compile(source, "<graphc numpy tier>", "exec"), namespace)  # noqa: S102 -- numbers and fixed names only
    run = namespace["run"]
    run.source = source
    return run


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


def _bound_reference(op: str, attrs: dict) -> Callable:
    """The op's reference with its attributes bound; a loop's or branch's runs its bodies as NumPy-tier
    code built once (the reference evaluator would re-plan each body at every step)."""
    reference = REGISTRY[op].reference
    if any(isinstance(b, Graph) for v in attrs.values() for b in (v if isinstance(v, tuple) else (v,))):
        attrs = dict(attrs, evaluator=_BodyRunners())
    return functools.partial(reference, **attrs) if attrs else reference


class _BodyRunners:
    """``evaluate(graph, *leaves)`` for the bodies of one loop or branch node, each built on first use."""

    def __init__(self):
        self._runners: dict = {}

    def __call__(self, graph: Graph, *leaves) -> list:
        run = self._runners.get(id(graph))
        if run is None:  # the node's attributes keep its bodies alive, so ids stay theirs
            run = self._runners[id(graph)] = build_numpy_runner(graph, raw=True)
        return run(*leaves)
