"""``build_report``: read a matrix folder, compute the figures once, and write every table, plot,
``index.html`` and ``report.md`` into the output folder.

Output layout::

    OUT/index.html                      the self-contained page
    OUT/report.md                       for pull-request comments
    OUT/tables/results.{md,tex,csv}     every variant
    OUT/tables/axis_<axis>.{md,tex,csv} the paper view, one per varying axis
    OUT/plots/pareto_<cost>.{png,svg,pdf}, OUT/plots/axis_<axis>.{png,svg,pdf}
    OUT/plots/curves.{png,svg,pdf}      the per-epoch validation of every variant
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from lspd_bench.ablate import store
from lspd_bench.ablate.schema import Status
from lspd_bench.config import Dataset
from lspd_bench.cost.counters import FVCORE
from lspd_bench.errors import InputError
from lspd_bench.fileio import check_output, write_text
from lspd_bench.report import claims as claim_verdicts
from lspd_bench.report import plots
from lspd_bench.report.context import (
    all_conventions,
    environment_rows,
    fidelity_text,
    learning_line,
    noise_line,
    status_line,
    teacher_lines,
)
from lspd_bench.report.html import PlotEntry, render_index
from lspd_bench.report.load import REFERENCE_FAMILIES, Reference, input_hw, load_matrix, load_references
from lspd_bench.report.stats import (
    COST_KINDS,
    STILL_LEARNING_MARK,
    Analysis,
    Variant,
    analyze,
    format_value,
    front_variants,
    parse_baseline_row,
    shared_cost,
    teachers,
)
from lspd_bench.report.tables import (
    Table,
    axis_tables,
    conventions,
    delta_text,
    main_table,
    render_csv,
    render_latex,
    render_markdown,
    stage_table,
)


def _headline(analysis: Analysis) -> str:
    dataset = analysis.constant("dataset")
    preset = analysis.constant("synth_preset") if dataset == Dataset.SYNTH else None
    epochs = analysis.constant("epochs")
    parts = [" ".join(str(p) for p in (dataset, preset) if p) or "mixed datasets (--allow-mixed)"]
    if epochs is not None:
        parts.append(f"{format_value(epochs)} epochs")
    hw = analysis.constant("input_size")
    if hw is not None:
        parts.append(f"input {format_value(hw)}")
    parts.append(analysis.headline_name)
    return " · ".join(parts)


def _warnings(analysis: Analysis, extra: Sequence[str]) -> list[str]:
    out = []
    missing = [v for v in analysis.variants if not v.complete]
    if missing:
        waiting = any(c.status in (Status.RUNNING, Status.PENDING) for v in missing for c in v.cells)
        state = "The matrix is not finished" if waiting else "Some cells failed"
        out.append(
            f"{state} ({status_line(analysis)}): {len(missing)} row(s) miss cells; their means cover the "
            "finished seeds only, and rows with none show a dash."
        )
    if analysis.mixed:
        cols = ", ".join(c for g in analysis.mixed.values() for c in g)
        out.append(
            f"Mixed context shown as extra axes (--allow-mixed): {cols}. Rows that differ in these are "
            "not comparable as an ablation."
        )
    return out + list(analysis.notes) + list(extra)


def _front_text(analysis: Analysis, kind: str, members: list[Variant]) -> str:
    shared = shared_cost(analysis, kind)
    if shared is not None:
        return f"none: every variant deploys the same network ({plots.fmt_cost(shared, kind)})"
    if not members:
        return "no variant with this cost"
    col = analysis.cost_column(kind)
    return "; ".join(
        f"{v.label(analysis.lspd_axes)} ({v.value(analysis.headline).mean:.1f} % at "
        f"{plots.fmt_cost(v.value(col).mean, kind)})"
        for v in members
    )


def _report_md(
    analysis: Analysis,
    *,
    headline: str,
    warnings: list[str],
    main: Table,
    paper: list[Table],
    stages: Table | None,
    fronts: dict[str, list[Variant]],
    plot_links: list[tuple[str, str]],
    env: list[tuple[str, str]],
    order: list[str],
    claims: list[dict[str, Any]],
    facts: list[str],
    curves: PlotEntry | None = None,
) -> str:
    """A Markdown summary for a pull-request comment: status, best row, fronts, the paper view, the full
    table folded, the learning curves, plots as links, environment and conventions folded."""
    lines = [
        f"## Ablation report: `{analysis.matrix.name}`",
        "",
        f"{headline} · {status_line(analysis)} · baseline row: `{analysis.baseline.label(analysis.axes)}`",
        "",
    ]
    lines += [f"{f}  " for f in facts] + [""]
    if warnings:
        lines += [f"> **Note:** {w}" for w in warnings] + [""]
    if claims:
        lines += claim_verdicts.markdown(claims)
    scored = [v for v in analysis.variants if v.value(analysis.headline)]
    lspd = [v for v in scored if not v.reference] or scored
    best = max(lspd, key=lambda v: v.value(analysis.headline).mean)
    delta = f" (Δ {delta_text(best.delta)} vs the baseline row)" if best.delta else ""
    lines += [
        f"**Best {analysis.headline_name}:** {best.label(analysis.lspd_axes)}: "
        f"{best.value(analysis.headline).mean:.1f} %{delta}",
        "",
    ]
    lines.append("**Pareto fronts** (LSPD variants; mean over seeds):")
    lines += [f"- {COST_KINDS[k].title}: {_front_text(analysis, k, fronts[k])}" for k in order] + [""]
    lines += [render_markdown(t) for t in paper]
    if stages is not None:
        lines += [render_markdown(stages)]
    lines += ["<details><summary>All variants</summary>", "", render_markdown(main), "</details>", ""]
    if curves is not None:
        lines += [f"**{curves.title}**", "", f"![{curves.title}]({curves.files['png']})", "", f"_{curves.caption}_", ""]
    if plot_links:
        lines += ["**Plots:** " + " · ".join(f"[{title}]({path})" for title, path in plot_links), ""]
    lines += ["<details><summary>Environment</summary>", ""]
    lines += [f"- **{k}:** {v.replace('|', '/')}" for k, v in env]
    lines += ["", "</details>", "", "<details><summary>Conventions</summary>", ""]
    lines += [f"- {c}" for c in conventions(analysis)]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _usable_references(analysis: Analysis, paths: Sequence[str | Path], notes: list[str]) -> list[Reference]:
    """The ``--reference`` models profiled at the matrix's input size (the others are named in ``notes``);
    without ``--reference``, the reference models (SimpleBaseline, Lite-HRNet, ...) of the zoo table at
    ``store.ZOO_TABLE`` when it exists."""
    zoo = not paths and store.ZOO_TABLE.is_file()
    refs, ref_notes = load_references(
        [store.ZOO_TABLE] if zoo else list(paths), analysis.constant("dataset_fingerprint")
    )
    notes += ref_notes
    if zoo:
        refs = [r for r in refs if r.family in REFERENCE_FAMILIES]
    hw = input_hw(analysis.constant("input_size"))
    kept = [r for r in refs if hw is None or r.input_hw is None or r.input_hw == hw]
    if zoo and refs and not kept:
        notes.append(
            f"the zoo table {store.ZOO_TABLE} was profiled at other input sizes than the matrix's "
            f"{format_value(hw)}: its models are drawn after `lspd-bench zoo --input {hw[0]}x{hw[1]} --out "
            f"{store.ZOO_TABLE}`"
        )
    elif zoo and kept:
        notes.append(
            f"reference models from the zoo table {store.ZOO_TABLE} (their cost; their accuracy on this "
            "dataset is not known, so they are dotted lines)"
        )
    for r in refs:
        if r not in kept and not zoo:
            notes.append(
                f"reference {r.label} was profiled at {format_value(r.input_hw)}, the matrix runs at "
                f"{format_value(hw)}: left out (profile it with --input at the matrix's size)"
            )
    return kept


def _save_plot(fig, out: Path, stem: str, formats: Sequence[str], files: list[Path]) -> tuple[Any, dict[str, str]]:
    """Write ``fig`` as ``plots/<stem>.<format>`` (the paths added to ``files``); return its PNG for the page and
    each format's path relative to the report."""
    saved = plots.save_figure(fig, out / "plots" / stem, formats)
    files += saved["paths"].values()
    return saved["png"], {fmt: f"plots/{stem}.{fmt}" for fmt in saved["paths"]}


