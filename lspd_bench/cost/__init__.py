"""Cost of a model: parameters, MACs (fvcore, ptflops), latency, throughput and peak memory."""

from lspd_bench.cost.latency import LatencyResult, Ratio, measure_latencies, measure_latency, measure_ratio
from lspd_bench.cost.macs import MacCount, count_macs
from lspd_bench.cost.memory import peak_forward_memory
from lspd_bench.cost.params import architecture_hash, count_params
from lspd_bench.cost.profile import profile_model

__all__ = [
    "LatencyResult",
    "MacCount",
    "Ratio",
    "architecture_hash",
    "count_macs",
    "count_params",
    "measure_latencies",
    "measure_latency",
    "measure_ratio",
    "peak_forward_memory",
    "profile_model",
]
