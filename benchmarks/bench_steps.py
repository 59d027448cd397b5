"""Faster training steps: what each lever buys in training images/s per cell, measured side by side.

    python benchmarks/bench_steps.py [--rounds 3] [--steps 20]

The cell is the quick preset's ``lspd-xs stages=2`` (fg_mse loss, Adam, the weights' moving average,
channels-last): each configuration trains ``--steps`` steps (after 5 warm-up steps) in a fresh process on
random images and targets of the right shapes, so the figure is the step's own speed (forward, backward,
optimiser, average), data loading left out (about 2,000 samples/s per process, ``bench_data.py``). The
configurations take turns in every round, and each round's figures are divided by that round's baseline:
machine load moves the rates, much less their ratios. The levers:

- ``bf16``: CPU autocast to bfloat16 (this machine's AVX512-BF16), the rest as the baseline;
- ``input 96``: a smaller input (the next size lspd-xs takes below 128: its sides are multiples of 32; σ would
  scale with the heatmap);
- ``batch 64``: twice the images per step;
- ``2 threads``: one cell on both cores, against ``2 cells × 1 thread``: two cells at once, each on one
  thread (the suite's default slots), counted per cell and for the pair;
- ``compile``: ``torch.compile`` of the model (the ``compile`` key; inductor's C++ kernels), its compilation
  in the warm-up steps and timed apart (``first_steps_seconds``): a cell pays it once;
- combinations of the levers that held alone: ``input 96 + compile`` and ``input 96 + batch 64``.

It also times the validation's forward passes (no flip, the quick preset's validation people at the training's
batch) and gives their share of an epoch (the quick preset's training people): a lower bound of what validating
every epoch costs, since decoding and scoring are left out (``val_seconds`` of a run's history has the whole).
Writes ``benchmarks/results/steps.json``. About 5 minutes on 2 cores; use an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import machine, save

CONFIGS: dict[str, dict] = {
    "baseline": {},
    "bf16": {"bf16": True},
    "input 96": {"size": 96},
    "batch 64": {"batch": 64},
    "2 threads": {"threads": 2},
    "compile": {"compile": True},
    "input 96 + compile": {"size": 96, "compile": True},
    "input 96 + batch 64": {"size": 96, "batch": 64},
}
PAIR = "2 cells × 1 thread"
BASE = {"size": 128, "batch": 32, "threads": 1, "bf16": False, "compile": False, "stages": 2, "warmup": 5}


def child(spec: dict) -> dict:
    """Time ``spec['steps']`` training steps in this process (and one validation pass for the baseline)."""
    import torch

    from lspd_bench.config import load_config
    from lspd_bench.models import build
    from lspd_bench.train.losses import as_stage_list, make_loss, stage_losses
    from lspd_bench.train.loop import WeightAverage

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    cfg = load_config("quick")
    model = build(cfg.model, stages=spec["stages"], num_joints=16).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    average = WeightAverage(model, cfg.ema)
    loss_fn = make_loss(cfg.loss, cfg.fg_weight)
    n, s = spec["batch"], spec["size"]
    images = torch.randn(n, 3, s, s).contiguous(memory_format=torch.channels_last)
    target = torch.rand(n, 16, s // 4, s // 4)
    weight = torch.ones(n, 16, 1)

    net = torch.compile(model) if spec["compile"] else model

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec["bf16"]):
            heatmaps = [h.float() for h in as_stage_list(net(images))]
            total = sum(stage_losses(heatmaps, target, weight, loss_fn))
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        average.update(model)

    model.train()
    started = time.perf_counter()
    for _ in range(spec["warmup"]):
        step()
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(spec["steps"]):
        step()
    out = {"images_per_s": spec["steps"] * n / (time.perf_counter() - started), "first_steps_seconds": first}
    if spec.get("validate"):
        model.eval()
        with torch.no_grad():
            model(images)
            started = time.perf_counter()
            for _ in range(5):
                model(images)
        out["val_images_per_s"] = 5 * n / (time.perf_counter() - started)
    return out


def launch(spec: dict) -> subprocess.Popen:
    threads = str(spec["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"a timed configuration failed ({proc.returncode})")
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    from lspd_bench.data.synth import preset

    rates: dict[str, list[float]] = {name: [] for name in [*CONFIGS, PAIR]}
    ratios: dict[str, list[float]] = {name: [] for name in rates}
    pair_total: list[float] = []
    val_rates: list[float] = []
    first_steps: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        order = list(CONFIGS) if r % 2 == 0 else list(reversed(CONFIGS))  # neither end always first
        round_rates: dict[str, float] = {}
        for name in order:
            spec = {**BASE, **CONFIGS[name], "steps": args.steps, "validate": name == "baseline"}
            got = result(launch(spec))
            round_rates[name] = got["images_per_s"]
            first_steps[name].append(got["first_steps_seconds"])
            if "val_images_per_s" in got:
                val_rates.append(got["val_images_per_s"])
        pair = [launch({**BASE, "steps": args.steps}) for _ in range(2)]
        both = [result(p)["images_per_s"] for p in pair]
        round_rates[PAIR] = statistics.mean(both)
        pair_total.append(sum(both))
        for name, rate in round_rates.items():
            rates[name].append(rate)
            ratios[name].append(rate / round_rates["baseline"])
        print(
            f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v:.0f}" for k, v in round_rates.items()),
            file=sys.stderr,
        )

    quick = preset("quick")
    train_s = quick.n_train / statistics.median(rates["baseline"])
    val_s = quick.n_val / statistics.median(val_rates)
    save(
        "steps",
        {
            "command": "python benchmarks/bench_steps.py",
            "cell": "lspd-xs stages=2 at the quick preset (128x128, batch 32, fp32, channels-last, 1 thread)",
            "convention": "training images/s of the step alone (random data), median over rounds; ratio = the "
            "median of each round's rate / that round's baseline, measured side by side",
            "rounds": args.rounds,
            "steps": args.steps,
            "images_per_s": {k: round(statistics.median(v), 1) for k, v in rates.items()},
            "ratio_to_baseline": {k: round(statistics.median(v), 3) for k, v in ratios.items()},
            "ratio_range": {k: [round(min(v), 3), round(max(v), 3)] for k, v in ratios.items()},
            "pair_images_per_s_total": round(statistics.median(pair_total), 1),
            "first_steps_seconds": {k: round(statistics.median(v), 1) for k, v in first_steps.items()},
            "validation": {
                "val_people": quick.n_val,
                "train_people": quick.n_train,
                "val_images_per_s": round(statistics.median(val_rates), 1),
                "forward_only_share_of_epoch": round(val_s / (train_s + val_s), 3),
            },
            "target": "ratio_to_baseline >= 1.5 for the levers taken",
            "machine": machine(),
        },
    )


if __name__ == "__main__":
    main()
