"""Every bad input is one line and exit 2, found before anything is written; finished work survives.

The battery is a table: each row is a command line (``{file}``, ``{matrix}``, ``{cell}``, ``{tiny}`` … are
filled in from the world below) and the words its one ``Error:`` line must hold. For every row the test
checks exit code 2, exactly one ``Error:`` line with those words, no traceback, and that the world (a
finished matrix folder, a file, the cache, the working folder) is byte for byte what it was. New commands
join the battery by adding rows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lspd_bench.ablate import schema, store
from lspd_bench.cli import main

NOT_UTF8 = b"stages: [1, 2]\nname: \xff\xfe\n"


def tiny(world: Path) -> list[str]:
    """Keys that make a ci-preset cell train in about a second on the tiny benchmark."""
    return [
        f"data_dir={world / 'tiny'}",
        f"cache_dir={world / 'cache'}",
        "epochs=1",
        "batch_size=16",
        "width=16",
        "flip_test=false",
    ]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def finished(tiny_synth, tmp_path_factory) -> Path:
    """A world with a finished two-cell matrix (``matrix/``), its cache and the tiny benchmark, made once, and
    a few bad files. The battery runs in it as the working folder: its commands must leave it as it is."""
    world = tmp_path_factory.mktemp("finished")
    shutil.copytree(tiny_synth, world / "tiny")
    r = rerun(world)
    assert r.exit_code == 0, r.output
    (world / "file").write_text("a plain file\n")
    (world / "latin1.yaml").write_bytes(NOT_UTF8)
    (world / "folder.yaml").mkdir()
    return world


@pytest.fixture
def world(finished, tmp_path) -> Path:
    """A private copy of the finished world, for the tests that damage it."""
    shutil.copytree(finished, tmp_path / "world")
    return tmp_path / "world"


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and a hash of its bytes (folders as entries too)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.name.startswith(".") and path.name.endswith(".lock"):  # lock files: opened, never written
            continue
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def cell_of(world: Path, stages: int) -> Path:
    table = store.read_results(world / "matrix")
    return world / "matrix" / table.loc[table["stages"] == stages, schema.CELL].item()


# (command line, words of the one error line). Placeholders: {w} the world, {tiny} its benchmark keys
# ({nocache} without cache_dir, {nowidth} without width), {cell1} and {cell2} the finished cells of stages 1 and 2.
CASES = [
    # an output path inside an existing file, for every command that writes
    ("ablate --preset ci stages=1 {tiny} --out {w}/file/sub", "file/sub cannot be created: {w}/file is a file"),
    ("train --preset ci {tiny} --out {w}/file/x", "file/x cannot be created: {w}/file is a file"),
    ("eval {cell1} --out {w}/file/x", "file/x cannot be created"),
    ("data show {w}/tiny --out {w}/file/grid.png", "file/grid.png cannot be created"),
    ("report {w}/matrix --out {w}/file/rep", "file/rep cannot be created"),
    ("check {w}/matrix --baseline {w}/nobaseline.json --markdown {w}/file/x.md", "file/x.md cannot be created"),
    ("zoo --out {w}/file/zoo.json", "file/zoo.json cannot be created"),
    ("data synth --out {w}/file/d", "file/d cannot be created"),
    ("train --preset ci {nocache} cache_dir={w}/file", "cache_dir {w}/file is a file, not a folder"),
    (
        "ablate --preset ci stages=1 {nocache} cache_dir={w}/file/c --out {w}/new",
        "cache_dir {w}/file/c cannot be created",
    ),
    # files that are not what they say
    ("ablate {w}/latin1.yaml --out {w}/new", "latin1.yaml is not UTF-8 text"),
    ("ablate {w}/folder.yaml --out {w}/new", "folder.yaml is a folder, not a YAML file"),
    ("train {w}/latin1.yaml --preset ci {tiny}", "latin1.yaml is not UTF-8 text"),
    # values out of their declared range
    ("ablate --preset ci width=-8 {nowidth} --out {w}/new", "width=-8 must be in [1, inf)"),
    ("train --preset ci {tiny} seed=-1", "seed=-1 must be in [0, 4294967295]"),
    ("data synth --out {w}/d --seed -1", "-1 is not in the range"),
    ("train --preset ci {tiny} lr=.nan", "lr=nan must be in (0, inf)"),
    ("train --preset ci {tiny} sigma=0", "sigma=0.0 must be in (0, inf)"),
    ("train --preset ci {tiny} input_size=[20,20]", "input 20x20 does not fit model 'lspd-xs'"),
    ("train --preset ci {tiny} input_size=64x60", "input 64x60 does not fit model 'lspd-xs'"),
    ("profile lspd-s -k width=0 --no-latency", "width=0 must be in [1, inf)"),
    ("profile lspd-s --min-time -1", "--min-time -1.0: must be 0 or more seconds"),
    ("ablate --preset ci stages=1..2 {tiny} --out {w}/matrix --latency-min-time -5", "--latency-min-time -5.0"),
    # options checked before an existing folder is touched
    ("ablate --preset ci stages=1..2 {tiny} --out {w}/matrix --threads 0", "--threads 0: must be at least 1"),
    ("ablate --preset ci stages=1..2 {tiny} --out {w}/matrix --jobs 0", "--jobs 0: must be at least 1"),
    ("ablate --preset ci stages=1..2 {tiny} --out {w}/matrix --jobs -2", "--jobs -2: must be at least 1"),
    # a folder trained with one thread count, run with another: its table would mix the two
    (
        "ablate --preset ci stages=1..2 {tiny} --out {w}/matrix --threads 2",
        "were trained with 1 torch thread(s) each and this run would train with 2",
    ),
    # a value only the built model can refuse: still before anything is written
    (
        "ablate --preset ci stages=1..2 stage_weights=[1,1,1] {tiny} --out {w}/matrix",
        "stage_weights=[1.0, 1.0, 1.0] has 3 entries for model 'lspd-xs' with 1 stage(s)",
    ),
    (
        "train --preset ci stage_weights=[1,1,1] {tiny} --out {w}/run",
        "has 3 entries for model 'lspd-xs' with 2 stage(s)",
    ),
    # a run folder that holds another run
    ("train --preset ci stages=2 {tiny} --out {cell2}", "already holds a run (last.pt); pass --resume"),
    ("train --preset ci stages=2 ema=0.5 {tiny} --out {cell2} --resume", "belongs to a different configuration"),
]


@pytest.mark.parametrize(("line", "words"), CASES, ids=[c[0].split(" {")[0][:60] for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_nothing_is_written(finished, line, words, monkeypatch):
    world = finished
    monkeypatch.chdir(world)  # commands that write to a default folder would write here
    keys = tiny(world)
    fill = {
        "w": str(world),
        "tiny": " ".join(keys),
        "nocache": " ".join(k for k in keys if "cache_dir" not in k),
        "nowidth": " ".join(k for k in keys if "width" not in k),
        "cell1": str(cell_of(world, 1)),
        "cell2": str(cell_of(world, 2)),
    }
    before = snapshot(world)
    result = invoke(*line.format(**fill).split())
    errors = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and words.format(**fill) in errors[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(world) == before


def test_input_size_takes_the_tables_hxw_form(tiny_synth, tmp_path):
    from lspd_bench.config import load_config

    assert load_config("ci", None, {"input_size": "64x96"}).input_size == (64, 96)
    r = invoke(
        "train",
        "--preset",
        "ci",
        f"data_dir={tiny_synth}",
        f"cache_dir={tmp_path / 'c'}",
        "epochs=1",
        "batch_size=16",
        "width=16",
        "flip_test=false",
        "input_size=64x96",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["identity"]["input_size"] == [64, 96]


def test_an_input_the_teacher_cannot_take_stops_the_matrix_in_one_line(tiny_overrides, tmp_path):
    # lspd-xs takes multiples of 32, the hourglass teacher multiples of 64: 96x96 fits the student only
    keys = [f"{k}={v}" for k, v in tiny_overrides.items()]
    out = tmp_path / "m"
    r = invoke(
        "ablate", "stages=1", "distill=none,teacher", "input_size=96x96", "--preset", "ci", *keys, "--out", str(out)
    )
    errors = [x for x in r.output.splitlines() if x.startswith("Error:")]
    assert r.exit_code == 2 and len(errors) == 1 and "Traceback" not in r.output, r.output
    assert "hourglass (the teacher)" in errors[0] and "96x96" in errors[0]
    assert not any(out.glob("*/last.pt"))  # no cell trained, not even the one without a teacher


# --- finished work survives damage, and a rerun repairs it ---------------------------------------------


def test_one_job_trains_with_the_same_thread_count_as_the_default_layout_so_nothing_is_trained_again(world):
    r = rerun(world, "--jobs", "1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["threads"] == 1 and json.loads(r.stdout)["cell_seconds"] == 0.0


def rerun(world: Path, *extra: str):
    return invoke(
        "ablate",
        "--preset",
        "ci",
        "stages=1..2",
        *tiny(world),
        "--out",
        str(world / "matrix"),
        "--latency-min-time",
        "0",
        "--json",
        *extra,
    )


def test_a_torn_metrics_file_is_not_done_and_the_rerun_evaluates_the_cell_again(world):
    cell = cell_of(world, 2)
    good = store.read_json(cell / store.METRICS_FILE)["headline"]
    text = (cell / store.METRICS_FILE).read_text()
    (cell / store.METRICS_FILE).write_text(text[: len(text) // 2])
    assert store.cell_state(cell) == "interrupted"
    r = rerun(world)
    assert r.exit_code == 0, r.output
    assert store.read_json(cell / store.METRICS_FILE)["headline"] == good  # the same weights, evaluated again
    assert store.read_results(world / "matrix").set_index("stages").loc[2, schema.HEADLINE] == pytest.approx(good)


def test_a_damaged_results_table_is_one_line_for_report_and_check_and_a_rerun_rebuilds_it(world):
    matrix = world / "matrix"
    csv = matrix / store.RESULTS_CSV
    good = csv.read_bytes()
    csv.write_bytes(good[: len(good) - 40])  # cut short, as a disk or a copy can
    for args in (
        ["report", str(matrix), "--out", str(world / "rep")],
        ["check", str(matrix), "--baseline", str(world / "b.json"), "--update-baseline"],
    ):
        r = invoke(*args)
        errors = [x for x in r.output.splitlines() if x.startswith("Error:")]
        assert r.exit_code == 2 and len(errors) == 1, r.output
        assert "results.csv is damaged or incomplete" in errors[0] and "rerun `lspd-bench ablate`" in errors[0]
    assert not (world / "rep").exists() and not (world / "b.json").exists()
    assert rerun(world).exit_code == 0
    assert csv.read_bytes() == good


def test_a_writer_killed_between_the_two_tables_leaves_no_table_that_a_reader_takes(world):
    matrix = world / "matrix"
    # What a SIGKILL between the CSV and the Parquet write leaves: a new CSV, the old Parquet and manifest.
    table = store.read_results(matrix)
    table.loc[0, schema.STATUS] = "running"
    table.to_csv(matrix / store.RESULTS_CSV, index=False)
    (matrix / ".results.parquet.abc123.tmp").write_bytes(b"half a parquet file")
    with pytest.raises(Exception, match="does not match results.json"):
        store.check_table(matrix / store.RESULTS_CSV)
    store.check_table(matrix / store.RESULTS_PARQUET)  # the old, whole pair still agrees with its manifest
    assert rerun(world).exit_code == 0
    assert not list(matrix.glob(".results.*.tmp"))  # the stale temporary is swept
    csv, parquet = store.check_table(matrix / store.RESULTS_CSV), store.check_table(matrix / store.RESULTS_PARQUET)
    import pandas as pd

    assert pd.read_csv(csv)[schema.STATUS].tolist() == pd.read_parquet(parquet)[schema.STATUS].tolist() == ["done"] * 2


def test_a_new_matrix_in_an_old_folder_keeps_the_finished_rows(world):
    before = store.read_results(world / "matrix").set_index(schema.CELL)
    r = invoke(
        "ablate",
        "--preset",
        "ci",
        "stages=3",
        *tiny(world),
        "--out",
        str(world / "matrix"),
        "--latency-min-time",
        "0",
        "--json",
    )
    assert r.exit_code == 0, r.output
    after = store.read_results(world / "matrix").set_index(schema.CELL)
    assert len(after) == 3 and set(before.index) < set(after.index)
    for cid in before.index:
        assert after.loc[cid, schema.HEADLINE] == before.loc[cid, schema.HEADLINE]
        assert after.loc[cid, schema.STATUS] == "done"
    cells = json.loads((world / "matrix" / store.MATRIX_FILE).read_text())["cells"]
    assert len(cells) == 3


def test_retry_failed_sets_an_unreadable_checkpoint_aside_and_starts_the_cell_again(world):
    cell = cell_of(world, 2)
    for name in (store.METRICS_FILE, store.COST_FILE):
        (cell / name).unlink()
    last = cell / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # damaged on disk
    r = rerun(world)
    assert r.exit_code == 1, r.output
    status = store.read_json(cell / store.STATUS_FILE)
    assert status["status"] == "failed" and "last.pt cannot be read" in status["error"]
    r = rerun(world, "--retry-failed")
    assert r.exit_code == 0, r.output
    kept = list(cell.glob("last.pt.unreadable-*"))
    assert len(kept) == 1 and kept[0].stat().st_size == 1000
    assert any(
        "its checkpoint could not be read; kept as last.pt.unreadable-" in w for w in json.loads(r.stdout)["warnings"]
    )
    assert store.cell_state(cell) == "done"
