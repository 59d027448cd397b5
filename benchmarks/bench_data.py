"""Measure the data pipeline: synthetic generation and loading + augmentation + targets throughput.

    python benchmarks/bench_data.py [--samples 10000] [--size 128] [--workers 2] [--load-samples 2000]
                                    [--real-samples 1000] [--real-size 256] [--rounds 3]

Prints one JSON document and writes it to ``benchmarks/results/data.json``: generation wall time and
samples/s over ``--workers`` processes (the target is 10,000 samples at 128×128 in under 30 s on 2 cores),
and single-process ``PoseDataset`` throughput (samples/s) in training mode (random scale, rotation, flip;
one affine warp; heatmaps) and evaluation mode, to compare with the training step's speed.

**Real images.** The same training-mode ``PoseDataset`` on the repository's real MPII and COCO samples
(``tests/data``: 9 JPEGs of 500–1280 px, 14 annotated people, read again and again) at
``--real-size``² with 64² heatmaps, in one process on one thread, for each way of decoding and warping a
crop:

- ``pillow`` (the naive path, the suite's before): a full Pillow decode, Pillow's bilinear affine;
- ``pillow draft``: Pillow decoding the JPEG at 1/2, 1/4 or 1/8 where the crop allows (``Image.draft``),
  Pillow's affine;
- ``simplejpeg``: libjpeg-turbo through simplejpeg, at the reduced scale, then ``cv2.warpAffine``;
- ``opencv``: a full OpenCV decode, ``cv2.warpAffine``;
- ``opencv reduced`` (the suite's ``FolderImages``): OpenCV decoding at the reduced scale, ``cv2.warpAffine``.

PyTurboJPEG is not measured: it needs the system's libturbojpeg, which this machine lacks. The paths take
turns in each of ``--rounds`` rounds, and each round's rate is divided by that round's naive one (machine
load moves rates more than ratios). Target: at least 300 samples/s per worker and 2× the naive path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import PIL
import torch
from PIL import Image
from common import machine, save

from lspd_bench.data.coco import load_coco
from lspd_bench.data.dataset import FolderImages, PoseDataset, decode_reduction, reduced_to_full
from lspd_bench.data.mpii import load_mpii
from lspd_bench.data.synth import SYNTH_VERSION, generate_dataset, load_synth, preset
from lspd_bench.data.transforms import AugmentConfig, compose_affine, warp_image

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data"


class PillowImages(FolderImages):
    """The naive path: Pillow decodes the whole file, Pillow warps."""

    def warp(self, image, matrix, output_size):
        return warp_image(self.load(image), matrix, output_size)


class PillowDraftImages(FolderImages):
    """Pillow decoding at the reduced scale (``Image.draft``), Pillow's warp."""

    def warp(self, image, matrix, output_size):
        with Image.open(self.path(image)) as im:
            width, n = im.size[0], decode_reduction(matrix)
            im.draft("RGB", (-(-im.size[0] // n), -(-im.size[1] // n)))  # the JPEG's scale at least this size
            rgb = im.convert("RGB")
        return warp_image(rgb, compose_affine(matrix, reduced_to_full(round(width / rgb.size[0]))), output_size)


class SimpleJpegImages(FolderImages):
    """simplejpeg (libjpeg-turbo) at the reduced scale, ``cv2.warpAffine``."""

    def warp(self, image, matrix, output_size):
        import cv2
        import simplejpeg

        data = self.path(image).read_bytes()
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        n = decode_reduction(matrix)
        rgb = simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=-(-w // n), min_height=-(-h // n))
        n = round(w / rgb.shape[1])
        size = (int(output_size[0]), int(output_size[1]))
        return cv2.warpAffine(rgb, compose_affine(matrix, reduced_to_full(n)), size, flags=cv2.INTER_LINEAR)


#: The real-image paths, naive first: name → the image source class (and its keyword arguments).
PATHS = {
    "pillow": (PillowImages, {}),
    "pillow draft": (PillowDraftImages, {}),
    "simplejpeg": (SimpleJpegImages, {}),
    "opencv": (FolderImages, {"max_reduction": 1}),
    "opencv reduced": (FolderImages, {}),
}


def real_datasets(path: str, size: int) -> list[PoseDataset]:
    """Training-mode datasets of the MPII and COCO samples through one image path, at ``size``² input."""
    kind, kwargs = PATHS[path]
    mpii = load_mpii(SAMPLES / "mpii" / "test_mpii.json")
    coco = load_coco(SAMPLES / "coco" / "test_coco.json", aspect_ratio=1.0)
    aug = AugmentConfig()  # the paper's augmentation: scale, rotation, flip
    return [
        PoseDataset(records, kind(SAMPLES / folder, **kwargs), (size, size), train=True, aug=aug, seed=0)
        for records, folder in ((mpii, "mpii"), (coco, "coco"))
    ]


def real_rate(path: str, size: int, count: int) -> float:
    """Samples/s of the MPII and COCO samples, alternately, over ``count`` items (each epoch new crops)."""
    sets = real_datasets(path, size)
    items = [(d, i) for d in sets for i in range(len(d))]
    for d, i in items:
        d[(0, i)]  # warm-up: imports, file cache
    start = time.perf_counter()
    for k in range(count):
        d, i = items[k % len(items)]
        d[(1 + k // len(items), i)]
    return count / (time.perf_counter() - start)


def real_rows(size: int, count: int, rounds: int) -> dict:
    rates: dict[str, list[float]] = {p: [] for p in PATHS}
    ratios: dict[str, list[float]] = {p: [] for p in PATHS}
    for r in range(rounds):
        order = list(PATHS) if r % 2 == 0 else list(reversed(PATHS))
        got = {p: real_rate(p, size, count) for p in order}
        for p in PATHS:
            rates[p].append(got[p])
            ratios[p].append(got[p] / got["pillow"])
    return {
        "input_px": [size, size],
        "samples_per_round": count,
        "rounds": rounds,
        "convention": "training-mode samples/s (decode + augmented affine crop + heatmaps + normalisation) in "
        "one process on one thread, median over rounds; ratio = median of each round's rate / its naive one",
        "samples_per_s": {p: round(statistics.median(v), 1) for p, v in rates.items()},
        "ratio_to_naive": {p: round(statistics.median(v), 2) for p, v in ratios.items()},
        "ratio_range": {p: [round(min(v), 2), round(max(v), 2)] for p, v in ratios.items()},
        "suite_path": "opencv reduced",
        "target": "suite_path >= 300 samples/s and >= 2x the naive path",
    }


def _throughput(dataset: PoseDataset, count: int) -> float:
    """Samples/s of ``dataset[i]`` over ``count`` items (after a short warm-up), in this process."""
    for i in range(min(20, len(dataset))):
        dataset[i]
    start = time.perf_counter()
    for k in range(count):
        dataset[k % len(dataset)]
    return count / (time.perf_counter() - start)


def _version(module: str) -> str:
    return getattr(__import__(module), "__version__", "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000, help="total samples to render (90%% train)")
    parser.add_argument("--size", type=int, default=128, help="image side in px")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--load-samples", type=int, default=2_000, help="samples for the loading throughput")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-samples", type=int, default=1_000, help="samples per real-image path and round")
    parser.add_argument("--real-size", type=int, default=256, help="input side for the real images, px")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the real-image paths")
    args = parser.parse_args()
    torch.set_num_threads(1)

    n_val = max(1, args.samples // 10)
    cfg = preset("standard", n_train=args.samples - n_val, n_val=n_val, size=args.size)
    with tempfile.TemporaryDirectory(prefix="lspd-bench-data-") as tmp:
        start = time.perf_counter()
        meta = generate_dataset(tmp, cfg, seed=args.seed, workers=args.workers)
        seconds = time.perf_counter() - start
        records, images = load_synth(tmp, "train")
        input_size = (args.size, args.size)
        heatmap = (args.size // 4, args.size // 4)
        train = PoseDataset(records, images, input_size, heatmap, train=True, seed=args.seed)
        evaluation = PoseDataset(records, images, input_size, heatmap, train=False)
        train_rate = _throughput(train, args.load_samples)
        eval_rate = _throughput(evaluation, args.load_samples)
        disk = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))

    result = {
        "generation": {
            "samples": args.samples,
            "size_px": args.size,
            "workers": args.workers,
            "seconds": round(seconds, 2),
            "samples_per_s": round(args.samples / seconds, 1),
            "disk_mb": round(disk / 1e6, 1),
            "fingerprint": meta["fingerprint"],
            "synth_version": SYNTH_VERSION,
        },
        "loading": {
            "processes": 1,
            "input_px": list(input_size),
            "heatmap_px": list(heatmap),
            "train_aug_samples_per_s": round(train_rate, 1),
            "eval_samples_per_s": round(eval_rate, 1),
            "samples": args.load_samples,
        },
        "real_images": real_rows(args.real_size, args.real_samples, args.rounds),
        "machine": {
            **machine(),
            "pillow": PIL.__version__,
            "opencv": _version("cv2"),
            "simplejpeg": _version("simplejpeg"),
        },
    }
    save("data", result)


if __name__ == "__main__":
    main()
