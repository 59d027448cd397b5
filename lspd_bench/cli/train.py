"""``lspd-bench train``: one run from a config (preset ← YAML ← key=value), with progress and metrics."""

from __future__ import annotations

import os
import shlex

import click

from lspd_bench.cli import Output, echo_json, input_errors, main, stderr_console, stdout_console
from lspd_bench.train.files import HISTORY_STAGE, HISTORY_VAL_SECONDS


class TrainDisplay:
    """Rich progress bars fed by the training loop's events (epoch, loss, images/s, ETA)."""

    def __init__(self, console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.epochs = None
        self.steps = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "teacher_start":
            why = f" ({event['reason']})" if event.get("reason") else ""
            self.console.print(
                f"training the teacher {event['model']} once{why}: {event['epochs']} epochs into {event['dir']}"
            )
        elif kind == "epoch_start":
            if self.epochs is None or self.bar.tasks[self.epochs].total != event["epochs"]:
                self.epochs = self.bar.add_task("epochs", total=event["epochs"], info="")
                self.steps = self.bar.add_task("steps", total=event["steps"], info="")
            self.bar.update(self.epochs, completed=event["epoch"])
            self.bar.reset(self.steps, total=event["steps"], info="")
        elif kind == "step":
            self.bar.update(
                self.steps, completed=event["step"], info=f"loss {event['loss']:.5f}  {event['images_per_s']:.0f} img/s"
            )
        elif kind == "epoch_end":
            self.bar.update(self.epochs, completed=event["epoch"] + 1)
            stage = HISTORY_STAGE.partition("{")[0]
            vals = "  ".join(f"{k} {v:.2f}" for k, v in event.items() if k.startswith(stage))
            took = f"  (validation {event[HISTORY_VAL_SECONDS]:.1f} s)" if HISTORY_VAL_SECONDS in event else ""
            self.console.print(f"epoch {event['epoch'] + 1}/{event['epochs']}: loss {event['loss']:.5f}  {vals}{took}")
        elif kind == "init":
            self.console.print(event["line"])
        elif kind == "evaluate":
            self.console.print(f"evaluating the final model (flip test {'on' if event['flip_test'] else 'off'})")


def config_and_data(preset: str | None, args: tuple[str, ...], console):
    """The run config of ``[CONFIG.yaml] [key=value ...]`` on ``preset``, and its data (generated once, then
    cached, behind a spinner). Bad input raises ``InputError`` (an impossible device or precision too, before
    anything is written), or ``UsageError`` for two YAML files."""
    from lspd_bench.config import check_locations, load_config, parse_overrides
    from lspd_bench.data.build import build_data
    from lspd_bench.train.loop import device_and_precision

    files = [a for a in args if "=" not in a]
    if len(files) > 1:
        raise click.UsageError(f"one CONFIG.yaml at most, got {', '.join(files)}")
    cfg = load_config(preset, files[0] if files else None, parse_overrides(a for a in args if "=" in a))
    check_locations(cfg)
    device_and_precision(cfg)
    with console.status("preparing the data (generated once, then cached) …"):
        return cfg, build_data(cfg)


@main.command("train")
@click.argument("args", nargs=-1)
@click.option("--preset", help="ci, quick or paper (lspd_bench/presets/NAME.yaml).")
@click.option("--out", type=Output(folder=True), help="Run folder (default: runs/train/<config hash>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option(
    "--ship-init",
    "ship_as",
    metavar="NAME",
    help="Also write the trained weights into the package as the initialisation NAME (`init=NAME`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json instead of the table.")
def train_command(args, preset, out, resume, ship_as, as_json) -> None:
    """Train one model: [CONFIG.yaml] [key=value ...], e.g. `train --preset quick stages=3 distill=teacher`."""
    from lspd_bench.evaluation.run import train_and_evaluate
    from lspd_bench.train.build import identity, run_id
    from lspd_bench.train.init import ship_init, shipped_init_path
    from lspd_bench.train.loop import RunFailed

    console = stderr_console()
    with input_errors():
        if ship_as is not None:
            shipped_init_path(ship_as)  # a bad name is refused before anything trains
        cfg, bundle = config_and_data(preset, args, console)
        if out is None:
            out = f"runs/train/{run_id(identity(cfg, bundle.num_joints, bundle.fingerprint))}"
        try:
            if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
                train_and_evaluate(cfg, out, resume=resume, bundle=bundle)
                return
            with TrainDisplay(console) as display:
                metrics = train_and_evaluate(cfg, out, resume=resume, progress=display, bundle=bundle)
        except RunFailed as exc:
            raise click.ClickException(str(exc)) from None
        if ship_as is not None:
            command = shlex.join(["lspd-bench", "train", *args, *(["--preset", preset] if preset else [])])
            metrics["shipped_init"] = str(ship_init(ship_as, out, metrics, command))
    if as_json:
        echo_json(metrics)
    else:
        print_metrics(metrics, out)


def print_stage_table(metrics: dict) -> None:
    """The per-stage accuracy table of a metrics dict, the deploy stage marked, conventions below it."""
    from rich.table import Table

    stages = metrics["stages"]
    cols = [k for k in stages[0] if k != "stage"]
    table = Table(
        title=f"{metrics['headline_name']} per stage on the validation split "
        f"(flip test {'on' if metrics['flip_test'] else 'off'})"
    )
    table.add_column("stage")
    for c in cols:
        table.add_column(c, justify="right")
    for s in stages:
        mark = " (deploy)" if s["stage"] == metrics["deploy_stage"] else ""
        table.add_row(f"{s['stage']}{mark}", *("-" if s[c] is None else f"{s[c]:.2f}" for c in cols))
    console = stdout_console()
    console.print(table)
    for line in metrics["conventions"]:
        console.print(f"[dim]convention: {line}[/]")


def print_metrics(metrics: dict, out: str) -> None:
    """A training run's table, and how it was trained."""
    print_stage_table(metrics)
    t = metrics["train"]
    stdout_console().print(
        f"loss: {metrics['loss']['description']}; distillation: {metrics['distill']['mode']}; "
        f"{metrics['schedule']['epochs']} epochs, {t['seconds_total']:.0f} s training, "
        f"{t['images_per_s']:.0f} img/s in {t['precision']} on {metrics['environment']['device']}; run "
        f"{metrics['run']} in {out}"
        + (f"; shipped as {metrics['shipped_init']}" if metrics.get("shipped_init") else "")
    )
