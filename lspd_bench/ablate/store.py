"""The results store: one folder per cell, named by the cell id, and the aggregated results table.

Layout of a matrix folder ``runs/NAME/``::

    matrix.json            the matrix (spec, cells and their ids)
    results.csv            one row per cell, columns from ``lspd_bench.ablate.schema``
    results.parquet        the same table
    results.json           the two tables' SHA-256 (written last: a reader refuses a table that differs)
    <cell id>/cell.json    the cell's axes, configuration, identity and keys
    <cell id>/status.json  running | trained | failed (with the one-line error), attempts, seconds
    <cell id>/progress.json  epoch, step and metric of the running attempt (the live view reads it)
    <cell id>/cost.json    parameters, MACs, latency and throughput of the deploy model
    <cell id>/...          the run's config.json, metrics.json, per_person.npz, log.csv, checkpoints

A cell is *done* when ``metrics.json`` and ``cost.json`` exist. Every file is written atomically, so a
SIGKILL leaves each one either in its old or its new version; a per-cell lock (``filelock``) keeps two
processes off the same cell. This module does not import torch (``--dry-run`` reads the store).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lspd_bench.ablate import schema
from lspd_bench.ablate.schema import Status
from lspd_bench.config import MODEL_KNOBS, QUIET_DEFAULTS, column_text, current_columns, current_keys
from lspd_bench.errors import InputError
from lspd_bench.evaluation.evaluators import evaluator
from lspd_bench.fileio import atomic_path, file_lock, try_lock, write_json
from lspd_bench.train.files import METRICS_FILE

MATRIX_FILE = "matrix.json"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
RESULTS_MANIFEST = "results.json"  # the tables' hashes, written last
CELL_FILE = "cell.json"
STATUS_FILE = "status.json"
PROGRESS_FILE = "progress.json"
COST_FILE = "cost.json"
WORKER_LOG = "worker.log"
LOCK_FILE = ".lock"
TIMINGS_FILE = "ablate-timings.json"
#: Where ``lspd-bench zoo --out`` puts the zoo table that reports draw as reference models when given none.
ZOO_TABLE = Path("reports") / "zoo" / "zoo.json"


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when it is missing or unreadable (a reader never blocks on it)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for the table: the message, prefixed by its type unless it is for users."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if type(exc).__name__ not in ("InputError", "RunFailed"):  # those carry messages written for users
        text = f"{type(exc).__name__}: {text}"
    if "out of memory" in text.lower() and not text.lower().startswith("out of memory"):
        text = f"out of memory ({text})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- locks ------------------------------------------------------------------------------------------


def cell_lock(cell_dir: Path):
    """The lock that keeps two processes (two ablate commands, or two cluster jobs) off one cell."""
    return try_lock(Path(cell_dir) / LOCK_FILE)


def is_locked(cell_dir: Path) -> bool:
    """Whether another process holds the cell's lock right now."""
    if not (Path(cell_dir) / LOCK_FILE).exists():
        return False
    with cell_lock(cell_dir) as held:
        return not held


# --- cell files -------------------------------------------------------------------------------------


def write_cell(cell_dir: Path, record: dict[str, Any]) -> None:
    """Write ``cell.json``, keeping the keys of earlier spellings of the same cell (``stages=2`` and the
    default that resolves to 2 are one cell with two keys; ``--dry-run`` finds it by either)."""
    path = Path(cell_dir) / CELL_FILE
    old = read_json(path) or {}
    keys = list(dict.fromkeys([*old.get("keys", []), *record.get("keys", [])]))
    write_json(path, {**record, "keys": keys})


def write_status(cell_dir: Path, status: str, **fields: Any) -> dict[str, Any]:
    """Record the cell's state (``running``, ``trained``, ``failed``) with the time, host and pid."""
    path = Path(cell_dir) / STATUS_FILE
    old = read_json(path) or {}
    kept = {k: v for k, v in old.items() if k not in ("error", "traceback", "phase")}  # a new verdict replaces them
    record = {
        **kept,
        "status": status,
        "updated": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **fields,
    }
    if status == Status.RUNNING:
        record["attempts"] = int(old.get("attempts", 0)) + 1
        record.setdefault("first_started", record["updated"])
    write_json(path, record)
    return record


