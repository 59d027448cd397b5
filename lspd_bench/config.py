"""Configuration as data: one flat dataclass, YAML presets, ``key=value`` overrides and a canonical hash.

A run is fully described by a :class:`RunConfig`. Presets (``ci``, ``quick``, ``paper``) are YAML files
in ``lspd_bench/presets/``; a user's YAML file and ``key=value`` overrides are laid on top, in that order.
Override values are read as YAML scalars or flow sequences, so ``stages=3`` is an int, ``alpha=0.5`` a
float, ``block=lmrb`` a string and ``input_size=[256,192]`` a pair. Model knobs left at ``None`` take the
model's own default; :func:`resolve` fills them in, and the hash is taken over the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable

import yaml

from lspd_bench.errors import InputError

PRESET_DIR = Path(__file__).parent / "presets"

DISTILL_MODES = ("none", "teacher", "sequence", "teacher+sequence")
LOSSES = ("mse", "fg_mse")
SCHEDULES = ("multistep", "cosine")
DATASETS = ("synth", "mpii", "coco")
DEVICES = ("auto", "cpu", "cuda")
TEACHER_TARGETS = ("precomputed", "online")

#: Model knobs that are also config keys (the ablation axes); ``None`` = the model's default.
MODEL_KNOBS = ("stages", "block", "width", "depth", "width_growth", "blocks_per_level", "deploy_stage")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run and its evaluation.

    Units: ``input_size`` (H, W) px; ``lr`` per step of Adam; epochs are passes over the training split.
    """

    # data
    dataset: str = "synth"
    data_dir: str | None = None  # synth: generated here when missing (default: in the cache); mpii/coco: the root
    synth_preset: str = "quick"
    data_seed: int = 0  # the synthetic benchmark's seed (the dataset's identity, not the run's)
    coco_detections: str | None = None  # COCO val person boxes: a detection-results file; None = GT boxes
    det_score_threshold: float = 0.0
    input_size: tuple[int, int] = (128, 128)
    sigma: float | None = None  # heatmap Gaussian σ in heatmap px; None = 2 at 64×64, scaled with size
    aug_scale: float = 0.25
    aug_rot: float = 30.0
    aug_rot_prob: float = 0.6
    aug_flip: float = 0.5
    aug_half_body: float = 0.0
    # model
    model: str = "lspd-s"
    stages: int | None = None
    block: str | None = None
    width: int | None = None
    depth: int | None = None
    width_growth: float | None = None
    blocks_per_level: int | None = None
    deploy_stage: int | None = None
    # schedule
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "multistep"
    milestones: tuple[float, ...] = (0.7, 0.9)  # fractions of the epochs at which lr drops by lr_factor
    lr_factor: float = 0.1
    warmup_epochs: float = 0.0
    ema: float = 0.0  # decay of the weights' exponential moving average that is validated and saved; 0 = off
    # loss and distillation
    loss: str = "mse"
    fg_weight: float = 10.0  # fg_mse: weight = target_weight × (1 + fg_weight × target)
    stage_weights: tuple[float, ...] | None = None  # per-stage loss weights; None = 1 each
    distill: str = "none"
    alpha: float = 0.5
    teacher: str = "hourglass"
    teacher_stacks: int = 2
    teacher_features: int = 64
    teacher_epochs: int | None = None  # None = the student's epochs
    teacher_lr: float | None = None  # None = the student's lr (pre-activation hourglasses want a lower one)
    teacher_targets: str = "precomputed"  # precomputed (once, warped per sample) | online (forward per batch)
    # evaluation
    flip_test: bool = True
    # execution
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = True  # NHWC memory format for the model and its inputs
    compile: bool = False
    workers: int = 0
    cache_dir: str | None = None  # datasets and teachers; None = $LSPD_BENCH_CACHE or ~/.cache/lspd-bench

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    def model_knobs(self) -> dict[str, Any]:
        """The model constructor's overrides: the knobs set here (not None), plus the joint count."""
        return {k: getattr(self, k) for k in MODEL_KNOBS if getattr(self, k) is not None}

    def teacher_schedule(self) -> tuple[int, float]:
        """The teacher's (epochs, lr): ``teacher_epochs`` and ``teacher_lr`` when set, else the student's."""
        return self.teacher_epochs or self.epochs, self.teacher_lr or self.lr


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


FIELD_TYPES = {f.name: f.type for f in fields(RunConfig)}

#: Keys that say where or how fast a run happens, not what it computes: left out of its identity.
NON_IDENTITY_KEYS = ("data_dir", "cache_dir", "workers", "device")


def cache_root(cfg: RunConfig) -> Path:
    """Where shared work (generated datasets, trained teachers) is kept."""
    import os

    return Path(cfg.cache_dir or os.environ.get("LSPD_BENCH_CACHE") or Path.home() / ".cache" / "lspd-bench")


