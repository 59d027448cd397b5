"""Where a cell's noise comes from, and how it shrinks with the length of training.

    python benchmarks/bench_noise_steps.py [--preset ci quick] [--cell stages=2 distill=teacher] [--out DIR]

For each preset and each multiple ``m`` of its epochs (ci: 1, 2, 4, 8; quick: 1, 2, 4), trains the cell
(default: K = 2 with the shipped teacher, the cell of ``bench_noise.py``) as a user would,
``lspd-bench train --preset P ... epochs=m×E --json``, with every other key at the preset's value:

- seeds 0 .. S−1 (ci: 4, quick: 3), 1 torch thread, the machine's default kernels;
- seed 0 with 2 torch threads: a perturbation that changes no computation, only the order of operations.

For every length it writes the seeds' headlines (PCKh@0.5 of the deployed stage, flip test), their
standard deviation (n − 1), its split into the training part and the validation people's part
(``lspd_bench.evaluation.bootstrap.seed_variance_parts``, from each run's ``per_person.npz``), the 2-thread
move against seed 0, and the training seconds, to ``benchmarks/results/noise_steps.json``.

The decision rules were fixed before the first run (see docs/benchmark.md, "Where the noise comes from"):

- a preset's schedule takes the smallest multiple whose seed SD and 2-thread move are both at most 1.0
  point, only if its budget holds (ci: the CI run's 15 minutes allow m ≤ 2; quick: the demo's 10 minutes
  allow m = 1 only); otherwise the preset stays and the curve is the measured price of the target;
- a preset's validation split grows fourfold only if, at m = 1, the people's part is at least half of the
  seed variance and the budgets hold.

Runs of one thread go two at a time; the 2-thread runs go alone.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import default_kernels, machine, run_cli, run_env, save

from lspd_bench.config import load_config
from lspd_bench.evaluation.bootstrap import seed_variance_parts
from lspd_bench.train.files import PER_PERSON_FILE

TARGET = 1.0
PLAN = {"ci": ((1, 2, 4, 8), 4), "quick": ((1, 2, 4), 3)}  # multiples of the preset's epochs, seeds


def run_one(preset: str, cell: list[str], epochs: int, seed: int, threads: int, out: Path, cache: Path) -> dict:
    folder = out / preset / f"epochs{epochs}" / f"seed{seed}_threads{threads}"
    metrics, wall = run_cli(
        ["train", "--preset", preset, *cell, f"epochs={epochs}", f"seed={seed}", "--out", str(folder)],
        env=run_env(threads, cache),
    )
    with np.load(folder / PER_PERSON_FILE) as data:
        correct, visible = np.asarray(data["correct"]), np.asarray(data["visible"])
    return {
        "seed": seed,
        "threads": threads,
        "headline": metrics["headline"],
        "train_s": round(metrics["train"]["seconds_total"], 1),
        "wall_s": round(wall, 1),
        "correct": correct,
        "visible": visible,
    }


def measure(preset: str, cell: list[str], out: Path, cache: Path) -> dict:
    multiples, n_seeds = PLAN[preset]
    base_epochs = load_config(preset=preset).epochs
    lengths = []
    for m in multiples:
        epochs = m * base_epochs
        with ThreadPoolExecutor(2) as pool:
            seeds = list(pool.map(lambda s, e=epochs: run_one(preset, cell, e, s, 1, out, cache), range(n_seeds)))
        two = run_one(preset, cell, epochs, 0, 2, out, cache)
        parts = seed_variance_parts([r["correct"] for r in seeds], seeds[0]["visible"])
        move = two["headline"] - seeds[0]["headline"]
        lengths.append(
            {
                "multiple": m,
                "epochs": epochs,
                "headlines": [round(r["headline"], 3) for r in seeds],
                "seed_mean": round(float(np.mean([r["headline"] for r in seeds])), 3),
                **{k: round(v, 3) if isinstance(v, float) else v for k, v in parts.items()},
                "two_threads_headline": round(two["headline"], 3),
                "two_threads_move": round(move, 3),
                "train_s_1_thread": [r["train_s"] for r in seeds],
                "train_s_2_threads": two["train_s"],
                "checks": {"seed_sd_at_most_1": parts["seed_sd"] <= TARGET, "move_at_most_1": abs(move) <= TARGET},
            }
        )
        print(f"{preset} ×{m}: {lengths[-1]}", flush=True)
    return {"preset": preset, "cell": cell, "base_epochs": base_epochs, "seeds": n_seeds, "lengths": lengths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=list(PLAN), choices=list(PLAN))
    parser.add_argument("--cell", nargs="+", default=["stages=2", "distill=teacher"])
    parser.add_argument("--out", type=Path, default=None, help="run folders (default: a temporary folder)")
    args = parser.parse_args()
    default_kernels()  # no pinning inherited from the caller
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        result = {
            "machine": machine(),
            "target": TARGET,
            "presets": [measure(p, args.cell, out, out / "cache") for p in args.preset],
        }
        result["machine_after"] = machine()["load_average_1_5_15"]
    save("noise_steps", result)


if __name__ == "__main__":
    main()
