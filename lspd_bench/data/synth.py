"""The synthetic pose benchmark: procedurally rendered people with exact MPII and COCO annotations.

Each sample is one person built from a 3-D stick figure (pelvis root, forward kinematics through
joint-angle limits, a yaw that turns the body from frontal through profile to the back) and drawn in
2-D as filled shapes: a torso, capsule limbs, hands and shoes, a neck and an elliptical head with hair
and eyes, in sampled skin tones and textured clothes. The scene has a procedural background
(gradients, noise, stripes, checks, a horizon), distractor shapes and stray limbs behind the person,
occluders in front of it and truncation at the border.

The figure knows MPII's 16 joints plus nose, eyes and ears, so both formats are exported exactly:
a joint outside the image is not annotated (MPII ``joints_vis`` 0, COCO v 0); a joint covered by an
occluder or by another body part is annotated but not visible (COCO v 1). Drawing happens at
``supersample``× the output size and is box-filtered down, so edges are anti-aliased and the
silhouette area is exact to 1/``supersample``² px.

Every sample's RNG is seeded by (seed, split, index): the files are byte-identical for the same seed,
configuration and ``SYNTH_VERSION`` however many processes render them.
"""

from __future__ import annotations

import colorsys
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lspd_bench.data.keypoints import COCO_JOINTS, COCO_SKELETON, MPII_JOINTS
from lspd_bench.errors import InputError
from lspd_bench.fileio import atomic_path, write_text

SYNTH_VERSION = 1
"""Bumped whenever the renderer changes a single output byte."""
SPLIT_CODES = {"train": 0, "val": 1}
#: The figure's joints: MPII's 16 (in MPII order) plus the COCO face joints.
BODY_JOINTS: tuple[str, ...] = MPII_JOINTS + ("nose", "l_eye", "r_eye", "l_ear", "r_ear")
_J = {name: i for i, name in enumerate(BODY_JOINTS)}
COCO_FROM_BODY = np.array([_J[name] for name in COCO_JOINTS])
COCO_KEYPOINT_NAMES = tuple(n.replace("l_", "left_").replace("r_", "right_") for n in COCO_JOINTS)


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


PRESETS: dict[str, SynthConfig] = {
    "ci": SynthConfig(n_train=2_048, n_val=256, size=64),
    "quick": SynthConfig(n_train=2_500, n_val=500, size=128),
    "standard": SynthConfig(n_train=10_000, n_val=1_000, size=128),
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


# ---------------------------------------------------------------------------------------------------
# The figure: a 3-D stick figure (person frame: X = the person's right, Y = up, Z = forward; unit =
# standing height) projected orthographically after a yaw about Y and a lean in the image plane.

# Body parts (ids in the part map; 0 is the background). Occluder k has id OCCLUDER_ID + k.
TORSO, NECK, HEAD = 1, 2, 3
R_UARM, R_FARM, R_HAND, L_UARM, L_FARM, L_HAND = 4, 5, 6, 7, 8, 9
R_THIGH, R_SHIN, R_FOOT, L_THIGH, L_SHIN, L_FOOT = 10, 11, 12, 13, 14, 15
HAIR = 16
N_PARTS = 17
OCCLUDER_ID = 100
MAX_OCCLUDERS = 8

#: Parts that a joint belongs to: the joint counts as visible when one of them is on top at its pixel.
_OWN_PARTS: dict[str, tuple[int, ...]] = {
    "r_ankle": (R_SHIN, R_FOOT), "r_knee": (R_THIGH, R_SHIN), "r_hip": (TORSO, R_THIGH),
    "l_hip": (TORSO, L_THIGH), "l_knee": (L_THIGH, L_SHIN), "l_ankle": (L_SHIN, L_FOOT),
    "pelvis": (TORSO, R_THIGH, L_THIGH), "thorax": (TORSO, NECK), "upper_neck": (NECK, HEAD, HAIR),
    "head_top": (HEAD, HAIR), "r_wrist": (R_FARM, R_HAND), "r_elbow": (R_UARM, R_FARM),
    "r_shoulder": (TORSO, R_UARM, NECK), "l_shoulder": (TORSO, L_UARM, NECK), "l_elbow": (L_UARM, L_FARM),
    "l_wrist": (L_FARM, L_HAND), "nose": (HEAD, HAIR), "l_eye": (HEAD, HAIR), "r_eye": (HEAD, HAIR),
    "l_ear": (HEAD, HAIR), "r_ear": (HEAD, HAIR),
}  # fmt: skip
_OWN_TABLE = np.zeros((len(BODY_JOINTS), 256), dtype=bool)
for _name, _parts in _OWN_PARTS.items():
    _OWN_TABLE[_J[_name], 0] = True  # a joint on the background is not covered by anything
    _OWN_TABLE[_J[_name], list(_parts)] = True

# Lookup tables indexed by part id (a part map indexed with them is one NumPy gather).
# Outline groups: a contour is drawn where the group changes (not between segments of one limb).
_GROUP_TABLE = np.zeros(256, dtype=np.uint8)
for _pid, _group in {
    TORSO: 1, NECK: 2, HEAD: 2, HAIR: 2, R_UARM: 3, R_FARM: 3, R_HAND: 3, L_UARM: 4, L_FARM: 4,
    L_HAND: 4, R_THIGH: 5, R_SHIN: 5, R_FOOT: 5, L_THIGH: 6, L_SHIN: 6, L_FOOT: 6,
}.items():  # fmt: skip
    _GROUP_TABLE[_pid] = _group
_GROUP_TABLE[OCCLUDER_ID : OCCLUDER_ID + MAX_OCCLUDERS] = 10 + np.arange(MAX_OCCLUDERS)
# The person's silhouette: every body part (255), not the background or occluders (0).
_PERSON_TABLE = np.zeros(256, dtype=np.uint8)
_PERSON_TABLE[1:N_PARTS] = 255

# Standing proportions (fractions of height) and half-widths.
_LENGTHS = {
    "torso": 0.29, "neck": 0.05, "head": 0.135, "upper_arm": 0.165, "forearm": 0.145, "hand": 0.06,
    "thigh": 0.245, "shin": 0.235, "foot": 0.075, "shoulder": 0.105, "hip": 0.065,
}  # fmt: skip
_RADII = {
    "upper_arm": (0.029, 0.024), "forearm": (0.024, 0.018), "hand": (0.02, 0.016),
    "thigh": (0.052, 0.036), "shin": (0.035, 0.024), "foot": (0.023, 0.019), "neck": (0.024, 0.024),
}  # fmt: skip

_SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 150], [224, 172, 105], [198, 134, 66], [141, 85, 36], [92, 56, 36],
     [255, 205, 148], [234, 192, 134], [170, 120, 80], [120, 75, 50]], dtype=np.float64,
)  # fmt: skip
_HAIR_COLOURS = np.array(
    [[25, 20, 18], [55, 38, 25], [100, 68, 40], [190, 160, 100], [150, 145, 140], [125, 60, 30], [40, 30, 28]],
    dtype=np.float64,
)  # fmt: skip


