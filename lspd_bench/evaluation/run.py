"""A whole run: data → (teacher) → training with per-epoch validation → final evaluation → metrics.json.

Training (``lspd_bench.train``) knows nothing of metrics; this module hands it a validation callback
and scores the final model exactly per protocol (PCKh for MPII-style data, COCO AP for COCO).
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from lspd_bench.config import (
    Boxes,
    Dataset,
    Loss,
    Metric,
    RunConfig,
    TeacherTargets,
    applies,
    cache_root,
    canonical_json,
    current_keys,
    identity_keys,
    load_config,
    replace,
    teacher_config,
)
from lspd_bench.data.build import DataBundle, build_data
from lspd_bench.env import environment
from lspd_bench.errors import InputError
from lspd_bench.evaluation.evaluators import evaluator
from lspd_bench.evaluation.predict import Predictions, predict
from lspd_bench.fileio import atomic_path, file_lock, write_json, write_text
from lspd_bench.models.contract import deploy_stage as deploy_stage_of
from lspd_bench.train.build import (
    build_student,
    build_teacher,
    check_student,
    identity,
    run_id,
    teacher_knobs,
    warm_start,
)
from lspd_bench.train.checkpoint import load_checkpoint
from lspd_bench.train.distill import OnlineTeacher, PrecomputedTeacher, teacher_heatmaps
from lspd_bench.train.files import (
    CONFIG_FILE,
    HISTORY_HEADLINE,
    HISTORY_STAGE,
    LAST,
    METRICS_FILE,
    TEACHER_RECORD,
)
from lspd_bench.train.loop import (
    check_run_dir,
    device_and_precision,
    fit,
    rank_and_world,
    resolve_device,
    setup_distributed,
)
from lspd_bench.train.losses import LOSS_DESCRIPTIONS
from lspd_bench.train.shipped import find_shipped, nearest_shipped, write_shipped

Progress = Callable[[dict], None]


def peak_rss_mib() -> float | None:
    """This process's peak resident memory so far, MiB (None where ``resource`` is missing, e.g. Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def score(preds: Predictions, bundle: DataBundle, deploy_stage: int) -> dict[str, Any]:
    """Per-stage scores of ``preds`` by the dataset's evaluator and the headline figure (the deploy stage's);
    ``kept`` is what the evaluator keeps of each stage for :func:`_write_predictions`."""
    ev = evaluator(bundle.metric)
    figures, conventions, kept = ev.score_stages(preds, bundle)
    stages = [{"stage": k + 1, **{name: _num(v) for name, v in f.items()}} for k, f in enumerate(figures)]
    return {
        "metric": ev.metric,
        "headline": stages[deploy_stage - 1][ev.headline_key],
        "stages": stages,
        "conventions": conventions,
        "flip_test": preds.flip_test,
        "decoding": preds.decoding,
        "kept": kept,
    }


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def evaluate_model(
    model: nn.Module,
    bundle: DataBundle,
    *,
    deploy_stage: int,
    flip_test: bool,
    device: torch.device,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Predict the validation split with every stage and score it (see :func:`score`)."""
    preds = predict(
        model, bundle.val, flip_pairs=bundle.flip_pairs, flip_test=flip_test, batch_size=batch_size, device=device
    )
    return {**score(preds, bundle, deploy_stage), "predictions": preds}


def _validator(bundle: DataBundle, deploy_stage: int, device: torch.device, batch_size: int):
    """Per-epoch validation: every stage, no flip test (cheap); the deploy stage picks the best epoch."""

    def validate(model: nn.Module, _epoch: int) -> dict:
        out = evaluate_model(
            model, bundle, deploy_stage=deploy_stage, flip_test=False, device=device, batch_size=batch_size
        )
        key = evaluator(bundle.metric).headline_key
        figures = {HISTORY_STAGE.format(k=s["stage"]): s[key] for s in out["stages"]}
        return {HISTORY_HEADLINE: out["headline"], **figures}

    return validate


def teacher_run(cfg: RunConfig, bundle: DataBundle) -> tuple[RunConfig, dict[str, Any], dict[str, Any], Path]:
    """The teacher's run config, model knobs, identity and cache folder."""
    tcfg = teacher_config(cfg)
    knobs = teacher_knobs(cfg, bundle.num_joints)
    ident = identity(tcfg, bundle.num_joints, bundle.fingerprint, knobs=knobs)
    return tcfg, knobs, ident, cache_root(cfg) / "teachers" / run_id(ident)


def train_teacher(
    cfg: RunConfig, bundle: DataBundle, device: torch.device, progress: Progress | None = None, reason: str = ""
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``cfg``'s teacher into the cache once (an interrupted training resumes; a lock keeps two processes
    from training it twice), score its last stack on the validation split, and return it with its record.

    The cache key is the teacher run's identity (teacher model and knobs, data fingerprint, schedule). The
    record (``teacher.json``) holds the final validation figure (``headline``, flip test as ``cfg.flip_test``)
    and the per-epoch history. ``reason`` says why it is trained (shown with the ``teacher_start`` event).
    """
    tcfg, knobs, ident, folder = teacher_run(cfg, bundle)
    done = folder / TEACHER_RECORD
    model = build_teacher(cfg, bundle.num_joints).to(device)
    last_stack = knobs.get("stacks", 1)  # the stack whose heatmaps are the soft targets
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if not done.is_file():
            write_text(folder / "identity.json", canonical_json(ident))
            if progress:
                progress(
                    {
                        "event": "teacher_start",
                        "epochs": tcfg.epochs,
                        "model": tcfg.model,
                        "dir": str(folder),
                        "reason": reason,
                    }
                )
            # The teacher's identity says seed 0: its augmentation stream must be seed 0's too.
            train_set = copy.copy(bundle.train)
            train_set.seed = tcfg.seed
            result = fit(
                tcfg,
                model,
                train_set,
                folder,
                identity=ident,
                resume=True,
                distributed=False,
                validate=_validator(bundle, last_stack, device, tcfg.batch_size),
                progress=progress,
            )
            final = evaluate_model(model, bundle, deploy_stage=last_stack, flip_test=cfg.flip_test, device=device)
            write_json(
                done,
                {
                    "model": tcfg.model,
                    "knobs": knobs,
                    "identity_hash": run_id(ident),
                    "dir": str(folder),
                    "headline": final["headline"],
                    "headline_name": evaluator(bundle.metric).headline_name,
                    "flip_test": cfg.flip_test,
                    "epochs": tcfg.epochs,
                    "lr": tcfg.lr,
                    "history": result.history,
                    "train_seconds": result.train_seconds,
                },
            )
        model.load_state_dict(load_checkpoint(folder / LAST)["model"])
    return model, {**load_json(done), "source": "trained", "identity": ident}


def ship_teacher(
    cfg: RunConfig, model: nn.Module, record: dict[str, Any], command: str, preset: str | None = None
) -> Path:
    """Write ``cfg``'s teacher from :func:`train_teacher` into the package's shipped teachers; returns the file.

    Its record keeps the validation figure, the history, the command that trained it and the preset."""
    kept = {k: v for k, v in record.items() if k not in ("dir", "source", "identity")}
    return write_shipped(
        record["identity"],
        identity_keys(teacher_config(cfg)),
        model.state_dict(),
        {**kept, "command": command, "preset": preset},
    )


def ensure_teacher(cfg: RunConfig, bundle: DataBundle, device: torch.device, progress: Progress | None = None):
    """The soft-target source of ``cfg``'s teacher, and the teacher's record.

    A teacher shipped in the package under the same identity (``lspd_bench.train.shipped``) is used as it is;
    otherwise it is trained once into the cache (:func:`train_teacher`), the ``teacher_start`` event saying
    why no shipped one fits. With ``teacher_targets=precomputed`` its heatmaps of the training crops are
    computed once into the cache too.
    """
    _, _, ident, folder = teacher_run(cfg, bundle)
    heatmaps_file = folder / "train_heatmaps.npy"
    rank, world = rank_and_world()
    if rank != 0:  # rank 0 prepares the teacher alone; the others wait, then read what it wrote
        torch.distributed.barrier()
    shipped = find_shipped(ident)
    if shipped is not None:
        model = build_teacher(cfg, bundle.num_joints).to(device)
        model.load_state_dict(shipped["state_dict"])
        record = {**shipped["record"], "source": "shipped", "file": Path(shipped["path"]).name}
    else:
        nearest = nearest_shipped(ident)
        reason = (
            "no teacher is shipped"
            if nearest is None
            else f"the shipped {nearest[0].name} differs in {', '.join(nearest[1])}"
        )
        model, record = train_teacher(cfg, bundle, device, progress, reason=reason)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if cfg.teacher_targets is TeacherTargets.PRECOMPUTED:
        with file_lock(folder.parent / f".{folder.name}.lock"):
            if not heatmaps_file.is_file():
                if progress:
                    progress({"event": "teacher_heatmaps", "people": len(bundle.train)})
                heatmaps = teacher_heatmaps(model, bundle.train_unaugmented(), bundle.train.flip_perm, device)
                with atomic_path(heatmaps_file) as tmp:
                    with open(tmp, "wb") as f:
                        np.save(f, heatmaps)
    if rank == 0 and world > 1:
        torch.distributed.barrier()
    record.pop("identity", None)
    if cfg.teacher_targets is TeacherTargets.ONLINE:
        return OnlineTeacher(model), record
    heatmaps = np.load(heatmaps_file, mmap_mode="r")
    source = PrecomputedTeacher(heatmaps, bundle.train.flip_perm, bundle.train.input_size, bundle.train.heatmap_size)
    return source, {**record, "targets": "precomputed: flip-averaged heatmaps of the training crops, warped per sample"}


def load_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _write_predictions(out: Path, final: dict, preds: Predictions, bundle: DataBundle, deploy_stage: int) -> str:
    """Write the deploy stage's predictions (the evaluator's files); pop the bulky part of ``final``. Returns the
    predictions file's name."""
    ev = evaluator(bundle.metric)
    ev.write_predictions(out, final.pop("kept"), preds, deploy_stage)
    return ev.predictions_file


