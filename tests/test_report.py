"""`lspd-bench report`: loading a matrix, seed statistics, deltas with paired-bootstrap intervals, tables,
the paper view, Pareto plots and the refusals (mixed context, foreign folders)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lspd_bench.evaluation.evaluators import evaluator
from lspd_bench.evaluation.bootstrap import seed_variance_parts
from lspd_bench.ablate import schema
from lspd_bench.cli import main
from lspd_bench.data.keypoints import MPII_EXCLUDED_FROM_MEAN, MPII_PCKH_GROUPS
from lspd_bench.errors import InputError
from lspd_bench.report import build_report
from lspd_bench.report.load import load_matrix
from lspd_bench.report.load import load_references
from lspd_bench.report.plots import figure_bytes, pareto_figure, stage_figure
from lspd_bench.report.stats import STAGE_GAP, analyze, front_variants, pareto_front, parse_baseline_row
from lspd_bench.report.tables import (
    axis_tables,
    conventions,
    fmt_number,
    main_table,
    render_csv,
    render_html,
    render_latex,
    render_markdown,
    stage_table,
)

PEOPLE = 240
FINGERPRINT = "b68ed5cca87da000a065c951071b9d35c7a88e2886ad9d2ed529741ceac9426c"
ENV = {
    "device": "cpu",
    "cpu": "Test CPU @ 2.0GHz",
    "cpu_count": 2,
    "python": "3.11.7",
    "os": "Linux-test",
    "libraries": {"torch": "2.13.0+cpu", "numpy": "2.4.6", "fvcore": "0.1.5.post20221221", "ptflops": "0.7.5"},
    "torch_threads": 2,
}
REFERENCES = {  # model: (params deploy, fvcore GMACs, latency ms, PCKh Mean) at the fake matrix's 64×64
    "simplebaseline-r18": (15.38e6, 0.171, 9.5, 71.0),
    "litehrnet-18": (1.13e6, 0.0171, 6.2, 64.0),
}


def _visible() -> np.ndarray:
    """Which joints are annotated: a property of the validation people, the same for every cell."""
    return np.random.default_rng(123).random((PEOPLE, 16)) < 0.9


def _scores(correct: np.ndarray, visible: np.ndarray) -> dict[str, float]:
    """The PCKh table of per-person arrays (count-weighted, pelvis and thorax left out)."""
    out = {}
    for name, joints in MPII_PCKH_GROUPS.items():
        out[name] = 100.0 * correct[:, joints].sum() / visible[:, joints].sum()
    keep = [j for j in range(16) if j not in MPII_EXCLUDED_FROM_MEAN]
    out["Mean"] = 100.0 * correct[:, keep].sum() / visible[:, keep].sum()
    out["Mean@0.1"] = 0.4 * out["Mean"]
    return out


def success_rate(stages: int, distill: str, block: str) -> float:
    """The fake matrix's true per-joint accuracy: more stages and a teacher help, inverted blocks less."""
    return (
        0.50 + 0.035 * (stages - 1) + (0.06 if distill == "teacher" else 0.0) - (0.05 if block == "inverted" else 0.0)
    )


