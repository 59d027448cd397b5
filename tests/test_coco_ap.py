"""COCO keypoint AP: rescoring, OKS-NMS, the results file, and pycocotools on the real sample GT."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lspd_bench.data.keypoints import COCO_SIGMAS
from lspd_bench.errors import InputError
from lspd_bench.evaluation.coco_ap import (
    STAT_NAMES,
    coco_keypoint_ap,
    coco_results,
    load_coco_gt,
    oks,
    oks_nms,
    rescore,
    write_results,
)


@pytest.fixture
def real_gt(real_samples) -> Path:
    """The real COCO sample's ground truth (tests/data/coco/test_coco.json)."""
    return Path(real_samples) / "coco" / "test_coco.json"


def _gt_results(path: Path, noise: float = 0.0, seed: int = 0) -> list[dict]:
    """One result per annotated person, at the ground-truth keypoints (+ Gaussian noise in px)."""
    rng = np.random.default_rng(seed)
    out = []
    for ann in json.loads(path.read_text())["annotations"]:
        if ann["num_keypoints"] == 0:
            continue
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        kp[:, :2] += rng.normal(0.0, noise, kp[:, :2].shape) if noise else 0.0
        kp[:, 2] = 1.0
        out.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 1.0})
    return out


def test_rescore_is_box_score_times_mean_of_keypoint_scores_above_0_2():
    scores = np.array([[0.1, 0.3, 0.5], [0.1, 0.2, 0.05], [0.9, 0.9, 0.9]])
    out = rescore(scores, [0.8, 1.0, 0.5])
    assert out == pytest.approx([0.8 * 0.4, 0.0, 0.45])  # 0.2 itself does not pass: strictly above


def test_oks_hand_case():
    ref = np.array([[0.0, 0.0, 1.0], [10.0, 0.0, 1.0]])
    other = np.array([[[3.0, 4.0, 1.0], [10.0, 0.0, 1.0]]])
    sig = np.array([0.05, 0.05])
    # d² = 25, area = (100 + 300) / 2 = 200: exp(−25 / (2 · 200 · 0.1²)) for joint 0, 1 for joint 1
    expected = (math.exp(-25 / (2 * 200 * 0.01)) + 1.0) / 2
    assert oks(ref, other, 100.0, [300.0], sig)[0] == pytest.approx(expected)
    assert oks(ref, ref[None], 100.0, [100.0], sig)[0] == pytest.approx(1.0)
    # with a visibility threshold, a low-scored keypoint drops out of the mean
    low = other.copy()
    low[0, 0, 2] = 0.1
    assert oks(ref, low, 100.0, [300.0], sig, vis_threshold=0.2)[0] == pytest.approx(1.0)


def test_oks_nms_keeps_the_best_of_near_duplicates_and_distinct_people():
    base = np.column_stack([np.linspace(100, 200, 17), np.linspace(50, 300, 17), np.ones(17)])
    kpts = np.stack([base, base + [1.0, 1.0, 0.0], base + [300.0, 0.0, 0.0]])
    keep = oks_nms(kpts, scores=[0.7, 0.9, 0.5], areas=[8000.0] * 3, threshold=0.9)
    assert keep.tolist() == [1, 2]  # 0 overlaps 1 (OKS ≈ 1) and scores lower
    assert oks_nms(kpts, [0.7, 0.9, 0.5], [8000.0] * 3, threshold=1.0).tolist() == [1, 0, 2]


def test_coco_results_rescores_suppresses_per_image_and_formats():
    base = np.column_stack([np.linspace(100, 200, 17), np.linspace(50, 300, 17), np.full(17, 0.5)])
    kpts = np.stack([base, base + [0.5, 0.0, 0.0], base])
    out = coco_results([7, 7, 3], kpts, box_scores=[1.0, 0.5, 0.8], areas=[8000.0] * 3)
    assert [r["image_id"] for r in out] == [3, 7]  # the duplicate in image 7 is gone; 3 is another image
    assert out[1]["score"] == pytest.approx(0.5) and out[0]["score"] == pytest.approx(0.4)
    assert all(r["category_id"] == 1 and len(r["keypoints"]) == 51 for r in out)
    assert isinstance(out[0]["image_id"], int) and isinstance(out[0]["keypoints"][0], float)


