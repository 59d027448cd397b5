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
SIGKILL leaves each one either in its old or its new version; a per-cell ``fcntl`` lock keeps two
processes off the same cell. This module does not import torch (``--dry-run`` reads the store).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

from lspd_bench.ablate import schema
from lspd_bench.config import KIND_OF, MODEL_KNOBS, column_text
from lspd_bench.errors import InputError
from lspd_bench.fileio import atomic_path, file_lock, write_json

MATRIX_FILE = "matrix.json"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
RESULTS_MANIFEST = "results.json"  # the tables' hashes, written last
CELL_FILE = "cell.json"
STATUS_FILE = "status.json"
PROGRESS_FILE = "progress.json"
COST_FILE = "cost.json"
METRICS_FILE = "metrics.json"  # written by lspd_bench.evaluation.run.train_and_evaluate
WORKER_LOG = "worker.log"
LOCK_FILE = ".lock"
TIMINGS_FILE = "ablate-timings.json"
#: Where ``lspd-bench zoo --out`` puts the zoo table that reports draw as reference models when given none.
ZOO_TABLE = Path("reports") / "zoo" / "zoo.json"

#: Columns whose values are whole numbers (nullable: a reference model has no ``stages``).
INT_COLUMNS = (*(k for k in schema.CONFIG if KIND_OF[k] == "int"), "params_full", "params_deploy", "latency_threads",
               "throughput_batch")  # fmt: skip
#: Text columns.
STR_COLUMNS = (schema.CELL, schema.STATUS, schema.ERROR, schema.RUN_DIR, *(k for k in schema.CONFIG if KIND_OF[k] == "str"),
               "dataset_fingerprint", "preset", "metric", "headline_name")  # fmt: skip
BOOL_COLUMNS = tuple(k for k in schema.CONFIG if KIND_OF[k] == "bool")
#: The MAC counters of ``lspd_bench.cost.count_macs`` and their columns.
MAC_COLUMNS = {"fvcore": "gmacs_fvcore", "conv+linear": "gmacs_conv_linear",
               "ptflops-pytorch": "gmacs_ptflops_pytorch", "ptflops-aten": "gmacs_ptflops_aten"}  # fmt: skip


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


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive ``fcntl`` lock on ``path`` for the block if nobody else does; yield whether held.

    The kernel drops the lock when its holder dies, so a killed process never leaves a cell locked.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Hold an exclusive lock on a path for a block, waiting for it: the data layer's lock, shared.
wait_lock = file_lock


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
    record = {**kept, "status": status, "updated": time.time(), "host": socket.gethostname(), "pid": os.getpid(),
              **fields}  # fmt: skip
    if status == "running":
        record["attempts"] = int(old.get("attempts", 0)) + 1
        record.setdefault("first_started", record["updated"])
    write_json(path, record)
    return record


def record_failure(cell_dir: Path, exc: BaseException | str, phase: str) -> dict[str, Any]:
    """Mark the cell failed with a one-line error (and the traceback in ``status.json``)."""
    if isinstance(exc, BaseException):
        tb = "".join(traceback.format_exception(exc))
        return write_status(cell_dir, "failed", phase=phase, error=one_line(exc), traceback=tb)
    return write_status(cell_dir, "failed", phase=phase, error=exc)


def cell_state(cell_dir: Path) -> str:
    """``done`` (metrics and cost), ``trained`` (metrics, no cost yet), ``failed``, ``interrupted``
    (an attempt started and stopped without a verdict: it resumes from its last checkpoint) or ``new``."""
    cell_dir = Path(cell_dir)
    status = read_json(cell_dir / STATUS_FILE) or {}
    if status.get("status") == "failed":
        return "failed"
    if is_trained(cell_dir):
        return "done" if is_costed(cell_dir) else "trained"
    return "interrupted" if status or (cell_dir / METRICS_FILE).exists() else "new"


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
    with wait_lock(path.parent / f".{TIMINGS_FILE}.lock"):
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
    return [schema.CELL, schema.STATUS, schema.ERROR, schema.RUN_DIR, *schema.CONFIG, *schema.CONTEXT,
            schema.HEADLINE, *stage_cols, *schema.PCKH_COLUMNS, *schema.AP_COLUMNS, *schema.COST_COLUMNS,
            *schema.TRAIN_COLUMNS]  # fmt: skip


