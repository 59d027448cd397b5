"""Claims with verdicts: the syntax and its validation, the interval over seeds and people (its coverage by
simulation), the verdicts on results with a known effect, the report's Claims section and `check --claims`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lspd_bench.ablate import schema
from lspd_bench.ablate.claims import parse_claim
from lspd_bench.ablate.matrix import load_matrix as load_spec
from lspd_bench.cli import main
from lspd_bench.errors import InputError
from lspd_bench.report import build_report
from lspd_bench.report.claims import Group, contrast_interval, judge_all
from lspd_bench.report.load import load_matrix

PEOPLE = 400


def write_matrix(
    root: Path,
    *,
    effect: float,
    seed_sd: float,
    seeds=(0, 1, 2),
    stage_gain: float = 0.03,
    claims=(),
    rng_seed: int = 0,
) -> Path:
    """A finished stages × distill matrix whose teacher cells have a per-joint success rate ``effect``
    above the plain ones, each cell moved by a seed effect of sd ``seed_sd``; stage 2 is ``stage_gain``
    above stage 1. Every cell draws its own per-person outcomes (person-level noise)."""
    rng = np.random.default_rng(rng_seed)
    visible = np.ones((PEOPLE, 16), dtype=bool)
    keep = [j for j in range(16) if j not in (6, 7)]
    rows, cells = [], []
    for stages in (1, 2):
        for distill in ("none", "teacher"):
            for seed in seeds:
                cid = f"c{stages}{distill[0]}{seed}"
                base = 0.5 + (effect if distill == "teacher" else 0.0) + rng.normal(0, seed_sd)
                person = rng.normal(0, 0.1, (PEOPLE, 1))  # people differ in difficulty
                stage_correct = np.stack(
                    [rng.random((PEOPLE, 16)) < base + person + k * stage_gain for k in range(stages)]
                )
                folder = root / cid
                folder.mkdir(parents=True)
                np.savez(
                    folder / "per_person.npz", correct=stage_correct[0], visible=visible, stage_correct=stage_correct
                )
                heads = [100.0 * s[:, keep].sum() / visible[:, keep].sum() for s in stage_correct]
                (folder / "metrics.json").write_text(json.dumps({"metric": "pckh", "headline": heads[0]}))
                (folder / "cost.json").write_text("{}")
                row = {
                    schema.CELL: cid,
                    schema.STATUS: "done",
                    schema.RUN_DIR: cid,
                    "model": "lspd-xs",
                    "stages": stages,
                    "distill": distill,
                    "seed": seed,
                    "metric": "pckh",
                    schema.HEADLINE: heads[0],
                    "Mean": heads[0],
                    "gmacs_fvcore": 0.02,
                    "params_deploy": 1000,
                }
                row.update({schema.STAGE_HEADLINE.format(k=k + 1): h for k, h in enumerate(heads)})
                rows.append(row)
                axes = {"stages": stages, "distill": distill, **({"seed": seed} if len(seeds) > 1 else {})}
                cells.append({"cell": cid, "axes": axes})
    pd.DataFrame(rows).to_csv(root / "results.csv", index=False)
    (root / "matrix.json").write_text(
        json.dumps({"name": "m", "cells": cells, "claims": [{"claim": c, "name": ""} for c in claims]})
    )
    return root


def verdicts(root: Path, *claims: str) -> dict[str, dict]:
    return {r["claim"]: r for r in judge_all(load_matrix(root), claims)}


# --- syntax and validation ------------------------------------------------------------------------------


def test_a_claim_reads_as_written():
    c = parse_claim("block=lmrb  >=  block=basic within 0.5 at fewer gmacs at every distill where stages=2")
    assert (c.left, c.op, c.right) == ({"block": "lmrb"}, ">=", {"block": "basic"})
    assert c.threshold == -0.5 and c.cost == "gmacs" and c.strict and c.every == ("distill",)
    assert c.where == {"stages": 2}
    assert parse_claim("stages=2 > stages=1 by 1").threshold == 1.0
    assert parse_claim("stages=2 >= stages=1").threshold == -1.0  # the default margin of ">="
    assert not parse_claim("stages=4 > stages=1 at no more params").strict


@pytest.mark.parametrize(
    "text, message",
    [
        ("distill=teacher beats distill=none", "expected LEFT > RIGHT"),
        ("distill=teacher > distill=none by", "cannot read"),
        ("distill=teacher > distill=none within 1", "'within N' is the margin of '>='"),
        ("distill=teacher >= distill=none by 1", "'by N' belongs to '>'"),
        ("distill=teacher > distill=none at fewer seconds", "the cost is one of gmacs, params"),
        ("stage=2 > distill=none", "compare a stage with a stage"),
        ("distill=none > distill=none", "both sides select the same cells"),
        ("distill=teacher > distill=none at every distill", "is what the claim compares"),
        ("distill=teacher > distill=none by -1", "a finite number of points >= 0"),
    ],
)
def test_malformed_claims_name_what_is_wrong(text, message):
    with pytest.raises(InputError, match=message):
        parse_claim(text)


@pytest.mark.parametrize(
    "claim, message",
    [
        ("distil=teacher > distill=none", "unknown axis 'distil'; the matrix varies: stages, distill"),
        (
            "distill=teachr > distill=none",
            "distill=teachr is not a value of distill in the matrix (its values: none, teacher)",
        ),
        ("distill=teacher > distill=none at every block", "unknown axis 'block'"),
        ("stage=3 > stage=1", "stages 1..2"),
    ],
)
def test_a_matrix_validates_its_claims_before_anything_runs(tmp_path, claim, message):
    with pytest.raises(InputError) as err:
        load_spec(None, ["stages=1..2", "distill=none,teacher"], preset="ci", claims=[claim])
    assert message in str(err.value)
    spec = tmp_path / "m.yaml"
    spec.write_text(f"preset: ci\nmatrix:\n  stages: 1..2\n  distill: [none, teacher]\nclaims:\n  - {claim}\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["ablate", str(spec), "--out", str(out), "--dry-run"])
    assert res.exit_code == 2 and message.split(";")[0] in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_the_shipped_ablations_carry_valid_claims():
    root = Path(__file__).parent.parent / "ablations"
    for name in ("stages", "distill", "blocks", "paper"):
        extra = {"dataset": "mpii"} if name == "paper" else {}
        matrix = load_spec(root / f"{name}.yaml", [f"{k}={v}" for k, v in extra.items()])
        assert matrix.claims and "claims" in matrix.to_dict()
        assert "seed" in matrix.varying  # a verdict needs seeds


# --- the interval -------------------------------------------------------------------------------------


def _simulated(rng, seeds: int, people: int, seed_sd: float, true_delta: float):
    """Two variants on the same people: person effects shared and own, seed effects, person×seed noise."""
    shared = rng.normal(0, 10, people)
    groups = []
    for mu in (50.0 + true_delta, 50.0):
        y = (
            mu
            + rng.normal(0, seed_sd, (seeds, 1))
            + shared
            + rng.normal(0, 3, people)
            + rng.normal(0, 15, (seeds, people))
        )
        groups.append(Group(y.mean(1), y))
    return contrast_interval([(1.0, groups[0]), (-1.0, groups[1])])


@pytest.mark.parametrize("seeds, seed_sd", [(3, 1.0), (2, 1.0), (3, 3.0), (3, 0.2)])
def test_the_95_interval_covers_the_true_delta_in_93_to_97_percent_of_400_simulated_matrices(seeds, seed_sd):
    rng = np.random.default_rng(2026)
    hits = 0
    for _ in range(400):
        iv = _simulated(rng, seeds, 200, seed_sd, 1.5)
        hits += iv.low <= 1.5 <= iv.high
    assert 0.93 <= hits / 400 <= 0.97


def test_one_seed_covers_people_only_and_says_so():
    iv = _simulated(np.random.default_rng(0), 1, 200, 1.0, 1.0)
    assert iv.low is not None and "people only" in iv.covers and iv.seeds == 1


# --- verdicts on results with a known effect ---------------------------------------------------------------


def test_a_known_effect_is_supported(tmp_path):
    r = verdicts(write_matrix(tmp_path / "m", effect=0.06, seed_sd=0.005), "distill=teacher > distill=none")
    r = r["distill=teacher > distill=none"]
    assert r["verdict"] == "supported" and r["seeds"] == 3 and r["covers"] == "seeds and people"
    assert 4.0 < r["delta"] < 8.0 and r["low"] > 0


def test_the_opposite_effect_is_contradicted(tmp_path):
    r = verdicts(write_matrix(tmp_path / "m", effect=-0.06, seed_sd=0.005), "distill=teacher > distill=none")
    assert r["distill=teacher > distill=none"]["verdict"] == "contradicted"


def test_noise_only_is_undecided(tmp_path):
    r = verdicts(
        write_matrix(tmp_path / "m", effect=0.0, seed_sd=0.01), "distill=teacher > distill=none at every stages"
    )
    r = r["distill=teacher > distill=none at every stages"]
    assert r["verdict"] == "undecided" and r["low"] < 0 < r["high"]
    assert [p["at"] for p in r["parts"]] == [{"stages": 1}, {"stages": 2}]


def test_one_seed_is_never_enough_for_a_verdict(tmp_path):
    r = verdicts(write_matrix(tmp_path / "m", effect=0.10, seed_sd=0.0, seeds=(0,)), "distill=teacher > distill=none")
    r = r["distill=teacher > distill=none"]
    assert r["verdict"] == "undecided" and r["seeds"] == 1 and "not training noise" in r["reason"]
    assert r["low"] > 0  # the effect is plain over people; still no verdict from one seed


def test_stage_claims_pair_the_stages_of_each_cell(tmp_path):
    root = write_matrix(tmp_path / "m", effect=0.0, seed_sd=0.02, stage_gain=0.05)
    r = verdicts(root, "stage=2 > stage=1", "stage=2 > stage=1 by 10")
    assert r["stage=2 > stage=1"]["verdict"] == "supported"  # paired: the large seed effects cancel
    assert r["stage=2 > stage=1"]["contexts"] == 2  # distill none and teacher, at stages=2 only
    assert r["stage=2 > stage=1 by 10"]["verdict"] == "contradicted"


def test_a_cost_condition_that_fails_contradicts_the_claim(tmp_path):
    root = write_matrix(tmp_path / "m", effect=0.06, seed_sd=0.005)
    r = verdicts(
        root, "distill=teacher > distill=none at fewer gmacs", "distill=teacher > distill=none at no more gmacs"
    )
    assert r["distill=teacher > distill=none at fewer gmacs"]["verdict"] == "contradicted"
    assert "is not below" in r["distill=teacher > distill=none at fewer gmacs"]["reason"]
    assert r["distill=teacher > distill=none at no more gmacs"]["verdict"] == "supported"


# --- the report and the gate ----------------------------------------------------------------------------------


def test_the_report_opens_with_the_claims_in_markdown_html_and_json(tmp_path):
    root = write_matrix(tmp_path / "m", effect=0.06, seed_sd=0.005, claims=["distill=teacher > distill=none"])
    summary = build_report(root, tmp_path / "rep", formats=("png",), claims=["stage=2 > stage=1"])
    assert [(c["claim"], c["verdict"]) for c in summary["claims"]] == [
        ("distill=teacher > distill=none", "supported"),
        ("stage=2 > stage=1", "supported"),
    ]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.index("### Claims") < md.index("**Best") and "| `distill=teacher > distill=none` | **supported** |" in md
    page = (tmp_path / "rep" / "index.html").read_text()
    assert '<section id="claims">' in page and '<span class="verdict supported">' in page
    res = CliRunner().invoke(
        main, ["report", str(root), "--out", str(tmp_path / "r2"), "--claim", "distill=x > distill=none"]
    )
    assert res.exit_code == 2 and "distill=x is not a value of distill" in res.output


def test_check_claims_fails_when_a_supported_claim_is_now_contradicted(tmp_path):
    claim = "distill=teacher > distill=none"
    before = write_matrix(tmp_path / "before", effect=0.06, seed_sd=0.005, claims=[claim])
    after = write_matrix(tmp_path / "after", effect=-0.06, seed_sd=0.005, claims=[claim])
    base = tmp_path / "baseline.json"
    runner = CliRunner()
    assert runner.invoke(main, ["check", str(before), "--baseline", str(base), "--update-baseline"]).exit_code == 0
    assert json.loads(base.read_text())["claims"][0]["verdict"] == "supported"
    ok = runner.invoke(main, ["check", str(before), "--baseline", str(base), "--claims", "--json"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, ["check", str(after), "--baseline", str(base), "--claims", "--tol-acc", "100"])
    assert bad.exit_code == 1 and "claim 'distill=teacher > distill=none': now contradicted" in bad.output
    plain = runner.invoke(main, ["check", str(after), "--baseline", str(base), "--tol-acc", "100"])
    assert plain.exit_code == 0  # claims are judged only when asked


def test_check_claims_against_a_baseline_without_claims_is_one_line_and_exit_2(tmp_path):
    root = write_matrix(tmp_path / "m", effect=0.06, seed_sd=0.005)
    base = tmp_path / "baseline.json"
    runner = CliRunner()
    runner.invoke(main, ["check", str(root), "--baseline", str(base), "--update-baseline"])
    res = runner.invoke(main, ["check", str(root), "--baseline", str(base), "--claims"])
    assert res.exit_code == 2 and "records no claims" in res.output


def test_a_claim_on_a_running_matrix_is_judged_on_its_finished_cells(tmp_path):
    root = write_matrix(tmp_path / "m", effect=0.06, seed_sd=0.005)
    frame = pd.read_csv(root / "results.csv")
    frame.loc[frame["distill"] == "teacher", schema.STATUS] = "running"  # no teacher cell has finished
    frame.to_csv(root / "results.csv", index=False)
    r = verdicts(root, "distill=teacher > distill=none")["distill=teacher > distill=none"]
    assert r["verdict"] == "undecided" and "not comparable on the finished cells" in r["reason"]
