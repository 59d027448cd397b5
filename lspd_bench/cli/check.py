"""``lspd-bench check``: the CI regression gate (a results table against a committed baseline)."""

from __future__ import annotations

from pathlib import Path

import click

from lspd_bench.check import ACC_FLOOR, TOL_LATENCY
from lspd_bench.cli import Output, echo_json, input_errors, main, stdout_console

_STYLE = {"✗": "bold red", "✓": "green", "+": "cyan", "~": "dim", "?": "yellow", "≠": "yellow"}


@main.command("check")
@click.argument("results", type=click.Path(path_type=Path))
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Baseline JSON, e.g. reports/baseline/ci.json.",
)
@click.option(
    "--tol-acc",
    type=click.FloatRange(min=0),
    default=None,
    metavar="POINTS",
    help="Allowed accuracy drop in absolute points [default: derived from the seed noise of the "
    f"baseline's and the results' cells, at least {ACC_FLOOR:g}].",
)
@click.option(
    "--tol-latency",
    type=click.FloatRange(min=0),
    default=TOL_LATENCY,
    show_default=True,
    metavar="RATIO",
    help="Allowed relative growth of latency_ratio (0.25 = 25 %); fails only when the ratio's whole "
    "interval is past it.",
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="Accept the results: write them as the new baseline (atomically) and show what changed.",
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help="With --update-baseline: accept results that lack some of the baseline's cells (they leave it).",
)
@click.option(
    "--markdown",
    "markdown_out",
    type=Output(folder=False),
    metavar="OUT.md",
    help="Also write the report as Markdown (for a pull-request comment).",
)
@click.option(
    "--claims",
    "claims",
    is_flag=True,
    help="Also judge the baseline's claims on the results: one it supported that is now contradicted fails.",
)
@click.option(
    "--claim",
    "extra_claims",
    multiple=True,
    metavar="CLAIM",
    help="A claim the matrix does not carry (as in `report --claim`), recorded by --update-baseline and "
    "judged by --claims. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of the table.")
def check_command(
    results, baseline, tol_acc, tol_latency, update_baseline, allow_partial, markdown_out, claims, extra_claims, as_json
) -> None:
    """Compare RESULTS (a matrix folder or its results.csv) with the baseline; exit 1 on a regression.

    Fails on an accuracy drop beyond what the seed noise allows (per cell, and for the mean of all cells),
    any change of parameters or MACs, a latency ratio whose whole interval grew beyond the tolerance (on
    the baseline's CPU model only; "not decided" when the machine's noise cannot tell), a cell that fell
    off the accuracy-vs-GMACs Pareto front, or a baseline cell missing from the results. Cells are matched
    on every configuration key (not their hash); results of other data or evaluation settings are refused.
    """
    from lspd_bench import check as gate
    from lspd_bench.fileio import write_text

    if allow_partial and not update_baseline:
        raise click.UsageError("--allow-partial goes with --update-baseline")
    with input_errors():
        if update_baseline:
            report = gate.update_baseline(
                results,
                baseline,
                tol_acc=tol_acc,
                tol_latency=tol_latency,
                claims=extra_claims,
                allow_partial=allow_partial,
            )
        else:
            report = gate.check(
                results, baseline, tol_acc=tol_acc, tol_latency=tol_latency, claims=claims, extra_claims=extra_claims
            )
    if markdown_out is not None:
        write_text(markdown_out, gate.markdown(report))
    if as_json:
        echo_json(report)
    else:
        print_report(report)
        if markdown_out is not None:
            click.echo(f"Markdown report: {markdown_out}")
    if not report["passed"] and not report["updated"]:
        click.get_current_context().exit(1)


def print_report(report: dict) -> None:
    """What moved as a rich table, then the verdict line and the notes."""
    from rich.table import Table

    from lspd_bench.check import COLUMNS, UNDECIDED, noise_text, summary, table_rows

    console = stdout_console()
    rows = table_rows(report)
    if rows:
        table = Table(title="what moved against the baseline")
        for i, name in enumerate(COLUMNS):
            table.add_column(name, justify="right" if 3 <= i <= 6 else "left", overflow="fold")
        for row in rows:
            table.add_row(*row, style=_STYLE.get(row[0]))
        console.print(table)
    line = summary(report)
    style = "green" if report["passed"] or report["updated"] else "bold red"
    console.print(line, style=style, highlight=False, soft_wrap=True)
    if report.get("noise"):
        console.print(f"  {noise_text(report['noise'])}", highlight=False, soft_wrap=True)
    for row in report["rows"]:
        if row["verdict"] == UNDECIDED:
            console.print(f"  {row['cell']}, {row['figure']}: {row['message']}", highlight=False, soft_wrap=True)
    for note in report["notes"]:
        console.print(f"  note: {note}", highlight=False, soft_wrap=True)
    if not report["passed"] and not report["updated"]:
        console.print(
            f"  to accept an intended change: lspd-bench check {report['results']} --baseline "
            f"{report['baseline']} --update-baseline",
            highlight=False,
            soft_wrap=True,
        )
