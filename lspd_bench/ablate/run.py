"""Running a matrix: shared work once, cells in parallel, then latency alone, then the results table.

1. **Validate**: every distinct model is built once (knob constraints, input size vs. stride) before
   any work starts.
2. **Shared work**, once per matrix: the dataset (synthesised into the cache when missing) and, for
   the cells that distil from a teacher, the teacher (trained once into the cache, heatmaps
   precomputed) — with all cores, since nothing else runs.
3. **Cells**: train → evaluate, in parallel on an executor (``local`` processes sized to the cores,
   ``ray``, ``submitit``), longest first. Each resumes from its last checkpoint; finished cells are skipped.
4. **Latency**, in a separate phase with no cell running: each cell's deploy model is profiled
   (parameters, MACs from every counter, batch-1 latency at 1 thread, throughput at a batch) right after
   with the reference model (``simplebaseline-mbv2``, same input size), the two taking turns in blocks
   of calls, so that ``latency_ratio`` (the median over the rounds of the ratio of the two blocks' fastest
   calls, with its interval) cancels the machine's speed.
5. ``results.csv`` and ``results.parquet``: one row per cell, rewritten atomically whenever a cell ends.

``dry_run`` lists the cells, what is done, the shared work and a time estimate: from the timings this
machine recorded in earlier runs, else from a short calibration (the only use of torch in a dry run).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lspd_bench import plugins
from lspd_bench.ablate import estimate, store
from lspd_bench.ablate.executors import CellTask, make_executor
from lspd_bench.ablate.matrix import Cell, Matrix
from lspd_bench.config import FAMILY_OF, MODEL_KNOBS, TEACHER_MODES, RunConfig, cache_root, config_hash, identity_keys, replace, teacher_config
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json

Progress = Callable[[dict], None]

#: The model every cell's latency is divided by (deploy model, same input size, same process).
# Another family than the LSPD cells, so that a change to an LSPD block cannot slow the reference too.
REFERENCE_MODEL = "simplebaseline-mbv2"
#: Torch threads a cell trains with unless ``--threads`` says otherwise (fixed: a cell's figures depend on it).
CELL_THREADS = 1
#: Latency is measured at batch 1 on one thread (docs/protocols.md, "Latency": the quiet setting for a shared machine).
LATENCY_THREADS = 1
#: Calls per turn when the cell and the reference take turns (one round = a block of each).
LATENCY_BLOCK = 5
#: Rounds at least: the median's 95 % interval spans ranks 14..27 of 40.
LATENCY_ROUNDS = 40
#: Throughput batch (images/s at this batch, same thread count).
THROUGHPUT_BATCH = 8
RATIO_CONVENTION = (f"latency_ratio: per round, the cell's fastest batch-1 call over the fastest of the reference "
                    f"model ({REFERENCE_MODEL} deploy, same input size), the two taking turns in blocks of "
                    f"{LATENCY_BLOCK} calls in the same process; the median over the rounds, with its distribution-free "
                    "95 % interval (latency_ratio_low, latency_ratio_high: the machine's noise during the "
                    "measurement)")  # fmt: skip
SHARED_CONVENTION = ("cells whose deploy models are the same network (architecture hash: layers, parameter and "
                     "buffer shapes, input size) share one measurement of MACs, latency and throughput "
                     "(measured_in names the cell that took it)")
_DATA_KEYS = tuple(k for k, family in FAMILY_OF.items() if family == "data")
_STUDENT_ONLY = (*MODEL_KNOBS, "model", "stage_weights", "distill", "alpha", "seed", "cache_dir", "workers", "device")


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_options(jobs: int | None, threads: int | None, latency_min_time_s: float = 1.0) -> None:
    """The run options' ranges (``InputError`` naming the option), checked before anything is written."""
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    if threads is not None and threads < 1:
        raise InputError(f"--threads {threads}: must be at least 1")
    if not latency_min_time_s >= 0:  # NaN too
        raise InputError(f"--latency-min-time {latency_min_time_s}: must be 0 or more seconds")