def result_row(cell_dir: Path, status: str, preset: str) -> dict[str, Any]:
    """One row of the results table from a cell's files; accuracy and cost are empty until they exist.

    Configuration columns hold the identity's values (model knobs resolved: ``stages`` of an ``lspd-s`` left at
    its default is 2); a knob the model lacks is empty, and so is a key that does not apply (``alpha`` when
    nothing is distilled). AP figures are percent (COCO's fractions × 100), like PCKh; ``input_size`` is
    ``"HxW"`` (px).
    """
    cell_dir = Path(cell_dir)
    cell = read_json(cell_dir / CELL_FILE) or {}
    ident: dict[str, Any] = cell.get("identity", {})
    knobs = ident.get("model_knobs", {})
    row: dict[str, Any] = {schema.CELL: cell_dir.name, schema.STATUS: status, schema.RUN_DIR: cell_dir.name}
    st = read_json(cell_dir / STATUS_FILE) or {}
    row[schema.ERROR] = st.get("error") if status == "failed" else None
    for key in schema.CONFIG:  # the identity leaves out what does not apply (alpha without distillation)
        row[key] = column_text(key, knobs.get(key) if key in MODEL_KNOBS else ident.get(key))
    row.update(dataset_fingerprint=ident.get("dataset_fingerprint"), preset=preset)
    metrics = read_json(cell_dir / METRICS_FILE)
    if metrics:
        scale = 100.0 if metrics["metric"] == "ap" else 1.0
        key = "Mean" if metrics["metric"] == "pckh" else "AP"
        row.update(metric=metrics["metric"], headline_name=metrics["headline_name"])
        row[schema.HEADLINE] = _scaled(metrics.get("headline"), scale)
        for s in metrics["stages"]:
            row[schema.STAGE_HEADLINE.format(k=s["stage"])] = _scaled(s.get(key), scale)
        deploy = metrics["stages"][metrics["deploy_stage"] - 1]
        names = schema.PCKH_COLUMNS if metrics["metric"] == "pckh" else schema.AP_COLUMNS
        for name in names:
            row[name] = _scaled(deploy.get(name), scale)
        train = metrics.get("train", {})
        row.update(train_seconds=_num(train.get("seconds_total")), train_images_per_s=_num(train.get("images_per_s")),
                   peak_rss_mib=_num(train.get("peak_rss_mib")))  # fmt: skip
    cost = read_json(cell_dir / COST_FILE)
    if cost:
        row.update(params_full=cost["params"]["full"], params_deploy=cost["params"]["deploy"])
        for mac in cost["macs"]:
            if mac["counter"] in MAC_COLUMNS:
                row[MAC_COLUMNS[mac["counter"]]] = _num(mac.get("gmacs"))
        lat, thr = cost["latency"], cost["throughput"]
        row.update(latency_ms=lat["median_ms"], latency_p90_ms=lat["p90_ms"], latency_threads=lat["threads"],
                   throughput_img_s=thr["throughput_img_s"], throughput_batch=thr["batch"],
                   latency_ratio=cost["latency_ratio"])  # fmt: skip
        row["latency_ratio_low"], row["latency_ratio_high"] = cost.get("latency_ratio_interval") or (None, None)
    return row


def _scaled(value: Any, scale: float) -> float | None:
    v = _num(value)
    return None if v is None else v * scale


def results_frame(rows: list[dict[str, Any]], max_stages: int):
    """The rows as a pandas DataFrame with the schema's columns and stable dtypes."""
    import pandas as pd

    cols = columns(max_stages)
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    for col in cols:
        if col in INT_COLUMNS:
            df[col] = pd.array([None if _num(v) is None else int(v) for v in df[col]], dtype="Int64")
        elif col in STR_COLUMNS:
            df[col] = pd.array([None if v is None else str(v) for v in df[col]], dtype="string")
        elif col in BOOL_COLUMNS:
            df[col] = pd.array([None if v is None else bool(v) for v in df[col]], dtype="boolean")
        else:
            df[col] = pd.to_numeric(pd.Series([_num(v) for v in df[col]], dtype="float64"))
    return df


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
    with wait_lock(out / f".{RESULTS_CSV}.lock"):
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
        raise InputError(f"{path} is damaged or incomplete (it does not match {RESULTS_MANIFEST} beside it); "
                         "rerun `lspd-bench ablate` on this matrix folder to rebuild it")  # fmt: skip
    return path


def read_results(out: Path):
    """The results table of a matrix folder (Parquet when present, else CSV) as a DataFrame, checked
    against its manifest."""
    import pandas as pd

    out = Path(out)
    if (out / RESULTS_PARQUET).is_file():
        return pd.read_parquet(check_table(out / RESULTS_PARQUET))
    return pd.read_csv(check_table(out / RESULTS_CSV))