def write_fake_matrix(
    root: Path,
    *,
    stages=(1, 2, 3, 4),
    distills=("none", "teacher"),
    blocks=("lmrb",),
    seeds=(0, 1),
    references: bool = False,
    status: dict[tuple, str] | None = None,
    context: dict[tuple, dict] | None = None,
    history: Callable[[int | None, str, str | None, int], list[dict]] | None = None,
) -> Path:
    """A matrix folder as `lspd-bench ablate` writes it: results.csv plus one folder per cell.

    Cells of the same seed share one uniform draw per person and joint, so a variant with a higher
    success rate is correct wherever a lower one is (a known, positive paired difference). ``status``
    maps ``(stages, distill, block, seed)`` to a status other than done; ``context`` overrides context
    columns of a cell; ``history(stages, distill, block, seed)`` gives a cell's per-epoch training rows
    (``metrics.json``'s ``train.history``; none without it).
    """
    root.mkdir(parents=True, exist_ok=True)
    visible = _visible()
    rows = []
    status = status or {}
    context = context or {}
    specs = [("lspd-xs", k, b, d, s) for k in stages for b in blocks for d in distills for s in seeds]
    if references:
        specs += [(m, None, None, "none", s) for m in REFERENCES for s in seeds]
    for model, k, block, distill, seed in specs:
        cell = f"{model}-{k}-{block}-{distill}-{seed}"
        folder = root / cell
        state = status.get((k, distill, block, seed), "done")
        row = {
            schema.CELL: cell,
            schema.STATUS: state,
            schema.ERROR: "",
            schema.RUN_DIR: cell,
            "model": model,
            "stages": k,
            "block": block,
            "width": 32,
            "depth": 3,
            "width_growth": 2.0,
            "blocks_per_level": 1,
            "deploy_stage": 1,
            "distill": distill,
            "alpha": 0.5,
            "loss": "fg_mse",
            "seed": seed,
            "dataset": "synth",
            "dataset_fingerprint": FINGERPRINT,
            "synth_preset": "ci",
            "preset": "ci",
            "epochs": 3,
            "batch_size": 32,
            "input_size": "64x64",
            "metric": "pckh",
            "headline_name": "PCKh@0.5 Mean",
            "flip_test": True,
        }
        row.update(context.get((k, distill, block, seed), {}))
        if state != "done":  # not scored yet: the store leaves the metric empty
            row.update(metric=None, headline_name=None)
            row[schema.ERROR] = "loss became NaN at epoch 2" if state == "failed" else ""
            rows.append(row)
            continue
        u = np.random.default_rng(1000 + seed).random((PEOPLE, 16))
        if model in REFERENCES:
            params, gmacs, latency, mean = REFERENCES[model]
            rate = mean / 100.0
            params_full = params
        else:
            rate = success_rate(k, distill, block)
            params = 0.352e6 if block == "lmrb" else 0.298e6
            params_full = params + (k - 1) * 0.21e6
            gmacs = 0.0291 if block == "lmrb" else 0.0247
            latency = (3.1 if block == "lmrb" else 2.6) + 0.05 * seed
        correct = (u < rate + 0.004 * seed) & visible
        scores = _scores(correct, visible)
        row.update(scores)
        row[schema.HEADLINE] = scores["Mean"]
        for j in range(1, (k or 1) + 1):  # each later stage one point above the one before it
            row[schema.STAGE_HEADLINE.format(k=j)] = scores["Mean"] + (j - 1)
        row.update(
            {
                "params_full": params_full,
                "params_deploy": params,
                "gmacs_fvcore": gmacs,
                "gmacs_conv_linear": gmacs * 0.9,
                "gmacs_ptflops_pytorch": gmacs * 1.02,
                "gmacs_ptflops_aten": gmacs * 0.88,
                "latency_ms": latency,
                "latency_p90_ms": latency * 1.1,
                "latency_threads": 1,
                "throughput_img_s": 8 * 1000 / (latency * 6),
                "throughput_batch": 8,
                "latency_ratio": latency / 3.0,
                "train_seconds": 12.0,
                "train_images_per_s": 40.0,
            }
        )
        rows.append(row)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "per_person.npz", correct=correct, correct_at_01=correct & (u < 0.2), visible=visible)
        metrics = {
            "metric": "pckh",
            "headline": scores["Mean"],
            "headline_name": "PCKh@0.5 Mean",
            "stages": [{"stage": 1, **scores}],
            "deploy_stage": 1,
            "flip_test": True,
            "conventions": ["Mean@0.1 is read at threshold exactly 0.1", "a joint is correct when error <= threshold"],
            "loss": {"name": "fg_mse"},
            "distill": {"mode": distill},
            "schedule": {"epochs": row["epochs"], "batch_size": 32, "lr": 0.002, "schedule": "multistep"},
            "dataset": {
                "name": "synth",
                "description": "synthetic benchmark ci (seed 0)",
                "fingerprint": row["dataset_fingerprint"],
                "val_people": PEOPLE,
                "train_people": 512,
            },
            "environment": ENV,
        }
        if history is not None:
            metrics["train"] = {"history": history(k, distill, block, seed)}
        (folder / "metrics.json").write_text(json.dumps(metrics))
        cost = {
            "model": model,
            "input": [64, 64],
            "params": {"full": params_full, "deploy": params},
            "macs": [{"counter": "fvcore", "library": "fvcore 0.1.5.post20221221", "gmacs": gmacs}],
            "latency": {
                "median_ms": latency,
                "batch": 1,
                "threads": 1,
                "runtime": "eager",
                "device": "cpu",
                "dtype": "float32",
                "memory_format": "contiguous",
            },
            "throughput": {"median_ms": latency * 6, "batch": 8, "threads": 1, "runtime": "eager"},
            "environment": ENV,
            "conventions": ["MACs: one fused multiply-add = 1 MAC"],
        }
        (folder / "cost.json").write_text(json.dumps(cost))
    columns = [
        schema.CELL,
        schema.STATUS,
        schema.ERROR,
        schema.RUN_DIR,
        *schema.CONFIG,
        *schema.CONTEXT,
        schema.HEADLINE,
        *(schema.STAGE_HEADLINE.format(k=j) for j in range(1, max(stages) + 1)),
        *schema.ACCURACY_COLUMNS,
        *schema.COST_COLUMNS,
        *schema.TRAIN_COLUMNS,
    ]
    pd.DataFrame(rows).reindex(columns=columns).to_csv(root / "results.csv", index=False)
    return root


@pytest.fixture
def matrix_dir(tmp_path) -> Path:
    return write_fake_matrix(tmp_path / "runs" / "stages-distill")


def _expected_delta(a: tuple, b: tuple, seeds=(0, 1)) -> float:
    """Mean over seeds of the per-seed PCKh Mean difference, from the fixture's own arrays."""
    deltas = []
    for s in seeds:
        root_a, root_b = a + (s,), b + (s,)
        ca = np.load(root_a[0] / f"lspd-xs-{root_a[1]}-lmrb-{root_a[2]}-{s}" / "per_person.npz")
        cb = np.load(root_b[0] / f"lspd-xs-{root_b[1]}-lmrb-{root_b[2]}-{s}" / "per_person.npz")
        deltas.append(_scores(ca["correct"], ca["visible"])["Mean"] - _scores(cb["correct"], cb["visible"])["Mean"])
    return float(np.mean(deltas))


def _variant(analysis, **axes):
    return next(v for v in analysis.variants if all(v.axes.get(k) == x for k, x in axes.items()))


# ------------------------------------------------------------------------------------ refusals, one line


