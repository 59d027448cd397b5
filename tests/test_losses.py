"""Heatmap losses and the distillation modes, on hand-made tensors."""

import pytest
import torch

from lspd_bench.train.losses import foreground_mse, heatmap_mse, stage_losses


def maps(*values):
    return [torch.full((1, 2, 2, 2), float(v)) for v in values]


def test_mse_uses_target_weights_and_averages_over_joints():
    pred, target = torch.ones(1, 2, 2, 2), torch.zeros(1, 2, 2, 2)
    weight = torch.tensor([[[1.0], [0.0]]])  # the second joint is not annotated
    assert heatmap_mse(pred, target, weight).item() == pytest.approx(0.5 * 0.5)  # 0.5·mean over both joints


def test_foreground_weighting_reduces_to_mse_without_foreground():
    pred, target, w = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), torch.ones(2, 3, 1)
    assert foreground_mse(0.0)(pred, target, w).item() == pytest.approx(heatmap_mse(pred, target, w).item())
    assert foreground_mse(10.0)(pred, target, w).item() > heatmap_mse(pred, target, w).item()


def test_teacher_mode_mixes_ground_truth_and_teacher_by_alpha():
    (h,), gt, teacher = maps(1.0), torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2, 2), 3.0)
    w = torch.ones(1, 2, 1)
    (loss,) = stage_losses([h], gt, w, heatmap_mse, "teacher", 0.25, teacher)
    assert loss.item() == pytest.approx(0.75 * 0.5 * 1.0 + 0.25 * 0.5 * 4.0)


def test_sequence_mode_teaches_each_stage_from_the_next_detached():
    h1 = torch.full((1, 1, 2, 2), 1.0, requires_grad=True)
    h2 = torch.full((1, 1, 2, 2), 2.0, requires_grad=True)
    gt, w = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 1)
    l1, l2 = stage_losses([h1, h2], gt, w, heatmap_mse, "sequence", 0.5)
    assert l1.item() == pytest.approx(0.5 * 0.5 * 1.0 + 0.5 * 0.5 * 1.0)  # GT and stage 2
    assert l2.item() == pytest.approx(0.5 * 4.0)  # the last stage learns from GT only
    l1.backward()
    assert h2.grad is None  # stage 2's heatmaps are a target for stage 1, not trained by it


def test_teacher_plus_sequence_teacher_reaches_the_last_stage_only():
    h1, h2 = maps(1.0, 2.0)
    gt, w, teacher = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 1), torch.full((1, 2, 2, 2), 2.0)
    l1, l2 = stage_losses([h1, h2], gt, w, heatmap_mse, "teacher+sequence", 0.5, teacher)
    assert l2.item() == pytest.approx(0.5 * 0.5 * 4.0 + 0.5 * 0.0)
    assert l1.item() == pytest.approx(0.5 * 0.5 * 1.0 + 0.5 * 0.5 * 1.0)  # GT and stage 2 (not the teacher)


def test_teacher_modes_need_a_teacher():
    with pytest.raises(ValueError, match="needs the teacher"):
        stage_losses(maps(1.0), torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 1), heatmap_mse, "teacher")