def record_failure(cell_dir: Path, exc: BaseException | str, phase: str) -> dict[str, Any]:
    """Mark the cell failed with a one-line error (and the traceback in ``status.json``)."""
    if isinstance(exc, BaseException):
        tb = "".join(traceback.format_exception(exc))
        return write_status(cell_dir, Status.FAILED, phase=phase, error=one_line(exc), traceback=tb)
    return write_status(cell_dir, Status.FAILED, phase=phase, error=exc)


def cell_state(cell_dir: Path) -> str:
    """``done`` (metrics and cost), ``trained`` (metrics, no cost yet), ``failed``, ``interrupted``
    (an attempt started and stopped without a verdict: it resumes from its last checkpoint) or ``new``."""
    cell_dir = Path(cell_dir)
    status = read_json(cell_dir / STATUS_FILE) or {}
    if status.get("status") == Status.FAILED:
        return Status.FAILED
    if is_trained(cell_dir):
        return Status.DONE if is_costed(cell_dir) else Status.TRAINED
    return Status.INTERRUPTED if status or (cell_dir / METRICS_FILE).exists() else Status.NEW


def _complete(path: Path, key: str) -> bool:
    """Whether ``path`` holds a readable JSON object with ``key`` (not a torn or foreign file)."""
    data = read_json(path)
    return isinstance(data, dict) and key in data


def is_trained(cell_dir: Path) -> bool:
    """Whether the cell's ``metrics.json`` is whole: a damaged one is not a finished step, and is redone."""
    return _complete(Path(cell_dir) / METRICS_FILE, "headline")


def is_costed(cell_dir: Path) -> bool:
    """Whether the cell's ``cost.json`` is whole (a damaged one is measured again)."""
    return _complete(Path(cell_dir) / COST_FILE, "latency")


def write_progress(cell_dir: Path, **fields: Any) -> None:
    write_json(Path(cell_dir) / PROGRESS_FILE, {**fields, "updated": time.time()}, indent=None)


def read_progress(cell_dir: Path) -> dict[str, Any] | None:
    return read_json(Path(cell_dir) / PROGRESS_FILE)


def index_by_key(out: Path) -> dict[str, str]:
    """``{cell key: cell id}`` over the cell folders of ``out`` (how ``--dry-run`` finds finished cells)."""
    found: dict[str, str] = {}
    for path in Path(out).glob(f"*/{CELL_FILE}"):
        record = read_json(path) or {}
        for key in record.get("keys", []):
            found[key] = path.parent.name
    return found


# --- timings (the dry run's cost estimate) ----------------------------------------------------------


def read_timings(cache: Path) -> dict[str, Any]:
    """Seconds measured on this machine: ``epochs`` (per epoch, by speed key), ``overhead`` (per cell),
    ``teachers`` and ``datasets`` (by key). Empty when nothing was measured yet."""
    data = read_json(Path(cache) / TIMINGS_FILE)
    return data if isinstance(data, dict) else {}


def record_timing(cache: Path, section: str, key: str, seconds: float | None, **extra: Any) -> None:
    """Fold ``seconds`` into the running mean of ``section[key]`` (over the last ~10 values) and store the
    ``extra`` facts beside it; ``seconds=None`` stores only the facts."""
    path = Path(cache) / TIMINGS_FILE
    with file_lock(path.parent / f".{TIMINGS_FILE}.lock"):
        data = read_timings(cache)
        part = data.setdefault(section, {})
        entry = {"seconds": None, "n": 0, **part.get(key, {}), **extra}
        if seconds is not None:
            n = min(int(entry["n"]), 9) + 1  # a short memory: the machine's present speed, not its history
            entry.update(seconds=(entry["seconds"] or 0.0) + (seconds - (entry["seconds"] or 0.0)) / n, n=n)
        part[key] = entry
        write_json(path, data)


