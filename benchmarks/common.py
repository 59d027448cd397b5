"""What the benchmark scripts share: running a command of the suite as a user would, and keeping results.

Every script prints its JSON document and writes it to ``benchmarks/results/NAME.json`` (atomically), with
the machine it was measured on, so the README's figures can be traced to a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lspd_bench.env import environment
from lspd_bench.fileio import write_json

RESULTS = Path(__file__).parent / "results"
#: The environment that pins torch's, oneDNN's and MKL's CPU kernels to AVX2 (the default: the widest the CPU has).
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def run_env(threads: int, cache: Path) -> dict[str, str]:
    """A suite command's environment: ``threads`` torch threads, datasets and teachers in ``cache``."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "LSPD_BENCH_CACHE": str(cache)}


def default_kernels() -> None:
    """Run the machine's default kernels: drop every kernel pin (:data:`AVX2`'s keys) the caller's environment holds."""
    for key in AVX2:
        os.environ.pop(key, None)


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[Any, float]:
    """Run ``python -m lspd_bench ARGS --json``; return its JSON output and wall seconds (exit on failure)."""
    cmd = [sys.executable, "-m", "lspd_bench", *args, "--json"]
    started = time.perf_counter()
    run = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return json.loads(run.stdout), wall


def machine() -> dict[str, Any]:
    """CPU, library versions and the load average while the figures were measured."""
    return {**environment("cpu"), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def save(name: str, result: dict[str, Any]) -> Path:
    """Write ``results/NAME.json`` atomically and print the document."""
    path = RESULTS / f"{name}.json"
    write_json(path, result)
    print(json.dumps(result, indent=2))
    return path
