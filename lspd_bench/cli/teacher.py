"""``lspd-bench teacher``: train a preset's teacher (and ship it inside the package), list the shipped ones."""

from __future__ import annotations

import shlex

import click

from lspd_bench.cli import echo_json, input_errors, main, stderr_console, stdout_console


@main.group("teacher")
def teacher_group() -> None:
    """The teachers that distilled cells learn from: shipped in the package, or trained once into the cache."""


@teacher_group.command("train")
@click.argument("args", nargs=-1)
@click.option("--preset", help="ci, quick or paper (lspd_bench/presets/NAME.yaml).")
@click.option(
    "--ship", is_flag=True, help="Also write it into the package (lspd_bench/weights/), for every matching cell."
)
@click.option("--json", "as_json", is_flag=True, help="Print the teacher's record as JSON.")
def teacher_train(args, preset, ship, as_json) -> None:
    """Train the teacher of a config into the cache: [CONFIG.yaml] [key=value ...], e.g. `--preset quick`.

    The teacher's schedule is the config's teacher_epochs and teacher_lr; an interrupted training resumes.
    """
    from lspd_bench.cli.train import TrainDisplay, config_and_data
    from lspd_bench.evaluation.run import ship_teacher, train_teacher
    from lspd_bench.train.loop import resolve_device

    console = stderr_console()
    with input_errors():
        cfg, bundle = config_and_data(preset, args, console)
        with TrainDisplay(console) as display:
            model, record = train_teacher(cfg, bundle, resolve_device(cfg.device), display, reason="asked for")
        command = shlex.join(["lspd-bench", "teacher", "train", *(["--preset", preset] if preset else []), *args])
        shipped = str(ship_teacher(cfg, model, record, command, preset)) if ship else None
    out = {k: v for k, v in record.items() if k not in ("identity", "history")} | {"shipped": shipped}
    if as_json:
        echo_json({**out, "history": record["history"]})
        return
    from lspd_bench.report.stats import teacher_knobs_text

    stdout_console().print(
        f"teacher {record['model']} ({teacher_knobs_text(record)}): {record['headline_name']} "
        f"{record['headline']:.2f} on the validation split (flip test "
        f"{'on' if record['flip_test'] else 'off'}), {record['epochs']} epochs at lr "
        f"{record['lr']:g}; in {record['dir']}" + (f"; shipped as {shipped}" if shipped else "")
    )


@teacher_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the shipped teachers as JSON.")
def teacher_list(as_json) -> None:
    """The teachers shipped in the package: the data and config each is bound to, and its validation figure."""
    from rich.table import Table

    from lspd_bench.report.stats import teacher_knobs_text
    from lspd_bench.train.shipped import load_shipped, shipped_files

    rows = []
    with input_errors():
        for path in shipped_files():
            data = load_shipped(path)
            ident, rec = data["identity"], data.get("record", {})
            rows.append(
                {
                    "file": path.name,
                    "bytes": path.stat().st_size,
                    "model": ident["model"],
                    "knobs": rec.get("knobs"),
                    "synth_preset": ident.get("synth_preset"),
                    "dataset": ident["dataset"],
                    "input_size": ident["input_size"],
                    "fingerprint": ident["dataset_fingerprint"],
                    "epochs": ident["epochs"],
                    "lr": ident["lr"],
                    "headline_name": rec.get("headline_name"),
                    "headline": rec.get("headline"),
                    "command": rec.get("command"),
                }
            )
    if as_json:
        echo_json(rows)
        return
    table = Table(title="shipped teachers (a cell uses one when its data and teacher config are the same)")
    for col in ("file", "model", "data", "input", "epochs", "validation", "MB", "trained by"):
        table.add_column(col, justify="right" if col in ("epochs", "MB") else "left")
    for r in rows:
        data = f"{r['dataset']} {r['synth_preset'] or ''} ({r['fingerprint'][:12]})"
        fig = f"{r['headline_name']} {r['headline']:.2f}" if r["headline"] is not None else "-"
        table.add_row(
            r["file"],
            f"{r['model']} ({teacher_knobs_text(r)})",
            data,
            "x".join(map(str, r["input_size"])),
            str(r["epochs"]),
            fig,
            f"{r['bytes'] / 1e6:.1f}",
            r["command"] or "",
        )
    stdout_console().print(table)
