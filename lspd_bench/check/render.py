"""The gate's report as text: the table of what moved (terminal and Markdown), the verdict line, the noise."""

from __future__ import annotations

from typing import Any

from lspd_bench.ablate import schema
from lspd_bench.check.cells import COST_FIGURES, LATENCY, PARETO_COST
from lspd_bench.check.rules import ACC_FLOOR, FAILING, UNDECIDED

#: Each verdict's one-character mark, as asv's compare marks its lines.
MARKS = {
    **dict.fromkeys(FAILING, "✗"),
    "better": "✓",
    "new": "+",
    "within tolerance": "~",
    "not measured": "?",
    "other cpu": "≠",
    "claim moved": "~",
    UNDECIDED: "?",
}
#: The columns of the table of what moved.
COLUMNS = ("", "cell", "figure", "baseline", "now", "change", "limit", "verdict")
_ARROW = {"up": "↑", "down": "↓", None: ""}


def noise_text(noise: dict[str, Any]) -> str:
    """One line: the seed noise the gate's accuracy rule used, or that there was none to measure."""
    base, now, both, paired = noise["baseline"], noise["results"], noise["both"], noise["paired"]
    if both["pooled_sd"] is None:
        return (
            f"training noise: not measured (one seed per cell); the accuracy rules fall back to their "
            f"{ACC_FLOOR:g}-point floor, which covers kernel and machine differences, not training noise"
        )
    parts = [
        f"{what} {n['pooled_sd']:.2f} ({n['cells']} cells, df {n['df']})"
        for what, n in (("the baseline's", base), ("these results'", now))
        if n["pooled_sd"] is not None
    ]
    text = (
        f"training noise: seeds differ within a cell by a pooled SD of {both['pooled_sd']:.2f} points ("
        + ", ".join(parts)
        + ")"
    )
    if paired["sd"] is None:
        return text + ", which the accuracy rules use (cells are not paired by seed)"
    return (
        text + f"; with the seed held, {paired['sd']:.2f} points are left (cells × seeds residual, df "
        f"{paired['df']}), which the accuracy rules use for cells paired by seed"
    )


