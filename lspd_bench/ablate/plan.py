"""Planning a matrix run: slots and threads, the keys of the timings ledger, each model's work, the dry run.

``dry_run`` lists the cells, what is done, the shared work and a time estimate: from the timings this
machine recorded in earlier runs, else from a short calibration (the only use of torch in a dry run).
This module imports torch only in ``check_models`` and the calibration, so a dry run stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from lspd_bench.ablate import estimate, store
from lspd_bench.ablate.executors import executor_kind
from lspd_bench.ablate.matrix import Cell, Matrix
from lspd_bench.ablate.schema import Status
from lspd_bench.config import (
    FAMILY_OF,
    Dataset,
    RunConfig,
    TeacherTargets,
    cache_root,
    config_hash,
    identity_keys,
    teacher_config,
)
from lspd_bench.errors import InputError
from lspd_bench.train.files import TEACHER_RECORD

#: Torch threads a cell trains with unless ``--threads`` says otherwise (fixed: a cell's figures depend on it).
CELL_THREADS = 1

_DATA_KEYS = tuple(k for k, family in FAMILY_OF.items() if family == "data")


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_options(
    jobs: int | None, threads: int | None, latency_min_time_s: float = 1.0, executor: str = "local"
) -> None:
    """The run options (``InputError`` naming the option), checked before anything is written: the ranges,
    the executor's name, and ``--jobs`` against an executor that runs one cell at a time."""
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    if threads is not None and threads < 1:
        raise InputError(f"--threads {threads}: must be at least 1")
    if not latency_min_time_s >= 0:  # NaN too
        raise InputError(f"--latency-min-time {latency_min_time_s}: must be 0 or more seconds")
    if executor_kind(executor).parallel == "one" and jobs is not None and jobs > 1:
        raise InputError(f"--jobs {jobs}: --executor {executor} runs one cell at a time")


def plan_slots(cells_to_run: int, jobs: int | None, threads: int | None, executor: str) -> tuple[int, int]:
    """(cells at once, torch threads per cell), for options that ``check_options`` accepted. A cell trains
    with ``threads`` threads, 1 unless asked: never a count derived from the cores or the cells left, because
    a cell's figures depend on it (a matrix run with ``--jobs 1`` gives the same numbers as the default). By
    default a local pool runs as many cells at once as ``threads`` fit in the cores, cluster executors queue
    every cell and let the cluster schedule, and an in-process one runs one (``ExecutorKind.slots``)."""
    threads = threads or CELL_THREADS
    return executor_kind(executor).slots(cells_to_run, jobs, threads, cores()), threads


# --- keys of the timings ledger (torch-free) -----------------------------------------------------------


def data_key(cfg: RunConfig) -> str:
    return config_hash({**{k: getattr(cfg, k) for k in _DATA_KEYS}, "cache": str(cache_root(cfg))})


def speed_key(cfg: RunConfig, threads: int) -> str:
    """What an epoch's duration depends on: data, model and knobs, input, batch, teacher source, threads."""
    teacher = cfg.teacher_targets if cfg.distill.uses_teacher else None
    return config_hash(
        {
            "data": data_key(cfg),
            "model": cfg.model,
            "knobs": cfg.model_knobs(),
            "input": cfg.input_size,
            "batch": cfg.batch_size,
            "teacher": teacher,
            "threads": threads,
            "device": cfg.device,
            "workers": cfg.workers,
        }
    )


def teacher_key(cfg: RunConfig) -> str:
    """Everything a cell's teacher depends on: its own run's configuration (``teacher_config``, which drops the
    student's settings), where its data is read and where it is cached."""
    return config_hash({**identity_keys(teacher_config(cfg)), "data_dir": cfg.data_dir, "cache": str(cache_root(cfg))})


def describe_data(cfg: RunConfig) -> str:
    if cfg.dataset == Dataset.SYNTH:
        return f"synthetic {cfg.synth_preset} (seed {cfg.data_seed})" + (f" at {cfg.data_dir}" if cfg.data_dir else "")
    return f"{cfg.dataset} at {cfg.data_dir}"


def describe_teacher(cfg: RunConfig) -> str:
    size = f" {cfg.teacher_stacks}x{cfg.teacher_features}" if cfg.teacher == "hourglass" else ""
    epochs, lr = cfg.teacher_schedule()
    return f"{cfg.teacher}{size}, {epochs} epochs at lr {lr:g} ({cfg.teacher_targets} targets)"


