"""The ablation tables: one row per variant, rendered as Markdown, LaTeX (booktabs), HTML and CSV.

A :class:`Table` holds variants and column descriptions; the renderers only format. Numbers are
mean ± std over the finished seeds; the best value of each column is bold (ties at the printed
precision all bold); missing cells print as a dash and the Cells column says what they are doing.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd

from lspd_bench.ablate.schema import Status
from lspd_bench.cost.counters import COUNTERS, FVCORE
from lspd_bench.report.load import latency_runs
from lspd_bench.report.stats import (
    LEARNING_RULE,
    SEED_SD,
    STAGE_GAP,
    STILL_LEARNING_MARK,
    Analysis,
    Delta,
    Stat,
    Variant,
    format_value,
    held_at_baseline,
)

DASH = "—"


@dataclass(frozen=True)
class Column:
    """One table column: an axis, the Cells status, a statistic over seeds, or the delta."""

    key: str  # results column (schema name) or axis name
    header: str
    kind: str  # axis | cells | stat | delta
    better: str | None = None  # max | min: which value is bold
    digits: int | None = 1  # decimals; None = three significant digits
    scale: float = 1.0  # displayed = value × scale (parameters → millions)
    spread: bool = True  # print ± std (not for figures that do not vary between seeds)
    threads_suffix: bool = False  # latency: print each row's thread count (the rows differ in it)
    mark: Callable[[Variant], str] | None = None  # a row's mark after the value (the still-learning one)


@dataclass
class Table:
    """Rows, columns and the notes that say how the numbers were made."""

    name: str  # file stem
    title: str
    columns: list[Column]
    rows: list[Variant]
    notes: list[str] = field(default_factory=list)


def fmt_number(x: float, digits: int | None) -> str:
    """``digits`` decimals, or three significant digits without an exponent (1234 → 1234, 0.0123)."""
    if digits is not None:
        return f"{x:.{digits}f}"
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


def _decimals(x: float, digits: int | None) -> int:
    text = fmt_number(x, digits)
    return len(text.split(".")[1]) if "." in text else 0


def stat_text(s: Stat, col: Column, pm: str = " ± ") -> tuple[str, str]:
    """``(mean, "± std")`` as printed; the spread is empty for one seed or a non-varying figure."""
    mean = s.mean * col.scale
    d = _decimals(mean, col.digits)
    spread = f"{pm}{s.std * col.scale:.{d}f}" if col.spread and s.std is not None else ""
    return f"{mean:.{d}f}", spread


def delta_text(d: Delta, pm_open: str = "[", pm_close: str = "]") -> str:
    """``+1.2 [+0.4, +2.0]``: the difference in points and its 95% interval (plain difference without it)."""
    text = f"{d.delta:+.1f}"
    if d.low is not None and d.high is not None:
        text += f" {pm_open}{d.low:+.1f}, {d.high:+.1f}{pm_close}"
    return text


def best_rows(table: Table) -> dict[str, set[int]]:
    """For each column with a direction, the ``id`` of the rows holding its best printed value (none when
    all rows print the same value)."""
    out: dict[str, set[int]] = {}
    for col in table.columns:
        if col.kind != "stat" or col.better is None:
            continue
        printed = {id(v): float(stat_text(s, col)[0]) for v in table.rows if (s := v.value(col.key)) is not None}
        if not printed:
            continue
        if len(set(printed.values())) < 2:
            continue  # every row prints the same value: nothing stands out
        target = max(printed.values()) if col.better == "max" else min(printed.values())
        out[col.key] = {k for k, x in printed.items() if x == target}
    return out


# ---------------------------------------------------------------------------------------------- building


def _latency_threads(analysis: Analysis) -> Any:
    return analysis.constant("latency_threads")


def cost_columns(analysis: Analysis, full: bool = True) -> list[Column]:
    """Parameters (deploy and, with ``full``, the training model), GMACs, latency and throughput."""
    threads = _latency_threads(analysis)
    batch = analysis.constant("throughput_batch")
    cols = [Column("params_deploy", "Params deploy (M)", "stat", "min", None, 1e-6, False)]
    if full:
        cols.append(Column("params_full", "Params full (M)", "stat", "min", None, 1e-6, False))
    cols += [
        Column(analysis.gmacs_column, f"GMACs ({analysis.counter})", "stat", "min", None, 1.0, False),
        Column(
            "latency_ms",
            f"Latency (ms, {format_value(threads)} thr)" if threads else "Latency (ms)",
            "stat",
            "min",
            None,
            threads_suffix=threads is None,
        ),
    ]
    if full:
        cols.append(
            Column(
                "throughput_img_s",
                f"Throughput (img/s, batch {format_value(batch)})" if batch else "Throughput (img/s)",
                "stat",
                "max",
                None,
            )
        )
    return cols


def _axis_columns(axes: list[str]) -> list[Column]:
    return [Column(a, a, "axis") for a in axes]


def _delta_column(analysis: Analysis) -> Column:
    """Δ, its header saying which noise the interval covers (people; with one seed, people only)."""
    if not analysis.evaluator.per_person:
        return Column("delta", f"Δ {analysis.headline}", "delta")
    one_seed = len(analysis.matrix.values("seed")) <= 1
    covers = "people only, 1 seed: not training noise" if one_seed else "people"
    return Column("delta", f"Δ {analysis.headline} [95% CI: {covers}]", "delta")


def conventions(analysis: Analysis) -> list[str]:
    """How the table figures were made, one sentence each (shown under every table and in the page)."""
    m = analysis.matrix
    base = analysis.baseline.label(analysis.axes)
    people = _people(analysis)
    seeds = analysis.matrix.values("seed")
    acc = analysis.evaluator.description
    deploy = m.values("deploy_stage")
    stage = f"stage {format_value(deploy[0])}" if len(deploy) == 1 else "the deploy_stage of each row"
    lines = [
        f"Accuracy: {acc}, of the deploy model ({stage}) on the validation split"
        + (
            ", flip test on"
            if analysis.constant("flip_test") is True
            else ", flip test off"
            if analysis.constant("flip_test") is False
            else ""
        )
        + ".",
        f"Each row is the mean ± sample std (ddof = 1) over its finished seeds ({len(seeds) or 1} seed(s) in the "
        "matrix); Cells = finished/all cells of the row. One seed prints no ± .",
        f"Δ: {analysis.headline} of the row minus the baseline row ({base}), in points, over the seeds both rows "
        "finished (seed s paired with seed s). "
        + (
            f"95% CI: paired percentile bootstrap ({analysis.n_boot} resamples"
            f"{f' of the {people} validation people' if people else ''}, seed 0); each resample draws people and "
            "keeps every paired seed of a drawn person, so it covers the sampling of people, not seed-to-seed "
            "training noise (that is the ± std)."
            if analysis.evaluator.per_person
            else f"No interval: {analysis.metric} keeps no per-person data, which a paired bootstrap needs."
        ),
        f"Params: millions (10^6), deploy model and full training model. GMACs: 10^9 multiply-accumulates of "
        f"the deploy model counted by {_counter_library(analysis)}, batch 1, input {_input(analysis)}, one "
        "forward pass (a flip test doubles it).",
        f"Latency: median ms per call of the deploy model at batch 1, {latency_conditions(analysis)}; "
        "throughput: images/s at the stated batch from the median call time.",
        "Bold: the best value of each column (highest accuracy and throughput; lowest params, GMACs and latency); "
        "ties at the printed precision are all bold.",
    ]
    return lines


def _people(analysis: Analysis) -> int | None:
    for c in analysis.matrix.done:
        val = ((c.metrics or {}).get("dataset") or {}).get("val_people")
        if val:
            return int(val)
    return None


def _counter_library(analysis: Analysis) -> str:
    """``fvcore 0.1.5`` as the cells' cost.json name it (the counter alone when they do not)."""
    libs = []
    for c in analysis.matrix.done:
        for m in (c.cost or {}).get("macs") or []:
            if m.get("counter") == analysis.counter and m.get("library") and m["library"] not in libs:
                libs.append(m["library"])
    label = next((c.title for c in COUNTERS if c.id == analysis.counter), analysis.counter)
    if not libs:
        return label
    return ", ".join(libs) if analysis.counter == FVCORE.id else f"{label}, {', '.join(libs)}"