def _fmt_figure(figure: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # accuracy: seed mean ± spread
        spread = f" ±{value['std']:.2f}" if value.get("std") is not None else ""
        seeds = f" ({value['n']} seeds)" if value.get("n", 1) > 1 else ""
        return f"{value['mean']:.2f}{spread}{seeds}"
    if figure.startswith("params"):
        return f"{value:,.0f}"
    if figure.startswith("gmacs"):
        return f"{value:.6f}"
    if figure == LATENCY:
        return f"{value:.3f}"
    return f"{value:g}"


def _fmt_change(row: dict[str, Any]) -> str:
    d, figure, arrow = row["delta"], row["figure"], _ARROW[row["direction"]]
    if d is None:
        return ""
    if figure == schema.HEADLINE or figure == "pareto":
        return f"{d:+.2f} pt {arrow}".strip()
    base = row["baseline"]
    rel = f" ({d / base:+.2%})" if isinstance(base, (int, float)) and base else ""
    if figure.startswith("params"):
        return f"{d:+,.0f}{rel} {arrow}"
    if figure.startswith("gmacs"):
        return f"{d:+.6f}{rel} {arrow}"
    if figure == LATENCY:
        span = f" [×{row['interval'][0]:.2f}, ×{row['interval'][1]:.2f}]" if row.get("interval") else ""
        return f"×{row['now'] / base:.3f}{span} {arrow}"
    return f"{d:+g} {arrow}"


def _fmt_limit(row: dict[str, Any]) -> str:
    limit = row["limit"]
    if limit is None or isinstance(limit, str):
        return limit or ""
    if row["figure"] == LATENCY:
        return f"≤ ×{limit:.3f}"
    return f"-{limit:.2f} pt" if row["figure"] == schema.HEADLINE else f"+{limit:.2f} pt"


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """The report's rows as text cells under ``COLUMNS`` (the same for the terminal and Markdown)."""
    return [
        [
            MARKS[r["verdict"]],
            r["cell"],
            r["figure"],
            _fmt_figure(r["figure"], r["baseline"]),
            _fmt_figure(r["figure"], r["now"]),
            _fmt_change(r),
            _fmt_limit(r),
            r["verdict"],
        ]
        for r in report["rows"]
    ]


def summary(report: dict[str, Any]) -> str:
    """One line: the verdict, and for a failure every regressed cell with the figures that failed."""
    n = report["cells"]["baseline"]
    if report.get("updated") and not report.get("previous"):
        return f"baseline {report['baseline']} written ({report['baseline_cells']} cells; there was none before)"
    if report.get("updated"):
        moved = len(report["rows"])
        changed = {}
        for r in report["rows"]:
            changed.setdefault(r["cell"], []).append(r["figure"])
        detail = "; ".join(f"{c}: {', '.join(f)}" for c, f in changed.items())
        return (
            f"baseline {report['baseline']} written ({report['baseline_cells']} cells); {moved} "
            f"figure{'s' * (moved != 1)} changed against the previous one" + (f" — {detail}" if detail else "")
        )
    if report["passed"]:
        moved, undecided = len(report["rows"]), report.get("undecided", 0)
        text = f"passed: no regression in {n} cells ({moved} figure{'s' * (moved != 1)} moved within the rules"
        return text + (f"; {undecided} not decided within the machine's noise)" if undecided else ")")
    missing = report["cells"]["missing"]
    if missing:  # a matrix that has not run every baseline cell is incomplete, whatever else moved
        return (
            f"INCOMPLETE: {len(missing)} of {n} baseline cells are not in the results ({'; '.join(missing)}): "
            "run them, or accept a smaller baseline with --update-baseline --allow-partial"
        )
    cells = report["regressed_cells"]
    detail = "; ".join(f"{c}: {', '.join(dict.fromkeys(f))}" for c, f in cells.items())
    count = report["regressions"]
    claims = report.get("contradicted_claims") or []
    where = f"{len(cells)} of {n} cells" + (f" and {len(claims)} claim{'s' * (len(claims) != 1)}" if claims else "")
    detail = "; ".join([*([detail] if detail else []), *(f"{c}: now contradicted" for c in claims)])
    return f"FAILED: {count} regression{'s' * (count != 1)} in {where} — {detail}"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for a pull-request comment: verdict, table of what moved, rules, notes."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    icon = "✅" if report["passed"] or report.get("updated") else "❌"
    lines = [f"### {icon} lspd-bench check", "", esc(summary(report)), ""]
    rows = table_rows(report)
    if rows:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 4 + ["---"]) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    else:
        lines.append("Nothing moved.")
    tol = report["tolerances"]
    lines += [
        "",
        f"Rules: {report.get('headline_name') or 'headline'} may drop by {tol['accuracy_rule']}; parameters and "
        f"GMACs ({', '.join(COST_FIGURES)}) must not change; latency_ratio {tol['latency_rule']} "
        "(on the baseline's CPU model); "
        f"a cell on the accuracy-vs-{PARETO_COST} front must stay on it (within the accuracy tolerance); every "
        f"baseline cell must be present. Baseline: `{report['baseline']}`"
        + (f" ({report['baseline_created']})" if report.get("baseline_created") else "")
        + ".",
    ]
    if report.get("noise"):
        lines += ["", esc(noise_text(report["noise"])[0].upper() + noise_text(report["noise"])[1:]) + "."]
    undecided = [f"{r['cell']}, {r['figure']}: {r['message']}" for r in report["rows"] if r["verdict"] == UNDECIDED]
    if undecided:
        lines += ["", "Not decided (not failed):", *(f"- {esc(u)}" for u in undecided)]
    if report["notes"]:
        lines += ["", "Notes:", *(f"- {esc(n)}" for n in report["notes"])]
    if not report["passed"] and not report.get("updated"):
        lines += [
            "",
            f"An intended change is accepted with `lspd-bench check {report['results']} --baseline "
            f"{report['baseline']} --update-baseline`.",
        ]
    return "\n".join(lines) + "\n"
