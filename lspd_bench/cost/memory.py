"""Peak memory of one forward pass."""

from __future__ import annotations

import contextlib
import os
import sys

import torch
import torch.nn as nn


@contextlib.contextmanager
def _quiet_fd(fd: int):
    """Silence a file descriptor for the block (the CPU profiler's C++ layer writes status lines to it)."""
    try:
        stream = sys.__stderr__ if fd == 2 else sys.__stdout__
        if stream is not None:
            stream.flush()
        saved = os.dup(fd)
    except (OSError, ValueError):  # no real descriptor (e.g. an embedded interpreter)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def peak_forward_memory(model: nn.Module, input_hw: tuple[int, int], batch: int = 1, device: str = "cpu") -> dict:
    """Peak memory (bytes) that one eval-mode forward pass allocates above the weights and the input.

    On CUDA: ``torch.cuda.max_memory_allocated`` after a reset. On CPU: the allocator events of the
    PyTorch profiler (``profile_memory=True``), summed in time order; the peak of that running sum.
    Also returns the bytes of the parameters and buffers and of the input, so that the total resident
    figure can be had by adding them up.
    """
    model = model.to(device).eval()
    x = torch.randn(batch, 3, *input_hw, device=device)
    weights = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.inference_mode():
            model(x)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        method = "torch.cuda.max_memory_allocated"
    else:
        from torch.profiler import ProfilerActivity, profile

        with _quiet_fd(2), _quiet_fd(1), torch.inference_mode():
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                model(x)
        events = sorted(
            (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
            key=lambda e: e.start_ns(),
        )
        running = peak = 0
        for e in events:
            running += e.nbytes()
            peak = max(peak, running)
        method = "torch.profiler allocator events (CPU)"
    return {
        "peak_activation_bytes": int(peak),
        "weights_bytes": int(weights),
        "input_bytes": int(x.numel() * x.element_size()),
        "batch": batch,
        "device": device,
        "method": method,
    }
