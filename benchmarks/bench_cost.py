"""Cost-profiler benchmarks (issue: foundation). Run on an idle machine: `nox -s benchmarks`.

1. Latency agrees with torch.utils.benchmark.Timer's median (same model, same threads) within 5%; the two
   harnesses take turns, so that the machine's drift is not counted as a disagreement.
2. Five repeated `lspd-bench profile` runs at 1 thread: medians within 5% of each other.
3. Parameters and both MAC counts for every registered model: under 20 s in all.

Prints one JSON document and writes it to benchmarks/results/cost.json.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.utils.benchmark as tb
from common import machine, run_cli, save

from lspd_bench.cost import count_macs, count_params, measure_latency
from lspd_bench.models import build, list_models

MODELS = [("lspd-s", (256, 256)), ("litehrnet-18", (256, 192)), ("simplebaseline-mbv2", (256, 192))]


def timer_agreement(threads: int = 1, rounds: int = 3) -> list[dict]:
    """Our median against ``torch.utils.benchmark.Timer``'s on the same model, input and threads.

    The two harnesses take turns (``rounds`` × 1 s each) and the medians of the rounds are compared, so
    that a drift of the machine's speed between two long measurements is not read as a disagreement.
    """
    rows = []
    for name, hw in MODELS:
        model = build(name).eval().deploy()
        x = torch.randn(1, 3, *hw)
        timer = tb.Timer(
            stmt="with torch.inference_mode():\n    model(x)",
            globals={"model": model, "x": x, "torch": torch},
            num_threads=threads,
        )
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(measure_latency(model, hw, threads=threads, min_time_s=1.0).median_ms)
            theirs.append(timer.blocked_autorange(min_run_time=1.0).median * 1000.0)
        a, b = statistics.median(ours), statistics.median(theirs)
        rows.append(
            {
                "model": name,
                "input": list(hw),
                "threads": threads,
                "ours_median_ms": a,
                "timer_median_ms": b,
                "rounds_ours_ms": ours,
                "rounds_timer_ms": theirs,
                "ratio": a / b,
                "within_5pct": abs(a / b - 1) <= 0.05,
            }
        )
    return rows


def repeated_profiles(n: int = 5, model: str = "lspd-s") -> dict:
    medians, minima = [], []
    for _ in range(n):
        profile, _ = run_cli(["profile", model, "--threads", "1", "--batch", "1"])
        medians.append(profile["latency"][0]["median_ms"])
        minima.append(profile["latency"][0]["min_ms"])
    spread = max(medians) / min(medians) - 1
    return {
        "model": model,
        "threads": 1,
        "medians_ms": medians,
        "max_over_min_minus_1": spread,
        "minima_ms": minima,
        "within_5pct": spread <= 0.05,
    }


def zoo_counting_time() -> dict:
    per_model = {}
    started = time.perf_counter()
    for entry in list_models():
        t0 = time.perf_counter()
        model = entry.factory()
        count_params(model)
        count_macs(model.deploy(), entry.default_input)
        per_model[entry.name] = time.perf_counter() - t0
    total = time.perf_counter() - started
    return {
        "models": len(per_model),
        "total_s": total,
        "per_model_s": per_model,
        "under_20s": total < 20.0,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    result = {
        "timer_agreement": timer_agreement(),
        "repeated_profiles": repeated_profiles(),
        "zoo_counting": zoo_counting_time(),
        "machine": machine(),
    }
    save("cost", result)


if __name__ == "__main__":
    main()
