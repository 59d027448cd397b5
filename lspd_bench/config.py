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
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from lspd_bench.errors import InputError

PRESET_DIR = Path(__file__).parent / "presets"


class Distill(StrEnum):
    """What the pose stages learn from besides the ground truth (the ``distill`` key)."""

    NONE = "none"
    TEACHER = "teacher"  # every stage from the teacher's heatmaps
    SEQUENCE = "sequence"  # each stage from the next one; the last from the ground truth alone
    TEACHER_SEQUENCE = "teacher+sequence"  # each stage from the next one; the last from the teacher

    @property
    def uses_teacher(self) -> bool:
        return self in (Distill.TEACHER, Distill.TEACHER_SEQUENCE)

    @property
    def uses_sequence(self) -> bool:
        return self in (Distill.SEQUENCE, Distill.TEACHER_SEQUENCE)


class Loss(StrEnum):
    MSE = "mse"
    FG_MSE = "fg_mse"


class Schedule(StrEnum):
    MULTISTEP = "multistep"
    COSINE = "cosine"


class SynthPreset(StrEnum):
    """The synthetic benchmark's sizes and difficulty (``synth_preset``; ``lspd_bench.data.synth.PRESETS``)."""

    CI = "ci"
    QUICK = "quick"
    STANDARD = "standard"


class Boxes(StrEnum):
    """Where COCO's validation person boxes come from (stated with every AP)."""

    GT = "gt"  # the ground truth's: inflates AP compared with the detector protocol
    DETECTIONS = "detections"  # a person detector's results: the standard protocol


class Metric(StrEnum):
    """How a dataset's validation split is scored (its evaluator: ``lspd_bench.evaluation.evaluators``)."""

    PCKH = "pckh"  # MPII's PCKh
    AP = "ap"  # COCO's keypoint AP


class Dataset(StrEnum):
    SYNTH = "synth"
    MPII = "mpii"
    COCO = "coco"

    @property
    def metric(self) -> Metric:
        return Metric.AP if self is Dataset.COCO else Metric.PCKH


class TeacherTargets(StrEnum):
    PRECOMPUTED = "precomputed"  # the teacher's heatmaps of each training crop, computed once and warped
    ONLINE = "online"  # the teacher run on every augmented batch


class Precision(StrEnum):
    """The arithmetic a run trains in (the ``precision`` key); evaluation is always in fp32."""

    AUTO = "auto"  # fp16 with a gradient scaler on CUDA, fp32 elsewhere
    FP32 = "fp32"
    BF16 = "bf16"  # autocast to bfloat16: a CUDA GPU or a CPU that supports it
    FP16 = "fp16"  # autocast to float16 with a gradient scaler: CUDA only


class Runtime(StrEnum):
    """How a model's forward pass is run when it is timed (``profile --runtime``; not a run's key)."""

    EAGER = "eager"
    CHANNELS_LAST = "channels_last"  # eager, model and input in NHWC
    COMPILE = "compile"  # torch.compile
    ONNXRUNTIME = "onnxruntime"  # exported to ONNX, run by onnxruntime (the ``onnx`` extra)

    @property
    def module(self) -> str | None:
        """The module it needs beyond the suite's own dependencies."""
        return "onnxruntime" if self is Runtime.ONNXRUNTIME else None


#: The families a configuration key belongs to (``_key``).
KEY_FAMILIES = ("data", "augmentation", "model", "schedule", "loss", "distill", "evaluation", "execution")
DEVICES = ("auto", "cpu", "cuda")
#: Seeds as numpy takes them (32-bit unsigned), and as ``within`` writes that interval.
SEED_RANGE = (0, 2**32 - 1)
SEEDS = f"[{SEED_RANGE[0]}, {SEED_RANGE[1]}]"


#: The ``init`` value of a student that starts from random weights (its seed's).
NO_INIT = "none"


def _uses_teacher(cfg: RunConfig) -> bool:
    return cfg.distill.uses_teacher


