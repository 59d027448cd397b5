"""From cells to variants: mean ± std over seeds, deltas against a baseline row with paired-bootstrap
intervals, Pareto fronts, and the learning curves with the rule that tells a variant still learning.

A *variant* is one combination of the matrix's varying axes; its cells are the seeds (and, with
``--allow-mixed``, nothing else: mixed context columns become axes of their own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from lspd_bench.ablate import schema, store
from lspd_bench.config import NUMERIC_KEYS, Metric
from lspd_bench.cost.counters import FVCORE
from lspd_bench.errors import InputError
from lspd_bench.evaluation.bootstrap import (
    paired_counts_bootstrap,
    pckh_bootstrap_ci,
    person_counts,
    seed_variance_parts,
)
from lspd_bench.evaluation.evaluators import Evaluator, evaluator, keeps_per_person
from lspd_bench.report.load import REFERENCE_FAMILIES, Cell, Matrix, mixed_context, model_family, select_metric
from lspd_bench.train.files import HISTORY_HEADLINE, HISTORY_STAGE, HISTORY_VAL_SECONDS, PER_PERSON_FILE

#: The axes a variant is told apart by, in table order (seeds are averaged, not an axis).
VARIANT_AXES = schema.VARIANT_COLUMNS
#: Axes with an order (plotted on an x axis): the numeric configuration keys; the others are categories.
NUMERIC_AXES = tuple(a for a in VARIANT_AXES if a in NUMERIC_KEYS)

COST_KINDS = schema.COST_KINDS

BOOTSTRAP_SEED = 0
#: A variant's statistic of its last stage's headline minus its deployed stage's (what deploying one stage costs).
STAGE_GAP = "last_minus_deployed"


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (ddof = 1; None for one value) over ``n`` finished seeds."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[Any]) -> Stat | None:
        xs = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if not xs:
            return None
        return cls(float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else None, len(xs))


@dataclass(frozen=True)
class Delta:
    """Headline difference ``variant − baseline`` (points) over the seeds both finished, and its interval.

    ``low``/``high`` is the paired-bootstrap percentile interval (None when it cannot be computed;
    ``note`` says why), ``seeds`` the seeds that were paired.
    """

    delta: float
    low: float | None
    high: float | None
    p_value: float | None
    seeds: tuple[Any, ...]
    note: str = ""


@dataclass
class Variant:
    """One row of the tables: a combination of axis values and its cells (one per seed)."""

    axes: dict[str, Any]
    cells: list[Cell]
    family: str | None
    stats: dict[str, Stat | None] = field(default_factory=dict)
    delta: Delta | None = None
    is_baseline: bool = False

    @property
    def done(self) -> list[Cell]:
        return [c for c in self.cells if c.done]

    @property
    def reference(self) -> bool:
        """A comparison model (SimpleBaseline, Lite-HRNet, hourglass), not an LSPD variant."""
        return self.family in REFERENCE_FAMILIES

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.cells)

    def status_text(self) -> str:
        """``2/2``, or ``1/2 (1 running)``: finished cells of all, and what the others are doing."""
        text = f"{len(self.done)}/{len(self.cells)}"
        others: dict[str, int] = {}
        for c in self.cells:
            if not c.done:
                others[c.status] = others.get(c.status, 0) + 1
        if others:
            text += " (" + ", ".join(f"{n} {s}" for s, n in others.items()) + ")"
        return text

    def value(self, column: str) -> Stat | None:
        return self.stats.get(column)

    def label(self, axes: Sequence[str]) -> str:
        """``stages=2, distill=teacher`` over the given axes."""
        return ", ".join(f"{a}={format_value(self.axes.get(a))}" for a in axes) or "all cells"


def format_value(value: Any) -> str:
    """An axis value for display: ``None`` → ``—``, tuples as ``64×64``, floats without trailing zeros."""
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return "×".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass
class Analysis:
    """Everything the tables and plots show, computed once."""

    matrix: Matrix
    evaluator: Evaluator  # the cells' metric
    stage_columns: tuple[str, ...]  # the headline at every stage k = 1..K of the deepest variant
    axes: list[str]  # the axes that vary (the mixed context columns last, with --allow-mixed)
    axis_values: dict[str, list[Any]]  # each axis's values in order of first appearance
    variants: list[Variant]
    baseline: Variant
    counter: str
    gmacs_column: str
    mixed: dict[str, dict[str, list[Any]]]
    n_boot: int
    notes: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.evaluator.metric

    @cached_property
    def noise(self) -> SeedNoise:
        """The training noise the matrix's seeds show (:func:`seed_noise`), computed once: its people's part
        reads every cell's per-person file."""
        return seed_noise(self)

    @cached_property
    def learning(self) -> dict[int, Learning]:
        """Each variant's still-learning verdict (:func:`variant_learning`) by its ``id``, computed once: with
        one seed per variant it bootstraps each cell's people."""
        return {id(v): variant_learning(self, v) for v in self.variants}

    def learning_of(self, variant: Variant) -> Learning:
        return self.learning[id(variant)]

    @property
    def headline(self) -> str:
        """The results column of the headline (Mean, AP)."""
        return self.evaluator.headline_key

    @property
    def headline_name(self) -> str:
        return self.evaluator.headline_name

    @property
    def accuracy_columns(self) -> tuple[str, ...]:
        return self.evaluator.columns

    @property
    def lspd_axes(self) -> list[str]:
        """The axes that tell the LSPD variants apart (``model`` drops out when only references vary it)."""
        rows = [v for v in self.variants if not v.reference]
        return [a for a in self.axes if len({v.axes.get(a) for v in rows}) > 1] or self.axes

    def cost_column(self, kind: str) -> str:
        return self.gmacs_column if kind == "gmacs" else schema.COST_KINDS[kind].column

    def constant(self, column: str) -> Any:
        """The value of a context column when all cells agree, else None."""
        values = self.matrix.values(column)
        return values[0] if len(values) == 1 else None


