"""Measure a matrix's wall time against its work: is the orchestration overhead within 10 %?

    python benchmarks/bench_ablate.py [--preset quick] [--jobs N] [--cache DIR] [spec ...]

Runs ``lspd-bench ablate stages=1..4 distill=none,teacher --preset quick --json`` (or the given specs
and preset) as a user would, into a temporary folder, with a fresh cache unless ``--cache`` names one
(so the shared work includes synthesising the dataset and training the teacher). Prints one JSON
document: the command's wall time, and the bound it should stay under,

    bound = shared work (dataset + teachers) + Σ cells' own work / parallelism + latency phase,

where a cell's own work is its worker's time in train → evaluate (``status.json`` ``seconds``) and the
latency phase is serial by design (nothing else may run while latency is measured). The target is
wall ≤ 1.10 × bound. It also runs the same command with ``--dry-run`` first, on the same empty cache, and
compares its estimate (calibrated: nothing was timed here yet) with the wall time (target: within ±50 %);
and with ``--dry-run --no-calibrate`` (target: under 2 s). Writes
``benchmarks/results/ablate_PRESET.json``. The quick preset takes about ten minutes on 2 CPU cores (a fresh
cache), ``--preset ci`` about six.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import machine, run_cli, save

from lspd_bench.ablate import store

DEFAULT_SPECS = ("stages=1..4", "distill=none,teacher")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", default=list(DEFAULT_SPECS), help="key=spec items of the matrix")
    parser.add_argument("--preset", default="quick", help="ci, quick or paper (default: quick)")
    parser.add_argument("--jobs", type=int, help="cells at once (default: the command's: one per core)")
    parser.add_argument("--cache", help="reuse this cache folder (default: a fresh one, so shared work is measured)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lspd-bench-ablate-") as tmp:
        out = Path(tmp) / "matrix"
        env = {"LSPD_BENCH_CACHE": args.cache or str(Path(tmp) / "cache")}
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        matrix = ["ablate", *args.specs, "--preset", args.preset, "--out", str(out), *jobs]
        _, dry_run = run_cli([*matrix, "--dry-run", "--no-calibrate"], env)
        plan, calibrating = run_cli([*matrix, "--dry-run"], env)
        summary, wall = run_cli(matrix, env)
        cells = [json.loads((Path(c["run_dir"]) / store.STATUS_FILE).read_text()) for c in summary["cells"]]

    seconds = summary["seconds"]
    shared = seconds["data"] + seconds["teachers"]
    own = sum(c["seconds"] for c in cells)
    bound = shared + own / summary["slots"] + seconds["latency"]
    result = {
        "command": " ".join(["lspd-bench", "ablate", *args.specs, "--preset", args.preset]),
        "cells": len(cells),
        "parallelism": {"slots": summary["slots"], "threads_per_cell": summary["threads"], "cores": summary["cores"]},
        "wall_s": round(wall, 1),
        "phases_s": {k: round(v, 1) for k, v in seconds.items()},
        "shared_work_s": round(shared, 1),
        "cells_own_work_s": round(own, 1),
        "cell_seconds": {c["label"]: round(s["seconds"], 1) for c, s in zip(summary["cells"], cells)},
        "cell_headline": {
            c["label"]: None if c["headline"] is None else round(c["headline"], 2) for c in summary["cells"]
        },
        "bound_s": round(bound, 1),
        "wall_over_bound": round(wall / bound, 3),
        "target": "wall_over_bound <= 1.10",
        "dry_run_s": round(dry_run, 2),
        "dry_run_target": "dry_run_s < 2 (--no-calibrate)",
        "estimate_s": {k: round(v, 1) for k, v in plan["estimate_s"].items()},
        "estimate_calibration_s": round(calibrating, 1),
        "wall_over_estimate": round(wall / plan["estimate_s"]["wall"], 3),
        "estimate_target": "0.5 <= wall_over_estimate <= 1.5",
        "machine": machine(),
    }
    save(f"ablate_{args.preset}", result)


if __name__ == "__main__":
    main()
