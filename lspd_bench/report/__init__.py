"""``lspd-bench report``: ablation tables (Markdown, LaTeX, CSV), Pareto, axis and learning-curve plots, and a
self-contained ``index.html`` from a matrix folder written by ``lspd-bench ablate``.

>>> from lspd_bench.report import build_report
>>> summary = build_report("runs/stages", "reports/stages")
"""

from lspd_bench.report.build import build_report
from lspd_bench.report.load import Matrix, load_matrix
from lspd_bench.report.stats import Analysis, analyze, pareto_front

__all__ = ["Analysis", "Matrix", "analyze", "build_report", "load_matrix", "pareto_front"]
