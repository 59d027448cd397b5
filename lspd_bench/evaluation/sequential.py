"""Repeated looks at a growing number of seeds, with the false-decision rate held: the nominal level of each look.

A claim judged after every round of seeds, and stopped as soon as its interval leaves the threshold, looks
at its data several times. Read at 95 % each time, the chance that some look decides wrongly grows well
past 5 % (two looks: 8 %, ten: 19 %, with the variance known; Armitage, McPherson and Rowe 1969). A
group-sequential design keeps it at α by reading every look at a smaller nominal level. This module gives
Pocock's (1977) constant boundary for looks after n₁ < n₂ < … < n_K seeds: the one constant c with

    P(|Z_k| ≥ c at some look k) = α   under no effect,

where Z_k is the standardised mean after n_k independent seeds (a standard random walk read at n_k). Each
look then uses the nominal level α' = 2·(1 − Φ(c)): its interval is the usual one at 1 − α'. With the looks
at 1, 2, …, K seeds this is Pocock's table (K = 5: c = 2.413, α' = 0.0158).

The probability is computed by the recursive numerical integration of Armitage, McPherson and Rowe: the
density of the walk at each look, restricted to the continuation region, convolved with the next
increment's normal density, on a fixed grid (Simpson's rule); c is then found by bisection. Deterministic,
and within 0.001 of the published constants.

The intervals the suite reads at α' estimate the variance from the seeds (Student's t with Satterthwaite's
degrees of freedom), which makes each look wider than the known-variance one the boundary assumes: the
error rate this leaves is checked by simulation (``benchmarks/bench_sequential.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

#: The grid step of the walk's value, in units of one seed's standard deviation.
_STEP = 0.005


def _normal_pdf(x: np.ndarray, var: float) -> np.ndarray:
    return np.exp(-0.5 * x * x / var) / math.sqrt(2.0 * math.pi * var)


def _simpson_weights(n: int) -> np.ndarray:
    """Simpson's weights for ``n`` equally spaced points (``n`` odd), in units of the step."""
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w / 3.0


def crossing_probability(c: float, looks: Sequence[int]) -> float:
    """P(|S_n| / √n ≥ c at some n in ``looks``) for a standard random walk S (independent N(0, 1) steps):
    the chance that a boundary ±c read after each of ``looks`` seeds is ever crossed under no effect."""
    looks = sorted(int(n) for n in looks)
    if not looks or looks[0] < 1:
        raise ValueError(f"looks must be positive seed counts, got {looks}")
    reach = c * math.sqrt(looks[-1])
    half = int(math.ceil(reach / _STEP))
    grid = np.arange(-half, half + 1) * _STEP
    inside = np.abs(grid)[None, :] < c * np.sqrt(np.asarray(looks, dtype=float))[:, None]
    weights = _simpson_weights(len(grid))  # the grid has 2·half + 1 points
    density = _normal_pdf(grid, looks[0]) * inside[0]
    for k in range(1, len(looks)):
        var = looks[k] - looks[k - 1]
        kernel_half = min(2 * half, int(math.ceil(8.0 * math.sqrt(var) / _STEP)))  # the increment to ±8 SD
        kernel = _normal_pdf(np.arange(-kernel_half, kernel_half + 1) * _STEP, var) * _STEP
        full = np.convolve(density * weights, kernel)
        density = full[kernel_half : kernel_half + len(grid)] * inside[k]
    return float(1.0 - (density * weights).sum() * _STEP)


@functools.lru_cache(maxsize=128)
def pocock_constant(looks: tuple[int, ...], alpha: float = 0.05) -> float:
    """Pocock's constant boundary c for two-sided looks after ``looks`` seeds at overall level ``alpha``."""
    low, high = 1.0, 6.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if crossing_probability(mid, looks) > alpha:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def nominal_level(looks: Sequence[int], alpha: float = 0.05) -> float:
    """The two-sided level α' each look is read at so that all of them together decide wrongly at most
    ``alpha`` of the time under no effect: 2·(1 − Φ(c)), c Pocock's constant (:func:`pocock_constant`)."""
    c = pocock_constant(tuple(sorted(int(n) for n in looks)), alpha)
    return float(math.erfc(c / math.sqrt(2.0)))


def looks_up_to(max_seeds: int, min_seeds: int) -> tuple[int, ...]:
    """The seed counts a claim is judged at when it gains one seed a round: ``min_seeds`` … ``max_seeds``."""
    if max_seeds < min_seeds:
        raise ValueError(f"max_seeds {max_seeds} is below the {min_seeds} a verdict needs")
    return tuple(range(min_seeds, max_seeds + 1))
