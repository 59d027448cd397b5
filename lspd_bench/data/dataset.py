"""The common person record, image sources, and the top-down torch ``PoseDataset``.

Every loader (MPII, COCO, synthetic) returns a list of ``PersonRecord``; a ``PoseDataset`` turns records
plus an image source into network inputs, heatmap targets and target weights. All checks on the input
(missing images, joint counts, empty splits) run when the dataset is constructed, so bad input fails with
one ``InputError`` before training starts, never inside a worker process.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from lspd_bench.data.keypoints import COCO_FLIP_PAIRS, MPII_FLIP_PAIRS, flip_permutation
from lspd_bench.data.targets import generate_targets
from lspd_bench.data.transforms import (
    AugmentConfig,
    affine_points,
    augmentation_matrix,
    compose_affine,
    get_affine_transform,
    sample_augmentation,
    warp_image,
)
from lspd_bench.errors import InputError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class PersonRecord:
    """One person, in 0-based pixel coordinates of its image.

    ``image`` is a path relative to the image folder (MPII, COCO) or an index into an image array
    (synthetic). ``center`` (2,) px and ``scale`` (2,) in 200-px units are the crop box, already padded
    (MPII ×1.25 and moved down, COCO aspect-fixed ×1.25). ``joints_vis`` (J,) marks *annotated* joints
    (MPII's and HRNet's meaning); ``joints_visible`` (J,) marks joints that are annotated *and* not
    occluded, where the source says so (COCO v = 2, the synthetic renderer), else None. ``headbox``
    is 2×2 [[x1, y1], [x2, y2]] px (MPII). ``source`` and ``entry`` name the annotation file and the
    position in it, for error messages.
    """

    image_id: int | str
    image: int | str
    center: np.ndarray
    scale: np.ndarray
    joints: np.ndarray
    joints_vis: np.ndarray
    joints_visible: np.ndarray | None = None
    headbox: np.ndarray | None = None
    bbox: np.ndarray | None = None
    area: float | None = None
    score: float = 1.0
    source: str = ""
    entry: int = -1

    @property
    def num_joints(self) -> int:
        return int(self.joints.shape[0])

    def where(self) -> str:
        """``file: entry N`` — where this record came from, for messages."""
        return f"{self.source}: entry {self.entry}"


def default_flip_pairs(num_joints: int) -> tuple[tuple[int, int], ...]:
    """The flip pairs of the format with ``num_joints`` joints (16 MPII, 17 COCO)."""
    if num_joints == 16:
        return MPII_FLIP_PAIRS
    if num_joints == 17:
        return COCO_FLIP_PAIRS
    raise InputError(f"no flip pairs known for {num_joints} joints (MPII has 16, COCO 17): pass flip_pairs")


#: The scales 1/n OpenCV decodes a JPEG at (a DCT scaling; other formats are decoded, then resized).
REDUCTIONS = (1, 2, 4, 8)


def _opencv():
    """OpenCV, on one thread: a crop is too small to share, and data workers are the parallelism."""
    import cv2

    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
    return cv2


def _imread_flags(reduction: int) -> int:
    cv2 = _opencv()
    scale = cv2.IMREAD_COLOR if reduction == 1 else getattr(cv2, f"IMREAD_REDUCED_COLOR_{reduction}")
    return scale | cv2.IMREAD_IGNORE_ORIENTATION


class FolderImages:
    """Images stored as files under one folder (JPEG/PNG, as MPII and COCO ship them).

    A training or evaluation crop (:meth:`warp`) is decoded by OpenCV, at 1/2, 1/4 or 1/8 of the file's size
    when the crop samples the image that sparsely (a JPEG's DCT scaling: most of the decoding is skipped),
    then warped by ``cv2.warpAffine``; several times faster than a full Pillow decode and Pillow's warp
    (``benchmarks/bench_data.py``). EXIF orientation is ignored, as Pillow and the annotations do.
    :meth:`load` decodes the whole image with Pillow (drawings, checks).
    """

    def __init__(self, root: str | os.PathLike, max_reduction: int = REDUCTIONS[-1]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"image folder not found: {self.root}")
        self.max_reduction = max_reduction

    def path(self, image: int | str) -> Path:
        return self.root / str(image)

    def check(self, records: list[PersonRecord]) -> None:
        """Raise ``InputError`` naming the annotation entry whose image file is missing."""
        seen: set[str] = set()
        for rec in records:
            key = str(rec.image)
            if key in seen:
                continue
            seen.add(key)
            if not self.path(key).is_file():
                raise InputError(f"{rec.where()}: image file not found: {self.path(key)}")

    def load(self, image: int | str) -> Image.Image:
        """The whole image as an RGB PIL image (``np.asarray`` for an array)."""
        path = self.path(image)
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"cannot decode image {path}: {exc}") from None

    def decode(self, image: int | str, reduction: int = 1) -> np.ndarray:
        """The image as an H×W×3 uint8 BGR array (OpenCV's order), decoded at 1/``reduction`` of its size
        (1, 2, 4 or 8)."""
        cv2 = _opencv()
        path = self.path(image)
        array = cv2.imread(str(path), _imread_flags(reduction))
        if array is None:
            raise InputError(f"cannot decode image {path}: not an image OpenCV reads, or unreadable")
        return array

    def warp(self, image: int | str, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
        """The crop of ``matrix`` (image px → output px) as an h×w×3 uint8 RGB array: decoded at the
        coarsest scale that keeps a decoded pixel per output pixel (at most 1/``max_reduction``), then warped
        bilinearly, black outside."""
        cv2 = _opencv()
        reduction = min(decode_reduction(matrix), self.max_reduction)
        source = self.decode(image, reduction)
        crop = cv2.warpAffine(
            source,
            compose_affine(matrix, reduced_to_full(reduction)),
            (int(output_size[0]), int(output_size[1])),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        return np.ascontiguousarray(crop[:, :, ::-1])  # BGR → RGB on the small crop

    def size(self, image: int | str) -> tuple[int, int]:
        """(w, h) px from the file header (no full decode)."""
        path = self.path(image)
        try:
            with Image.open(path) as im:
                return im.size
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"cannot read image {path}: {exc}") from None


def decode_reduction(matrix: np.ndarray) -> int:
    """The coarsest decoding scale 1/n (n in :data:`REDUCTIONS`) that still gives at least one decoded pixel
    per output pixel of the crop ``matrix`` (image px → output px; a similarity, so its zoom is √|det|)."""
    zoom = math.sqrt(abs(float(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:, :2]))))
    return max((n for n in REDUCTIONS if n * zoom <= 1.0 + 1e-9), default=1)


def reduced_to_full(reduction: int) -> np.ndarray:
    """The affine from a 1/``reduction`` image's pixel indices to the full image's: decoded pixel i covers
    full pixels [n·i, n·i + n), so its centre is at n·i + (n − 1)/2."""
    n = float(reduction)
    return np.array([[n, 0.0, (n - 1.0) / 2.0], [0.0, n, (n - 1.0) / 2.0]])


class ArrayImages:
    """Images stored as one N×H×W×3 uint8 ``.npy`` array, memory-mapped (the synthetic benchmark)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        arr = self._open()
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise InputError(
                f"{self.path}: expected an N×H×W×3 uint8 image array, got shape {arr.shape} dtype {arr.dtype}"
            )
        self.shape = tuple(int(v) for v in arr.shape)
        self._array: np.ndarray | None = None

    def _open(self) -> np.ndarray:
        if not self.path.is_file():
            raise InputError(f"image array not found: {self.path}")
        try:
            return np.load(self.path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise InputError(f"{self.path}: not a readable .npy array: {exc}") from None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        # A memory map must not be pickled into worker processes (it would copy the whole array).
        state = dict(self.__dict__)
        state["_array"] = None
        return state

    def check(self, records: list[PersonRecord]) -> None:
        """Raise ``InputError`` naming the entry whose image index is outside the array."""
        for rec in records:
            if not isinstance(rec.image, (int, np.integer)) or not 0 <= int(rec.image) < self.shape[0]:
                raise InputError(
                    f"{rec.where()}: image index {rec.image!r} is not in {self.path} ({self.shape[0]} images)"
                )

    def load(self, image: int | str) -> np.ndarray:
        """Image ``image`` as an H×W×3 uint8 array."""
        if self._array is None:
            self._array = self._open()
        return np.asarray(self._array[int(image)])

    def warp(self, image: int | str, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
        """The crop of ``matrix`` (image px → output px) as an h×w×3 uint8 array (Pillow's bilinear warp)."""
        return warp_image(self.load(image), matrix, output_size)

    def size(self, image: int | str) -> tuple[int, int]:
        return self.shape[2], self.shape[1]


ImageSource = FolderImages | ArrayImages


def validate_records(
    records: list[PersonRecord], images: ImageSource, num_joints: int | None = None, what: str = "dataset"
) -> int:
    """Check records before use; return the joint count J.

    Raises ``InputError`` for an empty split, records whose joint count differs (from ``num_joints``
    when given, else from the first record), wrongly shaped arrays, and images that cannot be found.
    """
    if len(records) == 0:
        raise InputError(f"{what}: the split is empty (no people to load)")
    expected = num_joints if num_joints is not None else records[0].num_joints
    for rec in records:
        joints = np.asarray(rec.joints)
        if joints.ndim != 2 or joints.shape[1] != 2 or joints.shape[0] != expected:
            raise InputError(
                f"{rec.where()}: expected {expected} joints of (x, y), got an array of shape {joints.shape}"
            )
        if np.asarray(rec.joints_vis).shape != (expected,):
            raise InputError(f"{rec.where()}: joints_vis must have {expected} values")
        if np.asarray(rec.center).shape != (2,) or np.asarray(rec.scale).shape != (2,):
            raise InputError(f"{rec.where()}: center and scale must have 2 values each")
        if not np.all(np.asarray(rec.scale) > 0):
            raise InputError(f"{rec.where()}: scale must be positive, got {np.asarray(rec.scale).tolist()}")
    images.check(records)
    return expected


class PoseDataset(torch.utils.data.Dataset):
    """Top-down person crops with heatmap targets.

    Each item is a dict: ``image`` float32 3×H×W (ImageNet-normalised), ``target`` float32 J×h×w,
    ``target_weight`` float32 J×1, and ``meta`` with the record's ``center`` (px), ``scale`` (200-px
    units), ``joints`` J×2 (px, original image), ``joints_vis``, ``score``, ``index``, and the crop's
    ``rotation`` (deg), ``flipped`` flag and ``matrix`` (2×3, original image px → input px).

    Training augmentation (``train=True``) draws from an RNG seeded by (``seed``, epoch, index), so a
    run gives the same samples whatever the number of workers or the order of access. The epoch travels
    with the index, ``dataset[(epoch, index)]`` (so persistent workers need no message); ``dataset[index]``
    takes the epoch of the last ``set_epoch(epoch)``.
    Evaluation (``train=False``) crops the record's box without augmentation.

    Args:
        records: people from a loader (``load_mpii``, ``load_coco``, ``load_synth``).
        images: where ``record.image`` is found (``FolderImages`` or ``ArrayImages``).
        input_size: network input (w, h) px. heatmap_size: (w, h) px, default input / 4.
        aug: augmentation knobs (train only). seed: the augmentation seed.
        flip_pairs: left/right joint pairs, default by joint count (MPII 16, COCO 17).
        upper_body: joint ids of the upper body, enabling half-body crops (``aug.half_body_prob``).
        sigma: Gaussian σ in heatmap px, default 2 at a 64-px-high heatmap, scaled.
        num_joints: the joint count every record must have (default: the first record's).

    Bad input (empty split, joint counts, missing images) raises ``InputError`` here, before any
    worker starts.
    """

    def __init__(
        self,
        records: list[PersonRecord],
        images: ImageSource,
        input_size: tuple[int, int] = (128, 128),
        heatmap_size: tuple[int, int] | None = None,
        train: bool = False,
        aug: AugmentConfig | None = None,
        seed: int = 0,
        flip_pairs: tuple[tuple[int, int], ...] | None = None,
        upper_body: tuple[int, ...] | None = None,
        sigma: float | None = None,
        num_joints: int | None = None,
    ) -> None:
        input_size = (int(input_size[0]), int(input_size[1]))
        if heatmap_size is None:
            heatmap_size = (input_size[0] // 4, input_size[1] // 4)
        self.records = list(records)
        self.images = images
        self.num_joints = validate_records(self.records, images, num_joints)
        self.input_size = input_size
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.aspect_ratio = input_size[0] / input_size[1]
        self.train = train
        self.aug = aug if aug is not None else AugmentConfig()
        self.seed = int(seed)
        self.flip_pairs = default_flip_pairs(self.num_joints) if flip_pairs is None else tuple(flip_pairs)
        if any(max(pair) >= self.num_joints for pair in self.flip_pairs):
            raise InputError(f"flip pairs {self.flip_pairs} do not fit {self.num_joints} joints")
        self.flip_perm = flip_permutation(self.num_joints, self.flip_pairs)
        self.upper_body = upper_body
        self.sigma = sigma
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (reproducible per (seed, epoch, index))."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def sample_arrays(self, index: int, epoch: int | None = None) -> dict:
        """Item ``index`` as NumPy arrays: ``image`` H×W×3 uint8 (the warped crop), ``joints`` J×2 input
        px, ``joints_vis``, ``target``, ``target_weight``, ``matrix`` (2×3, image px → input px),
        ``rotation``, ``flipped``."""
        rec = self.records[index]
        joints = np.asarray(rec.joints, dtype=np.float64)
        vis = np.asarray(rec.joints_vis, dtype=np.float32)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), index])
            aug = sample_augmentation(
                rng, self.aug, rec.center, rec.scale, joints, vis, self.aspect_ratio, self.upper_body
            )
            matrix = augmentation_matrix(aug, self.input_size)
            rotation, flipped = aug.rot, aug.flip
        else:
            matrix = get_affine_transform(rec.center, rec.scale, 0.0, self.input_size)
            rotation, flipped = 0.0, False
        image = self.images.warp(rec.image, matrix, self.input_size)
        joints_in = affine_points(joints, matrix)
        if flipped:
            joints_in = joints_in[self.flip_perm]
            vis = vis[self.flip_perm]
        target, target_weight = generate_targets(joints_in, vis, self.input_size, self.heatmap_size, self.sigma)
        return {
            "image": image,
            "joints": joints_in,
            "joints_vis": vis,
            "target": target,
            "target_weight": target_weight,
            "matrix": matrix,
            "rotation": rotation,
            "flipped": flipped,
        }

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        epoch, index = item if isinstance(item, tuple) else (None, item)
        rec = self.records[index]
        arrays = self.sample_arrays(index, epoch)
        image = (arrays["image"].astype(np.float32) * (1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "target": torch.from_numpy(arrays["target"]),
            "target_weight": torch.from_numpy(arrays["target_weight"]),
            "meta": {
                "center": torch.from_numpy(np.asarray(rec.center, dtype=np.float64)),
                "scale": torch.from_numpy(np.asarray(rec.scale, dtype=np.float64)),
                "joints": torch.from_numpy(np.asarray(rec.joints, dtype=np.float64)),
                "joints_vis": torch.from_numpy(np.asarray(rec.joints_vis, dtype=np.float32)),
                "score": float(rec.score),
                "index": int(index),
                "rotation": float(arrays["rotation"]),
                "flipped": bool(arrays["flipped"]),
                "matrix": torch.from_numpy(np.asarray(arrays["matrix"], dtype=np.float64)),
            },
        }
