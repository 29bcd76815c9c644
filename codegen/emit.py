"""Graph -> Python source of one Numba function, one named temporary per node.

Node ``%7`` becomes ``v7`` in the source; a constant node becomes the module global ``k7``,
whose value the loader puts into the module (never pasted into the text). Every other
identifier in the source comes from the registry's emission templates, and every number
from the graph's own shapes and counters, so user data never reaches the generated text.

The function takes the graph's inputs in order (0-d inputs as scalars). It returns its outputs
in the graph's output structure when that is a leaf or nested tuples (``(value, (gx, gy))``),
else the flat tuple of output leaves. A long kernel whose statements repeat (an unrolled loop) is
rolled instead: one loop over a table of sites, each distinct statement compiled once (codegen/rolled.py).
"""
from __future__ import annotations

import re

import numpy as np

from graphc.dims import Dim, rendering
from graphc.errors import GraphcInternalError
from graphc.graph import Graph
from graphc.ops import REGISTRY, Statements, dtype_source, may_alias
from graphc.codegen.control import CONTROL_EMITTERS
from graphc.codegen.loops import emit_fused
from graphc.codegen.rolled import roll
from graphc.passes.fuse import calls_numpy_ufunc
from graphc.tree import is_tuple_tree, tuple_tree_source

#: The name of the generated function in its module.
KERNEL = "kernel"


def emit_graph(graph: Graph, names: dict[int, str], constants: dict, prefix: str = "",
               destinations: dict | None = None) -> tuple[list, list]:
    """Statements computing every node of ``graph``, in topological order, and those nodes.

    Node ``%7`` is ``<prefix>v7`` (``<prefix>k7`` for a constant, whose value goes into ``constants``);
    inputs already named in ``names`` keep their names (a loop body's inputs are the loop's variables).
    ``destinations`` maps fused nodes to an array expression their loop writes into instead of a new
    array (a scan's stacked output at this step).
    """
    order: list[int] = []
    statements: list[str] = []
    for node in graph.topo_order():
        data = graph[node]
        if data["op"] == "input":
            names.setdefault(node, f"{prefix}v{node}")
        elif data["op"] == "constant":
            names[node] = f"{prefix}k{node}"
            value = data["value"]
            # A contiguous copy: Numba embeds it in the machine code (a strided view, such as a
            # folded broadcast, would be referenced by pointer and make the kernel uncacheable).
            constants[names[node]] = value[()] if value.ndim == 0 else np.ascontiguousarray(value).copy()
        else:
            names[node] = f"{prefix}v{node}"
            order.append(node)
            statements.append(emit_node(graph, node, names, constants, prefix, destinations))
    return order, statements


def emit_node(graph: Graph, node: int, names: dict[int, str], constants: dict | None = None,
              prefix: str = "", destinations: dict | None = None, flat: dict | None = None) -> str:
    """The source line(s) that compute ``node`` into ``v<node>`` (``destinations`` and ``flat``: see
    :func:`~graphc.codegen.loops.emit_fused`)."""
    data = graph[node]
    operands = graph.operands(node)
    op = REGISTRY[data["op"]]
    if op.name in CONTROL_EMITTERS:  # a loop or branch: its bodies' statements, nested
        return CONTROL_EMITTERS[op.name](graph, node, names, constants, prefix, emit_graph)
    args = [names[u] for u in operands]
    operand_data = [graph[u] for u in operands]
    out = names[node]
    if op.name == "unpack":
        if graph[operands[0]]["op"] in CONTROL_EMITTERS:  # the loop or branch node assigned it
            return f"# {out} is result {data['attrs']['index']} of {names[operands[0]]}"
        return f"{out} = {names[operands[0]]}[{data['attrs']['index']}]"  # a factorization's tuple
    scalar = data["shape"] == () and all(d["shape"] == () for d in operand_data)
    template = op.scalar_emit if scalar and op.scalar_emit is not None else op.emit
    if op.name == "fused":  # a loop nest, built from its body's scalar emissions
        return emit_fused(args, data, operand_data, prefix, destinations, flat).replace("{out}", out)
    if template is None:
        raise GraphcInternalError(f"no Numba emission for '{op.name}' (graphc bug; please report)")
    if callable(template):
        code = template(args, data, operand_data)
    else:
        code = template.format(*args, dtype=dtype_source(data["dtype"]))
    if calls_numpy_ufunc(data):  # NumPy's SIMD loop, outside nopython mode
        layout = ", ".join([":"] * (len(data["shape"]) - 1) + ["::1"])
        return (f"with numba.objmode({out}='{data['dtype'].name}[{layout}]'):\n"
                f"    {out} = _numpy_ufunc('{op.name}', {', '.join(args)})")
    return code.replace("{out}", out) if isinstance(code, Statements) else f"{out} = {code}"