def _write_plots(
    analysis: Analysis,
    out: Path,
    order: list[str],
    refs: list[Reference],
    fronts: dict,
    formats: Sequence[str],
    notes: list[str],
    files: list[Path],
):
    """Draw and write every plot; return the page's Pareto and axis entries and report.md's links."""
    pareto, axis_plots, links = [], [], []
    shared = {k: c for k in order if (c := shared_cost(analysis, k)) is not None}
    if shared:
        costs = ", ".join(f"{plots.fmt_cost(c, k)}" for k, c in shared.items())
        notes.append(
            f"Every LSPD variant deploys the same network ({costs}): no Pareto front is drawn for "
            f"{' or '.join(COST_KINDS[k].title for k in shared)}, and no plot unless reference models give it "
            "other costs; compare the variants' accuracy in the tables."
        )
    for kind in order:
        if kind in shared and not any(plots.reference_marks(analysis, kind, refs)):
            continue
        fig = plots.pareto_figure(analysis, kind, refs)
        if fig is None:
            notes.append(
                f"no LSPD variant has both {analysis.headline_name} and {COST_KINDS[kind].title} yet: "
                f"the accuracy-vs-{COST_KINDS[kind].title} plot is left out"
            )
            continue
        png, rel = _save_plot(fig, out, f"pareto_{kind}", formats, files)
        caption = (
            f"{analysis.headline_name} against {COST_KINDS[kind].title} of the deploy model (log scale). "
            f"Pareto front: {_front_text(analysis, kind, fronts[kind])}."
        )
        pareto.append(PlotEntry(f"pareto-{kind}", f"Accuracy vs {COST_KINDS[kind].title}", caption, png, rel))
        links.append((f"accuracy vs {COST_KINDS[kind].title}", rel["png"]))
    for axis in plots.numeric_axes(analysis):
        fig = plots.axis_figure(analysis, axis)
        if fig is None:
            continue
        png, rel = _save_plot(fig, out, f"axis_{axis}", formats, files)
        caption = (
            f"{analysis.headline_name} against {axis}: one line per block type and one panel per "
            f"distillation mode where those vary, the other axes at the baseline row; {_spread(analysis)}."
        )
        axis_plots.append(PlotEntry(f"axis-{axis}", f"Accuracy vs {axis}", caption, png, rel))
        links.append((f"accuracy vs {axis}", rel["png"]))
    fig = plots.stage_figure(analysis)
    if fig is not None:
        png, rel = _save_plot(fig, out, "stages", formats, files)
        caption = (
            f"{analysis.headline_name} of every stage's heatmaps: what the later stages reach and what "
            f"deploying one stage gives up; {_spread(analysis)}."
        )
        axis_plots.append(PlotEntry("stages", "Accuracy at every stage", caption, png, rel))
        links.append(("accuracy at every stage", rel["png"]))
    return pareto, axis_plots, links


