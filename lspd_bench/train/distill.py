"""Teacher soft targets for distillation: online (teacher forward per batch) or precomputed and warped.

The precomputed path runs the frozen teacher once over the un-augmented training crops (with the flip
test), keeps those heatmaps, and for every augmented sample warps them with the same affine that made
the augmented input, so a distilled epoch costs almost what a plain one does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lspd_bench.data.transforms import get_affine_transform
from lspd_bench.train.losses import as_stage_list


class OnlineTeacher:
    """Soft targets from a forward pass of the frozen teacher on the augmented batch."""

    def __init__(self, model: nn.Module):
        self.model = model.eval()

    def __call__(self, images: torch.Tensor, batch: dict) -> torch.Tensor:
        with torch.inference_mode():
            heatmaps = as_stage_list(self.model(images))[-1]
        return heatmaps.float().clone()  # a normal tensor again, usable as a loss target


@torch.inference_mode()
def teacher_heatmaps(
    model: nn.Module, dataset, flip_perm: np.ndarray, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """The teacher's last-stage heatmaps on every item of ``dataset`` (un-augmented crops), flip-averaged.

    Returns N×J×h×w float16 in dataset order. The flipped input's heatmaps are mirrored back with
    ``flip_perm`` and shifted one pixel, as in the flip test.
    """
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    out = []
    perm = torch.as_tensor(flip_perm)
    for batch in loader:
        images = batch["image"].to(device)
        plain = as_stage_list(model(images))[-1].float()
        mirrored = as_stage_list(model(torch.flip(images, dims=[3])))[-1].float()
        back = torch.flip(mirrored, dims=[3])[:, perm.to(device)]
        back[..., 1:] = back[..., :-1].clone()  # HRNet's SHIFT_HEATMAP
        out.append(((plain + back) * 0.5).cpu().numpy().astype(np.float16))
    return np.concatenate(out)


def _to_heatmap(input_size, heatmap_size) -> np.ndarray:
    """3×3 scaling from input px to heatmap px (the target generator's joint / stride)."""
    sx = heatmap_size[0] / input_size[0]
    sy = heatmap_size[1] / input_size[1]
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], dtype=np.float64)


def _h(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def warp_matrices(eval_matrices, aug_matrices, input_size, heatmap_size) -> np.ndarray:
    """B×2×3 maps from augmented-heatmap px to un-augmented-heatmap px: S·M₀·M⁻¹·S⁻¹.

    ``eval_matrices`` and ``aug_matrices`` map original-image px to input px (B×2×3); ``input_size`` and
    ``heatmap_size`` are (w, h).
    """
    s = _to_heatmap(input_size, heatmap_size)
    s_inv = np.linalg.inv(s)
    out = [(s @ _h(m0) @ np.linalg.inv(_h(m)) @ s_inv)[:2] for m0, m in zip(eval_matrices, aug_matrices)]
    return np.stack(out)


def warp_heatmaps(heatmaps: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Resample B×J×h×w ``heatmaps`` so that output pixel p takes the value at ``maps``·p (px, B×2×3).

    Pixel centres sit at integer coordinates (align_corners=True); outside the source is zero.
    """
    b, _, h, w = heatmaps.shape
    # pixel → normalised: n = 2p/(size−1) − 1, and its inverse, wrapped around the pixel map.
    norm = torch.tensor([[2.0 / (w - 1), 0, -1], [0, 2.0 / (h - 1), -1], [0, 0, 1]], dtype=maps.dtype)
    denorm = torch.linalg.inv(norm)
    full = torch.cat([maps, torch.tensor([[[0.0, 0.0, 1.0]]], dtype=maps.dtype).expand(b, 1, 3)], dim=1)
    theta = (norm @ full @ denorm)[:, :2].to(heatmaps.dtype)
    grid = F.affine_grid(theta, list(heatmaps.shape), align_corners=True)
    return F.grid_sample(heatmaps, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


class PrecomputedTeacher:
    """Soft targets warped from teacher heatmaps computed once on the un-augmented training crops."""

    def __init__(self, heatmaps: np.ndarray, flip_perm: np.ndarray, input_size, heatmap_size):
        self.heatmaps = heatmaps
        self.flip_perm = torch.as_tensor(flip_perm)
        self.input_size = tuple(input_size)  # (w, h)
        self.heatmap_size = tuple(heatmap_size)  # (w, h)

    def __call__(self, images: torch.Tensor, batch: dict) -> torch.Tensor:
        meta = batch["meta"]
        index = meta["index"].numpy()
        eval_m = [
            get_affine_transform(c, s, 0.0, self.input_size)
            for c, s in zip(meta["center"].numpy(), meta["scale"].numpy())
        ]
        maps = torch.from_numpy(warp_matrices(eval_m, meta["matrix"].numpy(), self.input_size, self.heatmap_size))
        source = torch.from_numpy(self.heatmaps[index].astype(np.float32))
        warped = warp_heatmaps(source, maps.float())
        flipped = meta["flipped"].bool()
        if flipped.any():  # a mirrored crop swaps left and right: so must the teacher's channels
            warped[flipped] = warped[flipped][:, self.flip_perm]
        return warped.to(images.device)
