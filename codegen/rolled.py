"""A long kernel as one loop over a table of sites: each distinct computation is compiled once.

Numba's compile time is per generated statement, and LLVM's grows faster than the function
(issue 13: an RNN unrolled over 200 steps, 3,006 nodes, took 396 s). The steps of an unrolled loop
repeat a dozen computations that differ only in which values they read and write. Rolled, the
kernel keeps every intermediate value in one flat buffer per dtype, at an offset fixed here, and
runs the sites in topological order from a table (constants of the module)::

    b0 = np.empty(4321, np.float64)                  # the float64 values; dead ones' space reused
    site_form, site_start, site_param = SITE_FORM, SITE_START, SITE_PARAM
    for s in range(654):                              # site s: its form, and its row of parameters
        p = site_start[s]
        f = site_form[s]
        if f == 0:                                    # xs[t]: t is a parameter too
            f0_o0 = site_param[p + 0]
            f0_r0 = _index_lead(v4, (site_param[p + 1],))
            _put(b0, f0_o0, f0_r0)
        elif f == 1:                                  # U @ x, written into the buffer
            f1_o0 = site_param[p + 0]
            f1_o1 = site_param[p + 1]
            f1_a0 = b0[f1_o0:f1_o0 + 8]
            _matmul2_into(v1, f1_a0, b0[f1_o1:f1_o1 + 16])
        elif f == 4:                                  # a fused loop, element by element in the buffer
            ...
            for i0 in range(16):
                f4_l0 = b0[f4_o0 + i0]
                ...
                b0[f4_o2 + i0] = f4_l6
    return (b0[4320], (_slot(b0, 1040, (16, 16)).copy(), ...))

A form is a node's statement with its operands, results and loop temporaries renamed by position
(``f1_a0``, ``f1_r0``, ``f1_l0``); inputs and constants keep their names, and the integers of an
index (``_index_lead(v4, (9,))``) become parameters too, so ``xs[t]`` is one form for every ``t``.
Names carry the form's number because Numba gives a variable one type in the whole function. A
reshape, or a transpose or ``x[i]`` that keeps the elements' order, is no site at all: its value
is its operand's elements, at their offset.
"""
from __future__ import annotations

import re

import numpy as np

from graphc.codegen import rt_linalg, rt_shape
from graphc.codegen.control import CONTROL_EMITTERS
from graphc.codegen.loops import emit_body_loop, read_flat, read_index, split_body
from graphc.graph import Graph
from graphc.ops import dtype_source

#: Kernels of at least this many node statements are rolled, when their sites share forms ...
#: (measured on the RNN: at 150 statements both ways compile in about 3.5 s, at 300 rolled takes
#: 4 s against 6.5 s, and from there rolled stays near 4 s while straight code grows superlinearly)
ROLL_MIN = 200
#: ... at least this many sites to a form on average (else the table only adds work).
ROLL_SHARING = 4
#: A fused loop reading more values than this runs as several loops of at most this many reads
#: (loops.split_body), so that a sum with a term per step repeats one form.
SPLIT_READS = 16
#: Numba embeds a global array in the machine code only up to 1 MB (a bigger one makes the kernel
#: uncacheable), so a larger site table stays unrolled.
TABLE_LIMIT = 10**6

# A call of a helper whose index (its second argument, integer literals) becomes the site's parameters.
_INDEXED = re.compile(rf"\b({'|'.join(rt_shape.INDEXED)})\((\w+), \(([\d, ]+)\)")
# Helpers with a variant that writes into its last argument: their sites write into the buffer.
_INTO = {**rt_linalg.WRITES_INTO, **rt_shape.WRITES_INTO}


