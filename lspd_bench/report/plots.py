"""Pareto plots (accuracy against GMACs, parameters and latency, log-scaled cost), axis plots
(accuracy against a numeric axis, one line per block type, one panel per distillation mode), the accuracy at
every stage, and the learning curves (the per-epoch validation of every variant).

Figures are built on ``matplotlib.figure.Figure`` (no pyplot state) and saved as PNG, SVG and PDF with
fixed metadata, so the same results give the same bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter, NullLocator
from matplotlib.transforms import ScaledTranslation

from lspd_bench.ablate.schema import Status
from lspd_bench.config import Dataset, Distill
from lspd_bench.fileio import write_bytes
from lspd_bench.report.load import Reference, reference_label
from lspd_bench.report.stats import (
    COST_KINDS,
    NUMERIC_AXES,
    PEOPLE_HALF_WIDTH,
    SEED_SD,
    STILL_LEARNING_MARK,
    Analysis,
    Curve,
    Learning,
    Variant,
    format_value,
    front_variants,
    mean_curve,
    teacher_knobs_text,
    teachers,
    variant_curves,
)
from lspd_bench.report.tables import fmt_number

#: Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")
REFERENCE_MARKERS = {"simplebaseline": "s", "litehrnet": "D", "hourglass": "^"}
FRONT_COLOR = "#444444"
FORMATS = ("png", "svg", "pdf")
PNG_DPI = 160

STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10,
    "axes.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "legend.title_fontsize": 8.5,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.edgecolor": "#555555",
    "axes.axisbelow": True,
    "svg.fonttype": "none",
    "svg.hashsalt": "lspd-bench",
    "pdf.fonttype": 42,
}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}

#: Axis labels with their units or meaning.
AXIS_LABELS = {
    "stages": "stages K (in the distillation sequence)",
    "width": "width C (channels)",
    "depth": "depth D (encoder–decoder levels)",
    "width_growth": "width growth (× per level)",
    "blocks_per_level": "blocks per level",
    "deploy_stage": "deploy stage (index)",
    "alpha": "α (weight of the teacher term)",
}


@dataclass(frozen=True)
class Point:
    """One plotted variant: mean cost and accuracy with their spread over seeds."""

    x: float
    y: float
    xerr: float | None
    yerr: float | None
    variant: Variant


#: How a series of seed means with ± std error bars is drawn (the axis plots and the stage plot).
_SERIES_STYLE = {"markersize": 5.5, "lw": 1.5, "capsize": 2.5, "elinewidth": 0.9, "markeredgecolor": "white"}


def cost_label(analysis: Analysis, kind: str) -> str:
    """The x-axis label of a Pareto plot, with units and conditions."""
    hw = analysis.constant("input_size")
    at = f", {format_value(hw)} input" if hw is not None else ""
    if kind == "gmacs":
        return f"GMACs ({analysis.counter}, deploy model{at}, log scale)"
    if kind == "params":
        return "Parameters (M, deploy model, log scale)"
    threads = analysis.constant("latency_threads")
    thr = f", {format_value(threads)} thread{'s' if threads != 1 else ''}" if threads else ""
    return f"Latency (ms, median, batch 1{thr}, log scale)"


def _points(analysis: Analysis, variants: Sequence[Variant], kind: str) -> list[Point]:
    col = analysis.cost_column(kind)
    out = []
    for v in variants:
        cost, acc = v.value(col), v.value(analysis.headline)
        if cost is None or acc is None or not cost.mean > 0:
            continue
        s = COST_KINDS[kind].scale
        xerr = cost.std * s if kind == "latency" and cost.std else None
        out.append(Point(cost.mean * s, acc.mean, xerr, acc.std, v))
    return out


def _log_ticks(ax, lo: float, hi: float) -> None:
    """Plain-number ticks on a log axis: decades when the range is wide, else 1-2-5 steps, else 1..9."""
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for subs in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0**d for d in decades for m in subs if lo <= m * 10.0**d <= hi]
        if len(ticks) >= 4:
            break
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _progression_axis(analysis: Analysis) -> str | None:
    return next((a for a in NUMERIC_AXES if a in analysis.axes), None)


def _series_axes(analysis: Analysis, points: list[Point], along: str | None) -> list[str]:
    """The axes that tell the plotted points apart, except ``along`` (the model axis is constant once the
    reference models are set aside)."""
    return [a for a in analysis.axes if a != along and len({p.variant.axes.get(a) for p in points}) > 1]


def _series(points: list[Point], others: list[str], along: str | None, order: list[Any]) -> dict[tuple, list[Point]]:
    """Points grouped by the ``others`` axes (one connected series each), sorted along ``along``."""
    out: dict[tuple, list[Point]] = {}
    for p in points:
        out.setdefault(tuple(p.variant.axes.get(a) for a in others), []).append(p)
    for pts in out.values():
        pts.sort(key=lambda p: order.index(p.variant.axes.get(along)) if p.variant.axes.get(along) in order else 0)
    return out


def _subtitle(analysis: Analysis, shown: int) -> str:
    """``synth ci · 3 epochs · ± std over 2 seeds · 15/16 variants``: kept short to fit above the axes."""
    dataset = analysis.constant("dataset")
    preset = analysis.constant("synth_preset") if dataset == Dataset.SYNTH else None
    epochs = analysis.constant("epochs")
    seeds = len(analysis.matrix.values("seed")) or 1
    parts = [" ".join(str(p) for p in (dataset, preset) if p) or "mixed datasets"]
    if epochs is not None:
        parts.append(f"{format_value(epochs)} epoch{'s' if epochs != 1 else ''}")
    parts.append(f"± std over {seeds} seeds" if seeds > 1 else "1 seed (no spread)")
    lspd = [v for v in analysis.variants if not v.reference]
    if shown < len(lspd):
        parts.append(f"{shown} of {len(lspd)} variants plotted")
    return " · ".join(parts)


def _draw_series(ax, points: list[Point], others: list[str], along: str | None, order: list[Any], dodge: bool = False):
    """One colour per combination of the ``others`` axes, connected along ``along`` (printed in the
    markers); with ``dodge`` (every point at one cost) the series stand side by side, a marker apart, rather
    than on top of each other. Returns the legend handles and labels."""
    handles, labels = [], []
    groups = _series(points, others, along, order)
    for i, (key, pts) in enumerate(groups.items()):
        color, marker = PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)]
        shift = (i - (len(groups) - 1) / 2) * 14 if dodge else 0.0  # points
        at = ax.transData + ScaledTranslation(shift / 72, 0, ax.figure.dpi_scale_trans)
        xs, ys = [p.x for p in pts], [p.y for p in pts]
        ax.update_datalim(list(zip(xs, ys)))  # shifted artists do not widen the limits themselves
        if len(pts) > 1 and not dodge:
            ax.plot(xs, ys, color=color, lw=1.1, alpha=0.55, zorder=3)
        ax.errorbar(
            xs,
            ys,
            yerr=[p.yerr or 0 for p in pts],
            xerr=[p.xerr or 0 for p in pts] if any(p.xerr for p in pts) else None,
            fmt="none",
            ecolor=color,
            elinewidth=0.9,
            capsize=2,
            alpha=0.8,
            zorder=3,
            transform=at,
        )
        ax.scatter(
            xs,
            ys,
            s=150 if along else 55,
            color=color,
            marker=marker,
            edgecolor="white",
            linewidth=0.8,
            zorder=5,
            transform=at,
        )
        if along:
            for p in pts:
                ax.annotate(
                    format_value(p.variant.axes.get(along)),
                    (p.x, p.y),
                    xytext=(shift, 0),
                    textcoords="offset points",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white",
                    fontweight="bold",
                    zorder=6,
                    annotation_clip=False,
                )
        handles.append(Line2D([], [], color=color, marker=marker, lw=1.1, markersize=7, markeredgecolor="white"))
        labels.append(" / ".join(format_value(k) for k in key) if others else "LSPD variants")
    return handles, labels


def _draw_front(ax, front: list[Point], big: bool):
    """The front as a dashed staircase with ringed members; returns its legend handle and label."""
    fx, fy = [p.x for p in front], [p.y for p in front]
    ax.plot(fx, fy, drawstyle="steps-post", color=FRONT_COLOR, lw=1.6, ls=(0, (4, 2)), zorder=2)
    ax.scatter(fx, fy, s=330 if big else 150, facecolor="none", edgecolor=FRONT_COLOR, linewidth=1.4, zorder=4)
    handle = Line2D(
        [],
        [],
        color=FRONT_COLOR,
        lw=1.6,
        ls=(0, (4, 2)),
        marker="o",
        markersize=11,
        markerfacecolor="none",
        markeredgewidth=1.4,
    )
    return handle, f"Pareto front ({len(front)} variant{'s' if len(front) != 1 else ''})"


def _draw_references(ax, ref_points, ref_lines, lo: float, hi: float) -> None:
    """Reference models: named black markers, or a dotted line at the cost of one without accuracy."""
    for ref, x, y, family in ref_points:
        ax.scatter(
            [x],
            [y],
            s=60,
            marker=REFERENCE_MARKERS.get(family or "", "*"),
            color="#222222",
            edgecolor="white",
            linewidth=0.8,
            zorder=5,
        )
        right = math.log(x / lo) / math.log(hi / lo) < 0.7  # name on the side with room
        ax.annotate(
            ref,
            (x, y),
            xytext=(7 if right else -7, 0),
            textcoords="offset points",
            ha="left" if right else "right",
            va="center",
            fontsize=8,
            color="#222222",
            zorder=6,
        )
    last, low = -math.inf, False
    for ref, x in sorted(ref_lines, key=lambda r: r[1]):
        ax.axvline(x, color="#777777", lw=1.0, ls=":", zorder=1)
        low = (
            not low if math.log(x / lo) / math.log(hi / lo) - last < 0.04 else False
        )  # a close neighbour: other end, other side
        last = math.log(x / lo) / math.log(hi / lo)
        ax.annotate(
            f"{ref} (cost only)",
            (x, 0.0 if low else 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 4) if low else (-3, -4),
            textcoords="offset points",
            rotation=90,
            ha="left" if low else "right",
            va="bottom" if low else "top",
            fontsize=7.5,
            color="#555555",
        )


TEACHER_COLOR = "#8250df"


def _draw_teachers(ax, analysis: Analysis) -> list[tuple[Any, str]]:
    """The distilled rows' teachers as dashed horizontal lines at their own validation figure (a teacher is
    not deployed, so it is a level to reach rather than a point at a cost); returns (handle, label) pairs."""
    out = []
    for t in teachers(analysis):
        if t.get("headline") is None:
            continue
        handle = ax.axhline(t["headline"], color=TEACHER_COLOR, lw=1.1, ls="--", zorder=1)
        out.append((handle, f"teacher {t['model']} ({teacher_knobs_text(t)}): {t['headline']:.1f}"))
    return out


def pareto_figure(analysis: Analysis, kind: str, references: Sequence[Reference] = ()) -> Figure | None:
    """Accuracy (mean over seeds) against ``kind`` cost (log scale) of every finished variant.

    Series connect the variants that differ only in the first numeric axis (its value is printed in
    each marker); the Pareto front of the LSPD variants is the grey staircase with ringed members;
    reference models (trained in the matrix, or profiled with ``--reference``) are black markers with
    their names, and a reference without accuracy is a dotted line at its cost. None when no variant
    has both figures yet.
    """
    points = _points(analysis, [v for v in analysis.variants if not v.reference], kind)
    if not points:
        return None
    along = _progression_axis(analysis)
    others = _series_axes(analysis, points, along)
    ref_points, ref_lines = reference_marks(analysis, kind, references)
    xs = [p.x for p in points] + [x for _, x, _, _ in ref_points] + [x for _, x in ref_lines]
    lo, hi = min(xs) / 1.5, max(xs) * 1.5
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.6, 4.6), layout="constrained")
        ax = fig.add_subplot()
        one_cost = len(points) > 1 and len({p.x for p in points}) == 1
        handles, labels = _draw_series(ax, points, others, along, analysis.axis_values.get(along, []), dodge=one_cost)
        front = [p for v in front_variants(analysis, kind) for p in points if p.variant is v]
        if front:
            handle, label = _draw_front(ax, front, big=along is not None)
            handles.append(handle)
            labels.append(label)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        _log_ticks(ax, lo, hi)
        _draw_references(ax, ref_points, ref_lines, lo, hi)
        for handle, label in _draw_teachers(ax, analysis):
            handles.append(handle)
            labels.append(label)
        if ref_points:
            handles.append(Line2D([], [], color="#222222", marker="s", lw=0, markersize=6, markeredgecolor="white"))
            labels.append("reference models")
        ax.margins(y=0.12)
        ax.set_xlabel(cost_label(analysis, kind))
        ax.set_ylabel(f"{analysis.headline_name} (%)")
        fig.suptitle(f"{analysis.headline_name} vs {COST_KINDS[kind].title}", x=0.01, ha="left", fontweight="bold")
        subtitle = _subtitle(analysis, len(points))
        if one_cost:
            subtitle += f" · every variant has the same deploy {COST_KINDS[kind].title} (series set side by side)"
        # Wrapped to the axes' width: an unwrapped line runs under the legend beside the axes.
        ax.set_title(textwrap.fill(subtitle, 64), loc="left", fontsize=8, color="#555555")
        title = " / ".join(others) if others else None
        if along:
            title = f"{title}\n(number in marker: {along})" if title else f"number in marker: {along}"
        fig.legend(handles, labels, loc="outside right upper", title=title, frameon=False, alignment="left")
    return fig


def reference_marks(analysis: Analysis, kind: str, references: Sequence[Reference]):
    """``(label, x, y, family)`` for references with accuracy, ``(label, x)`` for cost-only ones."""
    points, lines = [], []
    for p in _points(analysis, [v for v in analysis.variants if v.reference], kind):
        points.append((_ref_name(p.variant), p.x, p.y, p.variant.family))
    for r in references:
        if kind == "gmacs":
            x = r.gmacs.get(analysis.counter)
        elif kind == "params":
            x = r.params * 1e-6 if r.params else None
        else:
            x = r.latency_ms.get(analysis.constant("latency_threads"))
        if x is None or not x > 0:
            continue
        if r.accuracy is not None:
            points.append((r.label, x, r.accuracy, r.family))
        else:
            lines.append((r.label, x))
    return points, lines


def _ref_name(v: Variant) -> str:
    return reference_label(str(v.axes.get("model") or v.done[0].row.get("model")))


def numeric_axes(analysis: Analysis) -> list[str]:
    """The varying axes with an order, each worth an axis plot."""
    return [a for a in NUMERIC_AXES if a in analysis.axes]


def axis_figure(analysis: Analysis, axis: str) -> Figure | None:
    """Accuracy against ``axis``: one line per block type, one panel per distillation mode, the other
    axes held at the baseline row; None when fewer than two values have finished."""
    panel_axis = "distill" if "distill" in analysis.axes and axis != "distill" else None
    line_axis = "block" if "block" in analysis.axes and axis != "block" else None
    base = analysis.baseline.axes
    free = {axis, panel_axis, line_axis}
    rows = [
        v
        for v in analysis.variants
        if not v.reference
        and v.value(analysis.headline)
        and all(v.axes.get(a) == base.get(a) for a in analysis.axes if a not in free)
    ]
    if len({v.axes.get(axis) for v in rows}) < 2:
        return None
    panels = analysis.axis_values[panel_axis] if panel_axis else [None]
    lines = analysis.axis_values[line_axis] if line_axis else [None]
    xs_order = analysis.axis_values[axis]
    teacher_marks: list[tuple[Any, str]] = []
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(3.4 * len(panels) + 1.8, 3.9), layout="constrained")
        axs = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        for ax, panel in zip(axs, panels):
            for i, line in enumerate(lines):
                pts = [
                    v
                    for v in rows
                    if (panel_axis is None or v.axes.get(panel_axis) == panel)
                    and (line_axis is None or v.axes.get(line_axis) == line)
                ]
                pts.sort(key=lambda v: xs_order.index(v.axes[axis]))
                _mark_unfinished(ax, analysis, axis, panel_axis, panel, line_axis, line, i)
                if not pts:
                    continue
                xs = [v.axes[axis] for v in pts]
                ys = [v.value(analysis.headline).mean for v in pts]
                err = [v.value(analysis.headline).std or 0 for v in pts]
                ax.errorbar(
                    xs,
                    ys,
                    yerr=err,
                    color=PALETTE[i % len(PALETTE)],
                    marker=MARKERS[i % len(MARKERS)],
                    **_SERIES_STYLE,
                    label=format_value(line) if line_axis else analysis.headline_name,
                )
            ax.set_xticks(xs_order if all(isinstance(x, (int, float)) for x in xs_order) else [])
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            label = AXIS_LABELS.get(axis, axis)
            ax.set_xlabel(label.replace(" (", "\n(", 1) if len(panels) > 1 else label)  # side by side: two lines
            if panel_axis:
                ax.set_title(f"{panel_axis} = {format_value(panel)}", fontsize=9.5)
            ax.margins(x=0.08, y=0.15)
            if panel_axis is None or (panel in set(Distill) and Distill(panel).uses_teacher):
                teacher_marks = _draw_teachers(ax, analysis)
        axs[0].set_ylabel(f"{analysis.headline_name} (%)")
        held = [f"{a}={format_value(base.get(a))}" for a in analysis.lspd_axes if a not in free]
        fig.suptitle(f"{analysis.headline_name} vs {axis}", x=0.01, ha="left", fontweight="bold")
        seeds = len(analysis.matrix.values("seed")) or 1
        note = (f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed (no spread)") + (
            f" · held at the baseline: {', '.join(held)}" if held else ""
        )
        fig.supxlabel(note, x=0.01, ha="left", fontsize=7.5, color="#555555")
        h, labels = axs[0].get_legend_handles_labels() if line_axis else ([], [])
        for handle, label in teacher_marks:
            h, labels = [*h, handle], [*labels, label]
        if h:
            fig.legend(h, labels, loc="outside right upper", title=line_axis, frameon=False, alignment="left")
    return fig


def stage_figure(analysis: Analysis) -> Figure | None:
    """The headline at every stage k of each LSPD variant with more than one stage: one line per variant (its
    colour by the other axes), one panel per distillation mode where it varies; the deployed stage marked.
    None when no variant has two stages."""
    if len(analysis.stage_columns) < 2:
        return None
    rows = [v for v in analysis.variants if not v.reference and any(v.value(c) for c in analysis.stage_columns)]
    if not rows:
        return None
    panel_axis = "distill" if "distill" in analysis.axes else None
    panels = analysis.axis_values[panel_axis] if panel_axis else [None]
    line_axes = [a for a in analysis.lspd_axes if a != panel_axis]
    keys = list(dict.fromkeys(tuple(v.axes.get(a) for a in line_axes) for v in rows))
    deploy = analysis.constant("deploy_stage")
    seeds = len(analysis.matrix.values("seed")) or 1
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(3.4 * len(panels) + 1.8, 3.9), layout="constrained")
        axs = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        for ax, panel in zip(axs, panels):
            for v in rows:
                if panel_axis and v.axes.get(panel_axis) != panel:
                    continue
                i = keys.index(tuple(v.axes.get(a) for a in line_axes))
                stats = [(k, st) for k, c in enumerate(analysis.stage_columns, start=1) if (st := v.value(c))]
                label = (
                    " / ".join(format_value(v.axes.get(a)) for a in line_axes) if line_axes else analysis.headline_name
                )
                ax.errorbar(
                    [k for k, _ in stats],
                    [st.mean for _, st in stats],
                    yerr=[st.std or 0 for _, st in stats],
                    color=PALETTE[i % len(PALETTE)],
                    marker=MARKERS[i % len(MARKERS)],
                    **_SERIES_STYLE,
                    label=label,
                )
            if deploy:
                ax.axvline(deploy, color=FRONT_COLOR, lw=1.0, ls=":", zorder=1)
                ax.annotate(
                    "deployed",
                    (deploy, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(3, -3),
                    textcoords="offset points",
                    ha="left",
                    va="top",
                    fontsize=7.5,
                    color="#555555",
                )
            ax.set_xticks(range(1, len(analysis.stage_columns) + 1))
            ax.set_xlabel("stage k (its heatmaps scored)")
            if panel_axis:
                ax.set_title(f"{panel_axis} = {format_value(panel)}", fontsize=9.5)
            ax.margins(x=0.08, y=0.15)
        axs[0].set_ylabel(f"{analysis.headline_name} (%)")
        fig.suptitle(f"{analysis.headline_name} at every stage", x=0.01, ha="left", fontweight="bold")
        fig.supxlabel(
            (f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed (no spread)") + " · one line per variant",
            x=0.01,
            ha="left",
            fontsize=7.5,
            color="#555555",
        )
        legend: dict[str, Any] = {}  # every line once, whichever panel it is in
        for ax in axs:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(label, handle)
        if line_axes and legend:
            fig.legend(
                list(legend.values()),
                list(legend),
                loc="outside right upper",
                title=" / ".join(line_axes),
                frameon=False,
                alignment="left",
            )
    return fig


#: The curves figure: the deployed stage's mean and each seed's line, the other stages' colours and dashes (by
#: stage k), the mark of a still-learning variant, and the shade of the rule's window.
CURVE_COLOR = PALETTE[0]
MEAN_STYLE = {"color": CURVE_COLOR, "lw": 2.0, "markersize": 4, "markeredgecolor": "white"}
SEED_STYLE = {"color": CURVE_COLOR, "lw": 0.7, "alpha": 0.3}
STAGE_COLORS = PALETTE[2:]
STAGE_DASHES = ((0, (4, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (2, 2)))
STILL_COLOR = PALETTE[1]
WINDOW_COLOR = "#eeeeee"
#: Panels per row of the curves figure, and the most epochs drawn with a marker each.
CURVE_COLUMNS = 4
MARKED_EPOCHS = 30
#: How the threshold kinds of the still-learning rule are named in a panel.
THRESHOLD_SHORT = {SEED_SD: "seed SD", PEOPLE_HALF_WIDTH: "½ people CI"}


def _stage_style(k: int) -> dict[str, Any]:
    return {
        "color": STAGE_COLORS[(k - 1) % len(STAGE_COLORS)],
        "ls": STAGE_DASHES[(k - 1) % len(STAGE_DASHES)],
        "lw": 1.1,
    }


def _curve_rows(analysis: Analysis) -> list[tuple[Variant, list[Curve]]]:
    """The variants with two or more validated epochs, and their seeds' curves."""
    out = []
    for v in analysis.variants:
        curves = variant_curves(v)
        if len(mean_curve([c.headline for c in curves])) >= 2:
            out.append((v, curves))
    return out


