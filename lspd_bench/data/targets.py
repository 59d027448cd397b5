"""Gaussian heatmap targets and target weights for top-down training.

A joint at network-input position ``p`` (px) sits at ``p / stride`` on the heatmap, ``stride`` being
input size / heatmap size (HRNet's convention, consistent with decoding through
``get_affine_transform(center, scale, 0, heatmap_size, inv=True)``). The Gaussian is centred on that
exact (sub-pixel) position and is not truncated.
"""

from __future__ import annotations

import numpy as np

REFERENCE_SIGMA = 2.0
"""σ in heatmap px at a 64-px-high heatmap (HRNet/MMPose); scaled with the heatmap height."""


def default_sigma(heatmap_size) -> float:
    """σ (heatmap px) for a heatmap of ``(w, h)`` px: 2 at h = 64, proportional to h (64×48 → 2, 32 → 1)."""
    return REFERENCE_SIGMA * float(heatmap_size[1]) / 64.0


def generate_targets(
    joints_input,
    joints_vis,
    input_size,
    heatmap_size,
    sigma: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps and target weights for one person.

    Args:
        joints_input: J×2 joint positions in network-input px.
        joints_vis: (J,) annotation flags (>0 means the joint is labelled).
        input_size: (w, h) of the network input in px.
        heatmap_size: (w, h) of the heatmap in px.
        sigma: Gaussian σ in heatmap px; default ``default_sigma(heatmap_size)``.

    Returns:
        ``target`` J×h×w float32 (peak 1 at the joint) and ``target_weight`` J×1 float32: 1 for a labelled
        joint whose heatmap position rounds to a pixel inside the heatmap, else 0 (its heatmap is all 0).
    """
    joints_input = np.asarray(joints_input, dtype=np.float64).reshape(-1, 2)
    num_joints = len(joints_input)
    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    stride = np.array([input_size[0] / hm_w, input_size[1] / hm_h], dtype=np.float64)
    sigma = default_sigma(heatmap_size) if sigma is None else float(sigma)
    mu = joints_input / stride
    rounded = np.floor(mu + 0.5)
    inside = (rounded[:, 0] >= 0) & (rounded[:, 0] < hm_w) & (rounded[:, 1] >= 0) & (rounded[:, 1] < hm_h)
    weight = ((np.asarray(joints_vis).reshape(num_joints) > 0) & inside).astype(np.float32)
    xs = np.arange(hm_w, dtype=np.float64)
    ys = np.arange(hm_h, dtype=np.float64)
    # The 2-D Gaussian is separable: an outer product of two 1-D ones per joint.
    gx = np.exp(-((xs[None, :] - mu[:, :1]) ** 2) / (2.0 * sigma**2))
    gy = np.exp(-((ys[None, :] - mu[:, 1:]) ** 2) / (2.0 * sigma**2))
    target = (gy[:, :, None] * gx[:, None, :]).astype(np.float32)
    target *= weight[:, None, None]
    return target, weight[:, None]