def latency_seconds(configs: Iterable[RunConfig], min_time_s: float) -> float:
    """A planning figure for the latency phase of the cells ``configs``: one measurement per distinct model,
    knobs and input size (:func:`work_key`; an upper bound, as the phase shares one measurement among cells
    whose deploy networks have one architecture hash). Each is three timings of at least ``min_time_s`` (the
    cell and the reference taking turns count twice, the throughput once) with a floor because a timing also
    has a minimum number of calls, plus counting the MACs with every counter, which does not depend on the
    timing."""
    return len({work_key(c) for c in configs}) * (3 * max(min_time_s, 0.3) + 6.0)


# --- the dry run --------------------------------------------------------------------------------------


def summary_head(matrix: Matrix, out: Path, executor: str, slots: int, threads: int, cells: list[dict], state: str):
    """What a run's summary and its dry run's plan both begin with: the matrix, where, how, and its ``cells``
    counted by their ``state`` field."""
    states = [c[state] for c in cells]
    return {
        "matrix": matrix.to_dict(),
        "out": str(out),
        "executor": executor,
        "slots": slots,
        "threads": threads,
        "cores": cores(),
        "cells": cells,
        "counts": {s: states.count(s) for s in dict.fromkeys(states)},
    }


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
    check_options(jobs, threads, latency_min_time_s, executor)
    out = Path(out)
    index = store.index_by_key(out)
    cells, todo = [], []
    for cell in matrix.cells:
        cid = index.get(cell.key)
        state = store.cell_state(out / cid) if cid else Status.NEW
        if retry_failed and state == Status.FAILED:
            state = "retry"
        entry: dict[str, Any] = {
            "key": cell.key,
            "cell": cid,
            "label": cell.label(matrix.varying),
            "axes": cell.axes,
            "state": state,
        }
        if cid and state == Status.INTERRUPTED:
            prog = store.read_progress(out / cid) or {}
            entry["epochs_done"] = prog.get("epoch", 0)
        cells.append(entry)
        if state not in (Status.DONE, Status.FAILED):
            todo.append((cell, entry))
    slots, per_cell = plan_slots(max(1, len(todo)), jobs, threads, executor)
    timings = store.read_timings(cache_root(matrix.cells[0].config))
    calibrated: dict[str, dict[str, Any] | None] = {}  # each distinct model, batch and thread count timed once
    unknown = 0
    cell_seconds = 0.0
    for cell, entry in todo:
        if entry["state"] == Status.TRAINED:
            entry["estimate_s"] = 0.0
            continue
        cfg = cell.config
        epochs_left = cfg.epochs - entry.get("epochs_done", 0)
        per_epoch = timings.get("epochs", {}).get(speed_key(cfg, per_cell), {}).get("seconds")
        if per_epoch is not None:
            overhead = timings.get("overhead", {}).get(data_key(cfg), {}).get("seconds") or 0.0
            entry["estimate_s"], entry["basis"] = epochs_left * per_epoch + overhead, "timed here"
        elif calibrate:
            key = config_hash({"model": work_key(cfg), "batch": cfg.batch_size, "threads": per_cell})
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
    shared = _shared_plan([c for c, e in todo if e["state"] != Status.TRAINED], timings, calibrate)
    unknown += sum(1 for s in shared if s["estimate_s"] is None)
    shared_seconds = sum(s["estimate_s"] or 0.0 for s in shared)
    latency = latency_seconds((c.config for c, _ in todo), latency_min_time_s)
    return {
        **summary_head(matrix, out, executor, slots, per_cell, cells, "state"),
        "shared": shared,
        "estimate_s": {
            "shared": shared_seconds,
            "cells": cell_seconds,
            "latency": latency,
            "wall": shared_seconds + cell_seconds / slots + latency,
            "unknown": unknown,
        },
        "warnings": list(matrix.warnings) + _missing_library(executor),
    }


def _missing_library(executor: str) -> list[str]:
    """The warning a dry run gives when the executor's library is missing (a run refuses to start)."""
    try:
        executor_kind(executor).check()
    except InputError as exc:
        return [str(exc)]
    return []


