"""Teachers shipped inside the package: trained once by ``lspd-bench teacher train --ship``, found by identity.

A shipped teacher is a plain state dict with its identity and record, in ``lspd_bench/weights/teacher-<key>.pt``,
and the same without the weights in ``teacher-<key>.json`` (read without importing torch: the plan of a dry
run). Its key is the hash of the teacher run's identity without the suite's version (the teacher model and
knobs, its schedule, the data settings and the dataset's fingerprint), so a cell uses it exactly when it would
have trained the same teacher; any other data or teacher config trains its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lspd_bench.config import config_hash
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
PREFIX = "teacher-"
FORMAT = "lspd-bench shipped teacher 1"
_VERSION_KEY = "suite_version"


def shipped_key(identity: dict[str, Any]) -> str:
    """The key a teacher run is shipped under: its identity's hash, the suite's version left out."""
    return config_hash({k: v for k, v in identity.items() if k != _VERSION_KEY})


def shipped_path(identity: dict[str, Any], folder: Path | None = None) -> Path:
    return (folder or WEIGHTS_DIR) / f"{PREFIX}{shipped_key(identity)}.pt"


def load_shipped(path: Path) -> dict[str, Any]:
    """A shipped teacher file's content (``state_dict``, ``identity``, ``record``); ``InputError`` naming the
    file when it is truncated, foreign, or its identity does not hash to its name."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(
            f"shipped teacher {path} cannot be read ({type(exc).__name__}); reinstall lspd-bench "
            f"or delete the file to train the teacher instead"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not {"state_dict", "identity"} <= set(data):
        raise InputError(f"shipped teacher {path} is not an lspd-bench teacher file ({FORMAT!r})")
    if shipped_path(data["identity"], path.parent) != path:
        raise InputError(f"shipped teacher {path}: its identity does not match its file name (edited or renamed?)")
    return data


def find_shipped(identity: dict[str, Any], folder: Path | None = None) -> dict[str, Any] | None:
    """The shipped teacher trained under ``identity`` (any suite version), or None."""
    path = shipped_path(identity, folder)
    return {**load_shipped(path), "path": str(path)} if path.is_file() else None


def shipped_files(folder: Path | None = None) -> list[Path]:
    return sorted((folder or WEIGHTS_DIR).glob(f"{PREFIX}*.pt"))


def _sidecars(folder: Path | None) -> list[tuple[Path, dict[str, Any]]]:
    """(weights file, sidecar content) of every shipped teacher whose sidecar reads as JSON."""
    out = []
    for path in shipped_files(folder):
        try:
            out.append((path, json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # the weights file itself is checked when it is used
    return out


def nearest_shipped(identity: dict[str, Any], folder: Path | None = None) -> tuple[Path, list[str]] | None:
    """The shipped teacher whose identity differs from ``identity`` in the fewest keys, and those keys
    (to say in one line why a cell trains its own), or None when nothing is shipped."""
    best: tuple[Path, list[str]] | None = None
    for path, side in _sidecars(folder):
        other = side["identity"]
        keys = sorted(k for k in set(identity) | set(other) if k != _VERSION_KEY and identity.get(k) != other.get(k))
        if best is None or len(keys) < len(best[1]):
            best = (path, keys)
    return best


def planned_shipped(config: dict[str, Any], folder: Path | None = None) -> Path | None:
    """The shipped teacher trained under this teacher config (``lspd_bench.config.identity_keys`` of
    ``teacher_config``), its data assumed to be the same; for plans, which must not import torch."""
    return next((path for path, side in _sidecars(folder) if side.get("config") == config), None)


def write_shipped(
    identity: dict[str, Any],
    config: dict[str, Any],
    state_dict: dict[str, Any],
    record: dict[str, Any],
    folder: Path | None = None,
) -> Path:
    """Write a teacher's weights, identity and record as a shipped teacher (weights file, then its JSON
    sidecar; each atomically); returns the weights file's path."""
    from lspd_bench.train.checkpoint import save_checkpoint

    state = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    path = save_checkpoint(
        shipped_path(identity, folder), {"format": FORMAT, "identity": identity, "state_dict": state, "record": record}
    )
    write_json(path.with_suffix(".json"), {"identity": identity, "config": config, "record": record})
    return path
