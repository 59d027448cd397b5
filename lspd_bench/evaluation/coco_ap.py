"""COCO keypoint AP for top-down models: rescoring, OKS-NMS, the results file, and pycocotools'
``COCOeval`` behind one function (docs/protocols.md, "COCO keypoint AP").

The NumPy parts (:func:`rescore`, :func:`oks`, :func:`oks_nms`) are pure; :func:`coco_keypoint_ap` is the
adapter to pycocotools, the reference.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lspd_bench.config import Boxes
from lspd_bench.data.keypoints import COCO_SIGMAS
from lspd_bench.errors import InputError
from lspd_bench.evaluation.io import require_file

#: Keypoints scoring above this count towards the instance score.
RESCORE_THRESHOLD = 0.2
#: OKS above which a lower-scored instance of the same image is suppressed.
OKS_NMS_THRESHOLD = 0.9
#: pycocotools' ``stats`` for iouType 'keypoints', in order.
STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "AP(M)", "AP(L)", "AR", "AR50", "AR75", "AR(M)", "AR(L)")

_BOX_SOURCES = {
    Boxes.GT: "person boxes from the ground truth (inflates AP compared with the detector protocol)",
    Boxes.DETECTIONS: "person boxes from a person detector's results (the standard protocol)",
    None: "person box source not stated",
}


def rescore(keypoint_scores, box_scores, threshold: float = RESCORE_THRESHOLD) -> np.ndarray:
    """Instance scores: box score × mean of the keypoint scores above ``threshold`` (0 when none is).

    Args:
        keypoint_scores: ``N×K`` per-keypoint confidences (heatmap peaks).
        box_scores: ``N`` person-box scores (1.0 for ground-truth boxes).
    """
    s = np.asarray(keypoint_scores, dtype=np.float64)
    box = np.asarray(box_scores, dtype=np.float64)
    if s.ndim != 2 or box.shape != (s.shape[0],):
        raise InputError(f"keypoint scores must be N×K and box scores N, got {s.shape} and {box.shape}")
    above = s > threshold
    n_above = above.sum(axis=1)
    mean = np.divide((s * above).sum(axis=1), n_above, out=np.zeros(len(s)), where=n_above > 0)
    return box * mean


def oks(reference, others, reference_area: float, other_areas, sigmas=None, vis_threshold=None) -> np.ndarray:
    """Object keypoint similarity between one instance and M others, for NMS between predictions.

    ``OKS = mean_k exp(−d_k² / (2 · s · (2σ_k)²))`` with ``s`` the mean of the two instances' areas (px²).

    Args:
        reference: ``K×3`` (x, y, score) in px.
        others: ``M×K×3``.
        reference_area, other_areas: box areas in px² (scalar, ``M``).
        sigmas: ``K`` per-keypoint sigmas (COCO's 17 when None).
        vis_threshold: if set, only keypoints scoring above it in both instances count.

    Returns:
        ``M`` similarities in [0, 1] (0 when no keypoint counts).
    """
    ref = np.asarray(reference, dtype=np.float64)
    oth = np.asarray(others, dtype=np.float64).reshape(-1, *ref.shape)
    sig = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if sig.shape != (ref.shape[0],):
        raise InputError(f"{ref.shape[0]} keypoints but {sig.size} sigmas")
    var = (2.0 * sig) ** 2
    scale = (reference_area + np.asarray(other_areas, dtype=np.float64).reshape(-1)) / 2.0 + np.spacing(1)
    d2 = ((oth[..., :2] - ref[None, :, :2]) ** 2).sum(axis=-1)
    e = d2 / var[None] / scale[:, None] / 2.0
    sim = np.exp(-e)
    if vis_threshold is None:
        return sim.mean(axis=1)
    use = (ref[None, :, 2] > vis_threshold) & (oth[..., 2] > vis_threshold)
    n_use = use.sum(axis=1)
    return np.divide((sim * use).sum(axis=1), n_use, out=np.zeros(len(oth)), where=n_use > 0)


def oks_nms(keypoints, scores, areas, threshold: float = OKS_NMS_THRESHOLD, sigmas=None, vis_threshold=None):
    """Greedy OKS non-maximum suppression of one image's instances.

    Keeps the highest-scored instance, drops every other whose OKS with it exceeds ``threshold``, repeats.
    Ties in score keep input order.

    Args:
        keypoints: ``N×K×3`` (x, y, score) in px.
        scores: ``N`` instance scores.
        areas: ``N`` predicted box areas, px².

    Returns:
        Indices of the kept instances, highest score first.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    if kpts.ndim != 3 or kpts.shape[-1] != 3 or scores.shape != (len(kpts),) or areas.shape != (len(kpts),):
        raise InputError(
            f"oks_nms needs N×K×3 keypoints, N scores and N areas; got {kpts.shape}, {scores.shape}, {areas.shape}"
        )
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        sim = oks(kpts[i], kpts[rest], areas[i], areas[rest], sigmas, vis_threshold)
        order = rest[sim <= threshold]
    return np.asarray(keep, dtype=np.int64)


def coco_results(
    image_ids,
    keypoints,
    box_scores,
    areas,
    sigmas=None,
    rescore_threshold: float = RESCORE_THRESHOLD,
    nms_threshold: float = OKS_NMS_THRESHOLD,
) -> list[dict]:
    """Top-down predictions → the COCO results list: rescoring, then OKS-NMS per image.

    Args:
        image_ids: ``N`` COCO image ids, one per person crop.
        keypoints: ``N×K×3`` (x, y in original-image px, heatmap peak score).
        box_scores: ``N`` person-box scores (1.0 for ground-truth boxes).
        areas: ``N`` predicted box areas in px² (HRNet: the padded crop box, scale_w·scale_h·200²).

    Returns:
        ``[{"image_id": int, "category_id": 1, "keypoints": [3K floats], "score": float}, …]`` grouped by
        image in ascending id order, highest score first within an image.
    """
    ids = np.asarray(image_ids)
    kpts = np.asarray(keypoints, dtype=np.float64)
    if kpts.ndim != 3 or kpts.shape[-1] != 3:
        raise InputError(f"keypoints must be N×K×3 (x, y, score), got shape {kpts.shape}")
    if ids.shape != (len(kpts),):
        raise InputError(f"{len(kpts)} keypoint sets but image ids of shape {ids.shape}")
    if not np.isfinite(kpts).all():
        raise InputError("keypoints contain NaN or inf")
    areas = np.asarray(areas, dtype=np.float64)
    if areas.shape != (len(kpts),):
        raise InputError(f"{len(kpts)} keypoint sets but box areas of shape {areas.shape}")
    scores = rescore(kpts[..., 2], box_scores, rescore_threshold)
    out: list[dict] = []
    for image_id in np.unique(ids):
        members = np.flatnonzero(ids == image_id)
        keep = members[oks_nms(kpts[members], scores[members], areas[members], nms_threshold, sigmas)]
        for i in keep:
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": 1,
                    "keypoints": [float(v) for v in kpts[i].reshape(-1)],
                    "score": float(scores[i]),
                }
            )
    return out


