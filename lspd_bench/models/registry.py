"""A timm-style model registry: factories registered by name, built with keyword overrides."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from lspd_bench.errors import InputError
from lspd_bench.models.contract import stages_of


@dataclass(frozen=True)
class ModelEntry:
    """One registered factory and the facts a profiler or matrix needs about it."""

    name: str
    factory: Callable[..., nn.Module]
    family: str
    default_input: tuple[int, int]  # (H, W) in px, the size the model is usually reported at
    description: str
    knobs: dict[str, Any] = field(default_factory=dict)  # constructor keyword -> default
    module: str = ""  # the module that registered it (a plugin's, or the suite's own)
    plugin: dict[str, str] | None = None  # what a plugin's model is known by (lspd_bench.plugins); None: built in


class NameTaken(InputError):
    """A model or block name that something registered before."""


_REGISTRY: dict[str, ModelEntry] = {}


def _plugins_loaded() -> None:
    """Plugins register on first use of the registry (the built-ins are registered by then)."""
    from lspd_bench import plugins

    plugins.ensure_loaded()


def registered() -> dict[str, ModelEntry]:
    """The registry as it is now, plugins loaded or not (``list_models`` loads them)."""
    return dict(_REGISTRY)


def who(entry: ModelEntry) -> str:
    """``lspd_bench.models.lspd (built in)``, ``mypkg.pose (mypkg 0.2.0)``: who registered ``entry``."""
    from lspd_bench.plugins import describe

    return f"{entry.module} ({describe(entry.plugin)})"


def register_model(name: str, *, family: str, default_input: tuple[int, int], description: str = ""):
    """Register ``factory(**knobs) -> nn.Module`` under ``name``; knobs come from its signature.

    The same decorator registers the built-in models and a plugin's (``lspd_bench.plugins``); what the
    model must provide is ``lspd_bench.models.contract.PoseModel``. A name already taken raises
    ``NameTaken`` naming both registrants.
    """

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        from lspd_bench import plugins

        entry_module, origin = plugins.registering_module(factory), plugins.registering_origin(factory)
        if name in _REGISTRY:
            raise NameTaken(
                f"model {name!r} is registered twice: first by {who(_REGISTRY[name])}, again by "
                f"{entry_module} ({plugins.describe(origin)})"
            )
        knobs = {
            p.name: p.default
            for p in inspect.signature(factory).parameters.values()
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        }
        doc = description or (inspect.getdoc(factory) or "").split("\n")[0]
        _REGISTRY[name] = ModelEntry(name, factory, family, tuple(default_input), doc, knobs, entry_module, origin)
        return factory

    return wrap


def list_models(*, plugins: bool = True) -> list[ModelEntry]:
    """All registered models, sorted by family then name; ``plugins=False``: the built-in ones only (no
    plugin is loaded)."""
    if plugins:
        _plugins_loaded()
    return sorted((e for e in _REGISTRY.values() if plugins or e.plugin is None), key=lambda e: (e.family, e.name))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; ``KeyError`` naming the valid choices otherwise."""
    _plugins_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose from: {', '.join(sorted(_REGISTRY))}") from None


def build(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with constructor keyword ``overrides`` (unknown knobs raise ``TypeError``)."""
    entry = get_entry(name)
    unknown = sorted(set(overrides) - set(entry.knobs))
    if unknown:
        raise TypeError(f"model {name!r} has no knob {', '.join(map(repr, unknown))}; knobs: {', '.join(entry.knobs)}")
    return entry.factory(**overrides)


def check_input_size(model: nn.Module, name: str, input_hw: tuple[int, int]) -> None:
    """Heights and widths must be positive multiples of the model's stride (so heatmaps are exactly H/4)."""
    h, w = input_hw
    stride = model.stride
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise InputError(
            f"input {h}x{w} does not fit model {name!r}: height and width must be positive multiples of {stride}"
        )


def stage_count(model: nn.Module, input_hw: tuple[int, int]) -> int:
    """How many heatmap outputs (stages) the model gives: one forward pass of a single zero image, in eval mode
    and without gradients, on the model's device (its weights and buffers are left as they were)."""
    device = next(model.parameters()).device
    was_training = model.training
    with torch.inference_mode():
        out = model.eval()(torch.zeros(1, 3, *input_hw, device=device))
    model.train(was_training)
    return len(stages_of(out) or [out])
