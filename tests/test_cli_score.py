"""``lspd-bench score mpii|coco``: tables, JSON, coordinate bases of each file layout, bad input → exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from lspd_bench.cli import main
from lspd_bench.evaluation.pckh import head_size_from_boxes, pckh

N = 30


@pytest.fixture
def real_coco(real_samples) -> Path:
    """The real COCO sample's ground truth (tests/data/coco/test_coco.json)."""
    return Path(real_samples) / "coco" / "test_coco.json"


@pytest.fixture()
def mpii(tmp_path):
    """A tiny gt_valid.mat (MATLAB layout, 1-based) and matching 0-based JSON predictions."""
    rng = np.random.default_rng(0)
    gt = rng.uniform(50.0, 400.0, (N, 16, 2))
    missing = rng.random((N, 16)) < 0.1
    boxes = np.stack([gt[:, 9] - 15.0, gt[:, 9] + 15.0], axis=1)
    pred = gt - 1.0 + rng.normal(0.0, 5.0, gt.shape)
    scipy.io.savemat(
        tmp_path / "gt_valid.mat",
        {
            "jnt_missing": missing.T.astype(float),
            "pos_gt_src": gt.transpose(1, 2, 0),
            "headboxes_src": boxes.transpose(1, 2, 0),
        },
    )
    (tmp_path / "pred.json").write_text(json.dumps(pred.tolist()))
    expected = pckh(pred, gt, ~missing, head_size_from_boxes(boxes))
    return {"dir": tmp_path, "gt": gt, "missing": missing, "boxes": boxes, "pred": pred, "expected": expected}


def _run(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return [line for line in result.output.splitlines() if line.startswith("Error:")][0]


def test_mpii_table_shows_columns_values_and_conventions(mpii):
    d = mpii["dir"]
    result = _run("mpii", "--pred", d / "pred.json", "--gt", d / "gt_valid.mat")
    assert result.exit_code == 0, result.output
    for column in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "Mean@0.1"):
        assert column in result.output
    assert f"{mpii['expected'].mean:.2f}" in result.output
    assert "HRNet reads curve index 11, i.e. 0.11" in result.output and "<=" in result.output


def test_mpii_json_output_matches_the_library(mpii):
    d = mpii["dir"]
    result = _run("mpii", "--pred", d / "pred.json", "--gt", d / "gt_valid.mat", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["table"]["Mean"] == pytest.approx(mpii["expected"].mean)
    assert out["table"]["Mean@0.1"] == pytest.approx(mpii["expected"].mean_at_01)
    assert out["num_people"] == N and "ci" not in out


def test_mpii_ci_is_seeded_and_brackets_the_mean(mpii):
    d = mpii["dir"]
    args = ("mpii", "--pred", d / "pred.json", "--gt", d / "gt_valid.mat", "--ci", "--n-boot", 200, "--json")
    first, second = json.loads(_run(*args).output), json.loads(_run(*args).output)
    low, high = first["ci"]["Mean"]
    assert low <= first["table"]["Mean"] <= high
    assert first["ci"] == second["ci"]
    table = _run("mpii", "--pred", d / "pred.json", "--gt", d / "gt_valid.mat", "--ci", "--n-boot", 200)
    assert "95% CI of Mean" in table.output


def test_mat_predictions_are_1_based_and_give_the_same_numbers(mpii):
    d = mpii["dir"]
    scipy.io.savemat(d / "pos.mat", {"pos_pred_src": (mpii["pred"] + 1.0).transpose(1, 2, 0)})
    scipy.io.savemat(d / "hrnet_pred.mat", {"preds": mpii["pred"] + 1.0})
    for name in ("pos.mat", "hrnet_pred.mat"):
        out = json.loads(_run("mpii", "--pred", d / name, "--gt", d / "gt_valid.mat", "--json").output)
        assert out["table"]["Mean"] == pytest.approx(mpii["expected"].mean), name


def test_json_ground_truth_with_headbox_or_with_headboxes_mat(mpii):
    d = mpii["dir"]
    entries = [
        {
            "joints": mpii["gt"][i].tolist(),
            "joints_vis": (~mpii["missing"][i]).astype(int).tolist(),
            "headbox": mpii["boxes"][i].tolist(),
        }
        for i in range(N)
    ]
    (d / "gt.json").write_text(json.dumps(entries))
    out = json.loads(_run("mpii", "--pred", d / "pred.json", "--gt", d / "gt.json", "--json").output)
    assert out["table"]["Mean"] == pytest.approx(mpii["expected"].mean)
    for e in entries:
        del e["headbox"]
    (d / "gt_nobox.json").write_text(json.dumps(entries))
    args = ("mpii", "--pred", d / "pred.json", "--gt", d / "gt_nobox.json", "--headboxes", d / "gt_valid.mat", "--json")
    assert json.loads(_run(*args).output)["table"]["Mean"] == pytest.approx(mpii["expected"].mean)
    assert "no head boxes" in _error_line(_run("mpii", "--pred", d / "pred.json", "--gt", d / "gt_nobox.json"))


def test_real_mpii_json_without_head_boxes_fails_clearly(real_samples, tmp_path):
    (tmp_path / "pred.json").write_text(json.dumps([[[0.0, 0.0]] * 16] * 5))
    gt = Path(real_samples) / "mpii" / "test_mpii.json"
    line = _error_line(_run("mpii", "--pred", tmp_path / "pred.json", "--gt", gt))
    assert "has no head boxes" in line and "--headboxes" in line


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_text(json.dumps([[[0.0, 0.0]] * 15] * N)), "got shape (30, 15, 2)"),
        (lambda p: p.write_text(json.dumps([[[0.0, 0.0]] * 16] * (N - 1))), "has 29 people but"),
        (lambda p: p.write_text(json.dumps([[[float("nan"), 0.0]] * 16] * N)), "NaN or inf at person 0 joint 0"),
        (lambda p: p.write_text("{not json"), "is not valid JSON"),
        (lambda p: p.write_text(json.dumps({"predictions": []})), "needs a 'preds' key"),
        (lambda p: None, "file not found"),
    ],
)
def test_mpii_bad_predictions_exit_2_with_one_clear_line(mpii, write, message):
    d = mpii["dir"]
    bad = d / "bad.json"
    write(bad)
    assert message in _error_line(_run("mpii", "--pred", bad, "--gt", d / "gt_valid.mat"))


