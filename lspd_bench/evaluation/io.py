"""Readers for the MPII files that PCKh scoring takes: predictions and validation ground truth.

Coordinate bases are the trap here, so each reader states what it returns: predictions come back
**0-based** px (what :func:`lspd_bench.evaluation.pckh.pckh` takes), ground truth **1-based** px (as MPII
stores it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lspd_bench.data.keypoints import MPII_JOINTS
from lspd_bench.data.mpii import read_gt_mat
from lspd_bench.errors import InputError

_J = len(MPII_JOINTS)


@dataclass(frozen=True)
class MPIIGroundTruth:
    """Validation ground truth of N people.

    Attributes:
        joints: ``N×16×2`` (x, y), 1-based px.
        visible: ``N×16`` bool, joint not missing (``joints_vis`` / ``1 - jnt_missing``).
        headboxes: ``N×2×2`` head-box corners ``[[x1, y1], [x2, y2]]`` in px, or None when the file has none.
        source: the file read.
    """

    joints: np.ndarray
    visible: np.ndarray
    headboxes: np.ndarray | None
    source: str


def require_file(path, what: str = "file") -> Path:
    """``path`` as a Path, or ``InputError`` naming it when it does not exist or is a folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file")
    return path


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    require_file(path)
    try:
        return loadmat(str(path))
    except Exception as exc:  # scipy raises several types (MatReadError, ValueError, OSError) for bad files
        raise InputError(f"{path} is not a readable MATLAB .mat file: {exc}") from None


def _loadjson(path: Path):
    require_file(path)
    try:
        with path.open() as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def _mat_key(mat: dict, key: str, path: Path) -> np.ndarray:
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise InputError(f"{path} has no '{key}' (keys: {keys})")
    return np.asarray(mat[key], dtype=np.float64)


def _people_last(a: np.ndarray, lead: tuple[int, ...], key: str, path: Path) -> np.ndarray:
    """MATLAB ``lead×N`` → ``N×lead``; MATLAB drops a trailing singleton, so ``lead`` alone means N = 1."""
    if a.shape == lead:
        a = a[..., None]
    if a.ndim != len(lead) + 1 or a.shape[:-1] != lead:
        want = "×".join(map(str, lead)) + "×N"
        raise InputError(f"{path}: '{key}' must be {want}, got shape {a.shape}")
    return np.moveaxis(a, -1, 0)


