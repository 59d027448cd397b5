"""Warm starts (the ``init`` key): a student's initial weights from a file, loaded by tensor name and shape.

``init`` is ``none`` (random weights from the run's seed), a shipped initialisation's name (a file
``lspd_bench/weights/init-<name>.pt``), or the path of a checkpoint or state-dict file: an lspd-bench
checkpoint (its ``model``), a file holding ``state_dict`` (PyTorch Lightning, MMPose) or ``model``, or a plain
state dict (timm, torch.save of ``state_dict()``). As timm's pretrained loading and MMPose's ``init_cfg`` do,
every tensor of the model whose name and shape match one in the file is copied. A first name part that all the
file's tensors share and the model has not (DistributedDataParallel's ``module.``, a Lightning module's
``model.``) is dropped first. Tensors whose shapes differ are skipped, and the rest keep the seed's random
values. A file that matches nothing is refused. A run is known by the file's fingerprint (its bytes'
SHA-256), so moving a file changes nothing and editing it makes another run.

Resolving names and fingerprints needs no torch (dry runs, matrix keys); loading imports it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lspd_bench.config import NO_INIT
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json
from lspd_bench.train.files import LAST
from lspd_bench.train.shipped import WEIGHTS_DIR

if TYPE_CHECKING:
    import torch.nn as nn

PREFIX = "init-"
#: The configuration key, as an identity holds it.
KEY = "init"
#: What a shipped initialisation's file says it is (its weights are under ``state_dict``).
FORMAT = "lspd-bench shipped init 1"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def shipped_inits(folder: Path | None = None) -> list[str]:
    """The names of the shipped initialisations."""
    return sorted(p.stem.removeprefix(PREFIX) for p in (folder or WEIGHTS_DIR).glob(f"{PREFIX}*.pt"))


def resolve_init(value: str, folder: Path | None = None) -> Path | None:
    """The file ``init=value`` names (None for ``none``): a shipped initialisation's, else a path.
    ``InputError`` naming the value when it is neither."""
    if value == NO_INIT:
        return None
    shipped = (folder or WEIGHTS_DIR) / f"{PREFIX}{value}.pt"
    if shipped.is_file():
        return shipped
    path = Path(value).expanduser()
    if path.is_file():
        return path
    names = ", ".join(shipped_inits(folder)) or "none yet"
    what = "is a folder, not a file" if path.is_dir() else "is neither a file nor a shipped initialisation"
    raise InputError(f"init={value}: {what} (shipped: {names}; or none)")


@functools.lru_cache(maxsize=64)
def _digest(path: str, _size: int, _mtime_ns: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()[:16]


def known_by_fingerprint(keys: dict[str, Any]) -> dict[str, Any]:
    """``keys`` (a run's identity or a cell's key) with a warm start's path replaced by its file's fingerprint."""
    return {**keys, KEY: init_fingerprint(keys[KEY])} if keys.get(KEY) not in (None, NO_INIT) else keys


def init_fingerprint(value: str, folder: Path | None = None) -> str | None:
    """What a run is known by for ``init=value``: ``sha256:<16 hex>`` of the file's bytes (None for ``none``)."""
    path = resolve_init(value, folder)
    if path is None:
        return None
    try:
        stat = path.stat()
        return f"sha256:{_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)}"
    except OSError as exc:
        raise InputError(f"init={value}: {path} cannot be read ({exc.strerror})") from None


def read_state_dict(value: str, folder: Path | None = None) -> dict[str, Any]:
    """The tensors of ``init=value``'s file by name (``InputError`` naming the file when it is not weights)."""
    import torch

    path = resolve_init(value, folder)
    assert path is not None, "init=none has no file"
    try:  # tensors and plain containers only: a file never runs code when it is read
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"init={value}: {path} cannot be read as weights ({type(exc).__name__})") from None
    for key in ("state_dict", "model"):  # a shipped initialisation, Lightning/MMPose, an lspd-bench checkpoint
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)} if isinstance(data, dict) else {}
    if not tensors:
        raise InputError(f"init={value}: {path} holds no tensors by name (not a checkpoint or a state dict)")
    return tensors