@pytest.mark.parametrize("kind", ["empty", "foreign", "missing"])
def test_empty_foreign_or_missing_folder_is_one_line_and_exit_2(tmp_path, kind):
    folder = tmp_path / "runs" / "x"
    if kind != "missing":
        folder.mkdir(parents=True)
    if kind == "foreign":
        (folder / "notes.txt").write_text("not a matrix")
    result = CliRunner().invoke(main, ["report", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(folder) in errors[0]
    assert not (tmp_path / "out").exists()


def test_results_csv_of_another_tool_is_refused_naming_the_missing_columns(tmp_path):
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"lacks the column\(s\) cell, status, run_dir, headline, metric"):
        load_matrix(tmp_path)


def test_a_matrix_without_a_finished_cell_is_refused(tmp_path):
    root = write_fake_matrix(
        tmp_path / "m",
        stages=(1,),
        distills=("none",),
        status={(1, "none", "lmrb", 0): "running", (1, "none", "lmrb", 1): "pending"},
    )
    with pytest.raises(InputError, match=r"none of its 2 cells has finished yet \(1 running, 1 pending\)"):
        analyze(load_matrix(root))


@pytest.mark.parametrize(
    ("column", "value", "group"),
    [("dataset_fingerprint", "0" * 64, "datasets"), ("input_size", "256x256", "evaluation settings")],
    ids=["dataset", "input size"],
)
def test_mixed_datasets_or_evaluation_settings_are_refused_unless_allowed(tmp_path, column, value, group):
    root = write_fake_matrix(tmp_path / "m", context={(2, "none", "lmrb", 0): {column: value}})
    with pytest.raises(InputError, match=rf"mixes {group} \({column}: .*--allow-mixed"):
        analyze(load_matrix(root))
    analysis = analyze(load_matrix(root), allow_mixed=True)
    assert analysis.axes[-1] == column  # the mixed column becomes an axis, so the rows stay apart
    odd = _variant(analysis, stages=2, distill="none", **{column: value})
    assert len(odd.cells) == 1


# ------------------------------------------------------------------------------------- statistics, deltas


def test_rows_are_mean_and_sample_std_over_seeds(matrix_dir):
    analysis = analyze(load_matrix(matrix_dir))
    assert analysis.axes == ["stages", "distill"]
    frame = pd.read_csv(matrix_dir / "results.csv")
    seeds = frame[(frame.stages == 3) & (frame.distill == "teacher")]["Mean"]
    stat = _variant(analysis, stages=3, distill="teacher").value("Mean")
    assert stat.n == 2
    assert stat.mean == pytest.approx(seeds.mean())
    assert stat.std == pytest.approx(seeds.std(ddof=1))
    md = render_markdown(main_table(analysis))
    assert "| 3 | teacher | 2/2 | " in md
    assert f"{stat.mean:.1f} ± {stat.std:.1f}" in md


def test_delta_is_the_paired_difference_averaged_over_seeds_with_a_bootstrap_interval(matrix_dir):
    analysis = analyze(load_matrix(matrix_dir), n_boot=400)
    teacher = _variant(analysis, stages=1, distill="teacher")
    expected = _expected_delta((matrix_dir, 1, "teacher"), (matrix_dir, 1, "none"))
    assert teacher.delta.delta == pytest.approx(expected)
    assert teacher.delta.seeds == (0, 1)
    # The fixture's teacher cells are correct wherever the baseline's are, and more often: the paired
    # interval is narrow and clear of zero.
    assert 0 < teacher.delta.low < expected < teacher.delta.high
    assert teacher.delta.high - teacher.delta.low < 3.0
    assert _variant(analysis, stages=1, distill="none").is_baseline
    assert _variant(analysis, stages=1, distill="none").delta is None


def test_delta_interval_comes_from_the_per_person_files_of_paired_seeds(tmp_path):
    root = write_fake_matrix(tmp_path / "m", status={(1, "none", "lmrb", 1): "running"})
    # Give stages=2/none the baseline's own per-person arrays for seed 0: the paired difference is exactly 0.
    src = root / "lspd-xs-1-lmrb-none-0" / "per_person.npz"
    (root / "lspd-xs-2-lmrb-none-0" / "per_person.npz").write_bytes(src.read_bytes())
    analysis = analyze(load_matrix(root), n_boot=200)
    twin = _variant(analysis, stages=2, distill="none").delta
    assert twin.seeds == (0,)  # seed 1 of the baseline is still running: only seed 0 pairs
    assert (twin.delta, twin.low, twin.high, twin.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_without_per_person_files_the_delta_has_no_interval_and_says_why(tmp_path):
    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), distills=("none",))
    (root / "lspd-xs-2-lmrb-none-1" / "per_person.npz").unlink()
    analysis = analyze(load_matrix(root))
    delta = _variant(analysis, stages=2).delta
    assert delta.low is None and "lspd-xs-2-lmrb-none-1 has no per_person.npz" in delta.note
    table = main_table(analysis)
    assert "| 2 | 2/2 |" in render_markdown(table)
    assert any("no per_person.npz" in n for n in table.notes + analysis.notes)


