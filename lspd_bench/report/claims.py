"""Verdicts of claims (``lspd_bench.ablate.claims``): supported, contradicted or undecided, with the Δ and
a 95 % interval that covers both the sampling of validation people and the training noise across seeds.

The interval. Every cell scores the same P people, so a variant's figure is the mean over people of a
per-person value z (for PCKh, the linearisation of the visible-weighted Mean: z = H + 100·(c − H·v/100)/v̄
with c and v a person's correct and visible joint counts, so that mean(z) = H exactly). A claim's Δ is a
fixed linear combination Σ w·Ȳ of variants' means over seeds and people (+1/C for LEFT, −1/C for RIGHT,
over its C contexts). With the two-way random-effects model z[s, p] = μ + a[s] + b[p] + e[s, p] per variant,
Var(Δ) = Σ w²·σa²/S + Var(Σ w·b)/P + Σ w²·σe²/(S·P), estimated by

- the seed term of each variant: the variance of its per-seed figures over S (it holds σa² and σe²/P);
- the people term: the variance over people of u[p] = Σ w·(seed-averaged z), over P, less the σe² part
  the seed terms already hold (the residual mean square of each variant, Σ w²·MSE/(S·P)), floored at 0;

and the interval is Δ ± t(df)·√Var with Satterthwaite's df. A bootstrap over two or three seeds cannot
reach its nominal coverage (three seeds give ten distinct resamples); this interval's coverage is checked
by simulation in the tests. Stage claims pair each cell's two stages (one variant of per-seed
differences). Without per-person data (COCO AP) the interval covers seeds only; with one seed it covers
people only, and no verdict is given: one seed is not evidence of an effect.

The verdict, fixed before any result is seen: with threshold t (0 for ``>``, N for ``> … by N``, −N for
``>= … within N``, default N = 1), *supported* when the interval's low end is above t, *contradicted* when
its high end is below t, else *undecided*; each needs ≥ 2 seeds per variant. A cost condition (``at fewer
gmacs``, ``at no more params``) that fails in any context contradicts the claim. ``at every AXIS`` holds when it holds at every
value, is contradicted when it is contradicted at one, else undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lspd_bench.ablate import schema
from lspd_bench.ablate.claims import COSTS, STAGE, Claim, Context, contexts, label_text, norm, parse_claim, validate
from lspd_bench.errors import InputError
from lspd_bench.evaluation.bootstrap import person_counts
from lspd_bench.evaluation.evaluators import keeps_per_person
from lspd_bench.report.load import Cell, Matrix

LEVEL = 0.95
MIN_SEEDS = 2
VERDICTS = ("supported", "contradicted", "undecided")
#: The rule, printed under every Claims table.
RULE = (
    f"Δ = LEFT − RIGHT in points of the deployed stage's headline (or the named stage's), averaged over the "
    f"contexts compared; {LEVEL:.0%} interval over seeds and validation people (two-way random effects, "
    f"Satterthwaite t). Supported: the whole interval above the threshold (0 for '>', N for 'by N', −N for "
    f"'>= within N', default 1); contradicted: the whole interval below it; else undecided. A verdict needs "
    f"≥ {MIN_SEEDS} seeds per variant."
)
SEED_COLUMN = schema.SEED


@dataclass
class Group:
    """One variant's repetitions: per-seed figures and, when known, S×P per-person values (row means = figures)."""

    figures: np.ndarray
    people: np.ndarray | None


@dataclass
class Interval:
    delta: float
    low: float | None
    high: float | None
    df: float | None
    seeds: int  # the fewest repetitions behind any variant of the comparison
    covers: str  # which noise the interval covers


#: A verdict that nothing was compared: no figure, no interval.
_UNDECIDED = {"verdict": "undecided", "delta": None, "low": None, "high": None, "seeds": 0, "covers": "nothing"}


def _residual_ms(people: np.ndarray) -> float:
    s, p = people.shape
    resid = people - people.mean(1, keepdims=True) - people.mean(0, keepdims=True) + people.mean()
    return float((resid**2).sum() / ((s - 1) * (p - 1)))


