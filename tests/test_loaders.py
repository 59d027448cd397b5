"""MPII and COCO loaders on real files, and the errors bad input must give before training starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lspd_bench.data.coco import load_coco
from lspd_bench.data.dataset import ArrayImages, FolderImages, PersonRecord, PoseDataset
from lspd_bench.data.mpii import load_mpii, write_gt_mat
from lspd_bench.errors import InputError

# The real samples' files, relative to tests/data (the ``real_samples`` fixture).
MPII_JSON = Path("mpii", "test_mpii.json")
COCO_JSON = Path("coco", "test_coco.json")
COCO_DETS = Path("coco", "test_coco_det_AP_H_56.json")


@pytest.fixture
def real(real_samples) -> Path:
    return Path(real_samples)


def test_mpii_loader_applies_hrnet_conventions(real):
    records = load_mpii(real / MPII_JSON)
    raw = json.loads((real / MPII_JSON).read_text())
    assert len(records) == len(raw) == 5
    for rec, entry in zip(records, raw):
        s = entry["scale"]
        cx, cy = entry["center"]
        np.testing.assert_allclose(rec.center, [cx - 1, cy + 15 * s - 1])
        np.testing.assert_allclose(rec.scale, [1.25 * s, 1.25 * s])
        np.testing.assert_allclose(rec.joints, np.array(entry["joints"]) - 1)
        assert rec.joints_vis.tolist() == [float(v > 0) for v in entry["joints_vis"]]
        assert rec.headbox is None and rec.image == entry["image"]


def test_real_mpii_and_coco_images_feed_the_dataset(real):
    mpii = PoseDataset(load_mpii(real / MPII_JSON), FolderImages(real / "mpii"), (256, 256), (64, 64), train=True)
    item = mpii[0]
    assert item["image"].shape == (3, 256, 256) and item["target"].shape == (16, 64, 64)
    coco = PoseDataset(load_coco(real / COCO_JSON), FolderImages(real / "coco"), (192, 256), (48, 64))
    item = coco[0]
    assert item["image"].shape == (3, 256, 192) and item["target"].shape == (17, 64, 48)
    assert item["target_weight"].sum() > 10


def test_coco_ground_truth_boxes_skip_people_without_keypoints(real):
    raw = json.loads((real / COCO_JSON).read_text())
    kept = [a for a in raw["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    records = load_coco(real / COCO_JSON)
    assert len(raw["annotations"]) == 14 and len(records) == len(kept) == 12
    first, ann = records[0], kept[0]
    x, y, w, h = first.bbox
    # Aspect ratio fixed to 192:256 by growing the short side, then padded by 1.25.
    np.testing.assert_allclose(first.center, [x + w / 2, y + h / 2])
    grown = (w, w / 0.75) if w > 0.75 * h else (h * 0.75, h)
    np.testing.assert_allclose(first.scale, np.array(grown) / 200 * 1.25)
    assert first.scale[0] / first.scale[1] == pytest.approx(0.75)
    kpts = np.array(ann["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(first.joints, kpts[:, :2])
    assert first.joints_vis.tolist() == (kpts[:, 2] > 0).astype(float).tolist()
    assert first.joints_visible.tolist() == (kpts[:, 2] == 2).astype(float).tolist()
    assert first.area == ann["area"] and first.image == "000000000785.jpg"


def test_coco_detection_boxes_respect_the_score_threshold(real):
    gt, detections = real / COCO_JSON, real / COCO_DETS
    dets = json.loads(detections.read_text())
    everything = load_coco(gt, detections)
    confident = load_coco(gt, detections, score_threshold=0.5)
    assert len(everything) == sum(1 for d in dets if d["category_id"] == 1)
    assert len(confident) == sum(1 for d in dets if d["category_id"] == 1 and d["score"] >= 0.5) < len(everything)
    assert all(r.score >= 0.5 and r.joints_vis.sum() == 0 for r in confident)
    assert confident[0].source.endswith("test_coco_det_AP_H_56.json")
    with pytest.raises(InputError, match=r"test_coco_det_AP_H_56.json: no person detections with score >= 1.5"):
        load_coco(gt, detections, score_threshold=1.5)


def test_mpii_test_split_without_joints_and_gt_mat(tmp_path):
    entries = [
        {"image": "a.jpg", "center": [50.0, 60.0], "scale": 1.0},
        {"image": "b.jpg", "center": [-1, -1], "scale": 2.0},
    ]
    (tmp_path / "test.json").write_text(json.dumps(entries))
    records = load_mpii(tmp_path / "test.json")
    assert records[0].joints_vis.sum() == 0 and records[0].joints.shape == (16, 2)
    np.testing.assert_allclose(records[1].center, [-2, -2])  # centre −1 is "unknown": not moved, not padded
    np.testing.assert_allclose(records[1].scale, [2.0, 2.0])
    joints = np.arange(2 * 16 * 2, dtype=float).reshape(2, 16, 2) + 1
    missing = np.zeros((2, 16))
    missing[1, 3] = 1
    boxes = np.array([[[10, 10], [30, 40]], [[5, 5], [9, 9]]], dtype=float)
    write_gt_mat(tmp_path / "gt.mat", joints, missing, boxes)
    with_gt = load_mpii(tmp_path / "test.json", tmp_path / "gt.mat")
    np.testing.assert_allclose(with_gt[1].joints, joints[1] - 1)
    assert with_gt[1].joints_vis[3] == 0 and with_gt[1].joints_vis.sum() == 15
    np.testing.assert_allclose(with_gt[0].headbox, boxes[0] - 1)
    write_gt_mat(tmp_path / "gt3.mat", np.ones((3, 16, 2)), np.zeros((3, 16)), np.ones((3, 2, 2)))
    with pytest.raises(InputError, match=r"gt3.mat: holds 3 people but .*test.json has 2 entries"):
        load_mpii(tmp_path / "test.json", tmp_path / "gt3.mat")


def _mpii_entry(image="a.png", joints=16):
    return {
        "image": image,
        "center": [20.0, 20.0],
        "scale": 0.2,
        "joints": [[10.0, 10.0]] * joints,
        "joints_vis": [1] * joints,
    }


def test_bad_mpii_files_name_the_file_and_entry(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image": ')
    with pytest.raises(InputError, match=r"bad.json: not valid JSON"):
        load_mpii(bad)
    bad.write_text(json.dumps({"image": "a.png"}))
    with pytest.raises(InputError, match=r"bad.json: expected a JSON list"):
        load_mpii(bad)
    bad.write_text(json.dumps([_mpii_entry(), _mpii_entry(joints=15)]))
    with pytest.raises(InputError, match=r"bad.json: entry 1: 'joints' must have shape \(16, 2\), got \(15, 2\)"):
        load_mpii(bad)
    bad.write_text(json.dumps([{"image": "a.png", "center": [1, 2]}]))
    with pytest.raises(InputError, match=r"bad.json: entry 0: missing key 'scale'"):
        load_mpii(bad)
    with pytest.raises(InputError, match="MPII annotation file not found"):
        load_mpii(tmp_path / "absent.json")
    bad.write_text("[]")
    with pytest.raises(InputError, match=r"bad.json: no entries \(the split is empty\)"):
        load_mpii(bad)


def test_bad_coco_files_name_the_annotation(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "keypoints": [1, 1, 2] * 16}],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"coco.json: annotations\[0\] \(id 9\): 'keypoints' must hold 17×3 = 51"):
        load_coco(path)
    doc["annotations"][0]["image_id"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="unknown image_id 2"):
        load_coco(path)
    path.write_text(json.dumps([]))
    with pytest.raises(InputError, match="expected a COCO object"):
        load_coco(path)
    doc["annotations"][0].update(image_id=1, keypoints=[0, 0, 0] * 17, num_keypoints=0)
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="coco.json: no usable people"):
        load_coco(path)


def test_dataset_construction_catches_missing_images_and_mismatches(tmp_path):
    (tmp_path / "imgs").mkdir()
    ann = tmp_path / "mpii.json"
    ann.write_text(json.dumps([_mpii_entry("a.png"), _mpii_entry("missing.png")]))
    from PIL import Image

    Image.new("RGB", (40, 40)).save(tmp_path / "imgs" / "a.png")
    records = load_mpii(ann)
    with pytest.raises(InputError, match=r"mpii.json: entry 1: image file not found: .*missing.png"):
        PoseDataset(records, FolderImages(tmp_path / "imgs"), (64, 64))
    with pytest.raises(InputError, match="the split is empty"):
        PoseDataset([], FolderImages(tmp_path / "imgs"), (64, 64))
    with pytest.raises(InputError, match=r"entry 0: expected 17 joints"):
        PoseDataset(records[:1], FolderImages(tmp_path / "imgs"), (64, 64), num_joints=17)
    with pytest.raises(InputError, match="image folder not found"):
        FolderImages(tmp_path / "nowhere")


def test_image_arrays_are_checked_for_shape_and_index(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(InputError, match=r"flat.npy: expected an N×H×W×3 uint8 image array, got shape \(2, 8, 8\)"):
        ArrayImages(tmp_path / "flat.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="junk.npy: not a readable .npy array"):
        ArrayImages(tmp_path / "junk.npy")
    np.save(tmp_path / "ok.npy", np.zeros((2, 8, 8, 3), np.uint8))
    rec = PersonRecord(
        0, 5, np.array([4.0, 4.0]), np.array([0.05, 0.05]), np.zeros((16, 2)), np.ones(16), source="ann.json", entry=3
    )
    with pytest.raises(InputError, match=r"ann.json: entry 3: image index 5 is not in .*ok.npy \(2 images\)"):
        PoseDataset([rec], ArrayImages(tmp_path / "ok.npy"), (32, 32))