def _curves_caption(analysis: Analysis) -> str:
    """What the curves figure's lines are, and that its validation is not the tables' (no flip test)."""
    flip = analysis.constant("flip_test")
    tables = (
        "while the tables' headline is with flip test"
        if flip is True
        else "as is the tables' headline"
        if flip is False
        else "while the tables' headline follows each row's flip test"
    )
    return (
        f"Validation {analysis.headline_name} per epoch, one panel per variant: the thick line is the deployed "
        "stage's mean over the finished seeds, faint lines each seed, dashed lines the other stages; shaded, the "
        f"last quarter of the epochs, over which a variant marked {STILL_LEARNING_MARK} gained more than the noise. "
        f"Per-epoch validation is without flip test, {tables}."
    )


def _write_curves(analysis: Analysis, out: Path, formats: Sequence[str], files: list[Path]) -> PlotEntry | None:
    """Draw and write the learning curves; None when no variant validated two epochs."""
    fig = plots.curves_figure(analysis)
    if fig is None:
        return None
    png, rel = _save_plot(fig, out, "curves", formats, files)
    return PlotEntry("curves", "Learning curves", _curves_caption(analysis), png, rel)


def _spread(analysis: Analysis) -> str:
    seeds = len(analysis.matrix.values("seed")) or 1
    return (
        f"error bars ± std over {seeds} seeds" if seeds > 1 else "one seed, so no error bars (no training noise shown)"
    )


def _summary(
    analysis: Analysis, out: Path, files: list[Path], fronts: dict, warnings: list[str], claims: list[dict[str, Any]]
) -> dict[str, Any]:
    def row(v: Variant) -> dict[str, Any]:
        head = v.value(analysis.headline)
        d = v.delta
        return {
            "axes": v.axes,
            "cells": v.status_text(),
            "headline": head.mean if head else None,
            "headline_std": head.std if head else None,
            "baseline": v.is_baseline,
            "learning": dataclasses.asdict(analysis.learning_of(v)),
            "delta": None
            if d is None
            else {
                "delta": d.delta,
                "low": d.low,
                "high": d.high,
                "p_value": d.p_value,
                "seeds": list(d.seeds),
                "note": d.note,
            },
        }

    matrix = analysis.matrix
    noise = analysis.noise
    return {
        "matrix": str(matrix.root),
        "out": str(out),
        "index": str(out / "index.html"),
        "report_md": str(out / "report.md"),
        "files": [str(f) for f in files],
        "cells": {"total": len(matrix.cells), **matrix.status_counts()},
        "metric": analysis.metric,
        "axes": analysis.axes,
        "baseline_row": {a: analysis.baseline.axes.get(a) for a in analysis.axes},
        "rows": [row(v) for v in analysis.variants],
        "pareto": {k: [v.label(analysis.lspd_axes) for v in fronts[k]] for k in COST_KINDS},
        "warnings": warnings,
        "claims": claims,
        "teachers": teachers(analysis),
        "seed_noise": {**dataclasses.asdict(noise), "training_sd": noise.training_sd},
        "still_learning": {
            "count": sum(analysis.learning_of(v).still_learning for v in analysis.variants),
            "judged": sum(analysis.learning_of(v).judged for v in analysis.variants),
            "line": learning_line(analysis),
        },
        "fidelity": {"preset": analysis.constant("preset"), "line": fidelity_text(analysis)},
    }


