"""Learning curves in the report: the per-epoch validation of every variant from its cells' histories, the
still-learning rule, its marks in the tables and its line in the summary, and what validating every epoch cost."""

from __future__ import annotations

import json

import pytest
from test_report import write_fake_matrix

from lspd_bench.evaluation.bootstrap import pckh_bootstrap_ci
from lspd_bench.report import build_report
from lspd_bench.report.context import environment_rows, learning_line
from lspd_bench.report.load import load_matrix
from lspd_bench.report.plots import MEAN_STYLE, SEED_STYLE, curves_figure
from lspd_bench.report.stats import (
    PEOPLE_HALF_WIDTH,
    SEED_SD,
    STILL_LEARNING_MARK,
    Curve,
    analyze,
    cell_curve,
    still_learning,
)
from lspd_bench.report.tables import main_table, render_csv, render_markdown

TRAIN_SECONDS, VAL_SECONDS = 10.0, 2.5
RISE = 5.0  # points a rising variant gains per epoch
STAGE_STEP = 1.5  # points each later stage is above the one before it


def history_rows(figures: list[float | None], stages: int, *, timed: bool = True) -> list[dict]:
    """Training rows as the loop writes them; an epoch whose figure is None was not validated. Each stage k is
    (k − 1) · STAGE_STEP above the deployed stage 1; ``timed`` adds the validation's wall seconds."""
    rows = []
    for epoch, figure in enumerate(figures):
        row = {"epoch": epoch, "lr": 0.002, "loss": 1.0 / (epoch + 1), "train_seconds": TRAIN_SECONDS}
        row.update({f"loss_stage{k}": 0.5 for k in range(1, stages + 1)})
        row["images_per_s"] = 40.0
        if figure is not None:
            row["headline"] = figure
            row.update({f"val_stage{k}": figure + (k - 1) * STAGE_STEP for k in range(1, stages + 1)})
            if timed:
                row["val_seconds"] = VAL_SECONDS
        rows.append(row)
    return rows


def rising_or_flat(epochs: int = 4, timed: bool = True):
    """Histories where the distilled variants gain RISE points every epoch and the others stay flat; seed s
    sits s points higher."""

    def history(stages, distill, block, seed):
        slope = RISE if distill == "teacher" else 0.0
        return history_rows([20.0 + seed + slope * e for e in range(epochs)], stages or 1, timed=timed)

    return history


def _curve(figures: dict[int, float], epochs: int) -> Curve:
    return Curve(epochs=epochs, headline=figures, stages={}, seconds=None)


def _variant(analysis, **axes):
    return next(v for v in analysis.variants if all(v.axes.get(a) == x for a, x in axes.items()))


# --------------------------------------------------------------------------------------------- the rule


def test_a_variant_that_gained_more_than_the_seed_sd_over_its_last_quarter_is_still_learning():
    seeds = [_curve({1: 10.0, 2: 14.0, 3: 18.0, 4: 22.0}, 4), _curve({1: 11.0, 2: 15.0, 3: 19.0, 4: 24.0}, 4)]
    rising = still_learning(seeds, seed_sd=2.0, people_half_width=9.0)
    assert (rising.epochs, rising.window) == (4, 1)  # m = max(1, round(4 / 4))
    assert rising.gain == pytest.approx(4.5) and rising.seeds == 2  # mean of 22 − 18 and 24 − 19
    assert (rising.threshold, rising.threshold_kind) == (2.0, SEED_SD)  # the seed SD, not the people's
    assert rising.judged and rising.still_learning
    flat = still_learning([_curve({1: 10.0, 2: 20.0, 3: 21.0, 4: 22.9}, 4)], seed_sd=2.0, people_half_width=None)
    assert flat.gain == pytest.approx(1.9) and flat.judged and not flat.still_learning  # the early rise is not counted
    assert not still_learning([_curve({1: 10.0, 2: 10.0, 3: 10.0, 4: 12.0}, 4)], 2.0, None).still_learning  # 2 ≯ 2


def test_with_one_seed_per_variant_the_threshold_is_half_the_people_interval():
    one = [_curve({1: 10.0, 2: 12.0}, 2)]
    rising = still_learning(one, seed_sd=None, people_half_width=1.5)
    assert (rising.gain, rising.threshold, rising.threshold_kind) == (2.0, 1.5, PEOPLE_HALF_WIDTH)
    assert rising.still_learning
    assert not still_learning(one, seed_sd=None, people_half_width=2.5).still_learning
    unmeasured = still_learning(one, seed_sd=None, people_half_width=None)  # no per-person data: no verdict
    assert unmeasured.gain == 2.0 and not unmeasured.judged and not unmeasured.still_learning


