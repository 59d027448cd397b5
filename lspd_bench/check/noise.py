"""The training noise the gate's accuracy rules scale with, measured on the cells' own seeds (the report's
rules: ``lspd_bench.report.stats.pooled_sd`` and ``paired_residual``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from lspd_bench.check.cells import Cell


def seed_noise(cells: Sequence[Cell]) -> dict[str, Any]:
    """The training noise the cells' seeds show: the headline's pooled within-cell standard deviation (points)
    over the cells with at least two finished seeds, its degrees of freedom and that cell count."""
    from lspd_bench.report.stats import pooled_sd

    sd, df, n = pooled_sd([c.accuracy for c in cells])
    return {"pooled_sd": sd, "df": df, "cells": n}


def paired_noise(cells: Sequence[Cell]) -> dict[str, Any]:
    """The noise left when the seed is held (``lspd_bench.report.stats.paired_residual``, the report's rule) over
    the finished cells: ``sd`` in points (None with fewer than two cells or two common seeds), ``df``, ``ss``."""
    from lspd_bench.report.stats import paired_residual

    done = [c for c in cells if not c.failed and len(c.accuracy) == len(c.seeds)]
    sd, df, ss = paired_residual([dict(zip(map(str, c.seeds), c.accuracy)) for c in done])
    return {"sd": sd, "df": df, "ss": ss}


def pooled_paired_noise(*tables: Sequence[Cell]) -> dict[str, Any]:
    """:func:`paired_noise` pooled over several tables (sums of squares and degrees of freedom added)."""
    parts = [paired_noise(t) for t in tables]
    ss, df = sum(p["ss"] for p in parts), sum(p["df"] for p in parts)
    return {"sd": math.sqrt(ss / df) if df else None, "df": df, "tables": [p["df"] for p in parts]}


def accuracy_noise(cells: Sequence[Cell]) -> float | None:
    """One table's noise for telling its cells apart (Pareto ties): with the seed held when measured, else the
    within-cell seed SD, else None (the report's ``accuracy_noise``)."""
    paired = paired_noise(cells)["sd"]
    return paired if paired is not None else seed_noise(cells)["pooled_sd"]
