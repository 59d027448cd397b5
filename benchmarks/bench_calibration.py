"""Calibrate the synthetic benchmark and the quick schedule: what each model reaches, and how fast.

    python benchmarks/bench_calibration.py [--synth standard] [--preset quick] [--cache DIR] [--only NAME ...]
    python benchmarks/bench_calibration.py --lr-sweep [--only-models NAME ...]
    python benchmarks/bench_calibration.py --spread-study [--only-variants NAME ...]

Trains each run below as a user would, ``lspd-bench train --preset quick synth_preset=standard KEY=VALUE ...
--json``, one after another with the machine to itself (2 torch threads on 2 cores), and writes one JSON
document to ``benchmarks/results/calibration.json``: per run the command's wall time (start-up, data
from the cache, training with per-epoch validation, final evaluation with the flip test), the training
seconds, PCKh@0.5 Mean and Mean@0.1 of every stage, and the teacher's own training time where one was
trained first. The dataset and the teacher are shared work, generated and trained once into the cache.

The targets it checks (``checks`` in the output):

- ``bar``: a 2-stage LSPD on the quick schedule reaches PCKh@0.5 ≥ 55 at its deployed stage (stage 1)
  within 300 s of wall time, for every seed measured;
- ``spread``: the largest model of the zoo (SimpleBaseline-ResNet-50, 34.0 M parameters) beats the
  smallest (``lspd-xs`` as registered, K = 2, 0.55 M) by at least 10 points, and no run exceeds 95.

Every run has the quick schedule's epochs; the learning rate is each model's own. One Adam rate does not
suit both ends of the zoo (a comparison at one rate measures the rate, not the model), so ``--lr-sweep``
trains one epoch on the quick data for each family's model at three rates and writes
``benchmarks/results/lr_sweep.json``; the ResNet-50 above trains at the best rate it found for it (0.01).

``--spread-study`` trains the smallest and the largest run again under each variant of the schedule or the
data in ``STUDY`` (overrides for both, and synthetic-data knobs generated into a dataset of their own) and
writes the two figures and their gap per variant to ``benchmarks/results/spread_study.json``: what moves
the spread, measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import RESULTS, machine, run_cli, save

from lspd_bench.config import load_config
from lspd_bench.data.build import ensure_synth
from lspd_bench.data.synth import generate_dataset
from lspd_bench.data.synth import preset as synth_preset

RUNS: dict[str, list[str]] = {
    "lspd-xs K=1": ["model=lspd-xs", "stages=1"],
    "lspd-xs K=2": ["model=lspd-xs", "stages=2"],
    "lspd-xs K=2 seed 1": ["model=lspd-xs", "stages=2", "seed=1"],
    "lspd-xs K=2 teacher": ["model=lspd-xs", "stages=2", "distill=teacher"],
    "simplebaseline-r50": ["model=simplebaseline-r50", "lr=0.01"],
}
BAR_RUNS = ("lspd-xs K=2", "lspd-xs K=2 seed 1")
SMALLEST, LARGEST = "lspd-xs K=2", "simplebaseline-r50"
BAR_PCKH, BAR_SECONDS, SPREAD, CEILING = 55.0, 300.0, 10.0, 95.0
#: ``--lr-sweep``: one epoch of the quick schedule on the quick data, per model and Adam rate.
SWEEP_MODELS = ("lspd-xs", "simplebaseline-r50", "simplebaseline-r18", "simplebaseline-mbv2", "litehrnet-18")
SWEEP_RATES = (0.2, 0.01, 0.001)
#: ``--spread-study``: variant -> (overrides for both runs, synthetic-data knobs of the standard preset).
STUDY: dict[str, tuple[list[str], dict[str, float]]] = {
    "preset": ([], {}),
    "batch 16": (["batch_size=16"], {}),
    "harder data": ([], {"hard_pose_prob": 0.5, "rotation_prob": 0.15, "back_view_prob": 0.3}),
    "sigma 1": (["sigma=1"], {}),
    "sigma 1, 4 epochs": (["sigma=1", "epochs=4"], {}),
    "sigma 1, 5 epochs": (["sigma=1", "epochs=5"], {}),
}


def earlier(name: str, key: str, keep, **identity) -> dict:
    """Entries ``key`` of ``results/NAME.json`` named in ``keep``, if the file's ``identity`` fields match."""
    path = RESULTS / f"{name}.json"
    doc = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if any(doc.get(field) != value for field, value in identity.items()):
        return {}
    return {k: v for k, v in doc.get(key, {}).items() if k in keep}