def _input(analysis: Analysis) -> str:
    v = analysis.constant("input_size")
    return format_value(v) if v is not None else "per row"


def latency_conditions(analysis: Analysis) -> str:
    """``1 thread, eager, float32, cpu``: how the cells' latency was measured (from their cost.json)."""
    seen: list[str] = []
    for c in analysis.matrix.done:
        for run in latency_runs(c.cost):
            if run.get("batch") != 1:
                continue
            t = run.get("threads")
            text = (
                f"{t} thread{'s' if t != 1 else ''}, {run.get('runtime', '?')}, {run.get('dtype', '?')}, "
                f"{run.get('memory_format', '?')}, {run.get('device', '?')}"
            )
            if text not in seen:
                seen.append(text)
    if seen:
        return "; ".join(seen)
    threads = _latency_threads(analysis)
    return f"{format_value(threads)} thread(s)" if threads else "threads per row"


def table_notes(analysis: Analysis, rows: list[Variant]) -> list[str]:
    """Row-specific notes: missing cells, deltas without intervals, incomplete folders."""
    notes = []
    missing = [v for v in rows if not v.complete]
    if missing:
        notes.append(f"{len(missing)} row(s) still miss cells (see Cells; — = no finished seed yet).")
    for v in rows:
        if v.delta is not None and v.delta.note:
            notes.append(f"{v.label(analysis.axes)}: Δ has {v.delta.note}.")
        failed = [c for c in v.cells if c.status == Status.FAILED and c.error]
        for c in failed:
            notes.append(f"{v.label(analysis.axes)}: cell {c.id} failed: {c.error}")
    return notes


