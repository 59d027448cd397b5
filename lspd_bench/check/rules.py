"""The rules (the package's docstring): what moved between a baseline's cells and a results table's, and
which of it fails the gate."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any, Callable, Sequence

from lspd_bench.ablate import schema
from lspd_bench.check.cells import COST_FIGURES, LATENCY, PARETO_COST, Cell, Results, labeller
from lspd_bench.check.noise import pooled_paired_noise, seed_noise
from lspd_bench.check.pareto import dominating, front_point
from lspd_bench.config import canonical_json
from lspd_bench.errors import InputError

#: Accuracy tolerance floor (absolute points of the headline): below it, differences are float noise
#: between machines and library builds rather than a change of the model.
ACC_FLOOR = 1.0
#: Standard errors of a difference of two seed means that the default accuracy tolerance allows, per cell.
ACC_SIGMAS = 3.0
#: Standard errors of the mean difference over all cells that the matrix-wide accuracy rule allows.
ACC_SIGMAS_MEAN = 2.5
#: Allowed relative growth of ``latency_ratio`` (0.25 = 25 %).
TOL_LATENCY = 0.25
_EPS = 1e-9

#: Verdicts that fail the gate.
FAILING = ("worse", "changed", "missing", "failed", "off the front", "contradicted")
UNDECIDED = "not decided"


def _same_seeds(a: Cell, b: Cell) -> bool:
    return sorted(map(str, a.seeds)) == sorted(map(str, b.seeds))


def _paired(base: Cell, now: Cell) -> bool:
    """Whether the two cells can be compared seed by seed: the same seeds, every one of them finished."""
    return len(base.accuracy) == len(now.accuracy) and _same_seeds(base, now)


def accuracy_tolerance(base: Cell, now: Cell, noise: dict[str, Any], tol_acc: float | None = None) -> float:
    """Allowed accuracy drop of ``now`` against ``base`` in absolute points, for the ``noise`` of
    :func:`compare`'s report (module doc)."""
    if tol_acc is not None:
        return tol_acc
    paired, within = noise["paired"]["sd"], noise["both"]["pooled_sd"]
    if _paired(base, now) and paired is not None:
        return max(ACC_FLOOR, ACC_SIGMAS * paired * math.sqrt(2 / len(base.accuracy)))
    if within is not None:
        return max(ACC_FLOOR, ACC_SIGMAS * within * math.sqrt(1 / len(base.accuracy) + 1 / max(len(now.accuracy), 1)))
    return ACC_FLOOR


def _matrix_tolerance(pairs: list[tuple[Cell, Cell]], noise: dict[str, Any]) -> float:
    paired, within = noise["paired"]["sd"], noise["both"]["pooled_sd"]
    if paired is not None and all(_paired(b, n) for b, n in pairs):
        return max(
            ACC_FLOOR, ACC_SIGMAS_MEAN * paired * math.sqrt(2 * sum(1 / len(b.accuracy) for b, _ in pairs)) / len(pairs)
        )
    if within is not None:
        spread = statistics.fmean(1 / len(b.accuracy) + 1 / len(n.accuracy) for b, n in pairs)
        return max(ACC_FLOOR, ACC_SIGMAS_MEAN * within * math.sqrt(spread))
    return ACC_FLOOR


