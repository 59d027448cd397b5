"""Training on GPUs, tested without one: the device count is mocked (torch.cuda), and so are the pool's process
starts and torchrun, so that nothing trains but a tiny CPU cell.

One cell per GPU (the slot default, each pool process pinned to its own GPU, a freed GPU taken again), DDP over
``--gpus-per-cell`` GPUs under torchrun, a cell's record naming its device, the ``precision`` key (its
resolution and its refusals), the shipped teachers filed under this version's identities, earlier tables and
baselines with an ``amp`` column, and the GPU check's rule.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import multiprocessing
import os
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from lspd_bench.ablate import executors, schema, store
from lspd_bench.ablate.executors import (
    TORCHRUN_CONFIG,
    TORCHRUN_LOG,
    CellTask,
    Gpus,
    LocalExecutor,
    run_cell,
    torchrun_command,
)
from lspd_bench.ablate.matrix import load_matrix
from lspd_bench.ablate.plan import plan_gpus, plan_slots
from lspd_bench.check import check, read_results
from lspd_bench.check.baseline import load_baseline
from lspd_bench.cli import main
from lspd_bench.config import Precision, choose_precision, identity_keys, load_config, replace, teacher_config
from lspd_bench.env import environment
from lspd_bench.errors import InputError
from lspd_bench.train import shipped
from lspd_bench.train.build import identity, teacher_knobs
from lspd_bench.train.loop import resolve_precision

ROOT = Path(__file__).resolve().parent.parent
GPU_NAME = "Fake GPU 80GB"


def one_error_line(output: str) -> bool:
    return "Traceback" not in output and len([x for x in output.splitlines() if x.startswith("Error:")]) == 1


def keys(overrides: dict) -> list[str]:
    return [f"{k}={v}" for k, v in overrides.items()]


@pytest.fixture
def four_gpus(monkeypatch):
    """torch sees four CUDA GPUs (none is touched: nothing here allocates on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: GPU_NAME)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def six_cells(tmp_path):
    return load_matrix(None, ["stages=1..2", "seed=0..2", f"cache_dir={tmp_path / 'cache'}"], preset="ci")


def dry_run_json(tmp_path, *options: str):
    args = ["ablate", "stages=1..2", "seed=0..2", f"cache_dir={tmp_path / 'cache'}", "--preset", "ci"]
    r = CliRunner().invoke(
        main, [*args, "--out", str(tmp_path / "m"), "--dry-run", "--no-calibrate", "--json", *options]
    )
    return r, (json.loads(r.stdout) if r.exit_code == 0 else None)


# --- one cell per GPU -------------------------------------------------------------------------------------


def test_a_local_pool_runs_one_cell_per_gpu_by_default_and_jobs_still_overrides(four_gpus, tmp_path):
    gpus = plan_gpus(six_cells(tmp_path), "local")
    assert gpus == Gpus(1, ("0", "1", "2", "3"))
    assert plan_slots(6, None, None, "local", gpus) == (4, 1)
    assert plan_slots(2, None, None, "local", gpus) == (2, 1)  # never more slots than cells
    assert plan_slots(6, 3, None, "local", gpus) == (3, 1)
    r, plan = dry_run_json(tmp_path)
    assert r.exit_code == 0, r.output
    assert plan["slots"] == 4 and plan["devices"]["slots"] == [["0"], ["1"], ["2"], ["3"]]
    text = plan["devices"]["text"]
    assert text.startswith(f"cuda (4 × {GPU_NAME}): one GPU a cell, each pool slot pinned to its own: slot 1 → GPU 0;")
    assert "slot 4 → GPU 3; a cell takes the next free slot" in text
    r, plan = dry_run_json(tmp_path, "--jobs", "2")
    assert plan["slots"] == 2 and plan["devices"]["slots"] == [["0"], ["1"]]