def _learning_mark(analysis: Analysis) -> Callable[[Variant], str]:
    """The mark after a still-learning row's headline (``Analysis.learning_of``)."""
    return lambda v: f" {STILL_LEARNING_MARK}" if analysis.learning_of(v).still_learning else ""


def learning_notes(analysis: Analysis, rows: list[Variant]) -> list[str]:
    """The footnote of a table with still-learning rows: the rule, then each marked row's gain against its
    threshold over its window (none when no row is marked)."""
    marked = [(v, lrn) for v in rows if (lrn := analysis.learning_of(v)).still_learning]
    if not marked:
        return []
    figures = "; ".join(
        f"{v.label(analysis.axes)}: {lrn.gain:+.2f} > {lrn.threshold:.2f} over its last {lrn.window} of "
        f"{lrn.epochs} epochs ({lrn.seeds} seed{'s' if lrn.seeds != 1 else ''})"
        for v, lrn in marked
    )
    kind = "the pooled seed SD" if marked[0][1].threshold_kind == SEED_SD else "the people interval's half-width"
    return [f"{LEARNING_RULE} Gain > {kind} (points): {figures}."]


def main_table(analysis: Analysis) -> Table:
    """Every variant with its axes, Cells, accuracy columns, Δ, parameters, GMACs, latency, throughput."""
    cols = _axis_columns(analysis.axes) + [Column("cells", "Cells", "cells")]
    cols += [
        Column(a, a, "stat", "max", 1, mark=_learning_mark(analysis) if a == analysis.headline else None)
        for a in analysis.accuracy_columns
    ]
    cols += [_delta_column(analysis)] + cost_columns(analysis)
    model = analysis.constant("model")
    title = f"{analysis.headline_name} and cost of every variant" + (f" of {model}" if model else "")
    rows = list(analysis.variants)
    return Table("results", title, cols, rows, table_notes(analysis, rows) + learning_notes(analysis, rows))


