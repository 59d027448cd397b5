"""Heatmaps → keypoint coordinates (NumPy): argmax with the quarter-pixel shift, DARK, flip test, and the
inverse of the top-down crop affine.

Coordinates are (x, y) in pixels, 0-based: heatmap pixels from the decoders, original-image pixels from
:func:`transform_preds`. Heatmaps are ``B×J×h×w`` arrays.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from lspd_bench.data.keypoints import flip_permutation
from lspd_bench.errors import InputError

#: DARK's blur kernel for 64×48 heatmaps (input 256×192), as in its paper and MMPose.
DARK_DEFAULT_KERNEL = 11


def _check_heatmaps(heatmaps) -> np.ndarray:
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise InputError(f"heatmaps must be B×J×h×w, got shape {heatmaps.shape}")
    if heatmaps.shape[2] < 1 or heatmaps.shape[3] < 1:
        raise InputError(f"heatmaps have an empty spatial size: shape {heatmaps.shape}")
    return heatmaps


def _argmax(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer argmax per joint: (x B×J int, y B×J int, maxvals B×J×1)."""
    b, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, j, h * w)
    idx = flat.argmax(axis=-1)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=-1).astype(np.float64)
    return idx % w, idx // w, maxvals


def get_max_preds(heatmaps) -> tuple[np.ndarray, np.ndarray]:
    """Argmax decoding with the standard quarter-pixel shift towards the higher neighbour.

    Args:
        heatmaps: ``B×J×h×w`` array.

    Returns:
        ``coords`` (``B×J×2`` float64, x and y in heatmap px) and ``maxvals`` (``B×J×1``, the peak value).

    Conventions (HRNet's ``get_final_preds``): the argmax moves by 0.25 px along x (and y) towards the
    neighbour with the higher value, not at all when the two neighbours are equal. A joint whose peak is
    ≤ 0 (an empty heatmap) is placed at (0, 0), as HRNet's ``pred_mask`` does. Each axis is shifted
    wherever both of its neighbours exist; HRNet asks ``1 < px < w-1`` for both axes at once, which also
    skips column/row 1 — a border-only difference.
    """
    heatmaps = _check_heatmaps(heatmaps)
    _, _, h, w = heatmaps.shape
    x, y, maxvals = _argmax(heatmaps)
    coords = np.stack([x, y], axis=-1).astype(np.float64)

    valid = maxvals[..., 0] > 0
    bi, ji = np.indices(x.shape)
    has_x = valid & (x > 0) & (x < w - 1)
    has_y = valid & (y > 0) & (y < h - 1)
    # Clipped indices keep the gathers in range; the masks zero the shift where a neighbour is missing.
    dx = heatmaps[bi, ji, y, np.clip(x + 1, 0, w - 1)] - heatmaps[bi, ji, y, np.clip(x - 1, 0, w - 1)]
    dy = heatmaps[bi, ji, np.clip(y + 1, 0, h - 1), x] - heatmaps[bi, ji, np.clip(y - 1, 0, h - 1), x]
    coords[..., 0] += 0.25 * np.sign(dx) * has_x
    coords[..., 1] += 0.25 * np.sign(dy) * has_y
    coords[~valid] = 0.0
    return coords, maxvals


def _opencv_sigma(kernel: int) -> float:
    # cv2.GaussianBlur(ksize, sigma=0) derives sigma from the kernel size; DARK relies on that default.
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8


