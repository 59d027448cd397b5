"""Bootstrap intervals over people: coverage of the estimate, determinism, the paired difference."""

from __future__ import annotations

import numpy as np
import pytest

from lspd_bench.errors import InputError
from lspd_bench.evaluation.bootstrap import (
    bootstrap_ci,
    paired_bootstrap,
    paired_counts_bootstrap,
    pckh_bootstrap_ci,
    person_counts,
    seed_variance_parts,
)
from lspd_bench.evaluation.pckh import pckh


def _pckh_run(seed: int, noise: float, n: int = 200):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(50.0, 500.0, (n, 16, 2))
    visible = rng.random((n, 16)) > 0.15
    pred = gt - 1.0 + rng.normal(0.0, noise, gt.shape)
    return pckh(pred, gt, visible, np.full(n, 20.0))


def test_interval_contains_the_point_estimate_and_is_seeded():
    values = np.random.default_rng(0).random(300)
    low, high = bootstrap_ci(values, n=500, seed=1)
    assert low < values.mean() < high
    assert bootstrap_ci(values, n=500, seed=1) == (low, high)
    assert bootstrap_ci(values, n=500, seed=2) != (low, high)


def test_weighted_interval_brackets_the_weighted_mean():
    rng = np.random.default_rng(4)
    values, weights = rng.random(200), rng.integers(0, 5, 200)
    low, high = bootstrap_ci(values, weights=weights, n=400, seed=0)
    assert low < np.average(values, weights=weights) < high


def test_pckh_interval_contains_the_count_weighted_mean_and_is_seeded():
    res = _pckh_run(0, noise=8.0)
    low, high = pckh_bootstrap_ci(res.correct, res.visible, n=400, seed=0)
    assert low < res.mean < high
    assert high - low < 15.0
    assert pckh_bootstrap_ci(res.correct, res.visible, n=400, seed=0) == (low, high)


def test_pckh_variant_resamples_counts_like_the_weighted_per_person_accuracy():
    res = _pckh_run(1, noise=8.0)
    keep = [j for j in range(16) if j not in (6, 7)]
    c = res.correct[:, keep].sum(1)
    v = res.visible[:, keep].sum(1)
    accuracy = np.divide(c, v, out=np.zeros(len(c)), where=v > 0)
    a = pckh_bootstrap_ci(res.correct, res.visible, n=300, seed=5)
    b = bootstrap_ci(100.0 * accuracy, weights=v, n=300, seed=5)
    assert a == pytest.approx(b)


def test_pelvis_and_thorax_do_not_enter_the_pckh_interval():
    res = _pckh_run(2, noise=8.0)
    correct = res.correct.copy()
    correct[:, [6, 7]] = ~correct[:, [6, 7]]
    assert pckh_bootstrap_ci(correct, res.visible, n=200) == pckh_bootstrap_ci(res.correct, res.visible, n=200)


def test_identical_runs_give_zero_delta_and_a_degenerate_interval():
    res = _pckh_run(0, noise=8.0)
    out = paired_bootstrap(res.correct, res.correct, res.visible, n=300, seed=0)
    assert out["delta"] == 0.0 and out["low"] == 0.0 and out["high"] == 0.0
    assert out["p_value"] == 1.0


def test_paired_difference_of_a_clearly_better_run():
    worse, better = _pckh_run(0, noise=12.0), _pckh_run(0, noise=4.0)
    out = paired_bootstrap(better.correct, worse.correct, better.visible, n=500, seed=0)
    assert out["delta"] == pytest.approx(better.mean - worse.mean)
    assert 0.0 < out["low"] <= out["delta"] <= out["high"]
    assert out["p_value"] < 0.01
    assert paired_bootstrap(better.correct, worse.correct, better.visible, n=500, seed=0) == out


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci([], n=10), "non-empty 1-D"),
        (lambda: bootstrap_ci([1.0, np.nan], n=10), "NaN"),
        (lambda: bootstrap_ci([1.0, 2.0], weights=[1.0], n=10), "weights must match"),
        (lambda: bootstrap_ci([1.0, 2.0], n=0), ">= 1"),
        (lambda: pckh_bootstrap_ci(np.ones((3, 16)), np.ones((2, 16))), "same non-empty N×J"),
        (lambda: paired_bootstrap(np.ones((3, 16)), np.ones((3, 15)), np.ones((3, 16))), "same people"),
    ],
)
def test_bad_inputs_raise_input_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_counts_summed_over_seeds_give_the_pooled_paired_interval():
    """Summing each person's counts over seeds is the same statistic as laying the seeds' joints side by side."""
    rng = np.random.default_rng(1)
    visible = rng.random((300, 16)) < 0.9
    seeds = [(rng.random((300, 16)) < 0.3, rng.random((300, 16)) < 0.35) for _ in range(3)]
    side_by_side = paired_bootstrap(
        np.concatenate([a for a, _ in seeds], 1),
        np.concatenate([b for _, b in seeds], 1),
        np.concatenate([visible] * 3, 1),
        n=500,
        seed=3,
        exclude=tuple(j + 16 * k for k in range(3) for j in (6, 7)),
    )
    counts = [(person_counts(a, visible)[0], *person_counts(b, visible)) for a, b in seeds]
    summed = paired_counts_bootstrap(*(sum(c[i] for c in counts) for i in range(3)), n=500, seed=3)
    assert summed == side_by_side
    with pytest.raises(InputError, match="one length"):
        paired_counts_bootstrap(counts[0][0], counts[0][1][:10], counts[0][2])
    with pytest.raises(InputError, match="no visible joints"):
        paired_counts_bootstrap(counts[0][0], counts[0][1], np.zeros_like(counts[0][2]))


def test_seed_variance_parts_tell_training_from_validation_people():
    rng = np.random.default_rng(0)
    visible = np.ones((2000, 16), dtype=bool)
    # Six seeds that differ only in which people they get right: the spread is all the people's.
    same_model = [rng.random((2000, 16)) < 0.3 for _ in range(6)]
    parts = seed_variance_parts(same_model, visible)
    assert parts["people_share"] > 0.6 and parts["training_sd"] < 0.15
    # Expected people SD of a Mean over 2000 × 14 joints at p = 0.3: 100·sqrt(0.21 / 28000) = 0.27 points.
    assert parts["people_sd"] == pytest.approx(0.27, abs=0.06)
    # Seeds 2 points apart on every person: the spread is the training's, and the SD of the offsets.
    offsets = [0.20 + 0.02 * s for s in range(6)]
    better = [rng.random((2000, 16)) < p for p in offsets]
    parts = seed_variance_parts(better, visible)
    assert parts["training_sd"] == pytest.approx(100 * np.std(offsets, ddof=1), abs=0.3)
    assert parts["people_share"] < 0.05  # about 0.27² / 3.7²
    assert parts["seed_sd"] ** 2 == pytest.approx(parts["training_sd"] ** 2 + parts["people_sd"] ** 2)
    with pytest.raises(InputError, match="at least two seeds"):
        seed_variance_parts(better[:1], visible)