def stage_table(analysis: Analysis) -> Table | None:
    """The headline at every stage of each LSPD variant and the points lost by deploying one stage rather
    than the last; None when no variant has more than one stage."""
    if len(analysis.stage_columns) < 2:
        return None
    rows = [v for v in analysis.variants if not v.reference]
    cols = _axis_columns(analysis.axes) + [Column("cells", "Cells", "cells")]
    cols += [Column(c, f"stage {k}", "stat", "max", 1) for k, c in enumerate(analysis.stage_columns, start=1)]
    cols.append(Column(STAGE_GAP, "last − deployed (points)", "stat", None, 1))
    deploy = analysis.constant("deploy_stage")
    title = f"{analysis.headline_name} at every stage" + (
        f" (deployed: stage {format_value(deploy)})" if deploy else ""
    )
    notes = [
        "A stage beyond a variant's K prints a dash. last − deployed: the last stage's figure minus the "
        "deployed stage's, per seed, then mean ± std: what deploying the cheaper stage gives up."
    ]
    return Table("stages", title, cols, rows, notes + table_notes(analysis, rows))


def axis_tables(analysis: Analysis) -> list[Table]:
    """The paper view: per varying axis, its values with the other axes held at the baseline row."""
    out = []
    for axis in analysis.axes:
        rows = held_at_baseline(analysis, axis)
        if len(rows) < 2:
            continue
        fixed = ", ".join(f"{a}={format_value(analysis.baseline.axes.get(a))}" for a in analysis.axes if a != axis)
        cols = [
            Column(axis, axis, "axis"),
            Column("cells", "Cells", "cells"),
            Column(analysis.headline, f"{analysis.headline_name} (%)", "stat", "max", 1, mark=_learning_mark(analysis)),
            _delta_column(analysis),
        ] + cost_columns(analysis, full=False)
        title = f"Effect of {axis}" + (f" ({fixed})" if fixed else "")
        out.append(
            Table(f"axis_{axis}", title, cols, rows, table_notes(analysis, rows) + learning_notes(analysis, rows))
        )
    return out


# --------------------------------------------------------------------------------------------- rendering


def _cell(
    v: Variant,
    col: Column,
    best: dict[str, set[int]],
    bold: Callable[[str], str],
    pm: str,
    esc: Callable[[str], str],
    dash: str,
) -> str:
    if col.kind == "axis":
        return esc(format_value(v.axes.get(col.key)))
    if col.kind == "cells":
        return esc(v.status_text())
    if col.kind == "delta":
        if v.is_baseline:
            return esc("baseline")
        return esc(delta_text(v.delta)) if v.delta is not None else dash
    s = v.value(col.key)
    if s is None:
        return dash
    mean, spread = stat_text(s, col, pm)
    if id(v) in best.get(col.key, set()):
        mean = bold(mean)
    if col.threads_suffix and v.done[0].row.get("latency_threads") is not None:
        spread += esc(f" ({format_value(v.done[0].row.get('latency_threads'))} thr)")
    mark = esc(col.mark(v)) if col.mark else ""
    return mean + spread + mark


