"""Real image files: a crop is decoded at the coarsest scale it allows and lands where the full decode puts it."""

import numpy as np
import pytest
from PIL import Image

from lspd_bench.data.dataset import FolderImages, PoseDataset, decode_reduction
from lspd_bench.data.mpii import load_mpii
from lspd_bench.data.transforms import AugmentConfig, get_affine_transform, warp_image

MPII = "tests/data/mpii"


@pytest.mark.parametrize(
    "zoom, reduction", [(2.0, 1), (1.0, 1), (0.6, 1), (0.5, 2), (0.3, 2), (0.25, 4), (0.2, 4), (0.1, 8), (0.01, 8)]
)
def test_the_decoding_scale_keeps_a_decoded_pixel_per_output_pixel(zoom, reduction):
    matrix = get_affine_transform(np.array([300.0, 200.0]), np.array([1.0, 1.0]) * 256 / (200 * zoom), 30.0, (256, 256))
    assert decode_reduction(matrix) == reduction


@pytest.mark.parametrize("reduction", [2, 4])
def test_a_reduced_decode_puts_every_pixel_where_the_full_image_has_it(tmp_path, reduction):
    # A horizontal ramp, two grey levels a pixel (so the averages of 2 or 4 pixels are whole levels): a
    # misplaced pixel centre shows as a shifted level.
    ramp = np.tile((2 * np.arange(128)).astype(np.uint8)[None, :, None], (64, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    out = 128 // reduction
    matrix = get_affine_transform(np.array([63.5, 31.5]), np.array([128.0, 128.0]) / 200, 0.0, (out, out))
    assert decode_reduction(matrix) == reduction
    crop = FolderImages(tmp_path).warp("ramp.png", matrix, (out, out)).astype(float)
    source_x = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[0] @ np.stack(
        [np.arange(out, dtype=float), np.zeros(out), np.ones(out)]
    )
    inside = (source_x > reduction) & (source_x < 127 - reduction)  # away from the black border
    error = crop[out // 2, inside, 0] - 2 * source_x[inside]
    assert abs(error.mean()) < 0.3 and np.abs(error).max() < 1.0


def test_a_real_jpeg_crop_matches_the_full_pillow_decode_in_colour_and_place():
    images = FolderImages(MPII)
    for scale, most in ((2.0, 1.0), (5.0, 4.0)):  # a crop at full scale, and one decoded at 1/2
        matrix = get_affine_transform(np.array([640.0, 360.0]), np.array([scale, scale]), 20.0, (256, 256))
        fast = images.warp("004645041.jpg", matrix, (256, 256)).astype(float)
        full = warp_image(images.load("004645041.jpg"), matrix, (256, 256)).astype(float)
        assert fast.shape == full.shape == (256, 256, 3)
        assert np.abs(fast - full).mean() < most  # a swapped channel or a shifted crop is tens of levels off
        assert np.allclose(fast.mean((0, 1)), full.mean((0, 1)), atol=1.0)


def test_a_training_sample_is_the_same_by_index_after_set_epoch_and_by_epoch_and_index():
    records = load_mpii(f"{MPII}/test_mpii.json")
    data = PoseDataset(records, FolderImages(MPII), (128, 128), train=True, aug=AugmentConfig(), seed=3)
    data.set_epoch(2)
    by_index = data[1]
    data.set_epoch(0)
    by_pair = data[(2, 1)]  # what a persistent worker is sent: the epoch travels with the index
    assert np.array_equal(by_index["image"].numpy(), by_pair["image"].numpy())
    assert np.array_equal(by_index["meta"]["matrix"].numpy(), by_pair["meta"]["matrix"].numpy())
    assert not np.array_equal(data[(0, 1)]["meta"]["matrix"].numpy(), by_pair["meta"]["matrix"].numpy())


def test_an_unreadable_image_file_is_one_input_error(tmp_path):
    from lspd_bench.errors import InputError

    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    matrix = get_affine_transform(np.array([10.0, 10.0]), np.array([0.1, 0.1]), 0.0, (32, 32))
    with pytest.raises(InputError, match="broken.jpg"):
        FolderImages(tmp_path).warp("broken.jpg", matrix, (32, 32))
