"""Checkpoints: written atomically, read back with a clear error when they are not ours."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from lspd_bench.errors import InputError
from lspd_bench.fileio import write_bytes


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Serialise ``state`` with ``torch.save`` into memory, then write it atomically to ``path``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint` (on the CPU); ``InputError`` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file: say which, not how torch failed inside
        raise InputError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}); is it an lspd-bench checkpoint?"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise InputError(f"checkpoint {path} is not an lspd-bench checkpoint (no model or config in it)")
    return state
