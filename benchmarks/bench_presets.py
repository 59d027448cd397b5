"""The preset study: which schedule, input size and initialisation each CPU preset takes, by the rules fixed
before it ran (docs/benchmark.md, "Choosing the presets").

    python benchmarks/bench_presets.py [--preset quick|ci ...] [--reference benchmarks/results/reference]

For each preset and each candidate (overrides of the preset), in the order below:

1. **Wall.** The preset's own job's matrix, timed: for quick the demo's (the stages matrix, seed 0), for ci
   the gate's (``ablations/ci.yaml``), plus the job's other steps, timed once per preset (install from a
   fresh virtual environment, then for the demo the zoo, the data and the report; for the gate the check).
   A candidate whose teacher is not shipped (another input size) has it trained first, untimed: a preset
   that took the candidate would ship it, as it ships its teacher today.
2. **Fidelity.** Only for a candidate within its wall (no other can be chosen): the stages matrix with two
   seeds in the same folder (the wall's cells are reused), its Spearman's ρ and Kendall's τ against the
   reference's table (``lspd_bench.report.fidelity``), and the mean of ``stages=2 distill=none``.

Each measured candidate is kept in ``runs/study/state.json``, so a rerun resumes after the last one (a killed
matrix resumes its cells, but its wall is measured again). Writes ``benchmarks/results/presets.json`` after
every candidate, with the rule's choice among those measured. Trains one matrix at a time on 2 cells of one
thread each (the suite's default on 2 cores): run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import machine, save

from lspd_bench.ablate import store
from lspd_bench.ablate.schema import HEADLINE, SEED, STATUS, Status
from lspd_bench.fileio import write_json
from lspd_bench.report.fidelity import COVERS, rank_fidelity

STUDY = Path("runs/study")
STATE = STUDY / "state.json"
#: What a variant is in the stages matrix (the seed aside), and the variant of the issue's targets.
AXES = ("stages", "distill")
TARGET_VARIANT = "stages=2 distill=none"


@dataclass(frozen=True)
class Candidate:
    name: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class PresetStudy:
    wall_seconds: float  # the preset's own job, from a fresh clone on the idle 2-core machine
    job: str
    wall_matrix: tuple[str, ...]  # the job's matrix: ablate's arguments before the overrides
    target: float  # the target for TARGET_VARIANT (3 seeds)
    candidates: tuple[Candidate, ...]


_96 = ("input_size=96x96", "sigma=1.5")  # σ scaled with the heatmap: 2 px at 32 px, 1.5 px at 24 px
# Twice the students' steps in the same epochs; the teacher keeps the presets' batch of 32, so it stays the one shipped.
_B16 = ("batch_size=16", "teacher_batch_size=32")
#: The candidates of the rules, cheapest and likeliest first within each preset, so that a study cut short
#: has measured what could change the choice.
STUDIES = {
    "ci": PresetStudy(
        wall_seconds=300,
        job="nox -s regress",
        wall_matrix=("ablations/ci.yaml",),
        target=40.0,
        candidates=(
            Candidate("as is", ()),
            Candidate("init", ("init=ci",)),
            Candidate("batch 16", _B16),
            Candidate("batch 16, init", (*_B16, "init=ci")),
        ),
    ),
    "quick": PresetStudy(
        wall_seconds=600,
        job="nox -s demo",
        wall_matrix=("ablations/stages.yaml", "seed=0"),
        target=45.0,
        candidates=(
            Candidate("as is", ()),
            Candidate("init", ("init=quick",)),
            Candidate("96x96", _96),
            Candidate("96x96, init", (*_96, "init=quick")),
            Candidate("batch 16", _B16),
            Candidate("batch 16, init", (*_B16, "init=quick")),
            Candidate("96x96, batch 16", (*_96, *_B16)),
            Candidate("96x96, batch 16, init", (*_96, *_B16, "init=quick")),
        ),
    ),
}
FIDELITY_MATRIX = ("ablations/stages.yaml", "seed=0..1")


def folder(preset: str, candidate: Candidate) -> Path:
    return STUDY / f"{preset}-{candidate.name.replace(', ', '-').replace(' ', '')}"


def run(args: list[str]) -> float:
    """Run a command (its output to the study's log), exit when it fails; its wall seconds."""
    started = time.perf_counter()
    with open(STUDY / "study.log", "a") as log:
        log.write(f"$ {' '.join(args)}\n")
        log.flush()
        done = subprocess.run(args, check=False, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}); see {STUDY / 'study.log'}")
    return time.perf_counter() - started


