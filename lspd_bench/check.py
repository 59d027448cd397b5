"""The CI regression gate: an ablation's results table against a committed baseline, accuracy against cost.

In the manner of asv's ``compare`` and pytest-benchmark's ``--benchmark-compare-fail``: results are
plain files, the baseline is a plain JSON file, every rule has an explicit tolerance, and the comparison
lists what moved, by how much and in which direction.

A *cell* here is one configuration with the seeds pooled: rows are matched across runs by every
configuration column (``lspd_bench.ablate.schema.CONFIG``, derived from the declaration of the configuration's
keys) but ``seed``, never by the cell hash, because a change to the code changes the suite version and so
every hash, while the same configuration must still compare. Two rows that differ in any key (``lr``, a
block knob) are two cells.

Results whose data or evaluation settings differ from the baseline's (``schema.MIX_GROUPS``: the dataset and
its fingerprint, the metric, the input size, the flip test, the preset) are refused (``InputError``): they
measure something else.

Rules (each failing rule is a *regression*; ``passed`` is False when there is at least one):

- **accuracy** (``headline``, percent). Seeds are paired: seed k of a cell now against seed k of the same
  cell in the baseline, so what a seed does to every cell (its data order, its initialisation) cancels. The
  noise is what is left when the seed is held, ``σ``: the residual standard deviation of the additive model
  cell + seed fitted to each table's cells × seeds, pooled over the baseline and the results
  (``paired_noise``). A cell whose seeds differ from the baseline's is compared unpaired, with the
  within-cell seed standard deviation ``s`` (``seed_noise``). With one seed everywhere neither is measured
  and only the floor applies.

  - A cell fails when its seed mean drops by more than ``max(ACC_FLOOR, ACC_SIGMAS · σ · √(2/n))`` points
    (n seeds; unpaired: ``ACC_SIGMAS · s · √(1/n_b + 1/n_now)``).
  - The matrix fails when the mean drop over its C matched cells exceeds
    ``max(ACC_FLOOR, ACC_SIGMAS_MEAN · σ · √(2 · Σ 1/n) / C)`` (unpaired: ``ACC_SIGMAS_MEAN · s ·
    √mean(1/n_b + 1/n_now)``, as a seed's effect is shared by the cells): a bug that costs every cell a
    little is caught although no single cell's drop is beyond its own noise.

  ``tol_acc`` replaces both with a fixed number of points.
- **cost** (``params_full``, ``params_deploy``, ``gmacs_fvcore``, ``gmacs_ptflops_pytorch``,
  ``gmacs_ptflops_aten``): deterministic, so any change at all, up or down, fails (MACs compared as
  integers). An intended change is accepted with ``update_baseline``.
- **latency** (``latency_ratio``: the cell's latency / a reference model's, the two taking turns in one
  process, with a 95 % interval over the rounds): the change ``now / base`` gets the interval whose log
  half-widths are those of the two measurements added in quadrature. It fails only when the whole interval is above
  ``1 + tol_latency``; when the interval straddles the limit the verdict is "not decided" (the machine's
  noise is larger than what the tolerance can tell), which does not fail. The ratio depends on the
  microarchitecture, so the rule applies only on the baseline's CPU model; on another one the ratios are
  listed as ``other cpu``, not gated.
- **pareto**: a cell on the baseline's accuracy-vs-GMACs front (fvcore GMACs of the deploy model, seed
  means, ties within the noise: ``lspd_bench.report.stats.pareto_front``) fails when another cell with no
  more GMACs is now more accurate by more than the cell's accuracy tolerance (being dominated within the
  noise is listed, not failed).
- **presence**: a baseline cell missing from the results, or failed there, fails. New cells are listed.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from lspd_bench.ablate import schema, store
from lspd_bench.config import canonical_json
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json

FORMAT = "lspd-bench baseline"
FORMAT_VERSION = 2  # 2: cells keyed by every configuration column; latency ratios with their interval

#: Accuracy tolerance floor (absolute points of the headline): below it, differences are float noise
#: between machines and library builds rather than a change of the model.
ACC_FLOOR = 1.0
#: Standard errors of a difference of two seed means that the default accuracy tolerance allows, per cell.
ACC_SIGMAS = 3.0
#: Standard errors of the mean difference over all cells that the matrix-wide accuracy rule allows.
ACC_SIGMAS_MEAN = 2.5
#: Allowed relative growth of ``latency_ratio`` (0.25 = 25 %).
TOL_LATENCY = 0.25
#: Deterministic costs: any change fails.
COST_FIGURES = ("params_full", "params_deploy", "gmacs_fvcore", "gmacs_ptflops_pytorch", "gmacs_ptflops_aten")
#: The cost axis of the Pareto front.
PARETO_COST = "gmacs_fvcore"
LATENCY = "latency_ratio"
LATENCY_LOW, LATENCY_HIGH = "latency_ratio_low", "latency_ratio_high"
SEED = schema.SEED
DONE = "done"
_EPS = 1e-9

#: Verdicts that fail the gate.
FAILING = ("worse", "changed", "missing", "failed", "off the front", "contradicted")
UNDECIDED = "not decided"
#: Each verdict's one-character mark, as asv's compare marks its lines.
MARKS = {**dict.fromkeys(FAILING, "✗"), "better": "✓", "new": "+", "within tolerance": "~", "not measured": "?",
         "other cpu": "≠", "claim moved": "~", UNDECIDED: "?"}


@dataclass
class Cell:
    """One setting of the axes, its seeds pooled: what the gate compares."""

    axes: dict[str, Any]  # every axis but the seed
    seeds: list[Any] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # the cell hashes of its rows (for the reader; not matched)
    accuracy: list[float] = field(default_factory=list)  # headline per seed, percent
    costs: dict[str, float | int | None] = field(default_factory=dict)
    latency_ratio: float | None = None
    latency_interval: tuple[float, float] | None = None  # 95 % over the measurement's rounds
    failed: str | None = None  # one line when a seed did not finish
    pareto: bool = False

    @property
    def key(self) -> str:
        return canonical_json(self.axes)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.accuracy) if self.accuracy else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (points); None with fewer than two seeds."""
        return statistics.stdev(self.accuracy) if len(self.accuracy) >= 2 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "axes": self.axes, "seeds": self.seeds, "cell_ids": self.ids,
            "accuracy": {"mean": self.mean, "std": self.std, "n": len(self.accuracy), "values": self.accuracy},
            **{k: self.costs.get(k) for k in COST_FIGURES}, LATENCY: self.latency_ratio,
            LATENCY_LOW: self.latency_interval[0] if self.latency_interval else None,
            LATENCY_HIGH: self.latency_interval[1] if self.latency_interval else None, "pareto": self.pareto,
        }  # fmt: skip


