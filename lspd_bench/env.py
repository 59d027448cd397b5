"""The environment a figure was measured in, recorded with every figure (docs/protocols.md, "Latency")."""

from __future__ import annotations

import importlib.metadata
import os
import platform
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
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def environment(device: str = "cpu") -> dict:
    """Machine, device and library facts for a result file."""
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
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env
