"""MPII Human Pose in the HRNet/MMPose JSON layout, plus the ``gt_valid.mat`` evaluation file.

Conventions (HRNet's and MMPose's): coordinates in the files are 1-based; the loader moves the centre down
by 15·scale px, multiplies the scale by 1.25 and subtracts 1 from centre and joints (0-based px).
``joints_vis`` means *annotated*. The test split has no joints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.io

from lspd_bench.data.dataset import PersonRecord
from lspd_bench.errors import InputError
from lspd_bench.fileio import atomic_path

MPII_NUM_JOINTS = 16
#: Joint names as stored in the official ``gt_valid.mat`` (``dataset_joints``), in MPII order.
MAT_JOINT_NAMES: tuple[str, ...] = (
    "rank",
    "rkne",
    "rhip",
    "lhip",
    "lkne",
    "lank",
    "pelv",
    "thor",
    "neck",
    "head",
    "rwri",
    "relb",
    "rsho",
    "lsho",
    "lelb",
    "lwri",
)
CENTER_SHIFT = 15.0
"""HRNet moves the MPII centre down by this many px per unit of scale."""
SCALE_PADDING = 1.25


def read_json_list(path: str | os.PathLike, what: str) -> list:
    """Parse a JSON file that must hold a list; ``InputError`` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of entries, got {type(data).__name__}")
    return data


def _array(value, shape: tuple[int, ...], path: Path, index: int, key: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: entry {index}: '{key}' is not numeric") from None
    if arr.shape != shape:
        raise InputError(f"{path}: entry {index}: '{key}' must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: entry {index}: '{key}' has non-finite values")
    return arr


def read_gt_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``gt_valid.mat``: ``jnt_missing`` 16×N, ``pos_gt_src`` 16×2×N (1-based px),
    ``headboxes_src`` 2×2×N (corner, xy, person; 1-based px). Shapes are checked."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gt mat file not found: {path}")
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as exc:
        raise InputError(f"{path}: not a readable .mat file ({exc})") from None
    out = {}
    for key in ("jnt_missing", "pos_gt_src", "headboxes_src"):
        if key not in mat:
            raise InputError(f"{path}: missing variable '{key}'")
        out[key] = np.asarray(mat[key], dtype=np.float64)
    n = out["jnt_missing"].shape[-1] if out["jnt_missing"].ndim == 2 else -1
    expected = {"jnt_missing": (MPII_NUM_JOINTS, n), "pos_gt_src": (MPII_NUM_JOINTS, 2, n), "headboxes_src": (2, 2, n)}
    for key, shape in expected.items():
        if n == 1 and out[key].shape == shape[:-1]:  # MATLAB drops a trailing singleton: one person
            out[key] = out[key][..., None]
        if out[key].shape != shape:
            raise InputError(f"{path}: '{key}' must have shape {shape}, got {out[key].shape}")
    return out


def write_gt_mat(path: str | os.PathLike, joints, missing, headboxes) -> None:
    """Write a ``gt_valid.mat``-layout file (atomically, byte-reproducible).

    Args:
        joints: N×16×2 joint positions, 1-based px.
        missing: N×16 flags (1 = joint missing / not annotated).
        headboxes: N×2×2 head boxes [[x1, y1], [x2, y2]], 1-based px.
    """
    path = Path(path)
    joints = np.asarray(joints, dtype=np.float64)
    data = {
        "dataset_joints": np.array([[name] for name in MAT_JOINT_NAMES], dtype=object).reshape(1, -1),
        "jnt_missing": np.asarray(missing, dtype=np.float64).T.copy(),
        "pos_gt_src": joints.transpose(1, 2, 0).copy(),
        "headboxes_src": np.asarray(headboxes, dtype=np.float64).transpose(1, 2, 0).copy(),
    }
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, data, appendmat=False, do_compression=False, oned_as="column")
        # The MAT-5 header holds a creation date; a fixed header keeps the same data byte-identical.
        header = b"MATLAB 5.0 MAT-file, written by lspd-bench".ljust(116, b" ")
        with open(tmp, "r+b") as f:
            f.write(header)