def load_mpii_predictions(path) -> np.ndarray:
    """Read MPII predictions as ``N×16×2`` **0-based** px, in file order.

    Accepted layouts:
      * ``.json``: a list of per-person ``16×2`` (x, y) lists, or ``{"preds": [...]}``, 0-based px.
        A third column (the heatmap peak, as in HRNet's ``all_preds``) is allowed and ignored.
      * ``.mat`` with ``pos_pred_src`` (``16×2×N``, the official MATLAB evaluator's layout, 1-based) or
        with ``preds`` (``N×16×2``, HRNet's ``pred.mat``, which adds 1 before saving): 1 is subtracted.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        mat = _loadmat(path)
        if "pos_pred_src" in mat:
            preds = _people_last(_mat_key(mat, "pos_pred_src", path), (_J, 2), "pos_pred_src", path)
        elif "preds" in mat:
            preds = _mat_key(mat, "preds", path)
            if preds.ndim != 3 or preds.shape[1] != _J or preds.shape[2] not in (2, 3):
                raise InputError(f"{path}: 'preds' must be N×16×2, got shape {preds.shape}")
        else:
            keys = sorted(k for k in mat if not k.startswith("__"))
            raise InputError(f"{path} has neither 'pos_pred_src' nor 'preds' (keys: {keys})")
        return preds[..., :2] - 1.0
    if suffix == ".json":
        data = _loadjson(path)
        if isinstance(data, dict):
            if "preds" not in data:
                raise InputError(f"{path}: a JSON object of predictions needs a 'preds' key (keys: {sorted(data)})")
            data = data["preds"]
        try:
            preds = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"{path}: predictions must be a list of 16×2 number lists (ragged or non-numeric)"
            ) from None
        if preds.ndim != 3 or preds.shape[1] != _J or preds.shape[2] not in (2, 3):
            raise InputError(f"{path}: predictions must be N×16×2 (x, y per MPII joint), got shape {preds.shape}")
        return preds[..., :2]
    raise InputError(f"{path}: predictions must be a .json or .mat file")


def load_headboxes(path) -> np.ndarray:
    """Read ``headboxes_src`` (``2×2×N``) from a ``gt_valid.mat`` as ``N×2×2`` corners in px."""
    return read_gt_mat(path)["headboxes_src"].transpose(2, 0, 1)


def _ground_truth_from_mat(path: Path) -> MPIIGroundTruth:
    gt = read_gt_mat(path)  # the one gt_valid.mat reader, shared with the MPII loader
    return MPIIGroundTruth(
        joints=gt["pos_gt_src"].transpose(2, 0, 1),
        visible=gt["jnt_missing"].T == 0,
        headboxes=gt["headboxes_src"].transpose(2, 0, 1),
        source=str(path),
    )


def _ground_truth_from_json(path: Path) -> MPIIGroundTruth:
    data = _loadjson(path)
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: MPII ground truth must be a non-empty JSON list of people")
    joints, visible, boxes = [], [], []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not {"joints", "joints_vis"} <= entry.keys():
            raise InputError(f"{path}: entry {i} needs 'joints' and 'joints_vis'")
        j = np.asarray(entry["joints"], dtype=np.float64)
        v = np.asarray(entry["joints_vis"], dtype=np.float64)
        if j.shape != (_J, 2) or v.shape != (_J,):
            raise InputError(
                f"{path}: entry {i} must have 16×2 'joints' and 16 'joints_vis', got {j.shape} and {v.shape}"
            )
        joints.append(j)
        visible.append(v > 0)
        if "headbox" in entry:
            b = np.asarray(entry["headbox"], dtype=np.float64)
            if b.shape != (2, 2):
                raise InputError(f"{path}: entry {i} 'headbox' must be [[x1, y1], [x2, y2]], got shape {b.shape}")
            boxes.append(b)
    if boxes and len(boxes) != len(data):
        first = next(i for i, e in enumerate(data) if "headbox" not in e)
        raise InputError(f"{path}: some entries have a 'headbox' and some do not (entry {first} has none)")
    return MPIIGroundTruth(
        joints=np.stack(joints),
        visible=np.stack(visible),
        headboxes=np.stack(boxes) if boxes else None,
        source=str(path),
    )


def load_mpii_ground_truth(path, headboxes=None) -> MPIIGroundTruth:
    """Read MPII validation ground truth (1-based px) from ``gt_valid.mat`` or an MPII-style JSON.

    Args:
        path: ``gt_valid.mat`` (``jnt_missing`` 16×N, ``pos_gt_src`` 16×2×N, ``headboxes_src`` 2×2×N) or a
            JSON list of entries with ``joints`` (16×2, 1-based), ``joints_vis`` (16) and optionally
            ``headbox`` ``[[x1, y1], [x2, y2]]``.
        headboxes: optional ``gt_valid.mat`` whose ``headboxes_src`` replaces the file's own head boxes
            (the HRNet/MMPose JSON carries none).

    Raises ``InputError`` when head boxes are nowhere to be had: PCKh cannot be computed without them.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        gt = _ground_truth_from_mat(path)
    elif suffix == ".json":
        gt = _ground_truth_from_json(path)
    else:
        raise InputError(f"{path}: ground truth must be a gt_valid.mat or an MPII-style .json")
    if headboxes is not None:
        boxes = load_headboxes(headboxes)
        if len(boxes) != len(gt.joints):
            raise InputError(f"{headboxes} has {len(boxes)} head boxes for {len(gt.joints)} people in {path}")
        gt = MPIIGroundTruth(joints=gt.joints, visible=gt.visible, headboxes=boxes, source=gt.source)
    if gt.headboxes is None:
        raise InputError(
            f"{path} has no head boxes (no 'headbox' key per entry; the HRNet/MMPose MPII JSON carries none): "
            "pass a gt_valid.mat as head boxes (--headboxes on the command line) or a ground truth that has them"
        )
    return gt