@dataclass(frozen=True)
class SeedNoise:
    """The training noise the matrix's own seeds show: the headline's pooled within-row standard deviation
    (points) over the rows with at least two finished seeds; ``rows`` = 0 when no row has two."""

    sd: float | None
    df: int
    rows: int
    seeds: int  # the most seeds a row finished
    #: The part of ``sd`` that is which validation people each seed's model gets right (pooled like ``sd``
    #: from :func:`~lspd_bench.evaluation.bootstrap.seed_variance_parts`); the rest is the training's. None
    #: when a row's cells keep no per-person data.
    people_sd: float | None = None

    @property
    def training_sd(self) -> float | None:
        if self.sd is None or self.people_sd is None:
            return None
        return float(np.sqrt(max(0.0, self.sd**2 - self.people_sd**2)))


def pooled_sd(groups: Sequence[Sequence[float]]) -> tuple[float | None, int, int]:
    """(pooled SD, degrees of freedom, groups used): sqrt(Σ (n_i − 1) s_i² / Σ (n_i − 1)) over the groups with
    n_i ≥ 2 values (the seeds of one setting); SD None when no group has two."""
    multi = [list(g) for g in groups if len(g) >= 2]
    df = sum(len(g) - 1 for g in multi)
    if not df:
        return None, 0, 0
    pooled = sum((len(g) - 1) * float(np.var(g, ddof=1)) for g in multi) / df
    return float(np.sqrt(pooled)), df, len(multi)


def paired_residual(groups: Sequence[dict[Any, float]]) -> tuple[float | None, int, float]:
    """(SD, degrees of freedom, sum of squares) of what is left when the seed is held: the residual of the
    additive model setting + seed, fitted to the settings (``groups``: seed → headline) × the seeds all of them
    have (two-way analysis without replication; df = (settings − 1)(seeds − 1)). What a seed does to every
    setting alike (its data order, its initialisation) cancels in a comparison at equal seeds, so this is the
    noise of such a comparison. SD None with fewer than two settings or two common seeds."""
    full = [g for g in groups if len(g) >= 2]
    seeds = sorted(set.intersection(*(set(g) for g in full)), key=str) if full else []
    if len(full) < 2 or len(seeds) < 2:
        return None, 0, 0.0
    grid = np.array([[g[k] for k in seeds] for g in full], dtype=float)
    resid = grid - grid.mean(axis=1, keepdims=True) - grid.mean(axis=0, keepdims=True) + grid.mean()
    df = (len(full) - 1) * (len(seeds) - 1)
    ss = float((resid**2).sum())
    return float(np.sqrt(ss / df)), df, ss


