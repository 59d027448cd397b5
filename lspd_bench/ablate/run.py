"""Running a matrix: shared work once, cells in parallel, then latency alone, then the results table.

1. **Validate**: every distinct model is built once (knob constraints, input size vs. stride) before
   any work starts, and its MACs order the cells (``lspd_bench.ablate.plan``).
2. **Shared work**, once per matrix (``lspd_bench.ablate.shared``): the dataset (synthesised into the cache
   when missing) and, for the cells that distil from a teacher, the teacher (trained once into the cache,
   heatmaps precomputed) — with all cores, since nothing else runs.
3. **Cells**: train → evaluate, in parallel on an executor (``lspd_bench.ablate.executors``: ``local``
   processes sized to the cores or one per GPU, ``ray``, ``submitit``, or ``inprocess`` for debugging), longest
   first. Each resumes from its last checkpoint; finished cells are skipped.
4. **Latency**, in a separate phase with no cell running (``lspd_bench.ablate.latency``): each cell's deploy
   model is profiled right after the reference model, the two taking turns, so that ``latency_ratio``
   cancels the machine's speed.
5. ``results.csv`` and ``results.parquet``: one row per cell, rewritten atomically whenever a cell ends.

The live view's events come from ``lspd_bench.ablate.progress``; the dry run is ``lspd_bench.ablate.plan``'s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from lspd_bench import plugins
from lspd_bench.ablate import store
from lspd_bench.ablate.executors import CellTask, ClusterOptions, ExecutorOptions, executor_kind, make_executor
from lspd_bench.ablate.latency import THROUGHPUT_BATCH, latency_phase
from lspd_bench.ablate.matrix import Cell, Matrix
from lspd_bench.ablate.plan import (
    CELL_THREADS,
    check_models,
    check_options,
    check_precisions,
    data_key,
    device_plan,
    plan_gpus,
    plan_slots,
    speed_key,
    summary_head,
    work_of,
)
from lspd_bench.ablate.progress import CellRun, Display, Progress
from lspd_bench.ablate.schema import Status
from lspd_bench.ablate.shared import prepare_data, train_teachers
from lspd_bench.config import cache_root, config_hash, current_keys
from lspd_bench.cost.counters import FVCORE
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json


def run_matrix(
    matrix: Matrix,
    out: str | Path,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    executor: str = "local",
    retry_failed: bool = False,
    cluster: ClusterOptions = ClusterOptions(),
    latency_min_time_s: float = 1.0,
    throughput_batch: int = THROUGHPUT_BATCH,
    progress: Progress | None = None,
    gpus_per_cell: int | None = None,
) -> dict[str, Any]:
    """Run every cell of ``matrix`` into ``out`` (resuming what an earlier run left) and return a summary.

    ``progress(event)`` receives ``state`` events (phase, shared work, every cell's state, epoch and
    metric, the ETA) for a live view. Failing cells are recorded with their error and the others go on;
    ``retry_failed`` runs them again. On CUDA each cell takes ``gpus_per_cell`` GPUs (1 by default;
    ``lspd_bench.ablate.plan.plan_gpus``). Bad input raises ``InputError`` before any work starts.
    """
    from lspd_bench.train.build import identity, run_id

    out = Path(out)
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    check_options(jobs, threads, latency_min_time_s, executor, gpus_per_cell)
    executor_kind(executor).check()  # its library, before any work
    work = check_models(matrix)
    gpus = plan_gpus(matrix, executor, gpus_per_cell)
    check_precisions(matrix, gpus, executor)
    seconds["validate"] = time.perf_counter() - clock
    cache = cache_root(matrix.cells[0].config)

    # Shared work 1: the datasets (one per distinct data source) and the identities they give the cells.
    display = Display(progress, [], 1, latency_min_time_s)
    display.phase = "preparing the data"
    t = time.perf_counter()
    bundles = prepare_data(matrix, cache, display)
    seconds["data"] = time.perf_counter() - t

    runs: list[CellRun] = []
    by_id: dict[str, CellRun] = {}
    repeats: list[tuple[Cell, str]] = []
    warnings = list(matrix.warnings)
    for cell in matrix.cells:
        bundle = bundles[data_key(cell.config)]
        ident = identity(cell.config, bundle.num_joints, bundle.fingerprint)
        cid = run_id(ident)
        if cid in by_id:
            warnings.append(f"{cell.label(cell.axes)} is the same run as {by_id[cid].label}; it runs once")
            repeats.append((cell, cid))
            continue
        by_id[cid] = CellRun(cell, cid, out / cid, cell.label(matrix.varying) or cid, ident)
        runs.append(by_id[cid])
    earlier = _earlier_cells(out, by_id)
    _check_threads([r.dir for r in runs] + [out / c["cell"] for c in earlier], threads or CELL_THREADS)

    out.mkdir(parents=True, exist_ok=True)
    for r in runs:
        store.write_cell(
            r.dir,
            {
                "cell": r.id,
                "matrix": matrix.name,
                "axes": r.cell.axes,
                "label": r.label,
                "keys": [r.cell.key],
                "config": r.cell.config.to_dict(),
                "identity": r.identity,
            },
        )
    for cell, cid in repeats:
        store.write_cell(out / cid, {**store.read_json(out / cid / store.CELL_FILE), "keys": [cell.key]})
    write_json(
        out / store.MATRIX_FILE,
        {**matrix.to_dict(), "cells": [{"cell": r.id, "label": r.label, "axes": r.cell.axes} for r in runs] + earlier},
    )

    for r in runs:
        state = store.cell_state(r.dir)
        if state == Status.FAILED and retry_failed:
            state = Status.TRAINED if store.is_trained(r.dir) else Status.PENDING
            moved = _set_aside_unreadable_checkpoint(r.dir) if state == Status.PENDING else None
            if moved:
                warnings.append(
                    f"{r.label}: its checkpoint could not be read; kept as {moved.name}, and the cell "
                    "starts again from epoch 1"
                )
        r.state = {Status.NEW: Status.PENDING, Status.INTERRUPTED: Status.PENDING}.get(state, state)
        if r.state == Status.FAILED:
            r.error = (store.read_json(r.dir / store.STATUS_FILE) or {}).get("error")
    to_train = [r for r in runs if r.state == Status.PENDING]
    slots, per_cell = plan_slots(max(1, len(to_train)), jobs, threads, executor, gpus)
    timings = store.read_timings(cache)
    for r in to_train:
        cfg = r.cell.config
        r.work = work_of(cfg, work)
        per_epoch = timings.get("epochs", {}).get(speed_key(cfg, per_cell), {}).get("seconds")
        overhead = timings.get("overhead", {}).get(data_key(cfg), {}).get("seconds") or 0.0
        if per_epoch is not None:
            r.estimate_s = per_epoch * cfg.epochs + overhead
    display.runs, display.slots = runs, slots
    identities = [r.identity for r in runs] + [
        (store.read_json(out / c["cell"] / store.CELL_FILE) or {}).get("identity", {}) for c in earlier
    ]
    max_stages = max(int(i.get("model_knobs", {}).get("stages", 1)) for i in identities)

    def write_table() -> dict[str, Any]:
        rows = [store.result_row(r.dir, r.table_status(), matrix.preset) for r in runs]
        rows += [
            store.result_row(out / c["cell"], _earlier_status(store.cell_state(out / c["cell"])), c["preset"])
            for c in earlier
        ]
        return store.write_results(out, rows, max_stages)

    write_table()

    # Shared work 2: each distinct teacher, trained once with every core (nothing else is running).
    t = time.perf_counter()
    display.phase = "training the teachers"
    train_teachers([r for r in to_train if r.cell.config.distill.uses_teacher], bundles, cache, display)
    seconds["teachers"] = time.perf_counter() - t

    # The cells.
    t = time.perf_counter()
    display.phase = "training and evaluating the cells"
    options = ExecutorOptions(
        slots=slots,
        threads=per_cell,
        folder=out / ".submitit",
        gpus=gpus.per_cell,
        cluster=cluster,
        gpu_ids=gpus.ids,
    )
    cell_seconds = _run_cells(to_train, executor, options, display, write_table, cache)
    seconds["cells"] = time.perf_counter() - t

    # Latency, alone.
    t = time.perf_counter()
    display.phase = "measuring latency (nothing else running)"
    latency_phase(runs, out, bundles, display, write_table, latency_min_time_s, throughput_batch)
    seconds["latency"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - clock

    written = write_table()
    display.phase = "finished"
    display.emit(force=True)
    if written.get("parquet_error"):
        warnings.append(written.pop("parquet_error"))
    summary_cells = []
    for r in runs:
        row = store.result_row(r.dir, r.table_status(), matrix.preset)
        summary_cells.append(
            {
                "cell": r.id,
                "label": r.label,
                "axes": r.cell.axes,
                "status": r.table_status(),
                "error": r.error,
                "headline": row.get("headline"),
                "params_deploy": row.get("params_deploy"),
                FVCORE.column: row.get(FVCORE.column),
                "latency_ms": row.get("latency_ms"),
                "latency_ratio": row.get("latency_ratio"),
                "run_dir": str(r.dir),
            }
        )
    devices = device_plan(gpus, executor, slots, matrix.cells[0].config.device)
    head = summary_head(matrix, out, executor, slots, per_cell, summary_cells, "status", devices)
    return {
        **head,
        "failed": head["counts"].get(Status.FAILED, 0),
        "results": written,
        "seconds": seconds,
        "cell_seconds": cell_seconds,
        "warnings": warnings,
    }


def _check_threads(cell_dirs: list[Path], threads: int) -> None:
    """A cell's figures depend on the torch threads it trains with: a folder whose cells started with another
    count than this run's is refused (``InputError``), so that no table mixes the two and no cell resumes
    with another count than it started with."""
    other: dict[int, list[str]] = {}
    for folder in cell_dirs:
        started = (store.read_json(folder / store.STATUS_FILE) or {}).get("threads")
        if started is not None and started != threads:
            other.setdefault(started, []).append(folder.name)
    if other:
        count, names = next(iter(other.items()))
        raise InputError(
            f"{len(names)} cell(s) of {cell_dirs[0].parent} ({', '.join(names[:3])}) were trained with "
            f"{count} torch thread(s) each and this run would train with {threads}: a cell's figures "
            f"depend on it. Pass --threads {count}, or choose another --out"
        )


def _earlier_status(state: str) -> Status:
    """The table status of a cell from an earlier matrix in the same folder (it is not run now)."""
    return state if state in (Status.DONE, Status.FAILED) else Status.PENDING


def _earlier_cells(out: Path, now: dict[str, CellRun]) -> list[dict[str, Any]]:
    """The cells an earlier matrix ran into ``out`` that this one does not have: they stay in ``matrix.json``
    and in the results table (with their own preset), so that a new matrix in an old folder loses no row.
    A cell that this matrix runs again under another suite version is replaced, not kept beside it."""
    old = store.read_json(out / store.MATRIX_FILE)
    if not isinstance(old, dict):
        return []

    def what(identity: dict[str, Any]) -> str:  # an earlier version's keys read as this one's
        return config_hash({k: v for k, v in current_keys(identity).items() if k != "suite_version"})

    current = {what(r.identity) for r in now.values()}
    kept = []
    for entry in old.get("cells", []):
        cid = str(entry.get("cell")) if isinstance(entry, dict) else ""
        record = store.read_json(out / cid / store.CELL_FILE) if cid and cid not in now else None
        if isinstance(record, dict) and what(record.get("identity") or {}) not in current:
            kept.append({**entry, "preset": entry.get("preset") or old.get("preset")})
    return kept


def _set_aside_unreadable_checkpoint(cell_dir: Path) -> Path | None:
    """Rename a cell's unreadable ``last.pt`` (damaged on disk: our writes are atomic) to
    ``last.pt.unreadable-<time>`` so that a retry starts the cell afresh; returns the new name, or None."""
    from lspd_bench.train.checkpoint import load_checkpoint
    from lspd_bench.train.files import LAST

    last = Path(cell_dir) / LAST
    if not last.is_file():
        return None
    try:
        load_checkpoint(last)
        return None
    except InputError:
        kept = last.with_name(f"{LAST}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(last, kept)
        return kept


def _run_cells(
    runs: list[CellRun],
    executor: str,
    options: ExecutorOptions,
    display: Display,
    write_table: Callable[[], Any],
    cache: Path,
) -> float:
    """Train and evaluate ``runs`` on the executor, longest first; returns the cells' summed wall time."""
    if not runs:
        return 0.0
    known = all(r.estimate_s is not None for r in runs)
    queue = sorted(runs, key=lambda r: -(r.estimate_s if known else r.work))
    deferred: list[CellRun] = []
    threads = options.threads
    ex = make_executor(executor, options)
    imports = tuple(plugins.named())  # what the workers import before they build a plugin's model
    by_id = {r.id: r for r in runs}
    total = 0.0
    try:
        while queue or ex.running or deferred:
            while queue and len(ex.running) < ex.slots:
                r = queue.pop(0)
                if store.is_locked(r.dir):
                    r.state = Status.BUSY
                    deferred.append(r)
                    continue
                r.state, r.started = Status.RUNNING, time.monotonic()
                ex.submit(CellTask(r.id, str(r.dir), r.cell.config.to_dict(), threads, r.label, imports))
            display.emit(force=True)
            for task, outcome in ex.poll(1.0):
                r = by_id[task.cell]
                status = outcome["status"]
                if status == Status.BUSY:
                    r.state = Status.BUSY
                    deferred.append(r)
                elif status == Status.TRAINED:
                    r.state, r.seconds = Status.TRAINED, outcome.get("seconds")
                    total += r.seconds or 0.0
                    _record_cell_timing(r, outcome, threads, cache)
                else:
                    if status == "died":  # the worker could not record it: the driver does
                        store.record_failure(r.dir, outcome["error"], "train")
                    r.state, r.error = Status.FAILED, outcome.get("error")
                    r.seconds = time.monotonic() - r.started if r.started else None
                    total += r.seconds or 0.0
                write_table()
            for r in list(deferred):  # cells another process held: back in the queue once it lets go
                if not store.is_locked(r.dir):
                    deferred.remove(r)
                    state = store.cell_state(r.dir)
                    if state in (Status.TRAINED, Status.DONE, Status.FAILED):
                        r.state = state
                        r.error = (store.read_json(r.dir / store.STATUS_FILE) or {}).get("error")
                    else:
                        r.state = Status.PENDING
                        queue.append(r)
            if deferred and not queue and not ex.running:
                time.sleep(1.0)
    except BaseException:
        ex.shutdown()
        raise
    ex.shutdown()
    return total


def _record_cell_timing(r: CellRun, outcome: dict[str, Any], threads: int, cache: Path) -> None:
    """Per-epoch seconds (epoch start to epoch end, validation included) and the rest of the cell's wall
    time (start-up, data, final evaluation) for later estimates."""
    per_epoch, epochs_run = outcome.get("seconds_per_epoch"), int(outcome.get("epochs_run") or 0)
    if per_epoch and epochs_run > 0:
        cfg = r.cell.config
        store.record_timing(cache, "epochs", speed_key(cfg, threads), per_epoch)
        store.record_timing(cache, "overhead", data_key(cfg), max(0.0, outcome["seconds"] - per_epoch * epochs_run))