def _rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return int(r * 255), int(g * 255), int(b * 255)


def _random_colour(rng: np.random.Generator, sat=(0.15, 0.9), val=(0.15, 0.95)) -> tuple[int, int, int]:
    return _rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def _jitter(rng: np.random.Generator, colour, amount: float = 12.0) -> tuple[int, int, int]:
    c = np.clip(np.asarray(colour, dtype=np.float64) + rng.uniform(-amount, amount, 3), 0, 255)
    return tuple(int(v) for v in c)


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(float(x), lo), hi)


def _unit(v: np.ndarray) -> np.ndarray:
    n = math.sqrt(float(v @ v))
    return v / n if n > 1e-9 else v


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _limb_direction(abduction: float, flexion: float, side: float) -> np.ndarray:
    """3-D unit direction of a limb hanging down, raised sideways by ``abduction`` and forwards by
    ``flexion`` (degrees), on the person's ``side`` (+1 right, −1 left)."""
    a, f = math.radians(abduction), math.radians(flexion)
    return np.array([side * math.sin(a) * math.cos(f), -math.cos(a) * math.cos(f), math.sin(f)])


def _bend(direction: np.ndarray, towards: np.ndarray, twist: float, angle: float) -> np.ndarray:
    """Rotate ``direction`` by ``angle`` degrees in the plane towards ``towards`` (made perpendicular),
    after twisting that plane by ``twist`` degrees about ``direction``."""
    p0 = towards - direction * float(direction @ towards)
    if np.linalg.norm(p0) < 1e-6:
        p0 = np.array([0.0, 1.0, 0.0]) - direction * direction[1]
    p0 = _unit(p0)
    q = _cross(direction, p0)
    t = math.radians(twist)
    p = p0 * math.cos(t) + q * math.sin(t)
    a = math.radians(angle)
    return _unit(direction * math.cos(a) + p * math.sin(a))


def _sample_arm(rng: np.random.Generator, hard: bool) -> tuple[float, float, float, float]:
    """(abduction, flexion, elbow flexion, humeral twist) in degrees, within the arm's limits."""
    if hard:
        return rng.uniform(-20, 180), rng.uniform(-50, 180), rng.uniform(0, 150), rng.uniform(-90, 60)
    mode = rng.choice(4, p=[0.4, 0.3, 0.17, 0.13])
    if mode == 0:  # hanging
        return abs(rng.normal(8, 6)), rng.normal(0, 12), rng.uniform(0, 30), rng.uniform(-30, 30)
    if mode == 1:  # bent: hands at the hips, chest or face
        return rng.uniform(5, 40), rng.uniform(-20, 70), rng.uniform(60, 145), rng.uniform(-80, 20)
    if mode == 2:  # raised
        if rng.random() < 0.5:
            return rng.uniform(100, 175), rng.normal(0, 15), rng.uniform(0, 70), rng.uniform(-30, 30)
        return rng.uniform(0, 30), rng.uniform(110, 175), rng.uniform(0, 60), rng.uniform(-30, 30)
    return rng.uniform(60, 110), rng.normal(0, 20), rng.uniform(0, 50), rng.uniform(-60, 30)  # stretched out


def _sample_legs(rng: np.random.Generator, hard: bool) -> list[tuple[float, float, float, float]]:
    """Per leg (right, left): (abduction, flexion, knee flexion, twist) in degrees, within limits."""
    if hard:
        return [(rng.uniform(-20, 60), rng.uniform(-30, 120), rng.uniform(0, 150), rng.uniform(-30, 30)) for _ in "rl"]
    mode = rng.choice(4, p=[0.45, 0.3, 0.12, 0.13])
    if mode == 0:  # standing
        return [(abs(rng.normal(4, 4)), rng.normal(0, 6), rng.uniform(0, 12), rng.normal(0, 8)) for _ in "rl"]
    if mode == 1:  # walking / running
        front = (rng.normal(3, 3), rng.uniform(15, 45), rng.uniform(0, 40), rng.normal(0, 8))
        back = (rng.normal(3, 3), rng.uniform(-30, -5), rng.uniform(20, 90), rng.normal(0, 8))
        return [front, back] if rng.random() < 0.5 else [back, front]
    if mode == 2:  # sitting / crouching
        return [(rng.uniform(0, 25), rng.uniform(60, 110), rng.uniform(60, 140), rng.normal(0, 10)) for _ in "rl"]
    return [(rng.uniform(15, 45), rng.normal(0, 10), rng.uniform(0, 40), rng.normal(0, 8)) for _ in "rl"]  # spread


@dataclass
class _Figure:
    """The figure in 2-D (person-local units before placement)."""

    joints: np.ndarray  # len(BODY_JOINTS)×2
    parts: list[tuple[float, int, np.ndarray]]  # (depth, part id, polygon K×2) — drawn in depth order
    head_polygon: np.ndarray
    eyes: list[np.ndarray]  # visible eye centres
    eye_radius: float
    face_visible: dict[str, bool]  # nose / eyes / ears facing the camera


