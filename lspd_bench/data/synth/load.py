"""Reading a generated dataset: its ``meta.json`` and one split's records and images."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lspd_bench.config import Dataset
from lspd_bench.data.synth.export import META_FILE, coco_file, images_file, mpii_file
from lspd_bench.errors import InputError


def read_meta(root: str | os.PathLike) -> dict:
    """The ``meta.json`` of a synthetic dataset directory (``InputError`` if absent or malformed)."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise InputError(f"not a synthetic dataset (no {META_FILE}): {Path(root)}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "lspd-bench-synth" or "counts" not in meta:
        raise InputError(f"{path}: not an lspd-bench synthetic dataset description")
    return meta


def load_synth(root: str | os.PathLike, split: str = "train", keypoints: str = "mpii", aspect_ratio: float = 1.0):
    """Records and image source of one split of a synthetic dataset.

    ``keypoints="mpii"`` reads ``{split}_mpii.json`` through the MPII loader (16 joints, head boxes,
    HRNet's centre/scale conventions); ``"coco"`` reads ``{split}_coco.json`` through the COCO loader
    (17 joints, boxes from the silhouette, fixed to ``aspect_ratio`` = input w / h). Records'
    ``image`` is the index into the ``ArrayImages`` returned alongside.
    """
    from lspd_bench.data.coco import load_coco
    from lspd_bench.data.dataset import ArrayImages
    from lspd_bench.data.mpii import load_mpii

    root = Path(root)
    meta = read_meta(root)
    if split not in meta["counts"]:
        raise InputError(f"{root}: no split {split!r} (has {', '.join(meta['counts'])})")
    images = ArrayImages(root / images_file(split))
    if keypoints == Dataset.MPII:
        records = load_mpii(root / mpii_file(split))
    elif keypoints == Dataset.COCO:
        records = load_coco(root / coco_file(split), aspect_ratio=aspect_ratio)
    else:
        raise InputError(f"keypoints must be 'mpii' or 'coco', got {keypoints!r}")
    attach_array_indices(records)
    return records, images


def attach_array_indices(records) -> None:
    """Point records at image-array indices, from the synthetic file names ``NNNNNN.png``."""
    for rec in records:
        name = str(rec.image)
        stem = name[:-4] if name.endswith(".png") else name
        if not stem.isdigit():
            raise InputError(f"{rec.where()}: image {name!r} is not a synthetic image name (NNNNNN.png)")
        rec.image = int(stem)