def _matrix_accuracy_row(
    pairs: list[tuple[Cell, Cell]], noise: dict[str, Any], tol_acc: float | None
) -> list[dict[str, Any]]:
    """The matrix-wide rule: the mean change over the matched cells against its own noise (module doc)."""
    if len(pairs) < 2:
        return []
    deltas = [now.mean - base.mean for base, now in pairs]
    delta = statistics.fmean(deltas)
    tol = tol_acc if tol_acc is not None else _matrix_tolerance(pairs, noise)
    verdict = "worse" if delta < -tol else "better" if delta > tol else None
    if verdict is None:  # the cells' own rows already list what moved
        return []
    label = f"all {len(pairs)} cells"
    return [
        _row(
            label,
            schema.HEADLINE,
            "accuracy (matrix)",
            verdict,
            delta=delta,
            limit=tol,
            baseline={"mean": statistics.fmean(b.mean for b, _ in pairs), "std": None, "n": len(pairs)},
            now={"mean": statistics.fmean(n.mean for _, n in pairs), "std": None, "n": len(pairs)},
            message=f"mean change {delta:+.2f} points over {len(pairs)} cells (tolerance {tol:.2f}; per cell: "
            + ", ".join(f"{d:+.2f}" for d in deltas)
            + ")",
        )
    ]


def _exact(figure: str, value: Any) -> int | None:
    """A deterministic cost as an integer (GMACs back to MACs), so float formatting cannot fake a change."""
    if not isinstance(value, (int, float)):
        return None
    return round(value * 1e9) if figure.startswith("gmacs") else round(value)


def _row(
    cell: str,
    figure: str,
    rule: str,
    verdict: str,
    *,
    baseline: Any = None,
    now: Any = None,
    delta: float | None = None,
    limit: float | str | None = None,
    message: str = "",
    interval: tuple[float, float] | None = None,
) -> dict[str, Any]:
    direction = None if delta is None or abs(delta) < _EPS else ("up" if delta > 0 else "down")
    return {
        "cell": cell,
        "figure": figure,
        "rule": rule,
        "verdict": verdict,
        "fails": verdict in FAILING,
        "baseline": baseline,
        "now": now,
        "delta": delta,
        "direction": direction,
        "limit": limit,
        "interval": list(interval) if interval else None,
        "message": message,
    }


def _accuracy_rows(label: str, base: Cell, now: Cell, tol: float) -> list[dict[str, Any]]:
    b, n = base.mean, now.mean
    delta = n - b
    if abs(delta) < _EPS:
        return []
    verdict = "worse" if delta < -tol else "better" if delta > tol else "within tolerance"
    return [
        _row(
            label,
            schema.HEADLINE,
            "accuracy",
            verdict,
            delta=delta,
            limit=tol,
            baseline={"mean": b, "std": base.std, "n": len(base.accuracy)},
            now={"mean": n, "std": now.std, "n": len(now.accuracy)},
            message=f"{delta:+.2f} points (tolerance {tol:.2f})",
        )
    ]


def _cost_rows(label: str, base: Cell, now: Cell) -> list[dict[str, Any]]:
    rows = []
    for figure in COST_FIGURES:
        b, n = base.costs.get(figure), now.costs.get(figure)
        if _exact(figure, b) == _exact(figure, n):
            continue
        delta = n - b if isinstance(b, (int, float)) and isinstance(n, (int, float)) else None
        what = "not measured now" if n is None else "newly measured" if b is None else f"{delta:+,g}"
        rows.append(
            _row(
                label,
                figure,
                "cost",
                "changed",
                baseline=b,
                now=n,
                delta=delta,
                limit="exact",
                message=f"deterministic cost changed: {what}",
            )
        )
    return rows


def _other_cpu(baseline: dict[str, Any], results: Results) -> tuple[str, str] | None:
    """(baseline CPU, results CPU) when both are known and differ: latency ratios are then not comparable."""
    old = (baseline.get("environment") or {}).get("cpu")
    new = (results.environment or {}).get("cpu")
    return (old, new) if old and new and old != new else None


