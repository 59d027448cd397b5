"""``lspd-bench score``: score saved predictions with MPII PCKh or COCO keypoint AP."""

from __future__ import annotations

from pathlib import Path

import click

from lspd_bench.cli import choice, echo_json, input_errors, main, stdout_console
from lspd_bench.config import Boxes
from lspd_bench.errors import InputError

_FILE = click.Path(dir_okay=False, path_type=Path)


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f}"


def _print_report(
    title: str, header: list[str], rows: list[list[str]], notes: list[str], conventions: list[str]
) -> None:
    """A rich table, then the notes and the conventions the numbers were computed with."""
    from rich.table import Table

    console = stdout_console()
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 and not name else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in [*notes, "Conventions:", *(f"  - {c}" for c in conventions)]:
        console.print(line, highlight=False, soft_wrap=True)


@click.group("score")
def score() -> None:
    """Score saved predictions: MPII PCKh or COCO keypoint AP, with the conventions of the pose literature."""


@score.command("mpii")
@click.option(
    "--pred",
    "pred_path",
    type=_FILE,
    required=True,
    help="Predictions: JSON (N×16×2, 0-based px, or {'preds': …}) or .mat "
    "(pos_pred_src 16×2×N or HRNet's preds N×16×2, both 1-based).",
)
@click.option(
    "--gt",
    "gt_path",
    type=_FILE,
    required=True,
    help="Ground truth: gt_valid.mat, or an MPII-style JSON (joints, joints_vis, headbox; 1-based px).",
)
@click.option(
    "--headboxes",
    "headboxes_path",
    type=_FILE,
    default=None,
    help="gt_valid.mat whose headboxes_src supplies the head boxes (for a JSON without them).",
)
@click.option("--ci", is_flag=True, help="Add seeded bootstrap 95% intervals over people for Mean and Mean@0.1.")
@click.option(
    "--n-boot", default=1000, show_default=True, type=click.IntRange(min=1), help="Bootstrap resamples (with --ci)."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed (with --ci).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
def score_mpii(
    pred_path: Path, gt_path: Path, headboxes_path: Path | None, ci: bool, n_boot: int, seed: int, as_json: bool
) -> None:
    """MPII PCKh@0.5 (Head … Ankle, Mean, Mean@0.1); people are matched by position."""
    from lspd_bench.evaluation.bootstrap import pckh_bootstrap_ci
    from lspd_bench.evaluation.io import load_mpii_ground_truth, load_mpii_predictions
    from lspd_bench.evaluation.pckh import head_size_from_boxes, pckh

    with input_errors():
        gt = load_mpii_ground_truth(gt_path, headboxes=headboxes_path)
        preds = load_mpii_predictions(pred_path)
        if len(preds) != len(gt.joints):
            raise InputError(
                f"{pred_path} has {len(preds)} people but {gt_path} has {len(gt.joints)}; predictions must be "
                "complete and in the ground truth's order"
            )
        result = pckh(preds, gt.joints, gt.visible, head_size_from_boxes(gt.headboxes))
        intervals = None
        if ci:
            intervals = {
                "Mean": pckh_bootstrap_ci(result.correct, result.visible, n=n_boot, seed=seed),
                "Mean@0.1": pckh_bootstrap_ci(result.correct_at_01, result.visible, n=n_boot, seed=seed),
            }
    if as_json:
        out = {"pred": str(pred_path), "gt": str(gt_path), **result.to_dict()}
        if intervals is not None:
            out["ci"] = {
                "level": 0.95,
                "n": n_boot,
                "seed": seed,
                "method": "percentile bootstrap over people",
                **{k: list(v) for k, v in intervals.items()},
            }
        echo_json(out)
        return
    notes = []
    if intervals is not None:
        notes = [
            f"95% CI of {k} (percentile bootstrap over people, n={n_boot}, seed {seed}): [{lo:.2f}, {hi:.2f}]"
            for k, (lo, hi) in intervals.items()
        ]
    _print_report(
        f"MPII PCKh@0.5 — {result.num_people} people ({pred_path.name} vs {gt_path.name})",
        list(result.table),
        [[_fmt(v) for v in result.table.values()]],
        notes,
        list(result.conventions),
    )


@score.command("coco")
@click.option(
    "--results",
    "results_path",
    type=_FILE,
    required=True,
    help="COCO keypoint results JSON: [{image_id, category_id, keypoints (3K), score}, …].",
)
@click.option("--gt", "gt_path", type=_FILE, required=True, help="COCO person_keypoints JSON.")
@click.option(
    "--boxes",
    type=choice(Boxes),
    default=None,
    help="Where the person crops came from, stated with the result (gt boxes inflate AP).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
def score_coco(results_path: Path, gt_path: Path, boxes: str | None, as_json: bool) -> None:
    """COCO keypoint AP/AR with pycocotools (AP, AP50, AP75, AP(M), AP(L), AR, …)."""
    from lspd_bench.evaluation.coco_ap import STAT_NAMES, coco_keypoint_ap

    with input_errors():
        stats = coco_keypoint_ap(gt_path, results_path, boxes=boxes)
    if as_json:
        echo_json({"results": str(results_path), "gt": str(gt_path), **stats})
        return
    # AP and AR as two rows over the same five columns (all, OKS .50, OKS .75, medium, large).
    rows = [
        [kind, *(_fmt(None if stats[k] is None else 100.0 * stats[k]) for k in STAT_NAMES if k.startswith(kind))]
        for kind in ("AP", "AR")
    ]
    missing = any(stats[k] is None for k in STAT_NAMES)
    _print_report(
        f"COCO keypoint AP/AR (%) — {stats['num_results']} results on {stats['num_images']} images",
        ["", "all", "OKS .50", "OKS .75", "medium", "large"],
        rows,
        ["'-': no ground truth in that area range (pycocotools reports -1)"] if missing else [],
        stats["conventions"],
    )


main.add_command(score)