def test_epochs_without_validation_are_skipped_and_the_window_is_a_rounded_quarter():
    # E = 8, m = 2: the start is the last validated epoch at or before 6, here 4 (5 and 6 were not validated).
    sparse = still_learning([_curve({2: 10.0, 4: 12.0, 8: 20.0}, 8)], seed_sd=1.0, people_half_width=None)
    assert (sparse.window, sparse.gain) == (2, 8.0)
    windows = {e: still_learning([_curve({1: 0.0, e: 1.0}, e)], 1.0, None).window for e in (2, 4, 6, 10, 12)}
    assert windows == {2: 1, 4: 1, 6: 2, 10: 2, 12: 3}  # Python's round: 1.5 → 2, 2.5 → 2


@pytest.mark.parametrize(
    "figures, epochs",
    [
        ({1: 30.0}, 1),  # one epoch: no epoch at or before E − m = 0
        ({1: 10.0, 2: 20.0}, 4),  # nothing validated in the last quarter (after epoch 3)
        ({4: 20.0}, 4),  # nothing validated at or before epoch 3
        ({}, 4),  # no validated epoch at all
    ],
)
def test_no_verdict_without_a_validated_epoch_on_both_sides_of_the_window(figures, epochs):
    result = still_learning([_curve(figures, epochs)], seed_sd=1.0, people_half_width=None)
    assert result.gain is None and not result.judged and not result.still_learning
    assert still_learning([], seed_sd=1.0, people_half_width=None).gain is None  # no finished seed


# ------------------------------------------------------------------------------------- from the matrix


def test_cell_curves_come_from_the_history_and_older_files_without_val_seconds_are_fine(tmp_path):
    figures = [20.0, None, 24.0, None, 30.0]
    root = write_fake_matrix(
        tmp_path / "m", stages=(3,), distills=("none",), seeds=(0,), history=lambda *_: history_rows(figures, 3)
    )
    curve = cell_curve(load_matrix(root).done[0])
    assert curve.epochs == 5 and curve.headline == {1: 20.0, 3: 24.0, 5: 30.0}  # 1-based, validated epochs only
    assert curve.stages[3] == {1: 23.0, 3: 27.0, 5: 33.0}
    assert curve.seconds == (5 * TRAIN_SECONDS, 3 * VAL_SECONDS)  # every epoch trained, 3 validated
    old = write_fake_matrix(
        tmp_path / "old",
        stages=(1,),
        distills=("none",),
        seeds=(0,),
        history=lambda *_: history_rows(figures, 1, timed=False),
    )
    assert cell_curve(load_matrix(old).done[0]).seconds is None
    assert cell_curve(load_matrix(write_fake_matrix(tmp_path / "none", stages=(1,), seeds=(0,))).done[0]) is None


def test_the_matrix_threshold_is_the_noise_lines_seed_sd_or_each_cells_people_interval(tmp_path):
    two = analyze(load_matrix(write_fake_matrix(tmp_path / "two", stages=(1, 2), history=rising_or_flat())))
    assert two.noise.sd is not None
    for v in two.variants:
        learning = two.learning_of(v)
        assert (learning.threshold, learning.threshold_kind, learning.seeds) == (two.noise.sd, SEED_SD, 2)
        assert learning.gain == pytest.approx(RISE if v.axes["distill"] == "teacher" else 0.0)
        assert learning.still_learning == (v.axes["distill"] == "teacher")
    one = analyze(
        load_matrix(write_fake_matrix(tmp_path / "one", stages=(1, 2), seeds=(0,), history=rising_or_flat())),
        n_boot=200,
    )
    assert one.noise.sd is None
    v = _variant(one, stages=2, distill="none")
    low, high = pckh_bootstrap_ci(*v.done[0].per_person(), n=200, seed=0)
    assert high > low and one.learning_of(v).threshold == pytest.approx((high - low) / 2)
    assert one.learning_of(v).threshold_kind == PEOPLE_HALF_WIDTH


# ------------------------------------------------------------------------------------------ the figure


def test_the_curves_figure_has_one_panel_per_variant_with_its_mean_as_the_thick_line(tmp_path):
    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), history=rising_or_flat())
    analysis = analyze(load_matrix(root))
    fig = curves_figure(analysis)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [v.label(analysis.lspd_axes) for v in analysis.variants]
    for ax, v in zip(panels, analysis.variants):
        thick = [line for line in ax.get_lines() if line.get_linewidth() == MEAN_STYLE["lw"]]
        assert len(thick) == 1  # the deployed stage's mean over seeds
        rise = RISE if v.axes["distill"] == "teacher" else 0.0
        assert list(thick[0].get_xdata()) == [1, 2, 3, 4]  # 1-based epochs
        assert list(thick[0].get_ydata()) == pytest.approx([20.5 + rise * e for e in range(4)])  # seeds 0, 1
        faint = [line for line in ax.get_lines() if line.get_alpha() == SEED_STYLE["alpha"]]
        assert len(faint) == 2  # each seed
        dashed = [line for line in ax.get_lines() if line.get_linestyle() != "-"]
        assert len(dashed) == v.axes["stages"] - 1  # every stage but the deployed one
        marks = [t.get_text() for t in ax.texts if STILL_LEARNING_MARK in t.get_text()]
        assert len(marks) == (v.axes["distill"] == "teacher")


