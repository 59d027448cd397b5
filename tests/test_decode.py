"""Heatmap decoding: quarter-pixel argmax, DARK, flip test, and the way back to image px."""

from __future__ import annotations

import numpy as np
import pytest

from lspd_bench.data.keypoints import MPII_FLIP_PAIRS
from lspd_bench.data.transforms import affine_points, get_affine_transform
from lspd_bench.errors import InputError
from lspd_bench.evaluation.decode import (
    decode,
    flip_back,
    flip_test_average,
    get_final_preds,
    get_max_preds,
    transform_preds,
)


def _gaussian(h: int, w: int, x: float, y: float, sigma: float = 2.0) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def test_argmax_moves_a_quarter_pixel_towards_the_higher_neighbour():
    hm = np.zeros((1, 1, 8, 10))
    hm[0, 0, 3, 5] = 1.0
    hm[0, 0, 3, 6] = 0.5  # right neighbour higher than the left (0)
    hm[0, 0, 2, 5] = hm[0, 0, 4, 5] = 0.2  # equal vertical neighbours: no y shift
    coords, maxvals = get_max_preds(hm)
    assert coords[0, 0].tolist() == [5.25, 3.0]
    assert maxvals[0, 0, 0] == 1.0
    hm[0, 0, 2, 5] = 0.3  # now the upper neighbour wins
    assert get_max_preds(hm)[0][0, 0].tolist() == [5.25, 2.75]


def test_no_shift_where_a_neighbour_is_missing_and_empty_maps_go_to_origin():
    hm = np.zeros((1, 2, 8, 10))
    hm[0, 0, 7, 0] = 1.0  # bottom-left corner
    hm[0, 0, 6, 0] = hm[0, 0, 7, 1] = 0.5
    coords, maxvals = get_max_preds(hm)
    assert coords[0, 0].tolist() == [0.0, 7.0]
    assert coords[0, 1].tolist() == [0.0, 0.0] and maxvals[0, 1, 0] == 0.0  # all-zero heatmap


def test_dark_recovers_a_subpixel_peak_better_than_argmax():
    truth = np.array([[20.3, 30.6], [7.8, 12.45]])
    hm = np.stack([_gaussian(64, 48, x, y) for x, y in truth])[None]
    dark, _ = decode(hm, method="dark")
    argmax, _ = decode(hm, method="argmax")
    dark_err = np.abs(dark[0] - truth).max()
    assert dark_err < 0.05
    assert dark_err < np.abs(argmax[0] - truth).max()


def test_dark_keeps_the_integer_argmax_at_the_border():
    hm = _gaussian(16, 16, 0.0, 8.0)[None, None]
    coords, maxvals = decode(hm, method="dark")
    assert coords[0, 0, 0] == 0.0 and maxvals[0, 0, 0] == 1.0


def test_unknown_method_and_bad_shapes_are_input_errors():
    with pytest.raises(InputError, match="unknown decode method 'soft'"):
        decode(np.zeros((1, 1, 4, 4)), method="soft")
    with pytest.raises(InputError, match=r"B×J×h×w"):
        decode(np.zeros((4, 4)))
    with pytest.raises(InputError, match="odd"):
        decode(np.zeros((1, 1, 4, 4)), method="dark", blur_kernel=4)


def test_flip_back_mirrors_width_and_swaps_left_right_channels():
    rng = np.random.default_rng(0)
    hm = rng.random((2, 16, 4, 5))
    back = flip_back(hm, MPII_FLIP_PAIRS)
    assert np.array_equal(back[:, 0], hm[:, 5, :, ::-1])  # r_ankle ← mirrored l_ankle
    assert np.array_equal(back[:, 9], hm[:, 9, :, ::-1])  # head_top has no twin
    assert np.array_equal(flip_back(back, MPII_FLIP_PAIRS), hm)


def test_flip_test_average_shifts_the_flipped_maps_one_pixel_right():
    w = 8
    plain = np.zeros((1, 16, 3, w))
    flipped_input = np.zeros((1, 16, 3, w))
    flipped_input[0, 5, 1, 2] = 1.0  # l_ankle channel of the flipped input, column 2
    avg = flip_test_average(plain, flipped_input, MPII_FLIP_PAIRS, shift=True)
    # flip back: r_ankle at column w-1-2 = 5; shift: column 6; averaged with zeros: 0.5
    assert avg[0, 0, 1, 6] == 0.5 and avg.sum() == 0.5
    unshifted = flip_test_average(plain, flipped_input, MPII_FLIP_PAIRS, shift=False)
    assert unshifted[0, 0, 1, 5] == 0.5


def test_transform_preds_inverts_the_crop_affine():
    center, scale, hm_size = np.array([300.0, 200.0]), np.array([1.2, 1.6]), (48, 64)
    image_pts = np.array([[250.0, 150.0], [330.5, 260.25], [300.0, 200.0]])
    forward = get_affine_transform(center, scale, 0.0, hm_size)
    hm_pts = affine_points(image_pts, forward)
    back = transform_preds(hm_pts[None], center[None], scale[None], hm_size)
    assert back[0] == pytest.approx(image_pts)


def test_transform_preds_hand_case():
    # A 64-px box mapped onto a 64-px-wide heatmap: zoom 1, heatmap centre (32, 32) = box centre.
    out = transform_preds(np.array([[32.0, 32.0], [0.0, 0.0]]), [100.0, 100.0], [0.32, 0.32], (64, 64))
    assert out == pytest.approx(np.array([[100.0, 100.0], [68.0, 68.0]]))


def test_get_final_preds_goes_from_heatmaps_to_image_px():
    hm = np.zeros((1, 1, 64, 64))
    hm[0, 0, 32, 32] = 1.0
    preds, maxvals = get_final_preds(hm, [[100.0, 100.0]], [[0.64, 0.64]])
    assert preds[0, 0] == pytest.approx([100.0, 100.0]) and maxvals[0, 0, 0] == 1.0


def test_transform_preds_rejects_count_mismatch():
    with pytest.raises(InputError, match="2 people but 1 centres"):
        transform_preds(np.zeros((2, 16, 2)), [[0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]], (48, 64))
