"""A fused node -> one loop nest: no temporary arrays between the fused ops.

For a body over iteration space ``S`` the loop nest is::

    row_indices = max(1, 8192 // S[1])     # a row: enough indices of axis 0 for 8192 elements
    v21 = np.empty(S, dtype)                # each elementwise value that leaves the loop
    v22_lanes = np.zeros(((S[0] + row_indices - 1) // row_indices, 8), dtype)  # a full sum: 8 lanes a row
    for row in range((S[0] + row_indices - 1) // row_indices):   # numba.prange when big enough for threads
        for i0 in range(row * row_indices, min(S[0], (row + 1) * row_indices)):
            for block in range(0, S[1], 8):
                for lane in range(min(8, S[1] - block)):
                    i1 = block + lane
                    t3 = v3[i0, i1]         # reads, with broadcasting (size-1 axes read index 0)
                    t7 = np.float64(vexp(np.float64(t3)))   # one line per op: the registry's scalar_emit
                    v21[i0, i1] = t7
                    v22_lanes[row, lane] += t7
    v22 = _lane_total(v22_lanes)            # in a fixed order: see _lane_loops

Body node ``%7`` is ``t7`` here, so every line maps back to the listing. A loop without full sums is
the plain nest ``for i0 ...: for i1 ...:``; a partial sum accumulates into an array of the kept axes.
"""
from __future__ import annotations

import math

from graphc.ops import REGISTRY, Statements, dtype_source

#: Loops over at least this many elements run their outer loop on all cores (numba.prange).
#: Threads cost microseconds to start, so small loops stay serial.
PARALLEL_MIN_ELEMENTS = 1 << 17

#: A loop whose sums are all full sums keeps LANES partial sums per row (see :func:`_lane_loops`):
#: a single accumulator would chain every addition to the one before, so the loop could not vectorize.
LANES = 8
#: A row of a loop's lanes: this many consecutive elements (one-dimensional loops), or enough indices
#: of axis 0 to hold as many (others). Each row has its own lanes, so threads never share one.
LANE_ROW = 8192
#: Smaller loops add into one accumulator, in order: the lanes' array would cost more than it saves.
LANES_MIN_ELEMENTS = 1024


def _index(shape: tuple, space: tuple, prefix: str) -> list[str]:
    """Per axis of ``shape``, its index at the loop's position (``0`` on a broadcast axis)."""
    lead = len(space) - len(shape)
    return ["0" if n == 1 and space[lead + d] != 1 else f"{prefix}i{lead + d}" for d, n in enumerate(shape)]


def read_index(name: str, shape: tuple, space: tuple, prefix: str) -> str:
    """``name[...]`` indexed at the loop's position, broadcasting ``shape`` against ``space``."""
    if shape == ():
        return name
    return f"{name}[{', '.join(_index(shape, space, prefix))}]"


def read_flat(where: tuple, shape: tuple, space: tuple, prefix: str) -> str:
    """``buffer[offset + ...]``: the element of a C-ordered value kept in a flat buffer (rolled kernels)."""
    buffer, offset = where
    terms = [offset] + [f"{i} * {math.prod(shape[d + 1:])}" if math.prod(shape[d + 1:]) != 1 else i
                        for d, i in enumerate(_index(shape, space, prefix)) if i != "0"]
    return f"{buffer}[{' + '.join(terms)}]"


def _scalar_line(graph, node: int, prefix: str) -> str:
    data = graph[node]
    operands = graph.operands(node)
    args = [f"{prefix}t{u}" for u in operands]
    if data["op"] == "broadcast_to":
        return f"{prefix}t{node} = {args[0]}"
    template = REGISTRY[data["op"]].scalar_emit
    if callable(template):
        scalar = dict(data, shape=())
        code = template(args, scalar, [dict(graph[u], shape=()) for u in operands])
    else:
        code = template.format(*args, dtype=dtype_source(data["dtype"]))
    return f"{prefix}t{node} = {code}"


