"""The environment and setting the figures came from: machine, threads, library versions, dataset,
schedule, gathered from the finished cells' ``metrics.json`` and ``cost.json``.

Where cells disagree (a matrix run on two machines), every distinct value is listed with its cell count
rather than one of them silently.
"""

from __future__ import annotations

from typing import Any, Callable

from lspd_bench import __version__
from lspd_bench.ablate.schema import Status
from lspd_bench.config import preset_names
from lspd_bench.report.fidelity import fidelity_line, preset_differences
from lspd_bench.report.load import Cell
from lspd_bench.report.stats import (
    LEARNING_RULE,
    SEED_SD,
    Analysis,
    Learning,
    format_value,
    front_tie,
    held_seed_noise,
    teacher_knobs_text,
    teachers,
    validation_share,
)
from lspd_bench.report.tables import conventions, latency_conditions


def _distinct(cells: list[Cell], get: Callable[[Cell], Any]) -> str | None:
    counts: dict[str, int] = {}
    for c in cells:
        try:
            v = get(c)
        except (KeyError, TypeError, AttributeError):
            v = None
        if v is None or v == "":
            continue
        text = format_value(v) if not isinstance(v, str) else v
        counts[text] = counts.get(text, 0) + 1
    if not counts:
        return None
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{v} ({n} cell{'s' if n != 1 else ''})" for v, n in counts.items())


def _env(c: Cell) -> dict:
    return (c.metrics or {}).get("environment") or (c.cost or {}).get("environment") or {}


def _device(c: Cell) -> str:
    """``cuda:0 (CUDA_VISIBLE_DEVICES=2)``: the device a cell trained on, and which of the machine's GPUs that was
    when its process was pinned; ``× 2 processes (DDP)`` for a cell trained under torchrun."""
    env = _env(c)
    text = env["device"]
    if env.get("cuda_visible_devices") is not None:
        text += f" (CUDA_VISIBLE_DEVICES={env['cuda_visible_devices']})"
    processes = ((c.metrics or {}).get("train") or {}).get("processes") or 1
    return text + (f" × {processes} processes (DDP)" if processes > 1 else "")


def environment_rows(analysis: Analysis) -> list[tuple[str, str]]:
    """``(label, value)`` pairs: machine, threads, libraries, dataset, schedule, matrix and report facts."""
    cells = analysis.matrix.done
    rows: list[tuple[str, str | None]] = [
        ("CPU", _distinct(cells, lambda c: f"{_env(c)['cpu']} ({_env(c)['cpu_count']} logical cores)")),
        ("GPU", _distinct(cells, lambda c: _env(c).get("gpu"))),
        ("Device (training)", _distinct(cells, _device)),
        ("Precision (training)", _distinct(cells, lambda c: c.metrics["train"].get("precision"))),
        ("OS", _distinct(cells, lambda c: _env(c)["os"])),
        ("Python", _distinct(cells, lambda c: _env(c)["python"])),
        ("Training threads (torch)", _distinct(cells, lambda c: c.metrics["environment"]["torch_threads"])),
        ("Latency measured with", latency_conditions(analysis)),
        (
            "Cost environment",
            _distinct(
                cells, lambda c: f"{c.cost['environment']['cpu']}, torch {c.cost['environment']['libraries']['torch']}"
            ),
        ),
    ]
    libs: list[str] = []
    for c in cells:
        for name in _env(c).get("libraries") or {}:
            if name not in libs:
                libs.append(name)
    rows += [(f"{name} version", _distinct(cells, lambda c, n=name: _env(c)["libraries"][n])) for name in libs]
    rows += [
        ("Dataset", _distinct(cells, lambda c: c.metrics["dataset"]["description"]) or analysis.constant("dataset")),
        ("Dataset fingerprint", _distinct(cells, lambda c: str(c.row.get("dataset_fingerprint"))[:16] + "…")),
        ("Validation people", _distinct(cells, lambda c: c.metrics["dataset"]["val_people"])),
        ("Training people", _distinct(cells, lambda c: c.metrics["dataset"]["train_people"])),
        ("Input size (H×W px)", _distinct(cells, lambda c: c.row.get("input_size"))),
        ("Metric", f"{analysis.headline_name} ({analysis.metric})"),
        ("Flip test", _distinct(cells, lambda c: "on" if c.row.get("flip_test") else "off")),
        ("Preset", _distinct(cells, lambda c: c.row.get("preset"))),
        (
            "Schedule",
            _distinct(
                cells,
                lambda c: "{epochs} epochs, batch {batch_size}, lr {lr:g}, {schedule}".format(**c.metrics["schedule"]),
            ),
        ),
        ("Per-epoch validation", _validation_cost(analysis)),
        ("Loss", _distinct(cells, lambda c: c.metrics["loss"].get("description") or c.metrics["loss"]["name"])),
        (
            "Teacher",
            _distinct(
                [c for c in cells if (c.metrics or {}).get("distill", {}).get("teacher")],
                lambda c: c.metrics["distill"]["teacher"]["model"],
            ),
        ),
        ("Matrix", f"{analysis.matrix.root} ({status_line(analysis)})"),
        ("Baseline row", analysis.baseline.label(analysis.axes)),
        ("Report", f"lspd-bench {__version__}; paired bootstrap {analysis.n_boot} resamples, seed 0"),
    ]
    return [(k, v) for k, v in rows if v]


def _validation_cost(analysis: Analysis) -> str | None:
    """``12 % of training wall time (…)``: what validating every epoch cost; None when no cell timed it."""
    share = validation_share(analysis)
    if share is None:
        return None
    fraction, cells = share
    return (
        f"{100 * fraction:.0f} % of training wall time (val_seconds / (train_seconds + val_seconds), summed over "
        f"{cells} cell{'s' if cells != 1 else ''})"
    )


