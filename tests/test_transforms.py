"""Crop geometry, warping, augmentation and heatmap targets."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lspd_bench.data.dataset import ArrayImages, PersonRecord, PoseDataset
from lspd_bench.data.keypoints import MPII_FLIP_PAIRS, MPII_JOINTS
from lspd_bench.data.targets import default_sigma, generate_targets
from lspd_bench.data.transforms import (
    AugmentConfig,
    affine_points,
    get_affine_transform,
    invert_affine,
    sample_augmentation,
    warp_image,
)


def _three_point_reference(center, scale, rot, output_size, shift=(0.0, 0.0), inv=False):
    """HRNet's definition: map the box centre and the rotated top-centre point (plus the point 90° from
    it) onto the output centre and top-centre, solved as a 3-point affine system."""
    center = np.asarray(center, float)
    box = np.asarray(scale, float) * 200.0
    dst_w, dst_h = output_size
    r = np.deg2rad(rot)
    up = np.array([0.0, -box[0] * 0.5])
    src_dir = np.array([up[0] * np.cos(r) - up[1] * np.sin(r), up[0] * np.sin(r) + up[1] * np.cos(r)])
    src = np.zeros((3, 2))
    dst = np.zeros((3, 2))
    src[0] = center + box * np.asarray(shift)
    src[1] = src[0] + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + [0.0, -dst_w * 0.5]
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + [-d[1], d[0]]
    a, b = (dst, src) if inv else (src, dst)
    return np.linalg.solve(np.hstack([a, np.ones((3, 1))]), b).T


@pytest.mark.parametrize(
    "args",
    [
        ((100.0, 80.0), (1.3, 1.3), 0.0, (64, 64), (0.0, 0.0)),
        ((100.0, 80.0), (1.3, 1.3), 30.0, (64, 64), (0.0, 0.0)),
        ((50.0, 60.0), (0.72, 0.96), -45.0, (48, 64), (0.1, -0.2)),
        ((640.0, 300.0), (4.0, 4.0), 170.0, (256, 256), (0.0, 0.05)),
    ],
)
@pytest.mark.parametrize("inv", [False, True])
def test_affine_matches_hrnet_three_point_definition(args, inv):
    center, scale, rot, size, shift = args
    ours = get_affine_transform(center, scale, rot, size, shift=shift, inv=inv)
    assert ours.shape == (2, 3) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, _three_point_reference(center, scale, rot, size, shift, inv), atol=1e-9)


def test_affine_maps_box_centre_to_output_centre_and_inverse_undoes_it():
    m = get_affine_transform((300.0, 200.0), (1.5, 2.0), 25.0, (192, 256))
    np.testing.assert_allclose(affine_points([[300.0, 200.0]], m), [[96.0, 128.0]])
    back = get_affine_transform((300.0, 200.0), (1.5, 2.0), 25.0, (192, 256), inv=True)
    pts = np.random.default_rng(0).uniform(0, 500, (20, 2))
    np.testing.assert_allclose(affine_points(affine_points(pts, m), back), pts, atol=1e-9)
    np.testing.assert_allclose(invert_affine(m), back, atol=1e-12)


def test_warp_puts_an_image_point_where_affine_points_maps_it():
    image = np.zeros((50, 60, 3), np.uint8)
    image[20, 33] = 255  # pixel (x=33, y=20)
    m = get_affine_transform((30.0, 25.0), (0.3, 0.3), 25.0, (80, 80))
    out = warp_image(image, m, (80, 80))[..., 0].astype(float)
    ys, xs = np.mgrid[:80, :80]
    centroid = [(out * xs).sum() / out.sum(), (out * ys).sum() / out.sum()]
    np.testing.assert_allclose(centroid, affine_points([[33.0, 20.0]], m)[0], atol=0.05)


def _peak(heatmap: np.ndarray) -> np.ndarray:
    """Sub-pixel peak of a Gaussian heatmap: a parabola through the log of the argmax and its neighbours."""
    y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    log = np.log(np.maximum(heatmap, 1e-30))

    def offset(a, b, c):
        return 0.5 * (a - c) / (a - 2 * b + c)

    return np.array(
        [x + offset(log[y, x - 1], log[y, x], log[y, x + 1]), y + offset(log[y - 1, x], log[y, x], log[y + 1, x])]
    )


def test_targets_peak_at_the_joint_with_sigma_scaled_to_the_heatmap():
    joints = np.array([[40.5, 20.25], [10.0, 100.0], [500.0, 10.0]])
    target, weight = generate_targets(joints, [1, 0, 1], (128, 128), (32, 32))
    assert target.shape == (3, 32, 32) and weight.shape == (3, 1)
    np.testing.assert_allclose(_peak(target[0]), joints[0] / 4.0, atol=1e-6)
    assert weight[:, 0].tolist() == [1.0, 0.0, 0.0]  # unlabelled, then outside the heatmap
    assert not target[1].any() and not target[2].any()
    assert default_sigma((64, 64)) == 2.0 and default_sigma((48, 64)) == 2.0 and default_sigma((32, 32)) == 1.0
    # σ = 1 px at a 32-px heatmap: one pixel away the value is exp(−1/2).
    t, _ = generate_targets([[64.0, 64.0]], [1], (128, 128), (32, 32))
    assert t[0, 16, 16] == pytest.approx(1.0) and t[0, 16, 17] == pytest.approx(np.exp(-0.5), rel=1e-6)


def _dataset(tmp_path, train=True, aug=None, n=4, seed=3) -> PoseDataset:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "images.npy", rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8))
    records = []
    for i in range(n):
        joints = rng.uniform(30, 66, (16, 2))
        records.append(
            PersonRecord(
                i,
                i,
                np.array([48.0, 48.0]),
                np.array([0.3, 0.3]),
                joints,
                np.ones(16, np.float32),
                source="test",
                entry=i,
            )
        )
    return PoseDataset(
        records, ArrayImages(tmp_path / "images.npy"), (64, 64), (16, 16), train=train, aug=aug, seed=seed
    )


def test_joints_round_trip_through_augmentation_and_the_heatmap_inverse(tmp_path):
    ds = _dataset(tmp_path, aug=AugmentConfig(rot_prob=1.0, flip_prob=0.5))
    perm = ds.flip_perm
    for index in range(len(ds)):
        for epoch in range(3):
            ds.set_epoch(epoch)
            s = ds.sample_arrays(index)
            stride = 64 / 16
            found = []
            for j in range(16):
                if s["target_weight"][j, 0] > 0:
                    found.append(j)
            back = affine_points(np.array([_peak(s["target"][j]) * stride for j in found]), invert_affine(s["matrix"]))
            source = perm[found] if s["flipped"] else np.array(found)
            np.testing.assert_allclose(back, ds.records[index].joints[source], atol=0.5)
            # The mapping itself is exact; the 0.5 px budget is for reading the peak off the heatmap.
            exact = affine_points(s["joints"] * 1.0, invert_affine(s["matrix"]))
            np.testing.assert_allclose(exact[found], ds.records[index].joints[source], atol=1e-9)


def test_evaluation_heatmaps_map_back_with_the_heatmap_sized_affine(tmp_path):
    ds = _dataset(tmp_path, train=False)
    rec = ds.records[1]
    s = ds.sample_arrays(1)
    back = get_affine_transform(rec.center, rec.scale, 0.0, ds.heatmap_size, inv=True)
    peaks = np.array([_peak(s["target"][j]) for j in range(16)])
    np.testing.assert_allclose(affine_points(peaks, back), rec.joints, atol=0.5)


def test_flip_mirrors_the_crop_and_swaps_left_and_right_labels(tmp_path):
    ds = _dataset(tmp_path, aug=AugmentConfig(scale_factor=0.0, rot_prob=0.0, flip_prob=1.0))
    plain = _dataset(tmp_path, train=False)
    s, p = ds.sample_arrays(0), plain.sample_arrays(0)
    assert s["flipped"]
    # Pillow's fixed-point bilinear sampling may round a mirrored pixel one grey level differently.
    assert np.abs(s["image"].astype(int) - p["image"][:, ::-1]).max() <= 1
    r_ankle, l_ankle = MPII_JOINTS.index("r_ankle"), MPII_JOINTS.index("l_ankle")
    assert (r_ankle, l_ankle) in MPII_FLIP_PAIRS
    # The joint labelled r_ankle after the flip sits at the mirrored position of the original l_ankle.
    np.testing.assert_allclose(s["joints"][r_ankle], [63 - p["joints"][l_ankle][0], p["joints"][l_ankle][1]])


def test_augmentation_stays_within_its_limits():
    rng = np.random.default_rng(1)
    cfg = AugmentConfig()
    draws = [
        sample_augmentation(rng, cfg, [0, 0], [1.0, 1.0], np.zeros((16, 2)), np.ones(16), 1.0) for _ in range(2000)
    ]
    zooms = np.array([d.scale[0] for d in draws])
    rots = np.array([d.rot for d in draws])
    assert zooms.min() >= 0.75 and zooms.max() <= 1.25
    assert np.abs(rots).max() <= 30.0
    assert 0.5 < np.mean(rots != 0) < 0.7  # rotation with probability 0.6
    assert 0.4 < np.mean([d.flip for d in draws]) < 0.6


def test_half_body_crops_around_the_chosen_half():
    joints = np.array([[float(i), 10.0 * i] for i in range(17)])
    upper = tuple(range(11))
    cfg = AugmentConfig(half_body_prob=1.0, scale_factor=0.0, rot_prob=0.0, flip_prob=0.0)
    centers = set()
    for seed in range(20):
        d = sample_augmentation(
            np.random.default_rng(seed), cfg, [100, 100], [5.0, 5.0], joints, np.ones(17), 0.75, upper
        )
        centers.add(tuple(np.round(d.center, 6)))
        assert d.scale[0] / d.scale[1] == pytest.approx(0.75)
    assert centers == {tuple(joints[:11].mean(0)), tuple(joints[11:].mean(0))}


def test_augmentation_is_reproducible_whatever_the_workers(tmp_path):
    ds = _dataset(tmp_path, n=6)
    ds.set_epoch(2)
    forward = [ds[i]["image"] for i in range(6)]
    backward = [ds[i]["image"] for i in reversed(range(6))][::-1]
    copy = pickle.loads(pickle.dumps(ds))  # what a spawned worker receives
    for a, b in zip(forward, backward):
        assert torch.equal(a, b)
    assert all(torch.equal(copy[i]["image"], forward[i]) for i in range(6))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork")
    batched = torch.cat([batch["image"] for batch in loader])
    assert torch.equal(batched, torch.stack(forward))
    ds.set_epoch(3)
    assert not all(torch.equal(ds[i]["image"], forward[i]) for i in range(6))


def test_item_is_normalised_with_imagenet_statistics(tmp_path):
    np.save(tmp_path / "grey.npy", np.full((1, 32, 32, 3), 128, np.uint8))
    rec = PersonRecord(0, 0, np.array([15.5, 15.5]), np.array([0.16, 0.16]), np.full((16, 2), 15.5), np.ones(16))
    item = PoseDataset([rec], ArrayImages(tmp_path / "grey.npy"), (32, 32))[0]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    expected = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(item["image"][:, 16, 16].numpy(), expected, rtol=1e-5)
    assert item["target"].shape == (16, 8, 8) and item["target_weight"].shape == (16, 1)
    assert item["meta"]["index"] == 0 and item["meta"]["center"].tolist() == [15.5, 15.5]
