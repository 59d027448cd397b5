"""Planning a matrix run: slots, threads and GPUs, the keys of the timings ledger, each model's work, the dry run.

``dry_run`` lists the cells, what is done, the shared work, the devices and a time estimate: from the timings
this machine recorded in earlier runs, else from a short calibration. This module imports torch only in
``check_models``, the calibration, to ask for GPUs when the installed torch is not a CPU build, and to ask for
bfloat16 support when a cell wants it, so a dry run on a CPU stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from lspd_bench.ablate import estimate, store
from lspd_bench.ablate.executors import Gpus, executor_kind
from lspd_bench.ablate.matrix import Cell, Matrix
from lspd_bench.ablate.schema import Status
from lspd_bench.config import (
    FAMILY_OF,
    Dataset,
    Precision,
    RunConfig,
    TeacherTargets,
    at_quiet_default,
    cache_root,
    choose_precision,
    config_hash,
    identity_keys,
    teacher_config,
)
from lspd_bench.env import visible_gpus
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
    jobs: int | None,
    threads: int | None,
    latency_min_time_s: float = 1.0,
    executor: str = "local",
    gpus_per_cell: int | None = None,
) -> None:
    """The run options (``InputError`` naming the option), checked before anything is written: the ranges,
    the executor's name, and ``--jobs`` or several GPUs a cell against an executor that runs one cell at a
    time in its own process."""
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    if threads is not None and threads < 1:
        raise InputError(f"--threads {threads}: must be at least 1")
    if gpus_per_cell is not None and gpus_per_cell < 1:
        raise InputError(f"--gpus-per-cell {gpus_per_cell}: must be at least 1")
    if not latency_min_time_s >= 0:  # NaN too
        raise InputError(f"--latency-min-time {latency_min_time_s}: must be 0 or more seconds")
    if executor_kind(executor).parallel == "one" and jobs is not None and jobs > 1:
        raise InputError(f"--jobs {jobs}: --executor {executor} runs one cell at a time")
    if executor_kind(executor).parallel == "one" and gpus_per_cell is not None and gpus_per_cell > 1:
        raise InputError(f"--gpus-per-cell {gpus_per_cell}: --executor {executor} trains each cell in its own process")


def plan_slots(
    cells_to_run: int, jobs: int | None, threads: int | None, executor: str, gpus: Gpus = Gpus()
) -> tuple[int, int]:
    """(cells at once, torch threads per cell), for options that ``check_options`` accepted. A cell trains
    with ``threads`` threads, 1 unless asked: never a count derived from the cores or the cells left, because
    a cell's figures depend on it (a matrix run with ``--jobs 1`` gives the same numbers as the default). By
    default a local pool runs as many cells at once as ``threads`` fit in the cores, or on CUDA as its GPUs
    take (``gpus``: one cell per GPU, or per ``--gpus-per-cell``), cluster executors queue every cell and let
    the cluster schedule, and an in-process one runs one (``ExecutorKind.slots``)."""
    threads = threads or CELL_THREADS
    return executor_kind(executor).slots(cells_to_run, jobs, threads, cores(), len(gpus.groups)), threads


# --- devices ------------------------------------------------------------------------------------------


def plan_gpus(matrix: Matrix, executor: str, per_cell: int | None = None) -> Gpus:
    """The GPUs the matrix's cells train on (its first cell's ``device`` says; ``per_cell``: ``--gpus-per-cell``).

    No GPU for ``device=cpu``, nor for ``auto`` where torch sees none (unless ``per_cell`` asks for them from a
    cluster, whose nodes may have what this machine lacks). Else ``per_cell`` GPUs a cell (1 by default); a
    local pool shares out this machine's GPUs (``device=cuda:N``: that one alone) and refuses more GPUs a cell
    than it has. ``InputError`` naming the option or the key otherwise."""
    device = matrix.cells[0].config.device
    kind = executor_kind(executor)
    asked = f"--gpus-per-cell {per_cell}"
    if device == "cpu":
        if per_cell:
            raise InputError(f"{asked}: the cells train on device=cpu")
        return Gpus()
    if kind.parallel == "all":  # a scheduler grants each task or job its GPUs
        here = device.startswith("cuda") or per_cell is not None or bool(visible_gpus())
        return Gpus(per_cell or 1) if here else Gpus()
    ids = visible_gpus()
    if device.startswith("cuda:"):
        index = int(device.partition(":")[2])
        if index >= len(ids):
            raise InputError(f"device={device}: torch sees {len(ids)} GPU(s) here")
        if per_cell and per_cell > 1:
            raise InputError(f"{asked}: device={device} names one GPU; name none (device=cuda) to use several")
        ids = (ids[index],)
    if not ids:
        if device == "cuda" or per_cell:
            raise InputError(f"{asked if per_cell else 'device=cuda'}: torch sees no CUDA GPU here")
        return Gpus()
    if per_cell and per_cell > len(ids):
        raise InputError(f"{asked}: torch sees {len(ids)} GPU(s) here")
    if kind.parallel == "one":  # cells in the driver's own process: its device key decides
        return Gpus(1)
    return Gpus(per_cell or 1, ids)


def device_plan(gpus: Gpus, executor: str, slots: int, device: str) -> dict[str, Any]:
    """Which device each cell takes, as a run will do it: ``text`` says it in one line, ``slots`` lists each
    pool slot's GPUs (a cell runs on the GPUs of the slot that is free when its turn comes)."""
    per = gpus.per_cell
    if not per:
        why = "device=cpu" if device == "cpu" else f"device={device}: torch sees no CUDA GPU here"
        return {"device": "cpu", "per_cell": 0, "slots": [], "text": f"cpu ({why})"}
    ddp = f"{per} GPUs a cell, trained with DDP under torchrun" if per > 1 else "one GPU a cell"
    if not gpus.ids:
        if executor_kind(executor).parallel == "one":
            return {"device": device, "per_cell": per, "slots": [], "text": f"{device}, in this process"}
        return {
            "device": "cuda",
            "per_cell": per,
            "slots": [],
            "text": f"cuda: {ddp}, the GPUs {executor}'s scheduler grants each cell (it trains on those)",
        }
    groups = gpus.groups
    mapping = [list(groups[i % len(groups)]) for i in range(slots)]  # the pool pins its k-th process this way
    names = _gpu_names(gpus.ids)
    models = list(dict.fromkeys(names.values()))
    one_model = f" ({len(gpus.ids)} × {models[0]})" if len(models) == 1 else ""
    shown = "; ".join(
        f"slot {i + 1} → GPU {','.join(g)}" + ("" if one_model else _named(g, names)) for i, g in enumerate(mapping)
    )
    pinned = (
        "each pool slot pinned to its own"
        if slots <= len(groups)
        else f"{slots} pool slots pinned to {len(groups)}, some sharing"
    )
    return {
        "device": "cuda",
        "per_cell": per,
        "gpus": list(gpus.ids),
        "gpu_names": names,
        "slots": mapping,
        "text": f"cuda{one_model}: {ddp}, {pinned}: {shown}; a cell takes the next free slot",
    }


