"""Precomputed teacher targets: heatmaps of the plain crops, warped like the augmented input."""

import numpy as np
import torch

from lspd_bench.config import load_config
from lspd_bench.data.build import build_data
from lspd_bench.train.distill import PrecomputedTeacher, warp_heatmaps


def peaks(heatmaps: np.ndarray) -> np.ndarray:
    b, j, h, w = heatmaps.shape
    idx = heatmaps.reshape(b, j, -1).argmax(-1)
    return np.stack([idx % w, idx // w], axis=-1)


def test_identity_warp_changes_nothing():
    x = torch.rand(2, 3, 8, 10)
    maps = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]).expand(2, 2, 3)
    assert torch.allclose(warp_heatmaps(x, maps), x, atol=1e-6)


def test_a_shift_moves_the_peak_by_that_many_pixels():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    shifted = warp_heatmaps(x, torch.tensor([[[1.0, 0, 2.0], [0, 1.0, -1.0]]]))  # output p reads source p + (2, −1)
    assert tuple(np.argwhere(shifted[0, 0].numpy() > 0.99)[0]) == (5, 2)  # row 4+1, column 4−2


def test_warped_plain_targets_land_on_the_augmented_targets(tiny_synth):
    """An oracle teacher (the plain crops' own target heatmaps) warped per sample must put every joint's
    peak where the augmented sample's target has it: rotation, scale and flip (with channel swap) included."""
    cfg = load_config("ci", None, {"data_dir": tiny_synth, "aug_rot_prob": 1.0})
    bundle = build_data(cfg)
    plain = bundle.train_unaugmented()
    oracle = np.stack([plain[i]["target"].numpy() for i in range(len(plain))]).astype(np.float16)
    teacher = PrecomputedTeacher(oracle, bundle.train.flip_perm, bundle.train.input_size, bundle.train.heatmap_size)
    bundle.train.set_epoch(3)
    batch = torch.utils.data.default_collate([bundle.train[i] for i in range(24)])
    assert batch["meta"]["flipped"].any() and not batch["meta"]["flipped"].all()
    soft = teacher(batch["image"], batch).numpy()
    target = batch["target"].numpy()
    weight = batch["target_weight"].numpy()[..., 0] > 0
    # σ is 0.5 px on these 16×16 heatmaps, so bilinear resampling lowers a peak that falls between pixels.
    inside = weight & (soft.max(axis=(2, 3)) > 0.2)  # joints whose Gaussian survives the warp
    assert inside.sum() > 0.8 * weight.sum()
    err = np.abs(peaks(soft) - peaks(target)).max(axis=-1)
    assert (err[inside] <= 1).mean() > 0.97