def train_and_evaluate(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    bundle: DataBundle | None = None,
) -> dict[str, Any] | None:
    """Train ``cfg`` into ``out_dir``, evaluate the final model on the validation split, write
    ``metrics.json`` and the predictions file next to the checkpoints, and return the metrics.

    Under ``torchrun`` every rank trains its share; rank 0 evaluates and writes, the others return None.
    """
    out = Path(out_dir)
    device, _ = device_and_precision(cfg)  # an impossible precision is refused before anything is written
    rank, world, device = setup_distributed(device)
    bundle = bundle or build_data(cfg)
    model = build_student(cfg, bundle.num_joints).to(device)
    if cfg.channels_last:  # NHWC: faster for these convolutions on CUDA and on oneDNN CPUs
        model = model.to(memory_format=torch.channels_last)
    ident = identity(cfg, bundle.num_joints, bundle.fingerprint)
    deploy_stage = deploy_stage_of(model)
    check_student(cfg, model)  # before anything is written: the folder of a refused run stays as it was
    warm = warm_start(cfg, model)  # a resumed run's checkpoint then replaces it
    check_run_dir(out, ident, resume)
    if warm is not None and progress and not (resume and (out / LAST).exists()):
        progress({"event": "init", "line": warm.line()})
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        write_text(out / CONFIG_FILE, canonical_json({"identity": ident, "hash": run_id(ident)}) + "\n")
    teacher, teacher_record = None, None
    if cfg.distill.uses_teacher:
        teacher, teacher_record = ensure_teacher(cfg, bundle, device, progress)
    started = time.perf_counter()
    result = fit(
        cfg,
        model,
        bundle.train,
        out,
        identity=ident,
        resume=resume,
        teacher=teacher,
        validate=_validator(bundle, deploy_stage, device, cfg.batch_size),
        progress=progress,
    )
    wall = time.perf_counter() - started
    if rank != 0:  # rank 0 evaluates and writes; the others are done
        return None
    if progress:
        progress({"event": "evaluate", "flip_test": cfg.flip_test})
    final = evaluate_model(model, bundle, deploy_stage=deploy_stage, flip_test=cfg.flip_test, device=device)
    preds: Predictions = final.pop("predictions")
    predictions_file = _write_predictions(out, final, preds, bundle, deploy_stage)
    history = result.history
    metrics = {
        "run": run_id(ident),
        **final,
        "headline_name": evaluator(bundle.metric).headline_name,
        "deploy_stage": deploy_stage,
        "predictions_file": predictions_file,
        "loss": {
            "name": cfg.loss,
            "description": LOSS_DESCRIPTIONS[cfg.loss],
            **({"fg_weight": cfg.fg_weight} if cfg.loss is Loss.FG_MSE else {}),
        },
        "distill": {
            "mode": cfg.distill,
            **({"alpha": cfg.alpha} if applies(cfg, "alpha") else {}),
            **({"teacher": teacher_record} if teacher_record else {}),
        },
        "schedule": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "schedule": cfg.schedule},
        "init": warm.to_dict() if warm is not None else None,
        "train": {
            "epochs_run": len(history) - (result.resumed_from if result.resumed_from else 0),
            "resumed_from_epoch": result.resumed_from,
            "seconds_this_call": wall,
            "seconds_total": float(sum(r["train_seconds"] for r in history)),
            "images_per_s": float(np.mean([r["images_per_s"] for r in history])) if history else None,
            "processes": world,
            "precision": result.precision,
            "peak_rss_mib": peak_rss_mib(),
            "history": history,
        },
        "dataset": {
            "name": cfg.dataset,
            "description": bundle.description,
            "fingerprint": bundle.fingerprint,
            "val_people": len(bundle.val),
            "train_people": len(bundle.train),
        },
        "environment": {**environment(str(device)), "torch_threads": torch.get_num_threads()},
        "identity": ident,
    }
    write_json(out / METRICS_FILE, metrics)
    return metrics