def emit_fused(args: list[str], node: dict, operands: list[dict], prefix: str = "",
               destinations: dict | None = None, flat: dict | None = None) -> Statements:
    """Statements for a ``fused`` node: the whole loop for output 0, nothing for the others.

    ``prefix`` starts every name the loop makes (a loop inside a scan's body is ``s12_v21``, ``s12_t7``).
    An output whose carrier node is in ``destinations`` is written into that array instead of a new one,
    or, given as ``(buffer, offset)``, into a flat buffer; an operand named in ``flat`` (name ->
    ``(buffer, offset)``) is read from one. A rolled kernel keeps its values so (codegen/rolled.py).
    """
    destinations, flat = destinations or {}, flat or {}
    p = prefix
    body, output = node["attrs"]["body"], node["attrs"]["output"]
    out_names = [f"{p}v{n}" for n in body.nodes]
    if output != 0:
        return Statements(f"# {{out}} comes from the loop of {out_names[0]}")
    graph, space = body.graph, body.space
    rank = len(space)
    sums = {m: graph[m]["attrs"]["axis"] for m in graph.outputs if graph[m]["op"] == "sum"}
    partial_axes = {a for axis in sums.values() if len(axis) < rank for a in axis}
    parallel = math.prod(space) >= PARALLEL_MIN_ELEMENTS and 0 not in partial_axes
    lanes = (bool(sums) and all(len(axis) == rank for axis in sums.values())
             and math.prod(space) >= LANES_MIN_ELEMENTS)
    if lanes:
        lines, rows, headers = _lane_loops(space, parallel, p)
    else:
        lines = []
        headers = ["    " * d + f"for {p}i{d} in {'numba.prange' if d == 0 and parallel else 'range'}({space[d]}):"
                   for d in range(rank)]
    finish = []
    stores = []
    for carrier, name, m in zip(body.nodes, out_names, graph.outputs):
        dtype = dtype_source(graph[m]["dtype"])
        if m not in sums:
            target = destinations.get(carrier)
            if isinstance(target, tuple):
                stores.append(f"{read_flat(target, space, space, p)} = {p}t{m}")
                continue
            lines.append(f"{name} = {target}" if target is not None else f"{name} = np.empty({space}, {dtype})")
            stores.append(f"{name}[{', '.join(f'{p}i{d}' for d in range(rank))}] = {p}t{m}")
            continue
        (member,) = graph.operands(m)
        axis = sums[m]
        if lanes:
            lines.append(f"{name}_lanes = np.zeros(({rows}, {LANES}), {dtype})")
            stores.append(f"{name}_lanes[{p}row, {p}lane] += {p}t{member}")
            finish.append(f"{name} = _lane_total({name}_lanes)")
            if graph[m]["shape"] != ():  # keepdims over every axis
                finish.append(f"{name} = np.full({graph[m]['shape']}, {name})")
            continue
        if len(axis) == rank:
            lines.append(f"{name} = {dtype}(0)")
            stores.append(f"{name} += {p}t{member}")
            if graph[m]["shape"] != ():  # keepdims over every axis
                finish.append(f"{name} = np.full({graph[m]['shape']}, {name})")
            continue
        keep = tuple(1 if d in axis else n for d, n in enumerate(space))
        lines.append(f"{name} = np.zeros({keep}, {dtype})")
        stores.append(f"{name}[{', '.join('0' if d in axis else f'{p}i{d}' for d in range(rank))}] += {p}t{member}")
        if keep != graph[m]["shape"]:
            finish.append(f"{name} = {name}.reshape({graph[m]['shape']})")
    body_lines = [f"{p}t{u} = " + (read_flat(flat[a], operands[i]["shape"], space, p) if a in flat
                                   else read_index(a, operands[i]["shape"], space, p))
                  for i, (u, a) in enumerate(zip(graph.inputs, args))]
    body_lines += [_scalar_line(graph, m, p) for m in graph.topo_order()
                   if graph[m]["op"] not in ("input", "sum")]
    body_lines += stores
    last = headers[-1]  # a loop header, or the line that sets the innermost index inside one
    depth = len(last) - len(last.lstrip()) + (4 if last.lstrip().startswith("for ") else 0)
    lines += headers + [" " * depth + line for line in body_lines]
    return Statements("\n".join(lines + finish))