@lru_cache(maxsize=16)
def _arc(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit half-circles (n points each) facing +x and −x."""
    t = np.linspace(-math.pi / 2, math.pi / 2, n)
    front = np.stack([np.cos(t), np.sin(t)], 1)
    return front, -front


@lru_cache(maxsize=16)
def _circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


def _capsule(p1: np.ndarray, p2: np.ndarray, r1: float, r2: float, n: int = 7) -> np.ndarray:
    """Polygon of a tapered capsule from p1 (radius r1) to p2 (radius r2)."""
    dx, dy = float(p2[0] - p1[0]), float(p2[1] - p1[1])
    length = math.hypot(dx, dy)
    c, s = (dx / length, dy / length) if length > 1e-9 else (1.0, 0.0)
    rot = np.array([[c, s], [-s, c]])
    front, back = _arc(n)
    return np.concatenate([p2 + r2 * (front @ rot), p1 + r1 * (back @ rot)])


def _ellipse(center: np.ndarray, a: float, b: float, angle: float, n: int = 24) -> np.ndarray:
    """Polygon of an ellipse with semi-axes a (along ``angle``, radians) and b (across)."""
    ca, sa = math.cos(angle), math.sin(angle)
    return center + (_circle(n) * (a, b)) @ np.array([[ca, sa], [-sa, ca]])


def _clip_halfplane(poly: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """The part of a convex polygon where ``p · normal >= offset``."""
    d = poly @ normal - offset
    keep = d >= 0
    if keep.all() or not keep.any():
        return poly if keep.all() else np.zeros((0, 2))
    nxt = np.roll(np.arange(len(poly)), -1)
    out = []
    for i in range(len(poly)):
        if keep[i]:
            out.append(poly[i])
        if keep[i] != keep[nxt[i]]:
            j = nxt[i]
            out.append(poly[i] + (poly[j] - poly[i]) * (d[i] / (d[i] - d[j])))
    return np.array(out)


def _build_figure(rng: np.random.Generator, cfg: SynthConfig) -> _Figure:
    """Sample body proportions and a pose within joint limits, and project the figure to 2-D."""
    L = {k: v * _clamp(rng.normal(1, 0.06), 0.85, 1.15) for k, v in _LENGTHS.items()}
    L["head"] *= _clamp(rng.normal(1, 0.06), 0.88, 1.15)
    build = rng.uniform(0.8, 1.3)
    radii = {k: (r1 * build, r2 * build) for k, (r1, r2) in _RADII.items()}

    if rng.random() < cfg.back_view_prob:
        yaw = 180.0 + rng.uniform(-70, 70)
    else:
        yaw = _clamp(rng.normal(0, 40), -90, 90)
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    lean = rng.normal(0, 6) if rng.random() > 0.12 else rng.choice([-1, 1]) * rng.uniform(12, 40)
    up_angle = math.radians(-90 + lean)
    u = np.array([math.cos(up_angle), math.sin(up_angle)])  # image direction of the person's up (Y)
    left = np.array([u[1], -u[0]])  # image direction of X' (the person's right when facing us)
    pitch = math.radians(rng.uniform(0, 50) if rng.random() < 0.12 else abs(rng.normal(0, 5)))

    def project(p3: np.ndarray) -> np.ndarray:
        return left * (p3[0] * cy + p3[2] * sy) + u * p3[1]

    def depth(p3: np.ndarray) -> float:
        return float(p3[2] * cy - p3[0] * sy)

    pelvis3 = np.zeros(3)
    torso_dir = np.array([0.0, math.cos(pitch), math.sin(pitch)])
    thorax3 = pelvis3 + L["torso"] * torso_dir
    nod = math.radians(rng.normal(0, 10))
    neck_dir = _unit(torso_dir + np.array([rng.normal(0, 0.12), 0.0, 0.0]))
    neck3 = thorax3 + L["neck"] * neck_dir
    head_dir = _unit(neck_dir + np.array([rng.normal(0, 0.2), 0.0, math.sin(nod)]))
    head_top3 = neck3 + L["head"] * head_dir
    # Shoulders sit on the line through the thorax, a little below its top.
    sh3 = {s: thorax3 + np.array([s * L["shoulder"], -0.01, 0.0]) for s in (1, -1)}
    hip3 = {s: pelvis3 + np.array([s * L["hip"], 0.0, 0.0]) for s in (1, -1)}

    p3: dict[str, np.ndarray] = {
        "pelvis": pelvis3, "thorax": thorax3, "upper_neck": neck3, "head_top": head_top3,
        "r_shoulder": sh3[1], "l_shoulder": sh3[-1], "r_hip": hip3[1], "l_hip": hip3[-1],
    }  # fmt: skip
    extremities: dict[str, np.ndarray] = {}
    forward = np.array([0.0, 0.0, 1.0])
    for side, s in (("r", 1), ("l", -1)):
        abd, flex, elbow, twist = _sample_arm(rng, rng.random() < cfg.hard_pose_prob)
        d_upper = _limb_direction(abd, flex, s)
        d_fore = _bend(d_upper, forward, twist, elbow)
        d_hand = _bend(d_fore, forward, rng.uniform(-40, 40), rng.uniform(-10, 40))
        p3[f"{side}_elbow"] = p3[f"{side}_shoulder"] + L["upper_arm"] * d_upper
        p3[f"{side}_wrist"] = p3[f"{side}_elbow"] + L["forearm"] * d_fore
        extremities[f"{side}_hand"] = p3[f"{side}_wrist"] + L["hand"] * d_hand
    for (side, s), (abd, flex, knee, twist) in zip(
        (("r", 1), ("l", -1)), _sample_legs(rng, rng.random() < cfg.hard_pose_prob)
    ):
        d_thigh = _limb_direction(abd, flex, s)
        d_shin = _bend(d_thigh, -forward, twist, knee)
        d_foot = _bend(d_shin, forward, rng.normal(0, 15), rng.uniform(70, 100))
        p3[f"{side}_knee"] = p3[f"{side}_hip"] + L["thigh"] * d_thigh
        p3[f"{side}_ankle"] = p3[f"{side}_knee"] + L["shin"] * d_shin
        extremities[f"{side}_toe"] = p3[f"{side}_ankle"] + L["foot"] * d_foot

    # Head: an ellipsoid of half-height hb and radius ha about its centre; face points on its surface.
    hb = 0.5 * L["head"]
    ha = hb * rng.uniform(0.72, 0.82)
    head_c3 = neck3 + 0.52 * L["head"] * head_dir
    fwd_h = _unit(forward - head_dir * float(head_dir @ forward))
    right_h = _unit(_cross(head_dir, fwd_h))  # the person's right (+X when upright)
    face3 = {
        "nose": head_c3 - 0.05 * hb * head_dir + 0.98 * ha * fwd_h,
        "r_eye": head_c3 + 0.15 * hb * head_dir + 0.36 * ha * right_h + 0.82 * ha * fwd_h,
        "l_eye": head_c3 + 0.15 * hb * head_dir - 0.36 * ha * right_h + 0.82 * ha * fwd_h,
        "r_ear": head_c3 + 0.98 * ha * right_h - 0.05 * ha * fwd_h,
        "l_ear": head_c3 - 0.98 * ha * right_h - 0.05 * ha * fwd_h,
    }
    p3.update(face3)
    head_depth = depth(head_c3)
    threshold = {"nose": 0.3, "r_eye": 0.25, "l_eye": 0.25, "r_ear": -0.3, "l_ear": -0.3}
    face_visible = {k: (depth(v) - head_depth) / ha > threshold[k] for k, v in face3.items()}

    joints = np.array([project(p3[name]) for name in BODY_JOINTS])
    P = {name: joints[i] for i, name in enumerate(BODY_JOINTS)}
    E = {k: project(v) for k, v in extremities.items()}

    parts: list[tuple[float, int, np.ndarray]] = []

    def limb(part: int, a3: np.ndarray, b3: np.ndarray, a2, b2, radius, bias: float) -> None:
        parts.append((0.5 * (depth(a3) + depth(b3)) + bias, part, _capsule(a2, b2, radius[0], radius[1])))

    # Torso: a slab whose projected half-width blends its width and its depth with the yaw.
    axis = P["thorax"] - P["pelvis"]
    up2 = _unit(axis) if np.linalg.norm(axis) > 1e-6 else u
    n2 = np.array([up2[1], -up2[0]])
    chest_depth = 0.07 * build
    w_sh = math.hypot((L["shoulder"] + 0.6 * radii["upper_arm"][0]) * cy, chest_depth * sy)
    w_waist = math.hypot(0.085 * build * cy, 0.06 * build * sy)
    w_hip = math.hypot((L["hip"] + 0.75 * radii["thigh"][0]) * cy, 0.065 * build * sy)
    top, mid, bottom = P["thorax"] + 0.025 * up2, 0.5 * (P["thorax"] + P["pelvis"]), P["pelvis"] - 0.03 * up2
    torso_poly = np.array(
        [top + n2 * 0.7 * w_sh, P["thorax"] + n2 * w_sh - 0.02 * up2, mid + n2 * w_waist, bottom + n2 * w_hip,
         bottom - 0.04 * up2, bottom - n2 * w_hip, mid - n2 * w_waist, P["thorax"] - n2 * w_sh - 0.02 * up2,
         top - n2 * 0.7 * w_sh]
    )  # fmt: skip
    parts.append((0.0, TORSO, torso_poly))
    limb(NECK, thorax3, neck3, P["thorax"], P["upper_neck"], radii["neck"], 0.01)
    for side, s in (("r", 1), ("l", -1)):
        r_ = side == "r"
        limb(R_UARM if r_ else L_UARM, p3[f"{side}_shoulder"], p3[f"{side}_elbow"], P[f"{side}_shoulder"],
             P[f"{side}_elbow"], radii["upper_arm"], 0.03)  # fmt: skip
        limb(R_FARM if r_ else L_FARM, p3[f"{side}_elbow"], p3[f"{side}_wrist"], P[f"{side}_elbow"],
             P[f"{side}_wrist"], radii["forearm"], 0.031)  # fmt: skip
        limb(R_HAND if r_ else L_HAND, p3[f"{side}_wrist"], extremities[f"{side}_hand"], P[f"{side}_wrist"],
             E[f"{side}_hand"], radii["hand"], 0.032)  # fmt: skip
        limb(R_THIGH if r_ else L_THIGH, p3[f"{side}_hip"], p3[f"{side}_knee"], P[f"{side}_hip"],
             P[f"{side}_knee"], radii["thigh"], -0.03)  # fmt: skip
        limb(R_SHIN if r_ else L_SHIN, p3[f"{side}_knee"], p3[f"{side}_ankle"], P[f"{side}_knee"],
             P[f"{side}_ankle"], radii["shin"], -0.029)  # fmt: skip
        limb(R_FOOT if r_ else L_FOOT, p3[f"{side}_ankle"], extremities[f"{side}_toe"], P[f"{side}_ankle"],
             E[f"{side}_toe"], radii["foot"], -0.028)  # fmt: skip

    head_c2 = project(head_c3)
    head_axis2 = project(head_dir)
    head_angle = math.atan2(head_axis2[1], head_axis2[0]) if np.linalg.norm(head_axis2) > 0.3 else up_angle
    head_poly = _ellipse(head_c2, hb, ha, head_angle)
    # Hair covers the top and, as the head turns away, the back of the head.
    face2 = left * sy
    hair_normal = _unit(np.array([math.cos(head_angle), math.sin(head_angle)]) - 1.1 * face2)
    hairline = rng.uniform(0.0, 0.45) - (1.0 - cy) * 0.6
    hair_poly = _clip_halfplane(head_poly - head_c2, hair_normal, hairline * hb) + head_c2
    parts.append((head_depth + 0.02, HEAD, head_poly))
    if len(hair_poly):
        # Hair lies inside the head outline, so drawing it right after the head clips it to the head.
        parts.append((head_depth + 0.02, HAIR, hair_poly))
    eyes = [P[k] for k in ("r_eye", "l_eye") if face_visible[k]]
    return _Figure(joints=joints, parts=parts, head_polygon=head_poly, eyes=eyes, eye_radius=0.11 * ha,
                   face_visible=face_visible)  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Textures and scene.


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs, ys


def _mix(t: np.ndarray | Image.Image, c1, c2) -> Image.Image:
    """RGB image blending colour c1 (t = 0) into c2 (t = 1); ``t`` in [0, 1] or an L image."""
    if not isinstance(t, Image.Image):
        t = Image.fromarray((np.clip(t, 0, 1) * 255).astype(np.uint8))
    return Image.composite(Image.new("RGB", t.size, tuple(c2)), Image.new("RGB", t.size, tuple(c1)), t)


def _noise_image(rng: np.random.Generator, wh: tuple[int, int], cells: tuple[int, int] = (2, 9)) -> Image.Image:
    """Smooth value noise as a w×h L image: a few random values per side, upsampled bicubically."""
    n = int(rng.integers(*cells))
    small = Image.fromarray((rng.random((n, n)) * 255).astype(np.uint8))
    return small.resize(wh, Image.Resampling.BICUBIC)


def _sample_pattern(tile: Image.Image, wh: tuple[int, int], angle: float, px_per_unit: float, origin) -> Image.Image:
    """Map ``tile`` over a w×h image rotated by ``angle`` (rad), ``px_per_unit`` tile px per
    output px, the output origin landing on tile point ``origin`` (bilinear, so edges are smooth).
    A one-row tile is a 1-D pattern across the rotated x axis."""
    ca, sa = math.cos(angle) * px_per_unit, math.sin(angle) * px_per_unit
    if tile.height == 1:
        data = (ca, sa, origin[0], 0.0, 0.0, 0.5)
    else:
        data = (ca, sa, origin[0], -sa, ca, origin[1])
    return tile.transform(wh, Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)


@lru_cache(maxsize=1)
def _ramp() -> Image.Image:
    return Image.fromarray(np.arange(256, dtype=np.uint8)[None, :])


@lru_cache(maxsize=64)
def _checker_tile(cells: int, px: int) -> Image.Image:
    board = (np.add.outer(np.arange(cells), np.arange(cells)) % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.kron(board, np.ones((px, px), dtype=np.uint8)))


def _texture(rng: np.random.Generator, wh: tuple[int, int], kind: str, c1, c2=None, size: int | None = None) -> Image.Image:
    """A w×h RGB texture: flat, gradient, stripes, checks or smooth noise in colours c1 / c2; pattern
    periods scale with the image side ``size`` (default max(w, h))."""
    if kind == "flat":
        return Image.new("RGB", wh, tuple(c1))
    if kind == "noise":
        return _mix(_noise_image(rng, wh), c1, c2)
    size = max(wh) if size is None else size
    angle = rng.uniform(0, math.pi)
    reach = 1.5 * max(wh)  # the rotated output spans less than this in tile units of 1 output px
    if kind == "gradient":
        ramp = _ramp()
        per_px = 255.0 / (2 * reach)
        t = _sample_pattern(ramp, wh, angle, per_px, (128.0 + rng.uniform(-0.3, 0.3) * 255, 0.5))
    elif kind == "stripes":
        period = rng.uniform(2.5, 10.0) * size / 64
        m = 8  # tile px per period
        on = max(1, min(m - 1, int(round(rng.uniform(0.3, 0.7) * m))))
        n = int(2 * reach / period) + 4
        row = np.tile(np.array([255] * on + [0] * (m - on), dtype=np.uint8), n)[None, :]
        t = _sample_pattern(Image.fromarray(row), wh, angle, m / period, (n * m / 2 + rng.uniform(0, m), 0.5))
    else:  # checks
        period = rng.uniform(3.0, 12.0) * size / 64
        m = 4  # tile px per cell
        n = int(2 * reach / period) + 4
        tile = _checker_tile(n, m)
        centre = n * m / 2
        t = _sample_pattern(tile, wh, angle, m / period, (centre + rng.uniform(0, m), centre + rng.uniform(0, m)))
    return _mix(t, c1, c2)


_CLOTH_KINDS = ("flat", "flat", "stripes", "checks", "noise", "noise")
_BACKGROUND_KINDS = ("gradient", "noise", "stripes", "checks", "noise", "gradient")


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A procedural background: one texture, often split by a horizon into a second one."""
    hue = rng.random()

    def colour():
        return _rgb(hue + rng.normal(0, 0.15), rng.uniform(0.05, 0.7), rng.uniform(0.2, 0.95))

    base = _texture(rng, (size, size), str(rng.choice(_BACKGROUND_KINDS)), colour(), colour())
    if rng.random() < 0.5:
        floor = _texture(rng, (size, size), str(rng.choice(_BACKGROUND_KINDS)), colour(), colour())
        xs, ys = _grid(size)
        horizon = rng.uniform(0.35, 0.85) * size + (xs - size / 2) * rng.normal(0, 0.15)
        base = Image.composite(floor, base, Image.fromarray((ys > horizon).astype(np.uint8) * 255))
    return base


def _random_polygon(rng: np.random.Generator, center: np.ndarray, radius: float) -> np.ndarray:
    kind = rng.integers(3)
    angle = rng.uniform(0, math.pi)
    if kind == 0:  # rotated rectangle
        w, h = radius * rng.uniform(0.4, 1.0), radius * rng.uniform(0.4, 1.0)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    elif kind == 1:  # ellipse
        return _ellipse(center, radius * rng.uniform(0.5, 1.0), radius * rng.uniform(0.3, 1.0), angle, 20)
    else:  # irregular polygon
        k = int(rng.integers(3, 7))
        t = np.sort(rng.uniform(0, 2 * math.pi, k))
        r = radius * rng.uniform(0.5, 1.0, k)
        corners = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    c, s = math.cos(angle), math.sin(angle)
    return center + corners @ np.array([[c, s], [-s, c]])


def _flat(poly: np.ndarray) -> list[float]:
    """A K×2 polygon as the flat [x0, y0, x1, y1, ...] list ImageDraw takes."""
    return poly.ravel().tolist()


def _draw_clutter(rng: np.random.Generator, canvas: Image.Image, cfg: SynthConfig, render: int, body_h: float) -> None:
    """Distractor shapes and stray limbs behind the person (render px)."""
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.poisson(cfg.clutter * 7))):
        center = rng.uniform(-0.1, 1.1, 2) * render
        poly = _random_polygon(rng, center, rng.uniform(0.05, 0.3) * render)
        fill = _random_colour(rng)
        draw.polygon(_flat(poly), fill=fill, outline=_jitter(rng, fill, 40) if rng.random() < 0.5 else None)
    # Stray limbs: two-segment capsules in skin or cloth colours, often entering from the border.
    for _ in range(int(rng.poisson(cfg.clutter * 2.0))):
        tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
        colour = _jitter(rng, tone) if rng.random() < 0.5 else _random_colour(rng)
        start = rng.uniform(0, 1, 2) * render
        if rng.random() < 0.6:
            start[rng.integers(2)] = rng.choice([-0.05, 1.05]) * render
        length = body_h * rng.uniform(0.12, 0.25)
        width = body_h * rng.uniform(0.02, 0.045)
        phi = rng.uniform(0, 2 * math.pi)
        mid = start + length * np.array([math.cos(phi), math.sin(phi)])
        phi += rng.uniform(-2.2, 2.2)
        end = mid + length * np.array([math.cos(phi), math.sin(phi)])
        outline = (20, 20, 20) if rng.random() < 0.3 else None
        draw.polygon(_flat(_capsule(start, mid, width, 0.85 * width)), fill=colour, outline=outline)
        draw.polygon(_flat(_capsule(mid, end, 0.85 * width, 0.7 * width)), fill=colour, outline=outline)