def held_seed_noise(analysis: Analysis) -> tuple[float | None, int]:
    """(SD, df) of the LSPD variants' headlines with the seed held (:func:`paired_residual`)."""
    groups = [
        {c.row.get("seed"): _num(c.row.get(analysis.headline)) for c in v.done}
        for v in analysis.variants
        if not v.reference
    ]
    sd, df, _ = paired_residual([{k: x for k, x in g.items() if np.isfinite(x)} for g in groups])
    return sd, df


def accuracy_noise(analysis: Analysis) -> float | None:
    """The noise of comparing two of the matrix's variants (points): with the seed held when measured
    (:func:`held_seed_noise`), else the pooled within-variant seed SD; None with one seed."""
    held, _ = held_seed_noise(analysis)
    return held if held is not None else analysis.noise.sd


def seed_noise(analysis: Analysis) -> SeedNoise:
    """The pooled SD of the headline over the seeds of each row (:func:`pooled_sd`), and its people's part."""
    rows = [[c for c in v.done if np.isfinite(_num(c.row.get(analysis.headline)))] for v in analysis.variants]
    sd, df, used = pooled_sd([[_num(c.row.get(analysis.headline)) for c in r] for r in rows])
    parts = [(len(r) - 1, _people_variance(r)) for r in rows if len(r) >= 2]
    people = None
    if df and all(v is not None for _, v in parts):
        people = min(float(np.sqrt(sum(n * v for n, v in parts) / df)), sd)  # pooled unclipped, then at most the SD
    return SeedNoise(sd, df, used, max((len(r) for r in rows), default=0), people)


def _people_variance(cells: list[Cell]) -> float | None:
    """The people's part of one row's seed variance (points²); None unless every seed kept per-person data
    on the same people."""
    kept = [c.per_person() if keeps_per_person(c.row.get("metric")) else None for c in cells]
    if any(k is None for k in kept) or any(not np.array_equal(k[1], kept[0][1]) for k in kept):
        return None
    return seed_variance_parts([k[0] for k in kept], kept[0][1])["people_sd"] ** 2


# ------------------------------------------------------------------------------------------ learning curves

#: The last part of a variant's epochs whose gain tells whether it was still learning: its last quarter.
LEARNING_SHARE = 0.25
#: What a still-learning variant is marked with in the tables and the curves figure.
STILL_LEARNING_MARK = "↑"
#: The thresholds of :func:`still_learning`: the matrix's seed noise, or (one seed per variant) its people's.
SEED_SD = "seed SD"
PEOPLE_HALF_WIDTH = "people interval half-width"
#: The rule of :func:`still_learning` in one sentence (the tables' footnote and the conventions).
LEARNING_RULE = (
    f"{STILL_LEARNING_MARK} still learning: with E the epochs of a row's cells and m = max(1, round(E × "
    f"{LEARNING_SHARE:g})), its gain is the mean over its finished seeds of the per-epoch validation "
    f"{HISTORY_HEADLINE} (deployed stage, no flip test) at the last validated epoch minus at the last validated "
    "epoch at or before E − m; the row is still learning when the gain exceeds the matrix's pooled seed SD "
    "(with one seed per row: half the width of the row's 95 % bootstrap interval over validation people). A row "
    "with no validated epoch at or before E − m, or none after it, gets no verdict."
)


@dataclass(frozen=True)
class Curve:
    """One cell's per-epoch validation (no flip test): each figure by 1-based epoch, validated epochs only."""

    epochs: int  # the epochs its history holds
    headline: dict[int, float]  # the deployed stage's figure
    stages: dict[int, dict[int, float]]  # stage k → its figure by epoch
    #: (training, validation) wall seconds summed over its epochs (an epoch not validated adds none); None when no
    #: epoch timed its validation (histories written before ``val_seconds``).
    seconds: tuple[float, float] | None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _history_stages(rows: Sequence[dict]) -> list[int]:
    """The stages k whose ``val_stage<k>`` any row holds, ascending."""
    prefix, _, suffix = HISTORY_STAGE.partition("{k}")
    keys = {key for r in rows for key in r if key.startswith(prefix) and key.endswith(suffix)}
    middles = (key[len(prefix) : len(key) - len(suffix)] for key in keys)
    return sorted(int(m) for m in middles if m.isdigit())