# --- the results table ------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def columns(max_stages: int) -> list[str]:
    """Every column of the table, in order (stage headlines for stages 1..``max_stages``)."""
    stage_cols = [schema.STAGE_HEADLINE.format(k=k) for k in range(1, max(1, max_stages) + 1)]
    return [
        schema.CELL,
        schema.STATUS,
        schema.ERROR,
        schema.RUN_DIR,
        *schema.CONFIG,
        *schema.CONTEXT,
        schema.HEADLINE,
        *stage_cols,
        *schema.ACCURACY_COLUMNS,
        *schema.COST_COLUMNS,
        *schema.TRAIN_COLUMNS,
    ]


def result_row(cell_dir: Path, status: str, preset: str) -> dict[str, Any]:
    """One row of the results table from a cell's files; accuracy and cost are empty until they exist.

    Configuration columns hold the identity's values (model knobs resolved: ``stages`` of an ``lspd-s`` left at
    its default is 2); a knob the model lacks is empty, and so is a key that does not apply (``alpha`` when
    nothing is distilled). AP figures are percent (COCO's fractions × 100), like PCKh; ``input_size`` is
    ``"HxW"`` (px).
    """
    cell_dir = Path(cell_dir)
    cell = read_json(cell_dir / CELL_FILE) or {}
    ident: dict[str, Any] = current_keys(cell.get("identity", {}))  # an earlier version's cell too
    knobs = ident.get("model_knobs", {})
    row: dict[str, Any] = {schema.CELL: cell_dir.name, schema.STATUS: status, schema.RUN_DIR: cell_dir.name}
    st = read_json(cell_dir / STATUS_FILE) or {}
    row[schema.ERROR] = st.get("error") if status == Status.FAILED else None
    for key in schema.CONFIG:  # the identity leaves out what does not apply (alpha without distillation)
        value = knobs.get(key) if key in MODEL_KNOBS else ident.get(key, QUIET_DEFAULTS.get(key))
        row[key] = column_text(key, value)  # a key added later is in the identity only when not at its default
    row.update(dataset_fingerprint=ident.get("dataset_fingerprint"), preset=preset)
    metrics = read_json(cell_dir / METRICS_FILE)
    if metrics:
        ev = evaluator(metrics["metric"])
        row.update(metric=metrics["metric"], headline_name=metrics["headline_name"])
        row[schema.HEADLINE] = _scaled(metrics.get("headline"), ev.percent)
        for s in metrics["stages"]:
            row[schema.STAGE_HEADLINE.format(k=s["stage"])] = _scaled(s.get(ev.headline_key), ev.percent)
        deploy = metrics["stages"][metrics["deploy_stage"] - 1]
        for name in ev.columns:
            row[name] = _scaled(deploy.get(name), ev.percent)
        train = metrics.get("train", {})
        row.update(
            train_seconds=_num(train.get("seconds_total")),
            train_images_per_s=_num(train.get("images_per_s")),
            peak_rss_mib=_num(train.get("peak_rss_mib")),
        )
    cost = read_json(cell_dir / COST_FILE)
    if cost:
        row.update(params_full=cost["params"]["full"], params_deploy=cost["params"]["deploy"])
        for mac in cost["macs"]:
            if mac["counter"] in schema.MAC_COLUMNS:
                row[schema.MAC_COLUMNS[mac["counter"]]] = _num(mac.get("gmacs"))
        lat, thr = cost["latency"], cost["throughput"]
        row.update(
            latency_ms=lat["median_ms"],
            latency_p90_ms=lat["p90_ms"],
            latency_threads=lat["threads"],
            throughput_img_s=thr["throughput_img_s"],
            throughput_batch=thr["batch"],
            latency_ratio=cost["latency_ratio"],
        )
        row["latency_ratio_low"], row["latency_ratio_high"] = cost.get("latency_ratio_interval") or (None, None)
    return row


def _scaled(value: Any, scale: float) -> float | None:
    v = _num(value)
    return None if v is None else v * scale


def results_frame(rows: list[dict[str, Any]], max_stages: int):
    """The rows as a pandas DataFrame with the schema's columns and stable dtypes."""
    return _frame(rows, columns(max_stages))