def _distills(cfg: RunConfig) -> bool:
    return cfg.distill is not Distill.NONE


def _key(
    default: Any,
    family: str,
    *,
    identity: bool = True,
    applies: Callable[[RunConfig], bool] | None = None,
    sep: str = ",",
    within: str | None = None,
    choices: type[StrEnum] | None = None,
    quiet_default: bool = False,
    help: str = "",
) -> Any:  # noqa: A002 (the word the docs use)
    """A configuration key and its role, declared once (dataclass field metadata).

    ``family``: one of ``KEY_FAMILIES``; ``identity``: whether the key changes what a run computes (data_dir,
    cache_dir, workers and device do not); ``applies``: when the key matters (``alpha`` only when distilling;
    otherwise it is left out of the run's identity and its results column is empty); ``sep``: how a pair or
    list is written in the results table (``input_size`` as ``128x128``); ``within``: the interval a number
    (or each number of a pair or list) must lie in, written ``[low, high)`` with ``inf`` for no bound (NaN is
    never within); ``choices``: the enum of the values a text key may take (a config holds its members);
    ``quiet_default``: the key is left out of a run's identity and of a cell's key while it holds its default
    (a key added after runs were filed, so that their names stay valid); ``help``: what the key means, with its
    units (the configuration reference of the docs is generated from these declarations).
    """
    assert family in KEY_FAMILIES, family
    bounds = _interval(within) if within else None
    return field(
        default=default,
        metadata={
            "family": family,
            "identity": identity,
            "applies": applies,
            "sep": sep,
            "within": within,
            "bounds": bounds,
            "enum": choices,
            "choices": tuple(choices) if choices else None,
            "quiet_default": quiet_default,
            "help": help,
        },
    )


def _interval(text: str) -> tuple[float, bool, float, bool]:
    """``"[0, 1)"`` → ``(0.0, True, 1.0, False)``: low, low included, high, high included."""
    low, high = text[1:-1].split(",")
    return float(low), text[0] == "[", float(high), text[-1] == "]"