def contrast_interval(terms: Sequence[tuple[float, Group]], level: float = LEVEL, paired: bool = False) -> Interval:
    """Σ w·(mean of group) with its interval over seeds and people (see the module's docstring).

    ``paired``: the groups hold the same seeds in the same order (every variant trained with each), and the
    seed term is the variance of the per-seed contrasts Σ w·figure[s] over S: a seed's lasting effect,
    shared by the variants, cancels instead of counting once per variant. The t quantile then takes the
    seed term's S − 1 degrees of freedom, not Satterthwaite's: at 2 or 3 seeds an underestimated seed term
    would borrow the people term's hundreds (``benchmarks/bench_sequential.py`` measures what that does)."""
    from scipy import stats

    delta = float(sum(w * g.figures.mean() for w, g in terms))
    seeds = min(len(g.figures) for _, g in terms)
    parts: list[tuple[float, float]] = []  # (variance term, its degrees of freedom)
    if paired:
        if len({len(g.figures) for _, g in terms}) != 1:
            raise ValueError("a paired contrast needs the same seeds in every group")
        per_seed = sum(w * g.figures for w, g in terms)
        if seeds >= MIN_SEEDS:
            parts.append((float(np.var(per_seed, ddof=1)) / seeds, seeds - 1))
    else:
        for w, g in terms:
            if len(g.figures) >= MIN_SEEDS:
                parts.append((w * w * float(np.var(g.figures, ddof=1)) / len(g.figures), len(g.figures) - 1))
    people = [g.people for _, g in terms]
    with_people = all(p is not None for p in people) and len({p.shape[1] for p in people}) == 1  # type: ignore[union-attr]
    people_var = None
    if with_people:
        n = people[0].shape[1]  # type: ignore[index]
        u = sum(w * g.people.mean(0) for w, g in terms)  # type: ignore[union-attr]
        people_var = float(np.var(u, ddof=1)) / n
        if seeds >= MIN_SEEDS:
            people_var = max(
                0.0, people_var - sum(w * w * _residual_ms(g.people) / (len(g.figures) * n) for w, g in terms)
            )  # type: ignore[arg-type]
    if seeds >= MIN_SEEDS:
        seeds_text = "seeds (paired)" if paired else "seeds"
        covers = f"{seeds_text} and people" if with_people else f"{seeds_text} only (no per-person data)"
        if people_var is not None:
            parts.append((people_var, people[0].shape[1] - 1))  # type: ignore[index]
    elif people_var is not None:
        covers, parts = "people only (one seed: not the training noise)", [(people_var, people[0].shape[1] - 1)]  # type: ignore[index]
    else:
        return Interval(delta, None, None, None, seeds, "nothing (one seed and no per-person data)")
    var = sum(v for v, _ in parts)
    if var <= 0:
        return Interval(delta, delta, delta, None, seeds, covers)
    df = seeds - 1 if paired and seeds >= MIN_SEEDS else var**2 / sum(v * v / d for v, d in parts if v > 0)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * var**0.5
    return Interval(delta, delta - half, delta + half, float(df), seeds, covers)


def verdict_of(interval: Interval, threshold: float) -> tuple[str, str]:
    """(verdict, reason) of an accuracy comparison against ``threshold`` (points)."""
    if interval.low is None or interval.high is None:
        return "undecided", f"no interval: it covers {interval.covers}"
    if interval.seeds < MIN_SEEDS:
        return "undecided", (
            f"{interval.seeds} seed: the interval covers the sampling of people, not training "
            f"noise; a verdict needs ≥ {MIN_SEEDS} seeds per variant"
        )
    if interval.low > threshold:
        return "supported", f"the whole interval is above {threshold:+g}"
    if interval.high < threshold:
        return "contradicted", f"the whole interval is below {threshold:+g}"
    return "undecided", f"the interval contains {threshold:+g}: within the noise"


# --- from a matrix's cells to groups ------------------------------------------------------------------