def render_markdown(table: Table, preamble: Sequence[str] = ()) -> str:
    """A GitHub-flavoured Markdown table with its title, then ``preamble`` and the table's notes as a list."""
    best = best_rows(table)

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [f"**{esc(table.title)}**", ""]
    lines.append("| " + " | ".join(esc(c.header) for c in table.columns) + " |")
    lines.append("|" + "|".join(":--" if c.kind in ("axis", "cells") else "--:" for c in table.columns) + "|")
    for v in table.rows:
        cells = [_cell(v, c, best, lambda s: f"**{s}**", " ± ", esc, DASH) for c in table.columns]
        lines.append("| " + " | ".join(cells) + " |")
    if preamble or table.notes:
        lines.append("")
        lines += [f"- {esc(n)}" for n in (*preamble, *table.notes)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",
    "±": r"$\pm$",
    "×": r"$\times$",
    "—": "--",
    "α": r"$\alpha$",
    STILL_LEARNING_MARK: r"$\uparrow$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters and spell the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _ascii(text: str) -> str:
    """Comment text for a .tex file, in plain ASCII (older pdflatex set-ups reject other bytes)."""
    for ch, plain in (
        ("±", "+/-"),
        ("Δ", "Delta"),
        ("×", "x"),
        ("—", "--"),
        ("α", "alpha"),
        ("…", "..."),
        ("−", "-"),
        (STILL_LEARNING_MARK, "^"),
    ):
        text = text.replace(ch, plain)
    return text.encode("ascii", "replace").decode("ascii")


def render_latex(table: Table, preamble: Sequence[str] = ()) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``); ``preamble`` and the table's
    notes as comments above it."""
    best = best_rows(table)
    spec = "".join("l" if c.kind in ("axis", "cells") else "r" for c in table.columns)
    lines = ["% generated by lspd-bench report; needs \\usepackage{booktabs}"]
    lines += [f"% {_ascii(n)}" for n in (*preamble, *table.notes)]
    lines += [
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        "\\setlength{\\tabcolsep}{4pt}",
        f"\\caption{{{latex_escape(table.title)}. Mean $\\pm$ std over seeds; best per column in bold.}}",
        f"\\label{{tab:{table.name.replace('_', '-')}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(c.header) for c in table.columns) + " \\\\",
        "\\midrule",
    ]
    for v in table.rows:
        cells = [_cell(v, c, best, lambda s: f"\\textbf{{{s}}}", " $\\pm$ ", latex_escape, "--") for c in table.columns]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def render_html(table: Table, anchor: str | None = None) -> str:
    """An HTML ``<table>`` with a caption and the notes below it (bold best values, baseline row marked)."""
    best = best_rows(table)
    esc = html.escape
    out = [
        f'<figure class="table" id="{esc(anchor or table.name)}">',
        f"<figcaption>{esc(table.title)}</figcaption>",
        '<div class="scroll"><table>',
        "<thead><tr>",
    ]
    for c in table.columns:
        out.append(f'<th class="{"l" if c.kind in ("axis", "cells") else "r"}">{esc(c.header)}</th>')
    out.append("</tr></thead><tbody>")
    for v in table.rows:
        classes = [
            k
            for k, on in (
                ("baseline", v.is_baseline),
                ("missing", not v.done),
                ("partial", bool(v.done) and not v.complete),
                ("ref", v.reference),
            )
            if on
        ]
        out.append(f'<tr class="{" ".join(classes)}">' if classes else "<tr>")
        for c in table.columns:
            text = _cell(v, c, best, lambda s: f"<strong>{s}</strong>", " ± ", esc, DASH)
            out.append(f'<td class="{"l" if c.kind in ("axis", "cells") else "r"}">{text}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    if table.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in table.notes) + "</ul>")
    out.append("</figure>")
    return "\n".join(out) + "\n"


def render_csv(table: Table, fronts: dict[str, list[Variant]] | None = None) -> str:
    """One row per variant in the schema's units (raw parameter counts, GMACs, ms, %): axes, cell counts,
    ``X`` and ``X_std`` per statistic, the delta with its interval, and Pareto-front membership."""
    records = []
    for v in table.rows:
        rec: dict[str, Any] = {}
        for c in table.columns:
            if c.kind == "axis":
                rec[c.key] = format_value(v.axes.get(c.key)) if v.axes.get(c.key) is not None else None
            elif c.kind == "cells":
                rec["cells_done"] = len(v.done)
                rec["cells_total"] = len(v.cells)
                rec["statuses"] = " ".join(c2.status for c2 in v.cells)
            elif c.kind == "stat":
                s = v.value(c.key)
                rec[c.key] = s.mean if s else None
                rec[f"{c.key}_std"] = s.std if s else None
                if c.mark:
                    rec["still_learning"] = bool(c.mark(v))
            elif c.kind == "delta":
                d = v.delta
                rec["baseline_row"] = v.is_baseline
                rec["delta"] = 0.0 if v.is_baseline else (d.delta if d else None)
                rec["delta_low"] = d.low if d else None
                rec["delta_high"] = d.high if d else None
                rec["delta_p_value"] = d.p_value if d else None
                rec["delta_seeds"] = " ".join(map(str, d.seeds)) if d else None
        rec["reference_model"] = v.reference
        for kind, members in (fronts or {}).items():
            rec[f"pareto_{kind}"] = any(m is v for m in members)
        records.append(rec)
    buf = io.StringIO()
    pd.DataFrame(records).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()
