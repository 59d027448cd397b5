"""The GPU check: does a matrix train on CUDA, how fast, and does it agree with the CPU? (``nox -s gpu``)

    python benchmarks/gpu_check.py [--out runs/gpu-check]

On a machine whose torch sees a CUDA GPU it trains, from scratch, the two cells

    lspd-bench ablate stages=2 distill=none precision=fp32,bf16 seed=0 --preset quick device=cuda --out OUT

(lspd-xs, 2 epochs at 128×128 each; a few minutes, at most 8 from an installed environment) and prints one
line, ``GPU check: passed: …`` (exit code 0) or ``GPU check: failed: why`` (exit code 1), the figures in it.
On a machine without a GPU it says so in one line and exits 0. The run's figures are also written to
``OUT/gpu_check.json``.

The check passes when (:func:`verdict`):

1. the committed CPU figures are of this quick preset (``preset_digest`` of ``benchmarks/results/fidelity.json``
   equals the preset file's) and of the same data (the dataset fingerprint of the committed reference table,
   which trains on the quick preset's data);
2. both cells finished, each on a CUDA device, in the precision it asked for;
3. the fp32 cell's PCKh@0.5 (the deployed stage, flip test) lies within the CPU's seed noise of the CPU's figure
   for the same cell and seed: |GPU − CPU| ≤ 1.96 · √2 · SD. Another device's kernels sum in another order, and
   two trainings that differ only in rounding drift apart as two seeds do: their difference has an SD of √2
   times the seed SD, and lies beyond 1.96 times that one time in twenty.

Its sources, all committed and measured on a CPU:

- the CPU figure: ``benchmarks/results/fidelity.json``, ``presets.quick.runs["stages=2 distill=none"][0]``
  (the stages matrix lists each variant's seeds 0, 1, 2 in order: 25.82 / 25.19 / 26.07 on the quick preset
  of batch 16, whose mean ± SD, 25.70 ± 0.45, docs/benchmark.md gives);
- SD: the pooled seed SD of that file's quick runs (8 variants × 3 seeds, 16 degrees of freedom);
- the data's fingerprint: ``benchmarks/results/reference/results.csv``;
- CPU images/s: ``benchmarks/results/steps.json``, ``images_per_s.baseline``: the same cell's training step on
  one CPU thread, random data, data loading left out. The GPU figure is the cell's own (``metrics.json``:
  whole epochs, data loading included, which a GPU may wait for), so their ratio understates the GPU's step.
  bf16 is reported, not judged: its rounding is not fp32's.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FIDELITY = RESULTS / "fidelity.json"
STEPS = RESULTS / "steps.json"
REFERENCE_TABLE = RESULTS / "reference" / "results.csv"
#: The cell the check trains and the committed CPU figure it is compared with (its seed 0).
CELL = "stages=2 distill=none"
PRECISIONS = ("fp32", "bf16")
COMMAND = [
    "ablate",
    "stages=2",
    "distill=none",
    f"precision={','.join(PRECISIONS)}",
    "seed=0",
    "--preset",
    "quick",
    "device=cuda",
]
#: Two-sided 95 %: how far, in SDs of the difference of two runs, the GPU's figure may lie from the CPU's.
Z = 1.96


def pooled_sd(runs: dict[str, list[float]]) -> float:
    """The seed SD pooled over variants: √(Σ (n − 1) s² / Σ (n − 1)), s² each variant's sample variance."""
    squares = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in runs.values() if len(v) > 1)
    df = sum(len(v) - 1 for v in runs.values() if len(v) > 1)
    return math.sqrt(squares / df)