def test_default_baseline_row_is_the_first_value_of_each_axis_and_can_be_chosen(matrix_dir):
    assert analyze(load_matrix(matrix_dir)).baseline.axes == {"stages": 1, "distill": "none"}
    chosen = analyze(load_matrix(matrix_dir), baseline_row=parse_baseline_row("distill=teacher,stages=2"))
    assert chosen.baseline.axes == {"stages": 2, "distill": "teacher"}
    assert _variant(chosen, stages=4, distill="teacher").delta.delta == pytest.approx(
        _expected_delta((matrix_dir, 4, "teacher"), (matrix_dir, 2, "teacher"))
    )
    partial = analyze(load_matrix(matrix_dir), baseline_row={"distill": "teacher"})
    assert partial.baseline.axes == {"stages": 1, "distill": "teacher"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages=9", r"stages=9: stages takes the values 1, 2, 3, 4"),
        ("width=16", r"key 'width' is not an axis that varies .*varying: stages, distill"),
        ("stages", r"'stages' is not of the form key=value"),
    ],
)
def test_bad_baseline_row_names_the_key_or_value(matrix_dir, text, message):
    with pytest.raises(InputError, match=message):
        analyze(load_matrix(matrix_dir), baseline_row=parse_baseline_row(text))
    result = CliRunner().invoke(main, ["report", str(matrix_dir), "--baseline-row", text])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_pareto_front_keeps_exactly_the_undominated_points():
    points = [(1.0, 50.0), (2.0, 60.0), (2.0, 55.0), (3.0, 60.0), (0.5, 40.0), (4.0, 70.0), (1.0, 50.0)]
    # (2, 55) loses to (2, 60); (3, 60) to (2, 60); equal points are both kept.
    assert pareto_front(points) == [4, 0, 6, 1, 5]


def test_pareto_front_treats_differences_within_the_noise_as_ties():
    points = [(1.0, 50.0), (2.0, 51.0), (3.0, 56.0), (1.0, 50.5)]
    # With 2 points of accuracy noise, (2, 51) is not better than the cheaper (1, 50): not a front member; the
    # two 1-GMAC points tie and both stay; (3, 56) is better beyond the noise.
    assert pareto_front(points) == [3, 1, 2]
    assert pareto_front(points, acc_tie=2.0) == [3, 0, 2]
    # Latencies whose intervals overlap tie as well: (1.9 ms, 60) is not cheaper than (2.0 ms, 61).
    assert pareto_front([(2.0, 61.0), (1.9, 60.0)], 2.0, [(1.8, 2.2), (1.7, 2.1)]) == [1, 0]
    assert pareto_front([(2.0, 61.0), (1.0, 60.0)], 2.0, [(1.9, 2.1), (0.9, 1.1)]) == [1]


# ------------------------------------------------------------------------------------------------ tables


def test_best_value_per_column_is_bold_in_markdown_latex_and_html(matrix_dir):
    analysis = analyze(load_matrix(matrix_dir))
    table = main_table(analysis)
    best = _variant(analysis, stages=4, distill="teacher").value("Mean").mean
    lightest = _variant(analysis, stages=1, distill="none").value("params_full").mean / 1e6
    md, tex, page = render_markdown(table), render_latex(table), render_html(table)
    assert f"**{best:.1f}**" in md and f"\\textbf{{{best:.1f}}}" in tex and f"<strong>{best:.1f}</strong>" in page
    assert md.count(f"**{lightest:.3f}**") == 2  # stages=1 with and without distillation: a tie, both bold
    # Every variant deploys the same model: nothing stands out in the deploy-params column.
    assert "**0.352**" not in md.replace(f"**{lightest:.3f}**", "")


def test_latex_is_a_booktabs_table_with_escaped_headers(matrix_dir):
    analysis = analyze(load_matrix(matrix_dir))
    tex = render_latex(main_table(analysis), conventions(analysis))
    assert tex.index("\\toprule") < tex.index("\\midrule") < tex.index("\\bottomrule")
    assert "$\\Delta$ Mean [95\\% CI: people]" in tex and "$\\pm$" in tex and "Mean@0.1" in tex
    body = tex[tex.index("\\midrule") : tex.index("\\bottomrule")]
    assert body.count("\\\\") == 8  # one line per variant
    assert tex.isascii()  # symbols spelled out for pdflatex, in the table and in the comments


def test_csv_holds_axes_means_stds_deltas_and_front_membership(tmp_path):
    matrix_dir = write_fake_matrix(tmp_path / "m", blocks=("lmrb", "inverted"))
    analysis = analyze(load_matrix(matrix_dir), n_boot=200)
    fronts = {"gmacs": front_variants(analysis, "gmacs")}
    frame = pd.read_csv(io.StringIO(render_csv(main_table(analysis), fronts)))
    row = frame[(frame.stages == 2) & (frame.distill == "teacher") & (frame.block == "lmrb")].iloc[0]
    v = _variant(analysis, stages=2, distill="teacher", block="lmrb")
    assert row["Mean"] == pytest.approx(v.value("Mean").mean)
    assert row["Mean_std"] == pytest.approx(v.value("Mean").std)
    assert row["params_deploy"] == pytest.approx(352000.0)  # schema units: a parameter count
    assert (row["delta"], row["delta_low"], row["delta_high"]) == pytest.approx(
        (v.delta.delta, v.delta.low, v.delta.high)
    )
    assert row["cells_done"] == 2 and row["cells_total"] == 2
    assert frame["pareto_gmacs"].sum() == 2 and frame["baseline_row"].sum() == 1  # each block's best


