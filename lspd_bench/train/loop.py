"""The training loop: fixed epochs, intermediate supervision, distillation, atomic checkpoints, exact resume.

All randomness is derived from (seed, epoch, index): the sample order of an epoch from (seed, epoch),
each sample's augmentation from (seed, epoch, index). A run resumed from its last checkpoint therefore
replays exactly what an uninterrupted run would have done, whatever the number of data workers.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from lspd_bench.config import Precision, RunConfig, Schedule, choose_precision, current_keys
from lspd_bench.env import VISIBLE_DEVICES
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_text
from lspd_bench.train.checkpoint import load_checkpoint, save_checkpoint
from lspd_bench.train.files import BEST, HISTORY_HEADLINE, HISTORY_VAL_SECONDS, LAST, LOG_NAME
from lspd_bench.train.losses import as_stage_list, make_loss, stage_losses

Progress = Callable[[dict], None]
Validate = Callable[[nn.Module, int], dict]
Teacher = Callable[[torch.Tensor, dict], torch.Tensor]


class RunFailed(RuntimeError):
    """A run stopped for a reason the user must see (non-finite loss); the last good checkpoint stays."""


@dataclass
class FitResult:
    """What :func:`fit` did: epochs run in this call, the history of every epoch, and the checkpoints."""

    run_dir: Path
    epochs: int
    resumed_from: int  # epochs already done when this call started
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0  # wall time of this call's epochs (training + validation)
    images_per_second: float = 0.0  # training images per second of this call
    precision: Precision = Precision.FP32  # what the run trained in (``resolve_precision``)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; asking for CUDA without one, or for a GPU index torch does not
    see, is an ``InputError``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device={device!r}: no CUDA GPU is visible to torch {torch.__version__}")
    out = torch.device(device)
    if out.type == "cuda" and out.index is not None and out.index >= torch.cuda.device_count():
        seen = os.environ.get(VISIBLE_DEVICES)
        shown = f" ({VISIBLE_DEVICES}={seen})" if seen is not None else ""
        raise InputError(f"device={device!r}: torch sees {torch.cuda.device_count()} GPU(s){shown}")
    return out


#: The type each precision autocasts to; fp32 trains without autocast. Only fp16 needs a gradient scaler.
AUTOCAST = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it (not emulated), or a CPU
    for which oneDNN has bfloat16 kernels (AVX512-BF16, AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return (
        device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def resolve_precision(precision: str, device: torch.device, said: str | None = None) -> Precision:
    """The precision a run trains in on ``device`` (``lspd_bench.config.choose_precision``, the device asked
    whether it supports bfloat16); ``said`` is the ``device`` key's value, for the message."""
    precision = Precision(precision)
    bf16 = precision is Precision.BF16 and bf16_supported(device)
    return choose_precision(precision, device.type, bf16, said)


def device_and_precision(cfg: RunConfig) -> tuple[torch.device, Precision]:
    """The device ``cfg`` trains on here and the precision it trains in; ``InputError`` (one line, naming the
    key) for an impossible pair, so that a command refuses it before anything is written."""
    device = resolve_device(cfg.device)
    return device, resolve_precision(cfg.precision, device, cfg.device)