def test_the_pool_shares_out_the_gpus_cuda_visible_devices_names(four_gpus, monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert plan_gpus(six_cells(tmp_path), "local") == Gpus(1, ("4", "5", "6", "7"))
    # device=cuda:N is that one GPU of the four torch sees: one slot, pinned to it
    one = load_matrix(None, ["stages=1..2", "device=cuda:2", f"cache_dir={tmp_path / 'cache'}"], preset="ci")
    assert plan_gpus(one, "local") == Gpus(1, ("6",)) and plan_slots(2, None, None, "local", Gpus(1, ("6",)))[0] == 1


def test_the_cpu_takes_no_gpu_and_asking_for_more_gpus_than_there_are_is_refused(four_gpus, tmp_path):
    cpu = load_matrix(None, ["stages=1..2", "device=cpu", f"cache_dir={tmp_path / 'cache'}"], preset="ci")
    assert plan_gpus(cpu, "local") == Gpus()
    r, _ = dry_run_json(tmp_path, "--gpus-per-cell", "8")
    assert r.exit_code == 2 and one_error_line(r.output) and "--gpus-per-cell 8: torch sees 4 GPU(s) here" in r.output
    r, _ = dry_run_json(tmp_path, "--gpus-per-cell", "0")
    assert r.exit_code == 2 and "--gpus-per-cell 0: must be at least 1" in r.output


class FakeProcess:
    """A pool process that trains nothing: the test answers for it through its pipe, or kills it."""

    def __init__(self):
        self.read, self.write = os.pipe()
        self.sentinel = self.read  # readable once the process has died
        self.exitcode = None

    def die(self):
        self.exitcode = -signal.SIGKILL
        os.close(self.write)

    def join(self, timeout=None):
        pass

    def is_alive(self):
        return self.exitcode is None

    def terminate(self):
        if self.is_alive():
            self.die()

    kill = terminate


@pytest.fixture
def fake_pool(monkeypatch):
    """``LocalExecutor._spawn`` replaced: each start records the GPUs it pins and hands the test the process's end."""
    started = []

    def spawn(self, gpus):
        here, there = multiprocessing.Pipe(duplex=True)
        process = FakeProcess()
        started.append(SimpleNamespace(gpus=gpus, conn=there, process=process))
        return process, here

    monkeypatch.setattr(LocalExecutor, "_spawn", spawn)
    return started


def running_gpus(ex: LocalExecutor) -> list[str]:
    """The GPUs of the running cells' processes: never one twice."""
    pinned = [g for w in ex.workers if w.task is not None for g in w.gpus]
    assert len(pinned) == len(set(pinned)), f"two running cells share a GPU: {pinned}"
    return sorted(pinned)


def task(name: str, tmp_path) -> CellTask:
    return CellTask(name, str(tmp_path / name), {}, 1, name)


def test_each_pool_process_has_its_own_gpu_and_a_freed_gpu_is_taken_again(four_gpus, fake_pool, tmp_path):
    gpus = plan_gpus(six_cells(tmp_path), "local")
    ex = LocalExecutor(4, 1, gpus.groups)
    for name in ("c1", "c2", "c3", "c4"):  # the driver fills the four slots
        ex.submit(task(name, tmp_path))
    assert running_gpus(ex) == ["0", "1", "2", "3"]
    assert [p.gpus for p in fake_pool] == [("0",), ("1",), ("2",), ("3",)]
    assert all(t.gpus == 1 for t in ex.running.values())  # each cell knows it was granted one GPU
    # The cell on GPU 1 ends: the fifth cell goes to that idle process, on GPU 1.
    on_1 = fake_pool[1]
    on_1.conn.send({"cell": on_1.conn.recv().cell, "status": "trained", "seconds": 1.0})
    assert [(t.cell, o["status"]) for t, o in ex.poll(5.0)] == [("c2", "trained")]
    assert running_gpus(ex) == ["0", "2", "3"]
    ex.submit(task("c5", tmp_path))
    assert running_gpus(ex) == ["0", "1", "2", "3"] and len(fake_pool) == 4
    # The process on GPU 2 dies: its cell fails alone, and the process that replaces it takes GPU 2.
    fake_pool[2].process.die()
    fake_pool[2].conn.close()
    ended = ex.poll(5.0)
    assert [(t.cell, o["status"]) for t, o in ended] == [("c3", "died")] and "SIGKILL" in ended[0][1]["error"]
    assert running_gpus(ex) == ["0", "1", "3"]
    ex.submit(task("c6", tmp_path))
    assert fake_pool[-1].gpus == ("2",) and running_gpus(ex) == ["0", "1", "2", "3"]
    assert sorted(ex.running) == ["c1", "c4", "c5", "c6"]
    ex.shutdown()


def test_a_pool_process_is_started_pinned_to_its_gpus_before_torch_sees_any(monkeypatch, tmp_path):
    calls = []

    class Process:
        def __init__(self, target, args, name):
            calls.append((target, args))

        def start(self):
            pass

    ex = LocalExecutor(2, 1, (("0", "1"), ("2", "3")))
    monkeypatch.setattr(ex, "ctx", SimpleNamespace(Pipe=multiprocessing.Pipe, Process=Process))
    ex._start_worker()
    ex._start_worker()
    assert [args[3] for _, args in calls] == ["0,1", "2,3"] and calls[0][0] is executors._local_worker
    # The worker sets CUDA_VISIBLE_DEVICES first thing (torch initialises CUDA lazily, at its first use).
    for name in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "restored after the test")
    monkeypatch.setattr(executors, "_die_with_parent", lambda pid: None)
    closed = SimpleNamespace(recv=lambda: (_ for _ in ()).throw(EOFError))
    sigint = signal.getsignal(signal.SIGINT)
    try:
        executors._local_worker(closed, os.getpid(), 1, "2,3")
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"