def ablate(preset: str, matrix: tuple[str, ...], overrides: tuple[str, ...], out: Path) -> float:
    cli = [sys.executable, "-m", "lspd_bench", "ablate", *matrix, "--preset", preset, *overrides, "--out", str(out)]
    return run([*cli, "--jobs", "2", "--threads", "1"])


def job_overhead(preset: str) -> dict[str, float]:
    """The seconds of the preset's job besides its matrix, each step timed once (the same for every candidate)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / "venv"
        pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "-c", "constraints.txt"]
        steps = {
            "install": lambda: run([sys.executable, "-m", "venv", str(env)]) + run([*pip, "torch"]) + run([*pip, "."])
        }
        cli = [sys.executable, "-m", "lspd_bench"]
        if preset == "quick":
            data, report = Path(tmp) / "data", Path(tmp) / "report"
            steps |= {
                "zoo": lambda: run([*cli, "zoo", "--input", "128x128", "--latency", "--out", f"{tmp}/zoo.json"]),
                "data": lambda: (
                    run([*cli, "data", "synth", "--preset", "quick", "--out", str(data)])
                    + run([*cli, "data", "show", str(data), "--n", "16", "--out", f"{report}/samples.png"])
                ),
                "report": lambda: run(
                    [*cli, "report", str(folder(preset, STUDIES[preset].candidates[0])), "--out", str(report)]
                ),
            }
        else:
            steps["check"] = lambda: run(
                [
                    *cli,
                    "check",
                    str(folder(preset, STUDIES[preset].candidates[0])),
                    "--baseline",
                    "reports/baseline/ci.json",
                ]
            )
        return {name: step() for name, step in steps.items()}


def variant_headlines(out: Path) -> dict[str, list[float]]:
    table = store.read_results(out)
    done = table[table[STATUS] == Status.DONE]
    runs: dict[str, list[float]] = {}
    for _, row in done.sort_values(SEED).iterrows():
        runs.setdefault(" ".join(f"{a}={row[a]}" for a in AXES), []).append(float(row[HEADLINE]))
    return runs


class Infeasible(Exception):
    """The suite refuses the candidate's matrix (its dry run fails): why, in the suite's last line."""


def teacher_first(preset: str, candidate: Candidate) -> float:
    """Train the candidate's teacher into the cache when none is shipped for it (a preset that took the
    candidate would ship it, so its job would not train it): the seconds it took, 0 when shipped or cached.
    ``Infeasible`` when the suite refuses the candidate's matrix."""
    cli = [sys.executable, "-m", "lspd_bench"]
    plan = subprocess.run(
        [*cli, "ablate", *STUDIES[preset].wall_matrix, "--preset", preset, *candidate.overrides, "--dry-run", "--json"],
        check=False,
        capture_output=True,
        text=True,
    )
    if plan.returncode != 0:
        raise Infeasible((plan.stderr.strip().splitlines() or ["no message"])[-1])
    if not any(s["what"] == "teacher" and s["state"] == "to train" for s in json.loads(plan.stdout)["shared"]):
        return 0.0
    return run([*cli, "teacher", "train", "--preset", preset, *candidate.overrides])


def time_job(preset: str, candidate: Candidate) -> dict:
    """Train the preset's job's matrix under ``candidate``, timed (its teacher trained first, untimed)."""
    out = folder(preset, candidate)
    teacher_seconds = teacher_first(preset, candidate)
    return {
        "candidate": candidate.name,
        "overrides": list(candidate.overrides),
        "folder": str(out),
        "teacher_seconds": round(teacher_seconds, 1),
        "job_matrix_seconds": round(ablate(preset, STUDIES[preset].wall_matrix, candidate.overrides, out), 1),
        "load_average_1_5_15": machine()["load_average_1_5_15"],
    }


