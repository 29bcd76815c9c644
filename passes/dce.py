"""Dead-code elimination: remove every node that no output needs (inputs always stay).

Bodies: recurses into every loop, branch and call body, and narrows those nodes themselves. A scan
drops the stacked outputs nobody reads and the carries that neither the rest of the graph nor the
body's needed outputs depend on; every such node drops the operands (weights, ``xs``) its bodies no
longer read; a cond and a checkpoint drop unused results. Narrowing one loop can free another's
results (the reverse scan of a gradient stops reading a residual the forward scan stacked), so it runs
until nothing changes.
"""
from __future__ import annotations

from graphc.graph import Graph
from graphc.ops import Results
from graphc.passes.bodies import map_bodies


def remove_dead(graph: Graph) -> Graph:
    """Remove, in place, the nodes of ``graph`` that no output needs (inputs stay: they are its
    interface); returns ``graph``."""
    needed = _reads(graph, graph.outputs) | set(graph.inputs)
    graph.dag.remove_nodes_from([n for n in list(graph.dag) if n not in needed])
    return graph


def eliminate_dead_code(graph: Graph) -> Graph:
    """A copy of ``graph`` without the nodes (and loop results and operands) no output needs."""
    new = map_bodies(graph, eliminate_dead_code)
    if new is graph:  # no bodies: map_bodies made no copy
        new = graph.copy()
    remove_dead(new)
    while any([_narrow(new, node) for node in list(new.dag) if "results" in new[node]]):
        remove_dead(new)
    return new


def _used_results(graph: Graph, node: int) -> set:
    return {graph[u]["attrs"]["index"] for u in graph.users(node)}


def _reads(body: Graph, outputs: list) -> set:
    """The body nodes that computing ``outputs`` reads (``outputs`` included): one walk up from all
    of them (a walk per output went over the shared part of the graph once per output)."""
    found = set(outputs)
    stack = list(found)
    while stack:
        for u in body.dag._pred[stack.pop()]:
            if u not in found:
                found.add(u)
                stack.append(u)
    return found


def _narrowed_body(body: Graph, inputs: list, outputs: list) -> Graph:
    new = body.copy()
    new.inputs, new.outputs = list(inputs), list(outputs)
    return remove_dead(new)


def _narrow(graph: Graph, node: int) -> bool:
    """Narrow one control node to what is used; True if it changed."""
    narrow = _NARROWERS.get(graph[node]["op"])
    return narrow(graph, node) if narrow is not None else False


def _narrow_scan(graph: Graph, node: int) -> bool:
    data = graph[node]
    attrs = data["attrs"]
    body, K, M = attrs["body"], attrs["num_consts"], attrs["num_carry"]
    used = _used_results(graph, node)
    P = len(body.outputs) - M
    carries = {i for i in range(M) if i in used}
    ys = [j for j in range(P) if M + j in used]
    while True:  # a carry is live if something live reads its value from the step before
        read = _reads(body, [body.outputs[i] for i in carries] + [body.outputs[M + j] for j in ys])
        more = {i for i in range(M) if body.inputs[K + i] in read} - carries
        if not more:
            break
        carries |= more
    carries = sorted(carries)
    consts = [k for k in range(K) if body.inputs[k] in read]
    xs = [n for n in range(len(body.inputs) - K - M) if body.inputs[K + M + n] in read]
    if attrs["length"] is None and not xs:
        xs = [0]  # the length is only known from an xs at run time
    if len(consts) == K and len(carries) == M and len(ys) == P and len(xs) == len(body.inputs) - K - M:
        return False
    inputs = ([body.inputs[k] for k in consts] + [body.inputs[K + i] for i in carries]
              + [body.inputs[K + M + n] for n in xs])
    outputs = [body.outputs[i] for i in carries] + [body.outputs[M + j] for j in ys]
    operands = graph.operands(node)
    kept = [operands[k] for k in consts] + [operands[K + i] for i in carries] + [operands[K + M + n] for n in xs]
    new_attrs = dict(attrs, body=_narrowed_body(body, inputs, outputs), num_consts=len(consts), num_carry=len(carries))
    _rebuild(graph, node, kept, carries + [M + j for j in ys], new_attrs)
    return True


def _narrow_while(graph: Graph, node: int) -> bool:
    data = graph[node]
    attrs = data["attrs"]
    cond, body, K = attrs["cond"], attrs["body"], attrs["num_consts"]
    read = _reads(cond, cond.outputs) | _reads(body, body.outputs)
    consts = [k for k in range(K) if cond.inputs[k] in read or body.inputs[k] in read]
    if len(consts) == K:
        return False
    operands = graph.operands(node)
    kept = [operands[k] for k in consts] + operands[K:]
    narrowed = [_narrowed_body(g, [g.inputs[k] for k in consts] + g.inputs[K:], g.outputs) for g in (cond, body)]
    new_attrs = dict(attrs, cond=narrowed[0], body=narrowed[1], num_consts=len(consts))
    _rebuild(graph, node, kept, list(range(len(data["results"]))), new_attrs)
    return True


def _narrow_cond(graph: Graph, node: int) -> bool:
    data = graph[node]
    branches = data["attrs"]["branches"]
    used = sorted(_used_results(graph, node))
    read = set()
    for branch in branches:
        read |= _reads(branch, [branch.outputs[i] for i in used])
    operands = graph.operands(node)
    kept = [k for k in range(len(operands) - 1) if any(b.inputs[k] in read for b in branches)]
    if len(used) == len(data["results"]) and len(kept) == len(operands) - 1:
        return False
    narrowed = tuple(_narrowed_body(b, [b.inputs[k] for k in kept], [b.outputs[i] for i in used]) for b in branches)
    _rebuild(graph, node, [operands[0]] + [operands[1 + k] for k in kept], used,
             dict(data["attrs"], branches=narrowed))
    return True


def _narrow_checkpoint(graph: Graph, node: int) -> bool:
    data = graph[node]
    body = data["attrs"]["body"]
    used = sorted(_used_results(graph, node))
    read = _reads(body, [body.outputs[i] for i in used])
    operands = graph.operands(node)
    kept = [k for k in range(len(operands)) if body.inputs[k] in read]
    if len(used) == len(data["results"]) and len(kept) == len(operands):
        return False
    narrowed = _narrowed_body(body, [body.inputs[k] for k in kept], [body.outputs[i] for i in used])
    _rebuild(graph, node, [operands[k] for k in kept], used, dict(data["attrs"], body=narrowed))
    return True


#: How each node with several results narrows; a ``custom_vjp`` node (gone once simplification has
#: run) keeps its interface.
_NARROWERS = {"scan": _narrow_scan, "while_loop": _narrow_while, "cond": _narrow_cond,
              "checkpoint": _narrow_checkpoint}


def _rebuild(graph: Graph, node: int, operands: list, results: list, attrs: dict) -> None:
    """Give ``node`` new operands, attributes and a subset ``results`` of its results (in that
    order); its unpack nodes follow their results to the new positions."""
    data = graph[node]
    graph.dag.remove_in_edges(node)
    for position, operand in enumerate(operands):
        graph.dag.add_edge(operand, node, key=position)
    position_of = {old: new for new, old in enumerate(results)}
    old_results = data["results"]
    data["attrs"] = attrs
    data["results"] = Results([old_results[i] for i in results])
    for user in graph.users(node):
        user_data = graph[user]
        user_data["attrs"] = dict(user_data["attrs"], index=position_of[user_data["attrs"]["index"]])