def write_results(results: list[dict], path) -> Path:
    """Write a COCO results list as JSON, atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(results, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_coco_gt(path):
    """Load a COCO ``person_keypoints`` JSON into a pycocotools ``COCO`` object (quietly)."""
    from pycocotools.coco import COCO

    path = require_file(path, "ground-truth file")
    try:
        with path.open() as f:
            dataset = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"ground-truth file {path} is not valid JSON: {exc}") from None
    if not isinstance(dataset, dict) or not {"images", "annotations", "categories"} <= dataset.keys():
        raise InputError(
            f"ground-truth file {path} is not a COCO annotation file (needs images, annotations, categories)"
        )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
    return gt


def load_results(path) -> list[dict]:
    """Read a COCO keypoint results JSON (a list of result dicts)."""
    path = require_file(path, "results file")
    try:
        with path.open() as f:
            results = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"results file {path} is not valid JSON: {exc}") from None
    if not isinstance(results, list):
        raise InputError(f"results file {path} must hold a JSON list of results, got {type(results).__name__}")
    return results


def _num_keypoints(gt) -> int:
    for cat in gt.dataset.get("categories", []):
        if cat.get("keypoints"):
            return len(cat["keypoints"])
    for ann in gt.dataset.get("annotations", []):
        if ann.get("keypoints"):
            return len(ann["keypoints"]) // 3
    raise InputError("the ground truth names no keypoints (no category 'keypoints', no annotation 'keypoints')")


def _validate_results(results: Sequence[dict], gt, k: int) -> None:
    if not results:
        raise InputError("the results list is empty: nothing to score")
    gt_ids = set(gt.getImgIds())
    cat_ids = set(gt.getCatIds())
    unknown: set = set()
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise InputError(f"result {i} is not an object")
        missing = {"image_id", "category_id", "keypoints", "score"} - r.keys()
        if missing:
            raise InputError(f"result {i} lacks {sorted(missing)}")
        if not isinstance(r["image_id"], int) or isinstance(r["image_id"], bool):
            raise InputError(f"result {i} has image_id {r['image_id']!r}; COCO image ids are integers")
        if r["image_id"] not in gt_ids:
            unknown.add(r["image_id"])
        if r["category_id"] not in cat_ids:
            raise InputError(
                f"result {i} has category_id {r['category_id']!r}, not in the ground truth {sorted(cat_ids)}"
            )
        try:
            kp = np.asarray(r["keypoints"], dtype=np.float64)
            score = float(r["score"])
        except (TypeError, ValueError):
            raise InputError(f"result {i} (image {r['image_id']}) has non-numeric keypoints or score") from None
        if kp.shape != (3 * k,):
            raise InputError(
                f"result {i} (image {r['image_id']}) has {kp.size} keypoint values; expected 3×{k} = {3 * k}"
            )
        if not np.isfinite(kp).all() or not np.isfinite(score):
            raise InputError(f"result {i} (image {r['image_id']}) has NaN or inf in its keypoints or score")
    if unknown:
        shown = sorted(unknown, key=str)[:10]
        more = f" and {len(unknown) - len(shown)} more" if len(unknown) > len(shown) else ""
        raise InputError(f"results name image ids not in the ground truth: {shown}{more}")


def coco_keypoint_ap(
    gt,
    results,
    sigmas=None,
    boxes: Boxes | str | None = None,
) -> dict:
    """COCO keypoint AP/AR with pycocotools ``COCOeval(gt, dt, 'keypoints')``.

    Args:
        gt: path to a ``person_keypoints`` JSON, or a pycocotools ``COCO`` object.
        results: a results list (see :func:`coco_results`) or the path of its JSON file. Scored as
            given: rescoring and OKS-NMS are :func:`coco_results`' job.
        sigmas: ``K`` OKS sigmas; COCO's 17 when None (then K must be 17). Set as
            ``params.kpt_oks_sigmas`` after constructing ``COCOeval``.
        boxes: where the person crops came from, stated in the conventions: ``"gt"`` or ``"detections"``.

    Returns:
        ``{"AP", "AP50", "AP75", "AP(M)", "AP(L)", "AR", "AR50", "AR75", "AR(M)", "AR(L)"}`` as fractions in
        [0, 1] (None where pycocotools reports -1: no ground truth in that area range), plus
        ``num_results``, ``num_images`` and ``conventions``.
    """
    from pycocotools.cocoeval import COCOeval

    if boxes not in _BOX_SOURCES:
        raise InputError(f"boxes must be one of {', '.join(Boxes)}, got {boxes!r}")
    coco_gt = gt if hasattr(gt, "loadRes") else load_coco_gt(gt)
    if isinstance(results, (str, os.PathLike)):
        results = load_results(results)
    k = _num_keypoints(coco_gt)
    if sigmas is None:
        if k != len(COCO_SIGMAS):
            raise InputError(f"the ground truth has {k} keypoints, not COCO's 17: pass their OKS sigmas")
        sig = COCO_SIGMAS
    else:
        sig = np.asarray(sigmas, dtype=np.float64)
        if sig.shape != (k,) or not (np.isfinite(sig) & (sig > 0)).all():
            raise InputError(f"sigmas must be {k} positive numbers (one per keypoint), got {sig.tolist()}")
    _validate_results(results, coco_gt, k)

    # loadRes writes area, bbox and id into the dicts it gets: keep the caller's list intact.
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(copy.deepcopy(list(results)))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = sig
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out: dict = {name: (None if v == -1 else float(v)) for name, v in zip(STAT_NAMES, ev.stats)}
    out["num_results"] = len(results)
    out["num_images"] = len({r["image_id"] for r in results})
    sigma_text = "COCO's 17 keypoint values" if sigmas is None else f"custom, {k} values: {sig.tolist()}"
    out["conventions"] = [
        _BOX_SOURCES[boxes],
        f"OKS sigmas: {sigma_text}",
        f"results are scored as given; the standard pipeline (coco_results) rescores instances as box score × "
        f"mean keypoint score above {RESCORE_THRESHOLD} (0 when none) and applies OKS-NMS per image at "
        f"{OKS_NMS_THRESHOLD} with the predicted box area",
        "pycocotools COCOeval 'keypoints': OKS with the ground truth's area, maxDets 20, ground truth with "
        "num_keypoints 0 or iscrowd ignored",
    ]
    return out