def _without_wrapper(source: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """``source``'s names without the first parts that all of them share and no name of the model starts with
    (DistributedDataParallel's ``module.``, a Lightning module's ``model.``), one part at a time."""
    while True:
        heads = {k.split(".", 1)[0] for k in source}
        head = heads.pop() if len(heads) == 1 else None
        if head is None or all("." not in k for k in source) or any(k.startswith(f"{head}.") for k in own):
            return source
        source = {k.split(".", 1)[1]: v for k, v in source.items()}


@dataclass(frozen=True)
class InitReport:
    """What a warm start loaded into a model, counted in tensors and in parameters (the learned ones)."""

    init: str  # the key's value: a shipped name or a path
    fingerprint: str
    loaded: int  # tensors copied (name and shape match)
    skipped: int  # names that match with another shape
    unused: int  # the file's tensors the model has no name for
    left: int  # the model's tensors (parameters and buffers) kept as the seed initialised them, skipped ones included
    params_loaded: int
    params_total: int

    def line(self) -> str:
        """The one line a run says about its warm start."""
        share = self.params_loaded / max(1, self.params_total)
        return (
            f"init={self.init} ({self.fingerprint}): loaded {self.loaded} tensors ({share:.0%} of the parameters), "
            f"skipped {self.skipped} of another shape, left {self.left} as the seed initialised them; "
            f"{self.unused} of the file's unused"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "line": self.line()}


def match_init(model: nn.Module, value: str, folder: Path | None = None) -> tuple[dict[str, Any], InitReport]:
    """The tensors of ``init=value`` that ``model`` takes (same name and shape), and what that amounts to.
    ``InputError`` when none matches: the file is for another model."""
    own = model.state_dict()
    source = _without_wrapper(read_state_dict(value, folder), own)
    params = dict(model.named_parameters())
    taken = {k: v for k, v in source.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    skipped = sum(1 for k, v in source.items() if k in own and k not in taken)
    report = InitReport(
        init=value,
        fingerprint=init_fingerprint(value, folder) or "",
        loaded=len(taken),
        skipped=skipped,
        unused=sum(1 for k in source if k not in own),
        left=len(own) - len(taken),
        params_loaded=sum(params[k].numel() for k in taken if k in params),
        params_total=sum(p.numel() for p in params.values()),
    )
    if not taken:
        raise InputError(
            f"init={value}: none of its {len(source)} tensors matches the model's names and shapes "
            f"({report.skipped} names match with another shape); is it a checkpoint of another model?"
        )
    return taken, report


def apply_init(model: nn.Module, value: str, folder: Path | None = None) -> InitReport | None:
    """Load ``init=value`` into ``model`` (see :func:`match_init`); None for ``none``."""
    if value == NO_INIT:
        return None
    taken, report = match_init(model, value, folder)
    model.load_state_dict(taken, strict=False)
    return report


def shipped_init_path(name: str, folder: Path | None = None) -> Path:
    """Where the initialisation ``name`` is shipped (``InputError`` for a name ``init=`` could not say)."""
    if not _NAME.fullmatch(name) or name == NO_INIT:
        raise InputError(f"--ship-init {name}: a name is lower-case letters, digits, - and _ (and not {NO_INIT})")
    return (folder or WEIGHTS_DIR) / f"{PREFIX}{name}.pt"


def ship_init(name: str, run_dir: Path, metrics: dict[str, Any], command: str, folder: Path | None = None) -> Path:
    """Write the finished run in ``run_dir`` (its ``last.pt``'s evaluated weights) as the shipped initialisation
    ``name``: the weights with their record, then the record alone in a JSON sidecar (each atomically).
    The record says how it was trained (the command, the run's identity) and what it scored."""
    from lspd_bench.train.checkpoint import load_checkpoint, save_checkpoint

    path = shipped_init_path(name, folder)
    state = {k: v.detach().to("cpu").contiguous() for k, v in load_checkpoint(Path(run_dir) / LAST)["model"].items()}
    record = {
        "name": name,
        "command": command,
        "run": metrics["run"],
        "identity": metrics["identity"],
        "headline_name": metrics["headline_name"],
        "headline": metrics["headline"],
        "deploy_stage": metrics["deploy_stage"],
        "train_seconds": metrics["train"]["seconds_total"],
    }
    save_checkpoint(path, {"format": FORMAT, "state_dict": state, "record": record})
    write_json(path.with_suffix(".json"), record)
    return path
