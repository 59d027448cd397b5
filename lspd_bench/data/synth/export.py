"""The dataset's files and annotation formats: file names, the MPII and COCO documents of a split.

A generated dataset holds per split ``{split}_images.npy``, ``{split}_mpii.json`` (the HRNet/MMPose MPII
layout, 1-based, with head boxes) and ``{split}_coco.json`` (COCO ``person_keypoints``), plus
``gt_valid.mat`` and ``meta.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lspd_bench.data.keypoints import COCO_SKELETON
from lspd_bench.data.synth.config import SYNTH_VERSION
from lspd_bench.data.synth.figure import COCO_FROM_BODY, COCO_KEYPOINT_NAMES
from lspd_bench.data.synth.render import SynthSample
from lspd_bench.fileio import write_text

META_FILE = "meta.json"
GT_MAT_FILE = "gt_valid.mat"


def images_file(split: str) -> str:
    """``{split}_images.npy``: the split's N×H×W×3 uint8 images."""
    return f"{split}_images.npy"


def mpii_file(split: str) -> str:
    """``{split}_mpii.json``: the split in the HRNet/MMPose MPII layout (1-based, with head boxes)."""
    return f"{split}_mpii.json"


def coco_file(split: str) -> str:
    """``{split}_coco.json``: the split as COCO ``person_keypoints``."""
    return f"{split}_coco.json"


def image_name(index: int) -> str:
    """File name of image ``index`` in the annotations (and in ``images/{split}/`` with ``--png``)."""
    return f"{index:06d}.png"


def _annotation(sample: SynthSample, index: int) -> dict:
    """The per-sample facts both exports are written from (plain Python types, 0-based px)."""
    x1, y1, x2, y2 = (float(v) for v in sample.extent)
    # MPII's scale is the person's size / 200 px; the loader moves the centre down by 15·scale, so the
    # stored centre sits that far above the figure's centre.
    scale = round(max(x2 - x1, y2 - y1) / 200.0, 6)
    center = [round((x1 + x2) / 2, 2), round((y1 + y2) / 2 - 15.0 * scale, 2)]
    return {
        "index": index,
        "joints": sample.joints.tolist(),
        "in_image": sample.in_image.astype(int).tolist(),
        "visible": sample.visible.astype(int).tolist(),
        "headbox": sample.headbox.tolist(),
        "center": center,
        "scale": scale,
        "bbox": sample.bbox.tolist(),
        "area": sample.area,
    }


def _plus_one(values) -> list:
    return [[round(x + 1.0, 2), round(y + 1.0, 2)] for x, y in values]


def mpii_entries(annotations: list[dict]) -> list[dict]:
    """MPII JSON entries (1-based): ``image``, ``center``, ``scale``, ``joints``, ``joints_vis``
    (= inside the image, i.e. annotated), ``headbox``, and the extras ``joints_visible`` and ``index``."""
    entries = []
    for ann in annotations:
        entries.append(
            {
                "image": image_name(ann["index"]),
                "index": ann["index"],
                "center": _plus_one([ann["center"]])[0],
                "scale": ann["scale"],
                "joints": _plus_one(ann["joints"][:16]),
                "joints_vis": ann["in_image"][:16],
                "joints_visible": ann["visible"][:16],
                "headbox": _plus_one(ann["headbox"]),
            }
        )
    return entries


def coco_document(annotations: list[dict], size: int) -> dict:
    """A COCO ``person_keypoints`` document: 17 keypoints with v = 0 (outside), 1 (occluded), 2."""
    images, anns = [], []
    for ann in annotations:
        image_id = ann["index"] + 1
        images.append({"id": image_id, "file_name": image_name(ann["index"]), "width": size, "height": size})
        keypoints: list[float] = []
        for j in COCO_FROM_BODY:
            v = 0 if not ann["in_image"][j] else (2 if ann["visible"][j] else 1)
            x, y = ann["joints"][j] if v else (0, 0)
            keypoints += [x, y, v]
        anns.append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": 1,
                "keypoints": keypoints,
                "num_keypoints": int(sum(1 for j in COCO_FROM_BODY if ann["in_image"][j])),
                "bbox": ann["bbox"],
                "area": ann["area"],
                "iscrowd": 0,
            }
        )
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_KEYPOINT_NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
    }
    return {
        "info": {"description": f"lspd-bench synthetic pose benchmark v{SYNTH_VERSION}"},
        "images": images,
        "annotations": anns,
        "categories": [category],
    }


def _write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, separators=(",", ":")) + "\n")