def test_write_results_roundtrips(tmp_path):
    results = [{"image_id": 1, "category_id": 1, "keypoints": [1.0, 2.0, 0.5] * 17, "score": 0.9}]
    path = write_results(results, tmp_path / "sub" / "res.json")
    assert json.loads(path.read_text()) == results
    assert [p.name for p in path.parent.iterdir()] == ["res.json"]


def test_ground_truth_keypoints_score_ap_1(real_gt, capsys):
    results = _gt_results(real_gt)
    stats = coco_keypoint_ap(real_gt, results, boxes="gt")
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    assert list(stats)[:10] == list(STAT_NAMES)
    assert "inflates AP" in stats["conventions"][0]
    assert capsys.readouterr().out == ""  # pycocotools' prints are captured
    assert "area" not in results[0]  # the caller's list is not modified by loadRes


def test_perturbed_keypoints_score_lower(real_gt):
    exact = coco_keypoint_ap(real_gt, _gt_results(real_gt))
    noisy = coco_keypoint_ap(load_coco_gt(real_gt), _gt_results(real_gt, noise=8.0))
    assert noisy["AP"] < exact["AP"]
    assert "not stated" in noisy["conventions"][0]


def test_results_file_path_is_accepted(real_gt, tmp_path):
    path = write_results(_gt_results(real_gt), tmp_path / "res.json")
    assert coco_keypoint_ap(real_gt, path, boxes="detections")["AP"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r[0].update(image_id=123456789), r"image ids not in the ground truth: \[123456789\]"),
        (lambda r: r[0].update(keypoints=r[0]["keypoints"][:-3]), "has 48 keypoint values; expected 3×17 = 51"),
        (lambda r: r[1]["keypoints"].__setitem__(4, float("nan")), "result 1 .* NaN"),
        (lambda r: r[0].pop("score"), r"lacks \['score'\]"),
        (lambda r: r.clear(), "empty"),
    ],
)
def test_bad_results_raise_input_error(real_gt, edit, message):
    results = _gt_results(real_gt)
    edit(results)
    with pytest.raises(InputError, match=message):
        coco_keypoint_ap(real_gt, results)


def test_missing_gt_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="ground-truth file not found"):
        coco_keypoint_ap(tmp_path / "nope.json", [])


def _tiny_gt(tmp_path: Path, k: int) -> Path:
    kp = [[10.0 + 5 * i, 20.0 + 3 * i, 2] for i in range(k)]
    gt = {
        "images": [{"id": 1, "width": 200, "height": 200}],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"j{i}" for i in range(k)], "skeleton": []}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "area": 5000.0,
                "bbox": [5, 15, 80, 80],
                "num_keypoints": k,
                "keypoints": [v for p in kp for v in p],
            },
        ],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return path


def test_other_keypoint_counts_need_and_use_their_sigmas(tmp_path):
    path = _tiny_gt(tmp_path, 3)
    res = [{"image_id": 1, "category_id": 1, "keypoints": [10.0, 20.0, 1, 15.0, 23.0, 1, 20.0, 26.0, 1], "score": 1.0}]
    with pytest.raises(InputError, match="3 keypoints, not COCO's 17: pass their OKS sigmas"):
        coco_keypoint_ap(path, res)
    stats = coco_keypoint_ap(path, res, sigmas=[0.05, 0.05, 0.05])
    assert stats["AP"] == pytest.approx(1.0)
    assert stats["AP(L)"] is None  # no large ground truth: pycocotools' −1 becomes null
    with pytest.raises(InputError, match="sigmas must be 3 positive numbers"):
        coco_keypoint_ap(path, res, sigmas=COCO_SIGMAS)