def _blur_keep_max(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian blur (zero padding outside the map) rescaled so that each map keeps its original peak."""
    from scipy.ndimage import gaussian_filter

    sigma = _opencv_sigma(kernel)
    radius = (kernel - 1) // 2
    hm = heatmaps.astype(np.float64)
    blurred = gaussian_filter(hm, sigma=(0, 0, sigma, sigma), mode="constant", cval=0.0, truncate=radius / sigma)
    peak = hm.max(axis=(2, 3), keepdims=True)
    blurred_peak = blurred.max(axis=(2, 3), keepdims=True)
    ratio = np.divide(peak, blurred_peak, out=np.ones_like(peak), where=blurred_peak > 0)
    return blurred * ratio


def _dark_refine(heatmaps: np.ndarray, x: np.ndarray, y: np.ndarray, kernel: int) -> np.ndarray:
    """DARK (Zhang et al., CVPR 2020): second-order Taylor expansion of the log-heatmap at the argmax."""
    _, _, h, w = heatmaps.shape
    logh = np.log(np.maximum(_blur_keep_max(heatmaps, kernel), 1e-10))
    bi, ji = np.indices(x.shape)
    # The finite differences reach two pixels out; elsewhere the integer argmax is kept.
    inside = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    xc, yc = np.clip(x, 2, max(w - 3, 2)), np.clip(y, 2, max(h - 3, 2))

    def at(ddy: int, ddx: int) -> np.ndarray:
        return logh[bi, ji, np.clip(yc + ddy, 0, h - 1), np.clip(xc + ddx, 0, w - 1)]

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    ok = inside & (det != 0)
    safe_det = np.where(ok, det, 1.0)
    # offset = −H⁻¹·g with H = [[dxx, dxy], [dxy, dyy]], written out to stay vectorised.
    off_x = -(dyy * dx - dxy * dy) / safe_det
    off_y = -(-dxy * dx + dxx * dy) / safe_det
    coords = np.stack([x, y], axis=-1).astype(np.float64)
    coords[..., 0] += np.where(ok, off_x, 0.0)
    coords[..., 1] += np.where(ok, off_y, 0.0)
    return coords


def decode(
    heatmaps, method: Literal["argmax", "dark"] = "argmax", blur_kernel: int = DARK_DEFAULT_KERNEL
) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``B×J×h×w`` heatmaps to (coords ``B×J×2`` in heatmap px, maxvals ``B×J×1``).

    ``method="argmax"`` is :func:`get_max_preds` (argmax + quarter-pixel shift). ``method="dark"`` blurs
    each heatmap with an odd ``blur_kernel`` (OpenCV's sigma for that size, peak value preserved), takes
    the log, and moves the integer argmax by the Newton step of its second-order Taylor expansion (DARK).
    ``maxvals`` are always read from the raw heatmaps.
    """
    heatmaps = _check_heatmaps(heatmaps)
    if method == "argmax":
        return get_max_preds(heatmaps)
    if method == "dark":
        if blur_kernel < 1 or blur_kernel % 2 == 0:
            raise InputError(f"blur_kernel must be a positive odd integer, got {blur_kernel}")
        x, y, maxvals = _argmax(heatmaps)
        return _dark_refine(heatmaps, x, y, blur_kernel), maxvals
    raise InputError(f"unknown decode method {method!r}; use 'argmax' or 'dark'")


def flip_back(heatmaps, flip_pairs) -> np.ndarray:
    """Undo a horizontal flip of the input on its heatmaps: mirror the w axis and swap left/right joints.

    Args:
        heatmaps: ``B×J×h×w`` heatmaps predicted for the horizontally flipped image.
        flip_pairs: pairs of joint indices that trade places under a flip (``MPII_FLIP_PAIRS`` …).
    """
    heatmaps = _check_heatmaps(heatmaps)
    perm = flip_permutation(heatmaps.shape[1], flip_pairs)
    return heatmaps[:, perm, :, ::-1].copy()


def flip_test_average(heatmaps, heatmaps_of_flipped_input, flip_pairs, shift: bool = True) -> np.ndarray:
    """Flip-test heatmaps: the mean of the plain heatmaps and the flipped input's heatmaps flipped back.

    ``shift=True`` moves the flipped-back heatmaps one pixel to the right first (HRNet's
    ``SHIFT_HEATMAP``, on for published numbers): mirroring the heatmap (x → w−1−x) rather than the input
    at stride 4 leaves the flipped-back peak 0.75 px to the left. The leftmost column is kept as it is.
    """
    heatmaps = _check_heatmaps(heatmaps)
    back = flip_back(heatmaps_of_flipped_input, flip_pairs)
    if back.shape != heatmaps.shape:
        raise InputError(f"flip test: heatmap shapes differ, {heatmaps.shape} vs {back.shape}")
    if shift:
        back[..., 1:] = back[..., :-1].copy()
    return (heatmaps + back) * 0.5


def transform_preds(coords, center, scale, heatmap_size) -> np.ndarray:
    """Map heatmap coordinates back to original-image px through the inverse of the top-down crop affine.

    Args:
        coords: ``B×J×2`` (x, y) in heatmap px (or ``J×2`` for one person).
        center: ``B×2`` crop centre in image px.
        scale: ``B×2`` crop size (w, h) in units of 200 px, as the data pipeline uses it.
        heatmap_size: (w, h) of the heatmap in px.

    The affine is linear in its output size, so mapping from heatmap px is identical to scaling to input
    px first and mapping from there; the input size is not needed.
    """
    from lspd_bench.data.transforms import affine_points, get_affine_transform

    coords = np.asarray(coords, dtype=np.float64)
    single = coords.ndim == 2
    if single:
        coords = coords[None]
    center = np.asarray(center, dtype=np.float64).reshape(-1, 2)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1, 2)
    if coords.ndim != 3 or coords.shape[-1] != 2:
        raise InputError(f"coords must be B×J×2, got shape {coords.shape}")
    if len(center) != len(coords) or len(scale) != len(coords):
        raise InputError(f"transform_preds: {len(coords)} people but {len(center)} centres and {len(scale)} scales")
    out = np.empty_like(coords)
    for i in range(len(coords)):
        m = get_affine_transform(center[i], scale[i], 0.0, tuple(heatmap_size), inv=True)
        out[i] = affine_points(coords[i], m)
    return out[0] if single else out


def get_final_preds(
    heatmaps, center, scale, method: Literal["argmax", "dark"] = "argmax"
) -> tuple[np.ndarray, np.ndarray]:
    """Decode heatmaps and map them to original-image px: (preds ``B×J×2`` 0-based px, maxvals ``B×J×1``)."""
    heatmaps = _check_heatmaps(heatmaps)
    coords, maxvals = decode(heatmaps, method=method)
    h, w = heatmaps.shape[2:]
    return transform_preds(coords, center, scale, (w, h)), maxvals
