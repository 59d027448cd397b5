"""Top-down geometry: the person-crop affine, image warping and training augmentation.

Conventions (those of HRNet/MMPose's top-down pipeline):

- Pixel coordinates are 0-based *pixel-index* coordinates: pixel ``(i, j)`` has its centre at ``x = j``,
  ``y = i`` (OpenCV's ``warpAffine`` convention).
- A person is a ``center`` (2,) in px and a ``scale`` (2,) in units of 200 px (``pixel_std``): the crop
  box is ``scale * 200`` px wide and high. Only the box width sets the zoom; the output aspect ratio sets
  the rest (boxes are made to the input aspect ratio beforehand).
- The crop affine maps the box centre to the output centre ``(w / 2, h / 2)`` and is a similarity
  (rotation + uniform zoom + shift). The same function at the heatmap size maps image points to heatmap
  points, so ``get_affine_transform(center, scale, 0, heatmap_size, inv=True)`` takes decoded heatmap
  coordinates back to the original image exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

PIXEL_STD = 200.0
"""Size of one ``scale`` unit in px (the MPII/HRNet convention)."""


def get_affine_transform(
    center,
    scale,
    rot: float,
    output_size,
    shift=(0.0, 0.0),
    inv: bool = False,
) -> np.ndarray:
    """The HRNet top-down crop affine as a 2×3 float64 matrix.

    Args:
        center: (2,) box centre in image px.
        scale: (2,) box size in units of 200 px (box w, h = ``scale * 200``); only the width sets the zoom.
        rot: rotation in degrees (HRNet's sign convention: the crop box is rotated by ``rot``).
        output_size: (w, h) of the output in px (input image size or heatmap size).
        shift: shift of the box centre as a fraction of the box size.
        inv: return the inverse map (output px → image px) instead of image px → output px.

    The forward map sends ``center + shift * box`` to ``(w / 2, h / 2)`` and the point
    ``center + R(rot) · (0, −box_w / 2)`` to ``(w / 2, h / 2 − w / 2)`` — the three-point definition of
    HRNet's ``get_affine_transform``, written in closed form.
    """
    center = np.asarray(center, dtype=np.float64).reshape(2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    box = scale * PIXEL_STD
    if box.shape == (1,):
        box = np.repeat(box, 2)
    out_w, out_h = float(output_size[0]), float(output_size[1])
    zoom = out_w / box[0]
    theta = math.radians(float(rot))
    cos, sin = math.cos(theta), math.sin(theta)
    src_center = center + box * np.asarray(shift, dtype=np.float64)
    dst_center = np.array([out_w * 0.5, out_h * 0.5])
    if not inv:
        linear = zoom * np.array([[cos, sin], [-sin, cos]])
        translation = dst_center - linear @ src_center
    else:
        linear = (1.0 / zoom) * np.array([[cos, -sin], [sin, cos]])
        translation = src_center - linear @ dst_center
    return np.hstack([linear, translation[:, None]]).astype(np.float64)


def affine_points(points, matrix) -> np.ndarray:
    """Apply a 2×3 affine ``matrix`` to ``points`` (N×2 px) and return N×2 float64 px."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert_affine(matrix) -> np.ndarray:
    """Inverse of a 2×3 affine matrix (2×3 float64)."""
    m = np.asarray(matrix, dtype=np.float64)
    linear_inv = np.linalg.inv(m[:, :2])
    return np.hstack([linear_inv, (-linear_inv @ m[:, 2])[:, None]])


def hflip_matrix(width: int) -> np.ndarray:
    """The horizontal mirror of a ``width``-px-wide pixel grid (x → width − 1 − x) as a 2×3 affine."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


def compose_affine(outer, inner) -> np.ndarray:
    """The 2×3 affine ``outer ∘ inner`` (apply ``inner`` first)."""
    o = np.vstack([np.asarray(outer, dtype=np.float64), [0.0, 0.0, 1.0]])
    i = np.vstack([np.asarray(inner, dtype=np.float64), [0.0, 0.0, 1.0]])
    return (o @ i)[:2]


def warp_image(image, matrix, output_size) -> np.ndarray:
    """Warp an RGB image with a 2×3 affine (image px → output px), bilinear, black outside.

    ``image`` is an H×W×3 uint8 array or a PIL image; returns an ``output_size`` (w, h) image as an
    h×w×3 uint8 array. Pillow samples at pixel centres (``x + 0.5``), so the pixel-index matrix is
    converted here; a point at ``p`` in the image lands at ``affine_points(p, matrix)`` in the output.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))
    back = invert_affine(matrix)
    b = back[:, :2]
    # in_pil = B·out_pil + u + 0.5·(1 − B·1): the index-convention inverse shifted to pixel centres.
    offset = back[:, 2] + 0.5 - 0.5 * b.sum(axis=1)
    data = (b[0, 0], b[0, 1], offset[0], b[1, 0], b[1, 1], offset[1])
    out = pil.transform(
        (int(output_size[0]), int(output_size[1])),
        Image.Transform.AFFINE,
        data,
        resample=Image.Resampling.BILINEAR,
    )
    return np.asarray(out)


