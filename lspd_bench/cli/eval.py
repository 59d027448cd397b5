"""``lspd-bench eval``: score a trained run or checkpoint on its validation split."""

from __future__ import annotations

import click

from lspd_bench.cli import Output, echo_json, input_errors, main, stderr_console
from lspd_bench.config import Boxes


@main.command("eval")
@click.argument("target", type=click.Path(exists=True))
@click.option(
    "--split",
    type=click.Choice(["val"]),
    default="val",
    show_default=True,
    help="The split with ground truth (test splits have none).",
)
@click.option("--flip/--no-flip", default=True, show_default=True, help="Flip test (published numbers use it).")
@click.option(
    "--boxes",
    default=Boxes.GT.value,
    show_default=True,
    help="COCO person boxes: 'gt' (inflates AP) or a detection-results JSON file.",
)
@click.option("--out", type=Output(folder=True), help="Folder for metrics.json and the predictions.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json instead of the table.")
def eval_command(target, split, flip, boxes, out, as_json) -> None:
    """Evaluate TARGET (a run folder or a checkpoint file) exactly per protocol."""
    from lspd_bench.cli.train import print_stage_table
    from lspd_bench.evaluation.run import evaluate_checkpoint

    with input_errors(), stderr_console().status("evaluating …"):
        metrics = evaluate_checkpoint(
            target, flip_test=flip, detections=None if boxes == Boxes.GT else boxes, out_dir=out
        )
    if as_json:
        echo_json(metrics)
        return
    print_stage_table(metrics)
    click.echo(f"person boxes: {metrics['boxes']}" if metrics["boxes"] else "", nl=bool(metrics["boxes"]))
    click.echo(
        f"wrote {metrics['out_dir']}/metrics.json and {metrics['predictions_file']} ({metrics['seconds']:.1f} s)"
    )
