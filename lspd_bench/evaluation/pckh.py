"""MPII PCKh as the HRNet/MMPose validation protocol computes it, as a pure NumPy function.

Every convention that differs between the reference implementations is fixed here and listed in
:data:`PCKH_CONVENTIONS`, which travels with each result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lspd_bench.data.keypoints import MPII_EXCLUDED_FROM_MEAN, MPII_JOINTS, MPII_PCKH_GROUPS
from lspd_bench.errors import InputError

#: Head size = SC_BIAS × head-box diagonal (the official evaluator's constant).
SC_BIAS = 0.6
#: The threshold of the reported table (PCKh@0.5).
TABLE_THRESHOLD = 0.5
#: The threshold of the "Mean@0.1" column: exactly 0.1.
MEAN_AT_THRESHOLD = 0.1
#: The table's figures: PCKh@0.5 of each joint group, its count-weighted Mean, and the Mean at 0.1.
MEAN, MEAN_AT_01 = "Mean", "Mean@0.1"
TABLE_COLUMNS: tuple[str, ...] = (*MPII_PCKH_GROUPS, MEAN, MEAN_AT_01)
#: Curve thresholds 0.00, 0.01, …, 0.50 (51 values).
DEFAULT_THRESHOLDS = np.linspace(0.0, 0.5, 51)

PCKH_CONVENTIONS: tuple[str, ...] = (
    "Mean@0.1 is read at threshold exactly 0.1 (MMPose's fix; HRNet reads curve index 11, i.e. 0.11)",
    "a joint is correct when error <= threshold (the official evaluator's <=; MMPose uses <)",
    "pelvis and thorax are excluded from every summary",
    "Mean is weighted by each joint's visible count (micro-average over the 14 joints)",
    "head size = 0.6 x head-box diagonal (SC_BIAS 0.6)",
    "predictions are 0-based px and get +1 to match the 1-based ground truth",
    "Head is head_top alone; the other columns are the mean of the left and right joints",
)

_NUM_JOINTS = len(MPII_JOINTS)
_SCORED = np.setdiff1d(np.arange(_NUM_JOINTS), MPII_EXCLUDED_FROM_MEAN)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _where(mask: np.ndarray, limit: int = 5) -> str:
    """Name the first offending (person, joint) positions of a mask for an error message."""
    hits = np.argwhere(mask)[:limit]
    names = ", ".join(f"person {p} joint {j} ({MPII_JOINTS[j]})" for p, j in hits)
    more = int(mask.sum()) - len(hits)
    return names + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class PCKhResult:
    """The outcome of :func:`pckh`. PCKh values are percentages; NaN where a joint has no visible case.

    Attributes:
        thresholds: ``T`` curve thresholds (fractions of the head size).
        curve: ``T×16`` per-joint PCKh at each threshold.
        per_joint: ``16`` per-joint PCKh@0.5.
        joint_count: ``16`` visible (not missing) count per joint.
        table: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle (at 0.5), Mean, Mean@0.1.
        correct: ``N×16`` bool, visible and error <= 0.5 (per person, for the bootstrap).
        correct_at_01: ``N×16`` bool, visible and error <= 0.1.
        visible: ``N×16`` bool, the joint is not missing.
        normalized_error: ``N×16`` distance / head size, NaN where the joint is missing.
        conventions: how the numbers were computed (:data:`PCKH_CONVENTIONS`).
    """

    thresholds: np.ndarray
    curve: np.ndarray
    per_joint: np.ndarray
    joint_count: np.ndarray
    table: dict[str, float]
    correct: np.ndarray = field(repr=False)
    correct_at_01: np.ndarray = field(repr=False)
    visible: np.ndarray = field(repr=False)
    normalized_error: np.ndarray = field(repr=False)
    conventions: tuple[str, ...] = PCKH_CONVENTIONS

    @property
    def mean(self) -> float:
        """Count-weighted PCKh@0.5 over the 14 scored joints, in %."""
        return self.table[MEAN]

    @property
    def mean_at_01(self) -> float:
        """Count-weighted PCKh@0.1 over the 14 scored joints, in %."""
        return self.table[MEAN_AT_01]

    @property
    def num_people(self) -> int:
        return int(self.visible.shape[0])

    def to_dict(self, per_person: bool = False) -> dict:
        """JSON-ready dict (NaN → None). ``per_person=True`` adds the ``N×16`` correctness arrays."""
        out = {
            "metric": "PCKh",
            "num_people": self.num_people,
            "table": {k: _nan_to_none(v) for k, v in self.table.items()},
            "per_joint": {n: _nan_to_none(v) for n, v in zip(MPII_JOINTS, self.per_joint.tolist())},
            "joint_count": dict(zip(MPII_JOINTS, self.joint_count.tolist())),
            "thresholds": [round(t, 6) for t in self.thresholds.tolist()],
            "curve": {n: [_nan_to_none(v) for v in self.curve[:, j].tolist()] for j, n in enumerate(MPII_JOINTS)},
            "conventions": list(self.conventions),
        }
        if per_person:
            out["correct"] = self.correct.astype(int).tolist()
            out["correct_at_0.1"] = self.correct_at_01.astype(int).tolist()
            out["visible"] = self.visible.astype(int).tolist()
        return out


def head_size_from_boxes(headboxes, sc_bias: float = SC_BIAS) -> np.ndarray:
    """Head sizes in px: ``sc_bias`` × the Euclidean length of each head box's diagonal.

    Args:
        headboxes: ``N×2×2`` corners ``[[x1, y1], [x2, y2]]`` per person, px.
    """
    boxes = np.asarray(headboxes, dtype=np.float64)
    if boxes.ndim != 3 or boxes.shape[1:] != (2, 2):
        raise InputError(f"head boxes must be N×2×2 ([[x1, y1], [x2, y2]] per person), got shape {boxes.shape}")
    return sc_bias * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)


def _validate(pred, gt, visible, head_size) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible)
    head_size = np.asarray(head_size, dtype=np.float64)
    shape = (_NUM_JOINTS, 2)
    if pred.ndim != 3 or pred.shape[1:] != shape:
        raise InputError(f"predictions must be N×16×2 (MPII joints, x y), got shape {pred.shape}")
    if gt.ndim != 3 or gt.shape[1:] != shape:
        raise InputError(f"ground truth must be N×16×2 (MPII joints, x y), got shape {gt.shape}")
    n = len(gt)
    if n == 0:
        raise InputError("ground truth has no people")
    if len(pred) != n:
        raise InputError(
            f"{len(pred)} predictions for {n} ground-truth people; predictions are matched by position "
            "and must be complete and in the original order"
        )
    if visible.shape != (n, _NUM_JOINTS):
        raise InputError(f"visible must be N×16 = {(n, _NUM_JOINTS)}, got shape {visible.shape}")
    if head_size.shape != (n,):
        raise InputError(f"head sizes must be one per person ({n}), got shape {head_size.shape}")
    visible = visible.astype(bool)
    bad = ~np.isfinite(pred).all(axis=-1)
    if bad.any():
        raise InputError(f"predictions contain NaN or inf at {_where(bad)}")
    bad = visible & ~np.isfinite(gt).all(axis=-1)
    if bad.any():
        raise InputError(f"ground truth contains NaN or inf at visible {_where(bad)}")
    bad_head = visible.any(axis=1) & ~(np.isfinite(head_size) & (head_size > 0))
    if bad_head.any():
        people = np.flatnonzero(bad_head)
        raise InputError(f"head size must be a positive number; not so for people {people[:10].tolist()}")
    if not visible[:, _SCORED].any():
        raise InputError("no visible joints among the 14 scored joints (pelvis and thorax are not scored)")
    return pred, gt, visible, head_size


def pckh(pred, gt, visible, head_size, thresholds=DEFAULT_THRESHOLDS) -> PCKhResult:
    """MPII PCKh of N people (docs/protocols.md, "MPII PCKh").

    Args:
        pred: ``N×16×2`` predictions (x, y) in **0-based** image px; +1 is added here before comparing.
        gt: ``N×16×2`` ground truth in **1-based** image px, as in ``gt_valid.mat`` / the MPII JSON.
        visible: ``N×16`` bool, True where the joint is not missing (``1 - jnt_missing``).
        head_size: ``N`` head sizes in px (see :func:`head_size_from_boxes`).
        thresholds: curve thresholds as fractions of the head size (default 0.00…0.50, 51 values).

    People are matched by position. Raises ``InputError`` on wrong shapes, a count mismatch, NaN
    predictions, NaN visible ground truth or a non-positive head size.
    """
    pred, gt, visible, head_size = _validate(pred, gt, visible, head_size)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0 or not np.isfinite(thresholds).all():
        raise InputError(f"thresholds must be a non-empty 1-D list of numbers, got {thresholds!r}")

    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.linalg.norm(pred + 1.0 - gt, axis=-1) / head_size[:, None]
    err = np.where(visible, err, np.nan)
    # NaN compares False, so missing joints are never counted correct.
    count = visible.sum(axis=0)
    hits = (err[None] <= thresholds[:, None, None]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = 100.0 * hits / count
    correct = err <= TABLE_THRESHOLD
    correct_01 = err <= MEAN_AT_THRESHOLD
    with np.errstate(divide="ignore", invalid="ignore"):
        per_joint = 100.0 * correct.sum(axis=0) / count

    scored_count = count[_SCORED].sum()
    table: dict[str, float] = {}
    for name, joints in MPII_PCKH_GROUPS.items():
        table[name] = float(np.mean(per_joint[list(joints)]))
    table[MEAN] = float(100.0 * correct[:, _SCORED].sum() / scored_count)
    table[MEAN_AT_01] = float(100.0 * correct_01[:, _SCORED].sum() / scored_count)
    return PCKhResult(
        thresholds=_frozen(thresholds),
        curve=_frozen(curve),
        per_joint=_frozen(per_joint),
        joint_count=_frozen(count),
        table=table,
        correct=_frozen(correct),
        correct_at_01=_frozen(correct_01),
        visible=_frozen(visible),
        normalized_error=_frozen(err),
    )
