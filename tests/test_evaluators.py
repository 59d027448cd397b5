"""The evaluators: each dataset's metric has one, the results table holds its figures, and the readers that
use them stay free of torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lspd_bench.ablate import schema
from lspd_bench.config import Dataset, Metric
from lspd_bench.errors import InputError
from lspd_bench.evaluation.evaluators import EVALUATORS, evaluator, keeps_per_person


def test_every_dataset_is_scored_by_a_registered_evaluator_whose_figures_are_results_columns():
    assert {d.metric for d in Dataset} == set(EVALUATORS) == set(Metric)
    for ev in EVALUATORS.values():
        assert ev.headline_key in ev.columns
        assert all(schema.column_kind(c) == "float" for c in ev.columns)
    assert evaluator("pckh").headline_name == "PCKh@0.5 Mean" and evaluator("ap").percent == 100.0
    assert keeps_per_person("pckh") and not keeps_per_person("ap") and not keeps_per_person(None)


def test_an_unknown_metric_is_one_error_naming_the_choices():
    with pytest.raises(InputError, match=r"^unknown metric 'oks'; expected one of: pckh, ap$"):
        evaluator("oks")


def test_the_torch_free_readers_import_no_torch():
    # --dry-run --no-calibrate, report's reading and check read results without paying for torch's import.
    code = "import sys, lspd_bench.cli, lspd_bench.ablate.store, lspd_bench.ablate.plan, lspd_bench.check\n"
    code += "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
