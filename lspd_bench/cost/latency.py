"""Model latency and throughput, measured as docs/protocols.md, "Latency" states.

Eval mode and ``torch.inference_mode``; a fixed, recorded thread count; warm-up, then timed iterations
one call at a time (at least ``iters`` calls and at least ``min_time_s`` seconds); median, p90, min and
IQR in ms. Pre-processing and decoding are not part of the figure. On CUDA each call is bracketed by
``torch.cuda.synchronize`` and cuDNN autotuning is on.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from lspd_bench.config import Runtime
from lspd_bench.errors import InputError


@dataclass(frozen=True)
class LatencyResult:
    """Per-call wall time of a model at one batch size (ms), with the conditions it was measured under."""

    median_ms: float
    p90_ms: float
    min_ms: float
    iqr_ms: float
    mean_ms: float
    iters: int
    warmup: int
    batch: int
    threads: int
    runtime: str
    device: str
    dtype: str
    memory_format: str

    @property
    def throughput(self) -> float:
        """Images per second at this batch size, from the median call time."""
        return self.batch * 1000.0 / self.median_ms

    def to_dict(self) -> dict:
        return {**asdict(self), "throughput_img_s": self.throughput}


@contextlib.contextmanager
def torch_threads(threads: int):
    """Run the block with ``torch.set_num_threads(threads)``; restore the previous count afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _onnxruntime_callable(model: nn.Module, x: torch.Tensor, threads: int) -> Callable[[], object]:
    """Export ``model`` to ONNX in memory and return a call that runs ``x`` through ONNX Runtime."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # the optional extra is missing
        raise RuntimeError("runtime onnxruntime needs the extra: pip install 'lspd-bench[onnx]'") from exc
    buf = io.BytesIO()
    # The TorchScript exporter needs no onnxscript; its deprecation warning is not the user's concern.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["image"], opset_version=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {"image": x.cpu().numpy()}
    return lambda: session.run(None, feed)


def prepare(model: nn.Module, x: torch.Tensor, runtime: str, threads: int) -> tuple[Callable[[], object], str]:
    """A zero-argument call that runs one forward pass in ``runtime``, and the memory format used."""
    if runtime not in tuple(Runtime):
        raise ValueError(f"unknown runtime {runtime!r}; choose from: {', '.join(Runtime)}")
    model.eval()
    if runtime == Runtime.ONNXRUNTIME:
        return _onnxruntime_callable(model, x, threads), "contiguous"
    memory_format = "contiguous"
    if runtime == Runtime.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        memory_format = "channels_last"
    if runtime == Runtime.COMPILE:
        model = torch.compile(model)

    def call():
        with torch.inference_mode():
            return model(x)

    return call, memory_format


#: Calls per turn when several models are timed together (``time_interleaved``).
BLOCK_CALLS = 5


def time_interleaved(
    calls: Sequence[Callable[[], object]],
    warmup: int,
    iters: int,
    min_time_s: float,
    cuda: bool,
    block: int = BLOCK_CALLS,
) -> list[np.ndarray]:
    """Per-call wall times in ms of several calls taking turns in blocks of ``block`` calls, so that each
    sees the same machine (a shared VM's speed drifts over seconds): ``warmup`` untimed calls each, then
    rounds until every call has ≥ ``iters`` times and ≥ ``min_time_s`` per call has passed."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for call in calls:
        for _ in range(warmup):
            call()
    sync()
    times: list[list[float]] = [[] for _ in calls]
    started = time.perf_counter()
    while len(times[0]) < iters or time.perf_counter() - started < min_time_s * len(calls):
        for call, out in zip(calls, times):
            for _ in range(block):
                t0 = time.perf_counter()
                call()
                sync()
                out.append((time.perf_counter() - t0) * 1000.0)
    return [np.asarray(t) for t in times]


@dataclass(frozen=True)
class Ratio:
    """How much slower one model is than another, from rounds in which the two took turns.

    Each round gives the ratio of the two models' fastest call in their blocks; ``ratio`` is the median over
    the rounds and ``low``/``high`` its distribution-free 95 % interval (order statistics of the median): the
    noise it covers is the machine's, during this measurement.
    """

    ratio: float
    low: float
    high: float
    rounds: int


def round_ratios(times: np.ndarray, reference: np.ndarray, block: int) -> np.ndarray:
    """Per round, the fastest call of ``times``' block over the fastest of ``reference``'s (as taken in turns)."""
    n = min(len(times), len(reference)) // block
    return times[: n * block].reshape(n, block).min(axis=1) / reference[: n * block].reshape(n, block).min(axis=1)


def median_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high): the median and its distribution-free interval from order statistics, the ranks
    where the binomial(n, ½) distribution leaves (1 − level)/2 on each side (the whole range up to n = 8,
    which covers less than 95 % below n = 6)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n, tail = len(x), (1 - level) / 2
    # [x[k], x[n-1-k]] covers the median with probability 1 − 2·P(B ≤ k): the largest k with P(B ≤ k) ≤ tail
    # is one below the binomial quantile (never exactly at it: its CDF takes dyadic values only).
    k = max(0, int(binom.ppf(tail, n, 0.5)) - 1)
    return float(np.median(x)), float(x[k]), float(x[n - 1 - k])