def _frame(rows: list[dict[str, Any]], cols: list[str]):
    """``rows`` as a DataFrame of ``cols``, each with the nullable dtype of its declared kind
    (``schema.column_kind``; a column the schema does not declare is text)."""
    import pandas as pd

    data = {}
    for col in cols:  # from the rows, not a DataFrame of them: pandas would turn a missing text into NaN, then "nan"
        values = [r.get(col) for r in rows]
        kind = schema.column_kind(col)
        if kind == "int":
            data[col] = pd.array([None if _num(v) is None else int(v) for v in values], dtype="Int64")
        elif kind == "bool":
            data[col] = pd.array([None if v is None else bool(v) for v in values], dtype="boolean")
        elif kind == "float":
            data[col] = pd.array([_num(v) for v in values], dtype="float64")
        else:
            data[col] = pd.array([None if v is None else str(v) for v in values], dtype="string")
    return pd.DataFrame(data, columns=cols)


def write_results(out: Path, rows: list[dict[str, Any]], max_stages: int) -> dict[str, str | None]:
    """Write ``results.csv`` and ``results.parquet`` atomically (one row per cell, in matrix order).

    Returns the paths written; ``parquet`` is None (with ``parquet_error``) when pyarrow is missing.
    The two tables are written one after the other, then ``results.json`` (the manifest: each table's
    SHA-256 and row count). A reader checks a table against the manifest (:func:`check_table`), so a table
    cut short, or left behind by a process killed between the two writes, is refused rather than read.
    Temporaries that a killed writer left are removed first.
    """
    out = Path(out)
    df = results_frame(rows, max_stages)
    written: dict[str, str | None] = {"csv": str(out / RESULTS_CSV), "parquet": None}
    # One writer at a time, so that the CSV and the Parquet file always come from the same rows.
    with file_lock(out / f".{RESULTS_CSV}.lock"):
        for stale in out.glob(".results.*.tmp"):  # a killed writer's (every writer holds this lock)
            stale.unlink(missing_ok=True)
        with atomic_path(out / RESULTS_CSV) as tmp:
            df.to_csv(tmp, index=False)
        tables = [RESULTS_CSV]
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            written["parquet_error"] = "results.parquet not written: pyarrow is not installed (pip install pyarrow)"
            (out / RESULTS_PARQUET).unlink(missing_ok=True)  # an older one would disagree with the CSV
        else:
            with atomic_path(out / RESULTS_PARQUET) as tmp:
                df.to_parquet(tmp, index=False, engine="pyarrow")
            written["parquet"] = str(out / RESULTS_PARQUET)
            tables.append(RESULTS_PARQUET)
        write_json(out / RESULTS_MANIFEST, {"rows": len(df), "sha256": {t: _sha256(out / t) for t in tables}})
    return written


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_table(path: Path) -> Path:
    """Refuse a results table that does not match the manifest beside it (``InputError``): cut short or
    damaged on disk, or left by a process killed while writing. A table without a manifest (from an older
    suite, or made by hand) is returned as it is."""
    path = Path(path)
    manifest = read_json(path.parent / RESULTS_MANIFEST)
    expected = manifest.get("sha256", {}).get(path.name) if isinstance(manifest, dict) else None
    if expected is not None and _sha256(path) != expected:
        raise InputError(
            f"{path} is damaged or incomplete (it does not match {RESULTS_MANIFEST} beside it); "
            "rerun `lspd-bench ablate` on this matrix folder to rebuild it"
        )
    return path


# --- reading the results table ---------------------------------------------------------------------

#: How a CSV field spells a missing value: empty, or a NaN/NA that pandas stringified. ``none`` is not one of
#: them: it is a value (``distill=none``).
MISSING_TEXT = ("", "nan", "NaN", "<NA>")
_KIND_WORDS = {"int": "a whole number", "float": "a number", "bool": "True or False"}
_BOOL_TEXT = {"True": True, "true": True, "1": True, "False": False, "false": False, "0": False}


