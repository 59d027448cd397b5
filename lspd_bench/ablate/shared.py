"""The work a matrix's cells share, done once before they run: each distinct dataset, then each distinct teacher.

Both run in the driver with every core, since no cell runs yet; their durations go to the timings ledger
(``<cache>/ablate-timings.json``) for later dry runs' estimates.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lspd_bench.ablate import store
from lspd_bench.ablate.matrix import Matrix
from lspd_bench.ablate.plan import cores, data_key, describe_data, describe_teacher, teacher_key
from lspd_bench.ablate.progress import CellRun, Display
from lspd_bench.config import Dataset, replace


def prepare_data(matrix: Matrix, cache: Path, display: Display) -> dict[str, Any]:
    """Each distinct data source's bundle (a synthetic one generated into the cache when missing), by
    ``data_key``."""
    from lspd_bench.data.build import build_data, synth_dir
    from lspd_bench.data.synth import META_FILE

    bundles: dict[str, Any] = {}
    for cell in matrix.cells:
        cfg = cell.config
        key = data_key(cfg)
        if key in bundles:
            continue
        item = {"what": "dataset", "description": describe_data(cfg), "state": "preparing"}
        display.shared.append(item)
        display.emit(force=True)
        generate = cfg.dataset == Dataset.SYNTH and not (synth_dir(cfg) / META_FILE).is_file()
        started = time.perf_counter()
        bundles[key] = build_data(cfg)
        if cfg.dataset == Dataset.SYNTH:
            store.record_timing(
                cache, "datasets", key, time.perf_counter() - started if generate else None, path=str(synth_dir(cfg))
            )
        item["state"] = "generated" if generate else "cached"
    return bundles


def train_teachers(runs: list[CellRun], bundles: dict[str, Any], cache: Path, display: Display) -> None:
    """Train (or find in the cache) each distinct teacher, and precompute its heatmaps, before the cells."""
    from lspd_bench.cost.latency import torch_threads
    from lspd_bench.data.build import build_data
    from lspd_bench.evaluation.run import ensure_teacher, teacher_run
    from lspd_bench.train.loop import resolve_device

    seen: set[tuple[str, str]] = set()
    for r in runs:
        # The teacher learns from a seed-0 view of the data whatever the cell's seed, so that its
        # training is fixed by its identity (which has seed 0) rather than by the first cell to need it.
        cfg = replace(r.cell.config, seed=0)
        bundle = bundles[data_key(cfg)]
        *_, folder = teacher_run(cfg, bundle)
        tid = folder.name  # the teacher's identity hash
        if (tid, cfg.teacher_targets) in seen:
            continue
        seen.add((tid, cfg.teacher_targets))
        item: dict[str, Any] = {"what": "teacher", "description": describe_teacher(cfg), "state": "checking"}
        display.shared.append(item)
        display.emit(force=True)
        trained: dict[str, float] = {}

        def on_event(event: dict, item=item, trained=trained) -> None:
            kind = event["event"]
            if kind == "teacher_start":
                item["state"] = f"training ({event['reason']})"
                trained["started"] = time.perf_counter()
            elif kind == "epoch_end":
                item.update(epoch=event["epoch"] + 1, epochs=event["epochs"], metric=event.get("headline"))
            elif kind == "teacher_heatmaps":
                item["state"] = "computing its heatmaps"
            display.emit(force=kind != "step")

        with torch_threads(cores()):
            _, record = ensure_teacher(cfg, build_data(cfg), resolve_device(cfg.device), on_event)
        seconds = time.perf_counter() - trained["started"] if "started" in trained else None
        store.record_timing(
            cache, "teachers", teacher_key(cfg), seconds, dir=record.get("dir"), shipped=record.get("file")
        )
        shipped = record["source"] == "shipped"
        item["state"] = f"shipped ({record['file']})" if shipped else "trained" if seconds else "cached"
        item["metric"] = record.get("headline")
        display.emit(force=True)