def build_report(
    matrix_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    metric: str | None = None,
    cost: str = "gmacs",
    counter: str = FVCORE.id,
    baseline_row: str | dict[str, Any] | None = None,
    allow_mixed: bool = False,
    references: Sequence[str | Path] = (),
    n_boot: int = 1000,
    formats: Sequence[str] = plots.FORMATS,
    claims: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the report of the matrix in ``matrix_dir`` to ``out_dir`` (default ``reports/<matrix name>``).

    ``cost`` (gmacs | params | latency) is the cost the page and ``report.md`` lead with; every Pareto plot
    is drawn regardless. ``counter`` names the GMACs counter (fvcore, conv+linear, ptflops-pytorch,
    ptflops-aten). ``baseline_row`` is ``"key=value,..."`` or a dict (unnamed axes: their first value).
    ``references`` are comparison models for the Pareto plots (see :func:`load_references`). ``formats``
    are the plot files written (png, svg, pdf; PNG always, the page embeds it). ``claims`` are added to
    the matrix's own (``lspd_bench.ablate.claims``); the report opens with their verdicts.
    Returns a JSON-ready summary: the files written, cell counts, the baseline row, the Pareto fronts
    and every row's delta. Bad input raises ``InputError``.
    """
    if cost not in COST_KINDS:
        raise InputError(f"unknown --cost {cost!r}; choose from: {', '.join(COST_KINDS)}")
    unknown = [f for f in formats if f not in plots.FORMATS]
    if unknown:
        raise InputError(f"unknown plot format(s) {', '.join(unknown)}; choose from: {', '.join(plots.FORMATS)}")
    matrix = load_matrix(matrix_dir)
    requested = baseline_row if isinstance(baseline_row, dict) else parse_baseline_row(baseline_row)
    analysis = analyze(
        matrix, metric=metric, baseline_row=requested, allow_mixed=allow_mixed, counter=counter, n_boot=n_boot
    )
    verdicts = claim_verdicts.judge_all(analysis.matrix, claims)
    notes: list[str] = []
    refs = _usable_references(analysis, references, notes)
    out = check_output(out_dir if out_dir is not None else Path("reports") / matrix.name, folder=True, what="--out")
    order = [cost] + [k for k in COST_KINDS if k != cost]
    files: list[Path] = []

    main = main_table(analysis)
    paper = axis_tables(analysis)
    stages = stage_table(analysis)
    fronts = {k: front_variants(analysis, k) for k in COST_KINDS}
    preamble = conventions(analysis) + analysis.notes
    for t in [main, *paper, *([stages] if stages else [])]:
        files.append(write_text(out / "tables" / f"{t.name}.md", render_markdown(t, preamble)))
        files.append(write_text(out / "tables" / f"{t.name}.tex", render_latex(t, preamble)))
        files.append(write_text(out / "tables" / f"{t.name}.csv", render_csv(t, fronts if t is main else None)))
    pareto, axis_plots, links = _write_plots(analysis, out, order, refs, fronts, formats, notes, files)
    curves = _write_curves(analysis, out, formats, files)

    headline = _headline(analysis)
    learning, fidelity = learning_line(analysis), fidelity_text(analysis)
    facts = [noise_line(analysis), *(line for line in (learning, fidelity) if line), *teacher_lines(analysis)]
    warnings = _warnings(analysis, notes)
    env = environment_rows(analysis)
    page = render_index(
        title=f"Ablation report: {matrix.name}",
        subtitle=[
            headline,
            f"{status_line(analysis)} · baseline row: {analysis.baseline.label(analysis.axes)}",
            *facts,
        ],
        warnings=warnings,
        pareto=pareto,
        fronts=[(f"vs {COST_KINDS[k].title}", _front_text(analysis, k, fronts[k])) for k in order],
        paper=paper,
        main=main,
        stages=stages,
        curves=curves,
        axis_plots=axis_plots,
        environment=env,
        conventions=all_conventions(analysis),
        claims=verdicts,
        claims_note=claim_verdicts.RULE,
    )
    files.append(write_text(out / "index.html", page))
    md = _report_md(
        analysis,
        headline=headline,
        warnings=warnings,
        main=main,
        paper=paper,
        stages=stages,
        fronts=fronts,
        plot_links=links,
        env=env,
        order=order,
        claims=verdicts,
        facts=facts,
        curves=curves,
    )
    files.append(write_text(out / "report.md", md))
    return _summary(analysis, out, files, fronts, warnings, verdicts)
