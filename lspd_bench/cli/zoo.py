"""``lspd-bench zoo``: parameters and GMACs of every registered model side by side."""

from __future__ import annotations

import click

from lspd_bench.cli import Output, echo_json, input_errors, main, stderr_progress, stdout_console
from lspd_bench.cli.profile import parse_hw
from lspd_bench.ablate.store import ZOO_TABLE
from lspd_bench.cost.counters import COUNTERS


@main.command("zoo")
@click.option(
    "--input",
    "input_hw",
    callback=parse_hw,
    help="Input HxW in px for every model (default: each model's customary size); a report draws the "
    "zoo's models on its Pareto plots when they were profiled at the matrix's input size.",
)
@click.option("--latency", is_flag=True, help="Also time each model (1 thread, batch 1; slow for the teacher).")
@click.option(
    "--out",
    type=Output(folder=False),
    help=f"Also write the full profiles to this JSON file ({ZOO_TABLE}: the table reports read by default).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full profiles as JSON.")
def zoo_command(input_hw: tuple[int, int] | None, latency: bool, out: str | None, as_json: bool) -> None:
    """Profile every registered model at its customary input size, or at --input (deploy models, batch 1)."""
    from lspd_bench.cost import profile_model
    from lspd_bench.fileio import write_json
    from lspd_bench.models import list_models

    entries = list_models()
    results = []
    with input_errors(), stderr_progress(refresh=not latency) as bar:  # no redraw thread beside a timing
        task = bar.add_task("profiling the zoo", total=len(entries))
        for entry in entries:
            bar.update(task, description=f"profiling {entry.name}")
            results.append(profile_model(entry.name, input_hw=input_hw, threads=[1], batch=1, latency=latency))
            bar.advance(task)
    if out:
        write_json(out, results)
    if as_json:
        echo_json(results)
        return
    print_zoo(results)


def print_zoo(results: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="Model zoo: deploy models, batch 1, eval mode (GMACs = 10^9 multiply-accumulates)")
    for col in ("model", "input", "params full (M)", "params deploy (M)", *(c.id for c in COUNTERS)):
        table.add_column(col, justify="right" if col not in ("model", "input") else "left")
    if any("latency" in r for r in results):
        table.add_column("median ms (1 thr)", justify="right")
    for r in results:
        counts = {m["counter"]: m for m in r["macs"]}
        gmacs = [
            f"{m['gmacs']:.3f}" if m["macs"] is not None else f"failed: {m['error']}"
            for m in (counts[c.id] for c in COUNTERS)
        ]
        row = [
            r["model"],
            "x".join(map(str, r["input"])),
            f"{r['params']['full'] / 1e6:.3f}",
            f"{r['params']['deploy'] / 1e6:.3f}",
            *gmacs,
        ]
        if "latency" in r:
            row.append(f"{r['latency'][0]['median_ms']:.2f}")
        table.add_row(*row)
    console = stdout_console()
    console.print(table)
    libs = results[0]["environment"]["libraries"] if results else {}
    console.print(
        f"[dim]counters: fvcore {libs.get('fvcore')}, ptflops {libs.get('ptflops')} (backends named); "
        "what each skipped: lspd-bench profile MODEL[/]"
    )
