"""`index.html`: one self-contained page (no network) with every table, plot, the environment and the
conventions; rendered by headless Chromium to prove the images show."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lspd_bench.report import build_report
from test_report import ENV, write_fake_matrix

#: The first series colour of the plots (Okabe–Ito blue); the page's own CSS never uses it.
PLOT_BLUE = (0x00, 0x72, 0xB2)


class _Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _elements(text: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(text)
    return parser.tags


@pytest.fixture
def page(tmp_path) -> Path:
    """The report of a running matrix with reference models (PNG plots only, for speed)."""
    root = write_fake_matrix(
        tmp_path / "runs" / "m",
        blocks=("lmrb", "inverted"),
        references=True,
        status={(4, "teacher", "inverted", 0): "running", (4, "teacher", "inverted", 1): "pending"},
    )
    build_report(root, tmp_path / "report", formats=("png",), n_boot=100)
    return tmp_path / "report" / "index.html"


def test_index_html_is_self_contained_with_every_table_plot_and_the_environment(page):
    text = page.read_text(encoding="utf-8")
    tags = _elements(text)
    # No network and nothing to fetch: no scripts, stylesheets, fonts or remote URLs.
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object")]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text) and "url(" not in text
    images = [a["src"] for t, a in tags if t == "img"]
    plots = sorted((page.parent / "plots").glob("*.png"))
    assert len(images) == len(plots) == 5  # accuracy vs GMACs, parameters, latency; vs stages; at every stage
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in images}
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert embedded == {p.read_bytes() for p in plots}
    ids = {a.get("id") for _, a in tags}
    assert {"pareto", "paper", "stages", "results", "axes", "environment", "conventions"} <= ids
    assert {"results", "axis_stages", "axis_block", "axis_distill", "axis_model"} <= ids  # every table
    for fact in (
        ENV["cpu"],
        ENV["libraries"]["fvcore"],
        ENV["libraries"]["torch"],
        "synthetic benchmark ci",
        "3 epochs, batch 32, lr 0.002, multistep",
        "Training threads",
        "1 thread, eager, float32",
    ):
        assert fact in text, fact
    assert "Mean@0.1 is read at threshold exactly 0.1" in text  # the metric's conventions travel along
    assert "The matrix is not finished" in text and "0/2 (1 running, 1 pending)" in text


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "headless Chromium is not installed (Debian: apt-get install chromium); the page's rendering was not checked"
    )


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
def test_headless_chromium_renders_the_page_with_its_images(page, tmp_path):
    binary = _chromium()
    url = page.resolve().as_uri()
    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = [a for t, a in _elements(dom.stdout) if t == "img"]
    assert len(images) == 5 and all(a["src"].startswith("data:image/png;base64,iVBOR") for a in images)
    assert dom.stdout.count("<table") == 6

    shot = tmp_path / "shot.png"
    run = _run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,1800", url)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (1800, 1280)
    assert pixels.std() > 20  # not a blank page
    blue = (np.abs(pixels - np.array(PLOT_BLUE)).sum(axis=-1) < 40).sum()
    assert blue > 300, f"only {blue} pixels of the plots' blue: the embedded plot did not render"