class _Values:
    """Where each value lives: a buffer per dtype, offsets reused once a value is dead.

    A value that is another's elements in the same order (a reshape, a transpose that moves only
    axes of length 1, ``x[i]``) is an alias: it lives where its root does, and costs no site.
    """

    def __init__(self, aliases: dict):
        self.buffers: dict = {}  # dtype -> (name, size)
        self.slots: dict = {}  # root value name -> (buffer name, offset, shape, dtype)
        self.aliases = aliases  # value name -> (root name, offset from the root's, shape)
        self._free: dict = {}  # (dtype, size) -> offsets

    def __contains__(self, name: str) -> bool:
        return self.aliases.get(name, (name,))[0] in self.slots

    def __getitem__(self, name: str) -> tuple:
        if name not in self.aliases:
            return self.slots[name]
        root, extra, shape = self.aliases[name]
        buffer, offset, _, dtype = self.slots[root]
        return buffer, offset + extra, shape, dtype

    def place(self, name: str, shape: tuple, dtype) -> None:
        buffer, size = self.buffers.setdefault(dtype, (f"b{len(self.buffers)}", 0))
        n = int(np.prod(shape, dtype=np.int64))
        free = self._free.get((dtype, n))
        if free:
            offset = free.pop()
        else:
            offset = size
            self.buffers[dtype] = (buffer, size + max(n, 1))
        self.slots[name] = (buffer, offset, shape, dtype)

    def release(self, name: str) -> None:
        _, offset, shape, dtype = self.slots[name]
        self._free.setdefault((dtype, int(np.prod(shape, dtype=np.int64))), []).append(offset)


def _read(buffer: str, offset: str, shape: tuple) -> str:
    """A value kept at ``buffer[offset:]``: the element, a slice, or a view of its shape."""
    if len(shape) <= 1:
        return f"{buffer}[{offset}]" if shape == () else f"{buffer}[{offset}:{offset} + {shape[0]}]"
    return f"_slot({buffer}, {offset}, {shape})"


class _Site:
    """One entry of the table: the values it reads and writes, and how to write its code given
    where they are (``where(name)`` -> ``(buffer, offset variable)``).

    ``build`` returns the code, the operands it reads from the buffers itself, and the results it
    writes there itself; the others are read through ``_slot`` views and written by ``_put``.
    """

    def __init__(self, operands: list[str], results: list[str], build):
        self.operands, self.results, self.build = operands, results, build


def _alias(graph: Graph, node: int) -> int | None:
    """For a node whose value is its operand's elements in C order (so a rolled kernel need not copy
    them), their offset into the operand's; else None."""
    data = graph[node]
    operands = graph.operands(node)
    if len(operands) != 1 or data["shape"] == () and data["op"] != "getitem":
        return None
    shape = graph[operands[0]]["shape"]
    if data["op"] in ("reshape", "stop_gradient") and shape != ():
        return 0
    if data["op"] == "transpose":
        moved = [axis for axis in data["attrs"]["axes"] if shape[axis] != 1]
        return 0 if moved == sorted(moved) else None
    index = data["attrs"].get("index") if data["op"] == "getitem" else None
    if index and all(isinstance(i, int) for i in index):
        return sum(i * int(np.prod(shape[d + 1:], dtype=np.int64)) for d, i in enumerate(index))
    return None


