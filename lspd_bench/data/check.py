"""Validate a dataset through the real loaders and summarise it (people, joints, image sizes)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from lspd_bench.config import Dataset
from lspd_bench.data.dataset import ArrayImages, FolderImages, PersonRecord, validate_records
from lspd_bench.data.keypoints import COCO_JOINTS, MPII_JOINTS
from lspd_bench.data.synth import sha256_file
from lspd_bench.errors import InputError

FORMATS = tuple(Dataset)  # a dataset file layout for each benchmark


def _synth_array(ann: Path, images: Path) -> Path:
    """The image array of a synthetic split: ``images`` itself, or ``{split}_images.npy`` inside it."""
    from lspd_bench.data.synth import images_file

    if images.is_file():
        return images
    split = ann.name.split("_", 1)[0]
    candidate = images / images_file(split)
    if not candidate.is_file():
        raise InputError(f"no image array {candidate.name} in {images} for {ann.name}: pass the .npy file as --images")
    return candidate


def _verify_synth_files(ann: Path, array: Path) -> bool | None:
    """Compare the files with the sha256s in the dataset's meta.json; None when there is no meta.json."""
    from lspd_bench.data.synth import META_FILE, read_meta

    if ann.parent != array.parent or not (ann.parent / META_FILE).is_file():
        return None
    hashes = read_meta(ann.parent).get("files", {})
    for path in (ann, array):
        expected = hashes.get(path.name)
        if expected is not None and expected != sha256_file(path):
            raise InputError(
                f"{path}: content differs from the sha256 in {ann.parent / META_FILE} (changed after generation)"
            )
    return True


def _load(fmt: str, ann: Path, images: Path, gt_mat: Path | None):
    if fmt == Dataset.MPII:
        from lspd_bench.data.mpii import load_mpii

        return load_mpii(ann, gt_mat), FolderImages(images), MPII_JOINTS, None
    if fmt == Dataset.COCO:
        from lspd_bench.data.coco import load_coco

        return load_coco(ann), FolderImages(images), COCO_JOINTS, None
    from lspd_bench.data.coco import load_coco
    from lspd_bench.data.mpii import load_mpii
    from lspd_bench.data.synth import attach_array_indices

    array = _synth_array(ann, images)
    source = ArrayImages(array)
    verified = _verify_synth_files(ann, array)
    try:
        is_coco = isinstance(json.loads(ann.read_text(encoding="utf-8")), dict)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        is_coco = False  # the loader below reports the file's problem
    if is_coco:
        records, names = load_coco(ann), COCO_JOINTS
    else:
        records, names = load_mpii(ann, gt_mat), MPII_JOINTS
    attach_array_indices(records)
    return records, source, names, verified


def check_dataset(
    fmt: str,
    ann: str | os.PathLike,
    images: str | os.PathLike,
    gt_mat: str | os.PathLike | None = None,
) -> dict:
    """Load a dataset as training would and summarise it; raise ``InputError`` at the first problem.

    ``fmt`` is ``mpii`` (HRNet JSON + image folder), ``coco`` (person_keypoints JSON + image folder) or
    ``synth`` (a synthetic split's MPII or COCO JSON + its ``.npy`` image array or dataset folder).
    Every image is opened (header only) to get its size. Returns counts of people and images, per-joint
    annotated and visible counts, image sizes (px), head boxes, and for ``synth`` whether the files
    match ``meta.json``.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown dataset format {fmt!r}; choose from {', '.join(FORMATS)}")
    ann, images = Path(ann), Path(images)
    records, source, names, verified = _load(fmt, ann, images, Path(gt_mat) if gt_mat else None)
    num_joints = validate_records(records, source, len(names), what=str(ann))
    sizes: Counter = Counter()
    unique = {}
    for rec in records:
        if rec.image not in unique:
            unique[rec.image] = source.size(rec.image)
        w, h = unique[rec.image]
        sizes[(w, h)] += 1
        if rec.headbox is not None:
            (x1, y1), (x2, y2) = np.asarray(rec.headbox)
            if not (x2 > x1 and y2 > y1):
                raise InputError(f"{rec.where()}: head box {np.asarray(rec.headbox).tolist()} has no area")
    return summarise(records, names[:num_joints], fmt, ann, images, unique, sizes, verified)


def summarise(
    records: list[PersonRecord], names, fmt: str, ann: Path, images: Path, unique: dict, sizes: Counter, verified
) -> dict:
    """The summary dict of ``check_dataset`` (JSON-ready)."""
    vis = np.stack([np.asarray(r.joints_vis) > 0 for r in records])
    has_visible = all(r.joints_visible is not None for r in records)
    visible = np.stack([np.asarray(r.joints_visible) > 0 for r in records]) & vis if has_visible else None
    widths = [w for w, _ in unique.values()]
    heights = [h for _, h in unique.values()]
    return {
        "format": fmt,
        "annotations": str(ann),
        "images": str(images),
        "people": len(records),
        "image_count": len(unique),
        "joints": {
            name: {
                "annotated": int(vis[:, j].sum()),
                "visible": None if visible is None else int(visible[:, j].sum()),
            }
            for j, name in enumerate(names)
        },
        "annotated_joints_per_person": round(float(vis.sum(1).mean()), 3),
        "people_without_joints": int((vis.sum(1) == 0).sum()),
        "headboxes": sum(1 for r in records if r.headbox is not None),
        "image_sizes": {
            "distinct": len(set(unique.values())),
            "min_wh": [min(widths), min(heights)],
            "max_wh": [max(widths), max(heights)],
            "most_common": [[list(wh), n] for wh, n in sizes.most_common(3)],
        },
        "files_match_meta": verified,
    }
