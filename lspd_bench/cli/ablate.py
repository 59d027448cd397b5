"""``lspd-bench ablate``: run a matrix of variants (train → evaluate → profile) into one results table."""

from __future__ import annotations

import sys

import click

from lspd_bench.ablate.executors import EXECUTORS, ClusterOptions
from lspd_bench.cost.counters import FVCORE
from lspd_bench.ablate.schema import Status
from lspd_bench.cli import Output, duration, echo_json, input_errors, main, stderr_console, stdout_console


def _fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


_STYLE = {
    Status.DONE: "green",
    Status.FAILED: "red",
    Status.RUNNING: "cyan",
    Status.TRAINED: "cyan",
    Status.BUSY: "yellow",
    Status.PENDING: "dim",
}


def render_state(state: dict):
    """The live view: shared work, then one row per cell (state, epoch, metric), then counts and ETA."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts = []
    for item in state["shared"]:
        extra = f" epoch {item['epoch']}/{item['epochs']}" if item.get("epoch") else ""
        parts.append(Text(f"{item['what']}: {item['description']} — {item['state']}{extra}"))
    table = Table(box=None, pad_edge=False)
    for col, justify in (
        ("cell", "left"),
        ("variant", "left"),
        ("state", "left"),
        ("epoch", "right"),
        ("metric", "right"),
        ("latency ratio", "right"),
        ("", "left"),
    ):
        table.add_column(col, justify=justify)
    for c in state["cells"]:
        epoch = f"{c['epoch']}/{c['epochs']}" if c.get("epochs") else ""
        if c.get("phase") == "evaluate":
            epoch = "evaluating"
        note = c.get("error") or ""
        label = c["state"] if c["state"] != Status.TRAINED else "awaiting latency"
        table.add_row(
            c["cell"],
            c["label"],
            Text(label, style=_STYLE.get(c["state"], "")),
            epoch,
            _fmt(c.get("metric")),
            _fmt(c.get("latency_ratio")),
            Text(note, style="red"),
        )
    counts = ", ".join(f"{n} {s}" for s, n in state["counts"].items())
    parts += [
        table,
        Text(
            f"{state['phase']} · {counts} · elapsed {duration(state['elapsed_s'])} · ETA {duration(state['eta_s'])}",
            style="bold",
        ),
    ]
    return Group(*parts)


class LiveView:
    """A rich Live table on stderr, redrawn on each state event (no background refresh thread, so the
    latency phase measures with nothing else running)."""

    def __init__(self, console):
        from rich.live import Live

        self.live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        return self.live.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        if event["event"] == "state":
            self.live.update(render_state(event), refresh=True)


class LogView:
    """The live view as plain lines, for a stderr that is not a terminal (CI logs, files): one line per change
    of phase, of shared work and of a cell's state or epoch, each with the elapsed time and the ETA."""

    def __init__(self, console):
        self.console = console
        self.seen: dict[str, str] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def say(self, key: str, text: str, event: dict) -> None:
        if self.seen.get(key) != text:
            self.seen[key] = text
            self.console.print(
                f"[{duration(event['elapsed_s'])}, ETA {duration(event['eta_s'])}] {text}",
                highlight=False,
                markup=False,
                soft_wrap=True,  # a log line is one line, whatever the console's width
            )

    def __call__(self, event: dict) -> None:
        if event["event"] != "state":
            return
        self.say("phase", event["phase"], event)
        for item in event["shared"]:
            epoch = f" epoch {item['epoch']}/{item['epochs']}" if item.get("epoch") else ""
            self.say(
                f"shared {item['description']}",
                f"{item['what']}: {item['description']} — {item['state']}{epoch}",
                event,
            )
        for c in event["cells"]:
            training = c["state"] == Status.RUNNING and event["phase"].startswith("training")
            detail = f" epoch {c['epoch']}/{c['epochs']}" if c.get("epochs") and training else ""
            detail += (
                f" {c['metric']:.2f}"
                if c.get("metric") is not None and c["state"] in (Status.TRAINED, Status.DONE)
                else ""
            )
            detail += f": {c['error']}" if c.get("error") else ""
            self.say(f"cell {c['cell']}", f"cell {c['cell']} ({c['label']}): {c['state']}{detail}", event)