def _return_value(graph: Graph, results: list[str]) -> str:
    # Tuple-shaped results come back in their own structure, so no Python rebuilds them per call.
    if is_tuple_tree(graph.out_tree):
        return tuple_tree_source(graph.out_tree, results)
    return "(" + ", ".join(results) + ("," if len(results) == 1 else "") + ")"


#: Kernels of more node statements than this are split into parts of this size: Numba's compile
#: time grows faster than linearly with a function's length (measured: 1.2 ms a node at 1,100
#: nodes, 2.1 ms at 4,400), while a chain of small functions compiles in linear time. A part hands
#: its values on as one tuple, whose machine code grows faster than linearly too (issue 13: the
#: unrolled RNN's 1,300 statements compiled in 46 s whole, 95 s in parts of 250), so a kernel that
#: rolls (codegen/rolled.py) is not split.
PART_SIZE = 400


def _defines(graph: Graph, node: int) -> list[str]:
    """The variables a node's statements assign (a fused loop assigns all of its results, a loop
    node the results its unpack nodes read)."""
    data = graph[node]
    if data["op"] == "fused":
        body = data["attrs"]["body"]
        return [f"v{n}" for n in body.nodes] if data["attrs"]["output"] == 0 else []
    if data["op"] == "unpack":
        return []
    if "results" in data:
        return [f"v{u}" for u in sorted(graph.users(node))]
    return [f"v{node}"]


def _decorator(statements: list[str], inner: bool = False) -> str:
    """``inner``: called only from the kernel, so Numba makes no Python wrapper (about 30 ms a function,
    seconds for a part that returns a long tuple)."""
    parallel = any("numba.prange(" in chunk for chunk in statements)
    return (f"@numba.njit(cache=CACHE, error_model='numpy'{', parallel=True' if parallel else ''}"
            f"{', no_cpython_wrapper=True' if inner else ''})")


def _indent(chunks: list[str]) -> list[str]:
    return ["    " + line for chunk in chunks for line in chunk.split("\n")]


def _split(graph: Graph, order: list[int], statements: list[str], names: dict, params: list[str],
           results: list[str]) -> tuple[list[str], list[str]]:
    """Parts of at most PART_SIZE statements, each a function of the values it reads from before.

    Returns the parts' source and the kernel's statements that call them in order.
    """
    uses = {n: {names[u] for u in graph.operands(n) if not names[u].startswith("k")} if _defines(graph, n)
            else set() for n in order}  # a fused loop's other results only name the loop: they read nothing
    needed_later: list[set] = []  # per part: names read by later parts or by the results
    parts = [list(range(i, min(i + PART_SIZE, len(order)))) for i in range(0, len(order), PART_SIZE)]
    later = {name for r in results for name in _names_in(r)}
    for part in reversed(parts):
        needed_later.append(set(later))
        for i in part:
            later |= uses[order[i]]
    needed_later.reverse()
    source, calls = [], []
    for k, part in enumerate(parts):
        defined = [name for i in part for name in _defines(graph, order[i])]
        reads = sorted({u for i in part for u in uses[order[i]]} - set(defined), key=_name_order)
        returns = [name for name in defined if name in needed_later[k]]
        if not returns:  # only comments (results of a loop computed in an earlier part)
            continue
        body = [statements[i] for i in part]
        source += ["", "", _decorator(body, inner=True), f"def part{k}({', '.join(reads)}):", *_indent(body),
                   f"    return ({', '.join(returns)}{',' if len(returns) == 1 else ''})"]
        calls.append(f"({', '.join(returns)}{',' if len(returns) == 1 else ''}) = part{k}({', '.join(reads)})")
    return source, calls


def _names_in(expression: str) -> list[str]:
    return re.findall(r"\bv\d+\b", expression)


def _name_order(name: str) -> int:
    return int(name[1:])