def roll(graph: Graph, order: list[int], statements: list[str], names: dict, constants: dict,
         emit_node, defines) -> tuple[list[str], list[str | None]] | None:
    """The kernel's statements and its result expressions (one per output; None for an input or
    constant) as a loop over a table of sites, with the table put into ``constants``; None for a
    kernel that rolling does not pay for, or that has statements it cannot make a form of (loops and
    branches, objmode, parallel loops).

    ``emit_node`` and ``defines`` are codegen.emit's, passed in (emit imports this module).
    """
    if any(graph[node]["op"] in CONTROL_EMITTERS or "numba." in statement
           for node, statement in zip(order, statements)):
        return None
    nodes = [(node, statement) for node, statement in zip(order, statements) if not statement.startswith("#")]
    if len(nodes) < ROLL_MIN:
        return None
    fixed = {names[n] for n in graph.inputs} | {name for name in names.values() if name.startswith("k")}
    aliases = {}  # value name -> (root value, offset from the root's, shape)
    shapes = {}  # value name -> (shape, dtype)
    sites = []
    for node, statement in nodes:
        operand = names[graph.operands(node)[0]] if graph.operands(node) else None
        extra = _alias(graph, node) if operand not in fixed else None
        if extra is not None:
            base, more, _ = aliases.get(operand, (operand, 0, None))
            aliases[names[node]] = (base, more + extra, graph[node]["shape"])
            continue
        for name in defines(graph, node):
            member = graph[int(name[1:])]
            shapes[name] = (member["shape"], member["dtype"])
        sites += _sites(graph, node, statement, names, fixed, shapes, emit_node, defines)
    if any(None in shape for shape, _ in shapes.values()):
        return None
    base = lambda name: aliases.get(name, (name,))[0]  # noqa: E731
    last_read = {}
    for i, site in enumerate(sites):
        for name in site.operands:
            last_read[base(name)] = i
    for node in graph.outputs:
        last_read[base(names[node])] = len(sites)  # never released
    values, forms, rows = _Values(aliases), {}, []
    for i, site in enumerate(sites):
        if any(name not in values for name in site.operands):
            return None  # read before any site wrote it: not a value this kernel keeps
        for name in site.results:
            values.place(name, *shapes[name])
        form = _form(site, values, fixed)
        if form is None:
            return None
        code, indices = form
        rows.append((forms.setdefault(code, len(forms)), [values[name][1] for name in site.operands + site.results]
                     + indices))
        for name in {base(name) for name in site.operands}:
            if last_read.get(name) == i:
                values.release(name)
    if len(forms) * ROLL_SHARING > len(sites):
        return None
    # The most frequent forms first: the chain of tests that picks a site's form is shortest for them.
    counts = np.bincount([f for f, _ in rows], minlength=len(forms))
    renumber = {int(f): k for k, f in enumerate(np.argsort(-counts, kind="stable"))}
    starts = np.cumsum([0] + [len(row) for _, row in rows[:-1]], dtype=np.int64)
    param = np.array([p for _, row in rows for p in row], dtype=np.int64)
    if param.nbytes > TABLE_LIMIT:
        return None
    constants.update(SITE_FORM=np.array([renumber[f] for f, _ in rows], dtype=np.int64), SITE_START=starts,
                     SITE_PARAM=param)
    lines = [f"{buffer} = np.empty({size}, {dtype_source(dtype)})" for dtype, (buffer, size) in values.buffers.items()]
    # Read through locals: Numba's passes print each use of a global, and printing an array is slow.
    lines += ["site_form, site_start, site_param = SITE_FORM, SITE_START, SITE_PARAM",
              f"for s in range({len(rows)}):", "    p = site_start[s]", "    f = site_form[s]"]
    for code, number in sorted(forms.items(), key=lambda item: renumber[item[1]]):
        number = renumber[number]
        lines.append(f"    {'if' if number == 0 else 'elif'} f == {number}:")
        lines += ["        " + line for line in code.replace("{form}", f"f{number}_").split("\n")]
    outputs = []
    for node in graph.outputs:
        name = names[node]
        if name in values:
            buffer, offset, shape, _ = values[name]
            outputs.append(f"{buffer}[{offset}]" if shape == () else f"_slot({buffer}, {offset}, {shape}).copy()")
        else:
            outputs.append(None)
    return lines, outputs