# --- several GPUs a cell: DDP under torchrun ---------------------------------------------------------------


def test_gpus_per_cell_2_makes_gpus_over_2_slots_and_the_torchrun_command_line(four_gpus, tmp_path):
    gpus = plan_gpus(six_cells(tmp_path), "local", per_cell=2)
    assert gpus.groups == (("0", "1"), ("2", "3")) and plan_slots(6, None, None, "local", gpus) == (2, 1)
    r, plan = dry_run_json(tmp_path, "--gpus-per-cell", "2")
    assert plan["slots"] == 2 and plan["devices"]["slots"] == [["0", "1"], ["2", "3"]]
    assert "2 GPUs a cell, trained with DDP under torchrun" in plan["devices"]["text"]
    cell = CellTask("c1", str(tmp_path / "c1"), {}, 1, "c1", ("mypkg.pose",), gpus=2)
    cmd = torchrun_command(cell, tmp_path / "c1" / TORCHRUN_CONFIG)
    assert cmd == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "lspd_bench",
        "--import",
        "mypkg.pose",
        "train",
        str(tmp_path / "c1" / TORCHRUN_CONFIG),
        "--resume",
        "--out",
        str(tmp_path / "c1"),
    ]
    from torch.distributed.run import get_args_parser  # torchrun itself reads it so

    parsed = get_args_parser().parse_args(cmd[3:])
    assert parsed.standalone and parsed.nproc_per_node == "2" and parsed.module
    assert [parsed.training_script, *parsed.training_script_args] == cmd[7:]


