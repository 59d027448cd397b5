"""The environment a figure was measured in, recorded with every figure (docs/protocols.md, "Latency")."""

from __future__ import annotations

import os
import platform
import sys
from functools import lru_cache

#: Libraries whose versions go with every figure.
_VERSIONED = ("torch", "numpy", "fvcore", "ptflops", "pycocotools", "onnxruntime", "lspd-bench")


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux), or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the figures (absent ones are left out)."""
    from importlib import metadata  # here: `lspd-bench --help` imports this module and nothing heavy

    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


#: The variable that says which of the machine's GPUs a process sees, and in which order (CUDA's).
VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"


def _cpu_build_of_torch() -> bool:
    """Whether the installed torch is a CPU-only build (its version ends in ``+cpu``), known without importing it."""
    from importlib import metadata

    try:
        return metadata.version("torch").endswith("+cpu")
    except metadata.PackageNotFoundError:
        return True


def visible_gpus() -> tuple[str, ...]:
    """The GPUs torch can use here, each as ``CUDA_VISIBLE_DEVICES`` names it (its ids when it is set, else
    ``0``, ``1``, …): what a process is pinned to by setting that variable to some of them. None with a CPU
    build of torch, which is known without importing torch when nothing has imported it yet."""
    if "torch" not in sys.modules and _cpu_build_of_torch():
        return ()
    import torch

    if not torch.cuda.is_available():
        return ()
    count = torch.cuda.device_count()
    named = os.environ.get(VISIBLE_DEVICES)
    ids = [i.strip() for i in named.split(",") if i.strip()] if named is not None else []
    return tuple(ids[:count]) if named is not None else tuple(str(i) for i in range(count))


def environment(device: str = "cpu") -> dict:
    """Machine, device and library facts for a result file. On CUDA: the device with its index (``cuda:0``),
    the GPU's model, and ``CUDA_VISIBLE_DEVICES`` when set (which of the machine's GPUs ``cuda:0`` is)."""
    import torch

    env = {
        "device": device,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "libraries": library_versions(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        env["device"] = f"cuda:{index}"
        env["gpu"] = torch.cuda.get_device_name(index)
        if os.environ.get(VISIBLE_DEVICES) is not None:
            env["cuda_visible_devices"] = os.environ[VISIBLE_DEVICES]
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env
