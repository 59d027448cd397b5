"""Heatmap losses, intermediate supervision and the distillation modes (docs/lspd.md, "Distillation modes").

Every loss takes heatmaps B×J×h×w and target weights B×J×1 and returns a scalar averaged over
batch, joints and pixels (HRNet's ``JointsMSELoss`` with target weights, 0.5·MSE).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from lspd_bench.config import Distill, Loss

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

LOSS_DESCRIPTIONS = {
    Loss.MSE: "heatmap MSE with target weights (HRNet JointsMSELoss: 0.5·mean over joints and pixels)",
    Loss.FG_MSE: "foreground-weighted heatmap MSE: weight = target_weight·(1 + w·target), 0.5·mean",
}


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """0.5·mean((pred − target)² · target_weight): the standard top-down heatmap loss."""
    weight = target_weight.reshape(*target_weight.shape[:2], 1, 1)
    return 0.5 * ((pred - target) ** 2 * weight).mean()


def foreground_mse(fg_weight: float) -> LossFn:
    """Heatmap MSE whose pixels near a joint weigh (1 + ``fg_weight``·target) times more.

    Short CPU schedules collapse to all-zero heatmaps under plain MSE (almost every pixel is background);
    up-weighting the Gaussian's support escapes that plateau.
    """

    def loss(pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        weight = target_weight.reshape(*target_weight.shape[:2], 1, 1) * (1.0 + fg_weight * target)
        return 0.5 * ((pred - target) ** 2 * weight).mean()

    return loss


def make_loss(name: Loss | str, fg_weight: float = 10.0) -> LossFn:
    """The heatmap loss called ``name`` (``mse`` or ``fg_mse``)."""
    try:
        loss = Loss(name)
    except ValueError:
        raise ValueError(f"unknown loss {name!r}; choose from: {', '.join(Loss)}") from None
    return heatmap_mse if loss is Loss.MSE else foreground_mse(fg_weight)


def stage_losses(
    heatmaps: Sequence[torch.Tensor],
    target: torch.Tensor,
    target_weight: torch.Tensor,
    loss_fn: LossFn,
    distill: Distill | str = Distill.NONE,
    alpha: float = 0.5,
    teacher: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """One loss per stage (intermediate supervision), with the distillation mode ``distill``.

    - ``none``: L(h_k, GT).
    - ``teacher`` (FPD): (1−α)·L(h_k, GT) + α·L(h_k, T) for every stage, T the frozen teacher's heatmaps.
    - ``sequence``: stage k < K learns (1−α)·L(h_k, GT) + α·L(h_k, sg(h_{k+1})); the last stage GT only,
      so knowledge flows backwards towards the deployed first stage.
    - ``teacher+sequence``: as ``sequence``, but the last stage learns from the teacher as in ``teacher``.
    """
    distill = Distill(distill)
    if distill.uses_teacher and teacher is None:
        raise ValueError(f"distill={distill.value!r} needs the teacher's heatmaps")
    last = len(heatmaps) - 1
    out = []
    for k, h in enumerate(heatmaps):
        soft = None
        if distill.uses_sequence and k < last:
            soft = heatmaps[k + 1].detach()
        elif distill.uses_teacher:
            soft = teacher
        gt = loss_fn(h, target, target_weight)
        out.append(gt if soft is None else (1.0 - alpha) * gt + alpha * loss_fn(h, soft, target_weight))
    return out


def as_stage_list(output) -> list[torch.Tensor]:
    """A model's output as a list of per-stage heatmaps (single-output baselines give a list of one)."""
    return list(output) if isinstance(output, (list, tuple)) else [output]
