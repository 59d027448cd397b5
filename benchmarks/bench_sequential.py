"""Claims judged after every seed: does the sequential rule keep its error rate, and what does it save?

    python benchmarks/bench_sequential.py [--matrices 2000] [--max-seeds 10]

No training: each simulated matrix is two variants A and B of a claim ``A > B``, drawn seed by seed from a
generator with the embedded benchmark's measured noise (docs/benchmark.md, "Where the noise comes from", the
quick preset), per validation person as the suite's claims read it:

    z[v, s, p] = μ_v + a_s + r[v, s] + e[v, s, p]

- a_s: the seed's lasting effect, shared by every variant trained with that seed (SD 2.36 points: the
  seed SD of 2.73 without the 1.37 left when the seed is held);
- r: the training's residual with the seed held (SD 1.30), which with the per-person noise e (SD 9.4 points
  over P = 500 people: 0.42 for a cell's figure, the measured people's part of a cell's seed SD) makes the
  held-seed residual of 1.37.

A variant's own luck with the validation people (a person effect of the variant, the same at every seed)
was not measured on this benchmark; the generator leaves it out, and the interval estimates it anyway.

Every claim is judged by the suite's interval with the seeds paired
(``lspd_bench.report.claims.contrast_interval(paired=True)``: every variant trains with each seed, so a
seed's lasting effect cancels; seeds and people, t with the seeds' S − 1 degrees of freedom) after 2, 3, …
seeds of both variants, and stops when it is decided:

- ``sequential`` (``seed=auto``): each look at the nominal level of Pocock's boundary for the looks 2..N
  (``lspd_bench.evaluation.sequential``), N = ``--max-seeds``;
- ``naive``: each look at 95 %, as a fixed-seed matrix reads it;
- ``fixed n``: one look after n seeds, at 95 %.

Two worlds: no effect (μ_A = μ_B: any verdict is wrong), and an effect of 1.5 held-seed residual SDs (μ_A −
μ_B = 2.06 points: "supported" is right, "contradicted" wrong). Targets (issue 36), fixed before the first
run: with no effect, the sequential rule decides wrongly at most 5 % of the time and the naive one more; with
the effect, the sequential rule decides rightly at least 80 % of the time, with at least 30 % fewer
cell-trainings on average than the fixed design of the same power (the fewest seeds whose rate of right
verdicts is at least the sequential rule's). Seconds on one core; writes ``benchmarks/results/sequential.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import machine, save

from lspd_bench.evaluation.sequential import looks_up_to, nominal_level
from lspd_bench.report.claims import Group, contrast_interval, verdict_of

PEOPLE = 500
SEED_SHARED, RESIDUAL, PERSON_NOISE = 2.36, 1.30, 9.4
HELD_SEED_SD = 1.37
EFFECT = 1.5 * HELD_SEED_SD
MIN_SEEDS = 2


def draw(rng: np.random.Generator, effect: float, max_seeds: int) -> np.ndarray:
    """One simulated pair of variants: z of A and B per seed and person (2 × max_seeds × PEOPLE), all seeds
    drawn up front (a rule reads the first n)."""
    shared = rng.normal(0.0, SEED_SHARED, size=(1, max_seeds, 1))
    residual = rng.normal(0.0, RESIDUAL, size=(2, max_seeds, 1))
    noise = rng.normal(0.0, PERSON_NOISE, size=(2, max_seeds, PEOPLE))
    means = np.array([effect, 0.0]).reshape(2, 1, 1) + 50.0
    return means + shared + residual + noise


def judge(m: np.ndarray, seeds: int, level: float) -> str:
    groups = [Group(m[v, :seeds].mean(1), m[v, :seeds]) for v in (0, 1)]
    return verdict_of(contrast_interval([(1.0, groups[0]), (-1.0, groups[1])], level, paired=True), 0.0)[0]


def sequential(m: np.ndarray, looks: tuple[int, ...], level: float) -> tuple[str, int]:
    """The verdict and the seeds it took: judged after each look, stopped when decided."""
    for n in looks:
        verdict = judge(m, n, level)
        if verdict != "undecided":
            return verdict, n
    return "undecided", looks[-1]


def rates(outcomes: list[tuple[str, int]], right: str | None) -> dict:
    n = len(outcomes)
    wrong = sum(1 for v, _ in outcomes if v != "undecided" and v != right)
    correct = sum(1 for v, _ in outcomes if right is not None and v == right)
    return {
        "wrong": round(wrong / n, 4),
        "right": round(correct / n, 4),
        "undecided": round(sum(1 for v, _ in outcomes if v == "undecided") / n, 4),
        "mean_trainings": round(2 * statistics.mean(s for _, s in outcomes), 2),  # two cells a seed
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matrices", type=int, default=2000)
    parser.add_argument("--max-seeds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    looks = looks_up_to(args.max_seeds, MIN_SEEDS)
    alpha_look = nominal_level(looks)
    worlds = {"no effect": (0.0, None), f"effect {EFFECT:.2f} points": (EFFECT, "supported")}
    out = {}
    for name, (effect, right) in worlds.items():
        rng = np.random.default_rng([args.seed, int(effect * 100)])
        matrices = [draw(rng, effect, args.max_seeds) for _ in range(args.matrices)]
        rows = {
            "sequential": rates([sequential(m, looks, 1 - alpha_look) for m in matrices], right),
            "naive": rates([sequential(m, looks, 0.95) for m in matrices], right),
        }
        for n in looks:
            rows[f"fixed {n}"] = rates([(judge(m, n, 0.95), n) for m in matrices], right)
        out[name] = rows
    effect_rows = out[f"effect {EFFECT:.2f} points"]
    seq = effect_rows["sequential"]
    same_power = next((n for n in looks if effect_rows[f"fixed {n}"]["right"] >= seq["right"]), None)
    saving = (
        None
        if same_power is None
        else round(1 - seq["mean_trainings"] / effect_rows[f"fixed {same_power}"]["mean_trainings"], 3)
    )
    save(
        "sequential",
        {
            "command": "python benchmarks/bench_sequential.py",
            "matrices_per_world": args.matrices,
            "max_seeds": args.max_seeds,
            "looks": list(looks),
            "nominal_level_per_look": round(alpha_look, 5),
            "noise": {
                "people": PEOPLE,
                "seed_shared_sd": SEED_SHARED,
                "residual_sd": RESIDUAL,
                "person_noise_sd": PERSON_NOISE,
                "held_seed_sd": HELD_SEED_SD,
            },
            "effect_points": round(EFFECT, 3),
            "worlds": out,
            "fixed_design_of_the_same_power": same_power,
            "trainings_saved_against_it": saving,
            "targets": {
                "no effect: sequential wrong <= 0.05": out["no effect"]["sequential"]["wrong"] <= 0.05,
                "no effect: naive wrong > 0.05": out["no effect"]["naive"]["wrong"] > 0.05,
                "effect: sequential right >= 0.80": seq["right"] >= 0.80,
                "effect: >= 30% fewer trainings than the fixed design of the same power": saving is not None
                and saving >= 0.30,
            },
            "seconds": round(time.perf_counter() - started, 1),
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
