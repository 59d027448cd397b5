"""The MAC counters, declared once: the id each count carries (``MacCount.counter``, ``report --counter``), how
tables and findings name it, and its column in the results table.

It imports nothing, so that the torch-free readers (the results schema, the report, the gate) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Counter:
    id: str
    title: str  # how tables and the contract's findings name it

    @property
    def column(self) -> str:
        """Its GMACs column in the results table: ``gmacs_`` and the id in letters, digits and underscores."""
        return "gmacs_" + "".join(ch if ch.isalnum() else "_" for ch in self.id)


FVCORE = Counter("fvcore", "fvcore")
CONV_LINEAR = Counter("conv+linear", "fvcore (convolution and linear layers only)")
PTFLOPS = {backend: Counter(f"ptflops-{backend}", f"ptflops ({backend} backend)") for backend in ("pytorch", "aten")}
#: In the order ``count_macs`` returns them.
COUNTERS: tuple[Counter, ...] = (FVCORE, CONV_LINEAR, *PTFLOPS.values())
#: The counters that count every operator they know (fvcore's conv-and-linear figure leaves some out by design):
#: the model contract checks them, and the gate fails any change in them.
FULL_COUNTERS: tuple[Counter, ...] = tuple(c for c in COUNTERS if c is not CONV_LINEAR)