def print_dry_run(plan: dict) -> None:
    from rich.table import Table

    console = stdout_console()
    m = plan["matrix"]
    title = f"matrix {m['name']} ({m['source']}, preset {m['preset']}): {len(plan['cells'])} cells → {plan['out']}"
    bases: list[str] = []  # the calibrations behind the estimates, numbered once each

    def estimate(item: dict) -> str:
        text = duration(item.get("estimate_s"))
        basis = item.get("basis")
        if item.get("estimate_s") and basis and basis not in ("timed here", "ready"):
            if basis not in bases:
                bases.append(basis)
            text = f"~{text} [{bases.index(basis) + 1}]"
        return text

    table = Table(title=title)
    for col in ("variant", "state", "cell", "estimate"):
        table.add_column(col)
    for c in plan["cells"]:
        est = "" if c["state"] in (Status.DONE, Status.FAILED) else estimate(c)
        state = c["state"] + (f" at epoch {c['epochs_done']}" if c.get("epochs_done") else "")
        table.add_row(c["label"] or "(base config)", state, c["cell"] or "-", est)
    console.print(table)
    for s in plan["shared"]:
        console.print(
            f"shared: {s['what']} {s['description']} — {s['state']}" + (f" ({estimate(s)})" if s["estimate_s"] else "")
        )
    console.print(f"devices: {plan['devices']['text']}", highlight=False, markup=False)
    e = plan["estimate_s"]
    console.print(
        f"estimate: ~{duration(e['wall'])} wall = shared {duration(e['shared'])} + cells "
        f"{duration(e['cells'])} / {plan['slots']} at a time ({plan['threads']} thread(s) each on "
        f"{plan['cores']} cores) + latency {duration(e['latency'])}"
    )
    for i, basis in enumerate(bases, start=1):
        console.print(f"[{i}] {basis}", highlight=False, markup=False)
    if e["unknown"]:
        console.print(
            f"[yellow]{e['unknown']} item(s) neither timed on this machine nor calibrated (a real "
            "dataset's size is not read by a dry run) are not in the estimate[/]"
        )
    for w in plan["warnings"]:
        console.print(f"[yellow]warning: {w}[/]")


def print_summary(summary: dict) -> None:
    from rich.table import Table

    console = stdout_console()
    table = Table(title=f"matrix {summary['matrix']['name']}: {summary['out']}")
    for col in ("cell", "variant", "status", "headline", "params (deploy)", "GMACs (fvcore)", "latency ms", "ratio"):
        table.add_column(col, justify="left" if col in ("cell", "variant", "status") else "right")
    for c in summary["cells"]:
        params = "-" if c["params_deploy"] is None else f"{c['params_deploy'] / 1e6:.3f}M"
        table.add_row(
            c["cell"],
            c["label"],
            c["status"],
            _fmt(c["headline"]),
            params,
            _fmt(c[FVCORE.column], ".4f"),
            _fmt(c["latency_ms"]),
            _fmt(c["latency_ratio"]),
        )
    console.print(table)
    s = summary["seconds"]
    counts = ", ".join(f"{n} {state}" for state, n in summary["counts"].items())
    console.print(
        f"{counts} in {duration(s['total'])} (data {duration(s['data'])}, teachers "
        f"{duration(s['teachers'])}, cells {duration(s['cells'])} on {summary['slots']} slot(s) × "
        f"{summary['threads']} thread(s), latency {duration(s['latency'])})"
    )
    console.print(f"devices: {summary['devices']['text']}", highlight=False, markup=False)
    results = summary["results"]
    console.print(f"results: {results['csv']}" + (f" and {results['parquet']}" if results.get("parquet") else ""))
    for c in summary["cells"]:
        if c["status"] == Status.FAILED:
            console.print(f"[red]failed: {c['cell']} ({c['label']}): {c['error']}[/]")
    if summary["failed"]:
        console.print("rerun with --retry-failed to run the failed cells again")
    for w in summary["warnings"]:
        console.print(f"[yellow]warning: {w}[/]")