def test_a_cell_of_two_gpus_trains_under_torchrun_on_its_own_config_and_records_its_devices(
    tiny_overrides, tmp_path, monkeypatch
):
    cfg = load_config("ci", None, tiny_overrides)
    folder = tmp_path / "c1"
    folder.mkdir()
    cell = CellTask("c1", str(folder), cfg.to_dict(), 1, "c1", gpus=2)
    seen = {}

    def fake_torchrun(cmd, stdout, stderr):
        seen["cmd"] = cmd
        seen["config"] = load_config(None, cmd[cmd.index("train") + 1])
        metrics = {
            "headline": 41.0,
            "environment": {"device": "cuda:0", "gpu": GPU_NAME, "cuda_visible_devices": "2,3"},
            "train": {"precision": "fp16", "processes": 2, "epochs_run": 2},
        }
        (folder / "metrics.json").write_text(json.dumps(metrics))
        return SimpleNamespace(returncode=0)

    monkeypatch.setattr(executors.subprocess, "run", fake_torchrun)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    outcome = run_cell(cell)
    assert outcome["status"] == "trained", outcome
    assert seen["cmd"] == torchrun_command(cell, folder / TORCHRUN_CONFIG)
    assert seen["config"] == replace(cfg, device="cuda")  # the same run, on the GPUs it was granted
    status = store.read_json(folder / store.STATUS_FILE)
    assert (status["device"], status["gpu"], status["cuda_visible_devices"]) == ("cuda:0", GPU_NAME, "2,3")
    assert (status["processes"], status["precision"]) == (2, "fp16")

    def failing_torchrun(cmd, stdout, stderr):
        stdout.write(b"[rank0]: noise\nError: precision=bf16: device=cuda does not support bfloat16 here\n")
        return SimpleNamespace(returncode=1)

    (folder / "metrics.json").unlink()
    monkeypatch.setattr(executors.subprocess, "run", failing_torchrun)
    outcome = run_cell(cell)
    assert outcome["status"] == "failed"
    assert outcome["error"] == "precision=bf16: device=cuda does not support bfloat16 here"
    assert (folder / TORCHRUN_LOG).is_file()


# --- a cell's record names its device -----------------------------------------------------------------------


def test_a_cell_trained_here_records_its_device_and_precision(tiny_overrides, tmp_path):
    cfg = load_config("ci", None, tiny_overrides)  # device=auto, precision=auto: the CPU, in fp32
    folder = tmp_path / "cell"
    folder.mkdir()
    assert run_cell(CellTask("cell", str(folder), cfg.to_dict(), 1))["status"] == "trained"
    status = store.read_json(folder / store.STATUS_FILE)
    assert (status["device"], status["gpu"], status["precision"]) == ("cpu", None, "fp32")
    metrics = store.read_json(folder / "metrics.json")
    assert metrics["environment"]["device"] == "cpu" and metrics["train"]["precision"] == "fp32"


def test_a_cell_granted_a_gpu_trains_on_cuda_whatever_its_device_key_says(tiny_overrides, tmp_path, monkeypatch):
    """Ray and SLURM pin a task or job to the GPUs they grant it: cuda is the first of those, so a cell asking
    for cuda:3 or auto trains on the granted one, and its record says which of the machine's it was."""
    import lspd_bench.evaluation.run as evaluation_run

    devices = []

    def fake_train(cfg, out, **kwargs):
        devices.append(cfg.device)
        env = {"device": "cuda:0", "gpu": GPU_NAME, "cuda_visible_devices": "5"}
        return {"headline": 40.0, "environment": env, "train": {"precision": "fp16", "processes": 1, "epochs_run": 2}}

    monkeypatch.setattr(evaluation_run, "train_and_evaluate", fake_train)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    for device in ("auto", "cuda:3"):
        cfg = load_config("ci", None, {**tiny_overrides, "device": device})
        folder = tmp_path / device.replace(":", "")
        folder.mkdir()
        assert run_cell(CellTask("c", str(folder), cfg.to_dict(), 1, gpus=1))["status"] == "trained"
        status = store.read_json(folder / store.STATUS_FILE)
        assert (status["device"], status["gpu"], status["cuda_visible_devices"]) == ("cuda:0", GPU_NAME, "5")
    assert devices == ["cuda", "cuda"]
    # The cluster executors hand every cell the GPUs they ask their scheduler for.
    for kind in (executors.RayExecutor, executors.SubmititExecutor):
        ex = kind.__new__(kind)
        ex.gpus, ex.running = 1, {}
        ex.remote = SimpleNamespace(remote=lambda t: object())  # Ray's task handle
        ex.executor = SimpleNamespace(submit=lambda fn, t: t)  # submitit's job
        ex.submit(CellTask("c", str(tmp_path), {}, 1))
        assert [t.gpus for t in (v[1] if isinstance(v, tuple) else v for v in ex.running.values())] == [1]