def _draw_learning(ax, learning: Learning, last: tuple[int, float]) -> None:
    """The still-learning rule on a panel: its window shaded, and its verdict at the foot (an arrow to the last
    point of a variant still learning)."""
    if not learning.judged:
        return
    ax.axvspan(learning.epochs - learning.window, learning.epochs, color=WINDOW_COLOR, zorder=0, lw=0)
    verdict = f"{learning.gain:+.1f} {'>' if learning.still_learning else '≤'} {learning.threshold:.1f}"
    verdict += f" {THRESHOLD_SHORT[learning.threshold_kind]}"
    text = f"{STILL_LEARNING_MARK} still learning\n{verdict}" if learning.still_learning else verdict
    color = STILL_COLOR if learning.still_learning else "#777777"
    arrow = {"arrowstyle": "->", "color": color, "lw": 1.0} if learning.still_learning else None
    ax.annotate(
        text,
        last,
        xytext=(0.97, 0.05),
        textcoords="axes fraction",
        ha="right",
        va="bottom",
        fontsize=7.5,
        color=color,
        fontweight="bold" if learning.still_learning else "normal",
        arrowprops=arrow,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        zorder=6,
    )


def _draw_curves(ax, variant: Variant, curves: list[Curve], learning: Learning) -> list[int]:
    """One variant's panel: each seed faint, the mean over seeds thick, the other stages' means dashed; returns
    the stages drawn besides the deployed one."""
    deployed = variant.done[0].row.get("deploy_stage")
    mean = mean_curve([c.headline for c in curves])
    marker = "o" if max(mean) <= MARKED_EPOCHS else None
    if len(curves) > 1:
        for c in curves:
            ax.plot(list(c.headline), list(c.headline.values()), zorder=3, **SEED_STYLE)
    stages = sorted({k for c in curves for k in c.stages if k != deployed})
    for k in stages:
        line = mean_curve([c.stages[k] for c in curves if k in c.stages])
        ax.plot(list(line), list(line.values()), zorder=3, **_stage_style(k))
    ax.plot(list(mean), list(mean.values()), marker=marker, zorder=4, **MEAN_STYLE)
    _draw_learning(ax, learning, list(mean.items())[-1])
    return stages


