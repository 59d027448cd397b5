"""Configuration of the synthetic benchmark: the renderer version, the difficulty knobs and the presets.

``SYNTH_VERSION`` is recorded in every dataset's ``meta.json``; :class:`SynthConfig` holds the sizes and
knobs, :data:`PRESETS` the named configurations and :func:`preset` picks one with overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from lspd_bench.config import SynthPreset
from lspd_bench.errors import InputError

SYNTH_VERSION = 1
"""Bumped whenever the renderer changes a single output byte."""
SPLIT_CODES = {"train": 0, "val": 1}
#: Most occluders one sample may have (occluder ids run from OCCLUDER_ID to OCCLUDER_ID + MAX_OCCLUDERS − 1).
MAX_OCCLUDERS = 8


@dataclass(frozen=True)
class SynthConfig:
    """Sizes and difficulty knobs of the synthetic benchmark.

    ``person_size``: range of the figure's extent (its larger side) as a fraction of the image side.
    ``center_jitter``: the figure's centre moves up to this fraction of the image side.
    ``truncation_prob`` / ``truncation_max``: chance that the figure is pushed over the border, and
    the largest fraction of its extent that may leave the image. ``occluder_prob``: chance of one or
    more (up to ``max_occluders``) objects in front of the person, each ``occluder_size`` times the
    figure's extent. ``clutter`` (0–1): density of distractor shapes and stray limbs in the
    background. ``back_view_prob``: chance of a figure seen from behind. ``hard_pose_prob``: chance
    that a limb's angles are drawn uniformly over their full limits instead of from common poses.
    ``rotation_prob``: chance of a strongly rotated figure (lying, upside down). ``noise_std``: pixel
    noise in grey levels. ``supersample``: render at this multiple of ``size``.
    """

    n_train: int = 10_000
    n_val: int = 1_000
    size: int = 128
    person_size: tuple[float, float] = (0.6, 0.9)
    center_jitter: float = 0.08
    truncation_prob: float = 0.15
    truncation_max: float = 0.3
    occluder_prob: float = 0.35
    max_occluders: int = 2
    occluder_size: tuple[float, float] = (0.15, 0.35)
    clutter: float = 0.5
    back_view_prob: float = 0.2
    hard_pose_prob: float = 0.15
    rotation_prob: float = 0.05
    noise_std: float = 3.0
    supersample: int = 2

    def validate(self) -> SynthConfig:
        """Return self, or raise ``InputError`` naming the first out-of-range knob."""
        checks = {
            "n_train": self.n_train >= 1,
            "n_val": self.n_val >= 1,
            "size": 16 <= self.size <= 2048,
            "person_size": 0 < self.person_size[0] <= self.person_size[1] <= 2,
            "center_jitter": 0 <= self.center_jitter <= 0.5,
            "truncation_prob": 0 <= self.truncation_prob <= 1,
            "truncation_max": 0 <= self.truncation_max <= 0.5,
            "occluder_prob": 0 <= self.occluder_prob <= 1,
            "max_occluders": 1 <= self.max_occluders <= MAX_OCCLUDERS,
            "occluder_size": 0 < self.occluder_size[0] <= self.occluder_size[1] <= 1,
            "clutter": 0 <= self.clutter <= 1,
            "back_view_prob": 0 <= self.back_view_prob <= 1,
            "hard_pose_prob": 0 <= self.hard_pose_prob <= 1,
            "rotation_prob": 0 <= self.rotation_prob <= 1,
            "noise_std": 0 <= self.noise_std <= 50,
            "supersample": 1 <= self.supersample <= 4,
        }
        for key, ok in checks.items():
            if not ok:
                raise InputError(f"synth config: {key}={getattr(self, key)!r} is out of range")
        return self


PRESETS: dict[SynthPreset, SynthConfig] = {
    SynthPreset.CI: SynthConfig(n_train=2_048, n_val=256, size=64),
    SynthPreset.QUICK: SynthConfig(n_train=2_500, n_val=500, size=128),
    SynthPreset.STANDARD: SynthConfig(n_train=10_000, n_val=1_000, size=128),
}


def preset(name: str, **overrides) -> SynthConfig:
    """A named preset (``ci``, ``quick``, ``standard``) with field overrides (None values ignored)."""
    if name not in PRESETS:
        raise InputError(f"unknown synth preset {name!r}; choose from {', '.join(PRESETS)}")
    known = {f.name for f in fields(SynthConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise InputError(f"unknown synth config keys: {', '.join(sorted(unknown))}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}).validate()
