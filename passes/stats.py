"""What one stage of lowering did: the node count before and after it, and its time."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PassStats:
    """One pass or stage: ``name``, ``nodes_before``, ``nodes_after``, ``seconds``."""

    name: str
    nodes_before: int
    nodes_after: int
    seconds: float

    def __str__(self):
        return f"{self.name:<32} {self.nodes_before:>6} -> {self.nodes_after:<6} {self.seconds * 1e3:9.2f} ms"