def _lane_loops(space: tuple, parallel: bool, p: str) -> tuple[list[str], str, list[str]]:
    """For a loop whose sums keep lanes: the lines to run before it, the number of rows (an
    expression), and its headers (with the lines that set the loop's indices).

    The iteration space is cut into rows: ``LANE_ROW`` consecutive elements of a one-dimensional
    space; otherwise consecutive indices of axis 0, as many as hold ``LANE_ROW`` elements (at least
    one). Within a row the innermost axis runs in blocks of ``LANES``, and lane ``j`` of a sum adds,
    in the loop's order, the elements whose innermost index is ``j`` modulo ``LANES``.
    ``_lane_total`` then adds each row's lanes pairwise, ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) +
    (l6 + l7))``, and the rows in order. The code fixes that order, not threads or the vector width,
    so a sum is the same from run to run; the block loop over ``min(LANES, ...)`` elements is what
    LLVM vectorizes.
    """
    rank = len(space)
    outer = "numba.prange" if parallel else "range"
    inner = f"{space[-1]}"
    if rank == 1:
        setup, rows = [], f"({inner} + {LANE_ROW - 1}) // {LANE_ROW}"
        lines = [f"for {p}row in {outer}({rows}):",
                 f"    {p}row_start = {p}row * {LANE_ROW}",
                 f"    {p}row_stop = min({inner}, {p}row_start + {LANE_ROW})",
                 f"    for {p}block in range({p}row_start, {p}row_stop, {LANES}):"]
        stop, depth = f"{p}row_stop", 2
    else:
        per_row = f"{p}row_indices"
        setup = [f"{per_row} = max(1, {LANE_ROW} // ({' * '.join(f'{n}' for n in space[1:])}))"]
        rows = f"({space[0]} + {per_row} - 1) // {per_row}"
        lines = [f"for {p}row in {outer}({rows}):",
                 f"    for {p}i0 in range({p}row * {per_row}, min({space[0]}, ({p}row + 1) * {per_row})):"]
        lines += ["    " * (d + 1) + f"for {p}i{d} in range({space[d]}):" for d in range(1, rank - 1)]
        lines.append("    " * rank + f"for {p}block in range(0, {inner}, {LANES}):")
        stop, depth = inner, rank + 1
    indent = "    " * depth
    return setup, rows, lines + [f"{indent}for {p}lane in range(min({LANES}, {stop} - {p}block)):",
                                 f"{indent}    {p}i{rank - 1} = {p}block + {p}lane"]


def split_body(body, limit: int) -> list[list[int]] | None:
    """The members of a fused body as a sequence of loops that each read at most ``limit`` values
    (inputs, or members of an earlier loop), in topological order; None when the body reads no more
    than that, or has sums (the loop that starts a sum must finish it).

    A rolled kernel runs each of them as a site: a long sum of products (an unrolled RNN's weight
    gradient, one term a step) becomes a few loops of one form, instead of one loop whose code
    grows with the number of steps.
    """
    graph = body.graph
    if len(graph.inputs) <= limit or any(graph[m]["op"] == "sum" for m in graph.topo_order()):
        return None
    loops, current, inside, reads = [], [], set(), set()
    for member in graph.topo_order():
        if graph[member]["op"] == "input":
            continue
        needs = {u for u in graph.operands(member) if u not in inside}
        if current and len(reads | needs) > limit:
            loops.append(current)
            current, inside, reads = [], set(), set()
            needs = set(graph.operands(member))
        current.append(member)
        inside.add(member)
        reads |= needs
    return loops + [current]


def emit_body_loop(graph, space: tuple, members: list[int], reads: list[tuple[int, str]],
                   writes: list[tuple[int, tuple]], prefix: str = "") -> str:
    """One loop over ``space`` computing body ``members`` (see :func:`split_body`): ``reads`` are
    ``(value, expression)`` pairs, ``writes`` ``(member, (buffer, offset))`` pairs, stored flat."""
    p, rank = prefix, len(space)
    lines = [f"{p}t{u} = {expression}" for u, expression in reads]
    lines += [_scalar_line(graph, m, p) for m in members]
    lines += [f"{read_flat(target, space, space, p)} = {p}t{m}" for m, target in writes]
    loop = ["    " * d + f"for {p}i{d} in range({space[d]}):" for d in range(rank)]
    return "\n".join(loop + ["    " * rank + line for line in lines])
