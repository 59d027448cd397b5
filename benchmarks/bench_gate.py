"""Does the CI gate pass unchanged code on any machine state, and catch real regressions?

    python benchmarks/bench_gate.py [--repeats 5] [--only NAME ...] [--out DIR]

Runs the regression gate as ``nox -s regress`` does (``lspd-bench ablate ablations/ci.yaml`` from an empty
cache and folder, then ``lspd-bench check RUN --baseline reports/baseline/ci.json``), on a copy of this
tree, under each condition, ``--repeats`` times:

- ``unchanged``: default kernels (no ISA pinning), 2 cells at a time with 1 thread each, idle machine;
- ``2 threads``: one cell at a time with 2 threads;
- ``busy``: as ``unchanged`` with a CPU-bound process of our own on each core for the whole run;
- ``extra conv`` (cost): every LMRB block ends with one more 1×1 conv-BN-ReLU;
- ``flip pairs`` (accuracy): the flip test un-mirrors the heatmaps swapping the legs' left/right pairs but
  not the arms' (``flip_pairs[:3]``), a realistic bug that leaves every cost as it is;
- ``repeated op`` (latency): every LMRB block copies its input ``COPIES`` times (``clone``, which no MAC
  counter counts), so the MACs stay and the network is slower.

The first repeat of a condition is the whole gate from scratch. Training is deterministic for given code,
kernels and thread count (the first two ``unchanged`` repeats both train from scratch, and the document
records whether their headlines are identical), so later repeats re-measure what the machine's state can
move, the latency phase, and judge again: they delete every ``cost.json`` and resume the matrix.

Writes ``benchmarks/results/gate.json``: per condition and repeat, whether the gate passed, the rows that
failed (cell, figure, verdict), the latency verdicts, and wall times; ``checks`` holds the issue's targets
(no false alarm 5/5, every regression caught 5/5 naming its figure, the whole gate ≤ 5 min when idle).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import default_kernels, machine, run_env, save

ROOT = Path(__file__).resolve().parent.parent
COPIES = 300
GATE_MINUTES = 5.0

#: name → (files to patch: {path: (old, new)}, expected failing figure or None, jobs, threads, busy)
CONDITIONS: dict[str, tuple[dict[str, tuple[str, str]], str | None, int, int, bool]] = {
    "unchanged": ({}, None, 2, 1, False),
    "2 threads": ({}, None, 1, 2, False),
    "busy": ({}, None, 2, 1, True),
    "extra conv": (
        {
            "lspd_bench/models/lspd.py": (
                "        return self.relu(self.expand(torch.cat(outs, dim=1)) + x)\n",
                "        return self.extra(self.relu(self.expand(torch.cat(outs, dim=1)) + x))\n",
            ),
            "lspd_bench/models/lspd.py#init": (
                "        self.expand = conv_bn(mid, channels, 1, relu=False)\n",
                "        self.expand = conv_bn(mid, channels, 1, relu=False)\n        self.extra = conv_bn(channels, channels, 1)\n",
            ),
        },
        "params_deploy",
        2,
        1,
        False,
    ),
    "flip pairs": (
        {
            "lspd_bench/evaluation/predict.py": (
                "flip_test_average(h, f, flip_pairs, shift=True)",
                "flip_test_average(h, f, flip_pairs[:3], shift=True)",
            ),
        },
        "headline",
        2,
        1,
        False,
    ),
    "repeated op": (
        {
            "lspd_bench/models/lspd.py": (
                "        parts = torch.chunk(self.reduce(x), self.groups, dim=1)\n",
                f"        for _ in range({COPIES}):\n            x = x.clone()\n"
                "        parts = torch.chunk(self.reduce(x), self.groups, dim=1)\n",
            ),
        },
        "latency_ratio",
        2,
        1,
        False,
    ),
}


def make_tree(dest: Path, patches: dict[str, tuple[str, str]]) -> Path:
    """A copy of the package, the ci matrix and the baseline, with ``patches`` applied (each must match once)."""
    shutil.rmtree(dest, ignore_errors=True)
    for part in ("lspd_bench", "ablations", "reports/baseline"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    for key, (old, new) in patches.items():
        path = dest / key.split("#")[0]
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            sys.exit(f"patch {key}: the text to replace occurs {text.count(old)} times")
        path.write_text(text.replace(old, new), encoding="utf-8")
    return dest


def busy_cores(n: int) -> list[subprocess.Popen]:
    """``n`` CPU-bound processes (one per core), to be terminated by the caller."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run(cmd: list[str], tree: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=tree, env={**os.environ, **env, "PYTHONPATH": str(tree)}, capture_output=True, text=True
    )
    return done, time.perf_counter() - started


