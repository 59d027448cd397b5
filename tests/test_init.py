"""Warm starts (``init=``): loaded by name and shape, one line of what was loaded, refused when nothing
matches or the file is not weights, and part of a run's identity by the file's fingerprint, not its path."""

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from lspd_bench.cli import main
from lspd_bench.config import identity_keys, load_config, teacher_config
from lspd_bench.data.build import build_data
from lspd_bench.errors import InputError
from lspd_bench.evaluation.run import train_and_evaluate
from lspd_bench.train.build import build_student, identity
from lspd_bench.train.checkpoint import load_checkpoint
from lspd_bench.train import init as init_module
from lspd_bench.train.init import apply_init, init_fingerprint, read_state_dict, resolve_init, shipped_inits
from lspd_bench.train.loop import validates


def one_error_line(output: str) -> bool:
    return "Traceback" not in output and len([x for x in output.splitlines() if x.startswith("Error:")]) == 1


@pytest.fixture
def trained_k1(tiny_overrides, tmp_path_factory):
    """A K = 1 student trained two tiny epochs: the file later runs start from."""
    out = tmp_path_factory.mktemp("k1")
    train_and_evaluate(load_config("ci", None, {**tiny_overrides, "stages": 1}), out)
    return out / "last.pt"


def test_a_deeper_student_takes_the_shallow_one_s_backbone_and_stage_and_says_so(tiny_overrides, trained_k1):
    cfg = load_config("ci", None, {**tiny_overrides, "stages": 3, "init": str(trained_k1)})
    model = build_student(cfg, 16)
    source = load_checkpoint(trained_k1)["model"]
    report = apply_init(model, cfg.init)
    own = model.state_dict()
    shared = [k for k in own if k in source and own[k].shape == source[k].shape]
    assert report.loaded == len(shared) > 0 and report.left == len(own) - len(shared)
    assert all(torch.equal(own[k], source[k]) for k in shared)
    assert 0 < report.params_loaded < report.params_total  # stages 2 and 3 stay random
    line = report.line()
    assert f"loaded {len(shared)} tensors" in line and "left" in line and "\n" not in line


def test_a_run_with_init_records_the_line_and_is_known_by_the_fingerprint(tiny_overrides, trained_k1, tmp_path):
    copy = tmp_path / "moved.pt"
    shutil.copy(trained_k1, copy)
    base = {**tiny_overrides, "stages": 2}
    a = load_config("ci", None, {**base, "init": str(trained_k1)})
    b = load_config("ci", None, {**base, "init": str(copy)})
    bundle = build_data(a)
    ident_a, ident_b = (identity(c, bundle.num_joints, bundle.fingerprint) for c in (a, b))
    assert ident_a == ident_b and ident_a["init"] == init_fingerprint(str(trained_k1))
    assert str(trained_k1) not in json.dumps(ident_a)  # the path is not the run
    cold = identity(load_config("ci", None, base), bundle.num_joints, bundle.fingerprint)
    assert "init" not in cold  # init=none leaves earlier runs' identities as they were
    copy.write_bytes(copy.read_bytes() + b"\0")  # another file is another run
    edited = identity(load_config("ci", None, {**base, "init": str(copy)}), bundle.num_joints, bundle.fingerprint)
    assert edited["init"] != ident_a["init"]
    metrics = train_and_evaluate(a, tmp_path / "run")
    assert metrics["init"]["loaded"] > 0 and metrics["init"]["fingerprint"] == ident_a["init"]


def test_the_teacher_never_inherits_the_student_s_init(tiny_overrides, trained_k1):
    cfg = load_config("ci", None, {**tiny_overrides, "init": str(trained_k1)})
    assert "init" not in identity_keys(teacher_config(cfg))


def test_a_file_that_matches_nothing_is_exit_2_and_nothing_is_written(tiny_overrides, tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"encoder.layer0.weight": torch.zeros(3, 3)}, foreign)
    out = tmp_path / "run"
    args = ["train", "--preset", "ci", *(f"{k}={v}" for k, v in tiny_overrides.items()), f"init={foreign}"]
    r = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "none of its 1 tensors matches" in r.output and str(foreign) in r.output
    assert one_error_line(r.output) and not out.exists()


@pytest.mark.parametrize(
    "content, says",
    [(b"not a torch file", "cannot be read as weights"), (None, "neither a file nor a shipped initialisation")],
)
def test_a_corrupt_or_missing_file_is_one_line(tiny_overrides, tmp_path, content, says):
    path = tmp_path / "w.pt"
    if content is not None:
        path.write_bytes(content)
    args = ["train", "--preset", "ci", *(f"{k}={v}" for k, v in tiny_overrides.items()), f"init={path}"]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and says in r.output and one_error_line(r.output), r.output


