"""Plugins and the model contract: models and blocks from other packages (entry points, --import, imports:),
one line and exit 2 for a plugin at fault, the identity a plugin gives a run, `models --check`, and the
example package's whole path (install → ablate → report → check against its committed baseline)."""

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lspd_bench import plugins
from lspd_bench.ablate import executors
from lspd_bench.ablate.matrix import cell_key, load_matrix
from lspd_bench.cli import main
from lspd_bench.config import load_config
from lspd_bench.cost.contract import check_model
from lspd_bench.models import list_models, registry
from lspd_bench.models import lspd as lspd_module
from lspd_bench.train.build import identity

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plugin"

GOOD = """
import torch.nn as nn
from lspd_bench.models import register_block, register_model


class {cls}(nn.Module):
    stride = 4

    def __init__(self, num_joints=16, width=8):
        super().__init__()
        self.num_joints = num_joints
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, num_joints, 3, 2, 1))

    def forward(self, x):
        return self.body(x)

    def deploy(self):
        return self


@register_model("{name}", family="test", default_input=(64, 64))
def factory(*, num_joints: int = 16, width: int = 8):
    return {cls}(num_joints, width)


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


register_block("{name}-block", Block)
"""


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """The registry, the blocks and the plugin state as they are now, restored after the test; ``tmp_path``
    importable, and the modules imported from it forgotten afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(lspd_module, "BLOCKS", dict(lspd_module.BLOCKS))
    monkeypatch.setattr(lspd_module, "BLOCK_PLUGINS", dict(lspd_module.BLOCK_PLUGINS))
    monkeypatch.setattr(plugins, "_state", plugins._State())
    monkeypatch.setattr(executors, "EXECUTORS", dict(executors.EXECUTORS))
    monkeypatch.setenv(plugins.ENV, "")  # restored (to unset, most often) after the test
    monkeypatch.delenv(plugins.ENV)
    monkeypatch.setenv("LSPD_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    importlib.invalidate_caches()


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def ablate(args, folder: Path):
    """``lspd-bench ARGS --out FOLDER/m`` in this process."""
    return CliRunner().invoke(main, [*args, "--out", str(folder / "m")])


def test_a_plugin_adds_an_executor_that_ablate_takes(isolated):
    builtin = ", ".join(executors.EXECUTORS)
    source = """
        from lspd_bench.ablate.executors import EXECUTORS, ExecutorKind, register

        register(ExecutorKind("mine", "each cell on my scheduler", EXECUTORS["inprocess"].factory, parallel="one"))
    """
    write_module(isolated, "sched_p1", source)
    dry = ["ablate", "stages=1", "--preset", "ci", "--executor", "mine", "--dry-run", "--no-calibrate", "--json"]
    r = ablate(dry, isolated)  # without the plugin: one line naming the executors there are
    assert r.exit_code == 2 and errors(r.output) == [f"Error: unknown executor 'mine'; choose from: {builtin}"]
    r = ablate(["--import", "sched_p1", *dry], isolated)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["executor"] == "mine"


# --- a plugin at fault: one line, exit 2, nothing written -------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "import not_a_module_anywhere\n",
            "plugin broken_p1 (--import) failed to import: ModuleNotFoundError: No module named 'not_a_module_anywhere'",
        ),
        (
            "from lspd_bench.models import register_model\n\n"
            "@register_model('lspd-s', family='x', default_input=(64, 64))\ndef f(*, num_joints=16):\n    pass\n",
            "plugin broken_p1 (--import): model 'lspd-s' is registered twice: first by lspd_bench.models.lspd (built in), "
            "again by broken_p1 (package broken_p1",
        ),
        (
            "import torch.nn as nn\nfrom lspd_bench.models import register_model\n\n"
            "class Net(nn.Module):\n    stride = 4\n\n    def __init__(self, num_joints):\n        super().__init__()\n"
            "        self.num_joints = num_joints\n        self.conv = nn.Conv2d(3, num_joints, 1)\n\n"
            "@register_model('nodeploy', family='x', default_input=(64, 64))\ndef f(*, num_joints=16):\n    return Net(num_joints)\n",
            "plugin broken_p1 (--import): model 'nodeploy' does not meet the model contract: no deploy() (the inference "
            "module, which is profiled and timed) (lspd-bench models --check nodeploy checks it in full)",
        ),
        (
            "import torch.nn as nn\nfrom lspd_bench.models import register_block\n\nregister_block('lmrb', nn.Identity)\n",
            "plugin broken_p1 (--import): block 'lmrb' is registered twice: first by lspd_bench.models.lspd (built in), "
            "again by broken_p1",
        ),
    ],
    ids=["fails to import", "taken model name", "no deploy", "taken block name"],
)
def test_a_plugin_at_fault_is_one_line_naming_it_and_nothing_is_written(isolated, source, expected):
    write_module(isolated, "broken_p1", source)
    r = ablate(["--import", "broken_p1", "ablate", "stages=1", "--preset", "ci"], isolated)
    assert r.exit_code == 2, r.output
    assert len(errors(r.output)) == 1 and errors(r.output)[0].startswith(f"Error: {expected}"), r.output
    assert not (isolated / "m").exists() and not (isolated / "cache").exists()


def test_a_command_that_builds_models_loads_the_plugins_before_it_prepares_data(isolated):
    write_module(isolated, "broken_p5", "raise RuntimeError('half-written plugin')\n")
    r = CliRunner().invoke(main, ["--import", "broken_p5", "train", "--preset", "ci", "--out", str(isolated / "run")])
    assert r.exit_code == 2
    assert errors(r.output) == [
        "Error: plugin broken_p5 (--import) failed to import: RuntimeError: half-written plugin"
    ]
    assert not (isolated / "run").exists() and not (isolated / "cache").exists()  # no data generated
    r = CliRunner().invoke(main, ["--import", "broken_p5", "train", "--help"])  # help imports nothing
    assert r.exit_code == 0 and "broken_p5" not in sys.modules


def test_a_module_that_is_nowhere_is_refused_before_anything_is_imported(isolated):
    r = ablate(["--import", "nowhere_at_all.pose", "ablate", "stages=1", "--preset", "ci", "--dry-run"], isolated)
    assert r.exit_code == 2
    assert errors(r.output) == [
        "Error: --import: no module named 'nowhere_at_all' (install its package, or run from the folder that holds it)"
    ]
    r = CliRunner().invoke(main, ["--import", "not a module", "models"])
    assert r.exit_code == 2 and errors(r.output) == [
        "Error: --import: 'not a module' is not a module name (e.g. mypkg.pose)"
    ]


def test_a_matrix_file_names_its_plugins_in_imports(isolated):
    write_module(isolated, "good_p2", GOOD.format(cls="Net", name="good-p2"))
    f = isolated / "m.yaml"
    f.write_text(
        "preset: ci\nimports: [good_p2]\nmatrix:\n  - {model: good-p2, width: 8}\n"
        "  - {model: lspd-xs, block: [lmrb, good-p2-block], stages: 1}\n"
    )
    r = CliRunner().invoke(main, ["ablate", str(f), "--dry-run", "--json", "--out", str(isolated / "m")])
    assert r.exit_code == 0, r.output
    labels = [c["label"] for c in json.loads(r.output)["cells"]]
    assert labels == [
        "model=good-p2 width=8",
        "model=lspd-xs block=lmrb stages=1",
        "model=lspd-xs block=good-p2-block stages=1",
    ]
    assert plugins.ENV not in os.environ  # the command's plugins are forgotten when it ends
    bad = isolated / "bad.yaml"
    bad.write_text("preset: ci\nimports: good_p2\n")
    r = CliRunner().invoke(main, ["ablate", str(bad), "--dry-run"])
    assert errors(r.output) == [f"Error: matrix file {bad}: imports must be a list of module names, e.g. [mypkg.pose]"]


def test_an_installed_entry_point_loads_once_when_the_registry_is_first_used(isolated):
    dist = isolated / "fakeplug-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[lspd_bench.models]\nfake = fakeplug_mod\n")
    (dist / "top_level.txt").write_text("fakeplug_mod\n")
    write_module(isolated, "fakeplug_mod", GOOD.format(cls="Net", name="fake-net"))
    assert "fakeplug_mod" not in sys.modules
    names = [e.name for e in list_models()]
    assert "fake-net" in names and names.count("fake-net") == 1
    entry = registry.get_entry("fake-net")
    assert entry.plugin == {"distribution": "fakeplug", "version": "1.2.3"} and entry.module == "fakeplug_mod"
    assert lspd_module.BLOCK_PLUGINS["fake-net-block"] == entry.plugin

    # A run of it is known by the plugin's distribution and version; a built-in run has no such key.
    cfg = load_config("ci", None, {"model": "fake-net"})
    assert identity(cfg, 16, "fp")["plugins"] == {"model": {"distribution": "fakeplug", "version": "1.2.3"}}
    block_cfg = load_config("ci", None, {"block": "fake-net-block"})
    assert identity(block_cfg, 16, "fp")["plugins"] == {"block": entry.plugin}
    assert "plugins" not in identity(load_config("ci"), 16, "fp")
    # The torch-free cell key agrees: the plugin's version is part of it, built-in cells' keys are unchanged.
    m = load_matrix(None, ["model=fake-net,lspd-xs"], preset="ci")
    assert m.cells[0].key != cell_key(m.cells[0].config) and m.cells[1].key == cell_key(m.cells[1].config)


def test_an_unversioned_module_is_known_by_its_code_not_its_comments(isolated):
    write_module(isolated, "local_p3", GOOD.format(cls="Net", name="local-p3"))
    plugins.request(["local_p3"], "--import")
    plugins.ensure_loaded()
    cfg = load_config("ci", None, {"model": "local-p3"})
    first = identity(cfg, 16, "fp")["plugins"]["model"]
    assert first["package"] == "local_p3" and len(first["code"]) == 16
    path = isolated / "local_p3.py"
    path.write_text("# a comment and a docstring change nothing\n" + path.read_text())
    assert plugins.code_digest(plugins.package_files("local_p3")) == first["code"]
    path.write_text(path.read_text().replace("stride = 4", "stride = 8"))
    assert plugins.code_digest(plugins.package_files("local_p3")) != first["code"]


def test_help_imports_no_plugin_and_no_torch():
    code = (
        "import sys; from lspd_bench.cli import main; main(['--help'], standalone_mode=False); print(sorted("
        "m for m in ('torch', 'lspd_bench.models', 'importlib.metadata') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("[]")


# --- the model contract -----------------------------------------------------------------------------------


def test_models_check_prints_every_check_and_exits_0_when_all_pass():
    r = CliRunner().invoke(
        main, ["models", "--check", "lspd-xs", "-k", "width=16", "--size", "64x64", "--size", "32x96"]
    )
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "✓ builds",
        "✓ contract names",
        "✓ heatmaps at 64x64",
        "✓ heatmaps at 32x96",
        "✓ deploy() equals stage 1",
        "✓ fvcore counts the deploy model",
        "✓ ptflops (pytorch backend) counts the deploy model",
        "✓ ptflops (aten backend) counts the deploy model",
    ]
    assert lines[-1] == "lspd-xs (width=16) meets the model contract"


def test_models_check_names_what_fails_and_exits_1(isolated):
    write_module(
        isolated,
        "wrong_p4",
        GOOD.format(cls="Net", name="wrong-p4").replace(
            "return self.body(x)", "return [self.body(x), self.body(x)[..., :-1]]"
        ),
    )  # a second stage one column short
    r = CliRunner().invoke(main, ["--import", "wrong_p4", "models", "--check", "wrong-p4", "--size", "64x64", "--json"])
    assert r.exit_code == 1, r.output
    report = json.loads(r.output)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert not report["passed"] and [c["check"] for c in failed] == ["heatmaps at 64x64"]
    assert failed[0]["detail"] == "expected 2×16×16×16 per stage; stage 2 is 2×16×16×15"
    r = CliRunner().invoke(main, ["models", "--check", "lspd-xs", "-k", "width=15"])
    assert r.exit_code == 2 and errors(r.output) == ["Error: model 'lspd-xs': width must be even, got 15"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in list_models(plugins=False)])
def test_every_built_in_model_meets_the_contract(name):
    small = {"hourglass": {"stacks": 2, "features": 32}}.get(name, {})  # the 8×256 teacher passes too, slowly
    findings = check_model(name, small, ((128, 64), (64, 128)))
    assert all(f.passed for f in findings), [f for f in findings if not f.passed]
    assert len(findings) == 8


# --- the example package, as CI and its users run it ------------------------------------------------------


def can_build_wheels_offline() -> bool:
    """setuptools builds wheels by itself from 70.1 on; before, it needs the ``wheel`` package."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("setuptools") is None:
        return False
    major, minor = (int(p) for p in importlib.metadata.version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def install(source: Path, target: Path) -> None:
    """``pip install --no-deps --no-build-isolation -t target source`` where this environment can build the
    wheel without the network; elsewhere (a bare venv's old setuptools) the same files by hand: the package
    and a dist-info holding the name, version and entry points that pyproject.toml declares."""
    if can_build_wheels_offline():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-t",
                str(target),
                str(source),
            ],
            check=True,
        )
        return
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    packages = tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in packages:
        shutil.copytree(source / package, target / package)
    info = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "top_level.txt").write_text("".join(f"{p}\n" for p in packages))
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
            for group, eps in project["entry-points"].items()
        )
    )