def cell_curve(cell: Cell) -> Curve | None:
    """The learning curve of ``cell`` from its ``metrics.json`` history (rows' ``epoch`` is 0-based); None when
    it has no history."""
    history = ((cell.metrics or {}).get("train") or {}).get("history") or []
    rows = [r for r in history if isinstance(r, dict) and isinstance(r.get("epoch"), int)]
    if not rows:
        return None

    def figures(key: str) -> dict[int, float]:
        return {r["epoch"] + 1: float(r[key]) for r in rows if _finite(r.get(key))}

    validation = [r[HISTORY_VAL_SECONDS] for r in rows if _finite(r.get(HISTORY_VAL_SECONDS))]
    training = sum(r["train_seconds"] for r in rows if _finite(r.get("train_seconds")))
    seconds = (training, sum(validation)) if validation else None
    return Curve(
        epochs=max(r["epoch"] for r in rows) + 1,
        headline=figures(HISTORY_HEADLINE),
        stages={k: figures(HISTORY_STAGE.format(k=k)) for k in _history_stages(rows)},
        seconds=seconds,
    )


def variant_curves(variant: Variant) -> list[Curve]:
    """The learning curves of ``variant``'s finished cells (its seeds) that have a history."""
    return [curve for c in variant.done if (curve := cell_curve(c)) is not None]


def mean_curve(figures: Sequence[dict[int, float]]) -> dict[int, float]:
    """Epoch → the mean over the curves that validated that epoch, ascending."""
    epochs = sorted({e for f in figures for e in f})
    return {e: float(np.mean([f[e] for f in figures if e in f])) for e in epochs}


@dataclass(frozen=True)
class Learning:
    """Whether a variant was still learning when its training stopped (:func:`still_learning`), in points."""

    epochs: int  # E: the epochs its cells trained
    window: int  # m: the last epochs the gain spans, max(1, round(E × LEARNING_SHARE))
    gain: float | None  # mean over its seeds of the rise over the window; None: no validated epoch to compare
    seeds: int  # the seeds behind the gain
    threshold: float | None  # the noise the gain must exceed; None when not measured
    threshold_kind: str  # SEED_SD or PEOPLE_HALF_WIDTH
    still_learning: bool  # gain > threshold (False without a verdict)

    @property
    def judged(self) -> bool:
        """Whether the rule gave a verdict: a gain and a threshold."""
        return self.gain is not None and self.threshold is not None


def _window_gain(figures: dict[int, float], before: int) -> float | None:
    """The figure at the last validated epoch minus at the last validated epoch at or before ``before``; None
    when no epoch was validated at or before it, or none after it."""
    last = max(figures, default=None)
    start = max((e for e in figures if e <= before), default=None)
    if last is None or start is None or last <= before:
        return None
    return figures[last] - figures[start]


def still_learning(curves: Sequence[Curve], seed_sd: float | None, people_half_width: float | None) -> Learning:
    """The still-learning rule (:data:`LEARNING_RULE`), fixed before any result was seen.

    ``curves`` are a variant's seeds. E is the epochs they trained and m = max(1, round(E × LEARNING_SHARE))
    (Python's ``round``: halves go to the even number). A seed's gain is its deployed stage's figure at its last
    validated epoch minus at its last validated epoch at or before E − m (:func:`_window_gain`); the variant's
    gain is the mean over the seeds that have one. The threshold is the matrix's pooled seed SD ``seed_sd``;
    without one (one seed per variant) it is ``people_half_width``, half the width of the variant's 95 %
    interval over validation people. The variant is still learning when its gain exceeds the threshold.
    """
    epochs = max((c.epochs for c in curves), default=0)
    window = max(1, round(epochs * LEARNING_SHARE))
    gains = [g for c in curves if (g := _window_gain(c.headline, epochs - window)) is not None]
    gain = float(np.mean(gains)) if gains else None
    threshold, kind = (seed_sd, SEED_SD) if seed_sd is not None else (people_half_width, PEOPLE_HALF_WIDTH)
    rising = gain is not None and threshold is not None and gain > threshold
    return Learning(epochs, window, gain, len(gains), threshold, kind, rising)


def people_half_width(analysis: Analysis, variant: Variant) -> float | None:
    """Half the width of the 95 % bootstrap interval over validation people of ``variant``'s one finished
    cell's headline (``analysis.n_boot`` resamples, seed ``BOOTSTRAP_SEED``); None unless it has exactly one
    finished cell whose metric keeps per-person data."""
    if len(variant.done) != 1:
        return None
    cell = variant.done[0]
    kept = cell.per_person() if keeps_per_person(cell.row.get("metric")) else None
    if kept is None:
        return None
    low, high = pckh_bootstrap_ci(*kept, n=analysis.n_boot, seed=BOOTSTRAP_SEED)
    return (high - low) / 2.0