# ---------------------------------------------------------------------------------------------------
# One sample.


@dataclass
class SynthSample:
    """One rendered sample. Coordinates are 0-based output px (pixel-index convention).

    ``joints`` J×2 over ``BODY_JOINTS``; ``in_image`` (J,) joint inside the image; ``visible`` (J,)
    inside and not covered by an occluder or another body part; ``headbox`` [[x1, y1], [x2, y2]];
    ``extent`` the figure's unclipped box (x1, y1, x2, y2); ``bbox`` (x, y, w, h) of the visible
    silhouette; ``area`` its pixel count; ``silhouette`` H×W float32 coverage in [0, 1].
    """

    image: np.ndarray
    joints: np.ndarray
    in_image: np.ndarray
    visible: np.ndarray
    headbox: np.ndarray
    extent: np.ndarray
    bbox: np.ndarray
    area: float
    silhouette: np.ndarray


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed bank of standard-normal pixel noise; samples read it at a random offset (drawing fresh
    normals per pixel cost as much as the rest of the rendering)."""
    return np.random.default_rng(0x5EED).standard_normal(1 << 21, dtype=np.float32)


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The RNG of one sample, derived from (seed, split, index) only."""
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])


def _place(rng: np.random.Generator, cfg: SynthConfig, fig: _Figure) -> tuple[float, np.ndarray, float]:
    """Global rotation (rad), offset and zoom that put the figure in the image (output px)."""
    rot = rng.uniform(-math.pi, math.pi) if rng.random() < cfg.rotation_prob else 0.0
    pts = np.concatenate([fig.joints] + [p for _, _, p in fig.parts])
    c, s = math.cos(rot), math.sin(rot)
    pts = pts @ np.array([[c, s], [-s, c]])
    lo, hi = pts.min(0), pts.max(0)
    extent = float((hi - lo).max())
    size = cfg.size
    zoom = rng.uniform(*cfg.person_size) * size / extent
    box_center = 0.5 * (lo + hi) * zoom
    target = (size - 1) / 2 + rng.uniform(-cfg.center_jitter, cfg.center_jitter, 2) * size
    if rng.random() < cfg.truncation_prob:
        axis = 1 if rng.random() < 0.6 else 0  # most often cut at the feet or the head
        sign = 1.0 if (axis == 1 and rng.random() < 0.75) or (axis == 0 and rng.random() < 0.5) else -1.0
        half = 0.5 * (hi - lo)[axis] * zoom
        cut = rng.uniform(0.08, cfg.truncation_max) * 2 * half
        edge = size - 1 if sign > 0 else 0.0
        target[axis] = edge - sign * (half - cut)
    return rot, target - box_center, zoom


