"""bf16 on this CPU: how far does it move the ci cell, against the cell's seed noise, and how much faster is it?

    python benchmarks/bench_precision.py [--out runs/precision]

Trains ``stages=2 distill=none`` on the ci preset at seeds 0–2 in fp32 and in bf16 (autocast on a CPU with
native bfloat16, such as AVX512-BF16 or AMX; refused with one line elsewhere), as one matrix (``lspd-bench
ablate stages=2 distill=none precision=fp32,bf16 seed=0..2 --preset ci``: two cells at once, one thread
each), and compares seed by seed. The rule (issue 34), fixed before the first run: the CPU presets switch to
bf16 only if every seed's move (bf16 − fp32) is within the fp32 cells' seed SD; its speed is each seed's ratio
of training images/s, bf16 over fp32. Writes ``benchmarks/results/precision.json``. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from common import machine, run_cli, save

from lspd_bench.ablate import store
from lspd_bench.ablate.schema import HEADLINE, SEED, STATUS, Status

MATRIX = ["stages=2", "distill=none", "precision=fp32,bf16", "seed=0..2", "--preset", "ci"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/precision")
    args = parser.parse_args()
    _, wall = run_cli(["ablate", *MATRIX, "--out", args.out])
    table = store.read_results(Path(args.out))
    done = table[table[STATUS] == Status.DONE]
    by = {(str(r["precision"]), int(r[SEED])): r for _, r in done.iterrows()}
    seeds = sorted({s for _, s in by})
    fp32 = [float(by[("fp32", s)][HEADLINE]) for s in seeds]
    bf16 = [float(by[("bf16", s)][HEADLINE]) for s in seeds]
    moves = [b - f for f, b in zip(fp32, bf16)]
    speed = [float(by[("bf16", s)]["train_images_per_s"]) / float(by[("fp32", s)]["train_images_per_s"]) for s in seeds]
    sd = statistics.stdev(fp32)
    save(
        "precision",
        {
            "command": "python benchmarks/bench_precision.py",
            "matrix": "lspd-bench ablate " + " ".join(MATRIX),
            "cell": "stages=2 distill=none on the ci preset, 1 thread a cell, two cells at once",
            "fp32": dict(zip(map(str, seeds), fp32)),
            "bf16": dict(zip(map(str, seeds), bf16)),
            "moves_bf16_minus_fp32": dict(zip(map(str, seeds), [round(m, 2) for m in moves])),
            "fp32_seed_sd": round(sd, 2),
            "within_seed_noise": all(abs(m) <= sd for m in moves),
            "speed_ratio_bf16_over_fp32": {"median": round(statistics.median(speed), 3), "per_seed": speed},
            "rule": "the CPU presets take bf16 only if every seed's move is within the fp32 seed SD",
            "wall_seconds": round(wall, 1),
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