def test_paper_view_has_one_table_per_axis_holding_the_others_at_the_baseline(matrix_dir):
    analysis = analyze(load_matrix(matrix_dir), baseline_row={"distill": "teacher"})
    tables = {t.name: t for t in axis_tables(analysis)}
    assert set(tables) == {"axis_stages", "axis_distill"}
    assert [v.axes for v in tables["axis_stages"].rows] == [{"stages": k, "distill": "teacher"} for k in (1, 2, 3, 4)]
    assert [v.axes["distill"] for v in tables["axis_distill"].rows] == ["none", "teacher"]
    assert all(v.axes["stages"] == 1 for v in tables["axis_distill"].rows)
    assert tables["axis_stages"].title == "Effect of stages (distill=teacher)"


def test_running_matrix_marks_missing_cells(tmp_path):
    status = {
        (4, "teacher", "lmrb", 0): "running",
        (4, "teacher", "lmrb", 1): "pending",
        (3, "none", "lmrb", 1): "failed",
    }
    root = write_fake_matrix(tmp_path / "m", status=status)
    analysis = analyze(load_matrix(root), metric="pckh")  # cells not scored yet are kept, not filtered out
    md = render_markdown(main_table(analysis))
    waiting = next(line for line in md.splitlines() if line.startswith("| 4 | teacher |"))
    assert "0/2 (1 running, 1 pending)" in waiting and waiting.count("—") >= 9
    half = next(line for line in md.splitlines() if line.startswith("| 3 | none |"))
    single = _variant(analysis, stages=3, distill="none").value("Mean")
    assert "1/2 (1 failed)" in half and single.n == 1 and f"| {single.mean:.1f} |" in half  # one seed: no ±
    assert "loss became NaN at epoch 2" in md


def test_missing_values_spelled_nan_by_pandas_are_missing_not_a_second_metric(tmp_path):
    root = write_fake_matrix(
        tmp_path / "m",
        stages=(1, 2),
        distills=("none",),
        status={(2, "none", "lmrb", 0): "failed", (2, "none", "lmrb", 1): "failed"},
    )
    text = (root / "results.csv").read_text().splitlines()
    failed = [i for i, line in enumerate(text) if ",failed," in line]
    header = text[0].split(",")
    for i in failed:  # pandas' string dtype writes a missing error, metric or headline name as "nan"
        fields = text[i].split(",")
        for col in ("metric", "headline_name", "alpha"):
            fields[header.index(col)] = "nan"
        text[i] = ",".join(fields)
    (root / "results.csv").write_text("\n".join(text) + "\n")
    analysis = analyze(load_matrix(root))
    assert analysis.metric == "pckh" and analysis.axes == ["stages"]
    assert _variant(analysis, stages=2).status_text() == "0/2 (2 failed)"


def test_an_ap_matrix_reports_ap_columns_and_deltas_without_intervals(tmp_path):
    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), distills=("none",))
    frame = pd.read_csv(root / "results.csv")
    for i, col in enumerate(evaluator("ap").columns):
        frame[col] = frame["Mean"] - i
    frame["metric"], frame["headline_name"], frame["headline"] = "ap", "AP", frame["Mean"]
    frame.to_csv(root / "results.csv", index=False)
    analysis = analyze(load_matrix(root))
    assert analysis.headline == "AP" and analysis.accuracy_columns == ("AP", "AP50", "AP75", "AP(M)", "AP(L)", "AR")
    delta = _variant(analysis, stages=2).delta
    expected = frame[frame.stages == 2]["AP"].mean() - frame[frame.stages == 1]["AP"].mean()
    assert delta.delta == pytest.approx(expected) and delta.low is None and "no per-person data" in delta.note
    assert "| AP | AP50 | AP75 | AP(M) | AP(L) | AR |" in render_markdown(main_table(analysis))
    with pytest.raises(InputError, match="no cell was scored with --metric pckh"):
        analyze(load_matrix(root), metric="pckh")


# --------------------------------------------------------------------------------------- plots, the build


def test_figures_come_in_png_svg_and_pdf_with_the_front_and_references_labelled(tmp_path):
    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), blocks=("lmrb", "inverted"), references=True)
    analysis = analyze(load_matrix(root))
    assert not any(v.reference for v in front_variants(analysis, "gmacs"))
    data = figure_bytes(pareto_figure(analysis, "gmacs"))
    assert data["png"].startswith(b"\x89PNG") and data["pdf"].startswith(b"%PDF")
    svg = data["svg"].decode()
    for text in (
        "Pareto front (2 variants)",
        "SimpleBaseline-R18",
        "Lite-HRNet-18",
        "GMACs (fvcore, deploy model",
        "PCKh@0.5 Mean (%)",
        "log scale",
    ):
        assert text in svg


