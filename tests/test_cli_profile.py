"""`lspd-bench profile` and `lspd-bench models` as a user runs them."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lspd_bench.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})


def test_profile_json_has_every_figure_with_its_convention():
    r = run("profile", "lspd-xs", "--input", "64x64", "--threads", "1", "--batch", "2", "--min-time", "0", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["measured"] == "deploy" and out["input"] == [64, 64]
    assert out["params"]["deploy"] < out["params"]["full"]
    counters = [m["counter"] for m in out["macs"]]
    assert counters == ["fvcore", "conv+linear", "ptflops-pytorch", "ptflops-aten"]
    assert all(m["macs"] > 0 for m in out["macs"])
    assert [(x["threads"], x["batch"]) for x in out["latency"]] == [(1, 1), (1, 2)]
    # The forward pass holds at least its output: 16 heatmaps of 16×16 float32 (stride 4) at batch 1.
    assert out["memory"]["batch"] == 1 and out["memory"]["peak_activation_bytes"] >= 16 * 16 * 16 * 4
    assert out["environment"]["libraries"]["torch"].startswith("2.")
    assert any("GMACs" in c for c in out["conventions"])


def test_profile_without_a_terminal_logs_each_step_with_elapsed_time_and_eta():
    r = run("profile", "lspd-xs", "--input", "64x64", "--threads", "1", "--batch", "2", "--min-time", "0", "--json")
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    steps = [
        "counting parameters and MACs 0/4",
        "measuring peak memory 1/4",
        "timing 1 thread, batch 1 2/4",
        "timing 1 thread, batch 2 3/4",
    ]
    assert [line.split("] profiling lspd-xs: ")[-1].removesuffix(" steps") for line in lines[1:]] == steps
    assert all(line.startswith("[") and ", ETA " in line for line in lines)
    json.loads(r.stdout)  # stdout stays one JSON document


def test_zoo_profiles_every_model_at_the_input_asked(tmp_path):
    out = tmp_path / "zoo.json"
    r = run("zoo", "--input", "64x64", "--out", str(out))
    assert r.exit_code == 0, r.output
    profiles = json.loads(out.read_text())
    assert {tuple(p["input"]) for p in profiles} == {(64, 64)}
    assert {"simplebaseline-r50", "litehrnet-18", "lspd-xs"} <= {p["model"] for p in profiles}
    assert "input" in r.stdout and "64x64" in r.stdout


def test_profile_table_names_the_counters_and_units():
    r = run(
        "profile",
        "lspd-xs",
        "--input",
        "64x64",
        "--threads",
        "1",
        "--batch",
        "1",
        "--min-time",
        "0",
        "--full",
        "-k",
        "stages=3",
    )
    assert r.exit_code == 0, r.output
    for text in ("fvcore 0.1.5", "backend=pytorch", "backend=aten", "GMACs", "median ms", "measuring the full"):
        assert text in r.stdout, text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "no-such-net"], "unknown model 'no-such-net'; choose from:"),
        (["profile", "lspd-xs", "--input", "250x250"], "input 250x250 does not fit model 'lspd-xs'"),
        (["profile", "lspd-xs", "--input", "big"], "'big' is not of the form HxW"),
        (["profile", "lspd-xs", "--threads", "0"], "thread count 0 is outside 1.."),
        (["profile", "lspd-xs", "--threads", "many"], "'many' is not a thread count"),
        (["profile", "lspd-xs", "-k", "colour=red"], "no knob 'colour'"),
        (["profile", "lspd-xs", "-k", "stages=9"], "stages must be in 1..8"),
        (["profile", "lspd-xs", "-k", "stages"], "not of the form key=value"),
        (["profile", "lspd-xs", "--joints", "0"], "joints must be a positive integer"),
        (["profile", "lspd-xs", "--batch", "0"], "batch must be a positive integer"),
        (["profile", "lspd-xs", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_2(args, message):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_models_lists_every_family_with_knobs():
    r = run("models", "--json")
    assert r.exit_code == 0
    entries = {e["name"]: e for e in json.loads(r.stdout)}
    assert {e["family"] for e in entries.values()} == {"lspd", "hourglass", "simplebaseline", "litehrnet"}
    assert entries["lspd-s"]["knobs"]["block"] == "lmrb"
    assert entries["hourglass"]["knobs"] == {"stacks": 8, "features": 256, "num_joints": 16}


def test_python_dash_m_runs_the_cli():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "lspd_bench", "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "lspd-bench" in r.stdout


def test_plain_progress_says_each_new_step_and_the_end_but_a_count_at_most_every_two_seconds():
    from rich.console import Console

    from lspd_bench.cli import PlainProgress

    console = Console(record=True, width=200, file=open(os.devnull, "w"))
    now = [0.0]
    bar = PlainProgress(console, "samples")
    bar.clock = lambda: now[0]
    task = bar.add_task("rendering", total=80)
    for _ in range(80):
        now[0] += 0.125  # exact in binary: the 2-s marks fall on samples 16, 32, 48, 64
        bar.advance(task)
    bar.update(task, description="hashing")
    lines = console.export_text().splitlines()
    assert lines[0] == "[0 s, ETA ?] rendering 0/80 samples"
    assert lines[1] == "[2 s, ETA 8 s] rendering 16/80 samples"  # 0.125 s per sample: 64 left, 8 s
    assert lines[-2] == "[10 s, ETA 0 s] rendering 80/80 samples"  # the end, whatever the interval
    assert lines[-1] == "[10 s, ETA 0 s] hashing 80/80 samples"
    assert len(lines) == 1 + 4 + 1 + 1  # the start, a count at 2, 4, 6 and 8 s, the end, the new step


def test_a_plain_progress_line_is_never_wrapped_at_the_consoles_width():
    from rich.console import Console

    from lspd_bench.cli import PlainProgress

    console = Console(record=True, width=40, file=open(os.devnull, "w"))  # a CI log: no terminal, 80 columns or fewer
    bar = PlainProgress(console)
    bar.add_task("cell 2ce163bb587a (stages=2 distill=teacher seed=0): running epoch 2/4", total=None)
    assert console.export_text().splitlines() == [
        "[0 s, ETA ?] cell 2ce163bb587a (stages=2 distill=teacher seed=0): running epoch 2/4"
    ]