def verdict(cells: list[dict[str, Any]], cpu: dict[str, Any]) -> tuple[bool, str]:
    """(passed, why) of the check's rule (the module's docstring) from the GPU ``cells`` (each: ``precision``
    asked for, ``status``, ``error``, ``device``, ``gpu``, ``trained_in``, ``headline``, ``images_per_s``,
    ``fingerprint``) and the committed ``cpu`` figures (``headline``, ``seed_sd``, ``images_per_s``,
    ``fingerprint``, ``preset_digest``, ``current_digest``)."""
    if cpu["preset_digest"] != cpu["current_digest"]:
        return False, (
            f"the committed CPU figure is of another quick preset (digest {cpu['preset_digest']} in "
            f"{FIDELITY.name}, {cpu['current_digest']} now): measure the preset again (nox -s reference)"
        )
    by = {c["precision"]: c for c in cells}
    for precision in PRECISIONS:
        cell = by.get(precision)
        if cell is None or cell["status"] != "done":
            why = f": {cell['error']}" if cell and cell.get("error") else ""
            return False, f"the {precision} cell did not finish ({cell['status'] if cell else 'missing'}){why}"
        if not str(cell["device"]).startswith("cuda"):
            return False, f"the {precision} cell trained on {cell['device']}, not on CUDA"
        if cell["trained_in"] != precision:
            return False, f"the {precision} cell trained in {cell['trained_in']}"
        if cell["fingerprint"] != cpu["fingerprint"]:
            return False, f"the {precision} cell trained on other data than the CPU figure's (fingerprint)"
    fp32, bf16 = by["fp32"], by["bf16"]
    limit = Z * math.sqrt(2) * cpu["seed_sd"]
    gap = fp32["headline"] - cpu["headline"]
    accuracy = (
        f"fp32 PCKh@0.5 {fp32['headline']:.2f} against the CPU's {cpu['headline']:.2f} (Δ {gap:+.2f}; "
        f"the noise allows ± {limit:.2f} = {Z}·√2·SD {cpu['seed_sd']:.2f})"
    )
    if abs(gap) > limit:
        return False, f"{accuracy}: beyond the CPU's seed noise"
    speed = ", ".join(
        f"{p} {by[p]['images_per_s']:.0f} (×{by[p]['images_per_s'] / cpu['images_per_s']:.1f})" for p in PRECISIONS
    )
    return True, (
        f"{accuracy}; bf16 {bf16['headline']:.2f}; training images/s on {fp32['gpu']}: {speed} against "
        f"{cpu['images_per_s']:.1f} on one CPU thread ({STEPS.name}, the step alone)"
    )


def cpu_figures() -> dict[str, Any]:
    """The committed CPU figures the GPU's are compared with (the module's docstring names each source)."""
    from lspd_bench.report.fidelity import preset_digest

    quick = json.loads(FIDELITY.read_text(encoding="utf-8"))["presets"]["quick"]
    with open(REFERENCE_TABLE, newline="", encoding="utf-8") as f:
        fingerprints = {row["dataset_fingerprint"] for row in csv.DictReader(f)}
    steps = json.loads(STEPS.read_text(encoding="utf-8"))
    return {
        "headline": quick["runs"][CELL][0],
        "seed_sd": pooled_sd(quick["runs"]),
        "images_per_s": steps["images_per_s"]["baseline"],
        "fingerprint": fingerprints.pop() if len(fingerprints) == 1 else None,
        "preset_digest": quick["preset_digest"],
        "current_digest": preset_digest("quick"),
    }


def gpu_cells(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cell of the ablation's summary with the facts its ``metrics.json`` records."""
    cells = []
    for c in summary["cells"]:
        path = Path(c["run_dir"]) / "metrics.json"
        metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        env, train = metrics.get("environment", {}), metrics.get("train", {})
        cells.append(
            {
                "precision": c["axes"].get("precision"),
                "status": c["status"],
                "error": c.get("error"),
                "device": env.get("device"),
                "gpu": env.get("gpu"),
                "trained_in": train.get("precision"),
                "headline": c.get("headline"),
                "images_per_s": train.get("images_per_s"),
                "fingerprint": metrics.get("dataset", {}).get("fingerprint"),
            }
        )
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/gpu-check", help="the matrix folder (emptied first)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"GPU check: skipped: torch {torch.__version__} sees no CUDA GPU on this machine")
        return 0
    from lspd_bench.fileio import write_json

    cpu = cpu_figures()
    if cpu["preset_digest"] != cpu["current_digest"]:  # nothing to compare with: say so before training
        print(f"GPU check: failed: {verdict([], cpu)[1]}")
        return 1
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)  # from scratch: a resumed matrix would train nothing
    cmd = [sys.executable, "-m", "lspd_bench", *COMMAND, "--out", str(out), "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    if run.returncode not in (0, 1):  # 1: a cell failed, which the verdict names
        said = [line for line in run.stderr.splitlines() if line.strip()]
        print(f"GPU check: failed: lspd-bench ablate exited with {run.returncode}: {said[-1] if said else ''}")
        return 1
    cells = gpu_cells(json.loads(run.stdout))
    passed, why = verdict(cells, cpu)
    document = {"command": ["lspd-bench", *COMMAND], "passed": passed, "why": why, "cells": cells, "cpu": cpu}
    write_json(out / "gpu_check.json", document)
    print(f"GPU check: {'passed' if passed else 'failed'}: {why}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