def generate(graph: Graph) -> tuple[str, dict[str, np.ndarray], tuple]:
    """Source of a module defining ``kernel``, the constants its globals must hold, and its size slots.

    The kernel reads the sizes of its arguments from the arguments themselves (graphc.dims), so the
    same source serves every shape that generates it. Its exactness comes from its first arguments,
    ``size0, size1, ...``: the size of each slot ``(input position, axis)`` of the call it runs for
    (ints: Numba takes an int in about 30 ns, an array in about 150), which the kernel checks against
    its arguments before anything else. Without slots (scalar arguments only, or a kernel whose
    sizes are all pasted in) there are no size arguments and the checks compare with the numbers.
    Kernels that are rolled or split into parts paste their sizes: their helper functions do not see
    the arguments.
    """
    if size_slots(graph):  # else nothing could be read from the arguments: emit once, with numbers
        names = _input_names(graph)
        with rendering(graph.dim_scope, names) as context:
            emitted = _emit_kernel(graph, names, generic=True)
        if emitted is not None and context.rendered:
            return emitted
    return _emit_kernel(graph, _input_names(graph), generic=False)


def _input_names(graph: Graph) -> dict[int, str]:
    return {node: f"v{node}" for node in graph.inputs}


def size_slots(graph: Graph) -> tuple:
    """The ``(input position, axis)`` of every argument size that is a Dim (graphc.dims)."""
    return tuple((position, axis) for position, node in enumerate(graph.inputs)
                 for axis, n in enumerate(graph[node]["shape"]) if isinstance(n, Dim))


_RUNTIME_IMPORT = "from graphc.codegen.runtime import *  # noqa: F401,F403 -- helpers the templates name"
_CALLS_SCIPY = re.compile(r"\b_scipy_\w+\(")


def _emit_kernel(graph: Graph, names: dict, generic: bool):
    """The module's source, constants and size slots; None when ``generic`` and the kernel would be
    rolled or split (see :func:`generate`)."""
    constants: dict[str, object] = {}
    order, statements = emit_graph(graph, names, constants)
    results = []
    for node in graph.outputs:
        name = names[node]
        # A view must not be handed to the caller: it may alias an argument or be read-only.
        if may_alias(graph[node]["op"]) and graph[node]["shape"] != ():
            name = f"_contiguous({name}).copy()"
        results.append(name)
    params = [names[n] for n in graph.inputs]
    slots = size_slots(graph) if generic else ()
    parts: list[str] = []
    rolled = roll(graph, order, statements, names, constants, emit_node, _defines)
    if rolled is not None:  # one loop over a table of sites (codegen/rolled.py)
        if generic:
            return None
        statements, outputs = rolled
        results = [mine if mine is not None else result for mine, result in zip(outputs, results)]
    elif len(statements) > PART_SIZE:
        if generic:
            return None
        parts, statements = _split(graph, order, statements, names, params, results)
    lines = [
        "# Generated by graphc: do not edit.",
        "import math",
        "import numba",
        "import numpy as np",
        _RUNTIME_IMPORT,
        *parts,
        "",
        "",
        _decorator(statements),
        f"def {KERNEL}({', '.join([f'size{k}' for k in range(len(slots))] + params)}):",
        *_indent(_shape_checks(graph, names, slots) + statements),
        f"    return {_return_value(graph, results)}",
        "",
    ]
    source = "\n".join(lines)
    if _CALLS_SCIPY.search(source):  # only these kernels import scipy.special (graphc.codegen.rt_scipy)
        lines.insert(lines.index(_RUNTIME_IMPORT) + 1, "from graphc.codegen.rt_scipy import *  # noqa: F401,F403")
        source = "\n".join(lines)
    return source, constants, slots


def _shape_checks(graph: Graph, names: dict, slots: tuple) -> list[str]:
    """A call whose shapes differ from those it was generated for must fail loudly, not read garbage:
    each size is compared with its slot's argument (a generic kernel) or with the number."""
    slot_of = {slot: k for k, slot in enumerate(slots)}
    checks = []
    for position, node in enumerate(graph.inputs):
        shape = graph[node]["shape"]
        if shape == ():
            continue
        wanted = [f"size{slot_of[position, axis]}" if (position, axis) in slot_of else str(int(n))
                  for axis, n in enumerate(shape)]
        condition = " or ".join(f"{names[node]}.shape[{axis}] != {w}" for axis, w in enumerate(wanted))
        shown = "(" + ", ".join(wanted) + ("," if len(wanted) == 1 else "") + ")"
        checks.append(f"if {condition}:\n"
                      f"    raise ArgumentShapeError('argument {position} must have shape {shown}')")
    return checks