def render_sample(cfg: SynthConfig, seed: int, split: str, index: int) -> SynthSample:
    """Render sample ``index`` of ``split`` deterministically from (``seed``, split, index).

    Shapes are drawn into a part map at ``supersample``× resolution; colours are composited at the
    output resolution through the box-filtered (anti-aliased) part masks.
    """
    rng = sample_rng(seed, split, index)
    size, ss = cfg.size, cfg.supersample
    render = size * ss
    fig = _build_figure(rng, cfg)
    rot, offset, zoom = _place(rng, cfg, fig)
    c, s = math.cos(rot), math.sin(rot)
    rmat = np.array([[c, s], [-s, c]]) * zoom

    def to_out(p: np.ndarray) -> np.ndarray:
        return p @ rmat + offset

    def to_render(p_out: np.ndarray) -> np.ndarray:
        # Output pixel i covers render pixels [i·ss, (i+1)·ss): centres map by (x + 0.5)·ss − 0.5.
        return (p_out + 0.5) * ss - 0.5

    def shrink(img: Image.Image) -> Image.Image:
        return img.reduce(ss) if ss > 1 else img

    joints = to_out(fig.joints)
    body_h = zoom * ss  # the figure's standing height in render px

    background = _background(rng, size)
    # Large-scale light and shadow over the whole scene, applied with the contour shading below.
    light = rng.uniform(0.0, 0.35)
    lighting = _noise_image(rng, (size, size), (3, 12))
    # Nearest upsampling then box reduction gives back the untouched background pixels exactly.
    scene = background.resize((render, render), Image.Resampling.NEAREST) if ss > 1 else background
    _draw_clutter(rng, scene, cfg, render, body_h)
    canvas = shrink(scene)

    # Clothing: regions with their own colour and texture.
    skin = _jitter(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES))], 10)
    top = _random_colour(rng)
    bottom = _random_colour(rng, val=(0.1, 0.8))
    sleeves = int(rng.choice(3, p=[0.15, 0.45, 0.4]))  # none, short, long
    shorts = bool(rng.random() < 0.3)
    hair_a = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
    hair_b = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
    # Each layer: (texture kind, colour 1, colour 2, part ids); textures are made at paste time over
    # the layer's bounding box only.
    layers = [
        ("noise", _jitter(rng, skin, 6), _jitter(rng, skin, 14),
         (NECK, HEAD, R_HAND, L_HAND) + ((R_UARM, L_UARM) if sleeves == 0 else ())
         + ((R_FARM, L_FARM) if sleeves < 2 else ()) + ((R_SHIN, L_SHIN) if shorts else ())),
        (str(rng.choice(_CLOTH_KINDS)), top, _random_colour(rng),
         (TORSO,) + ((R_UARM, L_UARM) if sleeves else ()) + ((R_FARM, L_FARM) if sleeves == 2 else ())),
        (str(rng.choice(_CLOTH_KINDS[:5])), bottom, _jitter(rng, bottom, 40),
         (R_THIGH, L_THIGH) + (() if shorts else (R_SHIN, L_SHIN))),
        ("flat", _random_colour(rng, val=(0.05, 0.5)), None, (R_FOOT, L_FOOT)),
        ("noise", _jitter(rng, hair_a, 8), _jitter(rng, hair_b, 8), (HAIR,)),
    ]  # fmt: skip

    ids = Image.new("L", (render, render), 0)
    draw_ids = ImageDraw.Draw(ids)
    # Every outline goes to output px in one product (back to front), then is drawn in render px.
    in_order = sorted(fig.parts, key=lambda item: item[0])
    parts_out = to_out(np.concatenate([poly for _, _, poly in in_order]))
    ends = np.cumsum([len(poly) for _, _, poly in in_order])[:-1]
    for (_, part, _), poly in zip(in_order, np.split(to_render(parts_out), ends)):
        draw_ids.polygon(_flat(poly), fill=part)

    # Occluders: objects in front of the person, centred near a random joint.
    if rng.random() < cfg.occluder_prob:
        for k in range(1 + int(rng.integers(cfg.max_occluders))):
            anchor = joints[rng.integers(16)] + rng.normal(0, 0.08, 2) * zoom
            radius = rng.uniform(*cfg.occluder_size) * zoom * 0.5
            if rng.random() < 0.3:  # a bar across the figure
                phi = rng.uniform(0, math.pi)
                d = np.array([math.cos(phi), math.sin(phi)]) * zoom * rng.uniform(0.4, 0.7)
                poly = _capsule(anchor - d, anchor + d, radius * 0.35, radius * 0.35, 2)
            else:
                poly = _random_polygon(rng, anchor, radius)
            draw_ids.polygon(_flat(to_render(poly)), fill=OCCLUDER_ID + k)
            colour = _random_colour(rng)
            layers.append((str(rng.choice(_CLOTH_KINDS)), colour, _jitter(rng, colour, 60), (OCCLUDER_ID + k,)))

    ids_arr = np.asarray(ids)
    region_lut = np.zeros(256, dtype=np.uint8)
    for r, (_, _, _, members) in enumerate(layers, start=1):
        region_lut[list(members)] = r
    region_map = region_lut.take(ids_arr)
    for r, (kind, c1, c2, _) in enumerate(layers, start=1):
        alpha = shrink(Image.fromarray((region_map == r).view(np.uint8) * np.uint8(255)))
        box = alpha.getbbox()
        if box is not None:
            tex = _texture(rng, (box[2] - box[0], box[3] - box[1]), kind, c1, c2, size)
            canvas.paste(tex, box[:2], alpha.crop(box))

    # Shading: soft darkening towards every contour between groups, and a dark outline on it.
    groups = _GROUP_TABLE.take(ids_arr)
    # A pixel is on a contour when a 4-neighbour belongs to another group.
    edge = np.zeros(groups.shape, dtype=bool)
    diff_x = groups[:, 1:] != groups[:, :-1]
    diff_y = groups[1:, :] != groups[:-1, :]
    edge[:, 1:] |= diff_x
    edge[:, :-1] |= diff_x
    edge[1:, :] |= diff_y
    edge[:-1, :] |= diff_y
    inside = groups > 0
    edge &= inside
    edge = Image.fromarray(edge.view(np.uint8) * np.uint8(255))
    inside = Image.fromarray(inside.view(np.uint8) * np.uint8(255))
    edge_out = shrink(edge)
    inside_out = np.asarray(shrink(inside), dtype=np.float32) / 255
    soft = np.asarray(edge_out.filter(ImageFilter.GaussianBlur(radius=1.2)), dtype=np.float32) / 255
    crisp = np.asarray(edge_out, dtype=np.float32) / 255
    shade = (1.0 - 0.4 * np.minimum(1.0, 2.5 * soft) * inside_out) * (1.0 - 0.45 * crisp)
    shade *= 1.0 - np.asarray(lighting, dtype=np.float32) * (light / 255.0)
    image = np.asarray(canvas, dtype=np.float32) * shade[..., None]

    # Eyes, where the face is towards the camera and nothing covers them.
    for eye in fig.eyes:
        e = to_out(eye[None])[0]
        ix, iy = int(round(e[0])), int(round(e[1]))
        r = np.clip(np.rint(to_render(e)).astype(int), 0, render - 1)
        if 0 <= ix < size and 0 <= iy < size and ids_arr[r[1], r[0]] in (HEAD, HAIR):
            strength = min(1.0, 0.35 + fig.eye_radius * zoom)
            image[iy, ix] = image[iy, ix] * (1 - strength) + strength * np.array([25.0, 18.0, 18.0])

    if cfg.noise_std > 0:
        bank = _noise_bank()
        start = int(rng.integers(len(bank) - image.size))
        image += bank[start : start + image.size].reshape(image.shape) * np.float32(cfg.noise_std)
    np.rint(image, out=image)
    np.clip(image, 0, 255, out=image)
    image = image.astype(np.uint8)

    # Annotations.
    joints = np.round(joints, 2)
    in_image = np.all((joints >= -0.5) & (joints < size - 0.5), axis=1)
    rj = np.clip(np.rint(to_render(joints)).astype(int), 0, render - 1)
    on_top = ids_arr[rj[:, 1], rj[:, 0]]
    uncovered = _OWN_TABLE[np.arange(len(BODY_JOINTS)), on_top]
    facing = np.ones(len(BODY_JOINTS), dtype=bool)
    for name, ok in fig.face_visible.items():
        facing[_J[name]] = ok
    visible = in_image & uncovered & facing

    # Box-filtered coverage comes back as round(255·k / ss²): invert it to the exact count k.
    person = np.asarray(shrink(Image.fromarray(_PERSON_TABLE.take(ids_arr))), dtype=np.float32)
    counts = np.rint(person * (ss * ss / 255.0))
    coverage = (counts / (ss * ss)).astype(np.float32)
    area = float(counts.sum()) / ss**2
    ys, xs = np.nonzero(coverage > 0)
    bbox = (
        np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], dtype=np.float64)
        if len(xs)
        else np.zeros(4)
    )
    head = to_out(fig.head_polygon)
    headbox = np.round(np.array([head.min(0), head.max(0)]), 2)
    extent = np.round(np.concatenate([parts_out.min(0), parts_out.max(0)]), 2)
    return SynthSample(
        image=image,
        joints=joints,
        in_image=in_image,
        visible=visible,
        headbox=headbox,
        extent=extent,
        bbox=bbox,
        area=round(area, 2),
        silhouette=coverage,
    )


