"""The synthetic benchmark: determinism, exact MPII/COCO exports, visibility, silhouettes."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lspd_bench.data.coco import load_coco
from lspd_bench.data.keypoints import COCO_JOINTS
from lspd_bench.data.mpii import load_mpii
from lspd_bench.data.synth import (
    BODY_JOINTS,
    COCO_FROM_BODY,
    SynthConfig,
    generate_dataset,
    load_synth,
    preset,
    render_sample,
)
from lspd_bench.errors import InputError

TINY = SynthConfig(n_train=6, n_val=5, size=64)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth")
    return root, generate_dataset(root, TINY, seed=7, workers=1, chunk=4)


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def test_same_seed_gives_the_same_bytes_whatever_the_workers_and_chunks(tiny, tmp_path):
    root, meta = tiny
    seen: list[tuple[int, int]] = []
    again = generate_dataset(tmp_path, TINY, seed=7, workers=2, chunk=3, progress=lambda *a: seen.append(a))
    assert _files(tmp_path) == _files(root)
    assert seen == [(3, 11), (6, 11), (9, 11), (11, 11)]  # a call per chunk: train 3 + 3, val 3 + 2
    assert again["fingerprint"] == meta["fingerprint"]
    assert set(_files(root)) == {
        "meta.json",
        "train_images.npy",
        "val_images.npy",
        "train_mpii.json",
        "val_mpii.json",
        "train_coco.json",
        "val_coco.json",
        "gt_valid.mat",
    }


def test_fingerprint_follows_the_content(tiny, tmp_path):
    _, meta = tiny
    other = generate_dataset(tmp_path, replace(TINY, n_val=1), seed=8, workers=1)
    assert other["fingerprint"] != meta["fingerprint"]
    assert meta["version"] >= 1 and meta["seed"] == 7 and meta["counts"] == {"train": 6, "val": 5}
    assert meta["config"]["occluder_prob"] == TINY.occluder_prob


def test_images_are_one_memory_mapped_uint8_array_per_split(tiny):
    root, _ = tiny
    images = np.load(root / "train_images.npy", mmap_mode="r")
    assert isinstance(images, np.memmap) and images.shape == (6, 64, 64, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[3], render_sample(TINY, 7, "train", 3).image)
    assert images.std() > 10  # not blank


def test_mpii_export_is_1_based_and_the_loader_recovers_the_rendered_joints(tiny):
    root, _ = tiny
    entries = json.loads((root / "val_mpii.json").read_text())
    records = load_mpii(root / "val_mpii.json")
    for i, (entry, rec) in enumerate(zip(entries, records)):
        sample = render_sample(TINY, 7, "val", i)
        np.testing.assert_allclose(np.array(entry["joints"]) - 1, sample.joints[:16], atol=1e-9)
        np.testing.assert_allclose(rec.joints, sample.joints[:16], atol=1e-9)
        assert entry["joints_vis"] == sample.in_image[:16].astype(int).tolist()
        assert entry["joints_visible"] == sample.visible[:16].astype(int).tolist()
        np.testing.assert_allclose(rec.headbox, sample.headbox, atol=1e-9)
        # After the loader's +15·scale shift the crop is centred on the figure, 1.25× its size.
        x1, y1, x2, y2 = sample.extent
        np.testing.assert_allclose(rec.center, [(x1 + x2) / 2, (y1 + y2) / 2], atol=0.02)
        assert rec.scale[0] == pytest.approx(1.25 * max(x2 - x1, y2 - y1) / 200, rel=1e-4)


def test_gt_valid_mat_has_the_mpii_evaluation_layout(tiny):
    root, _ = tiny
    mat = scipy.io.loadmat(root / "gt_valid.mat")
    entries = json.loads((root / "val_mpii.json").read_text())
    assert mat["jnt_missing"].shape == (16, 5) and mat["pos_gt_src"].shape == (16, 2, 5)
    assert mat["headboxes_src"].shape == (2, 2, 5) and mat["dataset_joints"].shape == (1, 16)
    for i, entry in enumerate(entries):
        np.testing.assert_array_equal(mat["jnt_missing"][:, i], 1 - np.array(entry["joints_vis"]))
        np.testing.assert_allclose(mat["pos_gt_src"][:, :, i], entry["joints"])
        np.testing.assert_allclose(mat["headboxes_src"][:, :, i], entry["headbox"])
    with_mat = load_mpii(root / "val_mpii.json", root / "gt_valid.mat")
    assert all(np.allclose(a.joints, b.joints) for a, b in zip(with_mat, load_mpii(root / "val_mpii.json")))


def test_coco_export_is_exact_for_pycocotools(tiny):
    root, _ = tiny
    doc = json.loads((root / "val_coco.json").read_text())
    assert doc["categories"][0]["keypoints"][:3] == ["nose", "left_eye", "right_eye"]
    assert len(doc["categories"][0]["skeleton"]) == 19
    for i, ann in enumerate(doc["annotations"]):
        sample = render_sample(TINY, 7, "val", i)
        kpts = np.array(ann["keypoints"]).reshape(17, 3)
        body = COCO_FROM_BODY
        expected_v = np.where(~sample.in_image[body], 0, np.where(sample.visible[body], 2, 1))
        np.testing.assert_array_equal(kpts[:, 2], expected_v)
        np.testing.assert_allclose(kpts[expected_v > 0, :2], sample.joints[body][expected_v > 0])
        assert (kpts[expected_v == 0, :2] == 0).all()
        assert ann["num_keypoints"] == int((expected_v > 0).sum())
        assert ann["area"] == pytest.approx(float(sample.silhouette.sum()))
        assert ann["iscrowd"] == 0 and ann["image_id"] == doc["images"][i]["id"]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(root / "val_coco.json"))
        results = [
            {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in doc["annotations"]
        ]
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_silhouette_area_and_box_describe_the_visible_person():
    for index in range(4):
        s = render_sample(TINY, 1, "train", index)
        assert s.area == pytest.approx(float(s.silhouette.sum()), abs=0.01)
        assert 0 < s.area < 64 * 64
        x, y, w, h = s.bbox.astype(int)
        inside = s.silhouette[y : y + h, x : x + w].sum()
        assert inside == pytest.approx(s.silhouette.sum())


def test_occluders_hide_the_joints_they_cover():
    # The figure, its placement and clothes are drawn before the occluders, so the same seed gives the
    # same person with and without them.
    plain = replace(TINY, occluder_prob=0.0)
    covered = replace(TINY, occluder_prob=1.0, occluder_size=(0.3, 0.4))
    hidden = 0
    for index in range(12):
        a = render_sample(plain, 2, "val", index)
        b = render_sample(covered, 2, "val", index)
        np.testing.assert_array_equal(a.joints, b.joints)
        assert not (b.visible & ~a.visible).any()
        for j in np.nonzero(a.visible & ~b.visible)[0]:
            x, y = np.rint(b.joints[j]).astype(int)
            assert b.silhouette[y, x] < 1.0  # something other than the person is on top there
            hidden += 1
        assert b.area <= a.area
    assert hidden > 5


def test_joints_outside_the_image_are_not_annotated():
    cfg = replace(TINY, truncation_prob=1.0, truncation_max=0.5)
    outside = 0
    for index in range(8):
        s = render_sample(cfg, 3, "train", index)
        in_bounds = ((s.joints >= -0.5) & (s.joints < 63.5)).all(axis=1)
        np.testing.assert_array_equal(s.in_image, in_bounds)
        assert not (s.visible & ~s.in_image).any()
        outside += int((~s.in_image).sum())
    assert outside > 0


def test_left_and_right_follow_the_persons_view_for_body_and_face():
    joint = {name: i for i, name in enumerate(BODY_JOINTS)}
    for back, sign in ((0.0, -1.0), (1.0, 1.0)):
        # Facing the camera the person's right is on the image's left; seen from behind, on its right.
        cfg = replace(TINY, back_view_prob=back, rotation_prob=0.0)
        for index in range(30):
            x = render_sample(cfg, 5, "train", index).joints[:, 0]
            shoulders = x[joint["r_shoulder"]] - x[joint["l_shoulder"]]
            ears = x[joint["r_ear"]] - x[joint["l_ear"]]
            assert np.sign(shoulders) in (sign, 0.0)
            assert np.sign(ears) in (np.sign(shoulders), 0.0)


def test_face_joints_follow_the_view():
    cfg = replace(TINY, back_view_prob=1.0, occluder_prob=0.0, truncation_prob=0.0, hard_pose_prob=0.0)
    nose, l_eye = BODY_JOINTS.index("nose"), BODY_JOINTS.index("l_eye")
    for index in range(6):
        s = render_sample(cfg, 4, "train", index)
        assert not s.visible[nose] and not s.visible[l_eye]  # seen from behind


def test_loading_a_split_through_both_keypoint_formats(tiny):
    root, _ = tiny
    records, images = load_synth(root, "val")
    assert len(records) == 5 and records[2].image == 2 and records[2].num_joints == 16
    assert np.asarray(records[0].headbox).shape == (2, 2) and np.asarray(records[0].joints_visible).shape == (16,)
    coco_records, _ = load_synth(root, "val", keypoints="coco")
    assert {r.num_joints for r in coco_records} == {len(COCO_JOINTS)}
    assert all(isinstance(r.image, int) for r in coco_records)
    assert len(load_coco(root / "train_coco.json")) == 6
    assert images.load(4).shape == (64, 64, 3)


def test_bad_configuration_is_rejected_by_name():
    with pytest.raises(InputError, match="occluder_prob"):
        preset("ci", occluder_prob=1.5)
    with pytest.raises(InputError, match="unknown synth preset"):
        preset("huge")
    with pytest.raises(InputError, match="unknown synth config keys: colour"):
        preset("ci", colour=1)
    with pytest.raises(InputError, match="n_val"):
        preset("ci", n_val=0)
    assert preset("quick").size == 128 and preset("ci").n_train == 2048