def _latency_rows(
    label: str, base: Cell, now: Cell, tol: float, other_cpu: tuple[str, str] | None
) -> list[dict[str, Any]]:
    b, n = base.latency_ratio, now.latency_ratio
    figure = LATENCY
    if b is None:
        return []
    if n is None:
        return [_row(label, figure, "latency", "not measured", baseline=b, message="no latency_ratio in the results")]
    factor = n / b
    if abs(factor - 1) < _EPS:
        return []
    if other_cpu:
        return [
            _row(
                label,
                figure,
                "latency",
                "other cpu",
                baseline=b,
                now=n,
                delta=n - b,
                message=f"×{factor:.3f} of the baseline, but measured on {other_cpu[1]!r}, the baseline on "
                f"{other_cpu[0]!r}: not gated",
            )
        ]
    b_lo, b_hi = base.latency_interval or (b, b)
    n_lo, n_hi = now.latency_interval or (n, n)
    # The change's interval: the two measurements' independent errors added in quadrature on a log scale.
    down = math.hypot(math.log(n / n_lo), math.log(b_hi / b))
    up = math.hypot(math.log(n_hi / n), math.log(b / b_lo))
    low, high = factor * math.exp(-down), factor * math.exp(up)
    limit = 1 + tol
    if low > limit:
        verdict = "worse"
    elif high < 1 / limit:
        verdict = "better"
    elif high <= limit:
        verdict = "within tolerance"
    else:
        verdict = UNDECIDED
    span = f"×{factor:.3f} of the baseline [×{low:.3f}, ×{high:.3f}]"
    message = f"{span} (limit ×{limit:.3f})"
    if verdict == UNDECIDED:
        why = (
            f"the machine's noise (×{high / low:.2f}) exceeds the tolerance"
            if high / low > limit
            else "the change is too close to the limit to tell"
        )
        message = f"not decided: {why}; {span} straddles the limit ×{limit:.3f}"
    return [
        _row(
            label,
            figure,
            "latency",
            verdict,
            baseline=b,
            now=n,
            delta=n - b,
            limit=limit,
            message=message,
            interval=(low, high),
        )
    ]


def _pareto_rows(
    label: str, name_of: Callable[[Cell], str], base: Cell, now: Cell, cells_now: list[Cell], tol: float
) -> list[dict[str, Any]]:
    """A baseline front cell that another cell now dominates: the largest accuracy margin of any
    dominating cell (points), failing beyond ``tol``."""
    p = front_point(now)
    if not base.pareto or p is None:
        return []
    worst: tuple[float, Cell] | None = None
    for other in dominating(now, cells_now):
        margin = front_point(other)[1] - p[1]
        if worst is None or margin > worst[0]:
            worst = (margin, other)
    if worst is None:
        return []
    margin, other = worst
    verdict = "off the front" if margin > tol else "within tolerance"
    cost = other.costs[PARETO_COST]
    return [
        _row(
            label,
            "pareto",
            "pareto",
            verdict,
            baseline="on the front",
            now=f"dominated by {name_of(other)}",
            delta=margin,
            limit=tol,
            message=f"{name_of(other)} is {margin:+.2f} points at {cost:.6f} ≤ {p[0]:.6f} {PARETO_COST}",
        )
    ]