def test_the_environment_names_the_gpu_and_which_of_the_machine_s_it_is(four_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    env = environment("cuda")
    assert (env["device"], env["gpu"], env["cuda_visible_devices"]) == ("cuda:0", GPU_NAME, "2")
    assert "gpu" not in environment("cpu")


# --- the precision key ----------------------------------------------------------------------------------


def test_auto_is_fp16_on_cuda_and_fp32_on_the_cpu(four_gpus):
    assert resolve_precision("auto", torch.device("cuda")) is Precision.FP16
    assert resolve_precision("auto", torch.device("cpu")) is Precision.FP32
    assert choose_precision(Precision.BF16, "cpu", bf16=True) is Precision.BF16
    assert choose_precision(Precision.FP32, "cuda", bf16=False) is Precision.FP32
    with pytest.raises(InputError, match="precision=fp16 needs CUDA"):
        choose_precision(Precision.FP16, "cpu", bf16=True, device="auto")


def test_fp16_on_the_cpu_is_refused_in_one_line_before_anything_is_written(tiny_overrides, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--preset", "ci", *keys(tiny_overrides), "precision=fp16", "device=cpu", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and one_error_line(r.output), r.output
    assert "precision=fp16 needs CUDA, and this run trains on device=cpu" in r.output
    assert not out.exists() and not (tmp_path / "cache").exists()
    matrix = ["ablate", "stages=1", "precision=fp32,fp16", "device=cpu", *keys(tiny_overrides), "--preset", "ci"]
    for extra in ((), ("--dry-run",)):
        r = CliRunner().invoke(main, [*matrix, "--out", str(tmp_path / "m"), *extra])
        assert r.exit_code == 2 and one_error_line(r.output), r.output
        assert "cell precision=fp16: precision=fp16 needs CUDA" in r.output
        assert not (tmp_path / "m").exists() and not (tmp_path / "cache").exists()


def test_bf16_where_the_device_lacks_it_is_refused_naming_the_key(tiny_overrides, tmp_path, monkeypatch):
    import lspd_bench.train.loop as loop

    monkeypatch.setattr(loop, "bf16_supported", lambda device: False)
    args = ["train", "--preset", "ci", *keys(tiny_overrides), "precision=bf16", "--out", str(tmp_path / "run")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and one_error_line(r.output)
    assert "precision=bf16: device=auto (cpu here) does not support bfloat16" in r.output
    assert not (tmp_path / "run").exists()


def test_amp_is_one_line_naming_its_replacement():
    for command in (["train", "--preset", "ci", "amp=false"], ["ablate", "stages=1", "amp=true", "--dry-run"]):
        r = CliRunner().invoke(main, command)
        assert r.exit_code == 2 and one_error_line(r.output), r.output
        assert "amp was replaced by precision: use precision=auto|fp32|bf16|fp16" in r.output
        assert "amp=false is precision=fp32" in r.output


def test_precision_auto_is_left_out_of_identities_and_another_is_in_them(tiny_overrides):
    auto = load_config("ci", None, tiny_overrides)
    assert "precision" not in identity(auto, 16, "f") and "amp" not in identity(auto, 16, "f")
    assert identity(replace(auto, precision="bf16"), 16, "f")["precision"] == "bf16"


# --- compatibility: shipped teachers, tables and baselines of the version with amp -------------------------


@pytest.mark.parametrize("path", shipped.shipped_files(), ids=[p.name for p in shipped.shipped_files()])
def test_a_shipped_teacher_is_found_under_this_version_s_identity(path):
    data = shipped.load_shipped(path)  # refuses a file whose identity does not hash to its name
    side = json.loads(path.with_suffix(".json").read_text())
    assert "amp" not in data["identity"] and side["identity"] == data["identity"]
    preset = data["record"]["preset"]
    cfg = load_config(preset, None, {"distill": "teacher", "synth_preset": data["identity"]["synth_preset"]})
    fingerprint = data["identity"]["dataset_fingerprint"]
    ident = identity(teacher_config(cfg), 16, fingerprint, knobs=teacher_knobs(cfg, 16))
    assert shipped.shipped_path(ident) == path  # a cell of the preset finds it without training
    assert shipped.planned_shipped(identity_keys(teacher_config(cfg))) == path  # and a dry run says so


def test_migrating_a_shipped_teacher_refiles_the_same_weights_under_the_new_identity(tmp_path):
    old_identity = {"model": "hourglass", "epochs": 2, "amp": True, "dataset_fingerprint": "f", "suite_version": "0"}
    weights = {"w": torch.arange(6.0).reshape(2, 3), "n": torch.tensor(3)}
    old = shipped.write_shipped(old_identity, {"model": "hourglass", "amp": True}, weights, {"preset": "ci"}, tmp_path)
    new = shipped.migrate_shipped(old)
    assert new == shipped.shipped_path({k: v for k, v in old_identity.items() if k != "amp"}, tmp_path) != old
    assert not old.exists() and not old.with_suffix(".json").exists()
    data = shipped.load_shipped(new)
    assert all(torch.equal(data["state_dict"][k], v) for k, v in weights.items())
    assert data["record"]["renamed_from"] == old.name and "amp" not in data["identity"]
    assert json.loads(new.with_suffix(".json").read_text())["config"] == {"model": "hourglass"}
    assert shipped.migrate_shipped(new) == new  # this version's already: nothing to do


def test_an_earlier_table_with_an_amp_column_reads_as_its_precision(tmp_path):
    table = store.read_table(ROOT / "benchmarks" / "results" / "reference" / "results.csv")
    assert "amp" not in table.columns and "precision" in table.columns
    assert all("amp" not in row and row.get("precision") is None for row in table.rows)  # amp=True: auto
    results = read_results(ROOT / "benchmarks" / "results" / "reference" / "results.csv")
    assert all("precision" not in c.axes for c in results.cells) and len(results.cells) == 8
    # amp=False was fp32: another cell than the default's
    with open(ROOT / "benchmarks" / "results" / "reference" / "results.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    rows = [[v if c != "amp" else "False" for c, v in zip(header, row)] for row in rows[:2]]
    with open(tmp_path / "results.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    assert {c.axes.get("precision") for c in read_results(tmp_path / "results.csv").cells} == {"fp32"}


def test_a_checkpoint_written_with_amp_resumes_as_its_precision(tmp_path):
    from lspd_bench.train.checkpoint import save_checkpoint
    from lspd_bench.train.files import LAST
    from lspd_bench.train.loop import check_run_dir

    ident = {"model": "lspd-xs", "seed": 0, "suite_version": "0.1.0"}
    save_checkpoint(tmp_path / LAST, {"model": {}, "config": {}, "identity": {**ident, "amp": True}})
    check_run_dir(tmp_path, ident, resume=True)  # amp=true was precision=auto, which an identity leaves out
    save_checkpoint(tmp_path / LAST, {"model": {}, "config": {}, "identity": {**ident, "amp": False}})
    with pytest.raises(InputError, match="differs in: precision"):
        check_run_dir(tmp_path, ident, resume=True)
    check_run_dir(tmp_path, {**ident, "precision": "fp32"}, resume=True)


@pytest.mark.parametrize("baseline", ["reports/baseline/ci.json", "examples/plugin/baseline.json"])
def test_a_committed_baseline_with_amp_matches_this_version_s_table_of_the_same_cells(baseline, tmp_path):
    doc, cells = load_baseline(ROOT / baseline)
    assert any("amp" in c["axes"] for c in doc["cells"]) and all("amp" not in c.axes for c in cells)
    rows = []
    for i, (raw, cell) in enumerate(zip(doc["cells"], cells)):
        for seed, value in zip(raw["seeds"], raw["accuracy"]["values"]):
            row = {**cell.axes, "seed": seed, "precision": "auto", schema.CELL: f"c{i}{seed}", schema.STATUS: "done"}
            row.update({k: raw.get(k) for k in ("params_full", "params_deploy") if k in raw})
            row.update({k: raw.get(k) for k in ("latency_ratio", "latency_ratio_low", "latency_ratio_high")})
            row.update({k: v for k, v in raw.items() if k.startswith("gmacs_")}, **{schema.HEADLINE: value})
            row.update({k: v for k, v in doc["context"].items() if not isinstance(v, list)})
            rows.append(row)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(tmp_path / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    report = check(tmp_path / "results.csv", ROOT / baseline)
    assert report["cells"]["missing"] == [] and report["cells"]["new"] == [], report["cells"]
    assert report["passed"], [r for r in report["rows"] if r["fails"]]


# --- the GPU check's rule -----------------------------------------------------------------------------------


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_check_passes_within_the_cpu_seed_noise_and_fails_beyond_it_or_off_cuda():
    g = _gpu_check()
    cpu = {
        "headline": 21.62,
        "seed_sd": 2.0,
        "images_per_s": 90.0,
        "fingerprint": "f",
        "preset_digest": "d",
        "current_digest": "d",
    }

    def cell(precision, headline, **changes):
        done = {"precision": precision, "trained_in": precision, "headline": headline, "images_per_s": 900.0}
        done.update(status="done", error=None, device="cuda:0", gpu=GPU_NAME, fingerprint="f")
        return {**done, **changes}

    limit = 1.96 * 2**0.5 * 2.0  # 5.54 points
    passed, why = g.verdict([cell("fp32", 21.62 + limit - 0.01), cell("bf16", 30.0)], cpu)
    assert passed and "×10.0" in why and GPU_NAME in why
    passed, why = g.verdict([cell("fp32", 21.62 - limit - 0.01), cell("bf16", 20.0)], cpu)
    assert not passed and "beyond the CPU's seed noise" in why
    assert not g.verdict([cell("fp32", 21.62, device="cpu"), cell("bf16", 21.0)], cpu)[0]
    assert not g.verdict([cell("fp32", 21.62), cell("bf16", 21.0, trained_in="fp32")], cpu)[0]
    assert not g.verdict([cell("fp32", 21.62), cell("bf16", None, status="failed", error="boom")], cpu)[0]
    assert not g.verdict([cell("fp32", 21.62, fingerprint="other"), cell("bf16", 21.0)], cpu)[0]
    stale = g.verdict([cell("fp32", 21.62), cell("bf16", 21.0)], {**cpu, "current_digest": "e"})
    assert not stale[0] and "another quick preset" in stale[1]
    assert g.pooled_sd({"a": [1.0, 3.0], "b": [2.0, 2.0, 2.0]}) == pytest.approx((2.0 / 3) ** 0.5)


def test_the_gpu_check_reads_its_cpu_figures_from_the_committed_files():
    cpu = _gpu_check().cpu_figures()
    # seed 0 of stages=2 distill=none on the quick preset (batch 16): benchmarks/results/fidelity.json, presets.json
    assert cpu["headline"] == pytest.approx(25.823, abs=1e-3)
    assert 1.0 < cpu["seed_sd"] < 5.0 and cpu["images_per_s"] > 0 and cpu["fingerprint"]


def test_data_workers_keep_up_on_a_gpu_and_stay_out_of_the_way_on_the_cpu(monkeypatch):
    from lspd_bench.config import load_config
    from lspd_bench.train.loop import data_workers

    auto, two = load_config("ci"), load_config("ci", None, {"workers": 2})
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert data_workers(auto, torch.device("cpu")) == 0  # the cell's cores train the model
    assert data_workers(auto, torch.device("cuda")) == 4  # one per CPU thread of the cell
    monkeypatch.setattr(torch, "get_num_threads", lambda: 32)
    assert data_workers(auto, torch.device("cuda")) == 8
    assert data_workers(two, torch.device("cuda")) == data_workers(two, torch.device("cpu")) == 2