def plan_slots(cells_to_run: int, jobs: int | None, threads: int | None, executor: str) -> tuple[int, int]:
    """(cells at once, torch threads per cell), for options that ``check_options`` accepted. A cell trains
    with ``threads`` threads, 1 unless asked: never a count derived from the cores or the cells left, because
    a cell's figures depend on it (a matrix run with ``--jobs 1`` gives the same numbers as the default). By
    default as many cells run at once as ``threads`` fit in the cores; cluster executors queue every cell and
    let it schedule."""
    n = cores()
    threads = threads or CELL_THREADS
    if executor == "local":
        return jobs or max(1, min(n // threads, cells_to_run)), threads
    return jobs or max(1, cells_to_run), threads


# --- keys of the timings ledger (torch-free) -----------------------------------------------------------


def data_key(cfg: RunConfig) -> str:
    return config_hash({**{k: getattr(cfg, k) for k in _DATA_KEYS}, "cache": str(cache_root(cfg))})


def speed_key(cfg: RunConfig, threads: int) -> str:
    """What an epoch's duration depends on: data, model and knobs, input, batch, teacher source, threads."""
    teacher = cfg.teacher_targets if cfg.distill in TEACHER_MODES else None
    return config_hash({"data": data_key(cfg), "model": cfg.model, "knobs": cfg.model_knobs(), "input": cfg.input_size,
                        "batch": cfg.batch_size, "teacher": teacher, "threads": threads, "device": cfg.device,
                        "workers": cfg.workers})  # fmt: skip


def teacher_key(cfg: RunConfig) -> str:
    """Everything a cell's teacher depends on (all but the student's own settings)."""
    return config_hash({k: v for k, v in cfg.to_dict().items() if k not in _STUDENT_ONLY} | {"cache": str(cache_root(cfg))})


def _describe_data(cfg: RunConfig) -> str:
    if cfg.dataset == "synth":
        return f"synthetic {cfg.synth_preset} (seed {cfg.data_seed})" + (f" at {cfg.data_dir}" if cfg.data_dir else "")
    return f"{cfg.dataset} at {cfg.data_dir}"


def _describe_teacher(cfg: RunConfig) -> str:
    size = f" {cfg.teacher_stacks}x{cfg.teacher_features}" if cfg.teacher == "hourglass" else ""
    epochs, lr = cfg.teacher_schedule()
    return f"{cfg.teacher}{size}, {epochs} epochs at lr {lr:g} ({cfg.teacher_targets} targets)"


def latency_seconds_per_cell(min_time_s: float) -> float:
    """A planning figure for the latency phase: 3 timed runs of at least ``min_time_s`` plus MAC counting."""
    return 3 * max(min_time_s, 0.3) + 6.0


# --- the dry run --------------------------------------------------------------------------------------


def dry_run(
    matrix: Matrix,
    out: Path,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    executor: str = "local",
    retry_failed: bool = False,
    latency_min_time_s: float = 1.0,
    calibrate: bool = True,
) -> dict[str, Any]:
    """The cells (with what an earlier run left in ``out``), the shared work and a time estimate.

    Estimates come from this machine's timings of earlier runs (``<cache>/ablate-timings.json``); work
    never timed here is estimated by a short calibration (``lspd_bench.ablate.estimate``: a few training
    steps of each such model, a few rendered images; seconds), unless ``calibrate`` is off. Each estimate
    names its ``basis``; what neither covers is counted in ``unknown``. Torch is imported only to calibrate.
    """
    check_options(jobs, threads, latency_min_time_s)
    out = Path(out)
    index = store.index_by_key(out)
    cells, todo = [], []
    for cell in matrix.cells:
        cid = index.get(cell.key)
        state = store.cell_state(out / cid) if cid else "new"
        if retry_failed and state == "failed":
            state = "retry"
        entry: dict[str, Any] = {"key": cell.key, "cell": cid, "label": cell.label(matrix.varying), "axes": cell.axes,
                                 "state": state}  # fmt: skip
        if cid and state == "interrupted":
            prog = store.read_progress(out / cid) or {}
            entry["epochs_done"] = prog.get("epoch", 0)
        cells.append(entry)
        if state not in ("done", "failed"):
            todo.append((cell, entry))
    slots, per_cell = plan_slots(max(1, len(todo)), jobs, threads, executor)
    timings = store.read_timings(cache_root(matrix.cells[0].config))
    calibrated: dict[str, dict[str, Any] | None] = {}  # each distinct model, batch and thread count timed once
    unknown = 0
    cell_seconds = 0.0
    for cell, entry in todo:
        if entry["state"] == "trained":
            entry["estimate_s"] = 0.0
            continue
        cfg = cell.config
        epochs_left = cfg.epochs - entry.get("epochs_done", 0)
        per_epoch = timings.get("epochs", {}).get(speed_key(cfg, per_cell), {}).get("seconds")
        if per_epoch is not None:
            overhead = timings.get("overhead", {}).get(data_key(cfg), {}).get("seconds") or 0.0
            entry["estimate_s"], entry["basis"] = epochs_left * per_epoch + overhead, "timed here"
        elif calibrate:
            key = config_hash({"model": _work_key(cfg), "batch": cfg.batch_size, "threads": per_cell})
            if key not in calibrated:
                calibrated[key] = estimate.train_seconds(cfg, per_cell, 1)
            known = calibrated[key]
            entry["estimate_s"] = None if known is None else known["seconds"] + (epochs_left - 1) * known["per_epoch"]
            entry["basis"] = None if known is None else known["basis"]
        else:
            entry["estimate_s"] = None
        if entry["estimate_s"] is None:
            unknown += 1
            continue
        cell_seconds += entry["estimate_s"]
    shared = _shared_plan([c for c, e in todo if e["state"] != "trained"], timings, calibrate)
    unknown += sum(1 for s in shared if s["estimate_s"] is None)
    shared_seconds = sum(s["estimate_s"] or 0.0 for s in shared)
    latency = len(todo) * latency_seconds_per_cell(latency_min_time_s) if todo else 0.0
    states = [c["state"] for c in cells]
    return {
        "matrix": matrix.to_dict(), "out": str(out), "executor": executor, "slots": slots, "threads": per_cell,
        "cores": cores(), "cells": cells, "shared": shared,
        "counts": {s: states.count(s) for s in dict.fromkeys(states)},
        "estimate_s": {"shared": shared_seconds, "cells": cell_seconds, "latency": latency,
                       "wall": shared_seconds + cell_seconds / slots + latency, "unknown": unknown},
        "warnings": list(matrix.warnings),
    }  # fmt: skip


def _shipped_teacher(cfg: RunConfig) -> str | None:
    """The shipped teacher file a cell will use, its data assumed generated as shipped (the run checks the
    fingerprint and trains its own on a mismatch), or None."""
    from lspd_bench.train.shipped import planned_shipped

    path = planned_shipped(identity_keys(teacher_config(cfg)))
    return path.name if path else None


def _shared_plan(cells: list[Cell], timings: dict, calibrate: bool = False) -> list[dict[str, Any]]:
    shared: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cell in cells:
        cfg = cell.config
        key = data_key(cfg)
        if key not in seen:
            seen.add(key)
            known = timings.get("datasets", {}).get(key, {})
            if cfg.dataset == "synth":
                path = Path(cfg.data_dir) if cfg.data_dir else (Path(known["path"]) if known.get("path") else None)
                ready = path is not None and (path / "meta.json").is_file()
            else:
                ready = bool(cfg.data_dir) and Path(cfg.data_dir).is_dir()
            state = "cached" if ready else ("to generate" if cfg.dataset == "synth" else "missing")
            shared.append({"what": "dataset", "description": _describe_data(cfg), "state": state,
                           **_shared_estimate(ready, known, calibrate, lambda: estimate.synth_seconds(cfg, 2))})  # fmt: skip
        if cfg.distill in TEACHER_MODES:
            key = teacher_key(cfg)
            if key in seen:
                continue
            seen.add(key)
            known = timings.get("teachers", {}).get(key, {})
            shipped = known.get("shipped") or _shipped_teacher(cfg)
            ready = bool(shipped) or (bool(known.get("dir")) and (Path(known["dir"]) / "teacher.json").is_file())
            state = f"shipped ({shipped})" if shipped else "cached" if ready else "to train"
            if ready and not known and cfg.teacher_targets == "precomputed":  # never prepared in this cache
                state += "; its heatmaps to compute"
                ready = False
            shared.append({"what": "teacher", "description": _describe_teacher(cfg), "state": state,
                           **_shared_estimate(ready, known, calibrate,
                                              lambda: estimate.teacher_seconds(cfg, cores(), train=not shipped))})  # fmt: skip
    return shared


def _shared_estimate(ready: bool, known: dict[str, Any], calibrate: bool, calibration) -> dict[str, Any]:
    """``estimate_s`` and its ``basis`` for a dataset or a teacher: nothing when ready, else this machine's
    timing, else (with ``calibrate``) ``calibration()``'s, else unknown."""
    if ready:
        return {"estimate_s": 0.0, "basis": "ready"}
    if known.get("seconds") is not None:
        return {"estimate_s": known["seconds"], "basis": "timed here"}
    found = calibration() if calibrate else None
    if found is None:
        return {"estimate_s": None, "basis": None}
    return {"estimate_s": found["seconds"], "basis": found["basis"]}


# --- the run ------------------------------------------------------------------------------------------


@dataclass
class CellRun:
    """A cell during a run: its id and folder, its state and what the live view shows of it."""

    cell: Cell
    id: str
    dir: Path
    label: str
    identity: dict[str, Any]
    state: str = "pending"  # pending | running | busy (another process has it) | trained | done | failed
    error: str | None = None
    estimate_s: float | None = None
    work: float = 0.0  # relative training cost (forward GMACs × epochs): the longest-first order
    started: float | None = None
    seconds: float | None = None  # this run's wall time of the cell's training and evaluation

    def table_status(self) -> str:
        return {"done": "done", "failed": "failed", "pending": "pending"}.get(self.state, "running")


class _Display:
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
            if r.state == "running":
                prog = store.read_progress(r.dir) or {}
                row.update({k: prog.get(k) for k in ("phase", "epoch", "epochs", "step", "steps", "metric",
                                                      "seconds_per_epoch")})  # fmt: skip
                row["elapsed_s"] = time.monotonic() - r.started if r.started else None
            elif r.state in ("trained", "done"):
                metrics = store.read_json(r.dir / store.METRICS_FILE) or {}
                row["metric"] = metrics.get("headline")
                if r.state == "done":
                    cost = store.read_json(r.dir / store.COST_FILE) or {}
                    row["latency_ratio"] = cost.get("latency_ratio")
            cells.append(row)
        states = [r.state for r in self.runs]
        self.progress({"event": "state", "phase": self.phase, "shared": self.shared, "cells": cells,
                       "counts": {s: states.count(s) for s in dict.fromkeys(states)},
                       "elapsed_s": time.monotonic() - self.started, "eta_s": self.eta(cells)})  # fmt: skip

    def eta(self, cells: list[dict]) -> float | None:
        """Seconds left: running cells from their epoch rate, pending ones from estimates or from the seconds
        per epoch and unit of work (GMACs) of the cells seen so far, divided by the parallelism; plus the
        latency phase. It sharpens as cells report their rates."""
        seen = [(c["seconds_per_epoch"], r.work / r.cell.config.epochs) for r, c in zip(self.runs, cells)
                if c.get("seconds_per_epoch")]  # fmt: skip
        per_work = sum(s for s, _ in seen) / sum(w for _, w in seen) if seen and all(w > 0 for _, w in seen) else None
        left = 0.0
        for r, c in zip(self.runs, cells):
            mean_rate = per_work * r.work / r.cell.config.epochs if per_work is not None and r.work > 0 else None
            if r.state == "running":
                rate = c.get("seconds_per_epoch") or mean_rate
                if rate is None or not c.get("epochs"):
                    if r.estimate_s is None or r.started is None:
                        return None
                    left += max(0.0, r.estimate_s - (time.monotonic() - r.started))
                else:
                    done = (c.get("epoch") or 0) + (c.get("step") or 0) / max(1, c.get("steps") or 1)
                    left += max(0.0, c["epochs"] - done) * rate
            elif r.state in ("pending", "busy"):
                if r.estimate_s is not None:
                    left += r.estimate_s
                elif mean_rate is not None:
                    left += mean_rate * r.cell.config.epochs
                else:
                    return None
        profiling = sum(1 for r in self.runs if r.state in ("pending", "running", "busy", "trained"))
        return left / self.slots + profiling * latency_seconds_per_cell(self.min_time_s)


def _check_models(matrix: Matrix) -> dict[str, float]:
    """Build every distinct model once (so a knob or input-size error stops the matrix before any work)
    and count its convolution and linear MACs (GMACs, batch 1): the relative cost that orders the cells
    longest first (a count, not a timing, so that a busy machine does not shuffle the order)."""
    import torch
    import torch.nn as nn

    from lspd_bench.models import build
    from lspd_bench.train.build import check_student

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        kernel = float(torch.tensor(module.weight.shape[2:]).prod()) if module.weight.dim() > 2 else 1.0
        if isinstance(module, nn.ConvTranspose2d):  # every input pixel meets the whole kernel
            macs[0] += inputs[0].numel() * module.out_channels / module.groups * kernel
        elif isinstance(module, nn.Conv2d):
            macs[0] += output.numel() * module.in_channels / module.groups * kernel
        else:
            macs[0] += output.numel() * module.in_features

    work: dict[str, float] = {}
    for cell in matrix.cells:
        cfg = cell.config
        key = _work_key(cfg)
        if key in work:
            continue
        where = f"cell {cell.label(cell.axes)}" if cell.axes else "the matrix"
        macs = [0.0]
        try:
            model = build(cfg.model, **cfg.model_knobs())
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    m.register_forward_hook(count)
            check_student(cfg, model)  # its one forward pass (batch 1, eval mode) is the one the hooks count
        except (TypeError, ValueError) as exc:  # InputError is a ValueError: a knob out of range
            raise InputError(f"{where}: {exc}") from None
        work[key] = macs[0] / 1e9
    return work


def _work_key(cfg: RunConfig) -> str:
    """What ``_check_models`` checks and counts once: the model, its knobs, the input size and stage weights."""
    return config_hash({"model": cfg.model, "knobs": cfg.model_knobs(), "input": cfg.input_size,
                        "stage_weights": cfg.stage_weights})  # fmt: skip


def _work_of(cfg: RunConfig, work: dict[str, float]) -> float:
    return work[_work_key(cfg)] * cfg.epochs


def run_matrix(
    matrix: Matrix,
    out: str | Path,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    executor: str = "local",
    retry_failed: bool = False,
    address: str | None = None,
    cluster: str | None = None,
    partition: str | None = None,
    timeout_min: int = 24 * 60,
    latency_min_time_s: float = 1.0,
    throughput_batch: int = THROUGHPUT_BATCH,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every cell of ``matrix`` into ``out`` (resuming what an earlier run left) and return a summary.

    ``progress(event)`` receives ``state`` events (phase, shared work, every cell's state, epoch and
    metric, the ETA) for a live view. Failing cells are recorded with their error and the others go on;
    ``retry_failed`` runs them again. Bad input raises ``InputError`` before any work starts.
    """
    from lspd_bench.data.build import build_data, synth_dir
    from lspd_bench.train.build import identity, run_id

    out = Path(out)
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    check_options(jobs, threads, latency_min_time_s)
    work = _check_models(matrix)
    seconds["validate"] = time.perf_counter() - clock
    cache = cache_root(matrix.cells[0].config)

    # Shared work 1: the datasets (one per distinct data source) and the identities they give the cells.
    display = _Display(progress, [], 1, latency_min_time_s)
    display.phase = "preparing the data"
    t = time.perf_counter()
    bundles: dict[str, Any] = {}
    for cell in matrix.cells:
        cfg = cell.config
        key = data_key(cfg)
        if key in bundles:
            continue
        item = {"what": "dataset", "description": _describe_data(cfg), "state": "preparing"}
        display.shared.append(item)
        display.emit(force=True)
        generate = cfg.dataset == "synth" and not (synth_dir(cfg) / "meta.json").is_file()
        started = time.perf_counter()
        bundles[key] = build_data(cfg)
        if cfg.dataset == "synth":
            store.record_timing(cache, "datasets", key, time.perf_counter() - started if generate else None,
                                path=str(synth_dir(cfg)))  # fmt: skip
        item["state"] = "generated" if generate else "cached"
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
        store.write_cell(r.dir, {"cell": r.id, "matrix": matrix.name, "axes": r.cell.axes, "label": r.label,
                                 "keys": [r.cell.key], "config": r.cell.config.to_dict(), "identity": r.identity})  # fmt: skip
    for cell, cid in repeats:
        store.write_cell(out / cid, {**store.read_json(out / cid / store.CELL_FILE), "keys": [cell.key]})
    write_json(out / store.MATRIX_FILE, {**matrix.to_dict(), "cells": [
        {"cell": r.id, "label": r.label, "axes": r.cell.axes} for r in runs] + earlier})  # fmt: skip

    for r in runs:
        state = store.cell_state(r.dir)
        if state == "failed" and retry_failed:
            state = "trained" if store.is_trained(r.dir) else "pending"
            moved = _set_aside_unreadable_checkpoint(r.dir) if state == "pending" else None
            if moved:
                warnings.append(f"{r.label}: its checkpoint could not be read; kept as {moved.name}, and the cell "
                                "starts again from epoch 1")  # fmt: skip
        r.state = {"new": "pending", "interrupted": "pending"}.get(state, state)
        if r.state == "failed":
            r.error = (store.read_json(r.dir / store.STATUS_FILE) or {}).get("error")
    to_train = [r for r in runs if r.state == "pending"]
    slots, per_cell = plan_slots(max(1, len(to_train)), jobs, threads, executor)
    timings = store.read_timings(cache)
    for r in to_train:
        cfg = r.cell.config
        r.work = _work_of(cfg, work)
        per_epoch = timings.get("epochs", {}).get(speed_key(cfg, per_cell), {}).get("seconds")
        overhead = timings.get("overhead", {}).get(data_key(cfg), {}).get("seconds") or 0.0
        if per_epoch is not None:
            r.estimate_s = per_epoch * cfg.epochs + overhead
    display.runs, display.slots = runs, slots
    identities = [r.identity for r in runs] + [(store.read_json(out / c["cell"] / store.CELL_FILE) or {}).get(
        "identity", {}) for c in earlier]  # fmt: skip
    max_stages = max(int(i.get("model_knobs", {}).get("stages", 1)) for i in identities)

    def write_table() -> dict[str, Any]:
        rows = [store.result_row(r.dir, r.table_status(), matrix.preset) for r in runs]
        rows += [store.result_row(out / c["cell"], _EARLIER_STATUS.get(store.cell_state(out / c["cell"]), "pending"),
                                  c["preset"]) for c in earlier]  # fmt: skip
        return store.write_results(out, rows, max_stages)

    write_table()

    # Shared work 2: each distinct teacher, trained once with every core (nothing else is running).
    t = time.perf_counter()
    display.phase = "training the teachers"
    _teachers([r for r in to_train if r.cell.config.distill in TEACHER_MODES], bundles, cache, display)
    seconds["teachers"] = time.perf_counter() - t

    # The cells.
    t = time.perf_counter()
    display.phase = "training and evaluating the cells"
    cell_seconds = _run_cells(to_train, out, executor, slots, per_cell, display, write_table, cache,
                              dict(address=address, cluster=cluster, partition=partition, timeout_min=timeout_min,
                                   gpus=_gpus(matrix)))  # fmt: skip
    seconds["cells"] = time.perf_counter() - t

    # Latency, alone.
    t = time.perf_counter()
    display.phase = "measuring latency (nothing else running)"
    _latency_phase(runs, out, bundles, display, write_table, latency_min_time_s, throughput_batch)
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
        summary_cells.append({"cell": r.id, "label": r.label, "axes": r.cell.axes, "status": r.table_status(),
                              "error": r.error, "headline": row.get("headline"), "params_deploy": row.get("params_deploy"),
                              "gmacs_fvcore": row.get("gmacs_fvcore"), "latency_ms": row.get("latency_ms"),
                              "latency_ratio": row.get("latency_ratio"), "run_dir": str(r.dir)})  # fmt: skip
    states = [c["status"] for c in summary_cells]
    return {
        "matrix": matrix.to_dict(), "out": str(out), "executor": executor, "slots": slots, "threads": per_cell,
        "cores": cores(), "cells": summary_cells, "counts": {s: states.count(s) for s in dict.fromkeys(states)},
        "failed": states.count("failed"), "results": written, "seconds": seconds, "cell_seconds": cell_seconds,
        "warnings": warnings,
    }  # fmt: skip


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
        raise InputError(f"{len(names)} cell(s) of {cell_dirs[0].parent} ({', '.join(names[:3])}) were trained with "
                         f"{count} torch thread(s) each and this run would train with {threads}: a cell's figures "
                         f"depend on it. Pass --threads {count}, or choose another --out")  # fmt: skip


#: The table status of a cell from an earlier matrix in the same folder (it is not run now).
_EARLIER_STATUS = {"done": "done", "failed": "failed"}


def _earlier_cells(out: Path, now: dict[str, CellRun]) -> list[dict[str, Any]]:
    """The cells an earlier matrix ran into ``out`` that this one does not have: they stay in ``matrix.json``
    and in the results table (with their own preset), so that a new matrix in an old folder loses no row.
    A cell that this matrix runs again under another suite version is replaced, not kept beside it."""
    old = store.read_json(out / store.MATRIX_FILE)
    if not isinstance(old, dict):
        return []

    def what(identity: dict[str, Any]) -> str:
        return config_hash({k: v for k, v in identity.items() if k != "suite_version"})

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
    from lspd_bench.train.loop import LAST

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


def _gpus(matrix: Matrix) -> int:
    import torch

    device = matrix.cells[0].config.device
    return 1 if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else 0


def _teachers(runs: list[CellRun], bundles: dict[str, Any], cache: Path, display: _Display) -> None:
    """Train (or find in the cache) each distinct teacher, and precompute its heatmaps, before the cells."""
    from lspd_bench.cost.latency import torch_threads
    from lspd_bench.data.build import build_data
    from lspd_bench.evaluation.run import ensure_teacher, teacher_run
    from lspd_bench.train.loop import resolve_device

    seen: set[tuple[str, str]] = set()
    for r in runs:
        # The teacher learns from a seed-0 view of the data whatever the cell's seed, so that its
        # training is fixed by its identity (which has seed 0) rather than by the first cell to need it.
        cfg = replace(r.cell.config, seed=0)
        bundle = bundles[data_key(cfg)]
        *_, folder = teacher_run(cfg, bundle)
        tid = folder.name  # the teacher's identity hash
        if (tid, cfg.teacher_targets) in seen:
            continue
        seen.add((tid, cfg.teacher_targets))
        item: dict[str, Any] = {"what": "teacher", "description": _describe_teacher(cfg), "state": "checking"}
        display.shared.append(item)
        display.emit(force=True)
        trained: dict[str, float] = {}

        def on_event(event: dict, item=item, trained=trained) -> None:
            kind = event["event"]
            if kind == "teacher_start":
                item["state"] = f"training ({event['reason']})"
                trained["started"] = time.perf_counter()
            elif kind == "epoch_end":
                item.update(epoch=event["epoch"] + 1, epochs=event["epochs"], metric=event.get("headline"))
            elif kind == "teacher_heatmaps":
                item["state"] = "computing its heatmaps"
            display.emit(force=kind != "step")

        with torch_threads(cores()):
            _, record = ensure_teacher(cfg, build_data(cfg), resolve_device(cfg.device), on_event)
        seconds = time.perf_counter() - trained["started"] if "started" in trained else None
        store.record_timing(cache, "teachers", teacher_key(cfg), seconds, dir=record.get("dir"),
                            shipped=record.get("file"))  # fmt: skip
        shipped = record["source"] == "shipped"
        item["state"] = f"shipped ({record['file']})" if shipped else "trained" if seconds else "cached"
        item["metric"] = record.get("headline")
        display.emit(force=True)


def _run_cells(runs: list[CellRun], out: Path, executor: str, slots: int, threads: int, display: _Display,
               write_table: Callable[[], Any], cache: Path, options: dict[str, Any]) -> float:  # fmt: skip
    """Train and evaluate ``runs`` on the executor, longest first; returns the cells' summed wall time."""
    if not runs:
        return 0.0
    known = all(r.estimate_s is not None for r in runs)
    queue = sorted(runs, key=lambda r: -(r.estimate_s if known else r.work))
    deferred: list[CellRun] = []
    ex = make_executor(executor, slots=slots, threads=threads, folder=out / ".submitit", **options)
    imports = tuple(plugins.named())  # what the workers import before they build a plugin's model
    by_id = {r.id: r for r in runs}
    total = 0.0
    try:
        while queue or ex.running or deferred:
            while queue and len(ex.running) < ex.slots:
                r = queue.pop(0)
                if store.is_locked(r.dir):
                    r.state = "busy"
                    deferred.append(r)
                    continue
                r.state, r.started = "running", time.monotonic()
                ex.submit(CellTask(r.id, str(r.dir), r.cell.config.to_dict(), threads, r.label, imports))
            display.emit(force=True)
            for task, outcome in ex.poll(1.0):
                r = by_id[task.cell]
                status = outcome["status"]
                if status == "busy":
                    r.state = "busy"
                    deferred.append(r)
                elif status == "trained":
                    r.state, r.seconds = "trained", outcome.get("seconds")
                    total += r.seconds or 0.0
                    _record_cell_timing(r, outcome, threads, cache)
                else:
                    if status == "died":  # the worker could not record it: the driver does
                        store.record_failure(r.dir, outcome["error"], "train")
                    r.state, r.error = "failed", outcome.get("error")
                    r.seconds = time.monotonic() - r.started if r.started else None
                    total += r.seconds or 0.0
                write_table()
            for r in list(deferred):  # cells another process held: back in the queue once it lets go
                if not store.is_locked(r.dir):
                    deferred.remove(r)
                    state = store.cell_state(r.dir)
                    if state in ("trained", "done", "failed"):
                        r.state = state
                        r.error = (store.read_json(r.dir / store.STATUS_FILE) or {}).get("error")
                    else:
                        r.state = "pending"
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


def _latency_phase(runs: list[CellRun], out: Path, bundles: dict[str, Any], display: _Display,
                   write_table: Callable[[], Any], min_time_s: float, batch: int) -> None:  # fmt: skip
    """Profile every trained cell's deploy model, one at a time, with no cell training anywhere in the
    matrix (other ablate processes on the same folder are waited for)."""
    need = [r for r in runs if r.state == "trained"]
    if not need:
        return
    display.emit(force=True)
    with store.wait_lock(out / ".latency.lock"):
        while any(store.is_locked(r.dir) for r in runs):
            display.phase = "waiting for another process's cells before measuring latency"
            display.emit()
            time.sleep(1.0)
        display.phase = "measuring latency (nothing else running)"
        references: dict[tuple, Any] = {}
        measured: dict[str, dict[str, Any]] = {}  # architecture hash → its cost figures, measured once
        for r in need:
            with store.cell_lock(r.dir) as held:
                if not held:
                    continue
                if store.is_costed(r.dir):
                    r.state = "done"
                    continue
                r.state, r.started = "running", time.monotonic()
                display.emit(force=True)
                cfg = r.cell.config
                bundle = bundles[data_key(cfg)]
                try:
                    key = (tuple(cfg.input_size), bundle.num_joints)
                    if key not in references:
                        references[key] = reference_model(bundle.num_joints)
                    cost = profile_cell(cfg, r.dir, bundle.num_joints, references[key], batch=batch, min_time_s=min_time_s,
                                        measured=measured)  # fmt: skip
                    write_json(r.dir / store.COST_FILE, cost)
                    store.write_status(r.dir, "done", latency_ms=cost["latency"]["median_ms"])
                    r.state = "done"
                except Exception as exc:  # a cell whose model cannot be profiled fails alone
                    r.state, r.error = "failed", store.record_failure(r.dir, exc, "profile")["error"]
            write_table()
            display.emit(force=True)


def reference_model(num_joints: int):
    """The latency reference: ``simplebaseline-mbv2``'s deploy model (fixed initialisation; weights do not change latency)."""
    from lspd_bench.models import build
    from lspd_bench.train.loop import seeded

    with seeded(0):
        model = build(REFERENCE_MODEL, num_joints=num_joints)
    return model.eval().deploy()


def profile_cell(cfg: RunConfig, cell_dir: Path, num_joints: int, reference, *, batch: int = THROUGHPUT_BATCH,
                 min_time_s: float = 1.0, measured: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Cost of a trained cell's deploy model at the run's input size (H, W px): parameters, MACs (every
    counter, GMACs), batch-1 latency (ms, 1 thread), throughput (images/s at ``batch``, 1 thread) and the
    latency ratio to ``reference``, the two measured taking turns in this process.

    ``measured`` maps architecture hashes (``lspd_bench.cost.architecture_hash`` of the deploy model) to
    figures already measured: a cell whose deploy model is the same network takes them (``measured_in``
    names the cell that measured them), so one network has one latency in the table.
    """
    from lspd_bench.cost import architecture_hash, count_macs, count_params, measure_latency, measure_ratio
    from lspd_bench.cost.profile import CONVENTIONS
    from lspd_bench.env import environment
    from lspd_bench.train.build import build_student
    from lspd_bench.train.checkpoint import load_checkpoint
    from lspd_bench.train.loop import LAST

    model = build_student(cfg, num_joints)
    model.load_state_dict(load_checkpoint(Path(cell_dir) / LAST)["model"])
    model.eval()
    deployed = model.deploy()
    hw = (int(cfg.input_size[0]), int(cfg.input_size[1]))
    arch = architecture_hash(deployed, hw)
    measured = {} if measured is None else measured
    if arch not in measured:
        timing = dict(threads=LATENCY_THREADS, device="cpu", min_time_s=min_time_s)
        lat, ref, ratio = measure_ratio(deployed, reference, hw, batch=1, block=LATENCY_BLOCK,
                                        iters=LATENCY_ROUNDS * LATENCY_BLOCK, **timing)  # fmt: skip
        thr = measure_latency(deployed, hw, batch=batch, **timing)
        measured[arch] = {
            "macs": [m.to_dict() for m in count_macs(deployed, hw)], "latency": lat.to_dict(),
            "throughput": thr.to_dict(), "reference": {"model": REFERENCE_MODEL, "measured": "deploy",
                                                       "latency": ref.to_dict()},
            "latency_ratio": ratio.ratio, "latency_ratio_interval": [ratio.low, ratio.high],
            "latency_ratio_rounds": ratio.rounds, "measured_in": Path(cell_dir).name,
        }  # fmt: skip
    return {
        "model": cfg.model, "knobs": cfg.model_knobs(), "input": list(hw), "measured": "deploy",
        "deploy_stage": getattr(model, "deploy_stage", 1), "architecture": arch,
        "params": {"full": count_params(model), "deploy": count_params(deployed)}, **measured[arch],
        "environment": environment("cpu"), "conventions": [*CONVENTIONS, RATIO_CONVENTION, SHARED_CONVENTION],
    }  # fmt: skip