def test_no_curves_figure_for_one_epoch_or_no_history(tmp_path):
    one_epoch = write_fake_matrix(tmp_path / "e1", stages=(1,), history=rising_or_flat(epochs=1))
    assert curves_figure(analyze(load_matrix(one_epoch))) is None
    assert curves_figure(analyze(load_matrix(write_fake_matrix(tmp_path / "none", stages=(1,))))) is None


# ------------------------------------------------------------------------------------------ the report


def test_the_report_marks_still_learning_rows_states_it_in_one_line_and_draws_the_curves(tmp_path):
    root = write_fake_matrix(tmp_path / "runs" / "m", stages=(1, 2), history=rising_or_flat())
    out = tmp_path / "report"
    summary = build_report(root, out, n_boot=100)
    analysis = analyze(load_matrix(root))
    line = (
        f"Still learning: 2 of 4 variants gained more than the seed noise (the pooled seed SD of the final figure, "
        f"{analysis.noise.sd:.1f}) over their "
        "last 1 of 4 epochs; their ranking reflects the training budget as much as the architecture."
    )
    md, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    assert line in md and line in page and learning_line(analysis) == line
    for fmt in ("png", "svg", "pdf"):
        assert (out / "plots" / f"curves.{fmt}").is_file()
    assert "![Learning curves](plots/curves.png)" in md and '<section id="learning"><h2>Learning curves</h2>' in page
    assert "Per-epoch validation is without flip test, while the tables' headline is with flip test." in md
    # The table marks the rising rows and its footnote gives their numbers.
    table = render_markdown(main_table(analysis))
    marked = [r for r in table.splitlines() if r.startswith("|") and f" {STILL_LEARNING_MARK} |" in r]
    assert len(marked) == 2 and all("| teacher |" in r for r in marked)
    assert f"+5.00 > {analysis.noise.sd:.2f} over its last 1 of 4 epochs (2 seeds)" in table
    assert render_csv(main_table(analysis)).count("True") >= 2
    # The summary's machine-readable fields.
    assert summary["still_learning"] == {"count": 2, "judged": 4, "line": line}
    rows = {(r["axes"]["stages"], r["axes"]["distill"]): r["learning"] for r in summary["rows"]}
    assert rows[(2, "teacher")]["still_learning"] and rows[(2, "teacher")]["gain"] == pytest.approx(RISE)
    assert not rows[(1, "none")]["still_learning"] and rows[(1, "none")]["threshold"] == pytest.approx(
        analysis.noise.sd
    )
    json.dumps(summary)
    # What validating every epoch cost: Σ val / Σ (train + val) over the cells.
    share = f"{100 * VAL_SECONDS / (TRAIN_SECONDS + VAL_SECONDS):.0f} % of training wall time"
    assert dict(environment_rows(analysis))["Per-epoch validation"].startswith(share)
    assert f"- **Per-epoch validation:** {share}" in md and "summed over 8 cells" in page


def test_a_flat_matrix_says_no_variant_was_still_learning_and_old_files_state_no_validation_cost(tmp_path):
    def flat(stages, distill, block, seed):
        return history_rows([20.0 + seed] * 4, stages, timed=False)

    root = write_fake_matrix(tmp_path / "m", stages=(1, 2), history=flat)
    summary = build_report(root, tmp_path / "report", formats=("png",), n_boot=100)
    md = (tmp_path / "report" / "report.md").read_text()
    assert summary["still_learning"]["count"] == 0 and summary["still_learning"]["judged"] == 4
    assert "Still learning: none of 4 variants gained more than the seed noise" in md
    assert STILL_LEARNING_MARK + " |" not in md and "**Per-epoch validation:**" not in md  # no val_seconds
    without = build_report(
        write_fake_matrix(tmp_path / "n", stages=(1, 2)), tmp_path / "r2", formats=("png",), n_boot=100
    )
    assert without["still_learning"] == {"count": 0, "judged": 0, "line": None}
    assert not (tmp_path / "r2" / "plots" / "curves.png").exists()
    assert "Still learning" not in (tmp_path / "r2" / "report.md").read_text()