def variant_learning(analysis: Analysis, variant: Variant) -> Learning:
    """:func:`still_learning` of ``variant`` with the matrix's seed noise (the noise line's pooled SD), or
    with one seed per variant its people interval's half-width."""
    seed_sd = analysis.noise.sd
    people = people_half_width(analysis, variant) if seed_sd is None else None
    return still_learning(variant_curves(variant), seed_sd, people)


def validation_share(analysis: Analysis) -> tuple[float, int] | None:
    """(share of training wall time spent validating, cells that timed it): Σ val_seconds / Σ (train_seconds +
    val_seconds) over the epochs of the finished cells that timed their validation; None when none did."""
    timed = [c.seconds for v in analysis.variants for c in variant_curves(v) if c.seconds is not None]
    total = sum(train + val for train, val in timed)
    if not timed or total <= 0:
        return None
    return sum(val for _, val in timed) / total, len(timed)


def teachers(analysis: Analysis) -> list[dict[str, Any]]:
    """The distinct teachers of the finished distilled cells: model and knobs, where it came from (shipped
    file or trained into the cache) and its own validation figure."""
    out: dict[str, dict[str, Any]] = {}
    for c in analysis.matrix.done:
        t = ((c.metrics or {}).get("distill") or {}).get("teacher")
        if t:
            out.setdefault(
                t.get("identity_hash") or t["model"],
                {
                    k: t.get(k)
                    for k in (
                        "model",
                        "knobs",
                        "source",
                        "file",
                        "dir",
                        "headline",
                        "headline_name",
                        "flip_test",
                        "epochs",
                    )
                },
            )
    return list(out.values())


def teacher_knobs_text(teacher: dict[str, Any]) -> str:
    """``stacks 2, features 64``: a teacher's size as its record gives it (the joint count left out)."""
    return ", ".join(f"{k} {v}" for k, v in (teacher.get("knobs") or {}).items() if k != "num_joints")


def _mix_message(matrix: Matrix, mixed: dict[str, dict[str, list[Any]]]) -> str:
    def short(v: Any) -> str:
        s = format_value(v)
        return s[:10] + "…" if len(s) > 12 else s

    parts = [
        f"{group} ({'; '.join(f'{col}: ' + ', '.join(short(v) for v in vals) for col, vals in cols.items())})"
        for group, cols in mixed.items()
    ]
    return (
        f"{matrix.root} mixes {' and '.join(parts)}; one table would compare unlike runs: report them "
        "separately, or pass --allow-mixed to show these columns as extra axes"
    )


def parse_baseline_row(text: str | None) -> dict[str, Any]:
    """``stages=1,distill=none`` → ``{"stages": 1, "distill": "none"}`` (each value of its column's kind, as the
    results table is read: ``lspd_bench.ablate.store.parse_value``)."""
    out: dict[str, Any] = {}
    if not text:
        return out
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--baseline-row item {item.strip()!r} is not of the form key=value")
        if key in out:
            raise InputError(f"--baseline-row gives {key!r} twice")
        try:
            out[key] = store.parse_value(key, value)
        except ValueError:  # not of the key's kind: no variant has it, which the choice of the row then says
            out[key] = value.strip()
    return out


def _sort_key(variant: Variant, axes: list[str], axis_values: dict[str, list[Any]]) -> tuple:
    idx = []
    for a in axes:
        v = variant.axes.get(a)
        idx.append(axis_values[a].index(v) if v in axis_values[a] else len(axis_values[a]))
    return (variant.reference, *idx)