# ---------------------------------------------------------------------------------------------------
# The dataset on disk.

META_FILE = "meta.json"
GT_MAT_FILE = "gt_valid.mat"


def images_file(split: str) -> str:
    """``{split}_images.npy``: the split's N×H×W×3 uint8 images."""
    return f"{split}_images.npy"


def mpii_file(split: str) -> str:
    """``{split}_mpii.json``: the split in the HRNet/MMPose MPII layout (1-based, with head boxes)."""
    return f"{split}_mpii.json"


def coco_file(split: str) -> str:
    """``{split}_coco.json``: the split as COCO ``person_keypoints``."""
    return f"{split}_coco.json"


def image_name(index: int) -> str:
    """File name of image ``index`` in the annotations (and in ``images/{split}/`` with ``--png``)."""
    return f"{index:06d}.png"


def _annotation(sample: SynthSample, index: int) -> dict:
    """The per-sample facts both exports are written from (plain Python types, 0-based px)."""
    x1, y1, x2, y2 = (float(v) for v in sample.extent)
    # MPII's scale is the person's size / 200 px; the loader moves the centre down by 15·scale, so the
    # stored centre sits that far above the figure's centre.
    scale = round(max(x2 - x1, y2 - y1) / 200.0, 6)
    center = [round((x1 + x2) / 2, 2), round((y1 + y2) / 2 - 15.0 * scale, 2)]
    return {
        "index": index,
        "joints": sample.joints.tolist(),
        "in_image": sample.in_image.astype(int).tolist(),
        "visible": sample.visible.astype(int).tolist(),
        "headbox": sample.headbox.tolist(),
        "center": center,
        "scale": scale,
        "bbox": sample.bbox.tolist(),
        "area": sample.area,
    }


