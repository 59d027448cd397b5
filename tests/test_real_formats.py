"""End to end on real file formats: `lspd-bench train`, `eval` and `score` on MPII and COCO folders built
from the samples in tests/data, so that the paths users take with the real datasets run on every clone.

Each run is one training step of a tiny lspd-xs (width 16) at 128×96 on CPU, without flip test: the
test checks that the formats flow through training, evaluation and scoring, not what the model learns.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lspd_bench.cli import main
from lspd_bench.data.mpii import MPII_NUM_JOINTS, write_gt_mat

#: The MPII joints the head box is derived from.
UPPER_NECK, HEAD_TOP = 8, 9
#: One training step: the MPII sample has 5 people, the COCO one 12 usable ones (two have no keypoints).
MPII_BATCH, COCO_BATCH = 4, 8
#: What every run shares: the ci preset's schedule and loss, a tiny lspd-xs, one epoch, no flip test.
RUN = ("--preset", "ci", "input_size=[128,96]", "width=16", "epochs=1", "flip_test=false", "device=cpu")


def run_cli(*args: str) -> dict:
    """`lspd-bench ARGS --json` in this process; its JSON output (the exit code and output checked)."""
    result = CliRunner().invoke(main, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def derived_headboxes(joints: np.ndarray) -> np.ndarray:
    """N×2×2 head boxes [[x1, y1], [x2, y2]] (1-based px) from N×16×2 joints (1-based px).

    The box is the square whose side is the upper-neck–head-top distance L, centred on the middle of that
    segment; its head size for PCKh is then 0.6·√2·L ≈ 0.85·L.
    """
    neck, top = joints[:, UPPER_NECK], joints[:, HEAD_TOP]
    half = np.linalg.norm(top - neck, axis=-1, keepdims=True) / 2
    middle = (neck + top) / 2
    return np.stack([middle - half, middle + half], axis=1)


def mpii_folder(real_samples: str, root: Path) -> Path:
    """The layout `dataset=mpii` reads: `annot/mpii_{train,val}.json`, `annot/gt_valid.mat`, `images/`.

    Both splits are the 5 people of `tests/data/mpii/test_mpii.json`. The samples have no `gt_valid.mat`, so
    one is written from the JSON: `pos_gt_src` = `joints` (1-based px, as in the file), `jnt_missing` =
    1 − `joints_vis`, and `headboxes_src` derived as :func:`derived_headboxes` says (upper neck and head top
    are annotated for all 5 people).
    """
    src = Path(real_samples) / "mpii"
    (root / "annot").mkdir(parents=True)
    shutil.copytree(src, root / "images", ignore=shutil.ignore_patterns("*.json"))
    for split in ("train", "val"):
        shutil.copy(src / "test_mpii.json", root / "annot" / f"mpii_{split}.json")
    entries = json.loads((src / "test_mpii.json").read_text())
    joints = np.array([e["joints"] for e in entries], dtype=np.float64)
    visible = np.array([e["joints_vis"] for e in entries], dtype=np.float64)
    assert joints.shape == (5, MPII_NUM_JOINTS, 2) and visible[:, [UPPER_NECK, HEAD_TOP]].all()
    write_gt_mat(root / "annot" / "gt_valid.mat", joints, 1.0 - visible, derived_headboxes(joints))
    return root


def coco_folder(real_samples: str, root: Path) -> Path:
    """The layout `dataset=coco` reads: `annotations/person_keypoints_{train,val}2017.json` and the image
    folders `train2017/` and `val2017/`. Both splits are `tests/data/coco/test_coco.json` and its 4 images."""
    src = Path(real_samples) / "coco"
    (root / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        shutil.copy(src / "test_coco.json", root / "annotations" / f"person_keypoints_{split}2017.json")
        shutil.copytree(src, root / f"{split}2017", ignore=shutil.ignore_patterns("*.json"))
    return root


def test_the_real_samples_are_in_the_repository(real_samples):
    images = {p.name for p in Path(real_samples).glob("*/*.jpg")}
    mpii = {e["image"] for e in json.loads((Path(real_samples) / "mpii" / "test_mpii.json").read_text())}
    coco = {i["file_name"] for i in json.loads((Path(real_samples) / "coco" / "test_coco.json").read_text())["images"]}
    assert len(mpii) == 5 and len(coco) == 4 and mpii | coco == images


def test_mpii_folder_trains_evaluates_and_scores_pckh(real_samples, tmp_path):
    root = mpii_folder(real_samples, tmp_path / "mpii")
    run, evaluated = tmp_path / "run-mpii", tmp_path / "eval-mpii"
    trained = run_cli(
        "train",
        *RUN,
        "dataset=mpii",
        f"data_dir={root}",
        f"batch_size={MPII_BATCH}",
        f"cache_dir={tmp_path / 'cache'}",
        "--out",
        run,
    )
    assert trained["dataset"]["train_people"] // MPII_BATCH == 1  # one step
    assert trained["headline_name"] == "PCKh@0.5 Mean" and trained["dataset"]["val_people"] == 5

    metrics = run_cli("eval", run, "--no-flip", "--out", evaluated)
    table = metrics["stages"][0]
    assert set(table) >= {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "Mean@0.1"}
    assert 0 <= table["Mean"] <= 100 and table["Mean"] == pytest.approx(trained["stages"][0]["Mean"])
    # The predictions eval wrote, scored on their own against the derived gt_valid.mat, give eval's table.
    gt_mat = root / "annot" / "gt_valid.mat"
    scored = run_cli("score", "mpii", "--pred", evaluated / metrics["predictions_file"], "--gt", gt_mat)
    assert scored["num_people"] == 5 and scored["table"]["Mean"] == pytest.approx(table["Mean"])
    # The ground truth itself (0-based, as predictions are) is correct everywhere: the head boxes are sound.
    truth = tmp_path / "truth.json"
    joints = [np.subtract(e["joints"], 1).tolist() for e in json.loads((root / "annot" / "mpii_val.json").read_text())]
    truth.write_text(json.dumps(joints))
    perfect = run_cli("score", "mpii", "--pred", truth, "--gt", gt_mat)["table"]
    assert perfect["Mean"] == perfect["Mean@0.1"] == 100.0


def test_coco_folder_trains_evaluates_and_scores_ap(real_samples, tmp_path):
    root = coco_folder(real_samples, tmp_path / "coco")
    run, evaluated = tmp_path / "run-coco", tmp_path / "eval-coco"
    trained = run_cli(
        "train",
        *RUN,
        "dataset=coco",
        f"data_dir={root}",
        f"batch_size={COCO_BATCH}",
        f"cache_dir={tmp_path / 'cache'}",
        "--out",
        run,
    )
    assert trained["dataset"]["train_people"] == 12 and 12 // COCO_BATCH == 1  # one step
    assert trained["headline_name"] == "AP" and 0 <= trained["stages"][0]["AP"] <= 100

    # Person boxes from the detector's results: the standard protocol, every detection a person to score.
    detections = Path(real_samples) / "coco" / "test_coco_det_AP_H_56.json"
    metrics = run_cli("eval", run, "--no-flip", "--boxes", detections, "--out", evaluated)
    assert metrics["boxes"] == "detections" and metrics["headline_name"] == "AP"
    stage = metrics["stages"][0]
    assert set(stage) >= {"AP", "AP50", "AP75", "AR"} and 0 <= stage["AP"] <= 100
    # pycocotools on the results file eval wrote gives eval's AP (score prints fractions, eval percent).
    gt = root / "annotations" / "person_keypoints_val2017.json"
    results_file = evaluated / metrics["predictions_file"]
    scored = run_cli("score", "coco", "--results", results_file, "--gt", gt, "--boxes", "detections")
    assert 100 * scored["AP"] == pytest.approx(stage["AP"])
    results = json.loads(results_file.read_text())
    assert results and {r["image_id"] for r in results} <= {785, 40083, 196141, 197388}