def evaluate_checkpoint(
    path: str | Path, *, flip_test: bool = True, detections: str | None = None, out_dir: str | Path | None = None
) -> dict[str, Any]:
    """Evaluate a run folder (its ``last.pt``) or a checkpoint file on its validation split.

    ``detections`` (COCO) replaces the ground-truth person boxes by a detection-results file. Writes
    ``metrics.json`` and the predictions file into ``out_dir`` (default: ``<run>/eval-val-<flip>-<boxes>/``,
    so the training run's own files are never overwritten) and returns the metrics.
    """
    path = Path(path)
    ckpt_path = path / LAST if path.is_dir() else path
    state = load_checkpoint(ckpt_path)
    cfg = load_config(None, None, current_keys(state["config"]))  # a run of an earlier version too
    if detections is not None:
        if cfg.dataset is not Dataset.COCO:
            raise InputError(f"--boxes {detections}: detection boxes apply to COCO runs, this one is {cfg.dataset}")
        cfg = replace(cfg, coco_detections=str(detections))
    device = resolve_device(cfg.device)
    bundle = build_data(cfg)
    model = build_student(cfg, bundle.num_joints)
    model.load_state_dict(state["model"])
    model.to(device)
    deploy_stage = deploy_stage_of(model)
    started = time.perf_counter()
    final = evaluate_model(model, bundle, deploy_stage=deploy_stage, flip_test=flip_test, device=device)
    seconds = time.perf_counter() - started
    boxes = Boxes.DETECTIONS if detections else Boxes.GT
    out = Path(out_dir) if out_dir else ckpt_path.parent / f"eval-val-{'flip' if flip_test else 'noflip'}-{boxes}"
    preds: Predictions = final.pop("predictions")
    predictions_file = _write_predictions(out, final, preds, bundle, deploy_stage)
    metrics = {
        **final,
        "headline_name": evaluator(bundle.metric).headline_name,
        "deploy_stage": deploy_stage,
        "checkpoint": str(ckpt_path),
        "epoch": state["epoch"] + 1,
        "predictions_file": predictions_file,
        "boxes": bundle.val_boxes if bundle.metric is Metric.AP else None,
        "seconds": seconds,
        "dataset": {"name": cfg.dataset, "description": bundle.description, "fingerprint": bundle.fingerprint},
        "environment": {**environment(str(device)), "torch_threads": torch.get_num_threads()},
    }
    write_json(out / METRICS_FILE, metrics)
    return {**metrics, "out_dir": str(out)}