def test_build_writes_tables_plots_page_and_markdown(tmp_path):
    matrix_dir = write_fake_matrix(tmp_path / "runs" / "blocks", blocks=("lmrb", "inverted"))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["report", str(matrix_dir), "--out", str(out), "--formats", "png", "--bootstrap", "200", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    # The inverted block is cheaper and less accurate: each block type's best variant is on the front.
    assert summary["pareto"]["gmacs"] == [
        "stages=4, block=inverted, distill=teacher",
        "stages=4, block=lmrb, distill=teacher",
    ]
    for name in (
        "index.html",
        "report.md",
        "tables/results.md",
        "tables/results.tex",
        "tables/results.csv",
        "tables/axis_stages.tex",
        "tables/axis_distill.csv",
        "tables/stages.csv",
        "plots/pareto_gmacs.png",
        "plots/pareto_params.png",
        "plots/pareto_latency.png",
        "plots/axis_stages.png",
        "plots/stages.png",
    ):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text()
    assert "Effect of stages (block=lmrb, distill=none)" in md
    assert "baseline row: `stages=1, block=lmrb, distill=none`" in md
    assert "[accuracy vs GMACs](plots/pareto_gmacs.png)" in md
    again = build_report(matrix_dir, tmp_path / "again", formats=("png",), n_boot=200)
    assert (tmp_path / "again" / "index.html").read_bytes() == (out / "index.html").read_bytes()  # deterministic
    assert again["pareto"] == summary["pareto"]


def test_variants_that_deploy_one_network_get_no_front_and_no_stack_of_dots_but_one_note(matrix_dir, tmp_path):
    # stages × distill: every variant deploys the backbone and stage 1, so they share every deploy cost.
    summary = build_report(matrix_dir, tmp_path / "out", formats=("png",), n_boot=100)
    assert summary["pareto"] == {"gmacs": [], "params": [], "latency": []}
    assert not list((tmp_path / "out" / "plots").glob("pareto_*"))
    shared = [w for w in summary["warnings"] if w.startswith("Every LSPD variant deploys the same network")]
    assert shared == [
        "Every LSPD variant deploys the same network (0.0291 GMACs, 0.352 M, 3.12 ms): no Pareto "
        "front is drawn for GMACs or parameters or latency, and no plot unless reference models give "
        "it other costs; compare the variants' accuracy in the tables."
    ]
    page = (tmp_path / "out" / "index.html").read_text()
    assert page.count("Every LSPD variant deploys the same network") == 1
    # With reference models beside them, the plot shows where the one network sits, still without a front.
    with_refs = build_report(
        write_fake_matrix(tmp_path / "r", references=True), tmp_path / "out2", formats=("svg",), n_boot=100
    )
    assert with_refs["pareto"]["gmacs"] == []
    svg = (tmp_path / "out2" / "plots" / "pareto_gmacs.svg").read_text()
    assert "SimpleBaseline-R18" in svg and "Pareto front" not in svg


def test_every_stage_is_tabled_and_plotted_with_what_deploying_one_stage_gives_up(matrix_dir, tmp_path):
    analysis = analyze(load_matrix(matrix_dir))
    table = stage_table(analysis)
    assert [c.header for c in table.columns][-5:] == [
        "stage 1",
        "stage 2",
        "stage 3",
        "stage 4",
        "last − deployed (points)",
    ]
    k3 = _variant(analysis, stages=3, distill="teacher")
    assert k3.value("stage3_headline").mean == pytest.approx(k3.value("Mean").mean + 2.0)
    assert k3.value("stage4_headline") is None
    assert k3.value(STAGE_GAP).mean == pytest.approx(2.0) and k3.value(STAGE_GAP).n == 2
    assert _variant(analysis, stages=1, distill="none").value(STAGE_GAP) is None  # one stage: nothing given up
    md = render_markdown(table)
    assert "PCKh@0.5 Mean at every stage (deployed: stage 1)" in md
    svg = figure_bytes(stage_figure(analysis), ["svg"])["svg"].decode()
    for text in ("PCKh@0.5 Mean at every stage", "distill = teacher", "deployed", "mean ± std over 2 seeds"):
        assert text in svg
    build_report(matrix_dir, tmp_path / "out", formats=("png",), n_boot=100)
    page = (tmp_path / "out" / "index.html").read_text()
    assert 'id="stages"' in page and "plots/stages.png" in page


def test_a_cost_no_variant_has_yet_gets_no_plot_and_a_note(tmp_path):
    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), distills=("none",), blocks=("lmrb", "inverted"))
    frame = pd.read_csv(root / "results.csv")
    frame["latency_ms"] = None
    frame.to_csv(root / "results.csv", index=False)
    summary = build_report(root, tmp_path / "out", formats=("png",), n_boot=100)
    assert not (tmp_path / "out" / "plots" / "pareto_latency.png").exists()
    assert (tmp_path / "out" / "plots" / "pareto_gmacs.png").is_file()
    assert any("accuracy-vs-latency plot is left out" in w for w in summary["warnings"])


