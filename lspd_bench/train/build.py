"""Building the student and teacher models of a run, and the identity a run is known by."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from lspd_bench import __version__
from lspd_bench.config import (
    FIELD_TYPES,
    MODEL_KNOBS,
    RunConfig,
    applies,
    config_hash,
    identity_keys,
)
from lspd_bench.errors import InputError
from lspd_bench.models import build, check_input_size, get_entry, stage_count
from lspd_bench.train.init import InitReport, apply_init, known_by_fingerprint
from lspd_bench.train.loop import seeded


def _build(name: str, knobs: dict[str, Any], seed: int) -> nn.Module:
    try:
        get_entry(name)
    except KeyError as exc:
        raise InputError(exc.args[0]) from None
    try:
        with seeded(seed):
            return build(name, **knobs)
    except TypeError as exc:  # a knob the model does not have
        raise InputError(str(exc)) from None


def student_knobs(cfg: RunConfig, num_joints: int) -> dict[str, Any]:
    """The student's constructor keywords: the config's model knobs plus the joint count."""
    return {**cfg.model_knobs(), "num_joints": num_joints}


def build_student(cfg: RunConfig, num_joints: int) -> nn.Module:
    """The model being trained, initialised from ``cfg.seed``."""
    return _build(cfg.model, student_knobs(cfg, num_joints), cfg.seed)


def check_student(cfg: RunConfig, model: nn.Module) -> int:
    """What only the built model can tell, checked before anything is written: the input size fits its
    stride, and ``stage_weights`` has one entry per stage. Returns the number of stages."""
    check_input_size(model, cfg.model, tuple(cfg.input_size))
    stages = stage_count(model, tuple(cfg.input_size))
    if cfg.stage_weights is not None and len(cfg.stage_weights) != stages:
        raise InputError(
            f"stage_weights={list(cfg.stage_weights)} has {len(cfg.stage_weights)} entries for "
            f"model {cfg.model!r} with {stages} stage(s)"
        )
    return stages


def warm_start(cfg: RunConfig, model: nn.Module) -> InitReport | None:
    """Load ``cfg.init`` into ``model`` by tensor name and shape (``lspd_bench.train.init``); ``InputError`` when
    the file is not weights or matches nothing. Writes nothing, so it runs before a run's folder is touched."""
    return apply_init(model, cfg.init)


def teacher_knobs(cfg: RunConfig, num_joints: int) -> dict[str, Any]:
    """The teacher's constructor keywords (``teacher_stacks``/``teacher_features`` size the hourglass)."""
    knobs: dict[str, Any] = {"num_joints": num_joints}
    if cfg.teacher == "hourglass":
        knobs.update(stacks=cfg.teacher_stacks, features=cfg.teacher_features)
    return knobs


def build_teacher(cfg: RunConfig, num_joints: int) -> nn.Module:
    """The teacher of ``cfg``, its input size checked against its stride (``InputError`` in one line)."""
    model = _build(cfg.teacher, teacher_knobs(cfg, num_joints), 0)
    check_input_size(model, f"{cfg.teacher} (the teacher)", tuple(cfg.input_size))
    return model


def plugins_used(cfg: RunConfig, knobs: dict[str, Any]) -> dict[str, Any]:
    """What the plugins a run uses are known by (its model's, its block's, its teacher's: a distribution and
    its version, or a package's code digest; ``lspd_bench.plugins``). Empty for built-in ones only."""
    from lspd_bench.models.lspd import BLOCK_PLUGINS

    used: dict[str, Any] = {}
    if get_entry(cfg.model).plugin:
        used["model"] = get_entry(cfg.model).plugin
    block = knobs.get("block")
    if isinstance(block, str) and block in BLOCK_PLUGINS:
        used["block"] = BLOCK_PLUGINS[block]
    if cfg.distill.uses_teacher and get_entry(cfg.teacher).plugin:
        used["teacher"] = get_entry(cfg.teacher).plugin
    return used


def identity(cfg: RunConfig, num_joints: int, fingerprint: str, knobs: dict[str, Any] | None = None) -> dict:
    """What a run is known by: the resolved config (model knobs filled in from the registry), the
    dataset's fingerprint and the suite's version. Location and speed settings are left out; a warm start
    enters as its file's fingerprint (``lspd_bench.train.init``).

    A run that uses a plugin's model, block or teacher also has ``plugins``: what each plugin is known by
    (its distribution and version, or its code digest), so that a new version of the plugin is another
    run while editing a comment is not. A run of built-in models only has no such key.
    """
    entry = get_entry(cfg.model)
    resolved_knobs = {**entry.knobs, **(knobs if knobs is not None else student_knobs(cfg, num_joints))}
    # Model knobs enter resolved (a default set explicitly is the same run as the default left implicit).
    out = {k: v for k, v in identity_keys(cfg).items() if k not in MODEL_KNOBS}
    out = known_by_fingerprint(out)
    out.update(
        model_knobs={k: list(v) if isinstance(v, tuple) else v for k, v in resolved_knobs.items()},
        dataset_fingerprint=fingerprint,
        suite_version=__version__,
    )
    if cfg.distill.uses_teacher:
        out["teacher_knobs"] = teacher_knobs(cfg, num_joints)
    for key in [k for k in out if k in FIELD_TYPES and not applies(cfg, k)]:  # alpha without distillation, …
        out.pop(key)
    used = plugins_used(cfg, resolved_knobs)
    if used:
        out["plugins"] = used
    return out


def run_id(ident: dict) -> str:
    """The short hash a run's identity is filed under."""
    return config_hash(ident)
