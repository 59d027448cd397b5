"""``lspd-bench data``: generate the synthetic benchmark, look at samples, validate datasets."""

from __future__ import annotations

import time

import click
import yaml

from lspd_bench.cli import Output, choice, echo_json, input_errors, main, stderr_progress, stdout_console
from lspd_bench.config import SEED_RANGE, Dataset, SynthPreset
from lspd_bench.errors import InputError


@click.group()
def data() -> None:
    """Datasets: the synthetic pose benchmark, MPII and COCO checks, sample grids."""


def _overrides(pairs: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs (values parsed as YAML, lists become tuples) → a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(f"--set {key}: cannot parse value {value!r}") from None
        out[key.strip()] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


@data.command("synth")
@click.option("--out", "out_dir", required=True, type=Output(folder=True), help="Output directory.")
@click.option(
    "--preset",
    "preset_name",
    default=SynthPreset.STANDARD.value,
    show_default=True,
    type=choice(SynthPreset),
    help="Sizes and difficulty.",
)
@click.option("--n-train", type=click.IntRange(min=1), help="Training samples (overrides the preset).")
@click.option("--n-val", type=click.IntRange(min=1), help="Validation samples (overrides the preset).")
@click.option("--size", type=int, help="Image side in px (overrides the preset).")
@click.option(
    "--seed", type=click.IntRange(*SEED_RANGE), default=0, show_default=True, help="Same seed and version → same bytes."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a SynthConfig knob, e.g. --set occluder_prob=0.5 (repeatable).",
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Rendering processes.")
@click.option("--png", is_flag=True, help="Also write every image as images/{split}/NNNNNN.png.")
@click.option("--json", "as_json", is_flag=True, help="Print meta.json content as JSON.")
def synth_command(out_dir, preset_name, n_train, n_val, size, seed, sets, workers, png, as_json) -> None:
    """Render the synthetic pose benchmark (MPII + COCO annotations, images as .npy arrays)."""
    from lspd_bench.data.synth import generate_dataset, preset

    with input_errors(), stderr_progress("samples") as bar:
        cfg = preset(preset_name, n_train=n_train, n_val=n_val, size=size, **_overrides(sets))
        task = bar.add_task("rendering", total=cfg.n_train + cfg.n_val)
        start = time.perf_counter()
        meta = generate_dataset(
            out_dir,
            cfg,
            seed=seed,
            workers=workers,
            png=png,
            progress=lambda done, total: bar.update(task, completed=done),
        )
        seconds = time.perf_counter() - start
    if as_json:
        echo_json({**meta, "seconds": round(seconds, 2)})
        return
    counts = meta["counts"]
    total = sum(counts.values())
    click.echo(
        f"wrote {counts['train']} train + {counts['val']} val samples at {cfg.size}×{cfg.size} px to {out_dir} "
        f"in {seconds:.1f} s ({total / seconds:.0f} samples/s, {workers} workers)"
    )
    click.echo(f"fingerprint {meta['fingerprint']}")


@data.command("show")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val"]))
@click.option("--n", "count", type=click.IntRange(min=1), default=16, show_default=True, help="Samples in the grid.")
@click.option("--out", "out_path", default="grid.png", show_default=True, type=Output(folder=False))
@click.option(
    "--keypoints",
    default=Dataset.MPII.value,
    show_default=True,
    type=choice((Dataset.MPII, Dataset.COCO)),
    help="The annotation layout to read.",
)
@click.option("--crop", is_flag=True, help="Show the loader's person crop instead of the whole image.")
def show_command(root, split, count, out_path, keypoints, crop) -> None:
    """Draw a grid of synthetic samples with skeletons, joints and head boxes to a PNG."""
    from lspd_bench.data.show import render_grid
    from lspd_bench.data.synth import load_synth

    with input_errors():
        records, images = load_synth(root, split, keypoints)
        path = render_grid(records, images, out_path, n=count, crop=crop)
    click.echo(f"wrote {min(count, len(records))} samples of {split} to {path}")


@data.command("check")
@click.option("--format", "fmt", required=True, type=choice(Dataset))
@click.option("--ann", required=True, type=click.Path(dir_okay=False), help="Annotation file.")
@click.option(
    "--images",
    required=True,
    type=click.Path(),
    help="Image folder (mpii, coco); the .npy array or dataset folder (synth).",
)
@click.option("--gt-mat", type=click.Path(dir_okay=False), help="MPII gt_valid.mat (head boxes, missing joints).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def check_command(fmt, ann, images, gt_mat, as_json) -> None:
    """Validate a dataset through the real loader and print its counts (exit 2 at the first problem)."""
    from lspd_bench.data.check import check_dataset

    with input_errors():
        summary = check_dataset(fmt, ann, images, gt_mat)
    if as_json:
        echo_json(summary)
        return
    from rich.table import Table

    sizes = summary["image_sizes"]
    click.echo(
        f"{summary['format']}: {summary['people']} people in {summary['image_count']} images "
        f"({summary['annotations']}); image sizes {sizes['min_wh'][0]}×{sizes['min_wh'][1]} to "
        f"{sizes['max_wh'][0]}×{sizes['max_wh'][1]} px ({sizes['distinct']} distinct); "
        f"{summary['headboxes']} head boxes; {summary['annotated_joints_per_person']} annotated joints per person"
    )
    if summary["files_match_meta"]:
        click.echo("files match the sha256s in meta.json")
    table = Table("joint", "annotated", "visible", title="joints", title_justify="left")
    for name, counts in summary["joints"].items():
        table.add_row(name, str(counts["annotated"]), "-" if counts["visible"] is None else str(counts["visible"]))
    stdout_console(highlight=False).print(table)


main.add_command(data)