@main.command("ablate")
@click.argument("args", nargs=-1)
@click.option("--preset", help="ci, quick or paper (default: the matrix file's, else quick).")
@click.option("--dataset", help="synth, mpii or coco (for every cell; mpii/coco need data_dir=...).")
@click.option("--out", type=Output(folder=True), help="Matrix folder (default: runs/<matrix name or hash>).")
@click.option("--jobs", type=int, help="Cells at once (default: the executor's, see --executor; on CUDA, one per GPU).")
@click.option(
    "--threads",
    type=int,
    help="Torch threads each cell trains with (default 1, whatever --jobs: a "
    "cell's figures depend on it, and a folder keeps one count).",
)
@click.option(
    "--gpus-per-cell",
    type=int,
    metavar="N",
    help="On CUDA: GPUs each cell trains on, with DDP under torchrun when more than one (default 1); a local "
    "pool then runs GPUs // N cells at once, each process pinned to its own.",
)
@click.option(
    "--executor",
    metavar="NAME",
    default="local",
    show_default=True,
    help="Where the cells run: "
    + "; ".join(f"{k.name} — {k.help}" for k in EXECUTORS.values())
    + "; or an executor a plugin registers.",
)
@click.option("--address", help="Ray cluster address (--executor ray; default: start a local one).")
@click.option("--cluster", help="submitit cluster: slurm, local or debug (default: slurm when available).")
@click.option("--partition", help="SLURM partition (--executor submitit).")
@click.option(
    "--timeout-min",
    type=int,
    default=ClusterOptions.timeout_min,
    show_default=True,
    help="submitit job time limit (min).",
)
@click.option("--retry-failed", is_flag=True, help="Run the cells that failed before again.")
@click.option("--dry-run", is_flag=True, help="List the cells and the shared work with a time estimate; run nothing.")
@click.option(
    "--calibrate/--no-calibrate",
    default=True,
    show_default=True,
    help="With --dry-run: estimate work never timed on this machine by timing a few of its training steps "
    "now (seconds; imports torch). Without: such work is left out of the estimate.",
)
@click.option(
    "--latency-min-time",
    type=float,
    default=1.0,
    show_default=True,
    help="Minimum seconds of timed calls per latency figure.",
)
@click.option("--json", "as_json", is_flag=True, help="No live view; print the summary as JSON.")
def ablate_command(
    args,
    preset,
    dataset,
    out,
    jobs,
    threads,
    gpus_per_cell,
    executor,
    address,
    cluster,
    partition,
    timeout_min,
    retry_failed,
    dry_run,
    calibrate,
    latency_min_time,
    as_json,
) -> None:
    """Train, evaluate and profile every cell of a matrix: [MATRIX.yaml] [key=spec ...].

    key=a..b is an inclusive integer range (stages=1..4 is 1, 2, 3, 4; Hydra's range(1,5) excludes 5),
    key=a,b,c a list, key=v a fixed value; several keys make the Cartesian product, seed=0..2 repeats it.
    Rerunning the same command skips finished cells and resumes interrupted ones from their last
    checkpoint. Exits 1 when a cell failed (the others still run), 2 on bad input.
    """
    from lspd_bench.ablate.matrix import load_matrix
    from lspd_bench.ablate.plan import dry_run as plan_dry_run
    from lspd_bench.config import check_locations
    from lspd_bench.fileio import check_output

    files = [a for a in args if "=" not in a]
    if len(files) > 1:
        raise click.UsageError(f"one MATRIX.yaml at most, got {', '.join(files)}")
    with input_errors():
        matrix = load_matrix(files[0] if files else None, [a for a in args if "=" in a], preset=preset, dataset=dataset)
        out_dir = check_output(out or matrix.default_out(), folder=True, what="--out")
        for cfg in {(c.config.cache_dir, c.config.data_dir): c.config for c in matrix.cells}.values():
            check_locations(cfg)
        if dry_run:
            plan = plan_dry_run(
                matrix,
                out_dir,
                jobs=jobs,
                threads=threads,
                executor=executor,
                retry_failed=retry_failed,
                latency_min_time_s=latency_min_time,
                calibrate=calibrate,
                gpus_per_cell=gpus_per_cell,
            )
            echo_json(plan) if as_json else print_dry_run(plan)
            return
        from lspd_bench.ablate.run import run_matrix

        options = dict(
            jobs=jobs,
            threads=threads,
            executor=executor,
            retry_failed=retry_failed,
            cluster=ClusterOptions(address, cluster, partition, timeout_min),
            latency_min_time_s=latency_min_time,
            gpus_per_cell=gpus_per_cell,
        )
        console = stderr_console()
        try:
            if as_json:
                summary = run_matrix(matrix, out_dir, **options)
            else:
                for w in matrix.warnings:
                    console.print(f"[yellow]warning: {w}[/]")
                with (LiveView if console.is_terminal else LogView)(console) as view:
                    summary = run_matrix(matrix, out_dir, progress=view, **options)
        except KeyboardInterrupt:
            console.print(f"interrupted: rerun the same command to resume ({out_dir})")
            sys.exit(130)
    if as_json:
        echo_json(summary)
    else:
        print_summary(summary)
    if summary["failed"]:
        sys.exit(1)
