"""Time MPII PCKh on a validation-sized set (3,000 people × 16 joints); print and keep the JSON.

    python benchmarks/bench_pckh.py [--people 3000] [--repeat 7] [--number 10]

The target is under 50 ms per call (the full 51-threshold curve, the table and the per-person arrays).
Inputs are seeded random data: the cost does not depend on the values.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np
from common import machine, save

from lspd_bench.evaluation.pckh import head_size_from_boxes, pckh

TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=7, help="timing runs; the median and min are reported")
    parser.add_argument("--number", type=int, default=10, help="calls per timing run")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    gt = rng.uniform(50.0, 1000.0, (args.people, 16, 2))
    visible = rng.random((args.people, 16)) > 0.1
    boxes = np.stack([gt[:, 9] - 20.0, gt[:, 9] + 20.0], axis=1)
    head = head_size_from_boxes(boxes)
    pred = gt - 1.0 + rng.normal(0.0, 10.0, gt.shape)

    runs = timeit.repeat(lambda: pckh(pred, gt, visible, head), repeat=args.repeat, number=args.number)
    per_call_ms = np.array(runs) / args.number * 1e3
    save(
        "pckh",
        {
            "benchmark": "pckh",
            "people": args.people,
            "joints": 16,
            "thresholds": 51,
            "repeat": args.repeat,
            "number": args.number,
            "median_ms": round(float(np.median(per_call_ms)), 3),
            "min_ms": round(float(per_call_ms.min()), 3),
            "max_ms": round(float(per_call_ms.max()), 3),
            "target_ms": TARGET_MS,
            "within_target": bool(np.median(per_call_ms) < TARGET_MS),
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