def box_to_center_scale(
    x: float, y: float, w: float, h: float, aspect_ratio: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """A box (x, y, w, h px) → (center (2,) px, scale (2,) in 200-px units).

    The box is grown to ``aspect_ratio`` (= input w / h, e.g. 192/256) around its centre, then padded by
    ``padding`` (HRNet/MMPose: 1.25).
    """
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float64)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD], dtype=np.float64) * padding
    return center, scale


def fix_aspect_ratio(scale, aspect_ratio: float) -> np.ndarray:
    """Grow a (2,) ``scale`` so that its w / h equals ``aspect_ratio`` (no padding)."""
    w, h = (float(v) for v in np.asarray(scale, dtype=np.float64).reshape(2))
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    return np.array([w, h], dtype=np.float64)


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (HRNet/MMPose top-down defaults).

    ``scale_factor``: box scale is multiplied by 1 + ``scale_factor``·t, t a normal truncated to [−1, 1]
    (±25 %). ``rot_factor``: rotation ``rot_factor``·t degrees (±30°) with probability ``rot_prob``.
    ``flip_prob``: horizontal flip with the dataset's flip pairs. ``half_body_prob``: with this
    probability, when more than ``half_body_min_joints`` joints are annotated, crop the upper or the
    lower body only (COCO; needs the dataset's upper-body joint list). ``half_body_padding``: box
    padding of the half-body crop.
    """

    scale_factor: float = 0.25
    rot_factor: float = 30.0
    rot_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.0
    half_body_min_joints: int = 8
    half_body_padding: float = 1.5


@dataclass(frozen=True)
class Augmentation:
    """One sample's drawn augmentation: the crop (center px, scale in 200 px), rotation (deg), flip."""

    center: np.ndarray
    scale: np.ndarray
    rot: float
    flip: bool


def _truncated_normal(rng: np.random.Generator) -> float:
    """A standard normal truncated to [−1, 1] (rejection; 1.5 draws on average)."""
    while True:
        t = float(rng.standard_normal())
        if -1.0 <= t <= 1.0:
            return t


def half_body_center_scale(
    joints, joints_vis, upper_body, aspect_ratio: float, rng: np.random.Generator, padding: float = 1.5
) -> tuple[np.ndarray, np.ndarray] | None:
    """Center and scale of a crop around the upper or the lower half of the body (px, 200-px units).

    Picks the upper half (joints in ``upper_body``) with probability 0.5 when it has at least two
    annotated joints, else the lower half; returns None when the chosen half has fewer than two.
    """
    joints = np.asarray(joints, dtype=np.float64)
    vis = np.asarray(joints_vis) > 0
    is_upper = np.zeros(len(joints), dtype=bool)
    is_upper[list(upper_body)] = True
    upper = joints[vis & is_upper]
    lower = joints[vis & ~is_upper]
    chosen = upper if (rng.random() < 0.5 and len(upper) > 2) else (lower if len(lower) > 2 else upper)
    if len(chosen) < 2:
        return None
    lo, hi = chosen.min(axis=0), chosen.max(axis=0)
    center = chosen.mean(axis=0)
    scale = fix_aspect_ratio((hi - lo) / PIXEL_STD, aspect_ratio) * padding
    return center, scale


def sample_augmentation(
    rng: np.random.Generator,
    config: AugmentConfig,
    center,
    scale,
    joints,
    joints_vis,
    aspect_ratio: float,
    upper_body=None,
) -> Augmentation:
    """Draw one training augmentation for a person (see ``AugmentConfig``).

    The draws happen in a fixed order whatever the outcome, so the same ``rng`` state always gives the
    same augmentation.
    """
    center = np.asarray(center, dtype=np.float64).copy()
    scale = np.asarray(scale, dtype=np.float64).copy()
    half_body_draw = rng.random()
    if (
        upper_body is not None
        and config.half_body_prob > 0
        and half_body_draw < config.half_body_prob
        and int((np.asarray(joints_vis) > 0).sum()) > config.half_body_min_joints
    ):
        half = half_body_center_scale(joints, joints_vis, upper_body, aspect_ratio, rng, config.half_body_padding)
        if half is not None:
            center, scale = half
    zoom = 1.0 + config.scale_factor * _truncated_normal(rng)
    rot_t = _truncated_normal(rng)
    rot = config.rot_factor * rot_t if rng.random() < config.rot_prob else 0.0
    flip = bool(rng.random() < config.flip_prob)
    return Augmentation(center=center, scale=scale * zoom, rot=float(rot), flip=flip)


def augmentation_matrix(aug: Augmentation, input_size) -> np.ndarray:
    """The 2×3 affine (image px → network-input px) of one augmentation, flip included.

    The flip is a mirror of the crop (x → w − 1 − x); the caller swaps the left/right joint labels.
    """
    matrix = get_affine_transform(aug.center, aug.scale, aug.rot, input_size)
    if aug.flip:
        matrix = compose_affine(hflip_matrix(int(input_size[0])), matrix)
    return matrix
