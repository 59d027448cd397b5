"""COCO ``person_keypoints`` annotations (through pycocotools) and person-detection results.

Person crops come from the ground-truth boxes (crowd and keypoint-less people skipped) or from a
detection-results file above a score threshold (the standard protocol). A box becomes
a ``center`` / ``scale`` with the aspect ratio fixed to the network input (192:256 by default) and
padding 1.25.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from lspd_bench.data.dataset import PersonRecord
from lspd_bench.data.keypoints import COCO_JOINTS
from lspd_bench.data.transforms import box_to_center_scale
from lspd_bench.errors import InputError

COCO_NUM_JOINTS = len(COCO_JOINTS)
DEFAULT_ASPECT_RATIO = 192 / 256
PERSON_CATEGORY = 1


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def _validate(data, path: Path) -> None:
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a COCO object with 'images' and 'annotations', got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise InputError(f"{path}: missing list '{key}'")
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not {"id", "file_name", "width", "height"} <= img.keys():
            raise InputError(f"{path}: images[{i}]: needs 'id', 'file_name', 'width' and 'height'")
    image_ids = {img["id"] for img in data["images"]}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise InputError(f"{path}: annotations[{i}]: expected an object")
        for key in ("image_id", "bbox", "category_id"):
            if key not in ann:
                raise InputError(f"{path}: annotations[{i}] (id {ann.get('id')}): missing key '{key}'")
        if ann["image_id"] not in image_ids:
            raise InputError(f"{path}: annotations[{i}] (id {ann.get('id')}): unknown image_id {ann['image_id']}")
        if np.asarray(ann["bbox"]).shape != (4,):
            raise InputError(f"{path}: annotations[{i}] (id {ann.get('id')}): 'bbox' must be [x, y, w, h]")
        if ann["category_id"] == PERSON_CATEGORY:
            kpts = ann.get("keypoints")
            if kpts is None or np.asarray(kpts).shape != (3 * COCO_NUM_JOINTS,):
                n = None if kpts is None else np.asarray(kpts).size
                raise InputError(
                    f"{path}: annotations[{i}] (id {ann.get('id')}): 'keypoints' must hold "
                    f"{COCO_NUM_JOINTS}×3 = {3 * COCO_NUM_JOINTS} numbers, got {n}"
                )


def read_coco(ann_file: str | os.PathLike) -> COCO:
    """Load and validate a COCO keypoints file into a pycocotools ``COCO`` object, quietly.

    Raises ``InputError`` naming the file and the annotation at fault.
    """
    path = Path(ann_file)
    data = _read_json(path, "COCO annotation")
    _validate(data, path)
    coco = COCO()
    coco.dataset = data
    # pycocotools reports progress on stdout; library code must not print.
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _clean_box(bbox, width: float, height: float) -> np.ndarray | None:
    """Clip an (x, y, w, h) box to the image (HRNet's sanitising); None if nothing is left."""
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1])


def load_coco(
    ann_file: str | os.PathLike,
    detections: str | os.PathLike | None = None,
    score_threshold: float = 0.0,
    aspect_ratio: float = DEFAULT_ASPECT_RATIO,
    padding: float = 1.25,
) -> list[PersonRecord]:
    """People of a COCO keypoints file as ``PersonRecord``s (17 joints, 0-based px as stored).

    Without ``detections``: one record per ground-truth person with a positive box area, skipping
    ``iscrowd`` and ``num_keypoints == 0``; ``joints_vis`` = (v > 0), ``joints_visible`` = (v == 2),
    ``area`` and ``bbox`` (clipped to the image) from the annotation. With ``detections`` (a COCO
    results list): one record per person detection with ``score >= score_threshold``, joints unknown
    (all 0), ``score`` = the detector's. ``aspect_ratio`` is the network input's w / h. No people at
    all is an ``InputError`` (an empty split).
    """
    path = Path(ann_file)
    coco = read_coco(path)
    images = coco.imgs
    records: list[PersonRecord] = []
    if detections is None:
        for i, ann in enumerate(coco.dataset["annotations"]):
            if ann["category_id"] != PERSON_CATEGORY or ann.get("iscrowd", 0):
                continue
            kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(COCO_NUM_JOINTS, 3)
            if ann.get("num_keypoints", int((kpts[:, 2] > 0).sum())) == 0 or kpts[:, 2].max() == 0:
                continue
            img = images[ann["image_id"]]
            box = _clean_box(ann["bbox"], img["width"], img["height"])
            if box is None or ann.get("area", 1.0) <= 0:
                continue
            center, scale = box_to_center_scale(*box, aspect_ratio=aspect_ratio, padding=padding)
            records.append(
                PersonRecord(
                    image_id=ann["image_id"],
                    image=img["file_name"],
                    center=center,
                    scale=scale,
                    joints=kpts[:, :2].copy(),
                    joints_vis=(kpts[:, 2] > 0).astype(np.float32),
                    joints_visible=(kpts[:, 2] == 2).astype(np.float32),
                    bbox=box,
                    area=float(ann.get("area", box[2] * box[3])),
                    source=str(path),
                    entry=i,
                )
            )
        if not records:
            raise InputError(
                f"{path}: no usable people (the split is empty once crowd and keypoint-less ones are skipped)"
            )
        return records
    det_path = Path(detections)
    dets = _read_json(det_path, "detection results")
    if not isinstance(dets, list):
        raise InputError(f"{det_path}: expected a JSON list of detections, got {type(dets).__name__}")
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= det.keys():
            raise InputError(f"{det_path}: entry {i}: needs 'image_id', 'bbox' and 'score'")
        if det.get("category_id", PERSON_CATEGORY) != PERSON_CATEGORY or det["score"] < score_threshold:
            continue
        if det["image_id"] not in images:
            raise InputError(f"{det_path}: entry {i}: image_id {det['image_id']} is not in {path}")
        if np.asarray(det["bbox"]).shape != (4,):
            raise InputError(f"{det_path}: entry {i}: 'bbox' must be [x, y, w, h]")
        img = images[det["image_id"]]
        box = np.asarray(det["bbox"], dtype=np.float64)
        center, scale = box_to_center_scale(*box, aspect_ratio=aspect_ratio, padding=padding)
        records.append(
            PersonRecord(
                image_id=det["image_id"],
                image=img["file_name"],
                center=center,
                scale=scale,
                joints=np.zeros((COCO_NUM_JOINTS, 2)),
                joints_vis=np.zeros(COCO_NUM_JOINTS, dtype=np.float32),
                bbox=box,
                score=float(det["score"]),
                source=str(det_path),
                entry=i,
            )
        )
    if not records:
        raise InputError(f"{det_path}: no person detections with score >= {score_threshold}")
    return records