def claim_rows(baseline: dict[str, Any], now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A failing row for each claim the baseline supported that the results contradict; an informational
    row for each other change of verdict."""
    from lspd_bench.report.claims import interval_text

    current = {c["claim"]: c for c in now}
    rows = []
    for old in baseline.get("claims") or []:
        new = current.get(old["claim"])
        if new is None:
            raise InputError(
                f"claim '{old['claim']}' of the baseline cannot be judged on the results: add it to "
                "the matrix's claims or pass it with --claim"
            )
        if new["verdict"] == old["verdict"]:
            continue
        verdict = (
            "contradicted" if old["verdict"] == "supported" and new["verdict"] == "contradicted" else "claim moved"
        )
        rows.append(
            _row(
                f"claim '{old['claim']}'",
                "claim",
                "a supported claim must not be contradicted",
                verdict,
                baseline=old["verdict"],
                now=new["verdict"],
                message=f"Δ {interval_text(old)} → {interval_text(new)} points ({new['seeds']} seeds; {new['reason']})",
            )
        )
    return rows


def _notes(
    baseline: dict[str, Any], base_cells: list[Cell], results: Results, other_cpu: tuple[str, str] | None
) -> list[str]:
    """What differs around the figures: context, machine, libraries, seeds (none for a first baseline)."""
    if not baseline:
        return []
    notes = []
    changed = _changed_keys(base_cells, results.cells)
    if changed:
        notes.append(
            "configuration changed in every cell: " + "; ".join(changed) + " (cells are matched on every "
            "configuration key, so these are other cells: accept them with --update-baseline)"
        )
    old_env, new_env = baseline.get("environment") or {}, results.environment
    if new_env:
        for key in ("cpu", "device"):
            if old_env.get(key) != new_env.get(key):
                notes.append(f"environment {key}: {old_env.get(key)!r} → {new_env.get(key)!r}")
        if other_cpu:
            notes.append(
                "latency ratios are not gated on another CPU model; to gate them on this one, update the baseline on it"
            )
        old_lib, new_lib = old_env.get("libraries") or {}, new_env.get("libraries") or {}
        for lib in dict.fromkeys([*old_lib, *new_lib]):
            if old_lib.get(lib) != new_lib.get(lib):
                notes.append(f"library {lib}: {old_lib.get(lib)} → {new_lib.get(lib)}")
    now = {c.key: c for c in results.cells}
    name_of = labeller([*base_cells, *results.cells])
    for cell in base_cells:
        other = now.get(cell.key)
        if other is not None and not _same_seeds(cell, other):
            notes.append(f"{name_of(cell)}: seeds {cell.seeds} in the baseline, {other.seeds} now")
    return notes


def _changed_keys(base_cells: Sequence[Cell], cells: Sequence[Cell]) -> list[str]:
    """``key old → new`` for each configuration key with one value in the baseline and another one now."""

    def single(group: Sequence[Cell], key: str) -> Any:
        values = {canonical_json(c.axes.get(key)) for c in group}
        return json.loads(values.pop()) if len(values) == 1 else None

    out = []
    for key in dict.fromkeys(k for c in [*base_cells, *cells] for k in c.axes):
        old, new = single(base_cells, key), single(cells, key)
        if old is not None and new is not None and old != new:
            out.append(f"{key} {old!r} → {new!r}")
    return out


def comparable(results: Results, baseline: dict[str, Any], base_cells: list[Cell]) -> None:
    """Refuse (``InputError``, one line) results that lack a configuration column the baseline's cells have (a
    table of an older suite), or whose data or evaluation settings differ from the baseline's: their figures
    measure something else (``schema.MIX_GROUPS``)."""
    lacking = [k for k in dict.fromkeys(k for c in base_cells for k in c.axes) if k not in results.columns]
    if lacking:
        raise InputError(
            f"results {results.source} have no column {', '.join(lacking)}, which the baseline's cells "
            "are matched on (a table of an older lspd-bench? run the matrix again)"
        )
    old = baseline.get("context") or {}
    diff = [
        f"{col} {old[col]!r} → {results.context[col]!r}"
        for group in schema.MIX_GROUPS.values()
        for col in group
        if col in old and col in results.context and old[col] != results.context[col]
    ]
    if diff:
        raise InputError(
            f"results {results.source} are not comparable with the baseline: {'; '.join(diff)} (compare "
            "like with like, or accept them as a new baseline with --update-baseline)"
        )


def compare(
    results: Results,
    baseline: dict[str, Any],
    base_cells: list[Cell],
    *,
    tol_acc: float | None = None,
    tol_latency: float = TOL_LATENCY,
) -> dict[str, Any]:
    """Compare ``results`` with a baseline (from :func:`load_baseline`); return the report.

    ``tol_acc``: allowed accuracy drop in absolute points (None = derived from the seed noise, module doc);
    ``tol_latency``: allowed relative growth of ``latency_ratio``. The report lists only what moved
    (``rows``); ``passed`` is False when any row fails.
    """
    if tol_acc is not None and tol_acc < 0:
        raise InputError(f"accuracy tolerance must be 0 or more points, got {tol_acc}")
    if tol_latency < 0:
        raise InputError(f"latency tolerance must be 0 or more, got {tol_latency}")
    name_of = labeller([*base_cells, *results.cells])
    other_cpu = _other_cpu(baseline, results)
    now = {c.key: c for c in results.cells}
    known = {c.key for c in base_cells}
    rows: list[dict[str, Any]] = []
    missing, failed, pairs = [], [], []
    noise = {
        "baseline": seed_noise(base_cells),
        "results": seed_noise(results.cells),
        "both": seed_noise([*base_cells, *results.cells]),
        "paired": pooled_paired_noise(base_cells, results.cells),
    }
    for base in base_cells:
        label = name_of(base)
        cell = now.get(base.key)
        if cell is None:
            missing.append(label)
            rows.append(
                _row(
                    label,
                    "cell",
                    "presence",
                    "missing",
                    baseline="present",
                    now="missing",
                    message="a baseline cell is not in the results",
                )
            )
            continue
        if cell.failed:
            failed.append(label)
            rows.append(
                _row(
                    label,
                    "cell",
                    "presence",
                    "failed",
                    baseline="done",
                    now=cell.failed,
                    message=f"the cell did not finish: {cell.failed}",
                )
            )
            continue
        pairs.append((base, cell))
        tol = accuracy_tolerance(base, cell, noise, tol_acc)
        rows += _accuracy_rows(label, base, cell, tol)
        rows += _cost_rows(label, base, cell)
        rows += _latency_rows(label, base, cell, tol_latency, other_cpu)
        rows += _pareto_rows(label, name_of, base, cell, results.cells, tol)
    rows += _matrix_accuracy_row(pairs, noise, tol_acc)
    new = [name_of(c) for c in results.cells if c.key not in known]
    rows += [
        _row(label, "cell", "presence", "new", baseline=None, now="present", message="not in the baseline")
        for label in new
    ]
    failing = [r for r in rows if r["fails"]]
    regressed = list(dict.fromkeys(r["cell"] for r in failing))
    return {
        "passed": not failing,
        "results": str(results.source),
        "baseline_created": baseline.get("created"),
        "headline_name": baseline.get("headline_name") or results.headline_name,
        "tolerances": {
            "accuracy_points": tol_acc,
            "accuracy_rule": (
                f"{tol_acc:g} points"
                if tol_acc is not None
                else f"per cell max({ACC_FLOOR:g}, {ACC_SIGMAS:g}·σ·√(2/n)) points, over all C cells' mean "
                f"max({ACC_FLOOR:g}, {ACC_SIGMAS_MEAN:g}·σ·√(2·Σ1/n)/C), σ = the noise left with the "
                "seed held (cells × seeds residual of the baseline and the results; cells not paired "
                "by seed use the within-cell seed SD)"
            ),
            "accuracy_noise_points": noise["paired"]["sd"]
            if noise["paired"]["sd"] is not None
            else noise["both"]["pooled_sd"],
            "latency_relative": tol_latency,
            "latency_rule": f"fails when the ratio's whole 95 % interval is above ×{1 + tol_latency:.3f} of the "
            "baseline's; not decided when it straddles that limit",
        },
        "latency_gated": other_cpu is None,
        "cells": {
            "baseline": len(base_cells),
            "results": len(results.cells),
            "missing": missing,
            "failed": failed,
            "new": new,
        },
        "regressions": len(failing),
        "undecided": sum(r["verdict"] == UNDECIDED for r in rows),
        "regressed_cells": {c: [r["figure"] for r in failing if r["cell"] == c] for c in regressed},
        "rows": rows,
        "noise": noise,
        "notes": _notes(baseline, base_cells, results, other_cpu),
    }