def _curve_legend(
    analysis: Analysis, seeds: int, uneven: bool, stages: list[int], window: bool
) -> tuple[list, list[str]]:
    deploy = analysis.constant("deploy_stage")
    main = f"deployed stage {format_value(deploy)}" if deploy is not None else "deployed stage"
    handles = [Line2D([], [], marker="o", **MEAN_STYLE)]
    over = f"up to {seeds}" if uneven else f"{seeds}"
    labels = [f"{main}: mean over {over} seeds" if seeds > 1 else f"{main} (1 seed)"]
    if seeds > 1:
        handles.append(Line2D([], [], **SEED_STYLE))
        labels.append("each seed")
    for k in stages:
        handles.append(Line2D([], [], **_stage_style(k)))
        labels.append(f"stage {k}" + (" (mean)" if seeds > 1 else ""))
    if window:
        handles.append(Patch(color=WINDOW_COLOR))
        labels.append("last quarter: the still-learning window")
    return handles, labels


def curves_figure(analysis: Analysis) -> Figure | None:
    """The per-epoch validation figure (no flip test) of every variant, one panel each on a shared scale: the
    deployed stage's mean over the finished seeds is the thick line, each seed a faint one, the other stages'
    means dashed; the window of the still-learning rule is shaded and a variant still learning gets an arrow
    to its last point. None when no variant validated two epochs."""
    rows = _curve_rows(analysis)
    if not rows:
        return None
    cols = min(CURVE_COLUMNS, len(rows))
    lines = math.ceil(len(rows) / cols)
    drawn: set[int] = set()
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(max(6.4, 2.4 * cols + 0.9), 2.1 * lines + 1.4), layout="constrained")
        axs = fig.subplots(lines, cols, sharex=True, sharey=True, squeeze=False)
        for ax, (v, curves) in zip(axs.flat, rows):
            drawn.update(_draw_curves(ax, v, curves, analysis.learning_of(v)))
            ax.set_title(_ref_name(v) if v.reference else v.label(analysis.lspd_axes), fontsize=8.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.margins(x=0.04, y=0.1)
        for ax in axs.flat[len(rows) :]:
            ax.set_visible(False)
        for ax in axs[-1]:
            ax.set_xlabel("epoch")
        fig.supylabel(f"{analysis.headline_name} (%)\nvalidation, no flip test", fontsize=9)
        fig.suptitle(f"{analysis.headline_name} per epoch", x=0.01, ha="left", fontweight="bold")
        counts = {len(curves) for _, curves in rows}
        seeds = max(counts)
        window = any(analysis.learning_of(v).judged for v, _ in rows)
        handles, labels = _curve_legend(analysis, seeds, len(counts) > 1, sorted(drawn), window)
        across = 3 if cols >= 3 else 2  # the legend's columns: what the figure's width holds
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(handles), across), frameon=False)
    return fig


