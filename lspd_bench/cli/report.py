"""``lspd-bench report``: tables, Pareto plots and a self-contained HTML page from an ablation matrix."""

from __future__ import annotations

from pathlib import Path

import click

from lspd_bench.ablate import schema
from lspd_bench.ablate.schema import Status
from lspd_bench.cli import Output, choice, echo_json, input_errors, main, stderr_console
from lspd_bench.config import Metric
from lspd_bench.cost.counters import FVCORE


def _formats(_ctx, _param, value: str) -> list[str]:
    out = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in out if f not in ("png", "svg", "pdf")]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: choose from png, svg, pdf")
    return out


@main.command("report")
@click.argument("matrix", type=click.Path(path_type=Path))
@click.option("--out", type=Output(folder=True), help="Output folder (default: reports/<matrix folder name>).")
@click.option(
    "--metric", type=choice(Metric), help="Report the cells scored with this metric (default: the matrix's one metric)."
)
@click.option(
    "--cost",
    type=click.Choice(list(schema.COST_KINDS)),
    default="gmacs",
    show_default=True,
    help="The cost the page and report.md lead with (every Pareto plot is drawn).",
)
@click.option(
    "--counter",
    type=click.Choice(list(schema.MAC_COLUMNS)),
    default=FVCORE.id,
    show_default=True,
    help="The MAC counter of the GMACs column and plot.",
)
@click.option(
    "--baseline-row",
    metavar="KEY=VALUE,...",
    help="The row deltas are taken against, e.g. stages=1,distill=none "
    "(axes not named: their first value in the matrix).",
)
@click.option(
    "--allow-mixed",
    is_flag=True,
    help="Put cells of different datasets, schedules or evaluation settings in one table "
    "(the differing columns become axes).",
)
@click.option(
    "--reference",
    "references",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A comparison model for the Pareto plots: `lspd-bench profile --json` output, a zoo file, or a "
    "folder with cost.json (and metrics.json for its accuracy). Repeatable.",
)
@click.option(
    "--bootstrap",
    "n_boot",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Paired-bootstrap resamples of the delta intervals.",
)
@click.option(
    "--formats",
    default="png,svg,pdf",
    show_default=True,
    callback=_formats,
    help="Plot files to write, comma-separated (PNG always: the page embeds it).",
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    metavar="CLAIM",
    help="A claim to judge besides the matrix's own, e.g. 'distill=teacher > distill=none at every stages' "
    "(syntax: `lspd_bench.ablate.claims`). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def report_command(
    matrix, out, metric, cost, counter, baseline_row, allow_mixed, references, n_boot, formats, claims, as_json
) -> None:
    """Report the ablation matrix in MATRIX (a folder written by `lspd-bench ablate`): tables in Markdown,
    LaTeX and CSV, Pareto and axis plots (PNG, SVG, PDF), index.html and report.md."""
    from lspd_bench.report import build_report
    from lspd_bench.report.claims import interval_text

    with input_errors(), stderr_console().status(f"reporting {matrix} …"):
        summary = build_report(
            matrix,
            out,
            metric=metric,
            cost=cost,
            counter=counter,
            baseline_row=baseline_row,
            allow_mixed=allow_mixed,
            references=references,
            n_boot=n_boot,
            formats=formats,
            claims=claims,
        )
    if as_json:
        echo_json(summary)
        return
    cells = summary["cells"]
    others = ", ".join(f"{n} {s}" for s, n in cells.items() if s not in ("total", Status.DONE))
    click.echo(
        f"{cells.get('done', 0)} of {cells['total']} cells done"
        + (f" ({others})" if others else "")
        + f"; baseline row: {', '.join(f'{k}={v}' for k, v in summary['baseline_row'].items())}"
    )
    for c in summary["claims"]:
        click.echo(
            f"claim {c['claim']}: {c['verdict']} (Δ {interval_text(c)} points, {c['seeds']} seed(s); "
            f"interval covers {c['covers']}; {c['reason']})"
        )
    for kind, members in summary["pareto"].items():
        click.echo(f"Pareto front ({kind}): {'; '.join(members) or 'none'}")
    for line in (summary["still_learning"]["line"], summary["fidelity"]["line"]):
        if line:
            click.echo(line)
    for w in summary["warnings"]:
        click.echo(f"note: {w}")
    click.echo(f"wrote {len(summary['files'])} files to {summary['out']}: open {summary['index']}")
