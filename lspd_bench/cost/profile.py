"""``profile``: every cost figure of one model in one result (parameters, MACs, latency, memory)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from lspd_bench.config import FIELD_TYPES, Runtime, check_value
from lspd_bench.cost.latency import measure_latency
from lspd_bench.cost.macs import count_macs
from lspd_bench.cost.memory import peak_forward_memory
from lspd_bench.cost.params import count_params
from lspd_bench.env import environment
from lspd_bench.errors import InputError
from lspd_bench.models import build, check_input_size, get_entry

CONVENTIONS = (
    "MACs: one fused multiply-add = 1 MAC, printed as GMACs (10^9) with the counter named; pose papers' "
    "'GFLOPs' are usually these",
    "MACs and memory: batch 1, eval mode, a single forward pass (flip test would double it)",
    "latency: eval mode, torch.inference_mode, fixed thread count, >=10 warm-up then >=50 timed calls; "
    "median/p90/min/IQR of per-call wall time in ms; model only (no pre-processing or decoding)",
    "throughput: images/s at the stated batch from the median call time",
)


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; an unusable device is an ``InputError``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r}: no CUDA GPU is visible to torch {torch.__version__}")
        return device
    raise InputError(f"unknown device {device!r}; choose from: auto, cpu, cuda, cuda:N")


def validate_threads(threads: Sequence[int]) -> list[int]:
    """Thread counts in 1..cpu_count (more would only measure oversubscription)."""
    cores = os.cpu_count() or 1
    for t in threads:
        if not 1 <= t <= cores:
            raise InputError(f"thread count {t} is outside 1..{cores} (the cores of this machine)")
    return list(dict.fromkeys(threads))


def build_for_profile(name: str, joints: int | None, knobs: dict[str, Any]) -> nn.Module:
    """Build a registered model, turning an unknown name or knob into an ``InputError``."""
    try:
        entry = get_entry(name)
    except KeyError as exc:
        raise InputError(exc.args[0]) from None
    overrides = dict(knobs)
    if joints is not None:
        if joints < 1:
            raise InputError(f"joints must be a positive integer, got {joints}")
        overrides["num_joints"] = joints
    try:
        return build(entry.name, **overrides)
    except (TypeError, ValueError) as exc:
        raise InputError(f"model {name!r}: {exc}") from None


def profile_model(
    name: str,
    *,
    input_hw: tuple[int, int] | None = None,
    joints: int | None = None,
    deploy: bool = True,
    threads: Sequence[int] = (1,),
    batch: int = 8,
    runtime: str = Runtime.EAGER,
    device: str = "cpu",
    knobs: dict[str, Any] | None = None,
    latency: bool = True,
    warmup: int = 10,
    iters: int = 50,
    min_time_s: float = 1.0,
    on_step: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Parameters, MACs (fvcore and ptflops), latency, throughput and peak memory of model ``name``.

    ``deploy`` measures the inference model (``model.deploy()``: for LSPD the backbone and one stage)
    rather than the full training model; parameters of both are always reported. ``input_hw`` defaults
    to the model's customary size. ``on_step(what, done, total)`` hears of each step before it starts.
    Returns a JSON-ready dict; bad arguments raise ``InputError``.
    """
    if runtime not in tuple(Runtime):
        raise InputError(f"unknown runtime {runtime!r}; choose from: {', '.join(Runtime)}")
    if batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch}")
    if latency and not min_time_s >= 0:  # NaN too
        raise InputError(f"--min-time {min_time_s}: must be 0 or more seconds")
    needs = Runtime(runtime).module
    if latency and needs and importlib.util.find_spec(needs) is None:
        raise InputError(f"runtime {runtime} needs its extra: pip install 'lspd-bench[onnx]'")
    for key, value in (knobs or {}).items():  # knobs that are also configuration keys keep the config's ranges
        if key in FIELD_TYPES:
            check_value(key, value, where="knob")
    threads = validate_threads(threads)
    device = resolve_device(device)
    full = build_for_profile(name, joints, knobs or {})
    entry = get_entry(name)
    input_hw = tuple(input_hw or entry.default_input)
    check_input_size(full, name, input_hw)
    full.eval()
    shipped = full.deploy()
    measured = shipped if deploy else full
    timed = [(t, b) for t in threads for b in dict.fromkeys((1, batch))] if latency else []
    steps = ["counting parameters and MACs", "measuring peak memory"]
    steps += [f"timing {t} thread{'s' if t != 1 else ''}, batch {b}" for t, b in timed]

    def announce(i: int) -> None:
        if on_step is not None:
            on_step(steps[i], i, len(steps))

    announce(0)
    result: dict[str, Any] = {
        "model": name,
        "family": entry.family,
        "knobs": {**entry.knobs, **(knobs or {}), **({"num_joints": joints} if joints else {})},
        "input": list(input_hw),
        "measured": "deploy" if deploy else "full",
        "params": {"full": count_params(full), "deploy": count_params(shipped)},
        "macs": [c.to_dict() for c in count_macs(measured, input_hw)],
    }
    announce(1)
    result["memory"] = peak_forward_memory(measured, input_hw, batch=1, device=device)
    if latency:
        runs = []
        for i, (t, b) in enumerate(timed, start=2):
            announce(i)
            try:
                runs.append(
                    measure_latency(
                        measured,
                        input_hw,
                        batch=b,
                        threads=t,
                        runtime=runtime,
                        device=device,
                        warmup=warmup,
                        iters=iters,
                        min_time_s=min_time_s,
                    ).to_dict()
                )
            except RuntimeError as exc:  # e.g. the onnx extra missing, or torch.compile without a compiler
                raise InputError(f"runtime {runtime!r}: {exc}") from None
        result["latency"] = runs
    result["environment"] = environment(device)
    result["environment"]["torch_threads_default"] = torch.get_num_threads()
    result["conventions"] = list(CONVENTIONS)
    return result
