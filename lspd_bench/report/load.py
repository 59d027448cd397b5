"""Read an ablation matrix folder: ``results.csv`` plus each cell's ``metrics.json``, ``cost.json`` and
``per_person.npz`` (the files ``lspd-bench ablate`` writes; column names in :mod:`lspd_bench.ablate.schema`).

The results table (read by ``lspd_bench.ablate.store.read_table``, typed by the schema) is the source of every
number in the tables; the per-cell files add what a table row cannot hold:
the environment, the conventions, the counters' library versions and the per-person correctness that the
paired bootstrap needs. A matrix that is still running is fine: cells that are not ``done`` are kept and
marked, and a ``done`` cell whose folder lost a file is reported, not fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lspd_bench.ablate import schema, store
from lspd_bench.ablate.schema import Status
from lspd_bench.errors import InputError
from lspd_bench.evaluation.evaluators import keeps_per_person
from lspd_bench.train.files import METRICS_FILE, PER_PERSON_FILE

#: Columns without which a ``results.csv`` is not one of ours.
REQUIRED_COLUMNS = (schema.CELL, schema.STATUS, schema.RUN_DIR, schema.HEADLINE, "metric")
DONE = Status.DONE

#: Model families that are comparison rows (reference markers on the Pareto plots), with display names.
REFERENCE_FAMILIES = {"simplebaseline": "SimpleBaseline", "litehrnet": "Lite-HRNet", "hourglass": "Hourglass"}


def model_family(name: Any) -> str | None:
    """The registry family of model ``name`` (``lspd``, ``simplebaseline``, …), or None when unregistered."""
    if not isinstance(name, str):
        return None
    from lspd_bench.models import get_entry

    try:
        return get_entry(name).family
    except KeyError:
        return None


def reference_label(name: str) -> str:
    """A reference model's display name: ``simplebaseline-r18`` → ``SimpleBaseline-R18``."""
    pretty = REFERENCE_FAMILIES.get(model_family(name) or "")
    if pretty is None:
        return name
    _, _, variant = name.partition("-")
    return f"{pretty}-{variant.upper()}" if variant else pretty


