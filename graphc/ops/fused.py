"""The ``fused`` node that the fusion pass makes: one loop computing several values.

It is not a primitive a user traces: only ``graphc.passes.fuse`` creates it, after differentiation,
so it has no adjoint. Its reference evaluates the body graph; codegen turns the body into one loop
(``graphc.codegen.loops``).
"""
from __future__ import annotations

import dataclasses

from graphc.ops import defop


@dataclasses.dataclass(eq=False)
class FusedBody:
    """The inside of a fused loop: a graph over the loop's inputs, its iteration space, its outputs.

    ``graph.outputs`` are the member nodes whose values leave the loop, in output order; ``nodes`` are
    the ids of the outer ``fused`` nodes that carry them (one per output, all sharing this body).
    """

    graph: object
    space: tuple
    nodes: tuple = ()

    def __repr__(self):
        # The full listing: part of the compile-cache key, so two different loops never share a key.
        return f"FusedBody(space={self.space}, {self.graph})"


def _reference(*operands, body, output):
    from graphc.evaluate import evaluate  # evaluate stands to the right of ops in the import order

    return evaluate(body.graph, *operands)[output]


defop("fused", arity=None, internal=True, reference=_reference, adjoint=None,
      shape=lambda *avals, body, output: body.graph.aval(body.graph.outputs[output]),
      doc="one loop over an elementwise group and the sums it feeds (made by the fusion pass)")