def train(overrides: list[str], preset: str, synth: str, cache: str, out: Path) -> dict:
    args = ["train", "--preset", preset, f"synth_preset={synth}", *overrides]
    metrics, wall = run_cli([*args, "--out", str(out)], {"LSPD_BENCH_CACHE": cache})
    teacher = metrics["distill"].get("teacher") or {}
    return {
        "command": " ".join(["lspd-bench", *args]),
        "wall_s": round(wall, 1),
        "train_s": round(metrics["train"]["seconds_total"], 1),
        "images_per_s": round(metrics["train"]["images_per_s"], 1),
        "deploy_stage": metrics["deploy_stage"],
        "headline": round(metrics["headline"], 2),
        "stages": [
            {"stage": s["stage"], "Mean": round(s["Mean"], 2), "Mean@0.1": round(s["Mean@0.1"], 2)}
            for s in metrics["stages"]
        ],
        "flip_test": metrics["flip_test"],
        "loss": metrics["loss"]["name"],
        "teacher_train_s": round(teacher["train_seconds"], 1) if "train_seconds" in teacher else None,
        "torch_threads": metrics["environment"]["torch_threads"],
    }


def lr_sweep(models: list[str], preset: str, cache: str, tmp: Path) -> None:
    """One epoch per (model, rate) on the quick data; merged into ``results/lr_sweep.json``."""
    runs: dict[str, dict[str, float]] = earlier("lr_sweep", "runs", SWEEP_MODELS)
    ensure_synth(load_config(preset, None, {"synth_preset": "quick", "cache_dir": cache}))
    for model in models:
        runs[model] = {}
        for rate in SWEEP_RATES:
            overrides = ["epochs=1", f"model={model}", f"lr={rate}"]
            runs[model][str(rate)] = train(overrides, preset, "quick", cache, tmp / f"{model}-{rate}")["headline"]
            print(f"{model} lr {rate}: {runs[model][str(rate)]}", file=sys.stderr, flush=True)
    best = {m: max(r, key=r.get) for m, r in runs.items()}
    save(
        "lr_sweep",
        {
            "command": f"lspd-bench train --preset {preset} synth_preset=quick epochs=1 model=M lr=R",
            "metric": "PCKh@0.5 Mean of the deployed stage, flip test",
            "runs": runs,
            "best": best,
            "machine": machine(),
        },
    )