def _within(value: float, bounds: tuple[float, bool, float, bool]) -> bool:
    low, low_in, high, high_in = bounds
    above = value >= low if low_in else value > low
    below = value <= high if high_in else value < high
    return above and below  # both False for NaN


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run and its evaluation.

    Units: ``input_size`` (H, W) px; ``lr`` per step of Adam; epochs are passes over the training split.
    Every field declares its role with :func:`_key`: the results table's columns, the regression gate's
    matching, the report's axes and the cell identity are all derived from these declarations.
    """

    # data
    dataset: Dataset = _key(
        Dataset.SYNTH,
        "data",
        choices=Dataset,
        help="the benchmark: the generated synthetic one, or MPII or COCO read from data_dir",
    )
    data_dir: str | None = _key(
        None,
        "data",
        identity=False,
        help="synth: generated here when missing (default: in the cache); mpii/coco: the dataset's root folder",
    )
    synth_preset: SynthPreset = _key(
        SynthPreset.QUICK,
        "data",
        choices=SynthPreset,
        help="size and difficulty of the synthetic benchmark: ci, quick or standard",
    )
    data_seed: int = _key(
        0, "data", within=SEEDS, help="the synthetic benchmark's seed (the dataset's identity, not the run's)"
    )
    coco_detections: str | None = _key(
        None, "data", help="COCO validation person boxes: a detection-results file; null = the ground-truth boxes"
    )
    det_score_threshold: float = _key(
        0.0, "data", within="[0, 1]", help="COCO: detections below this score are dropped"
    )
    input_size: tuple[int, int] = _key(
        (128, 128),
        "evaluation",
        sep="x",
        within="[16, inf)",
        help="network input [H, W] or HxW in px; both multiples of the model's stride",
    )
    sigma: float | None = _key(
        None,
        "loss",
        within="(0, inf)",
        help="heatmap Gaussian σ in heatmap px; null = 2 at 64×64 heatmaps, scaled with the size",
    )
    aug_scale: float = _key(
        0.25, "augmentation", within="[0, 1)", help="random scaling of the person box: ± this fraction"
    )
    aug_rot: float = _key(30.0, "augmentation", within="[0, 180]", help="random rotation: up to ± this many degrees")
    aug_rot_prob: float = _key(0.6, "augmentation", within="[0, 1]", help="probability that a sample is rotated")
    aug_flip: float = _key(
        0.5, "augmentation", within="[0, 1]", help="probability of a horizontal flip (left and right joints swapped)"
    )
    aug_half_body: float = _key(
        0.0, "augmentation", within="[0, 1]", help="probability of cropping to the upper or lower body"
    )
    # model
    model: str = _key("lspd-s", "model", help="a registered model (`lspd-bench models`)")
    stages: int | None = _key(None, "model", within="[1, inf)", help="LSPD: pose stages K; null = the model's default")
    block: str | None = _key(
        None, "model", help="LSPD: the stages' block type (`lspd-bench models` lists them); null = the model's default"
    )
    width: int | None = _key(
        None, "model", within="[1, inf)", help="LSPD: channels C of the stages; null = the model's default"
    )
    depth: int | None = _key(
        None,
        "model",
        within="[1, inf)",
        help="LSPD: encoder levels D of a stage (input sides a multiple of 4·2^D); null = the model's default",
    )
    width_growth: float | None = _key(
        None,
        "model",
        within="(0, inf)",
        help="LSPD: width factor per encoder level (1 = the same width everywhere); null = the model's default",
    )
    blocks_per_level: int | None = _key(
        None, "model", within="[1, inf)", help="LSPD: blocks at each level of a stage; null = the model's default"
    )
    deploy_stage: int | None = _key(
        None, "model", within="[1, inf)", help="the stage kept at deployment and scored as the headline; null = 1"
    )
    # schedule
    epochs: int = _key(10, "schedule", within="[1, inf)", help="passes over the training split")
    batch_size: int = _key(
        32, "schedule", within="[1, inf)", help="images per step (split over the processes of a distributed run)"
    )
    lr: float = _key(1e-3, "schedule", within="(0, inf)", help="learning rate of Adam, per step")
    weight_decay: float = _key(0.0, "schedule", within="[0, inf)", help="Adam's L2 weight decay")
    schedule: Schedule = _key(
        Schedule.MULTISTEP,
        "schedule",
        choices=Schedule,
        help="learning-rate schedule: steps at the milestones, or a cosine decay",
    )
    milestones: tuple[float, ...] = _key(
        (0.7, 0.9),
        "schedule",
        within="[0, 1]",
        help="multistep: fractions of the epochs where lr is multiplied by lr_factor",
    )
    lr_factor: float = _key(0.1, "schedule", within="(0, inf)", help="multistep: the factor at each milestone")
    warmup_epochs: float = _key(
        0.0, "schedule", within="[0, inf)", help="linear warm-up of the learning rate, in epochs"
    )
    init: str = _key(
        NO_INIT,
        "schedule",
        quiet_default=True,
        help="the student's initial weights: none (random, from the seed), a checkpoint or state-dict file, or a "
        "shipped initialisation's name; tensors are loaded by name and shape, and a run is known by the file's "
        "fingerprint, not its path",
    )
    val_every: int = _key(
        1,
        "evaluation",
        identity=False,
        quiet_default=True,
        within="[0, inf)",
        help="validate every this many epochs (no flip test; the learning curve), and after the last; 0 = only "
        "after the last (buys steps: validation is a share of each epoch's time)",
    )
    ema: float = _key(
        0.0,
        "schedule",
        within="[0, 1)",
        help="decay of the weights' moving average that is validated and saved; 0 = off",
    )
    # loss and distillation
    loss: Loss = _key(
        Loss.MSE, "loss", choices=Loss, help="heatmap loss: mse, or fg_mse (foreground pixels weighted up)"
    )
    fg_weight: float = _key(
        10.0, "loss", within="[0, inf)", help="fg_mse: weight = target_weight × (1 + fg_weight × target)"
    )
    stage_weights: tuple[float, ...] | None = _key(
        None, "loss", within="[0, inf)", help="per-stage loss weights, one per stage; null = 1 each"
    )
    distill: Distill = _key(
        Distill.NONE,
        "distill",
        choices=Distill,
        help="what the stages learn from besides the ground truth: a teacher, the next stage, or both",
    )
    alpha: float = _key(
        0.5,
        "distill",
        applies=_distills,
        within="[0, 1]",
        help="weight of the distillation target against the ground truth",
    )
    teacher: str = _key("hourglass", "distill", applies=_uses_teacher, help="the teacher model (a registered model)")
    teacher_stacks: int = _key(2, "distill", applies=_uses_teacher, within="[1, inf)", help="hourglass teacher: stacks")
    teacher_features: int = _key(
        64, "distill", applies=_uses_teacher, within="[1, inf)", help="hourglass teacher: channels"
    )
    teacher_epochs: int | None = _key(
        None, "distill", applies=_uses_teacher, within="[1, inf)", help="the teacher's epochs; null = the student's"
    )
    teacher_lr: float | None = _key(
        None,
        "distill",
        applies=_uses_teacher,
        within="(0, inf)",
        help="the teacher's learning rate; null = the student's",
    )
    teacher_batch_size: int | None = _key(
        None,
        "distill",
        applies=_uses_teacher,
        within="[1, inf)",
        quiet_default=True,
        help="the teacher's batch size; null = the student's",
    )
    teacher_targets: TeacherTargets = _key(
        TeacherTargets.PRECOMPUTED,
        "distill",
        applies=_uses_teacher,
        choices=TeacherTargets,
        help="teacher heatmaps computed once per sample (precomputed) or at every step on the augmented image (online)",
    )
    # evaluation
    flip_test: bool = _key(
        True,
        "evaluation",
        help="average the heatmaps of the image and its mirror at evaluation, as published numbers do",
    )
    # execution
    seed: int = _key(0, "execution", within=SEEDS, help="the run's seed: initial weights, sample order, augmentation")
    device: str = _key("auto", "execution", identity=False, help="auto, cpu, cuda or cuda:N")
    precision: Precision = _key(
        Precision.AUTO,
        "execution",
        choices=Precision,
        quiet_default=True,
        help="the arithmetic of training: auto (fp16 with a gradient scaler on CUDA, fp32 elsewhere), fp32, bf16 "
        "(CUDA, or a CPU with bfloat16 support) or fp16 (CUDA only); evaluation is in fp32",
    )
    channels_last: bool = _key(True, "execution", help="NHWC memory format for the model and its inputs")
    compile: bool = _key(False, "execution", help="torch.compile the model")
    workers: int | None = _key(
        None,
        "execution",
        identity=False,
        within="[0, inf)",
        help="data-loading processes; null = what keeps up: none on the CPU, on CUDA one per CPU thread of the "
        "run (at most 8)",
    )
    cache_dir: str | None = _key(
        None,
        "execution",
        identity=False,
        help="shared work (datasets, teachers); null = $LSPD_BENCH_CACHE or ~/.cache/lspd-bench",
    )

    def __post_init__(self) -> None:
        for f in fields(self):  # a closed choice is held as its enum's member, whoever built the config
            kind, value = f.metadata["enum"], getattr(self, f.name)
            if kind is not None and not isinstance(value, kind):
                object.__setattr__(self, f.name, kind(value))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    def model_knobs(self) -> dict[str, Any]:
        """The model constructor's overrides: the knobs set here (not None), plus the joint count."""
        return {k: getattr(self, k) for k in MODEL_KNOBS if getattr(self, k) is not None}

    def teacher_schedule(self) -> tuple[int, float]:
        """The teacher's (epochs, lr): ``teacher_epochs`` and ``teacher_lr`` when set, else the student's."""
        return self.teacher_epochs or self.epochs, self.teacher_lr or self.lr