def _sites(graph, node, statement, names, fixed, shapes, emit_node, defines) -> list[_Site]:
    """The sites that compute ``node``: one, or one per loop of a fused node that is split."""
    operands = [name for name in dict.fromkeys(names[u] for u in graph.operands(node)) if name not in fixed]
    results = defines(graph, node)
    data = graph[node]
    into = re.fullmatch(r"(v\d+) = (\w+)\((.*)\)", statement)
    if into and into.group(2) in _INTO and shapes[into.group(1)][0] != ():  # the helper writes the buffer
        name, helper, args = into.groups()
        code = lambda where: f"{_INTO[helper]}({args}, {_read(*where(name), shapes[name][0])})"  # noqa: E731
        return [_Site(operands, results, lambda where: (code(where), set(), {name}))]
    if data["op"] != "fused":
        return [_Site(operands, results, lambda where: (statement, set(), set()))]
    body = data["attrs"]["body"]
    inner = body.graph
    sums = {f"v{carrier}" for carrier, member in zip(body.nodes, inner.outputs) if inner[member]["op"] == "sum"}
    loops = split_body(body, SPLIT_READS)
    if loops is None:  # one loop, reading its operands from the buffers and writing its outputs there
        def build(where):
            flat = {name: where(name) for name in operands}
            into = {int(name[1:]): where(name) for name in results if name not in sums and shapes[name][0] != ()}
            code = emit_node(graph, node, dict(names), None, "", into, flat)
            return code, set(flat), {f"v{carrier}" for carrier in into}
        return [_Site(operands, results, build)]
    # Split: values that pass from one loop to a later one are kept whole, as temporaries.
    outer = dict(zip(inner.inputs, (names[u] for u in graph.operands(node))))
    carriers = {member: f"v{carrier}" for carrier, member in zip(body.nodes, inner.outputs)}
    home = {member: k for k, members in enumerate(loops) for member in members}
    later = {u for k, members in enumerate(loops) for m in members for u in inner.operands(m)
             if u in home and home[u] < k}
    value = {}  # body value -> the kernel value that holds it
    for u, name in outer.items():
        value[u] = name
    for member in home:
        if member in carriers:
            value[member] = carriers[member]
        elif member in later:
            value[member] = f"c{node}_{member}"
            shapes[value[member]] = (body.space, inner[member]["dtype"])
    sites = []
    for k, members in enumerate(loops):
        inside = set(members)
        reads = list(dict.fromkeys(u for m in members for u in inner.operands(m) if u not in inside))
        writes = [m for m in members if m in carriers or m in later]
        site_operands = list(dict.fromkeys(value[u] for u in reads if value[u] not in fixed))
        site_results = [value[m] for m in writes]

        def build(where, members=members, reads=reads, writes=writes):
            expressions = []
            for u in reads:
                name, shape = value[u], (inner[u]["shape"] if u in outer else body.space)
                expressions.append((u, read_index(name, shape, body.space, "") if name in fixed
                                    else read_flat(where(name), shape, body.space, "")))
            code = emit_body_loop(inner, body.space, members, expressions, [(m, where(value[m])) for m in writes])
            return code, {value[u] for u in reads} - fixed, {value[m] for m in writes}
        sites.append(_Site(site_operands, site_results, build))
    return sites


def _form(site: _Site, values: _Values, fixed: set) -> tuple[str, list] | None:
    """A site's code with names by position (``{form}a0``; the caller fills in the form's prefix) and
    the integers it takes from its row beyond the offsets, or None if it names other values."""
    position = {name: j for j, name in enumerate(site.operands + site.results)}
    where = lambda name: (values[name][0], f"{{form}}o{position[name]}")  # noqa: E731
    statement, flat, written = site.build(where)
    offsets = [f"{{form}}o{j} = site_param[p + {j}]" for j in range(len(position))]
    indices: list[int] = []

    def parametrize(match: re.Match) -> str:
        ints = [int(x) for x in match.group(3).replace(" ", "").split(",") if x]
        first = len(position) + len(indices)
        indices.extend(ints)
        args = ", ".join(f"site_param[p + {first + j}]" for j in range(len(ints)))
        return f"{match.group(1)}({match.group(2)}, ({args},)"

    statement = _INDEXED.sub(parametrize, statement)
    rename = {name: f"{{form}}a{j}" for j, name in enumerate(site.operands)}
    rename.update({name: f"{{form}}r{j}" for j, name in enumerate(site.results)})
    local = iter(range(1 << 30))

    def positional(match: re.Match) -> str:
        name = match.group(0)
        if name in rename or name in fixed:
            return rename.get(name, name)
        if not name.startswith("t"):  # a value that is neither an operand nor a result of this site
            raise LookupError(name)
        rename[name] = f"{{form}}l{next(local)}"
        return rename[name]

    try:
        # (v7 is also renamed inside v7_lanes, a fused loop's partial sums: codegen/loops.py)
        code = re.sub(r"\b[vtk]\d+(?=_lanes\b|\b)", positional, statement)
    except LookupError:
        return None
    reads = [f"{rename[name]} = {_read(*where(name), values[name][2])}" for name in site.operands if name not in flat]
    writes = []
    for name in site.results:
        if name not in written:
            (buffer, offset), shape = where(name), values[name][2]
            writes.append(f"{buffer}[{offset}] = {rename[name]}" if shape == ()
                          else f"_put({buffer}, {offset}, {rename[name]})")
    return "\n".join(offsets + reads + [code] + writes), indices
