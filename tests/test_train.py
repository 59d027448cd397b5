"""Training runs: determinism, metrics next to checkpoints, exact resume after a kill, NaN stops, teachers."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from lspd_bench.cli import main
from lspd_bench.config import load_config
from lspd_bench.data.build import build_data
from lspd_bench.errors import InputError
from lspd_bench.evaluation.run import train_and_evaluate
from lspd_bench.train.build import build_student, identity
from lspd_bench.train.checkpoint import load_checkpoint
from lspd_bench.train.loop import RunFailed, fit


def state(run_dir):
    return load_checkpoint(os.path.join(run_dir, "last.pt"))["model"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_metrics(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, tiny_overrides)
    m1 = train_and_evaluate(cfg, tmp_path / "a")
    m2 = train_and_evaluate(cfg, tmp_path / "b")
    assert same_weights(state(tmp_path / "a"), state(tmp_path / "b"))
    assert m1["stages"] == m2["stages"] and m1["headline"] == m2["headline"]
    other = train_and_evaluate(load_config("ci", None, {**tiny_overrides, "seed": 1}), tmp_path / "c")
    assert not same_weights(state(tmp_path / "a"), state(tmp_path / "c"))
    assert other["run"] != m1["run"]


def test_persistent_data_workers_train_the_same_weights_as_the_main_process(tiny_overrides, tmp_path):
    # Two workers that live across the epochs draw each epoch's augmentation from the index they are sent.
    cfg = load_config("ci", None, {**tiny_overrides, "epochs": 3})
    train_and_evaluate(cfg, tmp_path / "main")
    train_and_evaluate(load_config("ci", None, {**tiny_overrides, "epochs": 3, "workers": 2}), tmp_path / "workers")
    assert same_weights(state(tmp_path / "main"), state(tmp_path / "workers"))


def test_a_run_writes_metrics_per_stage_next_to_its_checkpoints(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "stages": 3})
    metrics = train_and_evaluate(cfg, tmp_path)
    for name in (
        "metrics.json",
        "last.pt",
        "best.pt",
        "log.csv",
        "config.json",
        "per_person.npz",
        "predictions_val.json",
    ):
        assert (tmp_path / name).is_file(), name
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["headline"] == metrics["headline"]
    assert [s["stage"] for s in on_disk["stages"]] == [1, 2, 3]
    assert on_disk["loss"]["name"] == "fg_mse" and "foreground" in on_disk["loss"]["description"]
    assert on_disk["deploy_stage"] == 1 and on_disk["headline"] == on_disk["stages"][0]["Mean"]
    assert any("0.1" in c for c in on_disk["conventions"])
    assert len((tmp_path / "log.csv").read_text().strip().splitlines()) == 1 + cfg.epochs


def test_predictions_file_scores_the_same_through_score_mpii(tiny_overrides, tiny_synth, tmp_path):
    metrics = train_and_evaluate(load_config("ci", None, tiny_overrides), tmp_path)
    r = CliRunner().invoke(
        main,
        [
            "score",
            "mpii",
            "--pred",
            str(tmp_path / "predictions_val.json"),
            "--gt",
            os.path.join(tiny_synth, "gt_valid.mat"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["table"]["Mean"] == pytest.approx(metrics["headline"])


def test_an_existing_run_is_not_overwritten(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "epochs": 1})
    train_and_evaluate(cfg, tmp_path)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(InputError, match="already holds a run"):
        train_and_evaluate(cfg, tmp_path)
    with pytest.raises(InputError, match="different configuration"):
        train_and_evaluate(load_config("ci", None, {**tiny_overrides, "epochs": 1, "lr": 0.01}), tmp_path, resume=True)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, tiny_overrides)
    bundle = build_data(cfg)
    model = build_student(cfg, bundle.num_joints)
    poisoned = {"on": False}

    def progress(event):
        if event["event"] == "epoch_end":
            poisoned["on"] = True  # from the second epoch on, the model's output is NaN

    model.backbone.register_forward_hook(lambda _m, _i, out: out * float("nan") if poisoned["on"] else out)
    with pytest.raises(RunFailed, match=r"loss became nan at epoch 2 step 1; stopped\. The last good checkpoint is"):
        fit(cfg, model, bundle.train, tmp_path, identity=identity(cfg, 16, bundle.fingerprint), progress=progress)
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_train_cli_bad_input_is_one_line_and_exit_code_2(tiny_overrides, tmp_path):
    r = CliRunner().invoke(main, ["train", "--preset", "ci", "stagez=2"])
    assert r.exit_code == 2 and "unknown key 'stagez'" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["train", "--preset", "ci", "distill=maybe"])
    assert r.exit_code == 2 and "distill='maybe' is not one of" in r.output
    not_a_folder = tmp_path / "data.npy"
    not_a_folder.write_bytes(b"kept")
    r = CliRunner().invoke(main, ["train", "--preset", "ci", f"data_dir={not_a_folder}", f"cache_dir={tmp_path}"])
    assert r.exit_code == 2 and f"data_dir {not_a_folder} is a file" in r.output and "Traceback" not in r.output
    assert not_a_folder.read_bytes() == b"kept"


def _train_cmd(tiny_overrides, out, epochs):
    args = [f"{k}={v}" for k, v in {**tiny_overrides, "epochs": epochs}.items()]
    return [sys.executable, "-m", "lspd_bench", "train", "--preset", "ci", "--out", str(out), *args]


@pytest.mark.slow
def test_resume_after_a_kill_ends_like_an_uninterrupted_run(tiny_overrides, tmp_path):
    epochs = 4
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(_train_cmd(tiny_overrides, tmp_path / "whole", epochs), check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_cmd(tiny_overrides, killed, epochs), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = killed / "log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.05)  # wait for two finished epochs
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "last.pt")["epoch"] < epochs - 1, "the run finished before it was killed"
    resumed = subprocess.run(_train_cmd(tiny_overrides, killed, epochs) + ["--resume"], env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert same_weights(state(tmp_path / "whole"), state(killed))
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    again = json.loads((killed / "metrics.json").read_text())
    assert whole["stages"] == again["stages"]


@pytest.mark.slow
def test_the_teacher_is_trained_once_and_reused(tiny_overrides, tmp_path):
    events = []
    cfg = load_config("ci", None, {**tiny_overrides, "distill": "teacher"})
    first = train_and_evaluate(cfg, tmp_path / "a", progress=events.append)
    assert sum(e["event"] == "teacher_start" for e in events) == 1
    teacher_dir = first["distill"]["teacher"]["dir"]
    stamp = os.path.getmtime(os.path.join(teacher_dir, "last.pt"))
    events.clear()
    second = train_and_evaluate(
        load_config("ci", None, {**tiny_overrides, "distill": "teacher+sequence", "stages": 3}),
        tmp_path / "b",
        progress=events.append,
    )
    assert not any(e["event"] in ("teacher_start", "teacher_heatmaps") for e in events)
    assert second["distill"]["teacher"]["dir"] == teacher_dir
    assert os.path.getmtime(os.path.join(teacher_dir, "last.pt")) == stamp
    # distillation changes what the student learns
    plain = train_and_evaluate(load_config("ci", None, tiny_overrides), tmp_path / "c")
    assert not same_weights(state(tmp_path / "a"), state(tmp_path / "c"))
    assert plain["distill"] == {"mode": "none"}


@pytest.mark.slow
def test_online_teacher_targets_also_train(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, {**tiny_overrides, "distill": "teacher", "teacher_targets": "online", "epochs": 1})
    metrics = train_and_evaluate(cfg, tmp_path)
    assert metrics["distill"]["mode"] == "teacher" and metrics["headline"] is not None


@pytest.mark.slow
def test_two_process_data_parallel_training_with_gloo(tiny_overrides, tmp_path):
    """torchrun with 2 CPU processes (gloo): both train their half, rank 0 writes one run."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    cmd = _train_cmd(tiny_overrides, tmp_path / "ddp", 2)
    cmd[1:3] = [
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        "-m",
        "lspd_bench",
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["train"]["processes"] == 2
    assert len((tmp_path / "ddp" / "log.csv").read_text().strip().splitlines()) == 3


def test_eval_command_rescores_a_run_without_touching_it(tiny_overrides, tmp_path):
    metrics = train_and_evaluate(load_config("ci", None, tiny_overrides), tmp_path / "run")
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    r = CliRunner().invoke(main, ["eval", str(tmp_path / "run"), "--no-flip", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["headline"] == pytest.approx(metrics["headline"])  # the run was also scored without flip
    assert out["flip_test"] is False and out["epoch"] == 2
    assert (tmp_path / "run" / "eval-val-noflip-gt" / "metrics.json").is_file()
    assert (tmp_path / "run" / "eval-val-noflip-gt" / "predictions_val.json").is_file()
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before
    flip = CliRunner().invoke(main, ["eval", str(tmp_path / "run" / "last.pt"), "--json"])
    assert flip.exit_code == 0 and json.loads(flip.stdout)["flip_test"] is True


def test_eval_command_bad_input(tiny_overrides, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    r = CliRunner().invoke(main, ["eval", str(junk)])
    assert r.exit_code == 2 and "cannot be read" in r.output and "Traceback" not in r.output
    train_and_evaluate(load_config("ci", None, tiny_overrides), tmp_path / "run")
    r = CliRunner().invoke(main, ["eval", str(tmp_path / "run"), "--boxes", str(junk)])
    assert r.exit_code == 2 and "detection boxes apply to COCO runs" in r.output