_FIELDS = {f.name: f for f in fields(RunConfig)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    return list(value) if isinstance(value, tuple) else value


FIELD_TYPES = {k: f.type for k, f in _FIELDS.items()}
#: The family of every key (data, model, schedule, …), as declared.
FAMILY_OF = {k: f.metadata["family"] for k, f in _FIELDS.items()}
#: Model knobs that are also config keys (the model family's keys but the model's name); None = its default.
MODEL_KNOBS = tuple(k for k, family in FAMILY_OF.items() if family == "model" and k != "model")
#: Keys that say where or how fast a run happens, not what it computes: left out of its identity.
NON_IDENTITY_KEYS = tuple(k for k, f in _FIELDS.items() if not f.metadata["identity"])
#: Keys that are part of a run's identity, in declaration order: the configuration columns of a results table.
IDENTITY_KEYS = tuple(k for k, f in _FIELDS.items() if f.metadata["identity"])
#: Keys left out of identities and cell keys while at their default (added after runs were filed).
QUIET_DEFAULTS = {k: f.default for k, f in _FIELDS.items() if f.metadata["quiet_default"]}
#: Each key's kind of value: int, float, bool or str (pairs and lists count as str: a table writes ``64x64``).
KIND_OF = {
    k: "str" if t.startswith("tuple") or _FIELDS[k].metadata["enum"] else t.split(" ")[0]
    for k, t in FIELD_TYPES.items()
}
#: Keys whose values are numbers (int or float, not bool): ordered axes, plotted on an x axis.
NUMERIC_KEYS = tuple(k for k, kind in KIND_OF.items() if kind in ("int", "float"))


@dataclass(frozen=True)
class Retired:
    """A key that no longer exists: the key that took its place, and what each of its values means there."""

    replacement: str
    values: dict[str, Any]  # the old value as text (a table writes ``True``) → the replacement's value


#: Keys that runs, tables and baselines written by earlier versions may hold, by name.
RETIRED_KEYS: dict[str, Retired] = {
    "amp": Retired("precision", {"True": Precision.AUTO, "False": Precision.FP32}),
}


def current_keys(keys: dict[str, Any]) -> dict[str, Any]:
    """``keys`` (an identity, a stored config, a results row, a baseline cell's axes) as this version names
    them: each retired key (``RETIRED_KEYS``) replaced by its replacement holding the value it meant, unless the
    replacement is there already; a meaning at a quiet default (``amp=True`` is ``precision=auto``) is left out,
    as identities leave it out."""
    out = {k: v for k, v in keys.items() if k not in RETIRED_KEYS}
    for old, retired in RETIRED_KEYS.items():
        if old not in keys or retired.replacement in out:
            continue
        meant = retired.values.get(str(keys[old]))
        if meant is not None and not at_quiet_default(retired.replacement, _jsonable(meant)):
            out[retired.replacement] = _jsonable(meant)
    return out


def current_columns(columns: Iterable[str]) -> list[str]:
    """A results table's header as this version names its columns: a retired key's column is its replacement's
    (whose values :func:`current_keys` gives each row)."""
    return list(dict.fromkeys(RETIRED_KEYS[c].replacement if c in RETIRED_KEYS else c for c in columns))


def check_key(key: str, where: str) -> None:
    """``InputError`` for a key that is not a configuration key: a retired one names its replacement."""
    if key in RETIRED_KEYS:
        new = RETIRED_KEYS[key].replacement
        meanings = ", ".join(f"{key}={old.lower()} is {new}={value}" for old, value in RETIRED_KEYS[key].values.items())
        choices = "|".join(_FIELDS[new].metadata["choices"])
        raise InputError(f"{where}: {key} was replaced by {new}: use {new}={choices} ({meanings})")
    if key not in FIELD_TYPES:
        raise InputError(f"{where}: unknown key {key!r}; valid keys: {', '.join(FIELD_TYPES)}")


def cache_root(cfg: RunConfig) -> Path:
    """Where shared work (generated datasets, trained teachers) is kept."""
    import os

    return Path(cfg.cache_dir or os.environ.get("LSPD_BENCH_CACHE") or Path.home() / ".cache" / "lspd-bench")


def check_locations(cfg: RunConfig) -> None:
    """The folders a run writes into besides its own (the cache, and a synthetic dataset's ``data_dir``) can
    be created: ``InputError`` naming the key otherwise, before anything is written."""
    from lspd_bench.fileio import check_output

    check_output(cache_root(cfg), folder=True, what="cache_dir" if cfg.cache_dir else "the cache")
    if cfg.data_dir and cfg.dataset is Dataset.SYNTH:
        check_output(cfg.data_dir, folder=True, what="data_dir")


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
    if kind.startswith("tuple") and isinstance(value, str):  # the table's spelling: 64x48, 0.7,0.9
        value = tuple(parse_value(part) for part in value.split(_FIELDS[key].metadata["sep"]))
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


def check_value(key: str, value: Any, where: str = "override") -> None:
    """Check a (typed) value against its key's declared ``within`` interval and ``choices``."""
    meta = _FIELDS[key].metadata
    if value is None:
        return
    if meta["choices"] and value not in meta["choices"]:
        raise InputError(f"{where}: {key}={value!r} is not one of: {', '.join(meta['choices'])}")
    numbers = value if isinstance(value, tuple) else (value,)
    if meta["bounds"] and not all(isinstance(v, (int, float)) and _within(v, meta["bounds"]) for v in numbers):
        shown = list(value) if isinstance(value, tuple) else value
        each = " (each)" if isinstance(value, tuple) else ""
        raise InputError(f"{where}: {key}={shown} must be in {meta['within']}{each}")


def _check_config(cfg: RunConfig) -> None:
    """What one key cannot say alone: devices, the shape of ``input_size``."""
    if not (cfg.device in DEVICES or (cfg.device.startswith("cuda:") and cfg.device[5:].isdigit())):
        raise InputError(f"device={cfg.device!r} is not one of: auto, cpu, cuda, cuda:N")
    if len(cfg.input_size) != 2:
        raise InputError(f"input_size={list(cfg.input_size)} must be [H, W] or HxW px")


def choose_precision(precision: Precision, device_type: str, bf16: bool, device: str | None = None) -> Precision:
    """The precision a run trains in, from the key, the type of the device it trains on (``cpu``, ``cuda``) and
    whether that device supports bfloat16: ``auto`` is fp16 on CUDA and fp32 elsewhere. fp16 off CUDA, or bf16
    on a device without it, is an ``InputError`` naming the key (``device``: the ``device`` key's value, for the
    message). ``lspd_bench.train.loop.resolve_precision`` asks the device; this rule needs no torch."""
    precision = Precision(precision)
    if precision is Precision.AUTO:
        return Precision.FP16 if device_type == "cuda" else Precision.FP32
    if device is None:
        where = f"the {device_type} device"
    else:
        where = f"device={device}" + (f" ({device_type} here)" if device == "auto" else "")
    if precision is Precision.FP16 and device_type != "cuda":
        raise InputError(f"precision=fp16 needs CUDA, and this run trains on {where}: use precision=fp32 or bf16")
    if precision is Precision.BF16 and not bf16:
        raise InputError(f"precision=bf16: {where} does not support bfloat16 here; use precision=fp32")
    return precision


def preset_names() -> list[str]:
    """The presets shipped in ``lspd_bench/presets``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_file(name: str) -> Path:
    """The YAML file of the preset called ``name``."""
    return PRESET_DIR / f"{name}.yaml"


def read_yaml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML mapping from ``path``; an unreadable or non-mapping file is an ``InputError`` naming it."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} file {path} is a folder, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} file {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{what} file {path} cannot be read: {exc.strerror}") from None
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
        layers.append((f"preset {preset}", read_yaml(preset_file(preset), "preset")))
    if config_file is not None:
        layers.append((str(config_file), read_yaml(config_file)))
    if overrides:
        layers.append(("override", dict(overrides)))
    values: dict[str, Any] = {}
    for where, layer in layers:
        for key, value in layer.items():
            check_key(key, where)
            values[key] = _coerce(key, value, where)
            check_value(key, values[key], where)
    cfg = RunConfig(**values)
    _check_config(cfg)
    return cfg


def replace(cfg: RunConfig, **changes: Any) -> RunConfig:
    """A copy of ``cfg`` with ``changes`` checked like overrides."""
    checked = {k: _coerce(k, v, "override") for k, v in changes.items()}
    for key, value in checked.items():
        check_value(key, value)
    out = dataclasses.replace(cfg, **checked)
    _check_config(out)
    return out


def teacher_config(cfg: RunConfig) -> RunConfig:
    """The teacher's own run: same data and schedule (``teacher_epochs``, ``teacher_lr`` and
    ``teacher_batch_size`` when set), its own model, no distillation, seed 0.

    The seed is fixed so that every cell of a matrix, whatever its seed, learns from the same teacher.
    """
    cleared = {k: None for k in (*MODEL_KNOBS, "stage_weights")}
    epochs, lr = cfg.teacher_schedule()
    own = {"init": NO_INIT, "val_every": _FIELDS["val_every"].default}  # the student's start and validation
    batch = {"batch_size": cfg.teacher_batch_size or cfg.batch_size, "teacher_batch_size": None}
    return replace(
        cfg, model=cfg.teacher, distill=Distill.NONE, seed=0, epochs=epochs, lr=lr, **own, **batch, **cleared
    )


def at_quiet_default(key: str, value: Any) -> bool:
    """Whether ``value`` (as a config or a results table holds it) is the default of a key added later
    (``QUIET_DEFAULTS``), or no value of it (a table written before the key): such a value is left out wherever
    runs are told apart, as if the key did not exist."""
    return key in QUIET_DEFAULTS and value in (None, _jsonable(QUIET_DEFAULTS[key]))


def hashed_keys(cfg: RunConfig) -> dict[str, Any]:
    """The config as identities and cell keys hash it: every key, but those of ``QUIET_DEFAULTS`` at their default."""
    return {k: v for k, v in cfg.to_dict().items() if not at_quiet_default(k, v)}


def identity_keys(cfg: RunConfig) -> dict[str, Any]:
    """The config's part of a run's identity: the hashed keys (``hashed_keys``) but those in ``NON_IDENTITY_KEYS``."""
    return {k: v for k, v in hashed_keys(cfg).items() if k not in NON_IDENTITY_KEYS}


def applies(cfg: RunConfig, key: str) -> bool:
    """Whether ``key`` matters to ``cfg`` (its declared condition: ``alpha`` only when distilling)."""
    condition = _FIELDS[key].metadata["applies"]
    return condition is None or condition(cfg)


def column_text(key: str, value: Any) -> Any:
    """A key's value as the results table writes it: a pair or list joined by the key's separator."""
    if isinstance(value, (list, tuple)):
        return _FIELDS[key].metadata["sep"].join(format(v, "g") if isinstance(v, float) else str(v) for v in value)
    return value


def canonical_json(data: Any) -> str:
    """Sorted-key, compact JSON: the same content always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_jsonable)


def config_hash(data: Any, length: int = 12) -> str:
    """Hex SHA-256 prefix of ``canonical_json(data)``."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:length]