@pytest.mark.slow
def test_the_example_plugin_installs_and_passes_its_committed_gate(tmp_path):
    """pip installs examples/plugin; its entry point registers `dwres` and `tinypose`; the example's matrix runs
    (ablate), reports (report) and passes the gate against the baseline committed beside it (check)."""
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    install(source, target)
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LSPD_BENCH_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "200",
    }

    def lspd_bench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "lspd_bench", *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )

    out = tmp_path / "runs" / "example-gate"
    r = lspd_bench(
        "ablate",
        str(source / "gate.yaml"),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--threads",
        "1",
        "--latency-min-time",
        "0.1",
        "--json",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert [c["status"] for c in summary["cells"]] == ["done"] * 4
    cell = json.loads((out / summary["cells"][0]["cell"] / "cell.json").read_text())
    assert cell["identity"]["plugins"] == {"block": {"distribution": "lspd-bench-example", "version": "0.1.0"}}

    r = lspd_bench("report", str(out), "--out", str(tmp_path / "report"), "--formats", "png", "--bootstrap", "100")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "report" / "index.html").is_file()

    # Latency is gated on the baseline's CPU model only; a loaded test machine gets a wide tolerance.
    r = lspd_bench(
        "check",
        str(out),
        "--baseline",
        str(EXAMPLE / "baseline.json"),
        "--markdown",
        str(tmp_path / "gate.md"),
        "--tol-latency",
        "1",
        "--json",
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert json.loads(r.stdout)["passed"] and (tmp_path / "gate.md").is_file()

    # The catalogue with the plugin is cached now: the dry run needs neither torch nor the plugin.
    code = (
        "import sys; from lspd_bench.cli import main; main(['ablate', sys.argv[1], '--dry-run', '--out', "
        "sys.argv[2]], standalone_mode=False); print(sorted(m for m in ('torch', 'lspd_bench_example') "
        "if m in sys.modules))"
    )
    started = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", code, str(source / "gate.yaml"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("[]") and "done" in r.stdout
    assert time.perf_counter() - started < 2.0
