"""A grid of samples with their annotations drawn on, as a PNG (matplotlib, Agg canvas)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lspd_bench.data.dataset import ImageSource, PersonRecord
from lspd_bench.data.keypoints import COCO_JOINTS, COCO_SKELETON, MPII_JOINTS, MPII_SKELETON
from lspd_bench.data.transforms import affine_points, get_affine_transform, warp_image
from lspd_bench.errors import InputError
from lspd_bench.fileio import atomic_path

SIDE_COLOURS = {"r": "#ff6b3d", "l": "#3da5ff", "c": "#7dff6b"}
"""Right limbs orange, left limbs blue, the body's midline green."""


def _side(name: str) -> str:
    return name[0] if name[:2] in ("r_", "l_") else "c"


def _format(num_joints: int) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    if num_joints == len(MPII_JOINTS):
        return MPII_JOINTS, MPII_SKELETON
    if num_joints == len(COCO_JOINTS):
        return COCO_JOINTS, COCO_SKELETON
    raise InputError(f"cannot draw {num_joints} joints: only MPII (16) and COCO (17) skeletons are known")


def _limb_side(names, a: int, b: int) -> str:
    sides = {_side(names[a]), _side(names[b])} - {"c"}
    return sides.pop() if len(sides) == 1 else "c"


def render_grid(
    records: list[PersonRecord],
    images: ImageSource,
    out: str | os.PathLike,
    n: int = 16,
    crop: bool = False,
    crop_size: int = 256,
    cell_inches: float = 2.6,
) -> Path:
    """Draw the first ``n`` records in a grid and write it to ``out`` (PNG); return the path.

    Each cell shows the image (or, with ``crop``, the person's box warped to ``crop_size`` px), the
    skeleton with right limbs orange, left limbs blue and the midline green, joints filled when visible
    and hollow when annotated but occluded (unannotated joints are left out), and the head box (dashed)
    where there is one.
    """
    if not records:
        raise InputError("nothing to show: the split is empty")
    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    chosen = records[: min(n, len(records))]
    names, skeleton = _format(chosen[0].num_joints)
    cols = int(np.ceil(np.sqrt(len(chosen))))
    rows = int(np.ceil(len(chosen) / cols))
    fig = Figure(figsize=(cols * cell_inches, rows * cell_inches), dpi=100, facecolor="#202020")
    FigureCanvasAgg(fig)
    for k, rec in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, k + 1)
        image = np.asarray(images.load(rec.image))
        joints = np.asarray(rec.joints, dtype=np.float64)
        headbox = None if rec.headbox is None else np.asarray(rec.headbox, dtype=np.float64)
        if crop:
            matrix = get_affine_transform(rec.center, rec.scale, 0.0, (crop_size, crop_size))
            image = warp_image(image, matrix, (crop_size, crop_size))
            joints = affine_points(joints, matrix)
            if headbox is not None:
                headbox = affine_points(headbox, matrix)
        ax.imshow(image, interpolation="bilinear" if crop else "nearest")
        annotated = np.asarray(rec.joints_vis) > 0
        visible = annotated if rec.joints_visible is None else annotated & (np.asarray(rec.joints_visible) > 0)
        for a, b in skeleton:
            if annotated[a] and annotated[b]:
                colour = SIDE_COLOURS[_limb_side(names, a, b)]
                ax.plot(joints[[a, b], 0], joints[[a, b], 1], color=colour, lw=1.2, alpha=0.8, solid_capstyle="round")
        for j in np.nonzero(annotated)[0]:
            colour = SIDE_COLOURS[_side(names[j])]
            ax.plot(joints[j, 0], joints[j, 1], "o", ms=3.8, mec=colour, mew=1.1, mfc=colour if visible[j] else "none")
        if headbox is not None:
            (x1, y1), (x2, y2) = headbox
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="#ffe14d", lw=1.1, ls="--"))
        h, w = image.shape[:2]
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_title(f"#{rec.entry} {rec.image_id}", color="#dddddd", fontsize=7, pad=2)
        ax.axis("off")
    fig.suptitle(
        "right limbs orange · left limbs blue · hollow = annotated but occluded · dashed = head box",
        color="#bbbbbb",
        fontsize=8,
        y=1 - 0.06 / (rows * cell_inches),
        va="top",
    )
    # Leave about 0.45 in above the first row for the legend and the cell titles.
    fig.subplots_adjust(
        left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / (rows * cell_inches), wspace=0.04, hspace=0.14
    )
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", facecolor=fig.get_facecolor())
    return Path(out)