def _learning_noise(judged: list[Learning]) -> str:
    """``the seed noise (SD 2.9)``: the threshold the rule held the gains to."""
    if judged[0].threshold_kind == SEED_SD:
        return f"the seed noise (the pooled seed SD of the final figure, {judged[0].threshold:.1f})"
    low, high = (f"{f(lrn.threshold for lrn in judged):.1f}" for f in (min, max))
    width = low if low == high else f"{low}–{high}"
    return f"the noise of the validation people (half their 95 % interval, {width} points)"


def learning_line(analysis: Analysis) -> str | None:
    """One line on the variants still learning when their training stopped (``Analysis.learning_of``); None
    when the rule judged no variant (one epoch, no history)."""
    judged = [lrn for v in analysis.variants if (lrn := analysis.learning_of(v)).judged]
    if not judged:
        return None
    rising = sum(lrn.still_learning for lrn in judged)
    windows = {(lrn.window, lrn.epochs) for lrn in judged}
    over = (
        "their last {} of {} epochs".format(*windows.pop()) if len(windows) == 1 else "the last quarter of their epochs"
    )
    unjudged = len(analysis.variants) - len(judged)
    besides = f" ({unjudged} more without a verdict)" if unjudged else ""
    noise = _learning_noise(judged)
    if not rising:
        return f"Still learning: none of {len(judged)} variants{besides} gained more than {noise} over {over}."
    return (
        f"Still learning: {rising} of {len(judged)} variants{besides} gained more than {noise} over {over}; their "
        "ranking reflects the training budget as much as the architecture."
    )


def noise_line(analysis: Analysis) -> str:
    """What training noise the matrix's seeds show, and so what its intervals cover."""
    noise = analysis.noise
    if noise.sd is None:
        return (
            "Training noise: not measured (one seed per row). Every interval in this report covers the "
            "sampling of validation people, not training noise; one seed is not evidence of an effect."
        )
    text = (
        f"Training noise: the seeds of a row differ by a pooled SD of {noise.sd:.2f} points ({noise.rows} rows, "
        f"up to {noise.seeds} seeds, df {noise.df}). The tables' Δ intervals cover the sampling of people "
        "only (the ± is the seeds'); the claims' intervals cover seeds and people."
    )
    if noise.people_sd is not None:
        text += (
            f" Of that spread, the validation people account for an SD of {noise.people_sd:.2f} points (which "
            "people each seed's model gets right; a larger validation split shrinks it) and the training for "
            f"{noise.training_sd:.2f} (models better or worse on every person: no validation split shrinks it, "
            "more seeds only narrow the interval of their mean); the two add as variances."
        )
    held, df = held_seed_noise(analysis)
    if held is not None:
        text += (
            f" With the seed held, {held:.2f} points are left (rows × seeds residual, df {df}); the Pareto "
            f"fronts count accuracies within {front_tie(analysis):.2f} points as ties."
        )
    return text


def teacher_lines(analysis: Analysis) -> list[str]:
    """``Teacher: hourglass (stacks 2, features 64), shipped (teacher-….pt): PCKh@0.5 Mean 63.1 …``."""
    lines = []
    for t in teachers(analysis):
        knobs = teacher_knobs_text(t)
        where = f"shipped ({t['file']})" if t["source"] == "shipped" else "trained into the cache"
        fig = (
            f": {t['headline_name']} {t['headline']:.1f} on the validation split"
            if t.get("headline") is not None
            else " (no validation figure recorded)"
        )
        lines.append(
            f"Teacher: {t['model']} ({knobs}), {where}, {t['epochs']} epochs{fig}; the distilled rows "
            "learn from its heatmaps."
        )
    return lines


def status_line(analysis: Analysis) -> str:
    """``14 of 16 cells done, 1 running, 1 pending``."""
    counts = analysis.matrix.status_counts()
    total = sum(counts.values())
    return f"{counts.get('done', 0)} of {total} cells done" + "".join(
        f", {n} {s}" for s, n in counts.items() if s != Status.DONE
    )


def all_conventions(analysis: Analysis) -> list[tuple[str, list[str]]]:
    """The conventions behind the figures, by source: this report, the metric, the cost profiler."""
    metric: list[str] = []
    cost: list[str] = []
    for c in analysis.matrix.done:
        for line in (c.metrics or {}).get("conventions") or []:
            if line not in metric:
                metric.append(line)
        for line in (c.cost or {}).get("conventions") or []:
            if line not in cost:
                cost.append(line)
    out = [
        (
            "Tables and plots",
            conventions(analysis)
            + [
                "Pareto front: the LSPD variants that no other variant beats in both accuracy (mean over seeds) and "
                "cost (mean over seeds); reference models are drawn but not part of the front.",
                "Cost axes are log-scaled; parameters and GMACs are of the deploy model (the full training model's "
                "parameters are in the tables).",
            ]
            + ([LEARNING_RULE] if any(analysis.learning_of(v).judged for v in analysis.variants) else []),
        )
    ]
    if metric:
        out.append((f"Metric ({analysis.headline_name})", metric))
    if cost:
        out.append(("Cost profiler", cost))
    return out


def fidelity_text(analysis: Analysis) -> str | None:
    """The measured fidelity of the matrix's embedded preset (``lspd_bench.report.fidelity``), in one line;
    None when the matrix is not on one preset that has a measurement."""
    preset = analysis.constant("preset")
    if preset not in preset_names():
        return None
    return fidelity_line(preset, preset_differences(preset, analysis.matrix.values))
