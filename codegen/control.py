"""Loop and branch nodes -> Numba loops and ``if``s, their bodies' statements nested inside.

A ``scan`` over 200 steps becomes one loop whose carries are local variables and whose per-step
outputs go into arrays allocated once before it::

    s12_c0 = np.copy(v1)                     # carries: fresh arrays, never the caller's
    v14 = np.empty((200, 16), np.float64)    # each stacked output that is used
    for s12_i in range(200):
        s12_t = s12_i                        # 199 - s12_i with reverse=True
        s12_v1 = v2[s12_t]                   # this step's x
        s12_v3 = np.dot(v0, s12_c0)          # the body: its node %3 is s12_v3
        ...
        s12_c0 = s12_v5                      # all carries at once, after the body
        v14[s12_t] = s12_v5
    v13 = s12_c0                             # the final carry

Names inside a body start with the loop's own prefix (``s12_``; ``s12_s30_`` one level deeper), so
every line still maps back to its node. A ``while_loop`` is a ``while True`` loop with a ``break``;
one that records (for the reverse sweep) stores each step's carries in arrays that double in size
when full. A ``cond`` is an ``if``/``else``; a ``checkpoint`` is its body's statements in line.
"""
from __future__ import annotations

from graphc.ops import dtype_source, may_alias

#: Capacity of a recording while_loop's arrays before the first doubling.
TAPE_START = 16


def _result_names(graph, node: int, names: dict, prefix: str) -> dict[int, str]:
    """Result index -> the variable of the unpack node that reads it (unused results have none)."""
    found = {}
    for user in graph.users(node):
        if graph[user]["op"] == "unpack":
            found[graph[user]["attrs"]["index"]] = names.setdefault(user, f"{prefix}v{user}")
    return found


def _fresh_array(body, node: int) -> bool:
    """Whether a body value is an array the body made itself, C-contiguous and writable: anything but
    what ``graphc.ops.may_alias`` names (a view, a constant, the caller's array), and a reshape of such an
    array. A carry or branch result that is not fresh is copied, so every value of the variable has one
    Numba type (a fresh C-contiguous array) and the loop never hands back an alias of an input."""
    data = body[node]
    if data["op"] == "reshape":
        return _fresh_array(body, body.operands(node)[0])
    return not may_alias(data["op"])


def _elementwise_loop_output(body, node: int) -> bool:
    """Whether ``node`` is an array a fused loop fills element by element (not one of its sums)."""
    data = body[node]
    if data["op"] != "fused" or data["shape"] == ():
        return False
    inner = data["attrs"]["body"].graph
    return inner[inner.outputs[data["attrs"]["output"]]]["op"] != "sum"


def _updates_in_place(body, carry_input: int, carry_output: int) -> bool:
    """Whether a fused loop may write a carry's next value over its old one: it is the only reader
    of the old value, reads it at the element it writes (no broadcasting), and nothing else in the
    step (another output, a stacked copy) needs the old value."""
    if not _elementwise_loop_output(body, carry_output) or body.outputs.count(carry_output) != 1:
        return False
    if carry_input in body.outputs:
        return False
    loop = body[carry_output]["attrs"]["body"]
    users = set(body.users(carry_input))
    return bool(users) and users <= set(loop.nodes) and tuple(body[carry_input]["shape"]) == tuple(loop.space)


def _value(body, node: int, names: dict) -> str:
    """A body output as a loop variable's next value: copied when it might alias or be read-only."""
    if body[node]["shape"] != () and not _fresh_array(body, node):
        return f"np.copy({names[node]})"
    return names[node]


def _fresh(name: str, data: dict) -> str:
    return f"np.copy({name})" if data["shape"] != () else name


def _assign(targets: list[str], values: list[str]) -> list[str]:
    # One tuple assignment: every carry's next value is computed from the old ones.
    if not targets:
        return []
    return [f"{', '.join(targets)}{',' if len(targets) == 1 else ''} = {', '.join(values)}{',' if len(values) == 1 else ''}"]


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    pad = "    " * depth
    return [pad + line for chunk in lines for line in chunk.split("\n")]


def emit_scan(graph, node: int, names: dict, constants: dict, prefix: str, emit_graph) -> str:
    data = graph[node]
    attrs = data["attrs"]
    body, K, M = attrs["body"], attrs["num_consts"], attrs["num_carry"]
    operands = graph.operands(node)
    args = [names[u] for u in operands]
    me = f"{prefix}s{node}_"
    results = _result_names(graph, node, names, prefix)
    xs = args[K + M:]
    length = str(attrs["length"]) if attrs["length"] is not None else f"{xs[0]}.shape[0]"
    carries = [f"{me}c{i}" for i in range(M)]
    inner_names = dict(zip(body.inputs[:K], args[:K]))
    inner_names.update(zip(body.inputs[K:K + M], carries))
    lines = [f"# scan %{node}: {length} steps"]
    lines += [f"{c} = {_fresh(a, graph[u])}" for c, a, u in zip(carries, args[K:K + M], operands[K:K + M])]
    stacked = {}
    for j, out in enumerate(body.outputs[M:]):
        name = results.get(M + j)
        if name is not None:
            y = body[out]
            lines.append(f"{name} = np.empty(({length},) + {tuple(y['shape'])}, {dtype_source(y['dtype'])})")
            stacked[j] = name
    step = f"{me}t"
    loop = [f"{step} = {length} - 1 - {me}i" if attrs["reverse"] else f"{step} = {me}i"]
    for x, inp in zip(xs, body.inputs[K + M:]):
        inner_names[inp] = f"{me}v{inp}"
        loop.append(f"{inner_names[inp]} = {x}[{step}]")
    # A stacked output that a fused loop computes (and that is no carry) is written by that loop
    # straight into its row of the stacked array: no array per step, no copy. Likewise a carry that
    # only its own fused loop reads, element by element (a running sum of weight gradients), is
    # updated in place.
    direct = {}
    for j, name in stacked.items():
        out = body.outputs[M + j]
        if _elementwise_loop_output(body, out) and body.outputs.count(out) == 1:
            direct[out] = f"{name}[{step}]"
    for i, carry in enumerate(carries):
        if _updates_in_place(body, body.inputs[K + i], body.outputs[i]):
            direct[body.outputs[i]] = carry
    _, statements = emit_graph(body, inner_names, constants, me, direct)
    loop += statements
    # Stores first: a stacked output may be a carry's value before this step (a saved residual).
    loop += [f"{name}[{step}] = {inner_names[body.outputs[M + j]]}" for j, name in stacked.items()
             if body.outputs[M + j] not in direct]
    loop += _assign(carries, [_value(body, o, inner_names) for o in body.outputs[:M]])
    lines.append(f"for {me}i in range({length}):")
    lines += _indent(loop)
    lines += [f"{results[i]} = {carries[i]}" for i in range(M) if i in results]
    return "\n".join(lines)


