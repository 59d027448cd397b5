"""How much a cell's headline moves when nothing that should matter changes, and across seeds.

    python benchmarks/bench_noise.py [--preset ci quick] [--cell stages=2 distill=teacher] [--out DIR]

For each preset, trains the same cell (default: K = 2 with the shipped teacher, the cell the LSPD claims
turn on) as a user would, ``lspd-bench train --preset P ... --json``, under:

- seeds 0, 1, 2 (1 torch thread, AVX2 kernels): the training noise a claim's interval must cover;
- seed 0 with 2 torch threads (AVX2 kernels), and seed 0 with the machine's default kernels (1 thread):
  perturbations that change no computation, only the order of floating-point operations.

It prints and writes to ``benchmarks/results/noise.json``: every headline (PCKh@0.5 of the deployed stage,
flip test as the preset says), the seeds' standard deviation (n − 1), and the largest change a no-change
perturbation causes against seed 0 at 1 thread with AVX2. The targets (issue: stable schedules) are both
at most 1.0 point; ``checks`` says whether each holds. Two runs go at once (one thread each) when they use
one thread; the 2-thread run goes alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import AVX2, default_kernels, machine, run_cli, run_env, save

TARGET = 1.0


def variants() -> list[tuple[str, int, int, dict[str, str]]]:
    """(name, seed, threads, env) of every run of one preset; the first is the reference."""
    return [
        ("seed 0", 0, 1, AVX2),
        ("seed 1", 1, 1, AVX2),
        ("seed 2", 2, 1, AVX2),
        ("default kernels", 0, 1, {}),
        ("2 threads", 0, 2, AVX2),
    ]


def run_one(
    preset: str, cell: list[str], out: Path, cache: Path, name: str, seed: int, threads: int, env: dict[str, str]
) -> dict:
    folder = out / preset / name.replace(" ", "_")
    metrics, wall = run_cli(
        ["train", "--preset", preset, *cell, f"seed={seed}", "--out", str(folder)],
        env={**run_env(threads, cache), **env},
    )
    return {
        "variant": name,
        "seed": seed,
        "threads": threads,
        "kernels": "avx2" if env else "default",
        "headline": metrics["headline"],
        "wall_s": round(wall, 1),
        "teacher": metrics["distill"].get("teacher", {}).get("source"),
    }


def measure(preset: str, cell: list[str], out: Path, cache: Path) -> dict:
    runs = variants()
    one_thread = [v for v in runs if v[2] == 1]
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda v: run_one(preset, cell, out, cache, *v), one_thread))
    rows += [run_one(preset, cell, out, cache, *v) for v in runs if v[2] != 1]
    by = {r["variant"]: r["headline"] for r in rows}
    seeds = [by["seed 0"], by["seed 1"], by["seed 2"]]
    perturbed = {k: round(by[k] - by["seed 0"], 3) for k in ("default kernels", "2 threads")}
    seed_sd = statistics.stdev(seeds)
    largest = max(abs(v) for v in perturbed.values())
    return {
        "preset": preset,
        "cell": cell,
        "runs": rows,
        "seed_sd": round(seed_sd, 3),
        "seed_mean": round(statistics.mean(seeds), 3),
        "no_change_deltas": perturbed,
        "largest_no_change": round(largest, 3),
        "checks": {"seed_sd_at_most_1": seed_sd <= TARGET, "no_change_at_most_1": largest <= TARGET},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=["ci", "quick"])
    parser.add_argument("--cell", nargs="+", default=["stages=2", "distill=teacher"])
    parser.add_argument("--out", type=Path, default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--cache", type=Path, default=None, help="datasets and teachers (default: under --out)")
    args = parser.parse_args()
    default_kernels()  # the default kernels mean no pinning inherited from the caller either
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        cache = args.cache or out / "cache"
        result = {
            "machine": machine(),
            "target": TARGET,
            "presets": [measure(p, args.cell, out, cache) for p in args.preset],
        }
        result["machine_after"] = machine()["load_average_1_5_15"]
    save("noise", result)


if __name__ == "__main__":
    main()
