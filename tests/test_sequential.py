"""Repeated looks at a growing number of seeds: Pocock's boundaries against the published table, and what
re-reading a 95 % interval after every seed would cost."""

import math

import numpy as np
import pytest

from lspd_bench.evaluation.sequential import crossing_probability, looks_up_to, nominal_level, pocock_constant


@pytest.mark.parametrize(
    "looks, constant",  # Pocock (1977), Table 1; Jennison and Turnbull (2000), Table 2.1: two-sided, alpha 0.05
    [(2, 2.178), (3, 2.289), (4, 2.361), (5, 2.413), (10, 2.555)],
)
def test_pocock_constants_match_the_published_table(looks, constant):
    assert pocock_constant(tuple(range(1, looks + 1))) == pytest.approx(constant, abs=0.002)


def test_one_look_is_the_fixed_interval_and_more_looks_cost_more_each():
    assert pocock_constant((2,)) == pytest.approx(1.96, abs=0.002)
    assert nominal_level((2,)) == pytest.approx(0.05, abs=0.0005)
    levels = [nominal_level(looks_up_to(n, 2)) for n in (3, 6, 10)]
    assert levels == sorted(levels, reverse=True) and levels[-1] < 0.02


def test_re_reading_a_95_percent_interval_after_every_seed_decides_wrongly_far_more_than_5_percent():
    # Armitage, McPherson and Rowe (1969), Table 2: ten looks at 1..10, each at 5 %, decide wrongly 19.3 % of the time
    assert crossing_probability(1.96, range(1, 11)) == pytest.approx(0.193, abs=0.003)
    naive = crossing_probability(1.96, looks_up_to(10, 2))  # what seed=auto would do from 2 to 10 seeds
    assert naive > 0.14
    # ... and the same by simulation of the walk, to the simulation's error
    rng = np.random.default_rng(0)
    walks = np.cumsum(rng.standard_normal((40_000, 10)), axis=1)[:, 1:]
    z = walks / np.sqrt(np.arange(2, 11))
    assert (np.abs(z) >= 1.96).any(axis=1).mean() == pytest.approx(naive, abs=0.006)
    held = pocock_constant(looks_up_to(10, 2))
    assert (np.abs(z) >= held).any(axis=1).mean() == pytest.approx(0.05, abs=0.005)


def test_a_seed_count_below_the_minimum_is_refused():
    with pytest.raises(ValueError, match="below"):
        looks_up_to(1, 2)
    assert math.isclose(crossing_probability(1.96, (4,)), 0.05, abs_tol=0.0005)


def test_a_paired_contrast_cancels_the_seed_s_lasting_effect_and_takes_the_seeds_degrees_of_freedom():
    from lspd_bench.report.claims import Group, contrast_interval

    rng = np.random.default_rng(0)
    seed_effect = np.array([6.0, -4.0, 1.0, -3.0])  # shared by both variants: a lucky or unlucky seed
    people = [50 + seed_effect[:, None] + d + rng.normal(0, 5, (4, 300)) for d in (2.0, 0.0)]
    a, b = (Group(p.mean(1), p) for p in people)
    unpaired = contrast_interval([(1.0, a), (-1.0, b)])
    paired = contrast_interval([(1.0, a), (-1.0, b)], paired=True)
    assert paired.delta == pytest.approx(unpaired.delta)
    assert (paired.high - paired.low) < 0.5 * (unpaired.high - unpaired.low)
    assert paired.df == 3 and paired.low > 0 > unpaired.low  # the 2-point effect shows once the seeds pair
    assert "paired" in paired.covers
    with pytest.raises(ValueError, match="same seeds"):
        contrast_interval([(1.0, a), (-1.0, Group(b.figures[:3], b.people[:3]))], paired=True)
