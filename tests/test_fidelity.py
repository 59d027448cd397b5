"""A preset's fidelity: rank agreement with the longer reference on fixed inputs, and the report's line."""

import json

import pytest

from lspd_bench.report import fidelity
from lspd_bench.report.fidelity import fidelity_line, preset_digest, rank_fidelity


def one_seed(values):
    return {f"v{i}": [v] for i, v in enumerate(values)}


def test_identical_and_reversed_rankings():
    same = rank_fidelity(one_seed([1, 2, 3, 4]), one_seed([10, 20, 30, 40]), resamples=50)
    assert same.spearman.value == 1.0 and same.kendall.value == 1.0
    assert same.spearman.low == same.spearman.high == 1.0  # one seed each: every resample is the data
    reversed_ = rank_fidelity(one_seed([1, 2, 3, 4]), one_seed([4, 3, 2, 1]), resamples=50)
    assert reversed_.spearman.value == -1.0 and reversed_.kendall.value == -1.0


def test_one_swapped_pair_of_four_by_the_textbook_formulas():
    # rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60 = 0.8; tau = (5 concordant - 1 discordant) / 6
    f = rank_fidelity(one_seed([1, 2, 3, 4]), one_seed([1, 3, 2, 4]), resamples=10)
    assert f.spearman.value == pytest.approx(0.8) and f.kendall.value == pytest.approx(4 / 6, abs=1e-4)
    assert f.variants == ["v0", "v1", "v2", "v3"] and f.reference_means == [1, 3, 2, 4]


def test_the_interval_covers_seed_noise_and_only_common_variants_count():
    preset = {"a": [10, 14], "b": [11, 13], "c": [20, 21], "d": [30, 31], "only-here": [0, 0]}
    reference = {"a": [40, 41], "b": [42, 43], "c": [50, 51], "d": [60, 61]}
    f = rank_fidelity(preset, reference, resamples=400)
    # means 12, 12, 20.5, 30.5: a and b tie (average ranks 1.5, 1.5), so rho = 3 / sqrt(10) = 0.9487
    assert f.variants == ["a", "b", "c", "d"] and f.spearman.value == pytest.approx(0.9487, abs=1e-4)
    assert f.spearman.low == pytest.approx(0.8) and f.spearman.high == 1.0  # a and b swap in some resamples
    with pytest.raises(ValueError, match="at least 3"):
        rank_fidelity({"a": [1], "b": [2]}, {"a": [1], "b": [2]})


def ship(path, monkeypatch, preset: str, reference_means: list[float], **changes) -> None:
    """Ship a measured fidelity of ``preset`` (variants ranked 1, 2, 3, 4 by it) in ``path``, for the report."""
    f = rank_fidelity(one_seed([1, 2, 3, 4]), one_seed(reference_means), resamples=10)
    record = {"matrix": "stages", "reference": "16-epoch reference", "preset_digest": preset_digest(preset)}
    path.write_text(json.dumps({"presets": {preset: {**record, **f.to_dict(), **changes}}}))
    monkeypatch.setattr(fidelity, "FIDELITY_FILE", path)


def test_the_report_line_quotes_the_shipped_figure_and_says_when_it_is_stale(tmp_path, monkeypatch):
    ship(tmp_path / "fidelity.json", monkeypatch, "quick", [1, 3, 2, 4])
    line = fidelity_line("quick")
    assert "quick preset ranked the stages matrix's 4 variants as the 16-epoch reference did" in line
    assert "ρ = 0.80" in line and "over seeds" in line and "changed" not in line
    assert "sets epochs unlike the preset" in fidelity_line("quick", ["epochs"])
    assert fidelity_line("ci") is None  # nothing measured: nothing said
    ship(tmp_path / "fidelity.json", monkeypatch, "quick", [1, 3, 2, 4], preset_digest="0")
    assert "has changed since" in fidelity_line("quick")


def test_every_report_of_a_preset_s_matrix_quotes_its_fidelity(tmp_path, monkeypatch):
    from test_report import write_fake_matrix

    from lspd_bench.report.build import build_report

    ship(tmp_path / "fidelity.json", monkeypatch, "ci", [1, 2, 3, 4])
    matrix = write_fake_matrix(tmp_path / "m", stages=(1, 2), distills=("none",))  # the ci preset at 3 epochs
    summary = build_report(matrix, tmp_path / "r")
    line = summary["fidelity"]["line"]
    assert summary["fidelity"]["preset"] == "ci" and "the ci preset ranked the stages matrix's 4 variants" in line
    assert "This matrix sets epochs unlike the preset" in line  # the fake cells train 3 epochs, the preset 4
    assert (
        line in (tmp_path / "r" / "report.md").read_text() and "ρ = 1.00" in (tmp_path / "r" / "index.html").read_text()
    )
