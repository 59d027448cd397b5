"""``lspd-bench models``: the registered models and their knobs, or one model checked against the contract."""

from __future__ import annotations

import click

from lspd_bench.cli import echo_json, input_errors, knob_option, main, stdout_console


def _sizes(_ctx, _param, values: tuple[str, ...]) -> list[tuple[int, int]]:
    from lspd_bench.cli.profile import parse_hw

    return [parse_hw(_ctx, _param, v) for v in values]


@main.command("models")
@click.option(
    "--check",
    "check_name",
    metavar="NAME",
    help="Check model NAME against the model contract (shapes at two input sizes, deploy() against the "
    "full model, the MAC counters); exit 1 when a check fails.",
)
@knob_option("With --check: a knob to build the model with, e.g. -k block=basic (repeatable).")
@click.option(
    "--size",
    "sizes",
    multiple=True,
    callback=_sizes,
    metavar="HxW",
    help="With --check: an input size to check the heatmaps at (repeatable) [default: 256x192 and 128x96, "
    "each rounded up to the model's stride].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_command(check_name: str | None, knobs: tuple[str, ...], sizes: list, as_json: bool) -> None:
    """List the registered models (plugins' included), their family, customary input size and knobs
    (constructor defaults); or, with --check NAME, check one against the model contract."""
    if check_name is not None:
        check_command(check_name, knobs, sizes, as_json)
        return
    if knobs or sizes:
        raise click.UsageError("-k/--knob and --size go with --check NAME")
    from lspd_bench.models import list_models

    with input_errors():
        entries = list_models()
    if as_json:
        echo_json(
            [
                {
                    "name": e.name,
                    "family": e.family,
                    "default_input": list(e.default_input),
                    "description": e.description,
                    "knobs": e.knobs,
                    "plugin": e.plugin,
                }
                for e in entries
            ]
        )
        return
    from rich.table import Table

    from lspd_bench.plugins import describe

    table = Table(title="lspd-bench models (build with lspd_bench.models.build(name, **knobs))")
    for col in ("name", "family", "input HxW", "knobs (defaults)", "from"):
        table.add_column(col, overflow="fold")
    for e in entries:
        knobs_text = ", ".join(f"{k}={v}" for k, v in e.knobs.items())
        table.add_row(e.name, e.family, "x".join(map(str, e.default_input)), knobs_text, describe(e.plugin))
    stdout_console().print(table)


def check_command(name: str, knobs: tuple[str, ...], sizes: list, as_json: bool) -> None:
    """Print each check with ✓ or ✗ and what it saw; exit 1 when one failed."""
    from lspd_bench.config import parse_overrides
    from lspd_bench.cost.contract import SIZES, check_model

    with input_errors():
        overrides = parse_overrides(knobs)
        findings = check_model(name, overrides, sizes or SIZES)
    passed = all(f.passed for f in findings)
    if as_json:
        echo_json({"model": name, "knobs": overrides, "passed": passed, "checks": [f.to_dict() for f in findings]})
    else:
        shown = f"{name}" + (f" ({', '.join(knobs)})" if knobs else "")
        for f in findings:
            click.echo(f"{'✓' if f.passed else '✗'} {f.check}: {f.detail}")
        failed = sum(not f.passed for f in findings)
        click.echo(
            f"{shown} meets the model contract" if passed else f"{shown}: {failed} of {len(findings)} checks failed"
        )
    if not passed:
        click.get_current_context().exit(1)