def parse_value(text: str) -> Any:
    """One override value, typed as YAML would type it (lists become tuples, so they can be hashed)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InputError(f"cannot parse value {text!r}") from None
    return tuple(value) if isinstance(value, list) else value


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["stages=3", "block=basic"]`` → ``{"stages": 3, "block": "basic"}``; malformed items raise ``InputError``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise InputError(f"override {item!r} is not of the form key=value")
        if key in out:
            raise InputError(f"override key {key!r} is given twice")
        out[key] = parse_value(value.strip())
    return out


def _coerce(key: str, value: Any, where: str) -> Any:
    """Check one value against the field's type; ints are accepted where floats are expected."""
    kind = FIELD_TYPES[key]
    if value is None:
        if "None" in kind:
            return None
        raise InputError(f"{where}: {key} may not be empty")
    if isinstance(value, list):
        value = tuple(value)
    ok: bool
    if kind.startswith("tuple"):
        inner = float if "float" in kind else int
        ok = isinstance(value, tuple) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if ok:
            value = tuple(inner(v) for v in value)
    elif kind.startswith("bool"):
        ok = isinstance(value, bool)
    elif kind.startswith("int"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:  # str
        ok = isinstance(value, str)
    if not ok:
        raise InputError(f"{where}: {key}={value!r} is not a valid {kind}")
    return value


def _check_choices(cfg: RunConfig) -> None:
    for key, choices in (("distill", DISTILL_MODES), ("loss", LOSSES), ("schedule", SCHEDULES),
                         ("dataset", DATASETS), ("teacher_targets", TEACHER_TARGETS)):  # fmt: skip
        if getattr(cfg, key) not in choices:
            raise InputError(f"{key}={getattr(cfg, key)!r} is not one of: {', '.join(choices)}")
    if not (cfg.device in DEVICES or cfg.device.startswith("cuda:")):
        raise InputError(f"device={cfg.device!r} is not one of: auto, cpu, cuda, cuda:N")
    if not 0.0 <= cfg.alpha <= 1.0:
        raise InputError(f"alpha={cfg.alpha} must be in [0, 1]")
    if not 0.0 <= cfg.ema < 1.0:
        raise InputError(f"ema={cfg.ema} must be in [0, 1) (0 = no weight averaging)")
    for key in ("epochs", "batch_size"):
        if getattr(cfg, key) < 1:
            raise InputError(f"{key}={getattr(cfg, key)} must be a positive integer")
    for key in ("lr", "teacher_lr"):
        value = getattr(cfg, key)
        if value is not None and value <= 0:
            raise InputError(f"{key}={value} must be positive")
    if len(cfg.input_size) != 2 or min(cfg.input_size) < 16:
        raise InputError(f"input_size={list(cfg.input_size)} must be [H, W] px, each at least 16")
    if cfg.workers < 0:
        raise InputError(f"workers={cfg.workers} must be 0 or more")


def preset_names() -> list[str]:
    """The presets shipped in ``lspd_bench/presets``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def read_yaml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML mapping from ``path``; an unreadable or non-mapping file is an ``InputError`` naming it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise InputError(f"{what} file {path} is not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{what} file {path} must hold a mapping of key: value")
    return data


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults ← preset ← YAML file ← overrides; every key and value checked (``InputError`` otherwise)."""
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset is not None:
        if preset not in preset_names():
            raise InputError(f"unknown preset {preset!r}; choose from: {', '.join(preset_names())}")
        layers.append((f"preset {preset}", read_yaml(PRESET_DIR / f"{preset}.yaml", "preset")))
    if config_file is not None:
        layers.append((str(config_file), read_yaml(config_file)))
    if overrides:
        layers.append(("override", dict(overrides)))
    values: dict[str, Any] = {}
    for where, layer in layers:
        for key, value in layer.items():
            if key not in FIELD_TYPES:
                raise InputError(f"{where}: unknown key {key!r}; valid keys: {', '.join(FIELD_TYPES)}")
            values[key] = _coerce(key, value, where)
    cfg = RunConfig(**values)
    _check_choices(cfg)
    return cfg


def replace(cfg: RunConfig, **changes: Any) -> RunConfig:
    """A copy of ``cfg`` with ``changes`` checked like overrides."""
    checked = {k: _coerce(k, v, "override") for k, v in changes.items()}
    out = dataclasses.replace(cfg, **checked)
    _check_choices(out)
    return out


def teacher_config(cfg: RunConfig) -> RunConfig:
    """The teacher's own run: same data and schedule (``teacher_epochs`` and ``teacher_lr`` when set), its own
    model, no distillation, seed 0.

    The seed is fixed so that every cell of a matrix, whatever its seed, learns from the same teacher.
    """
    cleared = {k: None for k in (*MODEL_KNOBS, "stage_weights")}
    epochs, lr = cfg.teacher_schedule()
    return replace(cfg, model=cfg.teacher, distill="none", seed=0, epochs=epochs, lr=lr, **cleared)


def identity_keys(cfg: RunConfig) -> dict[str, Any]:
    """The config's part of a run's identity: every key but those in ``NON_IDENTITY_KEYS``."""
    return {k: v for k, v in cfg.to_dict().items() if k not in NON_IDENTITY_KEYS}


def canonical_json(data: Any) -> str:
    """Sorted-key, compact JSON: the same content always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_jsonable)


def config_hash(data: Any, length: int = 12) -> str:
    """Hex SHA-256 prefix of ``canonical_json(data)``."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:length]
