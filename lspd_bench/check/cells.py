"""The gate's unit, a *cell*: one configuration with its seeds pooled, matched across runs by its axes
(every configuration column but the seed), never by the cell hash."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lspd_bench.ablate import schema
from lspd_bench.ablate.schema import Status
from lspd_bench.config import canonical_json
from lspd_bench.cost.counters import FULL_COUNTERS

#: Deterministic costs: any change fails.
COST_FIGURES = ("params_full", "params_deploy", *(c.column for c in FULL_COUNTERS))
#: The cost axis of the Pareto front: fvcore's GMACs, as the report's default.
PARETO_COST = schema.COST_KINDS["gmacs"].column
LATENCY = "latency_ratio"
LATENCY_LOW, LATENCY_HIGH = "latency_ratio_low", "latency_ratio_high"
SEED = schema.SEED
DONE = Status.DONE


@dataclass
class Cell:
    """One setting of the axes, its seeds pooled: what the gate compares."""

    axes: dict[str, Any]  # every axis but the seed
    seeds: list[Any] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # the cell hashes of its rows (for the reader; not matched)
    accuracy: list[float] = field(default_factory=list)  # headline per seed, percent
    costs: dict[str, float | int | None] = field(default_factory=dict)
    latency_ratio: float | None = None
    latency_interval: tuple[float, float] | None = None  # 95 % over the measurement's rounds
    failed: str | None = None  # one line when a seed did not finish
    pareto: bool = False

    @property
    def key(self) -> str:
        return canonical_json(self.axes)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.accuracy) if self.accuracy else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (points); None with fewer than two seeds."""
        return statistics.stdev(self.accuracy) if len(self.accuracy) >= 2 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "axes": self.axes,
            "seeds": self.seeds,
            "cell_ids": self.ids,
            "accuracy": {"mean": self.mean, "std": self.std, "n": len(self.accuracy), "values": self.accuracy},
            **{k: self.costs.get(k) for k in COST_FIGURES},
            LATENCY: self.latency_ratio,
            LATENCY_LOW: self.latency_interval[0] if self.latency_interval else None,
            LATENCY_HIGH: self.latency_interval[1] if self.latency_interval else None,
            "pareto": self.pareto,
        }


@dataclass
class Results:
    """A results table read into cells, with the facts that are the same for all of them."""

    source: Path
    cells: list[Cell]
    context: dict[str, Any]
    headline_name: str | None
    environment: dict | None  # of the run that measured the cells, when a cell's metrics.json says
    columns: list[str] = field(default_factory=list)  # the table's header


def normal(value: Any) -> Any:
    """The same axis value however it was stored: an integral float and an int are one value, a missing one
    (None, NaN) is None, and a boolean is its table text (``True``), as baseline format 2 records it."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return value


def _describe(axes: dict[str, Any], names: list[str] | None = None) -> str:
    names = names if names is not None else [a for a in schema.CONFIG if a in axes]
    return " ".join(f"{a}={axes.get(a)}" for a in names) or "(no axes)"


def labeller(cells: list[Cell]) -> Callable[[Cell], str]:
    """Cells named by the fewest axes that tell them apart (``stages=2 distill=teacher``), in schema order.

    Axes that vary only along with another (``alpha`` is empty exactly when ``distill=none``) are left out,
    later axes first, as long as every cell keeps a name of its own.
    """
    names = [a for a in schema.CONFIG if a != SEED and any(a in c.axes for c in cells)]
    shown = [a for a in names if len({canonical_json(c.axes.get(a)) for c in cells}) > 1]
    distinct = len({c.key for c in cells})
    for axis in reversed(list(shown)):
        fewer = [a for a in shown if a != axis]
        if fewer and len({_describe(c.axes, fewer) for c in cells}) == distinct:
            shown = fewer
    shown = shown or [a for a in names if a == "model"] or names[:1]
    return lambda cell: _describe(cell.axes, shown)