def _mark_unfinished(
    ax, analysis: Analysis, axis: str, panel_axis: str | None, panel: Any, line_axis: str | None, line: Any, i: int
) -> None:
    """Name the status of a line's points that have no finished cell yet, at the foot of the panel."""
    base = analysis.baseline.axes
    for v in analysis.variants:
        if (
            v.done
            or v.reference
            or any(v.axes.get(a) != base.get(a) for a in analysis.axes if a not in (axis, panel_axis, line_axis))
        ):
            continue
        if (panel_axis and v.axes.get(panel_axis) != panel) or (line_axis and v.axes.get(line_axis) != line):
            continue
        statuses = {c.status for c in v.cells}
        status = next(
            (s for s in (Status.RUNNING, Status.PENDING, Status.FAILED) if s in statuses), sorted(statuses)[0]
        )
        ax.annotate(
            status,
            (v.axes[axis], 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4 + 10 * i),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7,
            color=PALETTE[i % len(PALETTE)],
            fontstyle="italic",
        )


def figure_bytes(fig: Figure, formats: Sequence[str] = FORMATS) -> dict[str, bytes]:
    """``{"png": …, "svg": …, "pdf": …}``: the figure in each of ``formats``, with fixed metadata.

    PDF fonts are embedded as TrueType (Type 42): venues that reject Type 3 fonts accept it; SVG keeps
    text as text.
    """
    out = {}
    with matplotlib.rc_context(STYLE):
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=PNG_DPI, metadata=_METADATA[fmt], facecolor="white")
            out[fmt] = buf.getvalue()
    return out


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = FORMATS) -> dict[str, Any]:
    """Write ``stem.<fmt>`` atomically for each format (PNG always: the page embeds it); return
    ``{"paths": {fmt: path}, "png": bytes}``."""
    data = figure_bytes(fig, ["png", *(f for f in formats if f != "png")])
    paths = {fmt: write_bytes(stem.with_suffix(f".{fmt}"), blob) for fmt, blob in data.items()}
    return {"paths": paths, "png": data["png"]}


def fmt_cost(value: float, kind: str) -> str:
    """A cost for captions: ``0.0291 GMACs``, ``0.352 M``, ``3.10 ms``."""
    return f"{fmt_number(value * COST_KINDS[kind].scale, None)} {COST_KINDS[kind].unit}"