@dataclass
class ResultsTable:
    """A results table as read: its columns in the file's order and one dict per row, every value of the
    type its column declares (``schema.column_kind``; None when empty; text for an undeclared column)."""

    path: Path  # the CSV named (a matrix's results.csv, or a table made by hand)
    source: Path  # the file the rows were read from: the Parquet table beside the CSV when there is one
    columns: list[str]
    rows: list[dict[str, Any]]


def parse_value(column: str, text: Any) -> Any:
    """A CSV field of ``column`` as the value it stands for, by the column's declared kind: None for
    :data:`MISSING_TEXT`, ``True``/``False`` for a bool (pandas writes ``True``), an int (``2`` or ``2.0``) or a float for a number,
    the stripped text otherwise. A field that is not of its kind is a ``ValueError`` saying what it is not."""
    if text is None:
        return None
    text = str(text).strip()
    if text in MISSING_TEXT:
        return None
    kind = schema.column_kind(column)
    if kind == "bool":
        if text in _BOOL_TEXT:
            return _BOOL_TEXT[text]
        raise ValueError(f"not {_KIND_WORDS[kind]}")
    if kind not in ("int", "float"):
        return text
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"not {_KIND_WORDS[kind]}") from None
    if kind == "float":
        return None if math.isnan(number) else number
    try:
        return int(text)
    except ValueError:
        if number.is_integer():
            return int(number)
        raise ValueError(f"not {_KIND_WORDS[kind]}") from None


def _typed(column: str, value: Any) -> Any:
    """A Parquet value of ``column`` as a plain Python value of its declared kind (None when missing)."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    kind = schema.column_kind(column)
    return {"int": int, "float": float, "bool": bool}.get(kind, str)(value)


def _parquet_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The columns and typed rows of a Parquet table; None when it cannot be read here (no pyarrow, or a file
    pyarrow refuses): the CSV beside it holds the same table."""
    import importlib.util

    import pandas as pd

    if importlib.util.find_spec("pyarrow") is None:
        return None
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError):  # pyarrow's errors for a file that is not Parquet (ArrowInvalid, ArrowIOError)
        return None
    cols = [str(c) for c in frame.columns]
    records = frame.astype(object).to_dict(orient="records")
    return cols, [{c: _typed(c, r[c]) for c in cols} for r in records]


def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return [], []
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    cols = [str(c) for c in frame.columns]
    rows = []
    for record in frame.to_dict(orient="records"):
        row = {}
        for c in cols:
            try:
                row[c] = parse_value(c, record[c])
            except ValueError as exc:
                raise InputError(
                    f"{path}: column {c} of cell {record.get(schema.CELL, '?')} is {record[c].strip()!r}, {exc}"
                ) from None
        rows.append(row)
    return cols, rows


def read_table(path: str | Path) -> ResultsTable:
    """The results table at ``path`` (a ``results.csv``), typed by the schema's declarations: the one reader
    of results tables (the report and the regression gate read through it).

    The Parquet table beside a matrix's ``results.csv`` is read when present (its types are the writer's),
    else the CSV, each field parsed by its column's kind (:func:`parse_value`). Every table present is first
    checked against the manifest (:func:`check_table`), so a damaged CSV is refused even when the Parquet
    table is whole. An empty file gives no columns and no rows; a file that is not a CSV table, or a field
    that is not of its column's kind, is an ``InputError`` naming the file. A table of an earlier version reads
    as this version's: a retired key's column (``amp``) as its replacement's (``lspd_bench.config.current_keys``).
    """
    path = check_table(Path(path))
    parquet = path.parent / RESULTS_PARQUET
    read = None
    if path.name == RESULTS_CSV and parquet.is_file():
        read = _parquet_rows(check_table(parquet))
    source = parquet if read is not None else path
    columns, rows = read if read is not None else _csv_rows(path)
    return ResultsTable(path, source, current_columns(columns), [current_keys(r) for r in rows])


def read_results(out: Path):
    """The results table of a matrix folder (:func:`read_table`) as a DataFrame with the writer's dtypes."""
    table = read_table(Path(out) / RESULTS_CSV)
    return _frame(table.rows, table.columns)
