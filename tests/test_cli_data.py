"""``lspd-bench data synth | show | check`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lspd_bench.cli import main


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-synth")
    result = CliRunner().invoke(
        main,
        [
            "data",
            "synth",
            "--out",
            str(root),
            "--preset",
            "ci",
            "--n-train",
            "8",
            "--n-val",
            "6",
            "--seed",
            "3",
            "--workers",
            "1",
            "--set",
            "occluder_prob=0.5",
            "--png",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 8 train + 6 val samples at 64×64 px" in result.output and "fingerprint" in result.output
    return root


def test_synth_writes_the_dataset_and_its_meta(synth_dir):
    meta = json.loads((synth_dir / "meta.json").read_text())
    assert meta["counts"] == {"train": 8, "val": 6} and meta["seed"] == 3
    assert meta["config"]["occluder_prob"] == 0.5 and meta["config"]["size"] == 64
    assert np.load(synth_dir / "val_images.npy", mmap_mode="r").shape == (6, 64, 64, 3)
    png = synth_dir / "images" / "val" / "000005.png"
    np.testing.assert_array_equal(np.asarray(Image.open(png)), np.load(synth_dir / "val_images.npy")[5])


def test_synth_json_output_and_bad_knobs(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "data",
            "synth",
            "--out",
            str(tmp_path / "a"),
            "--preset",
            "ci",
            "--n-train",
            "2",
            "--n-val",
            "1",
            "--size",
            "32",
            "--workers",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["image_size"] == [32, 32]  # progress lines go to stderr
    bad = runner.invoke(main, ["data", "synth", "--out", str(tmp_path / "b"), "--set", "clutter=3"])
    assert bad.exit_code == 2 and "clutter=3 is out of range" in bad.output
    assert "Traceback" not in bad.output


def test_show_draws_a_grid_png(synth_dir, tmp_path):
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(main, ["data", "show", str(synth_dir), "--split", "val", "--n", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 300
        assert np.asarray(im.convert("L")).std() > 10


def test_check_synth_prints_counts_and_json(synth_dir):
    runner = CliRunner()
    text = runner.invoke(
        main,
        ["data", "check", "--format", "synth", "--ann", str(synth_dir / "val_mpii.json"), "--images", str(synth_dir)],
    )
    assert text.exit_code == 0, text.output
    assert "6 people in 6 images" in text.output and "r_ankle" in text.output
    assert "files match the sha256s in meta.json" in text.output
    result = runner.invoke(
        main,
        [
            "data",
            "check",
            "--format",
            "synth",
            "--ann",
            str(synth_dir / "val_coco.json"),
            "--images",
            str(synth_dir / "val_images.npy"),
            "--json",
        ],
    )
    summary = json.loads(result.output)
    assert summary["people"] == 6 and summary["image_sizes"]["min_wh"] == [64, 64]
    assert set(summary["joints"]) >= {"nose", "l_ankle"}
    assert all(j["visible"] <= j["annotated"] <= 6 for j in summary["joints"].values())
    mpii = runner.invoke(
        main,
        [
            "data",
            "check",
            "--format",
            "mpii",
            "--ann",
            str(synth_dir / "val_mpii.json"),
            "--images",
            str(synth_dir / "images" / "val"),
            "--gt-mat",
            str(synth_dir / "gt_valid.mat"),
            "--json",
        ],
    )
    assert json.loads(mpii.output)["headboxes"] == 6


def test_check_reports_the_first_problem_in_one_line(synth_dir, tmp_path):
    entries = json.loads((synth_dir / "val_mpii.json").read_text())
    entries[4]["joints"] = entries[4]["joints"][:15]
    bad = tmp_path / "val_mpii.json"
    bad.write_text(json.dumps(entries))
    result = CliRunner().invoke(
        main, ["data", "check", "--format", "synth", "--ann", str(bad), "--images", str(synth_dir / "val_images.npy")]
    )
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {bad}: entry 4: 'joints' must have shape (16, 2), got (15, 2)"]
    changed = tmp_path / "copy"
    changed.mkdir()
    for name in ("meta.json", "val_images.npy"):
        (changed / name).write_bytes((synth_dir / name).read_bytes())
    entries = json.loads((synth_dir / "val_mpii.json").read_text())
    entries[0]["scale"] *= 2
    (changed / "val_mpii.json").write_text(json.dumps(entries))
    result = CliRunner().invoke(
        main, ["data", "check", "--format", "synth", "--ann", str(changed / "val_mpii.json"), "--images", str(changed)]
    )
    assert result.exit_code == 2 and "content differs from the sha256" in result.output


def test_check_real_coco_and_a_missing_image_folder(real_samples):
    real = Path(real_samples)
    ok = CliRunner().invoke(
        main,
        [
            "data",
            "check",
            "--format",
            "coco",
            "--ann",
            str(real / "coco" / "test_coco.json"),
            "--images",
            str(real / "coco"),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output)
    assert summary["people"] == 12 and summary["image_count"] == 4
    bad = CliRunner().invoke(
        main,
        [
            "data",
            "check",
            "--format",
            "mpii",
            "--ann",
            str(real / "mpii" / "test_mpii.json"),
            "--images",
            str(real / "coco"),
        ],
    )
    assert bad.exit_code == 2 and "test_mpii.json: entry 0: image file not found" in bad.output
