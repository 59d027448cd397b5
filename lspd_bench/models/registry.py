"""A timm-style model registry: factories registered by name, built with keyword overrides."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn


@dataclass(frozen=True)
class ModelEntry:
    """One registered factory and the facts a profiler or matrix needs about it."""

    name: str
    factory: Callable[..., nn.Module]
    family: str
    default_input: tuple[int, int]  # (H, W) in px, the size the model is usually reported at
    description: str
    knobs: dict[str, Any] = field(default_factory=dict)  # constructor keyword -> default


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, *, family: str, default_input: tuple[int, int], description: str = ""):
    """Register ``factory(**knobs) -> nn.Module`` under ``name``; knobs come from its signature."""

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        knobs = {
            p.name: p.default
            for p in inspect.signature(factory).parameters.values()
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        }
        doc = description or (inspect.getdoc(factory) or "").split("\n")[0]
        _REGISTRY[name] = ModelEntry(name, factory, family, tuple(default_input), doc, knobs)
        return factory

    return wrap


def list_models() -> list[ModelEntry]:
    """All registered models, sorted by family then name."""
    return sorted(_REGISTRY.values(), key=lambda e: (e.family, e.name))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; ``KeyError`` naming the valid choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose from: {', '.join(sorted(_REGISTRY))}") from None


def build(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with constructor keyword ``overrides`` (unknown knobs raise ``TypeError``)."""
    entry = get_entry(name)
    unknown = sorted(set(overrides) - set(entry.knobs))
    if unknown:
        raise TypeError(
            f"model {name!r} has no knob {', '.join(map(repr, unknown))}; knobs: {', '.join(entry.knobs)}"
        )
    return entry.factory(**overrides)
