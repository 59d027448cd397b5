"""The latency phase: every trained cell's deploy model profiled, one at a time, with no cell training.

Each cell's deploy model is profiled (parameters, MACs from every counter, batch-1 latency at 1 thread,
throughput at a batch) right after with the reference model (``simplebaseline-mbv2``, same input size), the
two taking turns in blocks of calls, so that ``latency_ratio`` (the median over the rounds of the ratio of
the two blocks' fastest calls, with its interval) cancels the machine's speed. Cells whose deploy models are
the same network share one measurement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from lspd_bench.ablate import store
from lspd_bench.ablate.plan import data_key
from lspd_bench.ablate.progress import CellRun, Display
from lspd_bench.ablate.schema import Status
from lspd_bench.config import RunConfig
from lspd_bench.fileio import file_lock, write_json

#: The model every cell's latency is divided by (deploy model, same input size, same process).
# Another family than the LSPD cells, so that a change to an LSPD block cannot slow the reference too.
REFERENCE_MODEL = "simplebaseline-mbv2"
#: Latency is measured at batch 1 on one thread (docs/protocols.md, "Latency": the quiet setting for a shared machine).
LATENCY_THREADS = 1
#: Calls per turn when the cell and the reference take turns (one round = a block of each): short, so that
#: both models see the same machine (a shared machine's speed drifts over seconds), yet more than one call,
#: so that each block's fastest call is past the cache misses of switching models.
LATENCY_BLOCK = 5
#: Rounds at least: enough that the median's distribution-free 95 % interval leaves out the extreme rounds
#: on both sides, so that one disturbed round cannot move the interval.
LATENCY_ROUNDS = 40
#: Throughput batch (images/s at this batch, same thread count).
THROUGHPUT_BATCH = 8
RATIO_CONVENTION = (
    f"latency_ratio: per round, the cell's fastest batch-1 call over the fastest of the reference "
    f"model ({REFERENCE_MODEL} deploy, same input size), the two taking turns in blocks of "
    f"{LATENCY_BLOCK} calls in the same process; the median over the rounds, with its distribution-free "
    "95 % interval (latency_ratio_low, latency_ratio_high: the machine's noise during the "
    "measurement)"
)
SHARED_CONVENTION = (
    "cells whose deploy models are the same network (architecture hash: layers, parameter and "
    "buffer shapes, input size) share one measurement of MACs, latency and throughput "
    "(measured_in names the cell that took it)"
)


def latency_phase(
    runs: list[CellRun],
    out: Path,
    bundles: dict[str, Any],
    display: Display,
    write_table: Callable[[], Any],
    min_time_s: float,
    batch: int,
) -> None:
    """Profile every trained cell's deploy model, one at a time, with no cell training anywhere in the
    matrix (other ablate processes on the same folder are waited for)."""
    need = [r for r in runs if r.state == Status.TRAINED]
    if not need:
        return
    display.emit(force=True)
    with file_lock(out / ".latency.lock"):
        while any(store.is_locked(r.dir) for r in runs):
            display.phase = "waiting for another process's cells before measuring latency"
            display.emit()
            time.sleep(1.0)
        display.phase = "measuring latency (nothing else running)"
        references: dict[tuple, Any] = {}
        measured: dict[str, dict[str, Any]] = {}  # architecture hash → its cost figures, measured once
        for r in need:
            with store.cell_lock(r.dir) as held:
                if not held:
                    continue
                if store.is_costed(r.dir):
                    r.state = Status.DONE
                    continue
                r.state, r.started = Status.RUNNING, time.monotonic()
                display.emit(force=True)
                cfg = r.cell.config
                bundle = bundles[data_key(cfg)]
                try:
                    key = (tuple(cfg.input_size), bundle.num_joints)
                    if key not in references:
                        references[key] = reference_model(bundle.num_joints)
                    cost = profile_cell(
                        cfg,
                        r.dir,
                        bundle.num_joints,
                        references[key],
                        batch=batch,
                        min_time_s=min_time_s,
                        measured=measured,
                    )
                    write_json(r.dir / store.COST_FILE, cost)
                    store.write_status(r.dir, Status.DONE, latency_ms=cost["latency"]["median_ms"])
                    r.state = Status.DONE
                except Exception as exc:  # a cell whose model cannot be profiled fails alone
                    r.state, r.error = Status.FAILED, store.record_failure(r.dir, exc, "profile")["error"]
            write_table()
            display.emit(force=True)


def reference_model(num_joints: int):
    """The latency reference: ``simplebaseline-mbv2``'s deploy model (fixed initialisation; weights do not change latency)."""
    from lspd_bench.models import build
    from lspd_bench.train.loop import seeded

    with seeded(0):
        model = build(REFERENCE_MODEL, num_joints=num_joints)
    return model.eval().deploy()


def profile_cell(
    cfg: RunConfig,
    cell_dir: Path,
    num_joints: int,
    reference,
    *,
    batch: int = THROUGHPUT_BATCH,
    min_time_s: float = 1.0,
    measured: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Cost of a trained cell's deploy model at the run's input size (H, W px): parameters, MACs (every
    counter, GMACs), batch-1 latency (ms, 1 thread), throughput (images/s at ``batch``, 1 thread) and the
    latency ratio to ``reference``, the two measured taking turns in this process.

    ``measured`` maps architecture hashes (``lspd_bench.cost.architecture_hash`` of the deploy model) to
    figures already measured: a cell whose deploy model is the same network takes them (``measured_in``
    names the cell that measured them), so one network has one latency in the table.
    """
    from lspd_bench.cost import architecture_hash, count_macs, count_params, measure_latency, measure_ratio
    from lspd_bench.cost.profile import CONVENTIONS
    from lspd_bench.env import environment
    from lspd_bench.train.build import build_student
    from lspd_bench.train.checkpoint import load_checkpoint
    from lspd_bench.train.files import LAST

    model = build_student(cfg, num_joints)
    model.load_state_dict(load_checkpoint(Path(cell_dir) / LAST)["model"])
    model.eval()
    deployed = model.deploy()
    hw = (int(cfg.input_size[0]), int(cfg.input_size[1]))
    arch = architecture_hash(deployed, hw)
    measured = {} if measured is None else measured
    if arch not in measured:
        timing = dict(threads=LATENCY_THREADS, device="cpu", min_time_s=min_time_s)
        lat, ref, ratio = measure_ratio(
            deployed, reference, hw, batch=1, block=LATENCY_BLOCK, iters=LATENCY_ROUNDS * LATENCY_BLOCK, **timing
        )
        thr = measure_latency(deployed, hw, batch=batch, **timing)
        measured[arch] = {
            "macs": [m.to_dict() for m in count_macs(deployed, hw)],
            "latency": lat.to_dict(),
            "throughput": thr.to_dict(),
            "reference": {"model": REFERENCE_MODEL, "measured": "deploy", "latency": ref.to_dict()},
            "latency_ratio": ratio.ratio,
            "latency_ratio_interval": [ratio.low, ratio.high],
            "latency_ratio_rounds": ratio.rounds,
            "measured_in": Path(cell_dir).name,
        }
    return {
        "model": cfg.model,
        "knobs": cfg.model_knobs(),
        "input": list(hw),
        "measured": "deploy",
        "deploy_stage": getattr(model, "deploy_stage", 1),
        "architecture": arch,
        "params": {"full": count_params(model), "deploy": count_params(deployed)},
        **measured[arch],
        "environment": environment("cpu"),
        "conventions": [*CONVENTIONS, RATIO_CONVENTION, SHARED_CONVENTION],
    }