def parse_mpii_entry(entry, path: Path, index: int) -> PersonRecord:
    """One HRNet/MMPose MPII JSON entry → ``PersonRecord`` (0-based, centre moved, scale ×1.25)."""
    if not isinstance(entry, dict):
        raise InputError(f"{path}: entry {index}: expected an object, got {type(entry).__name__}")
    for key in ("image", "center", "scale"):
        if key not in entry:
            raise InputError(f"{path}: entry {index}: missing key '{key}'")
    center = _array(entry["center"], (2,), path, index, "center")
    scale_value = _array(entry["scale"], (), path, index, "scale")
    s = float(scale_value)
    if s <= 0:
        raise InputError(f"{path}: entry {index}: 'scale' must be positive, got {s}")
    if center[0] != -1:
        center[1] += CENTER_SHIFT * s
        s *= SCALE_PADDING
    center -= 1.0
    if "joints" in entry:
        joints = _array(entry["joints"], (MPII_NUM_JOINTS, 2), path, index, "joints") - 1.0
        if "joints_vis" not in entry:
            raise InputError(f"{path}: entry {index}: has 'joints' but no 'joints_vis'")
        vis = _array(entry["joints_vis"], (MPII_NUM_JOINTS,), path, index, "joints_vis")
        vis = (vis > 0).astype(np.float32)
    else:
        joints = np.zeros((MPII_NUM_JOINTS, 2))
        vis = np.zeros(MPII_NUM_JOINTS, dtype=np.float32)
    visible = None
    if "joints_visible" in entry:
        visible = (_array(entry["joints_visible"], (MPII_NUM_JOINTS,), path, index, "joints_visible") > 0).astype(
            np.float32
        )
    headbox = None
    if "headbox" in entry:
        headbox = _array(entry["headbox"], (2, 2), path, index, "headbox") - 1.0
    image = entry["image"]
    if not isinstance(image, str) or not image:
        raise InputError(f"{path}: entry {index}: 'image' must be a file name")
    return PersonRecord(
        image_id=image,
        image=image,
        center=center,
        scale=np.array([s, s]),
        joints=joints,
        joints_vis=vis,
        joints_visible=visible,
        headbox=headbox,
        source=str(path),
        entry=index,
    )


def load_mpii(ann_file: str | os.PathLike, gt_mat: str | os.PathLike | None = None) -> list[PersonRecord]:
    """Load an MPII JSON annotation file (HRNet/MMPose layout) into 0-based ``PersonRecord``s.

    With ``gt_mat`` (a ``gt_valid.mat`` in the same person order), joints, missing flags and head
    boxes come from it: ``joints = pos_gt_src − 1``, ``joints_vis = 1 − jnt_missing``,
    ``headbox = headboxes_src − 1`` (0-based px). Raises ``InputError`` naming the file and entry, and
    for a file without entries.
    """
    path = Path(ann_file)
    entries = read_json_list(path, "MPII annotation")
    if not entries:
        raise InputError(f"{path}: no entries (the split is empty)")
    records = [parse_mpii_entry(entry, path, i) for i, entry in enumerate(entries)]
    if gt_mat is not None:
        gt = read_gt_mat(gt_mat)
        n = gt["jnt_missing"].shape[1]
        if n != len(records):
            raise InputError(f"{gt_mat}: holds {n} people but {path} has {len(records)} entries")
        for i, rec in enumerate(records):
            rec.joints = gt["pos_gt_src"][:, :, i] - 1.0
            rec.joints_vis = (gt["jnt_missing"][:, i] == 0).astype(np.float32)
            rec.headbox = gt["headboxes_src"][:, :, i] - 1.0
    return records
