"""The baseline file: made from a results table, loaded, and written atomically; and the gate's two entry
points, :func:`check` (results against the baseline) and :func:`update_baseline` (results as the baseline)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Sequence

from lspd_bench.ablate import store
from lspd_bench.check.cells import (
    COST_FIGURES,
    LATENCY,
    LATENCY_HIGH,
    LATENCY_LOW,
    PARETO_COST,
    Cell,
    Results,
    labeller,
    normal,
)
from lspd_bench.check.read import read_results
from lspd_bench.check.rules import (
    ACC_FLOOR,
    ACC_SIGMAS,
    ACC_SIGMAS_MEAN,
    TOL_LATENCY,
    claim_rows,
    comparable,
    compare,
)
from lspd_bench.config import current_keys
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json
from lspd_bench.train.files import METRICS_FILE

FORMAT = "lspd-bench baseline"
FORMAT_VERSION = 2  # 2: cells keyed by every configuration column; latency ratios with their interval


def make_baseline(results: Results, *, created: str | None = None, claims: Sequence[str] = ()) -> dict[str, Any]:
    """The baseline document of ``results``: per cell its axes, seeds, accuracy (mean, seed spread),
    parameters, MACs (GMACs), latency ratio and Pareto membership; plus context, environment and date.

    A table with unfinished cells cannot be a baseline (``InputError`` naming them): a cell left out
    would silently lose its protection.
    """
    failed = [c for c in results.cells if c.failed]
    if failed:
        name_of = labeller(results.cells)
        names = "; ".join(f"{name_of(c)} ({c.failed})" for c in failed)
        raise InputError(f"results {results.source}: cannot make a baseline while cells are not done: {names}")
    env, env_source = results.environment, f"{METRICS_FILE} of the first finished cell"
    if env is None:
        from lspd_bench.env import environment

        env, env_source = environment("cpu"), f"the machine that wrote the baseline (no {METRICS_FILE} found)"
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": created or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "results": str(results.source),
        "headline_name": results.headline_name,
        "context": results.context,
        "environment": env,
        "environment_source": env_source,
        "rules": {
            "acc_floor_points": ACC_FLOOR,
            "acc_sigmas": ACC_SIGMAS,
            "acc_sigmas_mean": ACC_SIGMAS_MEAN,
            "latency_tolerance": TOL_LATENCY,
            "pareto_cost": PARETO_COST,
            "cost_figures": list(COST_FIGURES),
        },
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


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cell_from_json(path: Path, i: int, data: Any) -> Cell:
    if not (isinstance(data, dict) and isinstance(data.get("axes"), dict) and isinstance(data.get("accuracy"), dict)):
        raise InputError(f"baseline {path}: cell {i} is malformed (needs 'axes' and 'accuracy')")
    values = data["accuracy"].get("values")
    if not isinstance(values, list) or not values or not all(_number(v) is not None for v in values):
        raise InputError(f"baseline {path}: cell {i} has no accuracy values")
    return Cell(
        axes=current_keys({k: normal(v) for k, v in data["axes"].items()}),  # a baseline of an earlier version too
        seeds=list(data.get("seeds") or []),
        ids=list(data.get("cell_ids") or []),
        accuracy=[float(v) for v in values],
        costs={k: normal(data.get(k)) for k in COST_FIGURES},
        latency_ratio=_number(data.get(LATENCY)),
        latency_interval=_interval(data),
        pareto=bool(data.get("pareto")),
    )


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
        raise InputError(f'baseline {path} is not an lspd-bench baseline (no "format": "{FORMAT}")')
    if data.get("version") != FORMAT_VERSION:
        raise InputError(
            f"baseline {path} has format version {data.get('version')!r}; this suite reads {FORMAT_VERSION}"
        )
    cells = data.get("cells")
    if not isinstance(cells, list) or not cells:
        raise InputError(f"baseline {path} holds no cells")
    return data, [_cell_from_json(path, i, c) for i, c in enumerate(cells)]


def check(
    results: str | Path,
    baseline: str | Path,
    *,
    tol_acc: float | None = None,
    tol_latency: float = TOL_LATENCY,
    claims: bool = False,
    extra_claims: Sequence[str] = (),
) -> dict[str, Any]:
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
        raise InputError(
            f"--claims: the baseline {baseline} records no claims (write it with --update-baseline "
            "from a matrix that has claims)"
        )
    now = claim_verdicts(res.source.parent, extra_claims)
    rows = claim_rows(doc, now)
    failing = [r for r in rows if r["fails"]]
    return {
        **report,
        "rows": report["rows"] + rows,
        "passed": report["passed"] and not failing,
        "regressions": report["regressions"] + len(failing),
        "claims": now,
        "contradicted_claims": [r["cell"] for r in failing],
    }


def update_baseline(
    results: str | Path,
    baseline: str | Path,
    *,
    tol_acc: float | None = None,
    tol_latency: float = TOL_LATENCY,
    created: str | None = None,
    claims: Sequence[str] = (),
    allow_partial: bool = False,
) -> dict[str, Any]:
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
        raise InputError(
            f"{results} lacks {len(missing)} cell(s) of the baseline {path} ({'; '.join(missing)}): "
            "it is incomplete; run them, or pass --allow-partial to write a baseline without them"
        )
    write_json(path, doc)
    return {
        **report,
        "baseline": str(path),
        "updated": True,
        "previous": path_existed and bool(old_cells),
        "baseline_cells": len(doc["cells"]),
        "notes": [*notes, *report["notes"]],
    }


def _version_of(path: Path) -> Any:
    """The format version of a baseline file of ours in another version than this suite's, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    ours = isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") != FORMAT_VERSION
    return data.get("version") if ours else None
