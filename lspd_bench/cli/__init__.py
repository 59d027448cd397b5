"""The ``lspd-bench`` command group. Each command parses options and calls one library function."""

from __future__ import annotations

import contextlib
import json
import math
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
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE before the command runs, so that the models and LSPD blocks it registers can be "
    "used (repeatable; installed or in the current folder). Installed packages' `lspd_bench.models` "
    "entry points need no option.",
)
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


def choice(values) -> click.Choice:
    """A click choice of an enum's values (``--runtime eager``), or of any other values, as written."""
    return click.Choice([getattr(v, "value", v) for v in values])


def knob_option(help: str):
    """``-k/--knob KEY=VALUE`` (repeatable): a model knob for the commands that build one model."""
    return click.option("-k", "--knob", "knobs", multiple=True, metavar="KEY=VALUE", help=help)


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


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 07 s``, ``1 h 05 min``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class PlainProgress:
    """The part of rich's ``Progress`` the commands use (``add_task``, ``update``, ``advance``), as plain lines
    for a stderr that is not a terminal (CI logs, files), where a live bar prints nothing: a line when a
    task starts, changes its description or finishes, and at most one per ``every_s`` seconds for its count
    alone, each with the elapsed time and the ETA from the rate so far."""

    def __init__(self, console, unit: str = "", every_s: float = 2.0):
        import time

        self.console, self.unit, self.clock, self.every_s = console, unit, time.monotonic, every_s
        self.tasks: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **_) -> int:
        self.tasks.append(
            {
                "description": description,
                "total": total,
                "completed": completed,
                "start": self.clock(),
                "said": -math.inf,
            }
        )
        self._say(len(self.tasks) - 1)
        return len(self.tasks) - 1

    def update(
        self,
        task: int,
        *,
        description: str | None = None,
        completed: float | None = None,
        advance: float | None = None,
        total: float | None = None,
        **_,
    ) -> None:
        t = self.tasks[task]
        before = (t["description"], t["completed"])
        if description is not None:
            t["description"] = description
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        if advance:
            t["completed"] += advance
        finished = t["total"] is not None and t["completed"] >= t["total"]
        if t["description"] != before[0] or (
            t["completed"] != before[1] and (finished or self.clock() - t["said"] >= self.every_s)
        ):
            self._say(task)

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def _say(self, task: int) -> None:
        t = self.tasks[task]
        t["said"] = self.clock()
        elapsed = t["said"] - t["start"]
        done, total = t["completed"], t["total"]
        eta = elapsed / done * (total - done) if total and done else None
        count = f" {done:g}/{total:g}{f' {self.unit}' if self.unit else ''}" if total else ""
        self.console.print(
            f"[{duration(elapsed)}, ETA {duration(eta)}] {t['description']}{count}",
            highlight=False,
            markup=False,
            soft_wrap=True,  # a log line is one line, whatever the console's width
        )


def stderr_progress(unit: str = "", refresh: bool = True):
    """Progress on stderr: on a terminal a transient rich bar (the task's description, a bar, done/total
    ``unit``, elapsed time and ETA); elsewhere the same as plain lines (:class:`PlainProgress`). Without
    ``refresh`` the bar is redrawn on updates only, by no background thread (nothing runs beside a timing)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = stderr_console()
    if not console.is_terminal:
        return PlainProgress(console, unit)
    count = TextColumn("{task.completed}/{task.total}" + (f" {unit}" if unit else ""))
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        count,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        auto_refresh=refresh,
    )


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
