"""The ``lspd-bench`` command group. Each command parses options and calls one library function."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from lspd_bench import __version__
from lspd_bench.errors import InputError


@contextlib.contextmanager
def input_errors():
    """Turn the library's ``InputError`` into one clear line and exit code 2."""
    try:
        yield
    except InputError as exc:
        raise click.UsageError(str(exc)) from None


#: Commands that build models: the plugins load before they start, so that one at fault stops them before
#: they write anything (``ablate`` loads them while validating its matrix; the others need no model).
_BUILDING_COMMANDS = ("train", "teacher", "eval", "profile", "zoo", "models")
_HELP = ("-h", "--help")


class _Group(click.Group):
    """The command group: an ``InputError`` that a command does not catch itself (a plugin that fails to load
    when the registry is first used, say) is one line and exit code 2 too."""

    def invoke(self, ctx: click.Context):
        # The command's own arguments, which the group's callback no longer sees: is it asking for help?
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
        ctx.meta["lspd_bench.help"] = bool(set(rest) & set(_HELP))
        with input_errors():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": list(_HELP)})
@click.version_option(__version__, prog_name="lspd-bench")
@click.option("--import", "imports", multiple=True, metavar="MODULE",
              help="Import MODULE before the command runs, so that the models and LSPD blocks it registers can be "
                   "used (repeatable; installed or in the current folder). Installed packages' `lspd_bench.models` "
                   "entry points need no option.")  # fmt: skip
@click.pass_context
def main(ctx: click.Context, imports: tuple[str, ...]) -> None:
    """Benchmark and ablate lightweight pose-distillation networks (LSPD)."""
    from lspd_bench import plugins

    ctx.with_resource(plugins.session())  # this command's modules are forgotten when it ends
    with input_errors():
        plugins.request(imports, "--import")
        if ctx.invoked_subcommand in _BUILDING_COMMANDS and not ctx.meta.get("lspd_bench.help"):
            plugins.ensure_loaded()


class Output(click.ParamType):
    """An output path, checked when the command line is read (before anything is written): its parent
    chain must be folders and writable, and a folder or a file must not be the other."""

    name = "path"

    def __init__(self, folder: bool):
        self.folder = folder

    def convert(self, value, param, ctx):
        from lspd_bench.fileio import check_output

        try:
            return check_output(value, folder=self.folder, what=param.opts[0] if param else "output")
        except InputError as exc:
            self.fail(str(exc).removeprefix(f"{param.opts[0]} " if param else ""), param, ctx)


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