@dataclass
class Cell:
    """One row of the results table with its folder's files (None where a file is absent)."""

    id: str
    status: str
    error: str
    folder: Path
    row: dict[str, Any]
    axes: dict[str, Any] | None = None  # the keys the matrix set for this cell (matrix.json), when known
    metrics: dict | None = None
    cost: dict | None = None
    problems: list[str] = field(default_factory=list)  # why a done cell is incomplete

    @property
    def done(self) -> bool:
        return self.status == DONE

    @property
    def per_person_file(self) -> Path:
        return self.folder / PER_PERSON_FILE

    def per_person(self, stage: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """``(correct, visible)``: N×J bool arrays at PCKh 0.5 of the deploy stage, or of stage ``stage``
        (1-based, from ``stage_correct``); None when the file, or that stage in it, is absent."""
        path = self.per_person_file
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                if stage is None:
                    correct = np.asarray(data["correct"], dtype=bool)
                elif "stage_correct" in data.files and 1 <= stage <= len(data["stage_correct"]):
                    correct = np.asarray(data["stage_correct"][stage - 1], dtype=bool)
                else:
                    return None
                visible = np.asarray(data["visible"], dtype=bool)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not a per-person file with 'correct' and 'visible' arrays ({exc})") from None
        if correct.ndim != 2 or correct.shape != visible.shape:
            raise InputError(f"{path}: 'correct' {correct.shape} and 'visible' {visible.shape} must be the same N×J")
        return correct, visible


@dataclass
class Matrix:
    """An ablation matrix as read from its folder."""

    root: Path
    cells: list[Cell]
    columns: tuple[str, ...]  # the columns results.csv has
    claims: list[dict[str, Any]] = field(default_factory=list)  # matrix.json's claims ({claim, name})

    @property
    def name(self) -> str:
        return self.root.resolve().name

    @property
    def done(self) -> list[Cell]:
        return [c for c in self.cells if c.done]

    def values(self, column: str) -> list[Any]:
        """Distinct values of ``column`` in order of first appearance (None left out)."""
        out: list[Any] = []
        for c in self.cells:
            v = c.row.get(column)
            if v is not None and v not in out:
                out.append(v)
        return out

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.cells:
            counts[c.status] = counts.get(c.status, 0) + 1
        return counts


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _derived_context(metrics: dict | None) -> dict[str, Any]:
    """Schedule facts that results.csv does not carry but a comparable table must share."""
    sched = (metrics or {}).get("schedule") or {}
    return {"lr": sched.get("lr"), "lr_schedule": sched.get("schedule")}


def load_matrix(path: str | Path) -> Matrix:
    """Read the matrix folder ``path`` (its results table, ``lspd_bench.ablate.store.read_table``, and the
    cell folders it names).

    Raises ``InputError`` with one line for a missing, empty or foreign folder, or a CSV that lacks
    the schema's bookkeeping columns.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such folder")
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; pass the matrix folder that holds {store.RESULTS_CSV}")
    csv = root / store.RESULTS_CSV
    if not csv.is_file():
        what = "is an empty folder" if not any(root.iterdir()) else f"has no {store.RESULTS_CSV}"
        raise InputError(f"{root} {what}: not an ablation matrix folder (run `lspd-bench ablate` to make one)")
    table = store.read_table(csv)
    if not table.columns:
        raise InputError(f"{csv} is empty: the matrix has no cells yet")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{csv} lacks the column(s) {', '.join(missing)}: not a results table of `lspd-bench ablate`")
    if not table.rows:
        raise InputError(f"{csv} has no cells yet")
    spec = _read_json(root / store.MATRIX_FILE) or {}
    axes_by_cell = {str(c.get("cell")): c.get("axes") for c in spec.get("cells") or [] if isinstance(c, dict)}
    cells = []
    for row in table.rows:
        cell_id = row[schema.CELL] or ""
        folder = root / (row[schema.RUN_DIR] or cell_id)
        cell = Cell(
            id=cell_id,
            status=row[schema.STATUS] or Status.PENDING,
            error=row.get(schema.ERROR) or "",
            folder=folder,
            row=row,
            axes=axes_by_cell.get(cell_id),
        )
        if cell.done:
            cell.metrics = _read_json(folder / METRICS_FILE)
            cell.cost = _read_json(folder / store.COST_FILE)
            if cell.metrics is None:
                cell.problems.append(f"no {METRICS_FILE}")
            if cell.cost is None:
                cell.problems.append(f"no {store.COST_FILE}")
            if keeps_per_person(row.get("metric")) and not cell.per_person_file.is_file():
                cell.problems.append(f"no {PER_PERSON_FILE}")
        for k, v in _derived_context(cell.metrics).items():
            row.setdefault(k, v)
        cells.append(cell)
    claims = [c for c in spec.get("claims") or [] if isinstance(c, dict) and isinstance(c.get("claim"), str)]
    return Matrix(root=root, cells=cells, columns=tuple(table.columns), claims=claims)


def mixed_context(matrix: Matrix) -> dict[str, dict[str, list[Any]]]:
    """Context columns with more than one value, by group: ``{"datasets": {"dataset_fingerprint": [a, b]}}``."""
    out: dict[str, dict[str, list[Any]]] = {}
    for group, columns in schema.MIX_GROUPS.items():
        for col in columns:
            values = matrix.values(col)
            if len(values) > 1:
                out.setdefault(group, {})[col] = values
    return out


def select_metric(matrix: Matrix, metric: str | None) -> Matrix:
    """The cells scored with ``metric`` (``pckh`` or ``ap``) and those not scored yet (their metric is
    still empty); None keeps all cells."""
    if metric is None:
        return matrix
    kept = [c for c in matrix.cells if c.row.get("metric") in (metric, None)]
    if not any(c.row.get("metric") == metric for c in kept):
        have = ", ".join(map(str, matrix.values("metric"))) or "none"
        raise InputError(f"{matrix.root}: no cell was scored with --metric {metric} (its cells use: {have})")
    return Matrix(root=matrix.root, cells=kept, columns=matrix.columns, claims=matrix.claims)


@dataclass
class Reference:
    """A comparison model profiled outside the matrix (``lspd-bench profile --json`` or a run folder)."""

    label: str
    family: str | None
    input_hw: tuple[int, int] | None
    params: float | None  # deploy model, count
    gmacs: dict[str, float]  # counter → GMACs
    latency_ms: dict[int, float]  # threads → median ms at batch 1
    accuracy: float | None  # headline (%) on the matrix's dataset, when the folder has it
    source: str


def latency_runs(cost: dict | None) -> list[dict]:
    """The latency measurements of a cost file as a list: ``lspd-bench profile`` writes a list, a matrix
    cell's ``cost.json`` one ``latency`` (batch 1) and one ``throughput`` record."""
    runs: list[dict] = []
    for key in ("latency", "throughput"):
        value = (cost or {}).get(key)
        if isinstance(value, dict):
            runs.append(value)
        elif isinstance(value, list):
            runs += [r for r in value if isinstance(r, dict)]
    return runs


def _reference(profile: dict, source: str, metrics: dict | None, fingerprint: Any) -> tuple[Reference, str | None]:
    name = str(profile.get("model", "?"))
    note = None
    accuracy = None
    if metrics is not None:
        theirs = (metrics.get("dataset") or {}).get("fingerprint")
        if fingerprint is not None and theirs == fingerprint:
            accuracy = metrics.get("headline")
        else:
            note = f"reference {name} ({source}) was scored on another dataset: drawn by its cost only"
    hw = profile.get("input")
    return Reference(
        label=reference_label(name),
        family=model_family(name),
        input_hw=tuple(hw) if isinstance(hw, list) and len(hw) == 2 else None,
        params=(profile.get("params") or {}).get("deploy"),
        gmacs={m["counter"]: m["gmacs"] for m in profile.get("macs") or [] if m.get("gmacs") is not None},
        latency_ms={r["threads"]: r["median_ms"] for r in latency_runs(profile) if r.get("batch") == 1},
        accuracy=None if accuracy is None else float(accuracy),
        source=source,
    ), note


def load_references(paths: list[str | Path], fingerprint: Any = None) -> tuple[list[Reference], list[str]]:
    """Comparison models from profile files or run folders, with notes on what could not be used.

    A path is a JSON file written by ``lspd-bench profile --json`` (one model) or ``lspd-bench zoo --out``
    (a list), or a folder holding such a ``cost.json`` and, optionally, the ``metrics.json`` of the model
    trained on the matrix's dataset (``fingerprint``); only then is its accuracy used.
    """
    refs, notes = [], []
    for p in map(Path, paths):
        metrics = None
        if p.is_dir():
            metrics = _read_json(p / METRICS_FILE)
            file = p / store.COST_FILE
            if not file.is_file():
                raise InputError(f"--reference {p}: the folder has no {store.COST_FILE}")
        elif p.is_file():
            file = p
        else:
            raise InputError(f"--reference {p}: no such file or folder")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"--reference {file}: not readable JSON ({exc})") from None
        profiles = data if isinstance(data, list) else [data]
        if not profiles or not all(isinstance(d, dict) and "model" in d and "macs" in d for d in profiles):
            raise InputError(f"--reference {file}: not a profile (expected the JSON of `lspd-bench profile --json`)")
        for prof in profiles:
            ref, note = _reference(prof, str(p), metrics, fingerprint)
            refs.append(ref)
            if note:
                notes.append(note)
    return refs, notes


def input_hw(value: Any) -> tuple[int, int] | None:
    """An input size as (H, W) px from ``64x64``, ``64×64``, ``[64, 64]`` or a pair; None otherwise."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, str):
        parts = [p for p in value.strip("[]() ").replace("×", "x").replace(",", "x").split("x") if p.strip()]
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            return int(parts[0]), int(parts[1])
    return None