def _pick_baseline(
    variants: list[Variant],
    axes: list[str],
    axis_values: dict[str, list[Any]],
    requested: dict[str, Any],
    matrix: Matrix,
) -> tuple[Variant, list[str]]:
    notes = []
    for key, value in requested.items():
        if key not in axes:
            if key in VARIANT_AXES and matrix.values(key) == [value]:
                continue  # an axis held constant at the requested value: nothing to choose
            fixed = [a for a in VARIANT_AXES if a not in axes and matrix.values(a)]
            raise InputError(
                f"--baseline-row key {key!r} is not an axis that varies in {matrix.root}; "
                f"varying: {', '.join(axes) or 'none'}" + (f"; held constant: {', '.join(fixed)}" if fixed else "")
            )
        if value not in axis_values[key]:
            raise InputError(
                f"--baseline-row {key}={format_value(value)}: {key} takes the values "
                f"{', '.join(format_value(v) for v in axis_values[key])} in {matrix.root}"
            )
    wanted = {a: requested.get(a, axis_values[a][0] if axis_values[a] else None) for a in axes}
    for v in variants:
        if all(v.axes.get(a) == wanted[a] for a in axes):
            return v, notes
    label = ", ".join(f"{a}={format_value(wanted[a])}" for a in axes)
    if requested:
        raise InputError(f"--baseline-row: no cell of {matrix.root} has {label}")
    first = next((v for v in variants if not v.reference), variants[0])
    notes.append(
        f"no variant has the first value of every axis ({label}); the baseline row is the first "
        f"variant in table order ({first.label(axes)})"
    )
    return first, notes


def _by_seed(cells: list[Cell]) -> dict[Any, Cell]:
    out: dict[Any, Cell] = {}
    for c in cells:
        out.setdefault(c.row.get("seed"), c)
    return out


def paired_delta(variant: Variant, baseline: Variant, headline: str, metric: str, n_boot: int) -> Delta | None:
    """``variant − baseline`` headline difference with a paired-bootstrap 95% interval (points).

    Seeds are paired by value (seed s of the variant with seed s of the baseline); only seeds both rows
    finished count. For PCKh each person's counted joints are summed over the paired seeds, so each bootstrap
    resample draws people and keeps every seed of a drawn person: the statistic
    is the PCKh Mean difference pooled over the seeds, which equals the mean of the per-seed differences
    (every seed scores the same people). The interval covers the sampling of validation people, not the
    seed-to-seed training noise (that is the ± std of the rows).
    """
    a_cells, b_cells = _by_seed(variant.done), _by_seed(baseline.done)
    seeds = tuple(s for s in a_cells if s in b_cells)
    if not seeds:
        return None
    point = float(
        np.mean([_num(a_cells[s].row.get(headline)) for s in seeds])
        - np.mean([_num(b_cells[s].row.get(headline)) for s in seeds])
    )
    if not evaluator(metric).per_person:
        return Delta(point, None, None, None, seeds, f"no interval: {metric} keeps no per-person data")
    pairs = []
    for s in seeds:
        a, b = a_cells[s].per_person(), b_cells[s].per_person()
        if a is None or b is None:
            missing = a_cells[s] if a is None else b_cells[s]
            return Delta(point, None, None, None, seeds, f"no interval: cell {missing.id} has no {PER_PERSON_FILE}")
        if a[0].shape != b[0].shape or not np.array_equal(a[1], b[1]):
            return Delta(point, None, None, None, seeds, "no interval: the per-person files cover different people")
        pairs.append((a[0], b[0], b[1]))
    if any(p[0].shape != pairs[0][0].shape for p in pairs):
        return Delta(point, None, None, None, seeds, "no interval: seeds scored different numbers of people")
    counts = [(person_counts(a, v)[0], *person_counts(b, v)) for a, b, v in pairs]
    a_sum, b_sum, v_sum = (sum(c[i] for c in counts) for i in range(3))
    res = paired_counts_bootstrap(a_sum, b_sum, v_sum, n=n_boot, seed=BOOTSTRAP_SEED)
    return Delta(res["delta"], res["low"], res["high"], res["p_value"], seeds)