def measure_ratio(
    model: nn.Module, reference: nn.Module, input_hw: tuple[int, int], *, block: int = BLOCK_CALLS, **kwargs
) -> tuple[LatencyResult, LatencyResult, Ratio]:
    """Latency of ``model`` and of ``reference`` measured taking turns (keyword arguments as in
    ``measure_times``), and the ratio of the two with its interval over the rounds (:class:`Ratio`)."""
    (lat, ref), (times, ref_times) = measure_times([model, reference], input_hw, block=block, **kwargs)
    ratios = round_ratios(times, ref_times, block)
    return lat, ref, Ratio(*median_interval(ratios), len(ratios))


def measure_latency(model: nn.Module, input_hw: tuple[int, int], **kwargs) -> LatencyResult:
    """Latency of one forward pass of ``model`` on a ``batch``×3×H×W input (docs/protocols.md, "Latency"); keyword
    arguments as in ``measure_times``."""
    return measure_latencies([model], input_hw, **kwargs)[0]


def measure_latencies(models: Sequence[nn.Module], input_hw: tuple[int, int], **kwargs) -> list[LatencyResult]:
    """Latency of one forward pass of each of ``models``, taking turns; keyword arguments as in ``measure_times``."""
    return measure_times(models, input_hw, **kwargs)[0]


def measure_times(
    models: Sequence[nn.Module],
    input_hw: tuple[int, int],
    *,
    batch: int = 1,
    threads: int = 1,
    runtime: str = Runtime.EAGER,
    device: str = "cpu",
    warmup: int = 10,
    iters: int = 50,
    min_time_s: float = 1.0,
    seed: int = 0,
    block: int = BLOCK_CALLS,
) -> tuple[list[LatencyResult], list[np.ndarray]]:
    """Latency of one forward pass of each of ``models`` on the same ``batch``×3×H×W input, the models
    taking turns in blocks of ``block`` calls (``time_interleaved``), so that their ratio does not depend
    on when each was measured; and every model's per-call times (ms, in the order they were taken).

    ``threads`` is applied with ``torch.set_num_threads`` (and as ONNX Runtime's intra-op threads) for the
    measurement only. Models are put in eval mode; for ``channels_last`` they are converted in place.
    """
    if warmup < 10 or iters < 50:
        raise InputError(f"the protocol asks for ≥10 warm-up and ≥50 timed iterations, got {warmup}, {iters}")
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, *input_hw, generator=gen).to(device)
    with torch_threads(threads):
        prepared = [prepare(model.to(device), x, runtime, threads) for model in models]
        all_times = time_interleaved([call for call, _ in prepared], warmup, iters, min_time_s, cuda, block)
    results = []
    for times, (_, memory_format) in zip(all_times, prepared):
        q25, q50, q75, q90 = np.percentile(times, [25, 50, 75, 90])
        results.append(
            LatencyResult(
                median_ms=float(q50),
                p90_ms=float(q90),
                min_ms=float(times.min()),
                iqr_ms=float(q75 - q25),
                mean_ms=float(times.mean()),
                iters=len(times),
                warmup=warmup,
                batch=batch,
                threads=threads,
                runtime=runtime,
                device=device,
                dtype=str(x.dtype).replace("torch.", ""),
                memory_format=memory_format,
            )
        )
    return results, all_times
