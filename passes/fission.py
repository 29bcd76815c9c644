"""Loop fission: what a scan's step does not need step by step runs batched, outside the loop.

On the NumPy tier every node of a loop body costs a NumPy call a step, about a microsecond on the small
arrays of a recurrent step, so a long loop's first result grows with its length. Most of a body does not
depend on the previous step. :func:`split_scans` splits each scan into

* a **prefix**: the nodes that read no carry (``U @ x[t]``, a reshape of ``x[t]``), computed for all
  steps at once over the stacked ``xs`` (:mod:`graphc.passes.batching`), and read by the loop as more ``xs``;
* the **recurrence**: the nodes the next carries need, which alone still run a step at a time;
* a **suffix**: the nodes no carry needs (a per-step loss term, the ``1 - h**2`` a gradient saves),
  computed after the loop over the stacked values they read;
* **running sums**: a carry that only accumulates, ``c = c + e`` with ``e`` free of ``c`` (a weight's
  gradient in a reverse scan), becomes ``c0 + sum(e over steps)`` after the loop.

In the RNN of benchmarks/scan_rnn.py the forward step keeps 4 of its 8 nodes and the reverse step 4 of 17
(W @ h or W.T @ g, and the adds, products or tanh between it and the next carry). A running sum of
outer products ``u_t v_t^T`` (a weight's gradient) becomes one matmul ``U^T V`` of the stacked factors
(under vmap, one batched matmul: each example's weight gradient).

The split trades per-step calls for stacked temporaries, so a scan whose batched values would exceed
:data:`MAX_BATCHED_BYTES` is left whole, as is a node with no batching rule of its own (it stays in the
loop, with what depends on it). Only floating-point carries of 32 bits or more become sums, and those
are added in another order than the loop adds them: values agree to rounding, not bit for bit. Only
top-level scans are split; bodies are left as they are.

Both tiers run the split graph (it is the last of the graph passes). The Numba kernel gains too: a
matrix-vector product a step becomes one matrix product over all steps before or after the loop (the
scan RNN's value and gradient at T=1,000: 1.25 ms a call against 2.7 ms whole, in one measurement).
"""
from __future__ import annotations

import math

from graphc.graph import Graph
from graphc.ops import apply
from graphc.passes.batching import batch_nodes, can_batch
from graphc.passes.dce import eliminate_dead_code
from graphc.tracer import Tracer, building

#: The most memory the batched values of one scan may take (each counted whole, as if all were alive).
MAX_BATCHED_BYTES = 256 * 2**20


def split_loops(graph: Graph) -> Graph:
    """The optimization pass: :func:`split_scans`, with the count in ``graph.notes["split_scans"]``."""
    new, count = split_scans(graph)
    if count:
        new.notes["split_scans"] = count
    return new


def split_scans(graph: Graph) -> tuple[Graph, int]:
    """A copy of ``graph`` with its top-level scans split as the module says; also how many were."""
    scans = [n for n in graph.topo_order() if graph[n]["op"] == "scan"]
    if not scans:
        return graph, 0
    new = graph.copy()
    split = 0
    with building(new):
        for node in scans:
            plan = _Plan(new, node)
            if plan.worth_it():
                plan.rewrite()
                split += 1
    if not split:
        return graph, 0
    # Dead-code elimination removes the old loops and narrows the new ones to the xs they still read.
    return eliminate_dead_code(new), split