def test_reference_profiles_are_drawn_by_cost_when_their_size_matches(matrix_dir, tmp_path):
    profile = {
        "model": "litehrnet-18",
        "input": [64, 64],
        "params": {"full": 1.1e6, "deploy": 1.1e6},
        "macs": [{"counter": "fvcore", "gmacs": 0.017}],
        "latency": [],
    }
    (tmp_path / "lite.json").write_text(json.dumps(profile))
    (tmp_path / "big.json").write_text(json.dumps({**profile, "model": "simplebaseline-r50", "input": [256, 192]}))
    refs, notes = load_references([tmp_path / "lite.json"], FINGERPRINT)
    assert refs[0].label == "Lite-HRNet-18" and refs[0].accuracy is None and refs[0].gmacs == {"fvcore": 0.017}
    summary = build_report(
        matrix_dir,
        tmp_path / "out",
        formats=("svg",),
        n_boot=100,
        references=[tmp_path / "lite.json", tmp_path / "big.json"],
    )
    svg = (tmp_path / "out" / "plots" / "pareto_gmacs.svg").read_text()
    assert "Lite-HRNet-18 (cost only)" in svg and "SimpleBaseline-R50" not in svg
    assert any("SimpleBaseline-R50 was profiled at 256×192" in w for w in summary["warnings"])
    (tmp_path / "numbers.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="numbers.json: not a profile"):
        load_references([tmp_path / "numbers.json"])


def test_the_zoo_table_gives_the_reference_models_by_default_at_the_matrix_size(tmp_path, monkeypatch):
    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), blocks=("lmrb", "inverted"))
    monkeypatch.chdir(tmp_path)
    zoo = tmp_path / "reports" / "zoo" / "zoo.json"
    zoo.parent.mkdir(parents=True)

    def profile(model, hw):
        return {
            "model": model,
            "input": hw,
            "params": {"full": 1.1e6, "deploy": 1.1e6},
            "macs": [{"counter": "fvcore", "gmacs": 0.017}],
            "latency": [],
        }

    zoo.write_text(json.dumps([profile("litehrnet-18", [64, 64]), profile("lspd-s", [64, 64])]))
    summary = build_report(root, tmp_path / "out", formats=("svg",), n_boot=100)
    svg = (tmp_path / "out" / "plots" / "pareto_gmacs.svg").read_text()
    assert "Lite-HRNet-18 (cost only)" in svg and "lspd-s" not in svg  # reference families only
    assert any(w.startswith("reference models from the zoo table reports/zoo/zoo.json") for w in summary["warnings"])

    zoo.write_text(json.dumps([profile("litehrnet-18", [256, 192])]))  # the zoo's customary sizes
    summary = build_report(root, tmp_path / "out", formats=("svg",), n_boot=100)
    assert "Lite-HRNet" not in (tmp_path / "out" / "plots" / "pareto_gmacs.svg").read_text()
    assert [w for w in summary["warnings"] if "zoo" in w] == [
        "the zoo table reports/zoo/zoo.json was profiled at other input sizes than the matrix's 64×64: its models "
        "are drawn after `lspd-bench zoo --input 64x64 --out reports/zoo/zoo.json`"
    ]


# ------------------------------------------------------------------------------------- real cells, slow


@pytest.mark.slow
def test_report_of_two_really_trained_and_profiled_cells(tiny_overrides, tmp_path):
    """Two cells trained by `train_and_evaluate` (ci preset, one epoch), profiled with `lspd_bench.cost`,
    tabulated by the ablation store's own writer: the report must carry their numbers unchanged."""
    from lspd_bench.ablate import store
    from lspd_bench.config import load_config
    from lspd_bench.cost import count_macs, count_params, measure_latency
    from lspd_bench.cost.profile import CONVENTIONS
    from lspd_bench.data.build import build_data
    from lspd_bench.env import environment
    from lspd_bench.evaluation.run import train_and_evaluate
    from lspd_bench.fileio import write_json
    from lspd_bench.train.build import build_student, identity

    root = tmp_path / "runs" / "real"
    rows, metrics, costs, bundle, first_ms = [], {}, {}, None, None
    for stages in (1, 2):
        cfg = load_config("ci", None, {**tiny_overrides, "epochs": 1, "stages": stages, "device": "cpu"})
        bundle = bundle or build_data(cfg)
        cell_dir = root / f"stages{stages}"
        metrics[stages] = train_and_evaluate(cfg, cell_dir, bundle=bundle)
        model = build_student(cfg, bundle.num_joints).eval()
        deployed = model.deploy()
        hw = tuple(cfg.input_size)
        lat = measure_latency(deployed, hw, batch=1, threads=1, min_time_s=0.05)
        thr = measure_latency(deployed, hw, batch=8, threads=1, min_time_s=0.05)
        first_ms = first_ms or lat.median_ms
        costs[stages] = {
            "model": cfg.model,
            "input": list(hw),
            "measured": "deploy",
            "params": {"full": count_params(model), "deploy": count_params(deployed)},
            "macs": [m.to_dict() for m in count_macs(deployed, hw)],
            "latency": lat.to_dict(),
            "throughput": thr.to_dict(),
            "latency_ratio": lat.median_ms / first_ms,
            "environment": environment("cpu"),
            "conventions": list(CONVENTIONS),
        }
        write_json(cell_dir / "cost.json", costs[stages])
        write_json(
            cell_dir / "cell.json",
            {"config": cfg.to_dict(), "identity": identity(cfg, bundle.num_joints, bundle.fingerprint)},
        )
        rows.append(store.result_row(cell_dir, "done", "ci"))
    store.write_results(root, rows, max_stages=2)

    out = tmp_path / "report"
    summary = build_report(root, out, n_boot=300)
    analysis = analyze(load_matrix(root), n_boot=300)
    assert analysis.axes == ["stages"]
    two = _variant(analysis, stages=2)
    assert two.value("Mean").mean == pytest.approx(metrics[2]["headline"])
    assert two.delta.delta == pytest.approx(metrics[2]["headline"] - metrics[1]["headline"])
    assert two.delta.low <= two.delta.delta <= two.delta.high
    md = (out / "tables" / "results.md").read_text()
    assert f"{metrics[2]['headline']:.1f}" in md
    assert f"| {fmt_number(costs[2]['params']['full'] / 1e6, None)} |" in md
    fvcore = next(m for m in costs[1]["macs"] if m["counter"] == "fvcore")
    assert fvcore["library"] in md  # the counter named with its version
    assert summary["pareto"]["gmacs"] == summary["pareto"]["params"] == []  # K = 1 and 2 deploy one network
    assert not (out / "plots" / "pareto_gmacs.png").exists()
    for fmt in ("png", "svg", "pdf"):
        assert (out / "plots" / f"stages.{fmt}").stat().st_size > 1000
    page = (out / "index.html").read_text()
    assert environment("cpu")["cpu"] in page and metrics[1]["dataset"]["description"] in page
    assert summary["cells"] == {"total": 2, "done": 2}