def _people(correct: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Per-person linearised PCKh Mean (points): mean over people equals the visible-weighted Mean."""
    c, v = person_counts(correct, visible)
    head = 100.0 * c.sum() / v.sum()
    return head + 100.0 * (c - head / 100.0 * v) / v.mean()


def _figure(cell: Cell, stage: int | None) -> float | None:
    column = schema.HEADLINE if stage is None else schema.STAGE_HEADLINE.format(k=stage)
    value = cell.row.get(column)
    return None if value is None else float(value)


def _cell_people(cell: Cell, stage: int | None) -> np.ndarray | None:
    if not keeps_per_person(cell.row.get("metric")):
        return None
    pp = cell.per_person(stage)
    return None if pp is None else _people(*pp)


def _group(cells: list[Cell], stage: int | None = None, minus: int | None = None) -> Group | None:
    """The group of ``cells`` (one repetition each); with ``minus``, per-cell differences stage − minus."""
    figures, people = [], []
    for c in cells:
        a = _figure(c, stage)
        b = _figure(c, minus) if minus is not None else 0.0
        if a is None or b is None:
            return None
        figures.append(a - b)
        pa = _cell_people(c, stage)
        pb = _cell_people(c, minus) if minus is not None else 0.0
        people.append(None if pa is None or pb is None else pa - pb)
    shapes = {None if p is None else np.shape(p) for p in people}
    stacked = np.stack(people) if None not in shapes and len(shapes) == 1 else None
    if stacked is not None:  # the linearisation reproduces each figure; a mismatch means other people
        if not np.allclose(stacked.mean(1), figures, atol=0.02):
            stacked = None
    return Group(np.asarray(figures, dtype=np.float64), stacked)


def cell_values(cell: Cell) -> dict[str, Any]:
    """What a claim selects a cell by: the keys its matrix group set, else its results row's axes."""
    values = (
        dict(cell.axes)
        if cell.axes is not None
        else {a: cell.row.get(a) for a in schema.CONFIG if cell.row.get(a) is not None}
    )
    if cell.row.get(SEED_COLUMN) is not None:
        values[SEED_COLUMN] = cell.row[SEED_COLUMN]
    return values


def _stages(cell: Cell) -> int:
    """How many stages the cell's network has: its results row's stage columns that hold a figure."""
    prefix, suffix = schema.STAGE_HEADLINE.split("{k}")
    return sum(1 for k, v in cell.row.items() if v is not None and k.startswith(prefix) and k.endswith(suffix)) or 1


def _cost(cells: list[Cell], column: str) -> float | None:
    values = [c.row.get(column) for c in cells]
    return None if any(v is None for v in values) else float(np.mean(values))


def _judge(
    claim: Claim, ctxs: list[Context], cells: list[Cell], cache: dict[tuple[int, ...], Group | None]
) -> dict[str, Any]:
    """Verdict of ``claim`` over the contexts ``ctxs`` (pooled with equal weights). ``cache`` keeps the
    groups already read, so that the parts of ``at every`` read no per-person file twice."""
    weights: dict[tuple[int, ...], float] = {}
    groups: dict[tuple[int, ...], Group | None] = {}
    for ctx in ctxs:
        if claim.stage_claim:
            key = tuple(ctx.left)
            if key not in cache:
                cache[key] = _group([cells[i] for i in key], claim.left[STAGE], claim.right[STAGE])
            groups[key] = cache[key]
            weights[key] = weights.get(key, 0.0) + 1.0 / len(ctxs)
            continue
        for side, sign in ((ctx.left, 1.0), (ctx.right, -1.0)):
            key = (int(sign),) + tuple(sorted(side))
            if key not in cache:
                cache[key] = _group([cells[i] for i in side])
            groups[key] = cache[key]
            weights[key] = weights.get(key, 0.0) + sign / len(ctxs)
    out: dict[str, Any] = {"contexts": len(ctxs)}
    if any(g is None for g in groups.values()):
        return {**out, **_UNDECIDED, "reason": "a compared cell has no figure for this stage"}
    terms = [(w, groups[k]) for k, w in weights.items() if w != 0.0]
    iv = contrast_interval(terms)  # type: ignore[arg-type]
    verdict, reason = verdict_of(iv, claim.threshold)
    if claim.cost:
        column = COSTS[claim.cost]
        for ctx in ctxs:
            lc, rc = _cost([cells[i] for i in ctx.left], column), _cost([cells[i] for i in ctx.right], column)
            where = label_text(ctx.label) or "all cells"
            if lc is None or rc is None:
                if verdict == "supported":
                    verdict, reason = "undecided", f"no {column} at {where}"
            elif lc > rc or (claim.strict and lc == rc):
                verdict, reason = (
                    "contradicted",
                    (
                        f"LEFT's {column} {lc:g} is not {'below' if claim.strict else 'at most'} "
                        f"RIGHT's {rc:g} at {where}"
                    ),
                )
                break
    return {
        **out,
        "verdict": verdict,
        "delta": iv.delta,
        "low": iv.low,
        "high": iv.high,
        "df": iv.df,
        "seeds": iv.seeds,
        "covers": iv.covers,
        "reason": reason,
    }


def judge(claim: Claim, matrix: Matrix) -> dict[str, Any]:
    """The verdict of ``claim`` on the finished cells of ``matrix`` (a JSON-ready dict)."""
    cells = matrix.done
    values = [cell_values(c) for c in cells]
    stages = [_stages(c) for c in cells]
    base = {**claim.to_dict(), "threshold": claim.threshold, "level": LEVEL}
    try:
        validate(claim, values, stages, str(matrix.root))
    except InputError as exc:
        return {**base, **_UNDECIDED, "reason": f"not comparable on the finished cells: {exc}", "parts": []}
    ctxs = contexts(claim, values, stages)
    cache: dict[tuple[int, ...], Group | None] = {}
    result = {**base, **_judge(claim, ctxs, cells, cache), "parts": []}
    if claim.every:
        parts: dict[str, list[Context]] = {}
        labels: dict[str, dict[str, Any]] = {}
        for ctx in ctxs:
            at = {a: ctx.label.get(a, norm(values[ctx.left[0]].get(a))) for a in claim.every}
            parts.setdefault(repr(at), []).append(ctx)
            labels[repr(at)] = at
        result["parts"] = [{"at": labels[k], **_judge(claim, p, cells, cache)} for k, p in parts.items()]
        found = [p["verdict"] for p in result["parts"]]
        result["verdict"] = (
            "contradicted"
            if "contradicted" in found
            else "supported"
            if found and all(v == "supported" for v in found)
            else "undecided"
        )
        result["reason"] = (
            ", ".join(f"{n} {v}" for v in VERDICTS if (n := found.count(v)))
            + f" of {len(found)} values of {', '.join(claim.every)}"
        )
    return result


def claims_of(matrix: Matrix, extra: Sequence[str] = ()) -> list[Claim]:
    """The matrix's own claims (matrix.json) and ``extra`` ones (``--claim``), the latter validated here
    against every cell, finished or not: a claim naming an unknown axis or value is an ``InputError``."""
    own = [parse_claim(c["claim"], c.get("name", "")) for c in matrix.claims]
    added = [parse_claim(text) for text in extra]
    cells = matrix.cells
    stages = [_stages(c) if c.done else None for c in cells]
    for claim in added:
        validate(claim, [cell_values(c) for c in cells], stages, str(matrix.root))
    return own + added


def judge_all(matrix: Matrix, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    return [judge(c, matrix) for c in claims_of(matrix, extra)]


def interval_text(result: dict[str, Any]) -> str:
    """``+1.23 [+0.40, +2.06]`` (points), or the Δ alone when there is no interval."""
    if result.get("delta") is None:
        return "—"
    text = f"{result['delta']:+.2f}"
    if result.get("low") is not None:
        text += f" [{result['low']:+.2f}, {result['high']:+.2f}]"
    return text


def markdown(results: Sequence[dict[str, Any]]) -> list[str]:
    """The Claims section of ``report.md``."""
    lines = [
        "### Claims",
        "",
        "| claim | verdict | Δ [95 % interval] | seeds | interval covers | why |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for r in results:
        name = f"**{r['name']}**: " if r.get("name") else ""
        rows = [(f"{name}`{r['claim']}`", r)] + [("↳ at " + label_text(p["at"]), p) for p in r.get("parts", [])]
        for text, x in rows:
            lines.append(
                f"| {text} | **{x['verdict']}** | {interval_text(x)} | {x['seeds']} | {x['covers']} | {x['reason']} |"
            )
    return lines + ["", f"_{RULE}_", ""]