class _Plan:
    """How one scan node divides (see the module docstring), and the rewrite that does it."""

    def __init__(self, graph: Graph, node: int):
        self.graph, self.node = graph, node
        attrs = graph[node]["attrs"]
        self.attrs, body = attrs, attrs["body"]
        self.body = body
        nc, nk = attrs["num_consts"], attrs["num_carry"]
        self.consts, self.carries, self.xs = body.inputs[:nc], body.inputs[nc:nc + nk], body.inputs[nc + nk:]
        self.carry_outs, self.ys = body.outputs[:nk], body.outputs[nk:]
        self.operands = graph.operands(node)
        self.length = attrs["length"]
        if self.length is None and self.xs:
            self.length = graph[self.operands[nc + nk]]["shape"][0]
        self.order = [n for n in body.topo_order() if body[n]["op"] != "input"]
        self._classify()

    # ---- planning --------------------------------------------------------------------------------
    def _classify(self) -> None:
        body = self.body
        carried = set(self.carries)
        for n in self.order:
            if any(u in carried for u in body.operands(n)):
                carried.add(n)
        # Prefix: reads no carry, and either is the same every step or can be batched over the steps.
        self.batched = {c: False for c in self.consts} | {x: True for x in self.xs}
        self.prefix = []
        for n in self.order:
            operands = body.operands(n)
            if n in carried or not all(u in self.batched for u in operands):
                continue
            varies = any(self.batched[u] for u in operands)
            if varies and not self._movable(n):
                continue
            self.batched[n] = varies
            self.prefix.append(n)
        prefix = set(self.prefix)
        self.sums = self._running_sums(carried)
        # The recurrence: what the other carries' next values need, up to the prefix and the inputs.
        inputs = set(body.inputs)
        core: set = set()
        stack = [o for k, o in enumerate(self.carry_outs) if k not in self.sums]
        while stack:
            n = stack.pop()
            if n in core or n in prefix or n in inputs:
                continue
            core.add(n)
            stack.extend(body.operands(n))
        adds = {self.carry_outs[k] for k in self.sums}
        for n in self.order:  # an unbatchable node past the recurrence joins it, with what it reads
            if n in core or n in prefix or n in adds or self._movable(n):
                continue
            stack = [n]
            while stack:
                m = stack.pop()
                if m not in core and m not in prefix and m not in inputs:
                    core.add(m)
                    stack.extend(body.operands(m))
        self.core = core
        self.suffix = [n for n in self.order if n not in core and n not in prefix and n not in adds]

    def _running_sums(self, carried: set) -> dict:
        """Carry position -> ``e`` for each floating-point carry whose next value is ``carry + e`` and
        that nothing else reads, with ``e`` of the carry's own type, free of it and not another carry."""
        body, sums = self.body, {}
        outputs = list(self.body.outputs)
        for k, (c, o) in enumerate(zip(self.carries, self.carry_outs)):
            if body[o]["op"] != "add" or body.users(c) != [o] or body.users(o) or outputs.count(o) != 1 \
                    or c in outputs:
                continue
            a, b = body.operands(o)
            e = b if a == c else a
            if e == c or e in body.dag.reachable(c, upstream=False) or e in self.carries:
                continue
            dtype = body[c]["dtype"]
            # Floats of 32 bits or more only: a sum of integers or bools would be widened (and not wrap
            # as the loop's adds do), and float16's loop saturates where its sum would not.
            if body[e]["shape"] != body[c]["shape"] or body[e]["dtype"] != dtype or dtype.kind not in "fc" \
                    or dtype.itemsize < 4:
                continue
            sums[k] = e
        return sums

    def _movable(self, n: int) -> bool:
        """Whether body node ``n`` may run batched over the steps, outside the loop: it has a batching
        rule, and one result (a loop, branch or call inside the body stays there with its unpacks)."""
        return can_batch(self.body[n]["op"]) and "results" not in self.body[n]

    def _outer_factors(self, e: int) -> tuple | None:
        """``(u, v)`` when the running sum's term ``e`` is an outer product ``u * v`` of a column (n, 1)
        and a row (1, m) that both vary per step (a weight's gradient in a reverse scan), or a stack of
        such products over equal leading axes (per-example gradients under vmap), and nothing else
        reads it."""
        body = self.body
        if body[e]["op"] != "multiply" or len(body.users(e)) != 1:
            return None
        a, b = body.operands(e)
        sa, sb = body[a]["shape"], body[b]["shape"]
        if len(sa) != len(sb) or len(sa) < 2 or sa[:-2] != sb[:-2] or None in sa + sb \
                or body[a]["dtype"] != body[e]["dtype"] or body[b]["dtype"] != body[e]["dtype"]:
            return None
        factors = (a, b) if sa[-1] == 1 and sb[-2] == 1 else (b, a) if sa[-2] == 1 and sb[-1] == 1 else None
        if factors is None or not all(self.batched.get(f, True) for f in factors):
            return None
        return factors

    def _stacked_reads(self) -> list:
        """Values of the loop that the suffix, the running sums or the stacked outputs read: the loop
        stacks them."""
        wanted = [u for n in self.suffix for u in self.body.operands(n)] + list(self.sums.values()) + list(self.ys)
        carries = set(self.carries)
        return list(dict.fromkeys(u for u in wanted if u in self.core or u in carries))

    def _prefix_reads(self) -> list:
        """Prefix values the loop reads (constants stay in the loop as they are)."""
        read = [u for n in self.core for u in self.body.operands(n)]
        read += [o for k, o in enumerate(self.carry_outs) if k not in self.sums]
        return list(dict.fromkeys(u for u in read if u in self.batched
                                  and self.body[u]["op"] not in ("input", "constant")))

    def worth_it(self) -> bool:
        """Whether splitting takes anything out of the loop, within the memory bound."""
        if self.length is None or int(self.length) == 0 \
                or all(self.body[n]["op"] == "constant" for n in set(self.order) - self.core):
            return False
        products = {e for e in self.sums.values() if self._outer_factors(e)}  # summed without forming them
        batched = [n for n in self.prefix if self.batched[n]] + self.suffix + self._stacked_reads()
        batched = [n for n in batched if n not in products]
        if any(None in self.body[n]["shape"] for n in batched):
            return False  # a size known only at run time (a while_loop's record): the bound cannot be checked
        size = sum(math.prod(self.body[n]["shape"]) * self.body[n]["dtype"].itemsize for n in batched)
        return size * int(self.length) <= MAX_BATCHED_BYTES

    # ---- rewriting -------------------------------------------------------------------------------
    def rewrite(self) -> None:
        graph, body, attrs = self.graph, self.body, self.attrs
        nc, nk = attrs["num_consts"], attrs["num_carry"]
        operands = [Tracer(graph, u) for u in self.operands]
        const_ops, init_ops, xs_ops = operands[:nc], operands[nc:nc + nk], operands[nc + nk:]
        values = {c: (t, False) for c, t in zip(self.consts, const_ops)}
        values.update({x: (t, True) for x, t in zip(self.xs, xs_ops)})
        batch_nodes(body, self.prefix, values)

        kept = [k for k in range(nk) if k not in self.sums]
        reads, stacked = self._prefix_reads(), self._stacked_reads()
        shared = [p for p in reads if not self.batched[p]]
        varying = [p for p in reads if self.batched[p]]
        loop = self._loop_body(kept, shared, varying, stacked)
        results = ()
        if loop.outputs:
            results = apply("scan", *const_ops, *(values[p][0] for p in shared), *(init_ops[k] for k in kept),
                            *xs_ops, *(values[p][0] for p in varying), body=loop, num_consts=nc + len(shared),
                            num_carry=len(kept), length=attrs["length"], reverse=attrs["reverse"])
        finals = dict(zip(kept, results[:len(kept)]))
        values.update({n: (t, True) for n, t in zip(stacked, results[len(kept):])})
        batch_nodes(body, self.suffix, values)
        for k, e in self.sums.items():
            factors = self._outer_factors(e)
            if factors:  # sum over t of u_t v_t^T is U^T V: one GEMM, no (length, n, m) stack
                total = self._summed_outer_products(*(values[f][0] for f in factors))
            else:
                total, varies = values[e]
                total = apply("sum", total, axis=(0,), keepdims=False) if varies else total * self.length
            finals[k] = init_ops[k] + total
        new_results = [finals[k] for k in range(nk)] + [self._stacked(values[y]) for y in self.ys]
        for user in graph.users(self.node):  # the old loop's unpack nodes: their users move over
            graph.replace_uses(user, new_results[graph[user]["attrs"]["index"]].node)

    def _summed_outer_products(self, u: Tracer, v: Tracer) -> Tracer:
        """``sum_t u_t v_t`` for stacked columns ``u`` (T, ..., n, 1) and rows ``v`` (T, ..., 1, m): the
        product (..., n, T) @ (..., T, m), batched over the leading axes ``...``."""
        lead = tuple(u.shape[1:-2])
        k = len(lead)
        columns = apply("reshape", u, shape=(self.length,) + lead + (u.shape[-2],))
        rows = apply("reshape", v, shape=(self.length,) + lead + (v.shape[-1],))
        columns = apply("transpose", columns, axes=tuple(range(1, k + 2)) + (0,))
        if k:
            rows = apply("transpose", rows, axes=tuple(range(1, k + 1)) + (0, k + 1))
        return apply("matmul", columns, rows)

    def _stacked(self, value) -> Tracer:
        tracer, varies = value
        return tracer if varies else apply("broadcast_to", tracer, shape=(self.length,) + tuple(tracer.shape))

    def _loop_body(self, kept: list, shared: list, varying: list, stacked: list) -> Graph:
        """The recurrence as a body: prefix values it reads become inputs (``shared`` among the
        consts, ``varying`` among the xs); its outputs are the kept carries, then ``stacked``."""
        body = self.body
        loop = body.copy()
        keep = set(self.core) | set(body.inputs) | set(shared) | set(varying)
        outputs = [self.carry_outs[k] for k in kept] + stacked
        keep |= {u for u in [u for n in self.core for u in body.operands(n)] + outputs if body[u]["op"] == "constant"}
        keep -= {self.carries[k] for k in self.sums}
        loop.dag.remove_nodes_from([n for n in list(loop.dag) if n not in keep])
        for p in shared + varying:
            loop.dag.remove_in_edges(p)
            data = loop[p]
            kept_data = {k: data[k] for k in ("shape", "dtype", "loc") if k in data}
            data.clear()
            data.update(op="input", attrs={}, name=f"batched %{p}", **kept_data)
        loop.inputs = (self.consts + shared + [self.carries[k] for k in kept] + self.xs + varying)
        loop.outputs = outputs
        return loop
