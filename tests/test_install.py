"""Where the nox sessions install torch from: the CPU wheels by default, another index or pip's own on request."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("nox")
_spec = importlib.util.spec_from_file_location("noxfile", Path(__file__).resolve().parent.parent / "noxfile.py")
noxfile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(noxfile)

CPU = "https://download.pytorch.org/whl/cpu"


def test_by_default_the_cpu_wheels_index_is_added_when_it_answers() -> None:
    asked = []
    args, says = noxfile.torch_source({}, lambda url: asked.append(url) or True)
    assert asked == [CPU]
    assert args == ["--extra-index-url", CPU]
    assert says.startswith("torch: the CPU build, from https://download.pytorch.org/whl/cpu")


def test_an_unreachable_default_leaves_the_choice_to_pip_and_says_what_that_means() -> None:
    args, says = noxfile.torch_source({}, lambda url: False)
    assert args == []
    assert "cannot be reached" in says and "CUDA" in says and "LSPD_BENCH_TORCH_INDEX" in says


def test_a_named_index_is_used_without_probing() -> None:
    cuda = "https://download.pytorch.org/whl/cu126"
    args, says = noxfile.torch_source({"LSPD_BENCH_TORCH_INDEX": f" {cuda} "}, lambda url: pytest.fail("probed"))
    assert args == ["--extra-index-url", cuda]
    assert says == f"torch: from {cuda} (LSPD_BENCH_TORCH_INDEX)"


def test_an_empty_variable_means_pips_own_configuration() -> None:
    args, says = noxfile.torch_source({"LSPD_BENCH_TORCH_INDEX": ""}, lambda url: pytest.fail("probed"))
    assert args == []
    assert "pip's own indexes" in says


def test_the_probe_tells_a_refused_connection_from_an_answer(tmp_path: Path) -> None:
    assert noxfile.reachable("http://127.0.0.1:9/", timeout_s=2) is False  # the discard port: nothing listens
    assert noxfile.reachable("not a url") is False
    page = tmp_path / "index.html"
    page.write_text("<html></html>")
    assert noxfile.reachable(page.as_uri()) is True


def test_every_data_file_of_the_package_is_installed_with_it() -> None:
    """A wheel holds the package's non-Python files only where pyproject.toml's package-data names them: a shipped
    teacher's weights without its record (teacher-<key>.json) would not load outside a checkout."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lspd_bench"]
    package = root / "lspd_bench"
    data = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert any(name.startswith("weights/") for name in data)
    assert [name for name in data if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)] == []
