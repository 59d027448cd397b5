"""The ``lspd-bench`` command group. Each command parses options and calls one library function."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from lspd_bench import __version__
from lspd_bench.errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lspd-bench")
def main() -> None:
    """Benchmark and ablate lightweight pose-distillation networks (LSPD)."""


@contextlib.contextmanager
def input_errors():
    """Turn the library's ``InputError`` into one clear line and exit code 2."""
    try:
        yield
    except InputError as exc:
        raise click.UsageError(str(exc)) from None


def echo_json(data) -> None:
    """Machine-readable output: one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def stdout_console(**kwargs):
    """A rich console on stdout for tables; 160 columns when it is not a terminal (CI logs, pipes), where
    rich would otherwise fold every table into 80 and cut the names."""
    from rich.console import Console

    console = Console(**kwargs)
    return console if console.is_terminal else Console(width=160, **kwargs)


def stderr_console():
    """A rich console on stderr, so that ``--json`` output on stdout stays clean."""
    from rich.console import Console

    return Console(stderr=True, file=sys.stderr)


def stderr_progress(unit: str = ""):
    """A transient rich progress bar on stderr: the task's description, a bar, done/total ``unit``,
    elapsed time and ETA."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    count = TextColumn("{task.completed}/{task.total}" + (f" {unit}" if unit else ""))
    return Progress(TextColumn("{task.description}"), BarColumn(), count, TimeElapsedColumn(), TimeRemainingColumn(),
                    console=stderr_console(), transient=True)  # fmt: skip


# Command modules register themselves on `main` when imported (one line each, in flow order).
from lspd_bench.cli import models as _models  # noqa: E402,F401
from lspd_bench.cli import profile as _profile  # noqa: E402,F401
from lspd_bench.cli import zoo as _zoo  # noqa: E402,F401
from lspd_bench.cli import train as _train  # noqa: E402,F401
from lspd_bench.cli import teacher as _teacher  # noqa: E402,F401
from lspd_bench.cli import eval as _eval  # noqa: E402,F401
from lspd_bench.cli import score as _score  # noqa: E402,F401
from lspd_bench.cli import data as _data  # noqa: E402,F401
from lspd_bench.cli import check as _check  # noqa: E402,F401
from lspd_bench.cli import report as _report  # noqa: E402,F401
from lspd_bench.cli import ablate as _ablate  # noqa: E402,F401