def analyze(
    matrix: Matrix,
    *,
    metric: str | None = None,
    baseline_row: dict[str, Any] | None = None,
    allow_mixed: bool = False,
    counter: str = FVCORE.id,
    n_boot: int = 1000,
) -> Analysis:
    """Group ``matrix``'s cells into variants and compute every figure the report shows.

    ``metric`` keeps the cells scored with it (default: the matrix's one metric). ``baseline_row`` maps
    axes to values (unnamed axes: their first value in the matrix). Mixed datasets, schedules or
    evaluation settings are refused unless ``allow_mixed``, which turns them into axes.
    """
    if counter not in schema.MAC_COLUMNS:
        raise InputError(f"unknown MAC counter {counter!r}; choose from: {', '.join(schema.MAC_COLUMNS)}")
    if n_boot < 1:
        raise InputError(f"--bootstrap must be a positive number of resamples, got {n_boot}")
    matrix = select_metric(matrix, metric)
    mixed = mixed_context(matrix)
    if mixed and not allow_mixed:
        raise InputError(_mix_message(matrix, mixed))
    metrics = matrix.values("metric")
    if len(metrics) > 1:
        raise InputError(f"{matrix.root}: cells are scored with {' and '.join(metrics)}; pick one with --metric")
    try:
        ev = evaluator(metrics[0] if metrics else Metric.PCKH)
    except InputError as e:
        raise InputError(f"{matrix.root / store.RESULTS_CSV}: {e}") from None
    metric = ev.metric
    if not matrix.done:
        counts = ", ".join(f"{n} {s}" for s, n in matrix.status_counts().items())
        raise InputError(
            f"{matrix.root}: none of its {len(matrix.cells)} cells has finished yet ({counts}); nothing to report"
        )
    headline, acc_cols = ev.headline_key, ev.columns
    mixed_cols = [c for group in schema.MIX_GROUPS.values() for c in group if any(c in m for m in mixed.values())]
    axes = [a for a in VARIANT_AXES if len(matrix.values(a)) > 1] + [c for c in mixed_cols if c != "metric"]
    if not axes:
        axes = ["model"]
    axis_values = {a: matrix.values(a) for a in axes}
    stage_cols = tuple(
        col for k in range(1, len(matrix.columns) + 1) if (col := schema.STAGE_HEADLINE.format(k=k)) in matrix.columns
    )

    groups: dict[tuple, list[Cell]] = {}
    for c in matrix.cells:
        groups.setdefault(tuple(c.row.get(a) for a in axes), []).append(c)
    variants = []
    for cells in groups.values():
        model = cells[0].row.get("model")
        v = Variant(axes={a: cells[0].row.get(a) for a in axes}, cells=cells, family=model_family(model))
        columns = (*acc_cols, *stage_cols, *schema.COST_COLUMNS, *schema.TRAIN_COLUMNS)
        v.stats = {col: Stat.of([c.row.get(col) for c in v.done]) for col in columns}
        v.stats[STAGE_GAP] = Stat.of([_stage_gap(c.row, headline, stage_cols) for c in v.done])
        variants.append(v)
    variants.sort(key=lambda v: _sort_key(v, axes, axis_values))

    baseline, notes = _pick_baseline(variants, axes, axis_values, baseline_row or {}, matrix)
    baseline.is_baseline = True
    if not baseline.done:
        notes.append(f"the baseline row ({baseline.label(axes)}) has no finished cell yet: no deltas")
    for v in variants:
        if v is not baseline and v.done and baseline.done:
            v.delta = paired_delta(v, baseline, headline, metric, n_boot)
    incomplete = [c for c in matrix.done if c.problems]
    for c in incomplete:
        notes.append(f"cell {c.id} is done but its folder has {', '.join(c.problems)}")
    return Analysis(
        matrix=matrix,
        evaluator=ev,
        stage_columns=stage_cols,
        axes=axes,
        axis_values=axis_values,
        variants=variants,
        baseline=baseline,
        counter=counter,
        gmacs_column=schema.MAC_COLUMNS[counter],
        mixed=mixed,
        n_boot=n_boot,
        notes=notes,
    )


def _stage_gap(row: dict[str, Any], headline: str, stage_cols: Sequence[str]) -> float | None:
    """A cell's last stage minus its deployed one (points), when it has more than one stage."""
    stages = [row[c] for c in stage_cols if row.get(c) is not None]  # rows are typed: a missing value is None
    if len(stages) < 2 or row.get(headline) is None:
        return None
    return float(stages[-1]) - float(row[headline])


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def accuracy_tie(sd: float | None, seeds: int) -> float:
    """The accuracy difference (points) within which two variants of ``seeds`` seeds each are tied: two standard
    errors of the difference of their means, 2·sd·√(2/seeds); 0 when the seed noise is not measured."""
    return 2.0 * sd * math.sqrt(2.0 / max(seeds, 1)) if sd else 0.0


