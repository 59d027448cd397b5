"""Shipped teachers: each matches its preset's data and config; another config trains its own, saying why;
a corrupt file is one clear error. Weight averaging (EMA) is what a run validates and saves."""

import json
import os

import pytest
import torch
from click.testing import CliRunner

from lspd_bench.cli import main
from lspd_bench.config import load_config, replace
from lspd_bench.data.build import build_data
from lspd_bench.evaluation.run import ensure_teacher, ship_teacher, train_and_evaluate, train_teacher
from lspd_bench.train import shipped
from lspd_bench.config import teacher_config
from lspd_bench.train.build import build_teacher, identity, teacher_knobs
from lspd_bench.train.checkpoint import load_checkpoint

SHIPPED = shipped.shipped_files()


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """An empty shipped-teacher folder in place of the package's."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", folder)
    return folder


def _teacher_identity(cfg, bundle):
    return identity(
        teacher_config(cfg), bundle.num_joints, bundle.fingerprint, knobs=teacher_knobs(cfg, bundle.num_joints)
    )


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
@pytest.mark.slow
def test_a_shipped_teacher_is_the_teacher_of_its_preset_on_freshly_generated_data(path, tmp_path):
    """The shipped file loads, its weights fit the preset's teacher, and the preset's data generated here has
    the fingerprint it was trained on: a distilled cell of that preset finds it without training."""
    data = shipped.load_shipped(path)
    preset = data["record"]["preset"]  # its data may be another synthetic size (`synth_preset=standard`)
    cfg = load_config(
        preset,
        None,
        {"cache_dir": str(tmp_path), "distill": "teacher", "synth_preset": data["identity"]["synth_preset"]},
    )
    bundle = build_data(cfg)
    assert shipped.shipped_path(_teacher_identity(cfg, bundle)) == path
    build_teacher(cfg, bundle.num_joints).load_state_dict(data["state_dict"])  # strict: every key and shape


def test_every_preset_with_synthetic_data_ships_a_teacher():
    presets = {shipped.load_shipped(p)["record"]["preset"] for p in SHIPPED}
    synthetic = {"ci", "quick"}  # the presets whose data the suite generates (paper uses MPII)
    assert synthetic <= presets, f"no shipped teacher for: {', '.join(sorted(synthetic - presets))}"


@pytest.mark.slow
def test_a_shipped_teacher_is_used_and_another_fingerprint_trains_its_own(tiny_overrides, weights, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "distill": "teacher"})
    bundle = build_data(cfg)
    model, record = train_teacher(cfg, bundle, torch.device("cpu"))
    path = ship_teacher(cfg, model, record, "test")
    assert (
        path.parent == weights and shipped.find_shipped(record["identity"])["record"]["headline"] == record["headline"]
    )

    # Same data and teacher config, another cache: the shipped teacher, nothing trained.
    events = []
    other_cache = replace(cfg, cache_dir=str(tmp_path / "other-cache"))
    _, used = ensure_teacher(other_cache, bundle, torch.device("cpu"), events.append)
    assert used["source"] == "shipped" and used["file"] == path.name
    assert not any(e["event"] == "teacher_start" for e in events)

    # The plan of a dry run knows it too, without torch (from the JSON beside the weights).
    args = [
        "ablate",
        "stages=1",
        "distill=teacher",
        "--preset",
        "ci",
        "--dry-run",
        "--json",
        "--out",
        str(tmp_path / "m"),
        *(f"{k}={v}" for k, v in tiny_overrides.items()),
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    planned = [s for s in json.loads(r.output)["shared"] if s["what"] == "teacher"]
    # Never prepared in that cache: the teacher's heatmaps of the training crops are still to compute.
    assert planned[0]["state"] == f"shipped ({path.name}); its heatmaps to compute" and planned[0]["estimate_s"] > 0
    assert planned[0]["basis"].endswith("batches of training crops for its heatmaps")

    # Another teacher config: trained into the cache, the one line saying which keys differ.
    events.clear()
    _, own = ensure_teacher(replace(other_cache, teacher_epochs=1), bundle, torch.device("cpu"), events.append)
    starts = [e for e in events if e["event"] == "teacher_start"]
    assert own["source"] == "trained" and len(starts) == 1
    assert starts[0]["reason"] == f"the shipped {path.name} differs in epochs"


@pytest.mark.slow
def test_the_train_command_names_the_reason_when_the_data_fingerprint_differs(
    tiny_overrides, tiny_synth, weights, tmp_path
):
    cfg = load_config("ci", None, {**tiny_overrides, "distill": "teacher"})
    bundle = build_data(cfg)
    ident = _teacher_identity(cfg, bundle)
    shipped.write_shipped({**ident, "dataset_fingerprint": "0" * 64}, {}, {}, {"preset": "ci"})
    overrides = {**tiny_overrides, "epochs": 1, "distill": "teacher"}
    args = ["train", "--preset", "ci", "--out", str(tmp_path / "run"), *(f"{k}={v}" for k, v in overrides.items())]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "differs in dataset_fingerprint" in " ".join(r.output.split())  # rich wraps at 80 columns
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["distill"]["teacher"]["source"] == "trained"


def test_a_corrupt_shipped_teacher_is_one_line_and_exit_code_2(tiny_overrides, weights, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "distill": "teacher"})
    path = shipped.shipped_path(_teacher_identity(cfg, build_data(cfg)))
    path.write_bytes(b"not a teacher")
    args = [
        "train",
        "--preset",
        "ci",
        "--out",
        str(tmp_path / "run"),
        *(f"{k}={v}" for k, v in tiny_overrides.items()),
        "distill=teacher",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2
    assert str(path) in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run" / "last.pt").exists()
    r = CliRunner().invoke(main, ["teacher", "list"])
    assert r.exit_code == 2 and str(path) in r.output


def test_a_renamed_shipped_teacher_is_refused(tiny_overrides, weights):
    cfg = load_config("ci", None, {**tiny_overrides, "distill": "teacher"})
    ident = _teacher_identity(cfg, build_data(cfg))
    good = shipped.write_shipped(ident, {}, {}, {})
    renamed = good.with_name(shipped.PREFIX + "0" * 12 + ".pt")
    os.rename(good, renamed)
    with pytest.raises(Exception, match="does not match its file name"):
        shipped.load_shipped(renamed)


def test_weight_averaging_is_what_is_validated_saved_and_resumed(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "ema": 0.9})
    metrics = train_and_evaluate(cfg, tmp_path / "a")
    state = load_checkpoint(tmp_path / "a" / "last.pt")
    assert state["ema_steps"] == cfg.epochs * (96 // cfg.batch_size)
    trained, averaged = state["train_model"], state["model"]
    assert any(not torch.equal(trained[k], averaged[k]) for k in trained if trained[k].is_floating_point())
    # the final evaluation scored the averaged weights: re-scoring the checkpoint gives the same figure
    again = CliRunner().invoke(main, ["eval", str(tmp_path / "a"), "--no-flip", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["headline"] == pytest.approx(metrics["headline"])


def test_teacher_batch_size_lets_the_students_change_batch_and_keep_the_teacher():
    from lspd_bench.config import identity_keys

    preset = load_config("ci")  # batch 32, the teacher unset: it follows the students
    students_only = load_config("ci", None, {"batch_size": 16, "teacher_batch_size": preset.batch_size})
    both = load_config("ci", None, {"batch_size": 16})
    assert identity_keys(teacher_config(students_only)) == identity_keys(teacher_config(preset))
    assert teacher_config(both).batch_size == 16  # unset, the teacher follows the students
    assert identity_keys(teacher_config(both)) != identity_keys(teacher_config(preset))