def _shipped_teacher(cfg: RunConfig) -> str | None:
    """The shipped teacher file a cell will use, its data assumed generated as shipped (the run checks the
    fingerprint and trains its own on a mismatch), or None."""
    from lspd_bench.train.shipped import planned_shipped

    path = planned_shipped(identity_keys(teacher_config(cfg)))
    return path.name if path else None


def _shared_plan(cells: list[Cell], timings: dict, calibrate: bool = False) -> list[dict[str, Any]]:
    from lspd_bench.data.synth import META_FILE

    shared: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cell in cells:
        cfg = cell.config
        key = data_key(cfg)
        if key not in seen:
            seen.add(key)
            known = timings.get("datasets", {}).get(key, {})
            if cfg.dataset == Dataset.SYNTH:
                path = Path(cfg.data_dir) if cfg.data_dir else (Path(known["path"]) if known.get("path") else None)
                ready = path is not None and (path / META_FILE).is_file()
            else:
                ready = bool(cfg.data_dir) and Path(cfg.data_dir).is_dir()
            state = "cached" if ready else ("to generate" if cfg.dataset == Dataset.SYNTH else "missing")
            shared.append(
                {
                    "what": "dataset",
                    "description": describe_data(cfg),
                    "state": state,
                    **_shared_estimate(ready, known, calibrate, lambda: estimate.synth_seconds(cfg, 2)),
                }
            )
        if cfg.distill.uses_teacher:
            key = teacher_key(cfg)
            if key in seen:
                continue
            seen.add(key)
            known = timings.get("teachers", {}).get(key, {})
            shipped = known.get("shipped") or _shipped_teacher(cfg)
            ready = bool(shipped) or (bool(known.get("dir")) and (Path(known["dir"]) / TEACHER_RECORD).is_file())
            state = f"shipped ({shipped})" if shipped else "cached" if ready else "to train"
            if (
                ready and not known and cfg.teacher_targets == TeacherTargets.PRECOMPUTED
            ):  # never prepared in this cache
                state += "; its heatmaps to compute"
                ready = False
            shared.append(
                {
                    "what": "teacher",
                    "description": describe_teacher(cfg),
                    "state": state,
                    **_shared_estimate(
                        ready, known, calibrate, lambda: estimate.teacher_seconds(cfg, cores(), train=not shipped)
                    ),
                }
            )
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


# --- each model's work (imports torch) ------------------------------------------------------------------


def check_models(matrix: Matrix) -> dict[str, float]:
    """Build every distinct model once (so a knob or input-size error stops the matrix before any work)
    and count its convolution and linear MACs (GMACs, batch 1, ``lspd_bench.cost.macs.layer_macs``) on the
    check's own forward pass: the relative cost that orders the cells longest first (a count, not a timing,
    so that a busy machine does not shuffle the order)."""
    from lspd_bench.cost.macs import layer_macs
    from lspd_bench.models import build
    from lspd_bench.train.build import check_student, warm_start

    work: dict[str, float] = {}
    for cell in matrix.cells:
        cfg = cell.config
        key = work_key(cfg)
        if key in work:
            continue
        where = f"cell {cell.label(cell.axes)}" if cell.axes else "the matrix"
        try:
            model = build(cfg.model, **cfg.model_knobs())
            with layer_macs(model) as macs:
                check_student(cfg, model)  # its one forward pass (batch 1, eval mode) is the one counted
            warm_start(cfg, model)  # an init file that matches nothing stops the matrix here
        except (TypeError, ValueError) as exc:  # InputError is a ValueError: a knob out of range
            raise InputError(f"{where}: {exc}") from None
        work[key] = macs[0] / 1e9
    return work


def work_key(cfg: RunConfig) -> str:
    """What ``check_models`` checks and counts once: the model, its knobs, the input size, stage weights and
    initial weights."""
    return config_hash(
        {
            "model": cfg.model,
            "knobs": cfg.model_knobs(),
            "input": cfg.input_size,
            "stage_weights": cfg.stage_weights,
            "init": cfg.init,
        }
    )


def work_of(cfg: RunConfig, work: dict[str, float]) -> float:
    """A cell's relative training cost: its model's forward GMACs × its epochs."""
    return work[work_key(cfg)] * cfg.epochs