def _render_chunk(args: tuple) -> list[dict]:
    """Worker: render samples [start, stop) of a split into the shared image file; return annotations."""
    cfg_dict, seed, split, start, stop, npy_path, png_dir = args
    cfg = SynthConfig(**cfg_dict)
    images = np.load(npy_path, mmap_mode="r+")
    annotations = []
    for index in range(start, stop):
        sample = render_sample(cfg, seed, split, index)
        images[index] = sample.image
        if png_dir is not None:
            with atomic_path(Path(png_dir) / image_name(index)) as tmp:
                Image.fromarray(sample.image).save(tmp, format="PNG")
        annotations.append(_annotation(sample, index))
    # No flush (msync): the pages are shared with the parent through the page cache, which is all the
    # hash and the rename need; a synchronous write-back per chunk cost seconds of disk waits.
    del images
    return annotations


def _plus_one(values) -> list:
    return [[round(x + 1.0, 2), round(y + 1.0, 2)] for x, y in values]


def mpii_entries(annotations: list[dict]) -> list[dict]:
    """MPII JSON entries (1-based): ``image``, ``center``, ``scale``, ``joints``, ``joints_vis``
    (= inside the image, i.e. annotated), ``headbox``, and the extras ``joints_visible`` and ``index``."""
    entries = []
    for ann in annotations:
        entries.append(
            {
                "image": image_name(ann["index"]),
                "index": ann["index"],
                "center": _plus_one([ann["center"]])[0],
                "scale": ann["scale"],
                "joints": _plus_one(ann["joints"][:16]),
                "joints_vis": ann["in_image"][:16],
                "joints_visible": ann["visible"][:16],
                "headbox": _plus_one(ann["headbox"]),
            }
        )
    return entries


def coco_document(annotations: list[dict], size: int) -> dict:
    """A COCO ``person_keypoints`` document: 17 keypoints with v = 0 (outside), 1 (occluded), 2."""
    images, anns = [], []
    for ann in annotations:
        image_id = ann["index"] + 1
        images.append({"id": image_id, "file_name": image_name(ann["index"]), "width": size, "height": size})
        keypoints: list[float] = []
        for j in COCO_FROM_BODY:
            v = 0 if not ann["in_image"][j] else (2 if ann["visible"][j] else 1)
            x, y = ann["joints"][j] if v else (0, 0)
            keypoints += [x, y, v]
        anns.append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": 1,
                "keypoints": keypoints,
                "num_keypoints": int(sum(1 for j in COCO_FROM_BODY if ann["in_image"][j])),
                "bbox": ann["bbox"],
                "area": ann["area"],
                "iscrowd": 0,
            }
        )
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_KEYPOINT_NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
    }
    return {
        "info": {"description": f"lspd-bench synthetic pose benchmark v{SYNTH_VERSION}"},
        "images": images,
        "annotations": anns,
        "categories": [category],
    }


