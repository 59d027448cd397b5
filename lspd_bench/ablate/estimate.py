"""Estimates for work this machine never timed, from a short calibration run now.

A training epoch is costed as its optimiser steps (a few steps of the model itself are timed, at the cell's
batch, input size and thread count, on random tensors) plus its validation passes (forward only); a
synthetic dataset as its images, a few of which are rendered and timed. What the calibration leaves out
(loading and augmenting real images, checkpoints, the first epoch's warm-up) is why the basis is printed
with every figure; the run's own ETA then learns from the cells that finish.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from lspd_bench.config import Dataset, RunConfig, TeacherTargets

#: Timed optimiser steps per model (after one untimed step), and synthetic images rendered; medians are used.
REPEATS = 3


def _median_seconds(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_seconds(cfg: RunConfig, threads: int, knobs: dict[str, Any] | None = None) -> tuple[float, float]:
    """(seconds per training step, seconds per validation batch) of ``cfg``'s model (with ``knobs``, by default
    its own) at its batch size and input size with ``threads`` torch threads: forward, a loss on every stage,
    backward and an Adam step."""
    import torch

    from lspd_bench.models import build, check_input_size
    from lspd_bench.models.contract import stages_of

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build(cfg.model, **(cfg.model_knobs() if knobs is None else knobs))
        check_input_size(model, cfg.model, tuple(cfg.input_size))  # a size it cannot take is one line, not a crash
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = torch.randn(cfg.batch_size, 3, *cfg.input_size)

        def train_step() -> None:
            out = model.train()(x)
            loss = sum(o.float().pow(2).mean() for o in (stages_of(out) or [out]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def val_batch() -> None:
            with torch.inference_mode():
                model.eval()(x)

        return _median_seconds(train_step), _median_seconds(val_batch)
    finally:
        torch.set_num_threads(before)


def train_seconds(
    cfg: RunConfig, threads: int, epochs: float, knobs: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """``{"seconds", "per_epoch", "val_batch", "basis"}`` for ``epochs`` epochs of ``cfg`` (one validation per
    epoch and a final evaluation, with flips when ``flip_test``), or None when the dataset's size is not known
    here."""
    sizes = dataset_sizes(cfg)
    if sizes is None:
        return None
    n_train, n_val = sizes
    step, val = step_seconds(cfg, threads, knobs)
    per_epoch = math.ceil(n_train / cfg.batch_size) * step + math.ceil(n_val / cfg.batch_size) * val
    final = math.ceil(n_val / cfg.batch_size) * val * (2 if cfg.flip_test else 1)
    size = " ".join(f"{k}={v}" for k, v in (cfg.model_knobs() if knobs is None else knobs).items() if k != "num_joints")
    basis = (
        f"calibrated now: {step * 1e3:.0f} ms per training step of {cfg.model}{f' ({size})' if size else ''} "
        f"at batch {cfg.batch_size}, "
        f"{threads} thread{'s' if threads != 1 else ''}, × {math.ceil(n_train / cfg.batch_size)} steps per "
        "epoch, with validation; data loading not included"
    )
    return {"seconds": epochs * per_epoch + final, "per_epoch": per_epoch, "val_batch": val, "basis": basis}


def teacher_seconds(cfg: RunConfig, threads: int, train: bool) -> dict[str, Any] | None:
    """``{"seconds", "basis"}`` to prepare the teacher of the cell ``cfg``: its training when ``train``, then its
    heatmaps of every training crop and of its mirror (``teacher_targets=precomputed``)."""
    from lspd_bench.config import teacher_config
    from lspd_bench.train.build import teacher_knobs

    teacher, knobs = teacher_config(cfg), teacher_knobs(cfg, num_joints=16)
    sizes = dataset_sizes(teacher)
    if sizes is None:
        return None
    trained = train_seconds(teacher, threads, teacher.epochs, knobs) if train else None
    if cfg.teacher_targets != TeacherTargets.PRECOMPUTED:
        return trained
    batches = math.ceil(sizes[0] / teacher.batch_size)
    val = trained["val_batch"] if trained else step_seconds(teacher, threads, knobs)[1]
    basis = (
        f"calibrated now: {val * 1e3:.0f} ms per forward batch of the teacher {teacher.model}, × 2 (flip) × "
        f"{batches} batches of training crops for its heatmaps"
    )
    if trained is None:
        return {"seconds": 2 * batches * val, "basis": basis}
    return {"seconds": trained["seconds"] + 2 * batches * val, "basis": f"{trained['basis']}; {basis}"}


def dataset_sizes(cfg: RunConfig) -> tuple[int, int] | None:
    """(training images, validation people) of a synthetic preset; None for a real dataset (not read here)."""
    if cfg.dataset != Dataset.SYNTH:
        return None
    from lspd_bench.data.synth import preset

    p = preset(cfg.synth_preset)
    return p.n_train, p.n_val


def synth_seconds(cfg: RunConfig, workers: int) -> dict[str, Any] | None:
    """``{"seconds", "basis"}`` to generate ``cfg``'s synthetic dataset with ``workers`` processes."""
    if cfg.dataset != Dataset.SYNTH:
        return None
    from lspd_bench.data.synth import preset, render_sample

    p = preset(cfg.synth_preset)
    index = iter(range(10**6))
    per_image = _median_seconds(lambda: render_sample(p, cfg.data_seed, "train", next(index)))
    total = p.n_train + p.n_val
    basis = (
        f"calibrated now: {per_image * 1e3:.0f} ms per rendered image × {total} images / {workers} "
        "process(es); writing and hashing not included"
    )
    return {"seconds": per_image * total / workers, "basis": basis}
