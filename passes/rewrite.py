"""Rewrite rules as rows, and the driver that applies them until nothing matches.

A :class:`Rule` names its identity (``"x*1 -> x"``), the ops it applies to, and a function
``(graph, node) -> replacement node id or None``. The replacement may be an existing node or one the
rule appended; the driver moves the node's users to it and counts the rule's applications.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Callable, Optional, Sequence

from graphc.graph import Graph

MAX_ROUNDS = 10


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    ops: tuple
    apply: Callable[[Graph, int], Optional[int]]


def rewrite(graph: Graph, rules: Sequence[Rule]) -> tuple[Graph, Counter]:
    """Apply ``rules`` to a copy of ``graph`` until no rule matches; return it and the counts per rule."""
    by_op: dict[str, list[Rule]] = {}
    for rule in rules:
        for op in rule.ops:
            by_op.setdefault(op, []).append(rule)
    new = graph.copy()
    counts: Counter = Counter()
    for _ in range(MAX_ROUNDS):
        changed = False
        for node in new.topo_order():
            if node not in new.dag:
                continue
            for rule in by_op.get(new[node]["op"], ()):
                replacement = rule.apply(new, node)
                if replacement is not None and replacement != node:
                    new.replace_uses(node, replacement)
                    if not new.dag._succ[node] and node not in new.inputs:
                        new.dag.remove_node(node)
                    counts[rule.name] += 1
                    changed = True
                    break
        if not changed:
            break
    return new, counts