def _write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, separators=(",", ":")) + "\n")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 4 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _pool_context():
    # Workers only render (no torch): fork is cheapest; elsewhere fall back to the platform default.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _finish_split(out: Path, cfg: SynthConfig, split: str, annotations: list[dict], images: Path) -> dict[str, str]:
    """Write a rendered split's annotation files; return {file name: sha256} of them and of its images."""
    from lspd_bench.data.mpii import write_gt_mat  # mpii imports torch (via dataset); workers need not

    _write_json(out / mpii_file(split), mpii_entries(annotations))
    _write_json(out / coco_file(split), coco_document(annotations, cfg.size))
    written = [mpii_file(split), coco_file(split)]
    if split == "val":
        write_gt_mat(
            out / GT_MAT_FILE,
            joints=[_plus_one(a["joints"][:16]) for a in annotations],
            missing=[[1 - v for v in a["in_image"][:16]] for a in annotations],
            headboxes=[_plus_one(a["headbox"]) for a in annotations],
        )
        written.append(GT_MAT_FILE)
    # The images are hashed under their temporary name: they are renamed only when every split is done.
    return {images_file(split): sha256_file(images), **{name: sha256_file(out / name) for name in written}}


def generate_dataset(
    out_dir: str | os.PathLike,
    cfg: SynthConfig,
    seed: int = 0,
    workers: int = 2,
    png: bool = False,
    chunk: int = 250,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Render the benchmark into ``out_dir`` and return its ``meta.json`` content.

    Files: ``{split}_images.npy`` (N×H×W×3 uint8, load with ``np.load(..., mmap_mode='r')``),
    ``{split}_mpii.json``, ``{split}_coco.json`` for ``train`` and ``val``, ``gt_valid.mat`` (val, the
    MPII evaluation layout), ``meta.json`` (config, version, seed, counts, per-file sha256 and a content
    ``fingerprint`` over them), and with ``png`` also ``images/{split}/NNNNNN.png``. ``workers``
    processes render chunks of ``chunk`` samples; the bytes do not depend on either. ``progress(done,
    total)`` is called with the samples rendered so far after each chunk.

    Both splits' chunks go to one pool, training first; the parent writes the training annotations and
    hashes its images while the workers render the validation split.
    """
    cfg = cfg.validate()
    if workers < 1 or chunk < 1:
        raise InputError(f"workers and chunk must be at least 1, got {workers} and {chunk}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output path exists and is not a directory: {out}")
    out.mkdir(parents=True, exist_ok=True)
    counts = {"train": cfg.n_train, "val": cfg.n_val}
    total = sum(counts.values())
    hashes: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        jobs: dict[str, list[tuple]] = {}
        tmps: dict[str, Path] = {}
        for split, n in counts.items():
            tmps[split] = tmp = stack.enter_context(atomic_path(out / images_file(split)))
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, cfg.size, cfg.size, 3))
            del array
            png_dir = None
            if png:
                (out / "images" / split).mkdir(parents=True, exist_ok=True)
                png_dir = str(out / "images" / split)
            jobs[split] = [(asdict(cfg), seed, split, a, min(a + chunk, n), tmp, png_dir) for a in range(0, n, chunk)]
        every = [job for split_jobs in jobs.values() for job in split_jobs]
        if workers > 1 and len(every) > 1:
            pool = stack.enter_context(_pool_context().Pool(min(workers, len(every))))
            results = pool.imap(_render_chunk, every, chunksize=1)
        else:
            results = map(_render_chunk, every)
        done = 0
        for split in counts:
            annotations: list[dict] = []
            for _ in jobs[split]:
                part = next(results)
                annotations += part
                done += len(part)
                if progress is not None:
                    progress(done, total)
            hashes.update(_finish_split(out, cfg, split, annotations, tmps[split]))
    hashes = dict(sorted(hashes.items()))
    fingerprint = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in hashes.items()).encode()).hexdigest()
    meta = {
        "format": "lspd-bench-synth",
        "version": SYNTH_VERSION,
        "seed": int(seed),
        "config": asdict(cfg),
        "counts": counts,
        "image_size": [cfg.size, cfg.size],
        "joints": {"mpii": list(MPII_JOINTS), "coco": list(COCO_JOINTS)},
        "files": hashes,
        "fingerprint": fingerprint,
    }
    _write_json(out / META_FILE, meta)
    return meta


def read_meta(root: str | os.PathLike) -> dict:
    """The ``meta.json`` of a synthetic dataset directory (``InputError`` if absent or malformed)."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise InputError(f"not a synthetic dataset (no {META_FILE}): {Path(root)}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "lspd-bench-synth" or "counts" not in meta:
        raise InputError(f"{path}: not an lspd-bench synthetic dataset description")
    return meta


def load_synth(root: str | os.PathLike, split: str = "train", keypoints: str = "mpii", aspect_ratio: float = 1.0):
    """Records and image source of one split of a synthetic dataset.

    ``keypoints="mpii"`` reads ``{split}_mpii.json`` through the MPII loader (16 joints, head boxes,
    HRNet's centre/scale conventions); ``"coco"`` reads ``{split}_coco.json`` through the COCO loader
    (17 joints, boxes from the silhouette, fixed to ``aspect_ratio`` = input w / h). Records'
    ``image`` is the index into the ``ArrayImages`` returned alongside.
    """
    from lspd_bench.data.coco import load_coco
    from lspd_bench.data.dataset import ArrayImages
    from lspd_bench.data.mpii import load_mpii

    root = Path(root)
    meta = read_meta(root)
    if split not in meta["counts"]:
        raise InputError(f"{root}: no split {split!r} (has {', '.join(meta['counts'])})")
    images = ArrayImages(root / images_file(split))
    if keypoints == "mpii":
        records = load_mpii(root / mpii_file(split))
    elif keypoints == "coco":
        records = load_coco(root / coco_file(split), aspect_ratio=aspect_ratio)
    else:
        raise InputError(f"keypoints must be 'mpii' or 'coco', got {keypoints!r}")
    attach_array_indices(records)
    return records, images


def attach_array_indices(records) -> None:
    """Point records at image-array indices, from the synthetic file names ``NNNNNN.png``."""
    for rec in records:
        name = str(rec.image)
        stem = name[:-4] if name.endswith(".png") else name
        if not stem.isdigit():
            raise InputError(f"{rec.where()}: image {name!r} is not a synthetic image name (NNNNNN.png)")
        rec.image = int(stem)