def test_mpii_bad_ground_truth_mat_exits_2(mpii):
    d = mpii["dir"]
    scipy.io.savemat(d / "partial.mat", {"pos_gt_src": mpii["gt"].transpose(1, 2, 0)})
    assert "partial.mat: missing variable 'jnt_missing'" in _error_line(
        _run("mpii", "--pred", d / "pred.json", "--gt", d / "partial.mat")
    )


def _coco_results(gt: Path, tmp_path: Path, edit=None) -> Path:
    results = []
    for ann in json.loads(gt.read_text())["annotations"]:
        if ann["num_keypoints"]:
            kp = [float(v) for v in ann["keypoints"]]
            results.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kp, "score": 1.0})
    if edit:
        edit(results)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    return path


def test_coco_table_and_json(real_coco, tmp_path):
    res = _coco_results(real_coco, tmp_path)
    table = _run("coco", "--results", res, "--gt", real_coco, "--boxes", "gt")
    assert table.exit_code == 0, table.output
    assert "OKS .50" in table.output and "100.00" in table.output and "inflates AP" in table.output
    assert "│ AP │ 100.00 │" in table.output
    out = json.loads(_run("coco", "--results", res, "--gt", real_coco, "--json").output)
    assert out["AP"] == pytest.approx(1.0) and out["num_results"] == 12


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r[0].update(image_id=42), "image ids not in the ground truth: [42]"),
        (lambda r: r[0].update(keypoints=r[0]["keypoints"][:30]), "has 30 keypoint values; expected 3×17 = 51"),
        (lambda r: r[0].update(score=float("nan")), "NaN or inf"),
    ],
)
def test_coco_bad_results_exit_2_with_one_clear_line(real_coco, tmp_path, edit, message):
    res = _coco_results(real_coco, tmp_path, edit)
    assert message in _error_line(_run("coco", "--results", res, "--gt", real_coco))


def test_coco_missing_files_exit_2(tmp_path):
    (tmp_path / "gt.json").write_text("[]")
    line = _error_line(_run("coco", "--results", tmp_path / "none.json", "--gt", tmp_path / "gt.json"))
    assert "not a COCO annotation file" in line
    line = _error_line(_run("coco", "--results", tmp_path / "none.json", "--gt", tmp_path / "missing.json"))
    assert "ground-truth file not found" in line