@dataclass
class Results:
    """A results table read into cells, with the facts that are the same for all of them."""

    source: Path
    cells: list[Cell]
    context: dict[str, Any]
    headline_name: str | None
    environment: dict | None  # of the run that measured the cells, when a cell's metrics.json says
    columns: list[str] = field(default_factory=list)  # the table's header


# ----------------------------------------------------------------------------------------- reading


def _value(text: str | None) -> Any:
    """A CSV field as the value it stands for: '' → None, numbers as int (when integral) or float."""
    if text is None:
        return None
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _normal(value: Any) -> Any:
    """The same value however it was stored (an integral float and an int are one axis value)."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return value


def results_file(path: str | Path) -> Path:
    """``RESULTS`` as given to ``check``: a matrix folder (its ``results.csv``) or the CSV file itself."""
    path = Path(path)
    if path.is_dir():
        path = path / store.RESULTS_CSV
        if not path.is_file():
            raise InputError(f"{path.parent} holds no {store.RESULTS_CSV}: is it a matrix folder of `lspd-bench ablate`?")
    elif not path.is_file():
        raise InputError(f"results {path} does not exist")
    return store.check_table(path)


#: Columns read as text as they stand (a cell hash of digits only must keep its leading zeros).
_TEXT = (schema.CELL, schema.STATUS, schema.ERROR, schema.RUN_DIR)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [{k: (v or None) if k in _TEXT else _value(v) for k, v in row.items() if k is not None}
                    for row in reader]  # fmt: skip
            header = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"results {path} is not a CSV table ({exc})") from None
    missing = [c for c in (schema.STATUS, schema.HEADLINE) if c not in header]
    if missing or not any(a in header for a in schema.CONFIG):
        need = ", ".join(missing or ["a configuration column (" + ", ".join(schema.CONFIG) + ")"])
        raise InputError(f"results {path} is not an lspd-bench results table: no column {need}")
    if not rows:
        raise InputError(f"results {path} holds no cells")
    return header, rows


def _environment(matrix: Path, rows: list[dict[str, Any]]) -> dict | None:
    """The measuring environment, from the first finished cell's ``metrics.json`` (None when unreadable)."""
    for row in rows:
        run_dir = row.get(schema.RUN_DIR)
        if row.get(schema.STATUS) == DONE and isinstance(run_dir, str):
            try:
                metrics = json.loads((matrix / run_dir / store.METRICS_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            env = metrics.get("environment") if isinstance(metrics, dict) else None
            if isinstance(env, dict):
                return env
    return None


def read_results(path: str | Path) -> Results:
    """Read a results table (see ``lspd_bench.ablate.schema``) into cells, seeds pooled.

    Bad input (no file, not a CSV, not a results table, no rows) raises ``InputError`` naming the file.
    """
    source = results_file(path)
    header, rows = _read_rows(source)
    axes_cols = [a for a in schema.CONFIG if a in header and a != SEED]
    cells: dict[str, Cell] = {}
    ratios: dict[str, list[float]] = {}
    for row in rows:
        axes = {a: _normal(row.get(a)) for a in axes_cols}
        cell = cells.setdefault(canonical_json(axes), Cell(axes=axes))
        cell.seeds.append(_normal(row.get(SEED)))
        if row.get(schema.CELL):
            cell.ids.append(row[schema.CELL])
        status = row.get(schema.STATUS)
        headline = row.get(schema.HEADLINE)
        if status != DONE or not isinstance(headline, (int, float)):
            error = row.get(schema.ERROR) or ("no headline" if status == DONE else "")
            cell.failed = cell.failed or f"{status or 'no status'}" + (f": {error}" if error else "")
            continue
        cell.accuracy.append(float(headline))
        if not cell.costs:
            cell.costs = {k: _normal(row.get(k)) for k in COST_FIGURES}
        if all(isinstance(row.get(c), (int, float)) for c in (LATENCY, LATENCY_LOW, LATENCY_HIGH)):
            ratios.setdefault(cell.key, []).append((row[LATENCY], row[LATENCY_LOW], row[LATENCY_HIGH]))
        elif isinstance(row.get(LATENCY), (int, float)):  # a table from before the interval: the point alone
            ratios.setdefault(cell.key, []).append((row[LATENCY],) * 3)
    for cell in cells.values():
        # One network, one measurement: the seeds of a cell share it (the median guards an older table).
        if cell.key in ratios:
            ratio, low, high = (statistics.median(float(r[i]) for r in ratios[cell.key]) for i in range(3))
            cell.latency_ratio, cell.latency_interval = ratio, (low, high)
    context: dict[str, Any] = {}
    for col in (*(c for group in schema.MIX_GROUPS.values() for c in group), "headline_name"):
        if col in header:
            values = list(dict.fromkeys(_normal(r.get(col)) for r in rows))
            context[col] = values[0] if len(values) == 1 else values
    out = list(cells.values())
    mark_pareto(out, accuracy_noise(out))
    name = context.get("headline_name")
    return Results(source, out, context, name if isinstance(name, str) else None, _environment(source.parent, rows),
                   header)  # fmt: skip


# ------------------------------------------------------------------------------------------ pareto


def _front_point(cell: Cell) -> tuple[float, float] | None:
    cost = cell.costs.get(PARETO_COST)
    if cell.failed or cell.mean is None or not isinstance(cost, (int, float)):
        return None
    return float(cost), cell.mean


def mark_pareto(cells: list[Cell], sd: float | None = None) -> None:
    """Set ``pareto`` on the cells on the accuracy-vs-GMACs front, accuracies within the seed noise ``sd`` tied
    (``lspd_bench.report.stats.pareto_front``, the report's rule). Cells without accuracy or GMACs are never on it."""
    from lspd_bench.report.stats import accuracy_tie, pareto_front

    scored = [(c, p) for c in cells if (p := _front_point(c)) is not None]
    seeds = min((len(c.accuracy) for c, _ in scored), default=1)
    front = set(pareto_front([p for _, p in scored], accuracy_tie(sd, seeds)))
    for cell in cells:
        cell.pareto = False
    for i, (cell, _) in enumerate(scored):
        cell.pareto = i in front


# ---------------------------------------------------------------------------------------- baseline


def make_baseline(results: Results, *, created: str | None = None, claims: Sequence[str] = ()) -> dict[str, Any]:
    """The baseline document of ``results``: per cell its axes, seeds, accuracy (mean, seed spread),
    parameters, MACs (GMACs), latency ratio and Pareto membership; plus context, environment and date.

    A table with unfinished cells cannot be a baseline (``InputError`` naming them): a cell left out
    would silently lose its protection.
    """
    failed = [c for c in results.cells if c.failed]
    if failed:
        name_of = _labeller(results.cells)
        names = "; ".join(f"{name_of(c)} ({c.failed})" for c in failed)
        raise InputError(f"results {results.source}: cannot make a baseline while cells are not done: {names}")
    env, env_source = results.environment, "metrics.json of the first finished cell"
    if env is None:
        from lspd_bench.env import environment

        env, env_source = environment("cpu"), "the machine that wrote the baseline (no metrics.json found)"
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": created or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "results": str(results.source),
        "headline_name": results.headline_name,
        "context": results.context,
        "environment": env,
        "environment_source": env_source,
        "rules": {"acc_floor_points": ACC_FLOOR, "acc_sigmas": ACC_SIGMAS, "acc_sigmas_mean": ACC_SIGMAS_MEAN,
                  "latency_tolerance": TOL_LATENCY,
                  "pareto_cost": PARETO_COST, "cost_figures": list(COST_FIGURES)},  # fmt: skip
        "cells": [c.to_json() for c in results.cells],
        "claims": claim_verdicts(results.source.parent, claims),
    }


def claim_verdicts(matrix_dir: Path, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The verdicts of the claims of the matrix in ``matrix_dir`` (its matrix.json) and of ``extra`` ones;
    empty for a results table without its matrix folder."""
    from lspd_bench.report.claims import judge_all
    from lspd_bench.report.load import load_matrix

    if not (matrix_dir / store.RESULTS_CSV).is_file():
        return []
    matrix = load_matrix(matrix_dir)
    return judge_all(matrix, extra) if matrix.done else []


def _claim_rows(baseline: dict[str, Any], now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A failing row for each claim the baseline supported that the results contradict; an informational
    row for each other change of verdict."""
    from lspd_bench.report.claims import interval_text

    current = {c["claim"]: c for c in now}
    rows = []
    for old in baseline.get("claims") or []:
        new = current.get(old["claim"])
        if new is None:
            raise InputError(f"claim '{old['claim']}' of the baseline cannot be judged on the results: add it to "
                             "the matrix's claims or pass it with --claim")  # fmt: skip
        if new["verdict"] == old["verdict"]:
            continue
        verdict = "contradicted" if old["verdict"] == "supported" and new["verdict"] == "contradicted" else "claim moved"
        rows.append(_row(f"claim '{old['claim']}'", "claim", "a supported claim must not be contradicted", verdict,
                         baseline=old["verdict"], now=new["verdict"],
                         message=f"Δ {interval_text(old)} → {interval_text(new)} points ({new['seeds']} seeds; "
                                 f"{new['reason']})"))  # fmt: skip
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cell_from_json(path: Path, i: int, data: Any) -> Cell:
    if not (isinstance(data, dict) and isinstance(data.get("axes"), dict) and isinstance(data.get("accuracy"), dict)):
        raise InputError(f"baseline {path}: cell {i} is malformed (needs 'axes' and 'accuracy')")
    values = data["accuracy"].get("values")
    if not isinstance(values, list) or not values or not all(_number(v) is not None for v in values):
        raise InputError(f"baseline {path}: cell {i} has no accuracy values")
    return Cell(
        axes={k: _normal(v) for k, v in data["axes"].items()}, seeds=list(data.get("seeds") or []),
        ids=list(data.get("cell_ids") or []), accuracy=[float(v) for v in values],
        costs={k: _normal(data.get(k)) for k in COST_FIGURES}, latency_ratio=_number(data.get(LATENCY)),
        latency_interval=_interval(data), pareto=bool(data.get("pareto")),
    )  # fmt: skip


def _interval(data: dict[str, Any]) -> tuple[float, float] | None:
    low, high = _number(data.get(LATENCY_LOW)), _number(data.get(LATENCY_HIGH))
    return (low, high) if low is not None and high is not None else None


def load_baseline(path: str | Path) -> tuple[dict[str, Any], list[Cell]]:
    """The baseline document at ``path`` and its cells; a missing, foreign or empty file is an ``InputError``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"baseline {path} does not exist (write one with --update-baseline)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"baseline {path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"baseline {path} is not an lspd-bench baseline (no \"format\": \"{FORMAT}\")")
    if data.get("version") != FORMAT_VERSION:
        raise InputError(f"baseline {path} has format version {data.get('version')!r}; "
                         f"this suite reads {FORMAT_VERSION}")  # fmt: skip
    cells = data.get("cells")
    if not isinstance(cells, list) or not cells:
        raise InputError(f"baseline {path} holds no cells")
    return data, [_cell_from_json(path, i, c) for i, c in enumerate(cells)]


# ----------------------------------------------------------------------------------------- compare


def _describe(axes: dict[str, Any], names: list[str] | None = None) -> str:
    names = names if names is not None else [a for a in schema.CONFIG if a in axes]
    return " ".join(f"{a}={axes.get(a)}" for a in names) or "(no axes)"


def _labeller(cells: list[Cell]) -> Callable[[Cell], str]:
    """Cells named by the fewest axes that tell them apart (``stages=2 distill=teacher``), in schema order.

    Axes that vary only along with another (``alpha`` is empty exactly when ``distill=none``) are left out,
    later axes first, as long as every cell keeps a name of its own.
    """
    names = [a for a in schema.CONFIG if a != SEED and any(a in c.axes for c in cells)]
    shown = [a for a in names if len({canonical_json(c.axes.get(a)) for c in cells}) > 1]
    distinct = len({c.key for c in cells})
    for axis in reversed(list(shown)):
        fewer = [a for a in shown if a != axis]
        if fewer and len({_describe(c.axes, fewer) for c in cells}) == distinct:
            shown = fewer
    shown = shown or [a for a in names if a == "model"] or names[:1]
    return lambda cell: _describe(cell.axes, shown)


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
        return max(ACC_FLOOR, ACC_SIGMAS_MEAN * paired * math.sqrt(2 * sum(1 / len(b.accuracy) for b, _ in pairs))
                   / len(pairs))  # fmt: skip
    if within is not None:
        spread = statistics.fmean(1 / len(b.accuracy) + 1 / len(n.accuracy) for b, n in pairs)
        return max(ACC_FLOOR, ACC_SIGMAS_MEAN * within * math.sqrt(spread))
    return ACC_FLOOR


def _matrix_accuracy_row(pairs: list[tuple[Cell, Cell]], noise: dict[str, Any],
                         tol_acc: float | None) -> list[dict[str, Any]]:  # fmt: skip
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
    return [_row(label, schema.HEADLINE, "accuracy (matrix)", verdict, delta=delta, limit=tol,
                 baseline={"mean": statistics.fmean(b.mean for b, _ in pairs), "std": None, "n": len(pairs)},
                 now={"mean": statistics.fmean(n.mean for _, n in pairs), "std": None, "n": len(pairs)},
                 message=f"mean change {delta:+.2f} points over {len(pairs)} cells (tolerance {tol:.2f}; per cell: "
                         + ", ".join(f"{d:+.2f}" for d in deltas) + ")")]  # fmt: skip


def _exact(figure: str, value: Any) -> int | None:
    """A deterministic cost as an integer (GMACs back to MACs), so float formatting cannot fake a change."""
    if not isinstance(value, (int, float)):
        return None
    return round(value * 1e9) if figure.startswith("gmacs") else round(value)


def _row(cell: str, figure: str, rule: str, verdict: str, *, baseline: Any = None, now: Any = None,
         delta: float | None = None, limit: float | str | None = None, message: str = "",
         interval: tuple[float, float] | None = None) -> dict[str, Any]:  # fmt: skip
    direction = None if delta is None or abs(delta) < _EPS else ("up" if delta > 0 else "down")
    return {"cell": cell, "figure": figure, "rule": rule, "verdict": verdict, "fails": verdict in FAILING,
            "baseline": baseline, "now": now, "delta": delta, "direction": direction, "limit": limit,
            "interval": list(interval) if interval else None, "message": message}  # fmt: skip


def _accuracy_rows(label: str, base: Cell, now: Cell, tol: float) -> list[dict[str, Any]]:
    b, n = base.mean, now.mean
    delta = n - b
    if abs(delta) < _EPS:
        return []
    verdict = "worse" if delta < -tol else "better" if delta > tol else "within tolerance"
    return [_row(label, schema.HEADLINE, "accuracy", verdict, delta=delta, limit=tol,
                 baseline={"mean": b, "std": base.std, "n": len(base.accuracy)},
                 now={"mean": n, "std": now.std, "n": len(now.accuracy)},
                 message=f"{delta:+.2f} points (tolerance {tol:.2f})")]  # fmt: skip


def _cost_rows(label: str, base: Cell, now: Cell) -> list[dict[str, Any]]:
    rows = []
    for figure in COST_FIGURES:
        b, n = base.costs.get(figure), now.costs.get(figure)
        if _exact(figure, b) == _exact(figure, n):
            continue
        delta = n - b if isinstance(b, (int, float)) and isinstance(n, (int, float)) else None
        what = "not measured now" if n is None else "newly measured" if b is None else f"{delta:+,g}"
        rows.append(_row(label, figure, "cost", "changed", baseline=b, now=n, delta=delta, limit="exact",
                         message=f"deterministic cost changed: {what}"))  # fmt: skip
    return rows


def _other_cpu(baseline: dict[str, Any], results: Results) -> tuple[str, str] | None:
    """(baseline CPU, results CPU) when both are known and differ: latency ratios are then not comparable."""
    old = (baseline.get("environment") or {}).get("cpu")
    new = (results.environment or {}).get("cpu")
    return (old, new) if old and new and old != new else None


def _latency_rows(label: str, base: Cell, now: Cell, tol: float,
                  other_cpu: tuple[str, str] | None) -> list[dict[str, Any]]:  # fmt: skip
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
        return [_row(label, figure, "latency", "other cpu", baseline=b, now=n, delta=n - b,
                     message=f"×{factor:.3f} of the baseline, but measured on {other_cpu[1]!r}, the baseline on "
                             f"{other_cpu[0]!r}: not gated")]  # fmt: skip
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
        why = (f"the machine's noise (×{high / low:.2f}) exceeds the tolerance" if high / low > limit else
               "the change is too close to the limit to tell")  # fmt: skip
        message = f"not decided: {why}; {span} straddles the limit ×{limit:.3f}"
    return [_row(label, figure, "latency", verdict, baseline=b, now=n, delta=n - b, limit=limit, message=message,
                 interval=(low, high))]  # fmt: skip


def _pareto_rows(label: str, name_of: Callable[[Cell], str], base: Cell, now: Cell, cells_now: list[Cell],
                 tol: float) -> list[dict[str, Any]]:  # fmt: skip
    """A baseline front cell that another cell now dominates: the largest accuracy margin of any
    dominating cell (points), failing beyond ``tol``."""
    p = _front_point(now)
    if not base.pareto or p is None:
        return []
    worst: tuple[float, Cell] | None = None
    for other in cells_now:
        q = _front_point(other)
        if other is now or q is None:
            continue
        if q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1]):
            margin = q[1] - p[1]
            if worst is None or margin > worst[0]:
                worst = (margin, other)
    if worst is None:
        return []
    margin, other = worst
    verdict = "off the front" if margin > tol else "within tolerance"
    cost = other.costs[PARETO_COST]
    return [_row(label, "pareto", "pareto", verdict, baseline="on the front", now=f"dominated by {name_of(other)}",
                 delta=margin, limit=tol,
                 message=f"{name_of(other)} is {margin:+.2f} points at {cost:.6f} ≤ {p[0]:.6f} "
                         f"{PARETO_COST}")]  # fmt: skip


def _notes(baseline: dict[str, Any], base_cells: list[Cell], results: Results,
           other_cpu: tuple[str, str] | None) -> list[str]:  # fmt: skip
    """What differs around the figures: context, machine, libraries, seeds (none for a first baseline)."""
    if not baseline:
        return []
    notes = []
    changed = _changed_keys(base_cells, results.cells)
    if changed:
        notes.append("configuration changed in every cell: " + "; ".join(changed) + " (cells are matched on every "
                     "configuration key, so these are other cells: accept them with --update-baseline)")  # fmt: skip
    old_env, new_env = baseline.get("environment") or {}, results.environment
    if new_env:
        for key in ("cpu", "device"):
            if old_env.get(key) != new_env.get(key):
                notes.append(f"environment {key}: {old_env.get(key)!r} → {new_env.get(key)!r}")
        if other_cpu:
            notes.append("latency ratios are not gated on another CPU model; to gate them on this one, update "
                         "the baseline on it")  # fmt: skip
        old_lib, new_lib = old_env.get("libraries") or {}, new_env.get("libraries") or {}
        for lib in dict.fromkeys([*old_lib, *new_lib]):
            if old_lib.get(lib) != new_lib.get(lib):
                notes.append(f"library {lib}: {old_lib.get(lib)} → {new_lib.get(lib)}")
    now = {c.key: c for c in results.cells}
    name_of = _labeller([*base_cells, *results.cells])
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


def noise_text(noise: dict[str, Any]) -> str:
    """One line: the seed noise the gate's accuracy rule used, or that there was none to measure."""
    base, now, both, paired = noise["baseline"], noise["results"], noise["both"], noise["paired"]
    if both["pooled_sd"] is None:
        return (f"training noise: not measured (one seed per cell); the accuracy rules fall back to their "
                f"{ACC_FLOOR:g}-point floor, which covers kernel and machine differences, not training noise")  # fmt: skip
    parts = [f"{what} {n['pooled_sd']:.2f} ({n['cells']} cells, df {n['df']})"
             for what, n in (("the baseline's", base), ("these results'", now)) if n["pooled_sd"] is not None]  # fmt: skip
    text = f"training noise: seeds differ within a cell by a pooled SD of {both['pooled_sd']:.2f} points (" + ", ".join(parts) + ")"
    if paired["sd"] is None:
        return text + ", which the accuracy rules use (cells are not paired by seed)"
    return (text + f"; with the seed held, {paired['sd']:.2f} points are left (cells × seeds residual, df "
            f"{paired['df']}), which the accuracy rules use for cells paired by seed")


def comparable(results: Results, baseline: dict[str, Any], base_cells: list[Cell]) -> None:
    """Refuse (``InputError``, one line) results that lack a configuration column the baseline's cells have (a
    table of an older suite), or whose data or evaluation settings differ from the baseline's: their figures
    measure something else (``schema.MIX_GROUPS``)."""
    lacking = [k for k in dict.fromkeys(k for c in base_cells for k in c.axes) if k not in results.columns]
    if lacking:
        raise InputError(f"results {results.source} have no column {', '.join(lacking)}, which the baseline's cells "
                         "are matched on (a table of an older lspd-bench? run the matrix again)")  # fmt: skip
    old = baseline.get("context") or {}
    diff = [f"{col} {old[col]!r} → {results.context[col]!r}" for group in schema.MIX_GROUPS.values() for col in group
            if col in old and col in results.context and old[col] != results.context[col]]  # fmt: skip
    if diff:
        raise InputError(f"results {results.source} are not comparable with the baseline: {'; '.join(diff)} (compare "
                         "like with like, or accept them as a new baseline with --update-baseline)")  # fmt: skip


def compare(results: Results, baseline: dict[str, Any], base_cells: list[Cell], *, tol_acc: float | None = None,
            tol_latency: float = TOL_LATENCY) -> dict[str, Any]:  # fmt: skip
    """Compare ``results`` with a baseline (from :func:`load_baseline`); return the report.

    ``tol_acc``: allowed accuracy drop in absolute points (None = derived from the seed noise, module doc);
    ``tol_latency``: allowed relative growth of ``latency_ratio``. The report lists only what moved
    (``rows``); ``passed`` is False when any row fails.
    """
    if tol_acc is not None and tol_acc < 0:
        raise InputError(f"accuracy tolerance must be 0 or more points, got {tol_acc}")
    if tol_latency < 0:
        raise InputError(f"latency tolerance must be 0 or more, got {tol_latency}")
    name_of = _labeller([*base_cells, *results.cells])
    other_cpu = _other_cpu(baseline, results)
    now = {c.key: c for c in results.cells}
    known = {c.key for c in base_cells}
    rows: list[dict[str, Any]] = []
    missing, failed, pairs = [], [], []
    noise = {"baseline": seed_noise(base_cells), "results": seed_noise(results.cells),
             "both": seed_noise([*base_cells, *results.cells]),
             "paired": pooled_paired_noise(base_cells, results.cells)}  # fmt: skip
    for base in base_cells:
        label = name_of(base)
        cell = now.get(base.key)
        if cell is None:
            missing.append(label)
            rows.append(_row(label, "cell", "presence", "missing", baseline="present", now="missing",
                             message="a baseline cell is not in the results"))  # fmt: skip
            continue
        if cell.failed:
            failed.append(label)
            rows.append(_row(label, "cell", "presence", "failed", baseline="done", now=cell.failed,
                             message=f"the cell did not finish: {cell.failed}"))  # fmt: skip
            continue
        pairs.append((base, cell))
        tol = accuracy_tolerance(base, cell, noise, tol_acc)
        rows += _accuracy_rows(label, base, cell, tol)
        rows += _cost_rows(label, base, cell)
        rows += _latency_rows(label, base, cell, tol_latency, other_cpu)
        rows += _pareto_rows(label, name_of, base, cell, results.cells, tol)
    rows += _matrix_accuracy_row(pairs, noise, tol_acc)
    new = [name_of(c) for c in results.cells if c.key not in known]
    rows += [_row(label, "cell", "presence", "new", baseline=None, now="present", message="not in the baseline")
             for label in new]  # fmt: skip
    failing = [r for r in rows if r["fails"]]
    regressed = list(dict.fromkeys(r["cell"] for r in failing))
    return {
        "passed": not failing,
        "results": str(results.source),
        "baseline_created": baseline.get("created"),
        "headline_name": baseline.get("headline_name") or results.headline_name,
        "tolerances": {
            "accuracy_points": tol_acc,
            "accuracy_rule": (f"{tol_acc:g} points" if tol_acc is not None else
                              f"per cell max({ACC_FLOOR:g}, {ACC_SIGMAS:g}·σ·√(2/n)) points, over all C cells' mean "
                              f"max({ACC_FLOOR:g}, {ACC_SIGMAS_MEAN:g}·σ·√(2·Σ1/n)/C), σ = the noise left with the "
                              "seed held (cells × seeds residual of the baseline and the results; cells not paired "
                              "by seed use the within-cell seed SD)"),
            "accuracy_noise_points": noise["paired"]["sd"] if noise["paired"]["sd"] is not None else
                                     noise["both"]["pooled_sd"],
            "latency_relative": tol_latency,
            "latency_rule": f"fails when the ratio's whole 95 % interval is above ×{1 + tol_latency:.3f} of the "
                            "baseline's; not decided when it straddles that limit",
        },  # fmt: skip
        "latency_gated": other_cpu is None,
        "cells": {"baseline": len(base_cells), "results": len(results.cells), "missing": missing, "failed": failed,
                  "new": new},  # fmt: skip
        "regressions": len(failing),
        "undecided": sum(r["verdict"] == UNDECIDED for r in rows),
        "regressed_cells": {c: [r["figure"] for r in failing if r["cell"] == c] for c in regressed},
        "rows": rows,
        "noise": noise,
        "notes": _notes(baseline, base_cells, results, other_cpu),
    }


def check(results: str | Path, baseline: str | Path, *, tol_acc: float | None = None,
          tol_latency: float = TOL_LATENCY, claims: bool = False, extra_claims: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """Read ``results`` (a matrix folder or its results.csv) and compare it with the baseline file.

    With ``claims``, the claims the baseline recorded are judged again on the results (with ``extra_claims``
    for those the matrix does not carry): one that was supported and is now contradicted fails the gate.
    """
    doc, cells = load_baseline(baseline)
    res = read_results(results)
    comparable(res, doc, cells)
    report = compare(res, doc, cells, tol_acc=tol_acc, tol_latency=tol_latency)
    report = {**report, "baseline": str(baseline), "updated": False}
    if not claims:
        return report
    if not doc.get("claims"):
        raise InputError(f"--claims: the baseline {baseline} records no claims (write it with --update-baseline "
                         "from a matrix that has claims)")  # fmt: skip
    now = claim_verdicts(res.source.parent, extra_claims)
    rows = _claim_rows(doc, now)
    failing = [r for r in rows if r["fails"]]
    return {**report, "rows": report["rows"] + rows, "passed": report["passed"] and not failing,
            "regressions": report["regressions"] + len(failing), "claims": now,
            "contradicted_claims": [r["cell"] for r in failing]}  # fmt: skip


def update_baseline(results: str | Path, baseline: str | Path, *, tol_acc: float | None = None,
                    tol_latency: float = TOL_LATENCY, created: str | None = None,
                    claims: Sequence[str] = (), allow_partial: bool = False) -> dict[str, Any]:  # fmt: skip
    """Accept ``results`` as the new baseline: write it atomically and return what changed against the
    old one (every cell ``new`` when there was none, or when it has another format version: it is replaced,
    saying so). A file at ``baseline`` that is not a baseline is not overwritten (``InputError``), nor is a
    baseline replaced by results that lack some of its cells unless ``allow_partial``. The matrix's claims
    and ``claims`` are recorded with their verdicts."""
    res = read_results(results)
    doc = make_baseline(res, created=created, claims=claims)
    path = Path(baseline)
    path_existed = path.exists()
    old, old_cells, notes = {}, [], []
    if path_existed:
        try:
            old, old_cells = load_baseline(path)
        except InputError:
            version = _version_of(path)
            if version is None:
                raise
            notes.append(f"the previous baseline had format version {version!r}; it is replaced, not compared")
    report = compare(res, old, old_cells, tol_acc=tol_acc, tol_latency=tol_latency)
    missing = report["cells"]["missing"]
    if missing and not allow_partial:
        raise InputError(f"{results} lacks {len(missing)} cell(s) of the baseline {path} ({'; '.join(missing)}): "
                         "it is incomplete; run them, or pass --allow-partial to write a baseline without them")  # fmt: skip
    write_json(path, doc)
    return {**report, "baseline": str(path), "updated": True, "previous": path_existed and bool(old_cells),
            "baseline_cells": len(doc["cells"]), "notes": [*notes, *report["notes"]]}  # fmt: skip


def _version_of(path: Path) -> Any:
    """The format version of a baseline file of ours in another version than this suite's, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ours = isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") != FORMAT_VERSION
    return data.get("version") if ours else None


# -------------------------------------------------------------------------------------- rendering

COLUMNS = ("", "cell", "figure", "baseline", "now", "change", "limit", "verdict")
_ARROW = {"up": "↑", "down": "↓", None: ""}


def _fmt_figure(figure: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # accuracy: seed mean ± spread
        spread = f" ±{value['std']:.2f}" if value.get("std") is not None else ""
        seeds = f" ({value['n']} seeds)" if value.get("n", 1) > 1 else ""
        return f"{value['mean']:.2f}{spread}{seeds}"
    if figure.startswith("params"):
        return f"{value:,.0f}"
    if figure.startswith("gmacs"):
        return f"{value:.6f}"
    if figure == LATENCY:
        return f"{value:.3f}"
    return f"{value:g}"


def _fmt_change(row: dict[str, Any]) -> str:
    d, figure, arrow = row["delta"], row["figure"], _ARROW[row["direction"]]
    if d is None:
        return ""
    if figure == schema.HEADLINE or figure == "pareto":
        return f"{d:+.2f} pt {arrow}".strip()
    base = row["baseline"]
    rel = f" ({d / base:+.2%})" if isinstance(base, (int, float)) and base else ""
    if figure.startswith("params"):
        return f"{d:+,.0f}{rel} {arrow}"
    if figure.startswith("gmacs"):
        return f"{d:+.6f}{rel} {arrow}"
    if figure == LATENCY:
        span = f" [×{row['interval'][0]:.2f}, ×{row['interval'][1]:.2f}]" if row.get("interval") else ""
        return f"×{row['now'] / base:.3f}{span} {arrow}"
    return f"{d:+g} {arrow}"


def _fmt_limit(row: dict[str, Any]) -> str:
    limit = row["limit"]
    if limit is None or isinstance(limit, str):
        return limit or ""
    if row["figure"] == LATENCY:
        return f"≤ ×{limit:.3f}"
    return f"-{limit:.2f} pt" if row["figure"] == schema.HEADLINE else f"+{limit:.2f} pt"


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """The report's rows as text cells under ``COLUMNS`` (the same for the terminal and Markdown)."""
    return [[MARKS[r["verdict"]], r["cell"], r["figure"], _fmt_figure(r["figure"], r["baseline"]),
             _fmt_figure(r["figure"], r["now"]), _fmt_change(r), _fmt_limit(r), r["verdict"]]
            for r in report["rows"]]  # fmt: skip


def summary(report: dict[str, Any]) -> str:
    """One line: the verdict, and for a failure every regressed cell with the figures that failed."""
    n = report["cells"]["baseline"]
    if report.get("updated") and not report.get("previous"):
        return f"baseline {report['baseline']} written ({report['baseline_cells']} cells; there was none before)"
    if report.get("updated"):
        moved = len(report["rows"])
        changed = {}
        for r in report["rows"]:
            changed.setdefault(r["cell"], []).append(r["figure"])
        detail = "; ".join(f"{c}: {', '.join(f)}" for c, f in changed.items())
        return (f"baseline {report['baseline']} written ({report['baseline_cells']} cells); {moved} "
                f"figure{'s' * (moved != 1)} changed against the previous one" + (f" — {detail}" if detail else ""))
    if report["passed"]:
        moved, undecided = len(report["rows"]), report.get("undecided", 0)
        text = f"passed: no regression in {n} cells ({moved} figure{'s' * (moved != 1)} moved within the rules"
        return text + (f"; {undecided} not decided within the machine's noise)" if undecided else ")")
    missing = report["cells"]["missing"]
    if missing:  # a matrix that has not run every baseline cell is incomplete, whatever else moved
        return (f"INCOMPLETE: {len(missing)} of {n} baseline cells are not in the results ({'; '.join(missing)}): "
                "run them, or accept a smaller baseline with --update-baseline --allow-partial")  # fmt: skip
    cells = report["regressed_cells"]
    detail = "; ".join(f"{c}: {', '.join(dict.fromkeys(f))}" for c, f in cells.items())
    count = report["regressions"]
    claims = report.get("contradicted_claims") or []
    where = f"{len(cells)} of {n} cells" + (f" and {len(claims)} claim{'s' * (len(claims) != 1)}" if claims else "")
    detail = "; ".join([*([detail] if detail else []), *(f"{c}: now contradicted" for c in claims)])
    return f"FAILED: {count} regression{'s' * (count != 1)} in {where} — {detail}"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for a pull-request comment: verdict, table of what moved, rules, notes."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    icon = "✅" if report["passed"] or report.get("updated") else "❌"
    lines = [f"### {icon} lspd-bench check", "", esc(summary(report)), ""]
    rows = table_rows(report)
    if rows:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 4 + ["---"]) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    else:
        lines.append("Nothing moved.")
    tol = report["tolerances"]
    lines += [
        "",
        f"Rules: {report.get('headline_name') or 'headline'} may drop by {tol['accuracy_rule']}; parameters and "
        f"GMACs ({', '.join(COST_FIGURES)}) must not change; latency_ratio {tol['latency_rule']} "
        "(on the baseline's CPU model); "
        f"a cell on the accuracy-vs-{PARETO_COST} front must stay on it (within the accuracy tolerance); every "
        f"baseline cell must be present. Baseline: `{report['baseline']}`"
        + (f" ({report['baseline_created']})" if report.get("baseline_created") else "") + ".",
    ]  # fmt: skip
    if report.get("noise"):
        lines += ["", esc(noise_text(report["noise"])[0].upper() + noise_text(report["noise"])[1:]) + "."]
    undecided = [f"{r['cell']}, {r['figure']}: {r['message']}" for r in report["rows"] if r["verdict"] == UNDECIDED]
    if undecided:
        lines += ["", "Not decided (not failed):", *(f"- {esc(u)}" for u in undecided)]
    if report["notes"]:
        lines += ["", "Notes:", *(f"- {esc(n)}" for n in report["notes"])]
    if not report["passed"] and not report.get("updated"):
        lines += ["", f"An intended change is accepted with `lspd-bench check {report['results']} --baseline "
                      f"{report['baseline']} --update-baseline`."]  # fmt: skip
    return "\n".join(lines) + "\n"
