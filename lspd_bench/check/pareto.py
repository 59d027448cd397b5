"""Membership of the accuracy-vs-GMACs Pareto front, by the report's dominance rule
(``lspd_bench.report.stats.dominates``)."""

from __future__ import annotations

from typing import Sequence

from lspd_bench.check.cells import PARETO_COST, Cell


def front_point(cell: Cell) -> tuple[float, float] | None:
    cost = cell.costs.get(PARETO_COST)
    if cell.failed or cell.mean is None or not isinstance(cost, (int, float)):
        return None
    return float(cost), cell.mean


def mark_pareto(cells: list[Cell], sd: float | None = None) -> None:
    """Set ``pareto`` on the cells on the accuracy-vs-GMACs front, accuracies within the seed noise ``sd`` tied
    (``lspd_bench.report.stats.pareto_front``, the report's front). Cells without accuracy or GMACs are never on it."""
    from lspd_bench.report.stats import accuracy_tie, pareto_front

    scored = [(c, p) for c in cells if (p := front_point(c)) is not None]
    seeds = min((len(c.accuracy) for c, _ in scored), default=1)
    front = set(pareto_front([p for _, p in scored], accuracy_tie(sd, seeds)))
    for cell in cells:
        cell.pareto = False
    for i, (cell, _) in enumerate(scored):
        cell.pareto = i in front


def dominating(cell: Cell, cells: Sequence[Cell]) -> list[Cell]:
    """The cells of ``cells`` that dominate ``cell`` on the accuracy-vs-GMACs plane, seed means taken as they
    are (no ties: the pareto rule judges the accuracy margin against the cell's tolerance)."""
    from lspd_bench.report.stats import dominates

    p = front_point(cell)
    if p is None:
        return []
    return [other for other in cells if other is not cell and (q := front_point(other)) is not None and dominates(q, p)]