def _gpu_names(ids: tuple[str, ...]) -> dict[str, str]:
    """Each visible GPU's model, by its ``CUDA_VISIBLE_DEVICES`` id (torch numbers them in that order)."""
    import torch

    return {gid: torch.cuda.get_device_name(i) for i, gid in enumerate(ids)}


def _named(group: list[str], names: dict[str, str]) -> str:
    models = list(dict.fromkeys(names[g] for g in group if g in names))
    return f" ({', '.join(models)})" if models else ""


def check_precisions(matrix: Matrix, gpus: Gpus, executor: str) -> None:
    """Each cell's ``precision`` against the device it will train on (``InputError`` naming the cell and the key),
    before any work: on this machine for a local pool or this process; for a cluster's, what no node changes
    (fp16 with ``device=cpu``). ``auto`` is always possible and asks nothing."""
    remote = executor_kind(executor).parallel == "all"
    checked: dict[tuple[str, str], None] = {}
    for cell in matrix.cells:
        cfg = cell.config
        if cfg.precision is Precision.AUTO or (cfg.device, cfg.precision) in checked:
            continue
        checked[(cfg.device, cfg.precision)] = None
        device_type = "cuda" if gpus.per_cell else "cpu"
        if remote and cfg.device != "cpu":
            continue  # the nodes' devices are the scheduler's to know
        where = f"cell {cell.label(matrix.varying)}" if cell.label(matrix.varying) else "the matrix"
        try:
            bf16 = cfg.precision is Precision.BF16 and (remote or _bf16_here(device_type))
            choose_precision(cfg.precision, device_type, bf16, cfg.device)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


