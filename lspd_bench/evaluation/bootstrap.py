"""Seeded bootstrap over people: confidence intervals of a mean, of the PCKh Mean, and of a paired
difference between two runs on the same people.

Every interval is ``scipy.stats.bootstrap``'s percentile interval of a ratio of sums over the resampled people
(numerator and denominator resampled together, ``paired=True``). The same seed gives the same numbers.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from lspd_bench.data.keypoints import MPII_EXCLUDED_FROM_MEAN
from lspd_bench.errors import InputError

#: Resamples drawn per batch: bounds memory at CHUNK × people indices.
_CHUNK = 128
_NO_VISIBLE = "no visible joints to bootstrap over"


def _check_run(n: int, level: float) -> None:
    if n < 1:
        raise InputError(f"the number of bootstrap resamples must be >= 1, got {n}")
    if not 0.0 < level < 1.0:
        raise InputError(f"confidence level must lie in (0, 1), got {level}")


def _ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample with zero weight: NaN
        return num.sum(axis=axis) / den.sum(axis=axis)


def _ratio_bootstrap(num: np.ndarray, den: np.ndarray, n: int, seed: int, level: float):
    """``scipy.stats.bootstrap`` of ``sum(num) / sum(den)`` over ``n`` resamples of the people, seeded."""
    return stats.bootstrap(
        (num, den),
        _ratio,
        paired=True,
        vectorized=True,
        n_resamples=n,
        batch=_CHUNK,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )


def _interval(result) -> tuple[float, float]:
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_ci(
    per_person_values, weights=None, n: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the (weighted) mean of a per-person statistic.

    Args:
        per_person_values: ``N`` values, one per person (e.g. a per-person accuracy).
        weights: ``N`` non-negative weights; the statistic is ``Σ w·v / Σ w`` (plain mean when None).
        n: number of resamples of the N people, drawn with replacement.
        seed: seed of the generator; the same seed gives the same interval.
        level: coverage of the interval (0.95 → the 2.5th and 97.5th percentiles).

    Returns:
        ``(low, high)`` in the units of the values.
    """
    _check_run(n, level)
    values = np.asarray(per_person_values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise InputError(f"per-person values must be a non-empty 1-D array, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise InputError("per-person values contain NaN or inf")
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != values.shape:
        raise InputError(f"weights must match the values' shape {values.shape}, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError("weights must be finite, non-negative and not all zero")
    return _interval(_ratio_bootstrap(w * values, w, n, seed, level))


def person_counts(
    correct, visible, exclude: tuple[int, ...] = MPII_EXCLUDED_FROM_MEAN
) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the correct and the visible joints that the PCKh Mean counts (all but ``exclude``: pelvis
    and thorax by default): the Mean is ``100 × Σ correct / Σ visible`` over the people."""
    correct = np.asarray(correct, dtype=bool)
    visible = np.asarray(visible, dtype=bool)
    if correct.ndim != 2 or correct.shape != visible.shape or correct.shape[0] == 0:
        raise InputError(
            f"correct and visible must be the same non-empty N×J shape, got {correct.shape} and {visible.shape}"
        )
    keep = np.setdiff1d(np.arange(correct.shape[1]), exclude)
    c = (correct & visible)[:, keep].sum(axis=1).astype(np.float64)
    v = visible[:, keep].sum(axis=1).astype(np.float64)
    if v.sum() == 0:
        raise InputError(_NO_VISIBLE)
    return c, v


def pckh_bootstrap_ci(
    correct,
    visible,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    exclude: tuple[int, ...] = MPII_EXCLUDED_FROM_MEAN,
) -> tuple[float, float]:
    """Bootstrap interval of the count-weighted PCKh Mean, in %.

    Resamples people with replacement and recomputes ``100 × Σ correct / Σ visible`` over the joints not
    in ``exclude`` (pelvis and thorax by default), so each resample is weighted exactly as the Mean is.

    Args:
        correct: ``N×J`` bool, joint correct at the threshold (``PCKhResult.correct``).
        visible: ``N×J`` bool, joint not missing (``PCKhResult.visible``).
    """
    _check_run(n, level)
    c, v = person_counts(correct, visible, exclude)
    return _interval(_ratio_bootstrap(100.0 * c, v, n, seed, level))


def paired_bootstrap(
    a_correct,
    b_correct,
    visible,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    exclude: tuple[int, ...] = MPII_EXCLUDED_FROM_MEAN,
) -> dict[str, float]:
    """Paired bootstrap of the PCKh Mean difference ``a − b`` of two runs on the same people, in points.

    Both runs are resampled with the same people in each resample, so the spread reflects only how the
    runs differ, not how hard the people are.

    Returns:
        ``{"delta", "low", "high", "p_value", "n", "seed", "level"}``: the observed difference, its
        percentile interval, and a two-sided bootstrap p-value ``min(1, 2·(k + 1) / (n + 1))`` with ``k``
        the number of resampled differences on the far side of 0 (``d ≤ 0`` or ``d ≥ 0``, the smaller);
        1.0 for identical runs, never below ``2 / (n + 1)``.
    """
    a_correct = np.asarray(a_correct, dtype=bool)
    b_correct = np.asarray(b_correct, dtype=bool)
    if a_correct.shape != b_correct.shape:
        raise InputError(f"the two runs must cover the same people and joints: {a_correct.shape} vs {b_correct.shape}")
    ca, v = person_counts(a_correct, visible, exclude)
    cb, _ = person_counts(b_correct, visible, exclude)
    return paired_counts_bootstrap(ca, cb, v, n=n, seed=seed, level=level)


def paired_counts_bootstrap(
    a_counts, b_counts, visible_counts, n: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """:func:`paired_bootstrap` from per-person counts (:func:`person_counts`; summed over seeds, the
    statistic is the Mean difference pooled over them)."""
    _check_run(n, level)
    ca, cb, v = (np.asarray(x, dtype=np.float64) for x in (a_counts, b_counts, visible_counts))
    if not ca.shape == cb.shape == v.shape or ca.ndim != 1:
        raise InputError(
            f"per-person counts must be three 1-D arrays of one length, got {ca.shape}, {cb.shape}, {v.shape}"
        )
    if v.sum() <= 0:
        raise InputError(_NO_VISIBLE)
    delta = float(100.0 * (ca.sum() - cb.sum()) / v.sum())
    result = _ratio_bootstrap(100.0 * (ca - cb), v, n, seed, level)
    low, high = _interval(result)
    deltas = result.bootstrap_distribution[np.isfinite(result.bootstrap_distribution)]
    # (k + 1) / (m + 1): a finite resample count cannot support a p-value of exactly 0.
    tail = min(int((deltas <= 0).sum()), int((deltas >= 0).sum()))
    p_value = min(1.0, 2.0 * (tail + 1) / (len(deltas) + 1))
    return {"delta": delta, "low": low, "high": high, "p_value": p_value, "n": n, "seed": seed, "level": level}


def seed_variance_parts(
    corrects, visible, exclude: tuple[int, ...] = MPII_EXCLUDED_FROM_MEAN
) -> dict[str, float | int]:
    """How much of the seed-to-seed spread of a PCKh Mean is the validation people, and how much the training.

    ``corrects`` holds one ``N×J`` correctness array per seed of the same cell, all scored on the same people
    (``visible``). With ``y[s, p]`` the correct joints of person ``p`` under seed ``s``, the Mean of seed ``s``
    is ``100 × Σ_p y[s, p] / Σ visible``, and a two-way analysis of variance without replication,
    ``y[s, p] = m + a[s] + b[p] + e[s, p]``, splits the variance of the seeds' Means into the training part
    (the spread of ``a``: models that are better or worse on every person) and the people part (the
    interaction ``e``: seeds that get different people right, which a larger validation split averages
    out, as ``1 / N``).

    Returns ``{"seeds", "people", "seed_sd", "training_sd", "people_sd", "people_share"}`` in points. The
    people's part is the unbiased estimate ``MS_residual / N`` (pool it as a variance across cells); the
    training's part is what is left of ``seed_sd²``, at least 0, so the two add up to ``seed_sd²`` unless the
    people's estimate exceeds it (then ``people_share`` is 1). Needs two seeds or more.
    """
    corrects = [np.asarray(c, dtype=bool) for c in corrects]
    if len(corrects) < 2:
        raise InputError(f"the seed spread needs at least two seeds, got {len(corrects)}")
    counts = [person_counts(c, visible, exclude) for c in corrects]
    y = np.stack([c for c, _ in counts])  # seeds × people
    s, n = y.shape
    scale = 100.0 * n / counts[0][1].sum()  # Mean = scale × the mean over people of y
    seed_means = y.mean(axis=1)
    residual = y - seed_means[:, None] - y.mean(axis=0)[None, :] + y.mean()
    total = float(seed_means.var(ddof=1)) * scale**2
    people = float((residual**2).sum() / ((s - 1) * (n - 1)) / n) * scale**2 if n > 1 else 0.0
    return {
        "seeds": s,
        "people": n,
        "seed_sd": float(total**0.5),
        "training_sd": float(max(0.0, total - people) ** 0.5),
        "people_sd": float(people**0.5),
        "people_share": float(min(1.0, people / total)) if total > 0 else 1.0,
    }