def spread_study(variants: list[str], preset: str, synth: str, cache: str, tmp: Path) -> None:
    """The smallest and the largest run per variant of ``STUDY``; merged into ``results/spread_study.json``."""
    rows: dict[str, dict] = earlier("spread_study", "variants", STUDY, preset=preset, synth=synth)
    ensure_synth(load_config(preset, None, {"synth_preset": synth, "cache_dir": cache}))
    for variant in variants:
        overrides, knobs = STUDY[variant]
        extra = list(overrides)
        if knobs:  # a dataset of its own, same seed and size as the preset's
            data = tmp / f"data-{variant.replace(' ', '_')}"
            generate_dataset(data, synth_preset(synth, **knobs), seed=0)
            extra.append(f"data_dir={data}")
        runs = {}
        for name in (SMALLEST, LARGEST):
            out = tmp / f"{variant}-{name}".replace(" ", "_")
            runs[name] = train([*RUNS[name], *extra], preset, synth, cache, out)
        rows[variant] = {
            "overrides": overrides,
            "data_knobs": knobs,
            **{name: {k: r[k] for k in ("headline", "wall_s", "stages")} for name, r in runs.items()},
            "gap": round(runs[LARGEST]["headline"] - runs[SMALLEST]["headline"], 2),
        }
        print(f"{variant}: gap {rows[variant]['gap']}", file=sys.stderr, flush=True)
    save(
        "spread_study",
        {
            "preset": preset,
            "synth": synth,
            "runs": {n: RUNS[n] for n in (SMALLEST, LARGEST)},
            "metric": "PCKh@0.5 Mean of the deployed stage, flip test",
            "variants": rows,
            "machine": machine(),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synth", default="standard", help="synthetic preset (default: standard)")
    parser.add_argument("--preset", default="quick", help="training preset (default: quick)")
    parser.add_argument("--cache", help="cache folder for the dataset and the teacher (default: a fresh one)")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=list(RUNS),
        help="measure these runs again; the others keep their figures from the results file",
    )
    parser.add_argument("--lr-sweep", action="store_true", help="measure the learning-rate sweep instead")
    parser.add_argument("--only-models", nargs="*", choices=SWEEP_MODELS, help="sweep these models again")
    parser.add_argument("--spread-study", action="store_true", help="measure what moves the spread instead")
    parser.add_argument("--only-variants", nargs="*", choices=list(STUDY), help="study these variants again")
    args = parser.parse_args()
    if args.spread_study:
        with tempfile.TemporaryDirectory(prefix="lspd-bench-spread-") as tmp:
            spread_study(
                args.only_variants or list(STUDY),
                args.preset,
                args.synth,
                args.cache or str(Path(tmp) / "cache"),
                Path(tmp),
            )
        return
    if args.lr_sweep:
        with tempfile.TemporaryDirectory(prefix="lspd-bench-lr-") as tmp:
            lr_sweep(
                args.only_models or list(SWEEP_MODELS), args.preset, args.cache or str(Path(tmp) / "cache"), Path(tmp)
            )
        return

    # --only measures some runs again: the others keep their earlier figures (same preset and data).
    results: dict[str, dict] = {}
    if args.only:
        results = earlier("calibration", "runs", RUNS, preset=args.preset, synth=args.synth)
    with tempfile.TemporaryDirectory(prefix="lspd-bench-calibration-") as tmp:
        cache = args.cache or str(Path(tmp) / "cache")
        # The dataset is shared work: generated before the clock of the first run starts.
        ensure_synth(load_config(args.preset, None, {"synth_preset": args.synth, "cache_dir": cache}))
        for name in args.only or RUNS:
            results[name] = train(RUNS[name], args.preset, args.synth, cache, Path(tmp) / name.replace(" ", "_"))
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)

    checks = {}
    bar = [results[n] for n in BAR_RUNS if n in results]
    if bar:
        checks["bar"] = {
            "target": f"stage 1 ≥ {BAR_PCKH:g} PCKh@0.5 within {BAR_SECONDS:g} s wall",
            "runs": {n: [results[n]["headline"], results[n]["wall_s"]] for n in BAR_RUNS if n in results},
            "passed": all(r["headline"] >= BAR_PCKH and r["wall_s"] <= BAR_SECONDS for r in bar),
        }
    if SMALLEST in results and LARGEST in results:
        gap = results[LARGEST]["headline"] - results[SMALLEST]["headline"]
        top = max(s["Mean"] for r in results.values() for s in r["stages"])
        checks["spread"] = {
            "target": f"{LARGEST} − {SMALLEST} ≥ {SPREAD:g} points, every stage ≤ {CEILING:g}",
            "gap": round(gap, 2),
            "highest": top,
            "passed": gap >= SPREAD and top <= CEILING,
        }
    save(
        "calibration",
        {"preset": args.preset, "synth": args.synth, "runs": results, "checks": checks, "machine": machine()},
    )


if __name__ == "__main__":
    main()
