"""`lspd-bench ablate`: cells, the results store, resume after SIGKILL, failures, executors."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lspd_bench.ablate import schema, store
from lspd_bench.ablate.executors import CellTask, ClusterOptions, run_cell
from lspd_bench.ablate.plan import cores, plan_slots
from lspd_bench.cli import main
from lspd_bench.evaluation.evaluators import evaluator
from lspd_bench.config import load_config


def tiny_specs(tiny_synth, cache, epochs=1):
    """Fixed keys that make a ci-preset cell train in about a second on the tiny benchmark."""
    return [
        f"data_dir={tiny_synth}",
        f"cache_dir={cache}",
        f"epochs={epochs}",
        "batch_size=16",
        "width=16",
        "teacher_features=16",
        "teacher_epochs=2",
        "flip_test=false",
    ]


def ablate_process(tiny_synth, cache, out, epochs: int, *options: str) -> list[str]:
    """The command line of a two-cell ci matrix on the tiny benchmark, for a test that starts it as a process."""
    matrix = ["--preset", "ci", "stages=1..2", *tiny_specs(tiny_synth, cache, epochs=epochs), "--out", str(out)]
    return [sys.executable, "-m", "lspd_bench", "ablate", *matrix, *options, "--latency-min-time", "0", "--json"]


def ablate(*args):
    return CliRunner().invoke(
        main, ["ablate", "--preset", "ci", "--latency-min-time", "0", *args], env={"COLUMNS": "200"}
    )


def results(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / store.RESULTS_CSV)


# --- fast: the store and the plan ----------------------------------------------------------------------


def test_a_cell_held_by_another_process_is_left_alone(tmp_path):
    cell = tmp_path / "abc"
    with store.cell_lock(cell) as held:
        assert held
        out = run_cell(CellTask("abc", str(cell), {}, 1))
    assert out == {"cell": "abc", "status": "busy"}
    assert not (cell / store.STATUS_FILE).exists()
    assert not store.is_locked(cell)  # released with its holder


def _fake_cell(out: Path, cid: str, metric: str, *, cost: bool) -> Path:
    d = out / cid
    store.write_cell(
        d,
        {
            "cell": cid,
            "axes": {"stages": 2},
            "keys": [f"k{cid}"],
            "config": {
                "model": "lspd-xs",
                "distill": "none",
                "alpha": 0.5,
                "loss": "fg_mse",
                "seed": 1,
                "dataset": "synth",
                "synth_preset": "ci",
                "epochs": 3,
                "batch_size": 32,
                "input_size": [64, 64],
                "flip_test": True,
            },
            "identity": {
                "model_knobs": {"stages": 2, "block": "lmrb", "width": 32, "num_joints": 16},
                "dataset_fingerprint": "f00",
            },
        },
    )
    names = evaluator(metric).columns
    stages = [{"stage": k, **{n: 0.5 * k for n in names}} for k in (1, 2)]
    head = evaluator(metric).headline_key
    (d / store.METRICS_FILE).write_text(
        json.dumps(
            {
                "metric": metric,
                "headline_name": "x",
                "headline": stages[0][head],
                "stages": stages,
                "deploy_stage": 1,
                "train": {"seconds_total": 12.0, "images_per_s": 100.0},
            }
        )
    )
    if cost:
        (d / store.COST_FILE).write_text(
            json.dumps(
                {
                    "params": {"full": 2000, "deploy": 1000},
                    "macs": [{"counter": c, "gmacs": 0.1} for c in schema.MAC_COLUMNS],
                    "latency": {"median_ms": 2.0, "p90_ms": 2.5, "threads": 1},
                    "throughput": {"throughput_img_s": 900.0, "batch": 8},
                    "latency_ratio": 1.25,
                }
            )
        )
    return d


def test_results_table_has_one_row_per_cell_and_the_schema_columns(tmp_path):
    a = _fake_cell(tmp_path, "aaa", "pckh", cost=True)
    b = _fake_cell(tmp_path, "bbb", "ap", cost=False)
    rows = [store.result_row(a, "done", "ci"), store.result_row(b, "running", "ci")]
    written = store.write_results(tmp_path, rows, max_stages=2)
    csv = results(tmp_path)
    assert list(csv.columns) == store.columns(2)
    assert list(csv[schema.CELL]) == ["aaa", "bbb"]
    done, running = csv.iloc[0], csv.iloc[1]
    assert done[schema.STATUS] == "done" and done["stages"] == 2 and done["width"] == 32
    assert pd.isna(done["alpha"])  # nothing distilled: alpha does not apply
    assert done["headline"] == 0.5 and done["stage2_headline"] == 1.0 and done["Mean@0.1"] == 0.5
    assert done["latency_ratio"] == 1.25 and done["params_deploy"] == 1000 and done["gmacs_ptflops_aten"] == 0.1
    assert running["AP"] == 50.0 and running["headline"] == 50.0  # COCO fractions as percent
    assert pd.isna(running["latency_ms"])  # no cost yet
    parquet = pd.read_parquet(written["parquet"])
    assert list(parquet.columns) == list(csv.columns) and len(parquet) == 2
    assert str(parquet["stages"].dtype) == "Int64"
    # A missing text (no error: the cell did not fail) stays missing in both tables, never the text "nan".
    assert pd.isna(parquet[schema.ERROR]).all() and pd.isna(csv[schema.ERROR]).all()
    assert [r[schema.ERROR] for r in store.read_table(tmp_path / store.RESULTS_CSV).rows] == [None, None]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # atomic writes leave no temp files


def test_dry_run_finds_cells_an_earlier_run_left_by_their_key(tmp_path):
    _fake_cell(tmp_path, "aaa", "pckh", cost=True)
    _fake_cell(tmp_path, "bbb", "pckh", cost=False)
    store.write_status(tmp_path / "ccc", "running")
    store.record_failure(tmp_path / "ddd", RuntimeError("CUDA out of memory. Tried to allocate"), "train")
    assert store.index_by_key(tmp_path) == {"kaaa": "aaa", "kbbb": "bbb"}
    states = [store.cell_state(tmp_path / c) for c in ("aaa", "bbb", "ccc", "ddd", "eee")]
    assert states == ["done", "trained", "interrupted", "failed", "new"]
    status = store.read_json(tmp_path / "ddd" / store.STATUS_FILE)
    assert status["error"].startswith("out of memory (RuntimeError: CUDA out of memory.")
    assert "RuntimeError: CUDA out of memory" in status["traceback"]


def test_cells_and_threads_never_oversubscribe_the_cores_and_the_thread_count_never_follows_the_layout():
    n = cores()
    for cells in (1, 3, 8):
        slots, threads = plan_slots(cells, None, None, "local")
        assert 1 <= slots <= max(1, min(n, cells)) and slots * threads <= max(n, 1)
    # A cell's figures depend on its thread count: one thread whatever --jobs or the cells left, unless asked.
    assert {plan_slots(c, j, None, "local")[1] for c in (1, 8) for j in (None, 1, 2)} == {1}
    assert plan_slots(8, None, 2, "local") == (max(1, n // 2), 2)
    assert plan_slots(8, None, None, "ray") == (8, 1)  # the cluster schedules; one CPU per task
    assert plan_slots(8, None, None, "inprocess") == (1, 1)  # one at a time, in the driver


def test_the_in_process_executor_runs_a_cell_in_this_process_and_gives_the_threads_back(tmp_path, monkeypatch):
    import torch

    from lspd_bench.ablate.executors import Executor, ExecutorOptions, make_executor

    ex = make_executor("inprocess", ExecutorOptions(slots=4, threads=2, folder=tmp_path))
    assert isinstance(ex, Executor) and ex.slots == 1
    calls = []

    def fake_run_cell(task):
        torch.set_num_threads(task.threads)
        calls.append((task.cell, os.getpid(), torch.get_num_threads()))
        return {"cell": task.cell, "status": "trained"}

    monkeypatch.setattr("lspd_bench.ablate.executors.run_cell", fake_run_cell)
    before = torch.get_num_threads()
    ex.submit(CellTask("abc", str(tmp_path / "abc"), {}, 2))
    assert len(ex.running) == 1
    ended = ex.poll(0.0)
    assert [(t.cell, o["status"]) for t, o in ended] == [("abc", "trained")] and not ex.running
    assert calls == [("abc", os.getpid(), 2)] and torch.get_num_threads() == before
    assert ex.poll(0.0) == []


# --- slow: real matrices ------------------------------------------------------------------------------


@pytest.mark.slow
def test_matrix_trains_evaluates_profiles_and_a_rerun_skips_everything(tiny_synth, tmp_path):
    out, cache = tmp_path / "m", tmp_path / "cache"
    r = ablate(
        "stages=1..2",
        "distill=none,teacher",
        *tiny_specs(tiny_synth, cache),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--json",
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["counts"] == {"done": 4} and summary["slots"] == 2 and summary["threads"] == max(1, cores() // 2)
    table = results(out)
    assert len(table) == 4 and table[schema.CELL].is_unique and set(table[schema.STATUS]) == {"done"}
    assert list(table.columns) == store.columns(2)
    # Every key of a run's identity is a column, with the cell's value (the gate matches cells on all of them).
    preset = load_config("ci")
    assert set(table["lr"]) == {preset.lr} and set(table["ema"]) == {preset.ema} and set(table["width"]) == {16}
    assert table.loc[table["distill"] == "none", "alpha"].isna().all()  # a key that does not apply is empty
    assert pd.read_parquet(out / store.RESULTS_PARQUET)[schema.CELL].tolist() == table[schema.CELL].tolist()
    assert (table["latency_ratio"] > 0).all() and (table["headline"] >= 0).all()
    assert len(list((cache / "teachers").glob("*/teacher.json"))) == 1  # shared work done once

    from lspd_bench.train.build import run_id

    for cid in table[schema.CELL]:
        cell = store.read_json(out / cid / store.CELL_FILE)
        assert run_id(cell["identity"]) == cid  # content-addressed
        cost = store.read_json(out / cid / store.COST_FILE)
        assert cost["reference"]["model"] == "simplebaseline-mbv2" and cost["latency"]["threads"] == 1
        low, high = cost["latency_ratio_interval"]
        assert low <= cost["latency_ratio"] <= high and cost["latency_ratio_rounds"] >= 10
        assert low < high  # a real measurement has noise, and the interval shows it
    # Every cell deploys backbone + stage 1 of the same widths: one network, measured once, one figure.
    costs = [store.read_json(out / cid / store.COST_FILE) for cid in table[schema.CELL]]
    assert len({c["architecture"] for c in costs}) == 1 and len({c["measured_in"] for c in costs}) == 1
    assert table["latency_ratio"].nunique() == 1 and table["latency_ms"].nunique() == 1
    assert len({c["params"]["full"] for c in costs}) == 2  # K = 1 and 2 still differ in what they train
    # The latency phase starts only once every cell has finished training.
    last_metrics = max((out / c / store.METRICS_FILE).stat().st_mtime for c in table[schema.CELL])
    first_cost = min((out / c / store.COST_FILE).stat().st_mtime for c in table[schema.CELL])
    assert first_cost >= last_metrics

    before = {c: (out / c / store.METRICS_FILE).stat().st_mtime_ns for c in table[schema.CELL]}
    again = ablate("stages=1..2", "distill=none,teacher", *tiny_specs(tiny_synth, cache), "--out", str(out), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["cell_seconds"] == 0.0
    assert before == {c: (out / c / store.METRICS_FILE).stat().st_mtime_ns for c in table[schema.CELL]}
    assert len(results(out)) == 4

    plan = ablate(
        "stages=1..3", "distill=none,teacher", *tiny_specs(tiny_synth, cache), "--out", str(out), "--dry-run", "--json"
    )
    states = [c["state"] for c in json.loads(plan.stdout)["cells"]]
    assert states == ["done"] * 4 + ["new"] * 2


@pytest.mark.slow
def test_a_failing_cell_is_recorded_the_rest_run_and_the_exit_code_says_so(tiny_synth, tmp_path):
    out, cache = tmp_path / "m", tmp_path / "cache"
    # A batch larger than the tiny benchmark's 96 training people: an error when the cell starts training.
    specs = [s for s in tiny_specs(tiny_synth, cache) if not s.startswith("batch_size=")]
    args = ["batch_size=16,200", *specs, "--out", str(out)]
    r = ablate(*args)
    assert r.exit_code == 1, r.output
    table = results(out).set_index("batch_size")
    assert table.loc[16, schema.STATUS] == "done"
    assert table.loc[200, schema.STATUS] == "failed"
    assert table.loc[200, schema.ERROR] == "the training split has 96 samples, fewer than one batch of 200"
    assert "failed:" in r.output and "--retry-failed" in r.output
    failed = out / table.loc[200, schema.CELL]
    assert store.read_json(failed / store.STATUS_FILE)["attempts"] == 1

    assert ablate(*args).exit_code == 1  # still failed, not run again
    assert store.read_json(failed / store.STATUS_FILE)["attempts"] == 1
    assert ablate(*args, "--retry-failed").exit_code == 1
    assert store.read_json(failed / store.STATUS_FILE)["attempts"] == 2


@pytest.mark.slow
def test_sigkill_mid_run_loses_at_most_an_epoch_and_the_rerun_resumes(tiny_synth, tmp_path):
    out, cache = tmp_path / "m", tmp_path / "cache"
    cmd = ablate_process(tiny_synth, cache, out, 8, "--jobs", "2")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        for last in out.glob("*/last.pt"):
            if not (last.parent / store.METRICS_FILE).exists():
                victim = last.parent
        time.sleep(0.02)
    assert victim is not None, "no cell was caught mid-training"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    workers = [store.read_json(p)["pid"] for p in out.glob(f"*/{store.STATUS_FILE}")]
    for _ in range(100):  # the workers die with their driver
        alive = [p for p in workers if _alive(p)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive
    if (out / store.RESULTS_CSV).exists():
        assert results(out)[schema.CELL].is_unique

    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    table = results(out)
    assert len(table) == 2 and table[schema.CELL].is_unique and set(table[schema.STATUS]) == {"done"}
    metrics = store.read_json(victim / store.METRICS_FILE)
    assert metrics["train"]["resumed_from_epoch"] >= 1  # continued from its checkpoint
    assert len(metrics["train"]["history"]) == 8 and [h["epoch"] for h in metrics["train"]["history"]] == list(range(8))
    assert store.read_json(victim / store.STATUS_FILE)["attempts"] == 2


@pytest.mark.slow
def test_a_cell_whose_worker_is_killed_fails_alone(tiny_synth, tmp_path):
    """What the kernel's OOM killer does to a cell: SIGKILL its worker. The cell fails, the rest go on."""
    out, cache = tmp_path / "m", tmp_path / "cache"
    cmd = ablate_process(tiny_synth, cache, out, 3, "--jobs", "1", "--threads", "1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        for path in out.glob(f"*/{store.STATUS_FILE}"):
            status = store.read_json(path)
            if status and status["status"] == "running":
                victim = path.parent
                os.kill(status["pid"], signal.SIGKILL)
                break
        time.sleep(0.02)
    assert victim is not None
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1
    summary = json.loads(stdout)
    assert summary["counts"] == {"done": 1, "failed": 1}
    row = results(out).set_index(schema.CELL).loc[victim.name]
    assert row[schema.STATUS] == "failed" and "killed by SIGKILL" in row[schema.ERROR]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too; on Linux its state letter is Z.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.slow
def test_ray_runs_each_cell_as_a_task(tiny_synth, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install ray)")
    from lspd_bench.ablate.matrix import load_matrix
    from lspd_bench.ablate.run import run_matrix

    matrix = load_matrix(None, ["stages=1..2", *tiny_specs(tiny_synth, tmp_path / "cache")], preset="ci")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_matrix(matrix, tmp_path / "m", executor="ray", latency_min_time_s=0)
    finally:
        ray.shutdown()
    assert summary["counts"] == {"done": 2} and summary["slots"] == 2
    workers = {store.read_json(Path(c["run_dir"]) / store.STATUS_FILE)["worker_pid"] for c in summary["cells"]}
    assert os.getpid() not in workers  # trained in Ray workers, not in the driver
    assert len(results(tmp_path / "m")) == 2


@pytest.mark.slow
def test_in_process_executor_runs_the_matrix_in_the_driver(tiny_synth, tmp_path):
    from lspd_bench.ablate.matrix import load_matrix
    from lspd_bench.ablate.run import run_matrix

    matrix = load_matrix(None, ["stages=1..2", *tiny_specs(tiny_synth, tmp_path / "cache")], preset="ci")
    summary = run_matrix(matrix, tmp_path / "m", executor="inprocess", latency_min_time_s=0)
    assert summary["counts"] == {"done": 2} and summary["slots"] == 1
    workers = {store.read_json(Path(c["run_dir"]) / store.STATUS_FILE)["worker_pid"] for c in summary["cells"]}
    assert workers == {os.getpid()}
    assert len(results(tmp_path / "m")) == 2


@pytest.mark.slow
def test_submitit_local_executor_runs_the_cells(tiny_synth, tmp_path):
    pytest.importorskip("submitit", reason="the submitit extra is not installed (pip install submitit)")
    from lspd_bench.ablate.matrix import load_matrix
    from lspd_bench.ablate.run import run_matrix

    matrix = load_matrix(None, ["stages=1..2", *tiny_specs(tiny_synth, tmp_path / "cache")], preset="ci")
    summary = run_matrix(
        matrix, tmp_path / "m", executor="submitit", cluster=ClusterOptions(cluster="local"), latency_min_time_s=0
    )
    assert summary["counts"] == {"done": 2}
    assert list((tmp_path / "m" / ".submitit").iterdir())  # submitit's job files
    assert set(results(tmp_path / "m")[schema.STATUS]) == {"done"}


def test_without_a_terminal_progress_is_plain_lines_with_elapsed_time_and_eta(tiny_synth, tmp_path):
    """A CI log gets a line per phase, per cell state and per epoch, not a live table it cannot redraw."""
    r = ablate("stages=1", *tiny_specs(tiny_synth, tmp_path / "cache", epochs=2), "--out", str(tmp_path / "m"))
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if x.startswith("[")]
    assert any(x.endswith("] training and evaluating the cells") for x in lines), r.output
    assert any(x.endswith("] measuring latency (nothing else running)") for x in lines), r.output
    assert any(re.fullmatch(r"\[\d+ s, ETA (\d+ s|\?)\] cell \w+ \(\w+\): running( epoch [12]/2)?", x) for x in lines)
    headline = results(tmp_path / "m").loc[0, schema.HEADLINE]
    assert [x for x in lines if ": done " in x][0].endswith(f": done {headline:.2f}"), r.output