def judge(preset: str, candidate: Candidate, row: dict, overhead: dict, reference: dict[str, list[float]]) -> dict:
    """``row`` with its job's wall against the preset's, and, within it (or for the preset as it is, whose ρ is
    the one to beat), the two-seed matrix's fidelity; the target variant's mean either way."""
    study, out = STUDIES[preset], Path(row["folder"])
    row = {**row, "job_seconds": round(row["job_matrix_seconds"] + sum(overhead.values()), 1)}
    row["within_wall"] = row["job_seconds"] <= study.wall_seconds
    if row["within_wall"] or candidate.name == "as is":
        row["fidelity_matrix_seconds"] = round(ablate(preset, FIDELITY_MATRIX, candidate.overrides, out), 1)
    runs = variant_headlines(out)
    target = runs.get(TARGET_VARIANT, [])
    row["target_variant_mean"] = round(sum(target) / len(target), 2) if target else None
    row["target_variant_seeds"] = len(target)
    row["runs"] = runs
    if "fidelity_matrix_seconds" in row:
        row["fidelity"] = rank_fidelity(runs, reference).to_dict()
    return row


def choose(rows: list[dict]) -> dict | None:
    """The rule: the highest ρ (to two decimals) within the wall, a tie to the cheaper job; the preset as it is
    unless a candidate beats its own ρ."""
    within = [r for r in rows if r["within_wall"] and "fidelity" in r]
    if not within:
        return None
    rho = lambda r: round(r["fidelity"]["spearman"]["value"], 2)
    best = min(within, key=lambda r: (-rho(r), r["job_seconds"]))
    own = next((r for r in rows if r["candidate"] == "as is" and "fidelity" in r), None)
    return own if own is not None and rho(best) <= rho(own) and own in within else best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", action="append", choices=sorted(STUDIES), help="(repeatable; default: all)")
    parser.add_argument("--reference", default="benchmarks/results/reference", help="the reference's results table")
    args = parser.parse_args()
    STUDY.mkdir(parents=True, exist_ok=True)
    state = store.read_json(STATE) if STATE.is_file() else {}
    reference = variant_headlines(Path(args.reference))
    for preset in args.preset or ("ci", "quick"):
        entry = state.setdefault(preset, {"rows": {}})
        for candidate in STUDIES[preset].candidates:
            if candidate.name in entry["rows"]:
                continue
            try:
                row = time_job(preset, candidate)
            except Infeasible as why:
                entry["rows"][candidate.name] = {
                    "candidate": candidate.name,
                    "overrides": list(candidate.overrides),
                    "infeasible": str(why),
                    "within_wall": False,
                }
                write_json(STATE, state)
                continue
            if "overhead" not in entry:  # its report (or check) reads the first candidate's folder
                entry["overhead"] = {k: round(v, 1) for k, v in job_overhead(preset).items()}
            entry["rows"][candidate.name] = judge(preset, candidate, row, entry["overhead"], reference)
            write_json(STATE, state)
            publish(state)
    publish(state)


def publish(state: dict) -> None:
    presets = {}
    for preset, entry in state.items():
        rows = list(entry["rows"].values())
        chosen = choose(rows)
        presets[preset] = {
            "job": STUDIES[preset].job,
            "wall_seconds": STUDIES[preset].wall_seconds,
            "job_overhead_seconds": entry.get("overhead"),
            "target": f"{TARGET_VARIANT} >= {STUDIES[preset].target:g} (3 seeds)",
            "rows": rows,
            "measured": f"{len(rows)} of {len(STUDIES[preset].candidates)} candidates",
            "chosen": chosen["candidate"] if chosen else None,
        }
    save(
        "presets",
        {
            "command": "python benchmarks/bench_presets.py",
            "rule": "highest Spearman rho within the job's wall; equal to two decimals: the cheaper job; the "
            "preset changes only if a candidate beats its own rho (docs/benchmark.md)",
            "interval": COVERS,
            "presets": presets,
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
