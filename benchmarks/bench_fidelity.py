"""Fidelity: does a short preset rank the stages matrix as the longer reference does?

    python benchmarks/bench_fidelity.py [--reference runs/reference] [--run quick=runs/stages-quick ...]

Reads the results tables of the reference (``nox -s reference``: ``ablations/stages.yaml`` at 8× the quick
preset's epochs, 2 seeds) and of the same matrix on each preset (``lspd-bench ablate ablations/stages.yaml
--preset P --out runs/stages-P``, as the preset stands: a table that departs from it is refused), matches
their variants by the matrix's axes (seed aside), and computes Spearman's ρ and Kendall's τ between each
preset's variant means and the reference's, with bootstrap intervals over seeds
(``lspd_bench.report.fidelity``). Writes ``benchmarks/results/fidelity.json`` and the shipped summary
``lspd_bench/presets/fidelity.json`` that every report of a preset's matrix quotes (the presets measured
replace their entries; the others keep theirs). Seconds: it trains nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import RESULTS, machine, save

from lspd_bench.ablate import store
from lspd_bench.ablate.schema import HEADLINE, SEED, STATUS, Status
from lspd_bench.config import load_config
from lspd_bench.fileio import write_json
from lspd_bench.report.fidelity import COVERS, FIDELITY_FILE, preset_differences, preset_digest, rank_fidelity

DEFAULT_RUNS = ("quick=runs/stages-quick", "ci=runs/stages-ci")
#: The axes the stages matrix varies besides the seed: what a variant is.
AXES = ("stages", "distill")


def finished(folder: Path):
    """The finished cells of the matrix in ``folder`` (exit with one line when there are none)."""
    if not (folder / store.RESULTS_CSV).is_file():
        sys.exit(f"{folder} holds no results table: run `nox -s reference` (it trains the reference and the presets)")
    table = store.read_results(folder)
    done = table[table[STATUS] == Status.DONE]
    if done.empty:
        sys.exit(f"{folder}: no cell has finished")
    return done


def headlines(done) -> dict[str, list[float]]:
    """Each variant's headline per seed."""
    runs: dict[str, list[float]] = {}
    for _, row in done.sort_values(SEED).iterrows():  # each variant's seeds in order: 0, 1, 2
        runs.setdefault(" ".join(f"{a}={row[a]}" for a in AXES), []).append(float(row[HEADLINE]))
    return runs


def earlier(path: Path) -> dict:
    """The presets a fidelity file already holds (none when it is missing or unreadable)."""
    data = store.read_json(path)
    return data.get("presets", {}) if isinstance(data, dict) else {}


def facts(done) -> dict:
    first = done.iloc[0]
    return {
        "preset": str(first["preset"]),
        "epochs": int(first["epochs"]),
        "seeds": int(done[SEED].nunique()),
        "data": f"synth {first['synth_preset']} at {first['input_size']}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default="runs/reference", help="the reference matrix folder")
    parser.add_argument("--run", action="append", help="PRESET=FOLDER: the matrix on a preset (repeatable)")
    parser.add_argument("--matrix", default="stages", help="the matrix's name, as the reports say it")
    args = parser.parse_args()

    reference = finished(Path(args.reference))
    ref, ref_runs = facts(reference), headlines(reference)
    base_epochs = load_config(ref["preset"]).epochs
    reference_text = (
        f"{ref['epochs']}-epoch reference ({ref['epochs'] / base_epochs:g}× the {ref['preset']} preset's steps, "
        f"{ref['seeds']} seeds, {ref['data']})"
    )
    shipped, rows = {}, {}
    for item in args.run or DEFAULT_RUNS:
        preset, _, folder = item.partition("=")
        done = finished(Path(folder))
        own = facts(done)
        differs = preset_differences(preset, lambda k, done=done: done[k].dropna().unique() if k in done else [])
        if own["preset"] != preset or differs:
            sys.exit(f"{folder} is not the {preset} preset as it stands (preset {own['preset']}; differs in {differs})")
        runs = headlines(done)
        record = {
            "matrix": args.matrix,
            "reference": reference_text,
            "preset_seeds": own["seeds"],
            "preset_epochs": own["epochs"],
            "preset_data": own["data"],
            "preset_digest": preset_digest(preset),
            "interval": COVERS,
            **rank_fidelity(runs, ref_runs).to_dict(),
        }
        shipped[preset] = record
        rows[preset] = {**record, "runs": runs}
    # The presets measured now replace their entries; the others keep theirs.
    write_json(FIDELITY_FILE, {"presets": {**earlier(FIDELITY_FILE), **shipped}})
    save(
        "fidelity",
        {
            "command": "python benchmarks/bench_fidelity.py",
            "reference": {"folder": args.reference, **ref, "runs": ref_runs},
            "presets": {**earlier(RESULTS / "fidelity.json"), **rows},
            "target": "quick: Spearman rho >= 0.8",
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
