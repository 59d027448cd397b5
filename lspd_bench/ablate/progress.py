"""A run's view of its cells: each cell's state (``CellRun``) and the ``state`` events a live view is drawn from.

The driver (``lspd_bench.ablate.run``) and its phases update ``CellRun`` and ``Display.phase``/``shared``;
``Display.emit`` reads each running cell's ``progress.json`` (written by its worker) and sends one event
with every cell's state, epoch and metric and an ETA. Printing is the CLI's (``lspd_bench.cli.ablate``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lspd_bench.ablate import store
from lspd_bench.ablate.matrix import Cell
from lspd_bench.ablate.plan import latency_seconds
from lspd_bench.ablate.schema import Status

#: Receives the run's events (a live view).
Progress = Callable[[dict], None]


@dataclass
class CellRun:
    """A cell during a run: its id and folder, its state and what the live view shows of it."""

    cell: Cell
    id: str
    dir: Path
    label: str
    identity: dict[str, Any]
    state: Status = Status.PENDING  # not NEW or INTERRUPTED: those are pending here
    error: str | None = None
    estimate_s: float | None = None
    work: float = 0.0  # relative training cost (forward GMACs × epochs): the longest-first order
    started: float | None = None
    seconds: float | None = None  # this run's wall time of the cell's training and evaluation

    def table_status(self) -> str:
        return self.state if self.state in (Status.DONE, Status.FAILED, Status.PENDING) else Status.RUNNING


class Display:
    """Builds the ``state`` events the CLI's live table is drawn from (throttled to one per second)."""

    def __init__(self, progress: Progress | None, runs: list[CellRun], slots: int, min_time_s: float):
        self.progress = progress
        self.runs = runs
        self.slots = slots
        self.min_time_s = min_time_s
        self.phase = "validating"
        self.shared: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.sent = 0.0

    def emit(self, force: bool = False) -> None:
        if self.progress is None or (not force and time.monotonic() - self.sent < 1.0):
            return
        self.sent = time.monotonic()
        cells = []
        for r in self.runs:
            row: dict[str, Any] = {"cell": r.id, "label": r.label, "state": r.state, "error": r.error}
            if r.state == Status.RUNNING:
                prog = store.read_progress(r.dir) or {}
                row.update(
                    {
                        k: prog.get(k)
                        for k in ("phase", "epoch", "epochs", "step", "steps", "metric", "seconds_per_epoch")
                    }
                )
                row["elapsed_s"] = time.monotonic() - r.started if r.started else None
            elif r.state in (Status.TRAINED, Status.DONE):
                metrics = store.read_json(r.dir / store.METRICS_FILE) or {}
                row["metric"] = metrics.get("headline")
                if r.state == Status.DONE:
                    cost = store.read_json(r.dir / store.COST_FILE) or {}
                    row["latency_ratio"] = cost.get("latency_ratio")
            cells.append(row)
        states = [r.state for r in self.runs]
        self.progress(
            {
                "event": "state",
                "phase": self.phase,
                "shared": self.shared,
                "cells": cells,
                "counts": {s: states.count(s) for s in dict.fromkeys(states)},
                "elapsed_s": time.monotonic() - self.started,
                "eta_s": self.eta(cells),
            }
        )

    def eta(self, cells: list[dict]) -> float | None:
        """Seconds left: running cells from their epoch rate, pending ones from estimates or from the seconds
        per epoch and unit of work (GMACs) of the cells seen so far, divided by the parallelism; plus the
        latency phase. It sharpens as cells report their rates."""
        seen = [
            (c["seconds_per_epoch"], r.work / r.cell.config.epochs)
            for r, c in zip(self.runs, cells)
            if c.get("seconds_per_epoch")
        ]
        per_work = sum(s for s, _ in seen) / sum(w for _, w in seen) if seen and all(w > 0 for _, w in seen) else None
        left = 0.0
        for r, c in zip(self.runs, cells):
            mean_rate = per_work * r.work / r.cell.config.epochs if per_work is not None and r.work > 0 else None
            if r.state == Status.RUNNING:
                rate = c.get("seconds_per_epoch") or mean_rate
                if rate is None or not c.get("epochs"):
                    if r.estimate_s is None or r.started is None:
                        return None
                    left += max(0.0, r.estimate_s - (time.monotonic() - r.started))
                else:
                    done = (c.get("epoch") or 0) + (c.get("step") or 0) / max(1, c.get("steps") or 1)
                    left += max(0.0, c["epochs"] - done) * rate
            elif r.state in (Status.PENDING, Status.BUSY):
                if r.estimate_s is not None:
                    left += r.estimate_s
                elif mean_rate is not None:
                    left += mean_rate * r.cell.config.epochs
                else:
                    return None
        profiling = [
            r.cell.config for r in self.runs if r.state in (Status.PENDING, Status.RUNNING, Status.BUSY, Status.TRAINED)
        ]
        return left / self.slots + latency_seconds(profiling, self.min_time_s)