def dominates(
    q: tuple[float, float],
    p: tuple[float, float],
    acc_tie: float = 0.0,
    q_cost: tuple[float, float] | None = None,
    p_cost: tuple[float, float] | None = None,
) -> bool:
    """Whether the point ``q`` dominates ``p``: the one Pareto rule of the report's fronts and the gate's.

    A point is ``(cost, accuracy)``; lower cost and higher accuracy are better. Differences within the noise
    are ties: accuracies within ``acc_tie`` points, costs whose intervals ``q_cost``/``p_cost`` (low, high)
    overlap (the exact costs when None). ``q`` dominates ``p`` when it is no worse in either and better, beyond
    the noise, in one. With no noise this is the usual definition.
    """
    lo_q, hi_q = q_cost if q_cost is not None else (q[0], q[0])
    lo_p, hi_p = p_cost if p_cost is not None else (p[0], p[0])
    cheaper, costlier = hi_q < lo_p, lo_q > hi_p
    better, worse = q[1] - p[1] > acc_tie, p[1] - q[1] > acc_tie
    return not costlier and not worse and (cheaper or better)


def pareto_front(
    points: Sequence[tuple[float, float]],
    acc_tie: float = 0.0,
    cost_intervals: Sequence[tuple[float, float]] | None = None,
) -> list[int]:
    """Indices of the points no other point dominates (:func:`dominates`), by ascending cost.

    A point is ``(cost, accuracy)``; accuracies within ``acc_tie`` points tie, and so do costs whose
    ``cost_intervals`` (low, high) overlap (exact costs when None). So a variant that is better only within
    the noise than a cheaper one is not a front member, and points tied in both are all on the front.
    """
    spans = list(cost_intervals) if cost_intervals is not None else [(c, c) for c, _ in points]
    front = [
        i
        for i in range(len(points))
        if not any(dominates(points[j], points[i], acc_tie, spans[j], spans[i]) for j in range(len(points)) if j != i)
    ]
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def front_tie(analysis: Analysis) -> float:
    """The accuracy difference (points) within which the Pareto fronts tie two LSPD variants: :func:`accuracy_tie`
    of :func:`accuracy_noise`, for the fewest seeds a variant finished."""
    seeds = min((len(v.done) for v in analysis.variants if not v.reference and v.done), default=1)
    return accuracy_tie(accuracy_noise(analysis), seeds)


def shared_cost(analysis: Analysis, kind: str) -> float | None:
    """The ``kind`` cost that every LSPD variant shares, when there are two or more and they deploy the same
    network (an ablation of the training stages only: same deploy model), else None."""
    col = analysis.cost_column(kind)
    costs = [v.value(col).mean for v in analysis.variants if not v.reference and v.value(col)]
    return costs[0] if len(costs) > 1 and len(set(costs)) == 1 else None


def front_variants(analysis: Analysis, kind: str) -> list[Variant]:
    """The LSPD variants on the accuracy-vs-``kind`` Pareto front (means over seeds; references excluded), with
    differences within the noise as ties (:func:`pareto_front`): :func:`accuracy_noise` for accuracy (the
    regression gate's rule), the ratio's interval for latency. None when they all share one cost
    (:func:`shared_cost`): a front needs a trade-off."""
    if shared_cost(analysis, kind) is not None:
        return []
    col = analysis.cost_column(kind)
    cands = [v for v in analysis.variants if not v.reference and v.value(col) and v.value(analysis.headline)]
    points = [(v.value(col).mean, v.value(analysis.headline).mean) for v in cands]
    spans = None
    if kind == "latency":  # the ratio's relative interval, applied to the milliseconds
        spans = []
        for v, (ms, _) in zip(cands, points):
            r, lo, hi = (v.value(c) for c in ("latency_ratio", "latency_ratio_low", "latency_ratio_high"))
            spans.append((ms * lo.mean / r.mean, ms * hi.mean / r.mean) if r and lo and hi else (ms, ms))
    return [cands[i] for i in pareto_front(points, front_tie(analysis), spans)]


def held_at_baseline(analysis: Analysis, axis: str) -> list[Variant]:
    """The variants that differ from the baseline row in ``axis`` only, in the axis's order.

    A variant with no value for another axis (a reference model has no ``stages``) still matches there.
    """
    base = analysis.baseline.axes
    rows = [
        v
        for v in analysis.variants
        if all(v.axes.get(a) is None or v.axes.get(a) == base.get(a) for a in analysis.axes if a != axis)
    ]
    order = analysis.axis_values[axis]
    return sorted(rows, key=lambda v: order.index(v.axes[axis]) if v.axes.get(axis) in order else len(order))
