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
  means, ties within the noise: ``lspd_bench.report.stats.pareto_front``) fails when another cell
  dominates it now (``lspd_bench.report.stats.dominates``, the report's rule: no more GMACs and more
  accurate) by more than the cell's accuracy tolerance (being dominated within the noise is listed, not
  failed).
- **presence**: a baseline cell missing from the results, or failed there, fails. New cells are listed.

The package, in the order its modules import each other: ``cells`` (the gate's unit: one configuration, seeds
pooled), ``noise`` (the seed noise), ``pareto`` (front membership), ``read`` (a results table into cells),
``rules`` (the comparison), ``baseline`` (the baseline file, and the entry points ``check`` and
``update_baseline``), ``render`` (the report as text). What other code imports is re-exported here.
"""

from lspd_bench.check.baseline import FORMAT, check, update_baseline
from lspd_bench.check.read import read_results
from lspd_bench.check.render import COLUMNS, markdown, noise_text, summary, table_rows
from lspd_bench.check.rules import ACC_FLOOR, TOL_LATENCY, UNDECIDED

__all__ = [
    "ACC_FLOOR",
    "COLUMNS",
    "FORMAT",
    "TOL_LATENCY",
    "UNDECIDED",
    "check",
    "markdown",
    "noise_text",
    "read_results",
    "summary",
    "table_rows",
    "update_baseline",
]
