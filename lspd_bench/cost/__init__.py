"""Cost of a model: parameters, MACs (fvcore, ptflops), latency, throughput and peak memory.

The names below load their module (and torch) on first use, so that ``lspd_bench.cost.counters`` stays
importable without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "LatencyResult": "latency",
    "Ratio": "latency",
    "measure_latencies": "latency",
    "measure_latency": "latency",
    "measure_ratio": "latency",
    "MacCount": "macs",
    "count_macs": "macs",
    "peak_forward_memory": "memory",
    "architecture_hash": "params",
    "count_params": "params",
    "profile_model": "profile",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