def gate(tree: Path, out: Path, cache: Path, jobs: int, threads: int) -> dict[str, Any]:
    """``ablate`` then ``check --json`` in ``tree``; the check's verdicts and the two wall times."""
    env = run_env(threads, cache)
    py = [sys.executable, "-m", "lspd_bench"]
    ablate, t_ablate = run(
        [
            *py,
            "ablate",
            "ablations/ci.yaml",
            "--out",
            str(out),
            "--jobs",
            str(jobs),
            "--threads",
            str(threads),
            "--json",
        ],
        tree,
        env,
    )
    if ablate.returncode not in (0, 1):
        sys.exit(f"ablate failed ({ablate.returncode}) in {tree}:\n{ablate.stderr[-3000:]}")
    check, t_check = run([*py, "check", str(out), "--baseline", "reports/baseline/ci.json", "--json"], tree, env)
    if check.returncode not in (0, 1):
        sys.exit(f"check failed ({check.returncode}) in {tree}:\n{check.stderr[-3000:]}")
    report = json.loads(check.stdout)
    rows = report["rows"]
    return {
        "passed": report["passed"],
        "exit": check.returncode,
        "failing": [
            {"cell": r["cell"], "figure": r["figure"], "verdict": r["verdict"], "message": r["message"]}
            for r in rows
            if r["fails"]
        ],
        "latency": sorted({f"{r['verdict']}: {r['message']}" for r in rows if r["figure"] == "latency_ratio"}),
        "headlines": {c: v for c, v in _headlines(out).items()},
        "noise_points": report["tolerances"]["accuracy_noise_points"],
        "ablate_s": round(t_ablate, 1),
        "check_s": round(t_check, 1),
    }


def _headlines(out: Path) -> dict[str, float]:
    from lspd_bench.ablate import store

    return {
        f"stages={r['stages']} distill={r['distill']} seed={r['seed']}": round(float(r["headline"]), 4)
        for r in store.read_table(out / store.RESULTS_CSV).rows
    }


def drop_costs(out: Path) -> None:
    """Forget every cell's cost (and so its latency): resuming the matrix measures them again."""
    from lspd_bench.ablate import store

    for cost in out.glob(f"*/{store.COST_FILE}"):
        cost.unlink()


def condition(name: str, work: Path, repeats: int) -> dict[str, Any]:
    patches, expected, jobs, threads, busy = CONDITIONS[name]
    tree = make_tree(work / "tree", patches)
    out, cache = work / "run", work / "cache"
    runs = []
    for i in range(repeats):
        fresh = i == 0 or (name == "unchanged" and i == 1)  # the second unchanged run checks determinism
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
        else:
            drop_costs(out)
        load = busy_cores(os.cpu_count() or 2) if busy else []
        try:
            result = gate(tree, out, cache, jobs, threads)
        finally:
            for p in load:
                p.terminate()
                p.wait()
        result["from_scratch"] = fresh
        runs.append(result)
        print(
            f"{name} #{i + 1}: {'passed' if result['passed'] else 'FAILED'} "
            f"({', '.join(f['cell'] + ' ' + f['figure'] for f in result['failing']) or 'no regression'}) "
            f"ablate {result['ablate_s']} s",
            file=sys.stderr,
        )
    if expected is None:
        ok = sum(r["passed"] for r in runs)
        verdict = {"expected": "pass", "passed": ok, "of": repeats, "holds": ok == repeats}
    else:
        caught = sum((not r["passed"]) and any(f["figure"] == expected for f in r["failing"]) for r in runs)
        verdict = {"expected": f"fail on {expected}", "caught": caught, "of": repeats, "holds": caught == repeats}
    return {"condition": name, "jobs": jobs, "threads": threads, "busy": busy, "runs": runs, **verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS))
    parser.add_argument("--out", type=Path, default=None, help="work folders (default: a temporary folder)")
    args = parser.parse_args()
    default_kernels()  # the machine's own kernels
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        before = machine()
        results = [condition(name, work / name.replace(" ", "_"), args.repeats) for name in args.only]
    by = {r["condition"]: r for r in results}
    checks: dict[str, Any] = {name: r["holds"] for name, r in by.items()}
    if "unchanged" in by and len(by["unchanged"]["runs"]) >= 2:
        first, second = by["unchanged"]["runs"][:2]
        checks["training_is_deterministic"] = first["headlines"] == second["headlines"]
        scratch = [r["ablate_s"] + r["check_s"] for r in by["unchanged"]["runs"] if r["from_scratch"]]
        checks["gate_minutes_idle"] = round(max(scratch) / 60, 2)
        checks["gate_at_most_5_min"] = max(scratch) / 60 <= GATE_MINUTES
    save(
        "gate",
        {
            "machine": before,
            "machine_after": machine()["load_average_1_5_15"],
            "repeats": args.repeats,
            "copies": COPIES,
            "conditions": results,
            "checks": checks,
        },
    )


if __name__ == "__main__":
    main()
