"""``lspd-bench profile``: parameters, MACs (fvcore, ptflops), latency and memory of one model."""

from __future__ import annotations

import os

import click

from lspd_bench.cli import choice, echo_json, input_errors, knob_option, main, stderr_progress, stdout_console
from lspd_bench.config import Runtime


def parse_hw(_ctx, _param, value: str | None) -> tuple[int, int] | None:
    """``256x192`` → (256, 192)."""
    if value is None:
        return None
    h, sep, w = value.lower().partition("x")
    if not sep or not h.strip().isdigit() or not w.strip().isdigit():
        raise click.BadParameter(f"{value!r} is not of the form HxW, e.g. 256x192")
    return int(h), int(w)


def parse_threads(_ctx, _param, value: str) -> list[int]:
    """``1,all`` → [1, cpu_count]."""
    out = []
    for part in value.split(","):
        part = part.strip().lower()
        if part == "all":
            out.append(os.cpu_count() or 1)
        elif part.lstrip("-").isdigit():
            out.append(int(part))
        else:
            raise click.BadParameter(f"{part!r} is not a thread count (an integer or 'all')")
    return out


@main.command("profile")
@click.argument("model")
@click.option("--input", "input_hw", callback=parse_hw, help="Input HxW in px (default: the model's customary size).")
@click.option("--joints", type=int, help="Number of joints J (heatmap channels).")
@click.option("--deploy/--full", default=True, show_default=True, help="Measure the deploy model or the full one.")
@click.option(
    "--threads",
    default="1,all",
    show_default=True,
    callback=parse_threads,
    help="Thread counts to time at, comma-separated ('all' = every core).",
)
@click.option("--batch", default=8, show_default=True, help="Batch size for the throughput figure.")
@click.option("--runtime", type=choice(Runtime), default=Runtime.EAGER.value, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@knob_option("Model knob override, e.g. -k stages=3 -k block=basic (see `lspd-bench models`).")
@click.option("--iters", default=50, show_default=True, help="Minimum timed iterations (>= 50).")
@click.option("--warmup", default=10, show_default=True, help="Warm-up iterations (>= 10).")
@click.option("--min-time", default=1.0, show_default=True, help="Minimum timed seconds per figure.")
@click.option("--no-latency", is_flag=True, help="Skip the timing (parameters, MACs and memory only).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def profile_command(
    model,
    input_hw,
    joints,
    deploy,
    threads,
    batch,
    runtime,
    device,
    knobs,
    iters,
    warmup,
    min_time,
    no_latency,
    as_json,
) -> None:
    """Cost of MODEL: parameters, GMACs from fvcore and ptflops, latency, throughput, peak memory."""
    from lspd_bench.config import parse_overrides
    from lspd_bench.cost import profile_model

    with input_errors():
        overrides = parse_overrides(knobs)
        with stderr_progress("steps", refresh=False) as bar:  # no redraw thread beside the timing
            task = bar.add_task(f"profiling {model}")

            def step(what: str, done: int, total: int) -> None:
                bar.update(task, description=f"profiling {model}: {what}", completed=done, total=total)

            result = profile_model(
                model,
                input_hw=input_hw,
                joints=joints,
                deploy=deploy,
                threads=threads,
                batch=batch,
                runtime=runtime,
                device=device,
                knobs=overrides,
                latency=not no_latency,
                warmup=warmup,
                iters=iters,
                min_time_s=min_time,
                on_step=step,
            )
    if as_json:
        echo_json(result)
    else:
        print_profile(result)


def print_profile(result: dict) -> None:
    """The profile as rich tables on stdout."""
    from rich.table import Table

    console = stdout_console()
    h, w = result["input"]
    p = result["params"]
    console.print(
        f"[bold]{result['model']}[/] ({result['family']}) at {h}x{w}, measuring the [bold]{result['measured']}[/] "
        f"model — params: full {p['full'] / 1e6:.3f} M, deploy {p['deploy'] / 1e6:.3f} M"
    )
    macs = Table(title="MACs (batch 1, eval mode; 1 GMAC = 10^9 multiply-accumulates)")
    for col in ("counter", "library", "GMACs", "skipped / not counted (occurrences)"):
        macs.add_column(col, overflow="fold")
    for c in result["macs"]:
        figure = f"{c['gmacs']:.4f}" if c["macs"] is not None else f"[red]failed: {c['error']}[/]"
        skipped = ", ".join(f"{k}×{v}" for k, v in c["skipped"].items()) or "none"
        if c["note"]:
            skipped += f"; {c['note']}"
        macs.add_row(c["counter"], c["library"], figure, skipped)
    console.print(macs)
    if "latency" in result:
        lat = Table(title=f"Latency ({result['environment']['device']}: {result['environment']['cpu']})")
        for col in ("runtime", "threads", "batch", "median ms", "p90 ms", "min ms", "IQR ms", "img/s", "calls"):
            lat.add_column(col, justify="right")
        for r in result["latency"]:
            lat.add_row(
                r["runtime"],
                str(r["threads"]),
                str(r["batch"]),
                f"{r['median_ms']:.2f}",
                f"{r['p90_ms']:.2f}",
                f"{r['min_ms']:.2f}",
                f"{r['iqr_ms']:.2f}",
                f"{r['throughput_img_s']:.1f}",
                str(r["iters"]),
            )
        console.print(lat)
    m = result["memory"]
    console.print(
        f"peak forward memory (batch 1): activations {m['peak_activation_bytes'] / 2**20:.1f} MiB above "
        f"weights {m['weights_bytes'] / 2**20:.1f} MiB and input {m['input_bytes'] / 2**20:.2f} MiB ({m['method']})"
    )
    libs = ", ".join(f"{k} {v}" for k, v in result["environment"]["libraries"].items())
    console.print(f"[dim]environment: {result['environment']['python']} python, {libs}[/]")
    for line in result["conventions"]:
        console.print(f"[dim]convention: {line}[/]")