def test_a_shipped_initialisation_is_found_by_name(tiny_overrides, trained_k1, tmp_path):
    shutil.copy(trained_k1, tmp_path / "init-k1.pt")
    assert shipped_inits(tmp_path) == ["k1"]
    assert resolve_init("k1", tmp_path) == tmp_path / "init-k1.pt"
    assert resolve_init("none", tmp_path) is None
    with pytest.raises(InputError, match="shipped: k1"):
        resolve_init("k2", tmp_path)


def test_train_ship_init_writes_the_run_s_weights_and_record_under_its_name(tiny_overrides, tmp_path, monkeypatch):
    monkeypatch.setattr(init_module, "WEIGHTS_DIR", tmp_path / "weights")
    (tmp_path / "weights").mkdir()
    out = tmp_path / "run"
    keys = [f"{k}={v}" for k, v in {**tiny_overrides, "stages": 1}.items()]
    r = CliRunner().invoke(main, ["train", "--preset", "ci", *keys, "--out", str(out), "--ship-init", "k1", "--json"])
    assert r.exit_code == 0, r.output
    shipped = tmp_path / "weights" / "init-k1.pt"
    assert json.loads(r.output[r.output.index("{") :])["shipped_init"] == str(shipped)
    weights = read_state_dict("k1", tmp_path / "weights")
    trained = load_checkpoint(out / "last.pt")["model"]  # the evaluated weights (the average, with ema)
    assert weights.keys() == trained.keys() and all(torch.equal(weights[k], trained[k]) for k in weights)
    record = json.loads(shipped.with_suffix(".json").read_text())
    assert record["command"].startswith("lspd-bench train ") and "--preset ci" in record["command"]
    assert record["headline"] == json.loads((out / "metrics.json").read_text())["headline"]
    deeper = build_student(load_config("ci", None, {**tiny_overrides, "stages": 2}), 16)
    assert apply_init(deeper, "k1", tmp_path / "weights").loaded > 0  # what a matrix's init=k1 loads


@pytest.mark.parametrize("name", ["none", "Bad Name", "../up"])
def test_a_ship_init_name_init_could_not_say_is_exit_2_before_training(tiny_overrides, tmp_path, name):
    keys = [f"{k}={v}" for k, v in tiny_overrides.items()]
    r = CliRunner().invoke(
        main, ["train", "--preset", "ci", *keys, "--out", str(tmp_path / "run"), "--ship-init", name]
    )
    assert r.exit_code == 2 and "--ship-init" in r.output and one_error_line(r.output), r.output
    assert not (tmp_path / "run").exists()


def test_validation_every_n_epochs_and_always_the_last(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "epochs": 5, "val_every": 2})
    assert [e for e in range(5) if validates(cfg, e)] == [1, 3, 4]
    only_last = load_config("ci", None, {**tiny_overrides, "epochs": 3, "val_every": 0})
    assert [e for e in range(3) if validates(only_last, e)] == [2]
    metrics = train_and_evaluate(only_last, tmp_path / "run")
    history = metrics["train"]["history"]
    assert ["headline" in row for row in history] == [False, False, True]
    assert history[-1]["val_seconds"] > 0 and "val_seconds" not in history[0]
    every = load_config("ci", None, {**tiny_overrides, "epochs": 3})
    assert identity(every, 16, "x") == identity(only_last, 16, "x")  # a speed setting, not another run


def test_wrapper_prefixes_are_dropped_before_matching(tiny_overrides, trained_k1, tmp_path):
    weights = load_checkpoint(trained_k1)["model"]
    lightning = tmp_path / "lightning.ckpt"  # a LightningModule holding the network as self.model
    torch.save({"state_dict": {f"model.{k}": v for k, v in weights.items()}, "epoch": 3}, lightning)
    ddp = tmp_path / "ddp.pt"
    torch.save({f"module.{k}": v for k, v in weights.items()}, ddp)
    cfg = load_config("ci", None, {**tiny_overrides, "stages": 1})
    for path in (lightning, ddp):
        model = build_student(cfg, 16)
        report = apply_init(model, str(path))
        assert report.loaded == len(weights) and report.left == 0 and report.unused == 0
        assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def test_ablate_refuses_an_init_that_matches_nothing_before_any_cell_runs(tiny_overrides, tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, foreign)
    out = tmp_path / "m"
    args = [f"{k}={v}" for k, v in tiny_overrides.items()] + ["stages=1", f"init=none,{foreign}"]
    r = CliRunner().invoke(main, ["ablate", *args, "--preset", "ci", "--out", str(out)])
    assert r.exit_code == 2 and "matches the model's names and shapes" in r.output and one_error_line(r.output)
    assert not out.exists()


def test_the_results_table_says_init_none_for_a_cold_start_and_the_fingerprint_for_a_warm_one(tmp_path):
    from lspd_bench.ablate import store

    for name, ident, shown in (("cold", {}, "none"), ("warm", {"init": "sha256:0123"}, "sha256:0123")):
        store.write_cell(tmp_path / name, {"cell": name, "identity": {"model_knobs": {}, **ident}})
        assert store.result_row(tmp_path / name, "pending", "ci")["init"] == shown
