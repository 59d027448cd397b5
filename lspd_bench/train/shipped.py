"""Teachers shipped inside the package: trained once by ``lspd-bench teacher train --ship``, found by identity.

A shipped teacher is a plain state dict with its identity and record, in ``lspd_bench/weights/teacher-<key>.pt``,
and the same without the weights in ``teacher-<key>.json`` (read without importing torch: the plan of a dry
run). Its key is the hash of the teacher run's identity without the suite's version (the teacher model and
knobs, its schedule, the data settings and the dataset's fingerprint), so a cell uses it exactly when it would
have trained the same teacher; any other data or teacher config trains its own.

When a version of the suite retires a configuration key (``lspd_bench.config.RETIRED_KEYS``: ``amp`` became
``precision``), every identity changes, and so every shipped teacher's key: :func:`migrate_shipped` files each
one again under the identity this version gives its run, with the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lspd_bench.config import config_hash, current_keys
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


def migrate_shipped(path: Path) -> Path:
    """File the shipped teacher ``path`` again under the identity this version gives its run: its identity and
    its sidecar's config with each retired key read as this version's (``lspd_bench.config.current_keys``), the
    same weights (checked tensor by tensor), and its record's ``identity_hash`` that identity's, with the file
    it was shipped as (``renamed_from``). The old weights file and sidecar are removed. Returns the new weights
    file; ``path`` itself when its identity is already this version's."""
    import torch

    data = load_shipped(path)
    side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    identity, config = current_keys(data["identity"]), current_keys(side["config"])
    if identity == data["identity"] and config == side["config"]:
        return path
    record = {**data["record"], "identity_hash": config_hash(identity), "renamed_from": path.name}
    new = write_shipped(identity, config, data["state_dict"], record, path.parent)
    written = load_shipped(new)["state_dict"]
    if set(written) != set(data["state_dict"]):
        raise RuntimeError(f"{new}: its tensors are not {path}'s")  # never: the same tensors were saved
    for name, tensor in data["state_dict"].items():
        if not (written[name].dtype == tensor.dtype and torch.equal(written[name], tensor)):
            raise RuntimeError(f"{new}: tensor {name} differs from {path}'s")  # never: the same tensors were saved
    if new != path:
        path.unlink()
        path.with_suffix(".json").unlink()
    return new