def emit_while(graph, node: int, names: dict, constants: dict, prefix: str, emit_graph) -> str:
    data = graph[node]
    attrs = data["attrs"]
    cond, body, K = attrs["cond"], attrs["body"], attrs["num_consts"]
    operands = graph.operands(node)
    args = [names[u] for u in operands]
    M = len(operands) - K
    me = f"{prefix}w{node}_"
    results = _result_names(graph, node, names, prefix)
    carries = [f"{me}c{i}" for i in range(M)]
    lines = [f"# while_loop %{node}"]
    lines += [f"{c} = {_fresh(a, graph[u])}" for c, a, u in zip(carries, args[K:], operands[K:])]
    cond_names = dict(zip(cond.inputs, args[:K] + carries))
    body_names = dict(zip(body.inputs, args[:K] + carries))
    _, cond_statements = emit_graph(cond, cond_names, constants, me + "c_")
    _, body_statements = emit_graph(body, body_names, constants, me + "b_")
    loop = cond_statements + [f"if not {cond_names[cond.outputs[0]]}:", "    break"]
    record = attrs.get("record", False)
    count = f"{me}n"
    if record:
        lines += [f"{count} = 0", f"{me}cap = {TAPE_START}"]
        tapes = [f"{me}tape{i}" for i in range(M)]
        grow = [f"if {count} == {me}cap:", f"    {me}cap *= 2"]
        for tape, u in zip(tapes, operands[K:]):
            shape, dtype = tuple(graph[u]["shape"]), dtype_source(graph[u]["dtype"])
            lines.append(f"{tape} = np.empty(({me}cap,) + {shape}, {dtype})")
            grow += [f"    {me}grown = np.empty(({me}cap,) + {shape}, {dtype})", f"    {me}grown[:{count}] = {tape}[:{count}]",
                     f"    {tape} = {me}grown"]
        loop += grow + [f"{tape}[{count}] = {c}" for tape, c in zip(tapes, carries)]
    loop += body_statements
    loop += _assign(carries, [_value(body, o, body_names) for o in body.outputs])
    if record:
        loop.append(f"{count} += 1")
    lines.append("while True:")
    lines += _indent(loop)
    lines += [f"{results[i]} = {carries[i]}" for i in range(M) if i in results]
    if record:
        if M in results:
            lines.append(f"{results[M]} = {count}")
        lines += [f"{results[M + 1 + i]} = {tape}[:{count}]" for i, tape in enumerate(tapes) if M + 1 + i in results]
    return "\n".join(lines)


def emit_cond(graph, node: int, names: dict, constants: dict, prefix: str, emit_graph) -> str:
    data = graph[node]
    branches = data["attrs"]["branches"]
    operands = graph.operands(node)
    args = [names[u] for u in operands]
    results = _result_names(graph, node, names, prefix)
    me = f"{prefix}b{node}_"
    targets = [f"{me}r{i}" for i in range(len(branches[0].outputs))]
    arms = []
    for k, branch in enumerate(branches):
        inner = dict(zip(branch.inputs, args[1:]))
        _, statements = emit_graph(branch, inner, constants, f"{me}{k}_")
        arms.append(statements + _assign(targets, [_value(branch, o, inner) for o in branch.outputs]))
    lines = [f"# cond %{node}", f"if {args[0]}:", *_indent(arms[1] or ["pass"])]
    lines += ["else:", *_indent(arms[0] or ["pass"])]
    lines += [f"{name} = {targets[i]}" for i, name in results.items()]
    return "\n".join(lines)


def emit_checkpoint(graph, node: int, names: dict, constants: dict, prefix: str, emit_graph) -> str:
    """A call: the body's statements in line, under its own prefix (``graphc.ops.calls``)."""
    body = graph[node]["attrs"]["body"]
    inner = dict(zip(body.inputs, (names[u] for u in graph.operands(node))))
    _, statements = emit_graph(body, inner, constants, f"{prefix}k{node}_")
    lines = [f"# checkpoint %{node}", *statements]
    results = _result_names(graph, node, names, prefix)
    lines += [f"{name} = {inner[body.outputs[i]]}" for i, name in results.items()]
    return "\n".join(lines)


#: How emit.py writes each op that holds bodies.
CONTROL_EMITTERS = {"scan": emit_scan, "while_loop": emit_while, "cond": emit_cond, "checkpoint": emit_checkpoint}
