"""How well a short preset ranks a matrix's variants as a longer training does: its measured fidelity.

A preset is a training budget. On the embedded benchmark its students stop while still learning, so what
an ablation on it can promise is a ranking, and the question a reader needs answered is whether that ranking
holds when training runs longer. ``benchmarks/bench_fidelity.py`` trains the same matrix (``ablations/
stages.yaml``) on each preset and on a longer reference (``nox -s reference``), and measures the agreement
of the variants' mean headlines (averaged over seeds) by Spearman's ρ and Kendall's τ (τ-b, ties counted),
each with a 95 % percentile bootstrap interval whose resamples draw every variant's seeds with replacement,
in the preset's runs and the reference's alike: the interval covers seed noise, not the people of the
validation split or other kernels. The result is shipped in ``lspd_bench/presets/fidelity.json``, and every
report of a matrix on an embedded preset states it in one line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from lspd_bench.config import PRESET_DIR, column_text, load_config, preset_file, read_yaml
from lspd_bench.report.claims import LEVEL

#: The shipped measurement (written by ``benchmarks/bench_fidelity.py``).
FIDELITY_FILE = PRESET_DIR / "fidelity.json"
#: What an interval of this module covers, said wherever one is printed.
COVERS = (
    f"{LEVEL:.0%} bootstrap interval over seeds, each variant's seeds resampled in the preset's runs and the "
    "reference's (approximate with 2 or 3 seeds a variant)"
)


def preset_digest(preset: str) -> str:
    """The preset file's content hash: a measured fidelity belongs to the preset as it was measured."""
    return hashlib.sha256(preset_file(preset).read_bytes()).hexdigest()[:16]


def _same(table_value: Any, preset_value: Any) -> bool:
    if isinstance(table_value, (int, float)) and isinstance(preset_value, (int, float)):
        return float(table_value) == float(preset_value)
    return str(table_value) == str(preset_value)


def preset_differences(preset: str, values: Callable[[str], Iterable[Any]]) -> list[str]:
    """The keys the ``preset`` file sets that a results table holds at another value (``values(column)``: the
    table's distinct values of a column, none when it has no such column)."""
    settings = load_config(preset).to_dict()
    keys = read_yaml(preset_file(preset), "preset")
    return [k for k in keys if any(not _same(v, column_text(k, settings[k])) for v in values(k))]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


@dataclass(frozen=True)
class Agreement:
    """One rank correlation between a preset's variant means and the reference's, with its interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Fidelity:
    """A preset's ranking of a matrix's variants against a longer reference's."""

    variants: list[str]
    preset_means: list[float]
    reference_means: list[float]
    spearman: Agreement
    kendall: Agreement
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _means(runs: Mapping[str, Sequence[float]], variants: Sequence[str]) -> np.ndarray:
    return np.array([float(np.mean(runs[v])) for v in variants])


def _resampled_means(runs: Mapping[str, Sequence[float]], variants: Sequence[str], rng: np.random.Generator):
    """Each variant's mean over its seeds drawn with replacement."""
    out = []
    for v in variants:
        values = np.asarray(runs[v], dtype=float)
        out.append(float(values[rng.integers(0, len(values), len(values))].mean()))
    return np.array(out)


def _agreement(point: float, draws: list[float]) -> Agreement:
    finite = np.array([d for d in draws if np.isfinite(d)])  # a resample whose means all tie has no ρ
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail]) if len(finite) else (np.nan, np.nan)
    return Agreement(round(point, 4), round(float(low), 4), round(float(high), 4))


def rank_fidelity(
    preset: Mapping[str, Sequence[float]],
    reference: Mapping[str, Sequence[float]],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Fidelity:
    """The agreement of ``preset``'s and ``reference``'s rankings of their common variants (each a variant's
    headline per seed), Spearman's ρ and Kendall's τ with their seed intervals (see the module's docstring)."""
    variants = sorted(set(preset) & set(reference))
    if len(variants) < 3:
        raise ValueError(f"a ranking needs at least 3 common variants, got {len(variants)}")
    short, long = _means(preset, variants), _means(reference, variants)
    rng = np.random.default_rng(seed)
    rhos, taus = [], []
    for _ in range(resamples):
        a, b = _resampled_means(preset, variants, rng), _resampled_means(reference, variants, rng)
        rhos.append(_spearman(a, b))
        taus.append(_kendall(a, b))
    return Fidelity(
        variants=variants,
        preset_means=[round(float(x), 3) for x in short],
        reference_means=[round(float(x), 3) for x in long],
        spearman=_agreement(_spearman(short, long), rhos),
        kendall=_agreement(_kendall(short, long), taus),
        resamples=resamples,
    )


def shipped_fidelity(preset: str) -> dict[str, Any] | None:
    """The shipped measurement of ``preset``'s fidelity (None when it has none)."""
    try:
        return json.loads(FIDELITY_FILE.read_text(encoding="utf-8"))["presets"].get(preset)
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def fidelity_line(preset: str, differs: Sequence[str] = ()) -> str | None:
    """One line: how the ``preset``'s ranking agreed with the longer reference's, as measured; None for a preset
    that has no measurement. ``differs``: the keys this matrix sets unlike the preset (then the figure is the
    preset's, not this matrix's)."""
    record = shipped_fidelity(preset)
    if record is None:
        return None
    rho, tau = record["spearman"], record["kendall"]
    seeds = f" ({record['preset_seeds']} seeds a variant)" if record.get("preset_seeds") else ""
    line = (
        f"Fidelity: the {preset} preset{seeds} ranked the {record['matrix']} matrix's {len(record['variants'])} "
        f"variants as the {record['reference']} did at Spearman ρ = {rho['value']:.2f} [{rho['low']:.2f}, "
        f"{rho['high']:.2f}] (Kendall τ = {tau['value']:.2f} [{tau['low']:.2f}, {tau['high']:.2f}]; {COVERS}; "
        "benchmarks/bench_fidelity.py)."
    )
    if record.get("preset_digest") != preset_digest(preset):
        line += f" The {preset} preset has changed since: the figure is an earlier version's."
    if differs:
        line += f" This matrix sets {', '.join(differs)} unlike the preset, so the figure describes the preset only."
    return line
