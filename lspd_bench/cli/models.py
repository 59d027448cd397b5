"""``lspd-bench models``: the registered models and their knobs."""

from __future__ import annotations

import click

from lspd_bench.cli import echo_json, main, stdout_console


@main.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_command(as_json: bool) -> None:
    """List the registered models, their family, customary input size and knobs (constructor defaults)."""
    from lspd_bench.models import list_models

    entries = list_models()
    if as_json:
        echo_json(
            [
                {"name": e.name, "family": e.family, "default_input": list(e.default_input),
                 "description": e.description, "knobs": e.knobs}
                for e in entries
            ]  # fmt: skip
        )
        return
    from rich.table import Table

    table = Table(title="lspd-bench models (build with lspd_bench.models.build(name, **knobs))")
    for col in ("name", "family", "input HxW", "knobs (defaults)"):
        table.add_column(col, overflow="fold")
    for e in entries:
        knobs = ", ".join(f"{k}={v}" for k, v in e.knobs.items())
        table.add_row(e.name, e.family, "x".join(map(str, e.default_input)), knobs)
    stdout_console().print(table)
