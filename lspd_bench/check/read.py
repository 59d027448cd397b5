"""A results table (``lspd_bench.ablate.store.read_table``: Parquet when present, else the CSV, typed by the
schema) read into the gate's cells, seeds pooled."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from lspd_bench.ablate import schema, store
from lspd_bench.check.cells import COST_FIGURES, DONE, LATENCY, LATENCY_HIGH, LATENCY_LOW, SEED, Cell, Results, normal
from lspd_bench.check.noise import accuracy_noise
from lspd_bench.check.pareto import mark_pareto
from lspd_bench.config import at_quiet_default, canonical_json
from lspd_bench.errors import InputError
from lspd_bench.train.files import METRICS_FILE


def results_file(path: str | Path) -> Path:
    """``RESULTS`` as given to ``check``: a matrix folder (its ``results.csv``) or the CSV file itself (the
    reader checks it against the manifest beside it)."""
    path = Path(path)
    if path.is_dir():
        path = path / store.RESULTS_CSV
        if not path.is_file():
            raise InputError(
                f"{path.parent} holds no {store.RESULTS_CSV}: is it a matrix folder of `lspd-bench ablate`?"
            )
    elif not path.is_file():
        raise InputError(f"results {path} does not exist")
    return path


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The table's header and typed rows; one that is not a results table, or has no rows, is refused."""
    table = store.read_table(path)
    header, rows = table.columns, table.rows
    missing = [c for c in (schema.STATUS, schema.HEADLINE) if c not in header]
    if missing or not any(a in header for a in schema.CONFIG):
        need = ", ".join(missing or ["a configuration column (" + ", ".join(schema.CONFIG) + ")"])
        raise InputError(f"results {path} is not an lspd-bench results table: no column {need}")
    if not rows:
        raise InputError(f"results {path} holds no cells")
    return header, rows


def _environment(matrix: Path, rows: list[dict[str, Any]]) -> dict | None:
    """The measuring environment, from the first finished cell's ``metrics.json`` (None when unreadable)."""
    for row in rows:
        run_dir = row.get(schema.RUN_DIR)
        if row.get(schema.STATUS) == DONE and isinstance(run_dir, str):
            try:
                metrics = json.loads((matrix / run_dir / METRICS_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            env = metrics.get("environment") if isinstance(metrics, dict) else None
            if isinstance(env, dict):
                return env
    return None


def read_results(path: str | Path) -> Results:
    """Read a results table (see ``lspd_bench.ablate.schema``) into cells, seeds pooled.

    Bad input (no file, not a CSV, not a results table, no rows) raises ``InputError`` naming the file.
    """
    source = results_file(path)
    header, rows = _read_rows(source)
    axes_cols = [a for a in schema.CONFIG if a in header and a != SEED]
    cells: dict[str, Cell] = {}
    ratios: dict[str, list[float]] = {}
    for row in rows:
        # A key added after the baseline was written matches it at its default (a baseline has no column for it).
        axes = {a: v for a in axes_cols if not at_quiet_default(a, v := normal(row.get(a)))}
        cell = cells.setdefault(canonical_json(axes), Cell(axes=axes))
        cell.seeds.append(normal(row.get(SEED)))
        if row.get(schema.CELL):
            cell.ids.append(row[schema.CELL])
        status = row.get(schema.STATUS)
        headline = row.get(schema.HEADLINE)
        if status != DONE or not isinstance(headline, (int, float)):
            error = row.get(schema.ERROR) or ("no headline" if status == DONE else "")
            cell.failed = cell.failed or f"{status or 'no status'}" + (f": {error}" if error else "")
            continue
        cell.accuracy.append(float(headline))
        if not cell.costs:
            cell.costs = {k: normal(row.get(k)) for k in COST_FIGURES}
        if all(isinstance(row.get(c), (int, float)) for c in (LATENCY, LATENCY_LOW, LATENCY_HIGH)):
            ratios.setdefault(cell.key, []).append((row[LATENCY], row[LATENCY_LOW], row[LATENCY_HIGH]))
        elif isinstance(row.get(LATENCY), (int, float)):  # a table from before the interval: the point alone
            ratios.setdefault(cell.key, []).append((row[LATENCY],) * 3)
    for cell in cells.values():
        # One network, one measurement: the seeds of a cell share it (the median guards an older table).
        if cell.key in ratios:
            ratio, low, high = (statistics.median(float(r[i]) for r in ratios[cell.key]) for i in range(3))
            cell.latency_ratio, cell.latency_interval = ratio, (low, high)
    context: dict[str, Any] = {}
    for col in (*(c for group in schema.MIX_GROUPS.values() for c in group), "headline_name"):
        if col in header:
            values = list(dict.fromkeys(normal(r.get(col)) for r in rows))
            context[col] = values[0] if len(values) == 1 else values
    out = list(cells.values())
    mark_pareto(out, accuracy_noise(out))
    name = context.get("headline_name")
    return Results(
        source, out, context, name if isinstance(name, str) else None, _environment(source.parent, rows), header
    )