def test_the_report_states_the_seed_noise_of_the_matrix_and_what_one_seed_intervals_cover(tmp_path):
    from lspd_bench.report.context import noise_line
    from lspd_bench.report.stats import seed_noise

    two = analyze(load_matrix(write_fake_matrix(tmp_path / "two", seeds=(0, 1))))
    per_row = [np.var([c.row["Mean"] for c in v.done], ddof=1) for v in two.variants]
    noise = seed_noise(two)
    assert noise.sd == pytest.approx(np.sqrt(np.mean(per_row))) and (noise.rows, noise.df) == (8, 8)
    assert f"pooled SD of {noise.sd:.2f} points" in noise_line(two)
    # Its people's part: each row's seed_variance_parts, pooled over the rows like the SD.
    people = [seed_variance_parts([c.per_person()[0] for c in v.done], v.done[0].per_person()[1]) for v in two.variants]
    pooled = np.sqrt(np.mean([p["people_sd"] ** 2 for p in people]))  # as variances, unclipped; then ≤ the SD
    assert noise.people_sd == pytest.approx(min(pooled, noise.sd))
    assert 0 < noise.people_sd <= noise.sd and noise.training_sd == pytest.approx(
        np.sqrt(noise.sd**2 - noise.people_sd**2)
    )
    assert f"the validation people account for an SD of {noise.people_sd:.2f} points" in noise_line(two)
    # With the seed held: the residual of row + seed over the LSPD rows (references are comparison markers).
    grid = np.array(
        [[c.row["Mean"] for c in sorted(v.done, key=lambda c: c.row["seed"])] for v in two.variants if not v.reference]
    )
    resid = grid - grid.mean(1, keepdims=True) - grid.mean(0, keepdims=True) + grid.mean()
    held = np.sqrt((resid**2).sum() / ((grid.shape[0] - 1) * (grid.shape[1] - 1)))
    assert f"With the seed held, {held:.2f} points are left" in noise_line(two)
    assert f"within {2 * held:.2f} points as ties" in noise_line(two)  # 2·σ·√(2/2)
    one = write_fake_matrix(tmp_path / "one", seeds=(0,))
    summary = build_report(one, tmp_path / "report-one")
    md = (tmp_path / "report-one" / "report.md").read_text()
    assert summary["seed_noise"]["sd"] is None and summary["seed_noise"]["training_sd"] is None
    assert "Training noise: not measured (one seed per row)" in md
    assert "[95% CI: people only, 1 seed: not training noise]" in md


def test_the_report_shows_the_teacher_figure_next_to_its_students(tmp_path):
    root = write_fake_matrix(tmp_path / "m", stages=(1,), seeds=(0,))
    teacher = {
        "model": "hourglass",
        "knobs": {"num_joints": 16, "stacks": 2, "features": 64},
        "source": "shipped",
        "file": "teacher-abc.pt",
        "identity_hash": "abc",
        "headline": 71.25,
        "headline_name": "PCKh@0.5 Mean",
        "epochs": 40,
    }
    for folder in root.glob("*-teacher-*"):
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["distill"]["teacher"] = teacher
        (folder / "metrics.json").write_text(json.dumps(metrics))
    summary = build_report(root, tmp_path / "report")
    line = (
        "Teacher: hourglass (stacks 2, features 64), shipped (teacher-abc.pt), 40 epochs: PCKh@0.5 Mean 71.2 on "
        "the validation split"
    )
    assert line in (tmp_path / "report" / "report.md").read_text()
    assert line in (tmp_path / "report" / "index.html").read_text()
    assert summary["teachers"][0]["headline"] == 71.25


def test_the_environment_says_which_device_gpu_and_precision_the_cells_trained_in(tmp_path):
    from lspd_bench.report.context import environment_rows

    root = write_fake_matrix(tmp_path / "m", stages=(1,), distills=("none",), seeds=(0, 1), history=lambda *a: [])
    for seed, folder in enumerate(sorted(p for p in root.iterdir() if p.is_dir())):
        metrics = json.loads((folder / "metrics.json").read_text())
        metrics["environment"] = {**ENV, "device": "cuda:0", "gpu": "NVIDIA A100", "cuda_visible_devices": str(seed)}
        metrics["train"]["precision"] = "bf16"
        (folder / "metrics.json").write_text(json.dumps(metrics))
    rows = dict(environment_rows(analyze(load_matrix(root), n_boot=50)))
    assert rows["GPU"] == "NVIDIA A100" and rows["Precision (training)"] == "bf16"
    assert rows["Device (training)"] == (
        "cuda:0 (CUDA_VISIBLE_DEVICES=0) (1 cell); cuda:0 (CUDA_VISIBLE_DEVICES=1) (1 cell)"
    )
