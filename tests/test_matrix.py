"""Matrix specs and validation (`lspd-bench ablate ... --dry-run`) as a user writes them."""

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from lspd_bench.ablate import matrix as matrix_module
from lspd_bench.ablate.matrix import PACKAGED_CATALOGUE, build_catalogue, load_matrix, model_catalogue, parse_spec
from lspd_bench.ablate.plan import latency_seconds
from lspd_bench.cli import main
from lspd_bench.config import load_config
from lspd_bench.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
ABLATIONS = sorted((ROOT / "ablations").glob("*.yaml"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache (LSPD_BENCH_CACHE) holding the model catalogue, as any earlier run leaves it."""
    path = tmp_path / "cache"
    monkeypatch.setenv("LSPD_BENCH_CACHE", str(path))
    model_catalogue(path)
    return path


def axes(matrix, key):
    return [c.axes[key] for c in matrix.cells]


def test_range_is_inclusive_at_both_ends():
    assert parse_spec("stages", "1..4") == (1, 2, 3, 4)
    assert parse_spec("seed", "0..0") == (0,)


def test_lists_fixed_values_and_list_valued_keys():
    assert parse_spec("distill", "none,teacher") == ("none", "teacher")
    assert parse_spec("alpha", "0.25,0.5") == (0.25, 0.5)
    assert parse_spec("block", "lmrb") == ("lmrb",)
    assert parse_spec("input_size", "[128,128],[256,192]") == ((128, 128), (256, 192))
    assert parse_spec("input_size", "[128,128]") == ((128, 128),)


def test_several_keys_make_the_product_and_seeds_repeat_it(cache):
    m = load_matrix(None, ["stages=1..2", "distill=none,teacher", "seed=0..2"], preset="ci")
    assert len(m.cells) == 12
    assert set(m.varying) == {"stages", "distill", "seed"}
    first = m.cells[0]
    assert (first.config.stages, first.config.distill, first.config.seed) == (1, "none", 0)
    assert first.config.model == "lspd-xs" and first.config.synth_preset == "ci"  # the preset underneath
    assert len({c.key for c in m.cells}) == 12


def test_yaml_groups_exclude_rules_and_command_line_overrides(tmp_path, cache):
    f = tmp_path / "m.yaml"
    f.write_text(
        "preset: ci\nconfig: {epochs: 2}\nmatrix:\n"
        "  - {stages: 1..3, distill: [none, sequence]}\n"
        "  - {model: [simplebaseline-r18]}\n"
        "exclude:\n  - {stages: 1, distill: sequence}\n  - {block: basic}\n"
    )
    m = load_matrix(f, ["epochs=1"])
    labels = [c.label(m.varying) for c in m.cells]
    assert "stages=1 distill=sequence" not in labels and "stages=2 distill=sequence" in labels
    assert len(m.cells) == 6  # 3 x 2 - 1 excluded + 1 baseline
    baseline = m.cells[-1].config
    assert baseline.model == "simplebaseline-r18" and baseline.stages is None  # its knobs are not passed
    assert all(c.config.epochs == 1 for c in m.cells)  # the command line wins over the file's config
    assert any("exclude rule 2" in w and "matches no cell" in w for w in m.warnings)
    assert m.name == f"m-{m.spec_hash}"  # changed on the command line: its own folder, not runs/m


def test_a_matrix_file_used_as_is_is_named_by_its_file(cache):
    m = load_matrix(ROOT / "ablations" / "ci.yaml")
    assert m.name == "ci" and str(m.default_out()) == os.path.join("runs", "ci")
    assert [c.label(m.varying) for c in m.cells] == [
        f"stages={k} distill={d} seed={s}" for k in (1, 2) for d in ("none", "teacher") for s in (0, 1)
    ]


@pytest.mark.parametrize("path", ABLATIONS, ids=[p.stem for p in ABLATIONS])
def test_shipped_matrices_are_valid(path, cache):
    m = load_matrix(path)
    assert m.cells and not m.warnings


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["stagez=1..2"], "unknown key 'stagez'; valid keys: dataset, data_dir"),
        (["stages=4..1"], "stages=4..1: a range a..b needs a <= b"),
        (["alpha=0.1..0.5"], "ranges a..b are for integers"),
        (["distill=teachr"], "distill='teachr' is not one of: none, teacher, sequence, teacher+sequence"),
        (["stages=two"], "stages='two' is not a valid int"),
        (["model=nope"], "unknown model 'nope'; choose from: hourglass, litehrnet-18"),
        (["block=dense"], "block='dense' is not one of: basic, bottleneck, inverted, lmrb"),
        (["model=lspd-xs,simplebaseline-r18", "stages=2"], "model 'simplebaseline-r18' has no knob 'stages'"),
        (["stages"], "is not of the form key=spec"),
        (["stages=1,,2"], "an empty item in the list"),
        (["stages=1", "stages=2"], "key 'stages' is given twice"),
    ],
)
def test_bad_specs_name_the_key_and_the_valid_choices(specs, message, cache):
    with pytest.raises(InputError, match=None) as err:
        load_matrix(None, specs, preset="ci")
    assert message in str(err.value)


def test_bad_matrix_files_are_input_errors(tmp_path, cache):
    bad = tmp_path / "bad.yaml"
    bad.write_text("matrix: {stages: 1..2}\nseeds: 3\n")
    with pytest.raises(InputError, match="unknown key"):
        load_matrix(bad)
    bad.write_text("matrix: {stages: 1..2}\nexclude: [{stages: 1}, {stages: 2}]\n")
    with pytest.raises(InputError, match="every cell is excluded"):
        load_matrix(bad)
    with pytest.raises(InputError, match="unknown preset 'fast'; choose from: ci, paper, quick"):
        load_matrix(None, ["stages=1"], preset="fast")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["distill=teachr"], "distill='teachr' is not one of"),
        (["stages=1", "--executor", "slurm"], "unknown executor 'slurm'; choose from: local, ray, submitit, inprocess"),
        (
            ["stages=1", "--executor", "inprocess", "--jobs", "2"],
            "--jobs 2: --executor inprocess runs one cell at a time",
        ),
        (["stages=1", "--jobs", "0"], "--jobs 0: must be at least 1"),
        (["stages=1", "--dataset", "imagenet"], "dataset='imagenet' is not one of: synth, mpii, coco"),
        (["a.yaml", "b.yaml"], "one MATRIX.yaml at most"),
        (["missing.yaml"], "matrix file missing.yaml does not exist"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(args, message, cache):
    r = CliRunner().invoke(main, ["ablate", *args, "--dry-run"])
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output


def test_an_executor_is_checked_by_its_registry_entry_before_any_work(tmp_path, cache, monkeypatch):
    from lspd_bench.ablate.executors import EXECUTORS, ExecutorKind, InProcessExecutor
    from lspd_bench.ablate.plan import dry_run
    from lspd_bench.ablate.run import run_matrix

    matrix = load_matrix(None, ["stages=1"], preset="ci")
    with pytest.raises(InputError, match="unknown executor 'slurm'; choose from: local, ray, submitit, inprocess"):
        run_matrix(matrix, tmp_path / "m", executor="slurm")
    missing = ExecutorKind(
        "remote",
        "cells elsewhere",
        lambda o: InProcessExecutor(o.threads),
        parallel="all",
        module="lspd_bench_no_such_library",
        library="Remote",
        install="remote-cells",
    )
    monkeypatch.setitem(EXECUTORS, "remote", missing)
    message = "--executor remote needs Remote: pip install remote-cells"
    with pytest.raises(InputError, match=message):
        run_matrix(matrix, tmp_path / "m", executor="remote")
    assert not (tmp_path / "m").exists()  # refused before any work
    plan = dry_run(matrix, tmp_path / "m", executor="remote", calibrate=False)  # a plan runs nothing: it warns
    assert message in plan["warnings"] and plan["slots"] == 1  # "all": every cell queued (one here)
    assert dry_run(matrix, tmp_path / "m", executor="inprocess", calibrate=False)["slots"] == 1


def test_dry_run_lists_cells_shared_work_and_estimate(tmp_path, cache):
    matrix = ["ablate", "stages=1..2", "distill=none,teacher", "--preset", "ci", "--out", str(tmp_path / "m")]
    r = CliRunner().invoke(main, [*matrix, "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert [c["state"] for c in plan["cells"]] == ["new"] * 4
    assert [s["what"] for s in plan["shared"]] == ["dataset", "teacher"]
    assert plan["shared"][0]["state"] == "to generate"
    assert plan["shared"][1]["state"].startswith("shipped (teacher-")  # the ci preset's teacher is in the package
    assert set(plan["estimate_s"]) == {"shared", "cells", "latency", "wall", "unknown"}
    # Never timed here: the 4 cells, the dataset and the teacher's heatmaps are calibrated now, each saying so.
    assert plan["estimate_s"]["unknown"] == 0
    assert all(c["estimate_s"] > 0 and c["basis"].startswith("calibrated now: ") for c in plan["cells"])
    assert "per training step of lspd-xs (stages=2) at batch" in plan["cells"][2]["basis"]
    assert plan["cells"][0]["basis"] == plan["cells"][1]["basis"]  # one student, calibrated once for both modes
    assert [s["basis"].split(" ms per ")[1].split(",")[0].split(" ×")[0] for s in plan["shared"]] == [
        "rendered image",
        "forward batch of the teacher hourglass",
    ]
    e = plan["estimate_s"]
    assert e["wall"] == pytest.approx(e["shared"] + e["cells"] / plan["slots"] + e["latency"])
    assert e["cells"] == pytest.approx(sum(c["estimate_s"] for c in plan["cells"]))
    # Two networks (stages 1 and 2): the distillation modes of one network share its latency measurement.
    assert e["latency"] == pytest.approx(2 * latency_seconds([load_config(preset="ci")], 1.0))
    assert not (tmp_path / "m").exists()  # a dry run writes nothing

    quick = CliRunner().invoke(main, [*matrix, "--dry-run", "--no-calibrate", "--json"])
    assert json.loads(quick.stdout)["estimate_s"]["unknown"] == 6  # 4 cells, the dataset, the heatmaps


def test_edited_model_code_gives_a_correct_catalogue_without_a_regenerated_file(tmp_path, monkeypatch):
    # The packaged file is a speed-up used while its digest matches the models' code; code it does not
    # match is catalogued from the registry itself (once per cache), so a stale file never validates a matrix.
    monkeypatch.setattr(matrix_module, "_models_source_digest", lambda: "edited-models")
    cache = tmp_path / "cache"
    catalogue = model_catalogue(cache)
    assert catalogue == json.loads(json.dumps(build_catalogue()))
    assert len(list((cache / "catalogue").glob("models-*.json"))) == 1  # built once, then read back
    assert model_catalogue(cache) == catalogue


def test_the_catalogue_digest_ignores_comments_and_docstrings_but_not_code(tmp_path):
    from lspd_bench.plugins import code_digest

    source = tmp_path / "m.py"
    source.write_text('"""A module."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    before = code_digest([source])
    source.write_text(
        '"""Another text."""\n# a comment\n\n\ndef f(x):  # why\n    """Other doc."""\n    return x + 1\n'
    )
    assert code_digest([source]) == before
    source.write_text("def f(x):\n    return x + 2\n")
    assert code_digest([source]) != before


def _packaged_is_current() -> bool:
    shipped = json.loads(PACKAGED_CATALOGUE.read_text(encoding="utf-8"))
    return shipped.get("source_digest") == matrix_module._models_source_digest()


def test_an_uncalibrated_dry_run_answers_in_under_2_s_without_importing_torch_even_on_an_empty_cache(tmp_path):
    cache = tmp_path / "empty-cache"
    if not _packaged_is_current():  # a speed-up gone stale costs an empty cache one build; the test warms it
        warnings.warn(
            "lspd_bench/models/catalogue.json predates the models' code: a first dry run on an empty "
            "cache imports torch once; `python -m lspd_bench.ablate.matrix` refreshes the file"
        )
        model_catalogue(cache)
    code = (
        "import sys; from lspd_bench.cli import main; "
        "main(['ablate', 'stages=1..4', 'distill=none,teacher', '--preset', 'quick', '--dry-run', '--no-calibrate', '--out', "
        f"{str(tmp_path / 'm')!r}], standalone_mode=False); print('torch' in sys.modules)"
    )
    started = time.perf_counter()
    env = {**os.environ, "COLUMNS": "200", "LSPD_BENCH_CACHE": str(cache)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("False")
    assert "stages=4 distill=teacher" in r.stdout
    assert elapsed < 2.0