def _bf16_here(device_type: str) -> bool:
    import torch

    from lspd_bench.train.loop import bf16_supported

    return bf16_supported(torch.device(device_type))


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
            # a key added later enters only away from its default, so that earlier timings stay valid
            **({} if at_quiet_default("precision", cfg.precision) else {"precision": cfg.precision}),
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


def summary_head(
    matrix: Matrix,
    out: Path,
    executor: str,
    slots: int,
    threads: int,
    cells: list[dict],
    state: str,
    devices: dict[str, Any],
):
    """What a run's summary and its dry run's plan both begin with: the matrix, where, how (``devices``: from
    :func:`device_plan`), and its ``cells`` counted by their ``state`` field."""
    states = [c[state] for c in cells]
    return {
        "matrix": matrix.to_dict(),
        "out": str(out),
        "executor": executor,
        "slots": slots,
        "threads": threads,
        "cores": cores(),
        "devices": devices,
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
    gpus_per_cell: int | None = None,
) -> dict[str, Any]:
    """The cells (with what an earlier run left in ``out``), the shared work and a time estimate.

    Estimates come from this machine's timings of earlier runs (``<cache>/ablate-timings.json``); work
    never timed here is estimated by a short calibration (``lspd_bench.ablate.estimate``: a few training
    steps of each such model, a few rendered images; seconds), unless ``calibrate`` is off. Each estimate
    names its ``basis``; what neither covers is counted in ``unknown``. Torch is imported only to calibrate.
    """
    check_options(jobs, threads, latency_min_time_s, executor, gpus_per_cell)
    gpus = plan_gpus(matrix, executor, gpus_per_cell)
    check_precisions(matrix, gpus, executor)
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
    slots, per_cell = plan_slots(max(1, len(todo)), jobs, threads, executor, gpus)
    devices = device_plan(gpus, executor, slots, matrix.cells[0].config.device)
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
        **summary_head(matrix, out, executor, slots, per_cell, cells, "state", devices),
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
    """Build every distinct model and teacher once (so a knob or input-size error stops the matrix before any
    work) and count its convolution and linear MACs (GMACs, batch 1, ``lspd_bench.cost.macs.layer_macs``) on the
    check's own forward pass: the relative cost that orders the cells longest first (a count, not a timing,
    so that a busy machine does not shuffle the order)."""
    from lspd_bench.cost.macs import layer_macs
    from lspd_bench.models import build
    from lspd_bench.train.build import build_teacher, check_student, warm_start

    work: dict[str, float] = {}
    teachers: set[str] = set()
    for cell in matrix.cells:
        cfg = cell.config
        key = work_key(cfg)
        teacher = teacher_key(cfg) if cfg.distill.uses_teacher else None
        if key in work and teacher in teachers | {None}:
            continue
        where = f"cell {cell.label(cell.axes)}" if cell.axes else "the matrix"
        try:
            model = build(cfg.model, **cfg.model_knobs())
            with layer_macs(model) as macs:
                check_student(cfg, model)  # its one forward pass (batch 1, eval mode) is the one counted
            warm_start(cfg, model)  # an init file that matches nothing stops the matrix here
            if teacher is not None:
                build_teacher(cfg, num_joints=16)  # the input must fit the teacher too (the joints do not matter)
                teachers.add(teacher)
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
