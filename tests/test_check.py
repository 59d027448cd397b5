"""The CI regression gate: `lspd-bench check RESULTS --baseline B`.

Hand-made tables pin each rule (accuracy tolerance, exact costs, latency ratio, Pareto front, presence,
bad input); the slow tests train, evaluate and profile real cells and inject real regressions (a block
with an extra convolution, wrong flip pairs in the flip test).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lspd_bench.ablate import schema
from lspd_bench.check import ACC_FLOOR, FORMAT, check, read_results, update_baseline
from lspd_bench.cli import main

COLUMNS = [
    schema.CELL,
    schema.STATUS,
    schema.ERROR,
    schema.RUN_DIR,
    *schema.CONFIG,
    *schema.CONTEXT,
    schema.HEADLINE,
    *schema.COST_COLUMNS,
]


def cell_row(stages: int = 1, distill: str = "none", seed: int = 0, **values) -> dict:
    """One results row of the ci matrix shape (costs of a small LSPD deploy model)."""
    row = {
        schema.CELL: f"c{stages}{distill[0]}{seed}",
        schema.STATUS: "done",
        "model": "lspd-xs",
        "stages": stages,
        "block": "lmrb",
        "width": 32,
        "depth": 3,
        "width_growth": 2.0,
        "blocks_per_level": 1,
        "deploy_stage": 1,
        "distill": distill,
        "alpha": 0.5 if distill != "none" else "",
        "loss": "fg_mse",
        "seed": seed,
        "dataset": "synth",
        "preset": "ci",
        "epochs": 6,
        "metric": "pckh",
        "headline_name": "PCKh@0.5 Mean",
        schema.HEADLINE: 50.0,
        "params_full": 100_000 * stages,
        "params_deploy": 100_000,
        "gmacs_fvcore": 0.012345,
        "gmacs_ptflops_pytorch": 0.012999,
        "gmacs_ptflops_aten": 0.012001,
        "latency_ratio": 1.0,
    }
    row.update(values)
    return row


def write_table(folder: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def baseline_from(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "baseline" / "ci.json"
    update_baseline(write_table(tmp_path / "base", rows), path, created="2025-01-01T00:00:00+00:00")
    return path


def run_cli(*args: str):
    return CliRunner().invoke(main, ["check", *map(str, args)])


def failing(report: dict) -> set[tuple[str, str]]:
    return {(r["cell"], r["figure"]) for r in report["rows"] if r["fails"]}


#: The ci matrix's shape: every deploy model is backbone + stage 1, so the GMACs tie and the front is the
#: most accurate cell (stages=2 distill=teacher).
CI_ROWS = [
    cell_row(s, d, **{schema.HEADLINE: acc})
    for (s, d), acc in zip([(1, "none"), (1, "teacher"), (2, "none"), (2, "teacher")], (50.0, 52.0, 49.0, 53.0))
]


# ------------------------------------------------------------------------------------------- passing


def test_identical_results_pass_with_exit_0_and_nothing_moved(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    results = write_table(tmp_path / "now", CI_ROWS)
    out = run_cli(results.parent, "--baseline", base)
    assert out.exit_code == 0, out.output
    assert "passed: no regression in 4 cells" in out.output
    assert check(results, base)["rows"] == []


def test_cells_match_by_configuration_not_by_hash(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    # A code change renames every cell (new suite version): the same configurations still compare.
    renamed = [{**r, schema.CELL: "new" + r[schema.CELL]} for r in reversed(CI_ROWS)]
    report = check(write_table(tmp_path / "now", renamed), base)
    assert report["passed"] and report["cells"]["missing"] == [] and report["cells"]["new"] == []


def test_a_key_added_after_the_baseline_matches_it_at_its_default(tmp_path):
    older = write_table(tmp_path / "base", CI_ROWS, [c for c in COLUMNS if c != "init"])  # a suite before init
    base = tmp_path / "baseline.json"
    update_baseline(older, base)
    assert all("init" not in cell["axes"] for cell in json.loads(base.read_text())["cells"])
    for default in ("none", ""):  # a newer suite writes the default; a hand-made table may leave it empty
        now = [{**r, "init": default} for r in CI_ROWS]
        report = check(write_table(tmp_path / f"now{default}", now), base)
        assert report["passed"] and report["cells"]["missing"] == [] and report["cells"]["new"] == []
    warm = [{**r, "init": "k1"} for r in CI_ROWS]  # another start is another cell
    report = check(write_table(tmp_path / "warm", warm), base)
    assert not report["passed"] and len(report["cells"]["missing"]) == 4


def test_a_changed_key_makes_other_cells_and_says_which_key(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    moved = [{**r, "epochs": 8} for r in CI_ROWS]
    report = check(write_table(tmp_path / "now", moved), base)
    assert not report["passed"] and len(report["cells"]["missing"]) == 4 and len(report["cells"]["new"]) == 4
    assert any(n.startswith("configuration changed in every cell: epochs 6 → 8") for n in report["notes"])


def test_results_of_other_data_or_input_size_are_refused_with_exit_2(tmp_path):
    base = baseline_from(tmp_path, [{**r, "input_size": "64x64"} for r in CI_ROWS])
    other = write_table(tmp_path / "now", [{**r, "input_size": "128x128", "preset": "quick"} for r in CI_ROWS])
    out = run_cli(other, "--baseline", base)
    assert out.exit_code == 2
    assert "not comparable with the baseline: input_size '64x64' → '128x128'; preset 'ci' → 'quick'" in out.output
    assert "Traceback" not in out.output


@pytest.mark.parametrize(("key", "values"), [("lr", (0.02, 0.01)), ("width_growth", (2.0, 1.5))])
def test_rows_that_differ_in_any_key_are_two_cells_and_a_drop_in_one_fails(tmp_path, key, values):
    # A matrix over lr (or a block knob), two seeds each: four rows, two cells. Merged into one cell, the
    # two settings' 8-point gap would be "seed noise" and hide a real drop.
    rows = [
        cell_row(1, "none", seed=k, **{key: v, schema.HEADLINE: 50.0 - 8 * i + k})
        for i, v in enumerate(values)
        for k in (0, 1)
    ]
    base = baseline_from(tmp_path, rows)
    cells = json.loads(base.read_text())["cells"]
    assert [(c["axes"][key], c["seeds"]) for c in cells] == [(values[0], [0, 1]), (values[1], [0, 1])]
    dropped = [{**r, schema.HEADLINE: r[schema.HEADLINE] - 4.0} if r[key] == values[1] else r for r in rows]
    report = check(write_table(tmp_path / "now", dropped), base)
    # The cell that dropped fails, the other does not; the mean over both cells drops by 2 and fails as well.
    assert failing(report) == {(f"{key}={values[1]:g}", "headline"), ("all 2 cells", "headline")}


def test_costs_compare_as_integer_macs_so_csv_formatting_is_not_a_change(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    rows = [{**r, "gmacs_fvcore": "0.0123450000", "params_deploy": "100000.0"} for r in CI_ROWS]
    assert check(write_table(tmp_path / "now", rows), base)["passed"]


# ------------------------------------------------------------------------------------------ accuracy


def test_accuracy_drop_beyond_the_floor_fails_naming_cell_and_headline(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    rows = [*CI_ROWS[:2], {**CI_ROWS[2], schema.HEADLINE: 49.0 - ACC_FLOOR - 0.01}, CI_ROWS[3]]
    results = write_table(tmp_path / "now", rows)
    out = run_cli(results, "--baseline", base)
    assert out.exit_code == 1
    assert "FAILED: 1 regression in 1 of 4 cells — stages=2 distill=none: headline" in out.output
    report = check(results, base)
    [row] = report["rows"]
    assert (row["verdict"], row["direction"], row["limit"]) == ("worse", "down", ACC_FLOOR)
    assert row["delta"] == pytest.approx(-ACC_FLOOR - 0.01)


def test_drop_within_the_floor_passes_and_is_listed_as_moved(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    rows = [{**CI_ROWS[0], schema.HEADLINE: 50.0 - ACC_FLOOR + 0.01}, *CI_ROWS[1:]]
    report = check(write_table(tmp_path / "now", rows), base)
    assert report["passed"] and [r["verdict"] for r in report["rows"]] == ["within tolerance"]


def test_default_accuracy_tolerance_comes_from_the_baseline_seed_spread(tmp_path):
    # Three seeds at 48, 50, 52: s = 2, tolerance 3·2·√(1/3 + 1/3) = 4.90 points around the mean 50.
    seeds = [cell_row(1, "none", seed=k, **{schema.HEADLINE: 48.0 + 2 * k}) for k in range(3)]
    base = baseline_from(tmp_path, seeds)
    stored = json.loads(base.read_text())["cells"][0]["accuracy"]
    assert (stored["mean"], stored["std"], stored["n"]) == (50.0, 2.0, 3)
    ok = [{**r, schema.HEADLINE: r[schema.HEADLINE] - 4.5} for r in seeds]
    bad = [{**r, schema.HEADLINE: r[schema.HEADLINE] - 5.0} for r in seeds]
    assert check(write_table(tmp_path / "ok", ok), base)["passed"]
    report = check(write_table(tmp_path / "bad", bad), base)
    assert failing(report) == {("model=lspd-xs", "headline")}
    assert report["rows"][0]["limit"] == pytest.approx(4.899, abs=1e-3)


def test_the_gate_states_the_training_noise_of_the_baseline_seeds_or_that_it_has_none(tmp_path):
    # Two cells, seeds (48, 50, 52) and (50, 51, 52): pooled SD √((2·4 + 2·1) / 4) = 1.58 points, df 4.
    rows = [
        cell_row(s, "none", seed=k, **{schema.HEADLINE: 48.0 + 2 * k if s == 1 else 50.0 + k})
        for s in (1, 2)
        for k in range(3)
    ]
    report = check(write_table(tmp_path / "now", rows), baseline_from(tmp_path, rows))
    assert report["noise"]["baseline"] == {"pooled_sd": pytest.approx(1.5811, abs=1e-4), "df": 4, "cells": 2}
    r = run_cli(tmp_path / "now", "--baseline", tmp_path / "baseline" / "ci.json")
    # Seed k is the same offset in both cells but for ±0.5: with the seed held, √(4·0.25/2) = 0.71 is left.
    assert (
        "seeds differ within a cell by a pooled SD of 1.58 points (the baseline's 1.58 (2 cells, df 4), these "
        "results' 1.58 (2 cells, df 4)); with the seed held, 0.71 points are left (cells × seeds residual, df 4)"
    ) in " ".join(r.output.split())
    one = check(write_table(tmp_path / "one", CI_ROWS), baseline_from(tmp_path / "b1", CI_ROWS))
    assert one["noise"]["baseline"]["pooled_sd"] is None
    r = run_cli(tmp_path / "one", "--baseline", tmp_path / "b1" / "baseline" / "ci.json")
    assert "training noise: not measured (one seed per cell)" in " ".join(r.output.split())


def test_tol_acc_overrides_the_default(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    results = write_table(tmp_path / "now", [{**CI_ROWS[0], schema.HEADLINE: 47.0}, *CI_ROWS[1:]])
    assert run_cli(results, "--baseline", base).exit_code == 1
    assert run_cli(results, "--baseline", base, "--tol-acc", "3.5").exit_code == 0


# --------------------------------------------------------------------------------------- cost, latency


@pytest.mark.parametrize(
    "figure, value",
    [
        ("params_full", 100_001),
        ("params_deploy", 99_000),
        ("gmacs_fvcore", 0.012346),
        ("gmacs_ptflops_pytorch", 0.0129),
        ("gmacs_ptflops_aten", ""),
    ],
)
def test_any_change_of_a_deterministic_cost_fails_in_either_direction(tmp_path, figure, value):
    base = baseline_from(tmp_path, CI_ROWS)
    report = check(write_table(tmp_path / "now", [{**CI_ROWS[0], figure: value}, *CI_ROWS[1:]]), base)
    assert failing(report) == {("stages=1 distill=none", figure)}


def test_latency_ratio_worse_beyond_tolerance_fails_within_passes(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    slow = write_table(tmp_path / "slow", [{**CI_ROWS[1], "latency_ratio": 1.3}, CI_ROWS[0], *CI_ROWS[2:]])
    report = check(slow, base)
    assert failing(report) == {("stages=1 distill=teacher", "latency_ratio")}
    assert report["rows"][0]["direction"] == "up"
    assert check(slow, base, tol_latency=0.35)["passed"]
    noisy = write_table(tmp_path / "noisy", [{**CI_ROWS[1], "latency_ratio": 1.2}, CI_ROWS[0], *CI_ROWS[2:]])
    assert [r["verdict"] for r in check(noisy, base)["rows"]] == ["within tolerance"]


def test_latency_fails_only_when_the_whole_interval_is_past_the_limit_and_is_undecided_across_it(tmp_path):
    rows = [{**r, "latency_ratio_low": 0.98, "latency_ratio_high": 1.02} for r in CI_ROWS]
    base = baseline_from(tmp_path, rows)

    def verdict(ratio: float, low: float, high: float) -> dict:
        now = [{**rows[0], "latency_ratio": ratio, "latency_ratio_low": low, "latency_ratio_high": high}, *rows[1:]]
        report = check(write_table(tmp_path / f"r{ratio}-{low}-{high}", now), base)
        [row] = [r for r in report["rows"] if r["figure"] == "latency_ratio"]
        return {"verdict": row["verdict"], "passed": report["passed"], "message": row["message"]}

    # The change's interval adds the two measurements' log half-widths in quadrature.
    # ×1.5 measured tightly: the change's interval [×1.44, ×1.56] is wholly above ×1.25.
    assert verdict(1.5, 1.45, 1.55)["verdict"] == "worse" and not verdict(1.5, 1.45, 1.55)["passed"]
    # ×1.3 on a busy machine: [×0.90, ×1.90] straddles ×1.25, so the gate cannot tell and does not fail.
    busy = verdict(1.3, 0.9, 1.9)
    assert busy["verdict"] == "not decided" and busy["passed"]
    assert busy["message"].startswith("not decided: the machine's noise (×2.11) exceeds the tolerance")
    # Close to the limit but measured tightly: not decided either, and said so.
    assert verdict(1.25, 1.24, 1.26)["message"].startswith("not decided: the change is too close to the limit")
    assert verdict(1.1, 1.08, 1.12)["verdict"] == "within tolerance"
    out = run_cli(tmp_path / "r1.3-0.9-1.9", "--baseline", base)
    assert out.exit_code == 0 and "not decided" in out.output


def test_a_drop_of_every_cell_within_each_cells_noise_fails_the_matrix_rule(tmp_path):
    # Two seeds per cell; seed 1 is 1 point up on average (a seed effect, which pairing cancels), and ±0.5 is
    # left per cell and seed: σ = √(8·0.25/3) = 0.82 points. Per cell the tolerance is max(1, 3·0.82·√(2/2))
    # = 2.45 points; for the mean of 4 cells, max(1, 2.5·0.82·√(2·4/2)/4) = 1.02. Every cell 2 points down:
    # no cell fails, the matrix does, and its row lists each cell's change.
    offsets = [(0, 2), (0, 0), (0, 2), (0, 0)]
    rows = [
        {**r, schema.CELL: f"{r[schema.CELL]}{k}", "seed": k, schema.HEADLINE: r[schema.HEADLINE] + off[k]}
        for r, off in zip(CI_ROWS, offsets)
        for k in (0, 1)
    ]
    base = baseline_from(tmp_path, rows)
    down = [{**r, schema.HEADLINE: r[schema.HEADLINE] - 2.0} for r in rows]
    report = check(write_table(tmp_path / "down", down), base)
    assert report["noise"]["paired"]["sd"] == pytest.approx((2 / 3) ** 0.5) and report["noise"]["paired"]["df"] == 6
    assert failing(report) == {("all 4 cells", "headline")}
    [row] = [r for r in report["rows"] if r["fails"]]
    assert row["limit"] == pytest.approx(2.5 * (2 / 3) ** 0.5 * 2 / 4) and row["delta"] == pytest.approx(-2.0)
    assert row["message"].endswith("per cell: -2.00, -2.00, -2.00, -2.00)")
    assert all(
        r["verdict"] == "within tolerance" and r["limit"] == pytest.approx(3 * (2 / 3) ** 0.5)
        for r in report["rows"]
        if r["cell"] != "all 4 cells"
    )
    small = [{**r, schema.HEADLINE: r[schema.HEADLINE] - 0.9} for r in rows]
    assert check(write_table(tmp_path / "small", small), base)["passed"]


def test_latency_is_not_gated_when_the_results_were_measured_on_another_cpu_model(tmp_path):
    # the ratio cancels the machine's speed but not its microarchitecture (0.19 on a Xeon, 0.27-0.48 on an EPYC)
    base = baseline_from(tmp_path, CI_ROWS)
    doc = json.loads(base.read_text())
    doc["environment"] = {**(doc["environment"] or {}), "cpu": "Intel(R) Xeon(R) Processor"}
    base.write_text(json.dumps(doc))
    rows = [{**CI_ROWS[1], "latency_ratio": 1.8, schema.RUN_DIR: "cells/x"}, CI_ROWS[0], *CI_ROWS[2:]]
    now = write_table(tmp_path / "now", rows)
    (tmp_path / "now" / "cells" / "x").mkdir(parents=True)
    (tmp_path / "now" / "cells" / "x" / "metrics.json").write_text(json.dumps({"environment": {"cpu": "AMD EPYC"}}))
    report = check(now, base)
    assert report["passed"] and not report["latency_gated"]
    assert [(r["figure"], r["verdict"]) for r in report["rows"]] == [("latency_ratio", "other cpu")]
    assert any("not gated on another CPU" in n for n in report["notes"])
    doc["environment"]["cpu"] = "AMD EPYC"  # the same CPU model: gated again
    base.write_text(json.dumps(doc))
    assert failing(check(now, base)) == {("stages=1 distill=teacher", "latency_ratio")}


# --------------------------------------------------------------------------------------------- pareto


def pareto_rows(a: float, b: float) -> list[dict]:
    """Cell A (stages 1) is cheap, B (stages 2, deploying stage 2) costs more: both on the front."""
    return [
        cell_row(1, "none", **{schema.HEADLINE: a}),
        cell_row(2, "none", deploy_stage=2, gmacs_fvcore=0.02, **{schema.HEADLINE: b}),
    ]


def test_the_baseline_records_the_accuracy_vs_gmacs_front(tmp_path):
    base = baseline_from(tmp_path, [*pareto_rows(50.0, 60.0), cell_row(2, "teacher", gmacs_fvcore=0.03)])
    assert [c["pareto"] for c in json.loads(base.read_text())["cells"]] == [True, True, False]


def test_a_front_cell_dominated_beyond_tolerance_fails(tmp_path):
    base = baseline_from(tmp_path, pareto_rows(50.0, 60.0))
    # A improves past B at fewer GMACs: no accuracy or cost rule fires for either cell, but B is off the front.
    results = write_table(tmp_path / "now", pareto_rows(65.0, 60.0))
    report = check(results, base)
    assert failing(report) == {("stages=2", "pareto")}
    row = next(r for r in report["rows"] if r["figure"] == "pareto")
    assert row["now"] == "dominated by stages=1" and row["delta"] == pytest.approx(5.0)
    assert {r["verdict"] for r in report["rows"]} == {"better", "off the front"}
    md = tmp_path / "pr.md"
    assert run_cli(results, "--baseline", base, "--markdown", md).exit_code == 1
    assert "| ✗ | stages=2 | pareto | on the front | dominated by stages=1 |" in md.read_text()


def test_a_front_cell_dominated_within_the_noise_passes(tmp_path):
    base = baseline_from(tmp_path, pareto_rows(50.0, 60.0))
    report = check(write_table(tmp_path / "now", pareto_rows(50.0, 49.5)), base, tol_acc=11.0)
    assert report["passed"]
    assert {(r["figure"], r["verdict"]) for r in report["rows"]} == {
        ("headline", "within tolerance"),
        ("pareto", "within tolerance"),
    }


# ------------------------------------------------------------------------------------------- presence


def test_a_missing_or_failed_baseline_cell_fails_and_a_new_cell_is_listed(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    rows = [
        CI_ROWS[0],
        {**CI_ROWS[1], schema.STATUS: "failed", schema.ERROR: "non-finite loss at epoch 2"},
        CI_ROWS[2],
        cell_row(3, "none"),
    ]
    report = check(write_table(tmp_path / "now", rows), base)
    assert failing(report) == {("stages=1 distill=teacher", "cell"), ("stages=2 distill=teacher", "cell")}
    assert report["cells"]["missing"] == ["stages=2 distill=teacher"]
    assert report["cells"]["failed"] == ["stages=1 distill=teacher"]
    assert report["cells"]["new"] == ["stages=3 distill=none"]
    failed = next(r for r in report["rows"] if r["verdict"] == "failed")
    assert failed["now"] == "failed: non-finite loss at epoch 2"


def test_a_matrix_without_every_baseline_cell_is_incomplete_and_no_baseline_shrinks_unless_asked(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    before = base.read_bytes()
    results = write_table(tmp_path / "now", CI_ROWS[:3])
    out = run_cli(results, "--baseline", base)
    assert out.exit_code == 1, out.output
    verdict = next(line for line in out.output.splitlines() if line.startswith("INCOMPLETE"))
    assert "1 of 4 baseline cells are not in the results (stages=2 distill=teacher)" in verdict
    refused = run_cli(results, "--baseline", base, "--update-baseline")
    errors = [line for line in refused.output.splitlines() if line.startswith("Error:")]
    assert refused.exit_code == 2 and len(errors) == 1 and "--allow-partial" in errors[0], refused.output
    assert base.read_bytes() == before
    assert run_cli(results, "--baseline", base, "--update-baseline", "--allow-partial").exit_code == 0
    assert len(json.loads(base.read_text())["cells"]) == 3


# ----------------------------------------------------------------------------------- update-baseline


def test_update_baseline_accepts_a_change_atomically_and_says_what_changed(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    changed = write_table(tmp_path / "now", [{**CI_ROWS[0], "params_deploy": 123_456}, *CI_ROWS[1:]])
    out = run_cli(changed, "--baseline", base, "--update-baseline")
    assert out.exit_code == 0, out.output
    assert "1 figure changed against the previous one" in out.output and "params_deploy" in out.output
    assert [p.name for p in base.parent.iterdir()] == ["ci.json"]  # no temporary file left behind
    doc = json.loads(base.read_text())
    assert doc["format"] == FORMAT and doc["cells"][0]["params_deploy"] == 123_456
    assert {"created", "environment", "context", "headline_name"} <= set(doc)
    assert run_cli(changed, "--baseline", base).exit_code == 0


def test_update_baseline_creates_a_missing_file_and_refuses_unfinished_cells(tmp_path):
    target = tmp_path / "reports" / "baseline" / "ci.json"
    broken = write_table(tmp_path / "broken", [CI_ROWS[0], {**CI_ROWS[1], schema.STATUS: "running"}])
    out = run_cli(broken, "--baseline", target, "--update-baseline")
    assert out.exit_code == 2 and "distill=teacher (running)" in out.output
    assert not target.exists()
    out = run_cli(write_table(tmp_path / "ok", CI_ROWS), "--baseline", target, "--update-baseline")
    assert out.exit_code == 0 and "(4 cells; there was none before)" in out.output
    assert len(json.loads(target.read_text())["cells"]) == 4


# ---------------------------------------------------------------------------------------- bad input


def one_line_error(out, *fragments: str) -> None:
    assert out.exit_code == 2, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)
    error_lines = [line for line in out.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and all(f in error_lines[0] for f in fragments), out.output


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    results = write_table(tmp_path / "now", CI_ROWS)
    one_line_error(run_cli(tmp_path / "nowhere.csv", "--baseline", base), "nowhere.csv", "does not exist")
    one_line_error(run_cli(tmp_path, "--baseline", base), "holds no results.csv")
    one_line_error(run_cli(results, "--baseline", tmp_path / "none.json"), "none.json", "--update-baseline")
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"benchmarks": []}')
    one_line_error(run_cli(results, "--baseline", foreign), "foreign.json", "not an lspd-bench baseline")
    one_line_error(run_cli(results, "--baseline", foreign, "--update-baseline"), "not an lspd-bench baseline")
    assert foreign.read_text() == '{"benchmarks": []}'
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    one_line_error(run_cli(results, "--baseline", broken), "broken.json", "not readable JSON")
    hollow = tmp_path / "hollow.json"
    hollow.write_text(json.dumps({"format": FORMAT, "version": 2, "cells": []}))
    one_line_error(run_cli(results, "--baseline", hollow), "hollow.json", "holds no cells")
    empty = write_table(tmp_path / "empty", [])
    one_line_error(run_cli(empty, "--baseline", base), "holds no cells")
    other = tmp_path / "other.csv"
    other.write_text("name,value\na,1\n")
    one_line_error(run_cli(other, "--baseline", base), "other.csv", "not an lspd-bench results table")


def test_json_output_is_the_report(tmp_path):
    base = baseline_from(tmp_path, CI_ROWS)
    results = write_table(tmp_path / "now", [{**CI_ROWS[0], "gmacs_fvcore": 0.02}, *CI_ROWS[1:]])
    out = run_cli(results, "--baseline", base, "--json")
    assert out.exit_code == 1
    report = json.loads(out.output)
    # More GMACs at the same accuracy also puts it behind the others on the front, but only within the noise.
    assert report["regressed_cells"] == {"stages=1 distill=none": ["gmacs_fvcore"]}
    assert read_results(results).cells[0].costs["gmacs_fvcore"] == 0.02


# --------------------------------------------------------------------- real cells, real regressions
# Results tables made by `run_matrix` with the in-process executor: the cells train, evaluate and are profiled
# in this process, so a monkeypatched block or evaluation reaches them, and no worker interpreter starts.

CI_CELLS = [(1, "none"), (1, "teacher"), (2, "none"), (2, "teacher")]


def store_matrix(folder: Path, overrides: dict, cells=CI_CELLS, trained: Path | None = None) -> Path:
    """Run ``cells`` (stages, distill) of the ci preset as a matrix into ``folder``; returns its results.csv.

    With ``trained`` (another store_matrix folder of the same cells), each cell starts from that training and
    is only evaluated and profiled again: for a regression injected after training."""
    import shutil
    from lspd_bench.ablate import store
    from lspd_bench.ablate.matrix import load_matrix
    from lspd_bench.ablate.run import run_matrix

    stages, distill = sorted({s for s, _ in cells}), sorted({d for _, d in cells})
    assert sorted(cells) == [(s, d) for s in stages for d in distill]  # a matrix is a product of its axes
    specs = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in overrides.items()]
    matrix = load_matrix(
        None,
        [f"stages={','.join(map(str, stages))}", f"distill={','.join(distill)}", *specs, "device=cpu"],
        preset="ci",
    )
    for src in trained.iterdir() if trained else []:  # the same cells: the same folders, resumed at their end
        if (src / store.CELL_FILE).is_file():
            shutil.copytree(src, folder / src.name, ignore=shutil.ignore_patterns(store.METRICS_FILE, store.COST_FILE))
    # Batch 1 and short timings: these width-16 models run for microseconds, and latency has tests of its own.
    summary = run_matrix(matrix, folder, executor="inprocess", latency_min_time_s=0.05, throughput_batch=1)
    assert summary["counts"] == {"done": len(cells)}, [c["error"] for c in summary["cells"]]
    return folder / store.RESULTS_CSV


def synth(tmp_path_factory, name: str, **sizes) -> str:
    from lspd_bench.data.synth import generate_dataset, preset

    root = tmp_path_factory.mktemp("synth") / name
    generate_dataset(root, preset("ci", **sizes), seed=0, workers=1)
    return str(root)


@pytest.fixture(scope="module")
def tiny_matrix(tmp_path_factory):
    """The four ci cells on a tiny benchmark (1 epoch, width 16), and a baseline made from them."""
    tmp = tmp_path_factory.mktemp("tiny-matrix")
    overrides = {
        "data_dir": synth(tmp_path_factory, "tiny", n_train=96, n_val=32),
        "cache_dir": str(tmp / "cache"),
        "epochs": 1,
        "batch_size": 16,
        "width": 16,
        "teacher_features": 16,
        "teacher_epochs": 1,
        "flip_test": False,
    }
    baseline = tmp / "reports" / "baseline" / "ci.json"
    update_baseline(store_matrix(tmp / "base", overrides), baseline)
    return overrides, baseline


@pytest.mark.slow
def test_a_fresh_run_of_the_same_code_passes_with_identical_accuracy_and_costs(tiny_matrix, tmp_path):
    overrides, baseline = tiny_matrix
    # Deterministic on CPU: only the timing may move. These width-16 models run for microseconds and are
    # timed for 0.05 s, so their latency ratio is noise; the latency rule has tests of its own.
    report = check(store_matrix(tmp_path / "again", overrides), baseline, tol_latency=10.0)
    assert report["passed"], [r for r in report["rows"] if r["fails"]]
    assert {r["figure"] for r in report["rows"]} <= {"latency_ratio"}
    assert json.loads(baseline.read_text())["environment"]["libraries"]["torch"]  # from the cells' metrics.json


@pytest.mark.slow
def test_a_block_with_an_extra_convolution_fails_on_params_and_macs(tiny_matrix, tmp_path, monkeypatch):
    from lspd_bench.models import lspd

    class LMRBExtraConv(lspd.LMRB):
        """The injected regression: one more 1×1 conv-BN-ReLU after the block."""

        def __init__(self, channels: int, **kw):
            super().__init__(channels, **kw)
            self.extra = lspd.conv_bn(channels, channels, 1)

        def forward(self, x):
            return self.extra(super().forward(x))

    monkeypatch.setitem(lspd.BLOCKS, "lmrb", LMRBExtraConv)
    overrides, baseline = tiny_matrix
    results = store_matrix(tmp_path / "extra-conv", overrides)
    md = tmp_path / "check.md"
    out = run_cli(results.parent, "--baseline", baseline, "--markdown", md)
    assert out.exit_code == 1, out.output
    report = check(results, baseline)
    costs = ["params_full", "params_deploy", "gmacs_fvcore", "gmacs_ptflops_pytorch", "gmacs_ptflops_aten"]
    for stages, distill in CI_CELLS:
        cell = f"stages={stages} distill={distill}"
        assert set(costs) <= set(report["regressed_cells"][cell])  # the accuracy may move too: it is another model
        verdict_line = next(line for line in out.output.splitlines() if line.startswith("FAILED"))
        assert f"{cell}: " in verdict_line and ", ".join(costs) in verdict_line
        assert f"| ✗ | {cell} | gmacs_fvcore |" in md.read_text()
    assert all(r["direction"] == "up" for r in report["rows"] if r["figure"] in costs)


@pytest.mark.slow
def test_wrong_flip_pairs_in_the_flip_test_fail_on_the_headline(tmp_path_factory, tmp_path, monkeypatch):
    from lspd_bench.evaluation import predict

    # The ci preset's own schedule on a quarter of its benchmark, with the flip test. The injected bug: the
    # flip test swaps the legs' left/right heatmaps back but not the arms' (a realistic slip in a pairs table).
    data = synth(tmp_path_factory, "ci-quarter", n_train=512, n_val=128)
    overrides = {"data_dir": data, "cache_dir": str(tmp_path / "cache"), "flip_test": True}
    cells = [(1, "none"), (2, "none")]
    baseline = tmp_path / "ci.json"
    update_baseline(store_matrix(tmp_path / "base", overrides, cells), baseline)
    right = predict.flip_test_average
    monkeypatch.setattr(predict, "flip_test_average", lambda h, f, pairs, **kw: right(h, f, pairs[:3], **kw))
    results = store_matrix(tmp_path / "bug", overrides, cells, trained=tmp_path / "base")  # the bug is in evaluation
    for metrics in results.parent.glob("*/metrics.json"):
        assert json.loads(metrics.read_text())["train"]["epochs_run"] == 0  # the same trained weights, scored again
    out = run_cli(results, "--baseline", baseline)
    assert out.exit_code == 1, out.output
    verdict_line = next(line for line in out.output.splitlines() if line.startswith("FAILED"))
    assert "all 2 cells: headline" in verdict_line  # the mean over the cells dropped beyond the floor
    report = check(results, baseline)
    headline = [r for r in report["rows"] if r["figure"] == "headline"]
    assert len(headline) == 3 and all(r["direction"] == "down" for r in headline)
    matrix = next(r for r in headline if r["cell"] == "all 2 cells")
    assert matrix["verdict"] == "worse" and matrix["delta"] < -ACC_FLOOR
    assert not any(r["rule"] == "cost" for r in report["rows"])  # the same models: costs are untouched