def lr_lambda(cfg: RunConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Learning-rate factor per optimiser step: linear warm-up, then multistep or cosine decay."""
    total = cfg.epochs * steps_per_epoch
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    milestones = [int(round(m * cfg.epochs)) * steps_per_epoch for m in cfg.milestones]

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
        if cfg.schedule is Schedule.COSINE:
            progress = min(1.0, step / max(1, total))
            return warm * 0.5 * (1.0 + math.cos(math.pi * progress))
        return warm * cfg.lr_factor ** sum(step >= m for m in milestones)

    return factor


class WeightAverage:
    """The exponential moving average of a model's weights, the model that is validated and saved (as
    RTMPose and timm's ModelEma train). After optimiser step t the average moves towards the weights by
    1 − d_t with d_t = min(decay, (1 + t) / (10 + t)): a short memory at first, so the random initial
    weights fade fast. BatchNorm statistics are averaged alike; integer buffers are copied.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay, self.steps = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        self.steps += 1
        for avg, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.dtype.is_floating_point:
                avg.lerp_(current, 1.0 - d)
            else:
                avg.copy_(current)


def validates(cfg: RunConfig, epoch: int) -> bool:
    """Whether ``epoch`` (0-based) is validated: every ``val_every`` epochs, and always the last."""
    last = epoch + 1 == cfg.epochs
    return last or (cfg.val_every > 0 and (epoch + 1) % cfg.val_every == 0)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of ``epoch``: a permutation that depends on (seed, epoch) only."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen).tolist()


class EpochOrder(torch.utils.data.Sampler):
    """This rank's share of :func:`epoch_order` for the epoch of the last :meth:`set_epoch`, each index sent
    with its epoch, ``(epoch, index)``: a data worker that lives across epochs (``persistent_workers``)
    draws that epoch's augmentation without being told."""

    def __init__(self, n: int, seed: int, take: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.take, self.rank, self.world = n, seed, take, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = epoch_order(self.n, self.seed, self.epoch)[: self.take]
        return iter([(self.epoch, i) for i in order[self.rank :: self.world]])

    def __len__(self) -> int:
        return len(range(self.rank, self.take, self.world))


def data_workers(cfg: RunConfig, device: torch.device) -> int:
    """The data-loading processes of a run: ``workers`` when set; else none on the CPU, whose cores train the
    model (a synthetic sample takes about half a millisecond), and on CUDA one per CPU thread the run was
    given, at most 8: a worker decodes and crops a few hundred real images a second
    (``benchmarks/bench_data.py``), and a GPU trains thousands."""
    if cfg.workers is not None:
        return cfg.workers
    return min(8, torch.get_num_threads()) if device.type == "cuda" else 0


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of an initialised process group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def setup_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group that ``torchrun`` describes (WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU.

    Returns (rank, world size, this process's device: ``cuda:LOCAL_RANK`` on CUDA).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), torch.distributed.get_world_size(), device


def _tensorboard(run_dir: Path):
    """A TensorBoard writer when the package is installed, else None (the CSV log is always written)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _append_csv(path: Path, row: dict) -> None:
    """Rewrite the CSV log with one more row, atomically (a killed run never leaves a torn line)."""
    rows: list[dict] = []
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    rows = [r for r in rows if int(r["epoch"]) < row["epoch"]] + [row]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def check_run_dir(run_dir: str | os.PathLike, identity: dict[str, Any], resume: bool) -> None:
    """A run folder takes a new run only when it holds no checkpoint, and a resume only of its own
    configuration (``InputError`` otherwise): checked before anything is written into it."""
    last_path = Path(run_dir) / LAST
    if not last_path.exists():
        return
    if not resume:
        raise InputError(
            f"{run_dir} already holds a run ({LAST}); pass --resume to continue it or choose another --out"
        )
    stored = current_keys(load_checkpoint(last_path)["identity"])  # a run of an earlier version resumes too
    if stored != identity:
        changed = sorted(k for k in set(identity) | set(stored) if identity.get(k) != stored.get(k))
        raise InputError(f"{last_path} belongs to a different configuration (differs in: {', '.join(changed)})")


def fit(
    cfg: RunConfig,
    model: nn.Module,
    train_set: torch.utils.data.Dataset,
    run_dir: str | os.PathLike,
    *,
    identity: dict[str, Any],
    resume: bool = False,
    teacher: Teacher | None = None,
    validate: Validate | None = None,
    progress: Progress | None = None,
    distributed: bool = True,
) -> FitResult:
    """Train ``model`` on ``train_set`` for ``cfg.epochs`` epochs, writing checkpoints into ``run_dir``.

    ``identity`` is the resolved configuration the run is known by (stored in every checkpoint; a resume
    with a different one is refused). ``validate(model, epoch)`` returns a dict with a ``headline``
    figure (higher is better) that picks ``best.pt``; it runs on the epochs :func:`validates` names, and the
    history's ``val_seconds`` says what each took; ``progress(event)`` receives ``epoch_start``,
    ``step`` and ``epoch_end`` events for a live display. ``teacher(images, batch)`` supplies the soft
    targets of the ``teacher`` distillation modes (see ``lspd_bench.train.distill``).

    With ``cfg.ema`` > 0 the weights' moving average (:class:`WeightAverage`) is what is validated and
    saved as the checkpoints' ``model`` (the trained weights go under ``train_model``, for resuming), and
    ``model`` holds it when ``fit`` returns.
    """
    run_dir = Path(run_dir)
    rank, world = rank_and_world() if distributed else (0, 1)
    device = next(model.parameters()).device
    last_path, best_path = run_dir / LAST, run_dir / BEST
    check_run_dir(run_dir, identity, resume)
    if cfg.distill.uses_teacher and teacher is None:
        raise InputError(f"distill={cfg.distill} needs a trained teacher")

    per_rank_batch = max(1, cfg.batch_size // world)
    steps_per_epoch = len(train_set) // (per_rank_batch * world)
    if steps_per_epoch == 0:
        raise InputError(f"the training split has {len(train_set)} samples, fewer than one batch of {cfg.batch_size}")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, steps_per_epoch))
    cuda = device.type == "cuda"
    precision = resolve_precision(cfg.precision, device)
    scaler = torch.amp.GradScaler("cuda", enabled=precision is Precision.FP16)
    loss_fn = make_loss(cfg.loss, cfg.fg_weight)

    start_epoch, best, history = 0, -math.inf, []
    if resume and last_path.exists():
        state = load_checkpoint(last_path)
        model.load_state_dict(state.get("train_model", state["model"]))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # a disabled scaler saves nothing (a run that was not in fp16)
            scaler.load_state_dict(state["scaler"])
        start_epoch, best, history = state["epoch"] + 1, state["best"], state["history"]
    average = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    if average is not None and resume and last_path.exists():
        average.model.load_state_dict(state["model"])
        average.steps = state["ema_steps"]
    evaluated = average.model if average is not None else model

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    if cfg.compile:
        net = torch.compile(net)
    writer = _tensorboard(run_dir) if rank == 0 else None
    stage_weights = cfg.stage_weights
    images_done, started = 0, time.perf_counter()

    order = EpochOrder(len(train_set), cfg.seed, steps_per_epoch * per_rank_batch * world, rank, world)
    workers = data_workers(cfg, device)
    loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=per_rank_batch,
        sampler=order,
        num_workers=workers,
        persistent_workers=workers > 0,  # started once, not every epoch
        prefetch_factor=4 if workers > 0 else None,
        drop_last=True,
        pin_memory=cuda,
    )
    for epoch in range(start_epoch, cfg.epochs):
        order.set_epoch(epoch)
        if progress:
            progress({"event": "epoch_start", "epoch": epoch, "epochs": cfg.epochs, "steps": steps_per_epoch})
        model.train()
        sums: np.ndarray | None = None
        epoch_started = time.perf_counter()
        for step, batch in enumerate(loader):
            images = batch["image"].to(device, non_blocking=True)
            target = batch["target"].to(device, non_blocking=True)
            target_weight = batch["target_weight"].to(device, non_blocking=True)
            if cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=AUTOCAST.get(precision), enabled=precision in AUTOCAST):
                soft = None
                if teacher is not None and cfg.distill.uses_teacher:
                    soft = teacher(images, batch)
                heatmaps = [h.float() for h in as_stage_list(net(images))]
                losses = stage_losses(heatmaps, target, target_weight, loss_fn, cfg.distill, cfg.alpha, soft)
                weights = stage_weights or (1.0,) * len(losses)
                if len(weights) != len(losses):
                    raise InputError(f"stage_weights has {len(weights)} entries for a model with {len(losses)} stages")
                total = sum(w * l for w, l in zip(weights, losses))
            if not torch.isfinite(total):
                raise RunFailed(
                    f"loss became {total.item()} at epoch {epoch + 1} step {step + 1}; stopped. "
                    + (f"The last good checkpoint is {last_path}." if last_path.exists() else "No epoch had finished.")
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if average is not None:
                average.update(model)
            values = np.array([total.item(), *(l.item() for l in losses)])
            sums = values if sums is None else sums + values
            images_done += images.shape[0]
            if progress:
                elapsed = time.perf_counter() - epoch_started
                progress(
                    {
                        "event": "step",
                        "epoch": epoch,
                        "step": step + 1,
                        "steps": steps_per_epoch,
                        "loss": float(values[0]),
                        "images_per_s": (step + 1) * images.shape[0] / elapsed,
                    }
                )
        assert sums is not None
        train_time = time.perf_counter() - epoch_started
        mean = sums / steps_per_epoch
        row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "loss": float(mean[0])}
        row.update({f"loss_stage{k + 1}": float(v) for k, v in enumerate(mean[1:])})
        row["train_seconds"] = train_time
        row["images_per_s"] = steps_per_epoch * per_rank_batch * world / train_time
        if rank == 0:
            metrics: dict = {}
            if validate is not None and validates(cfg, epoch):
                val_started = time.perf_counter()
                metrics = validate(evaluated, epoch)
                row[HISTORY_VAL_SECONDS] = time.perf_counter() - val_started
            row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
            # The best epoch by the validation figure; by the training loss when nothing validates.
            headline = metrics.get(HISTORY_HEADLINE, -float(mean[0]) if validate is None else None)
            is_best = headline is not None and headline > best
            best = max(best, headline) if headline is not None else best
            history.append(row)
            state = {
                "model": evaluated.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "best": best,
                "history": history,
                "identity": identity,
                "config": cfg.to_dict(),
            }
            if average is not None:
                state.update(train_model=model.state_dict(), ema_steps=average.steps)
            save_checkpoint(last_path, state)
            if is_best:
                save_checkpoint(best_path, state)
            _append_csv(run_dir / LOG_NAME, row)
            if writer is not None:
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, epoch)
                writer.flush()
        if world > 1:
            torch.distributed.barrier()
        if progress:
            progress({"event": "epoch_end", "epoch": epoch, "epochs": cfg.epochs, **row})
    if writer is not None:
        writer.close()
    if average is not None:
        model.load_state_dict(average.model.state_dict())
    seconds = time.perf_counter() - started
    rate = images_done * world / max(seconds, 1e-9)
    return FitResult(run_dir, cfg.epochs, start_epoch, history, seconds, rate, precision)


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch and NumPy's global generators for model construction (restored afterwards)."""
    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(np_state)
