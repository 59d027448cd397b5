"""Measure the data pipeline: synthetic generation and loading + augmentation + targets throughput.

    python benchmarks/bench_data.py [--samples 10000] [--size 128] [--workers 2] [--load-samples 2000]

Prints one JSON document and writes it to ``benchmarks/results/data.json``: generation wall time and
samples/s over ``--workers`` processes (the target is 10,000 samples at 128×128 in under 30 s on 2 cores),
and single-process ``PoseDataset`` throughput (samples/s) in training mode (random scale, rotation, flip;
one affine warp; heatmaps) and evaluation mode, to compare with the training step's speed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import PIL
import torch
from common import machine, save

from lspd_bench.data.dataset import PoseDataset
from lspd_bench.data.synth import SYNTH_VERSION, generate_dataset, load_synth, preset


def _throughput(dataset: PoseDataset, count: int) -> float:
    """Samples/s of ``dataset[i]`` over ``count`` items (after a short warm-up), in this process."""
    for i in range(min(20, len(dataset))):
        dataset[i]
    start = time.perf_counter()
    for k in range(count):
        dataset[k % len(dataset)]
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000, help="total samples to render (90%% train)")
    parser.add_argument("--size", type=int, default=128, help="image side in px")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--load-samples", type=int, default=2_000, help="samples for the loading throughput")
    parser.add_argument("--seed", type=int, default=0)
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
        "machine": {**machine(), "pillow": PIL.__version__},
    }
    save("data", result)


if __name__ == "__main__":
    main()
