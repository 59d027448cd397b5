"""The person: a 3-D stick figure, its kinematics and joints, projected to 2-D drawable parts.

Each sample is one person built from a 3-D stick figure (pelvis root, forward kinematics through
joint-angle limits, a yaw that turns the body from frontal through profile to the back) and drawn in
2-D as filled shapes: a torso, capsule limbs, hands and shoes, a neck and an elliptical head with hair
and eyes, in sampled skin tones and textured clothes. The figure knows MPII's 16 joints plus nose, eyes
and ears (``BODY_JOINTS``), so both formats are exported exactly. This module also holds the body-part
ids of the part map with their lookup tables, and the shape and colour helpers the scene and the
renderer share.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lspd_bench.data.keypoints import COCO_JOINTS, MPII_JOINTS
from lspd_bench.data.synth.config import MAX_OCCLUDERS, SynthConfig

#: The figure's joints: MPII's 16 (in MPII order) plus the COCO face joints.
BODY_JOINTS: tuple[str, ...] = MPII_JOINTS + ("nose", "l_eye", "r_eye", "l_ear", "r_ear")
JOINT_INDEX = {name: i for i, name in enumerate(BODY_JOINTS)}
COCO_FROM_BODY = np.array([JOINT_INDEX[name] for name in COCO_JOINTS])
COCO_KEYPOINT_NAMES = tuple(n.replace("l_", "left_").replace("r_", "right_") for n in COCO_JOINTS)


# The figure: a 3-D stick figure (person frame: X = the person's right, Y = up, Z = forward; unit =
# standing height) projected orthographically after a yaw about Y and a lean in the image plane.

# Body parts (ids in the part map; 0 is the background). Occluder k has id OCCLUDER_ID + k.
TORSO, NECK, HEAD = 1, 2, 3
R_UARM, R_FARM, R_HAND, L_UARM, L_FARM, L_HAND = 4, 5, 6, 7, 8, 9
R_THIGH, R_SHIN, R_FOOT, L_THIGH, L_SHIN, L_FOOT = 10, 11, 12, 13, 14, 15
HAIR = 16
N_PARTS = 17
OCCLUDER_ID = 100

#: Parts that a joint belongs to: the joint counts as visible when one of them is on top at its pixel.
_OWN_PARTS: dict[str, tuple[int, ...]] = {
    "r_ankle": (R_SHIN, R_FOOT),
    "r_knee": (R_THIGH, R_SHIN),
    "r_hip": (TORSO, R_THIGH),
    "l_hip": (TORSO, L_THIGH),
    "l_knee": (L_THIGH, L_SHIN),
    "l_ankle": (L_SHIN, L_FOOT),
    "pelvis": (TORSO, R_THIGH, L_THIGH),
    "thorax": (TORSO, NECK),
    "upper_neck": (NECK, HEAD, HAIR),
    "head_top": (HEAD, HAIR),
    "r_wrist": (R_FARM, R_HAND),
    "r_elbow": (R_UARM, R_FARM),
    "r_shoulder": (TORSO, R_UARM, NECK),
    "l_shoulder": (TORSO, L_UARM, NECK),
    "l_elbow": (L_UARM, L_FARM),
    "l_wrist": (L_FARM, L_HAND),
    "nose": (HEAD, HAIR),
    "l_eye": (HEAD, HAIR),
    "r_eye": (HEAD, HAIR),
    "l_ear": (HEAD, HAIR),
    "r_ear": (HEAD, HAIR),
}
OWN_TABLE = np.zeros((len(BODY_JOINTS), 256), dtype=bool)
for _name, _parts in _OWN_PARTS.items():
    OWN_TABLE[JOINT_INDEX[_name], 0] = True  # a joint on the background is not covered by anything
    OWN_TABLE[JOINT_INDEX[_name], list(_parts)] = True

# Lookup tables indexed by part id (a part map indexed with them is one NumPy gather).
# Outline groups: a contour is drawn where the group changes (not between segments of one limb).
GROUP_TABLE = np.zeros(256, dtype=np.uint8)
for _pid, _group in {
    TORSO: 1,
    NECK: 2,
    HEAD: 2,
    HAIR: 2,
    R_UARM: 3,
    R_FARM: 3,
    R_HAND: 3,
    L_UARM: 4,
    L_FARM: 4,
    L_HAND: 4,
    R_THIGH: 5,
    R_SHIN: 5,
    R_FOOT: 5,
    L_THIGH: 6,
    L_SHIN: 6,
    L_FOOT: 6,
}.items():
    GROUP_TABLE[_pid] = _group
GROUP_TABLE[OCCLUDER_ID : OCCLUDER_ID + MAX_OCCLUDERS] = 10 + np.arange(MAX_OCCLUDERS)
# The person's silhouette: every body part (255), not the background or occluders (0).
PERSON_TABLE = np.zeros(256, dtype=np.uint8)
PERSON_TABLE[1:N_PARTS] = 255

# Standing proportions (fractions of height) and half-widths.
_LENGTHS = {
    "torso": 0.29,
    "neck": 0.05,
    "head": 0.135,
    "upper_arm": 0.165,
    "forearm": 0.145,
    "hand": 0.06,
    "thigh": 0.245,
    "shin": 0.235,
    "foot": 0.075,
    "shoulder": 0.105,
    "hip": 0.065,
}
_RADII = {
    "upper_arm": (0.029, 0.024),
    "forearm": (0.024, 0.018),
    "hand": (0.02, 0.016),
    "thigh": (0.052, 0.036),
    "shin": (0.035, 0.024),
    "foot": (0.023, 0.019),
    "neck": (0.024, 0.024),
}

SKIN_TONES = np.array(
    [
        [255, 224, 196],
        [241, 194, 150],
        [224, 172, 105],
        [198, 134, 66],
        [141, 85, 36],
        [92, 56, 36],
        [255, 205, 148],
        [234, 192, 134],
        [170, 120, 80],
        [120, 75, 50],
    ],
    dtype=np.float64,
)
HAIR_COLOURS = np.array(
    [[25, 20, 18], [55, 38, 25], [100, 68, 40], [190, 160, 100], [150, 145, 140], [125, 60, 30], [40, 30, 28]],
    dtype=np.float64,
)


def rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return int(r * 255), int(g * 255), int(b * 255)


def random_colour(rng: np.random.Generator, sat=(0.15, 0.9), val=(0.15, 0.95)) -> tuple[int, int, int]:
    return rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def jitter(rng: np.random.Generator, colour, amount: float = 12.0) -> tuple[int, int, int]:
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
class Figure:
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


def capsule(p1: np.ndarray, p2: np.ndarray, r1: float, r2: float, n: int = 7) -> np.ndarray:
    """Polygon of a tapered capsule from p1 (radius r1) to p2 (radius r2)."""
    dx, dy = float(p2[0] - p1[0]), float(p2[1] - p1[1])
    length = math.hypot(dx, dy)
    c, s = (dx / length, dy / length) if length > 1e-9 else (1.0, 0.0)
    rot = np.array([[c, s], [-s, c]])
    front, back = _arc(n)
    return np.concatenate([p2 + r2 * (front @ rot), p1 + r1 * (back @ rot)])


def ellipse(center: np.ndarray, a: float, b: float, angle: float, n: int = 24) -> np.ndarray:
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


def build_figure(rng: np.random.Generator, cfg: SynthConfig) -> Figure:
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
        "pelvis": pelvis3,
        "thorax": thorax3,
        "upper_neck": neck3,
        "head_top": head_top3,
        "r_shoulder": sh3[1],
        "l_shoulder": sh3[-1],
        "r_hip": hip3[1],
        "l_hip": hip3[-1],
    }
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
        parts.append((0.5 * (depth(a3) + depth(b3)) + bias, part, capsule(a2, b2, radius[0], radius[1])))

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
        [
            top + n2 * 0.7 * w_sh,
            P["thorax"] + n2 * w_sh - 0.02 * up2,
            mid + n2 * w_waist,
            bottom + n2 * w_hip,
            bottom - 0.04 * up2,
            bottom - n2 * w_hip,
            mid - n2 * w_waist,
            P["thorax"] - n2 * w_sh - 0.02 * up2,
            top - n2 * 0.7 * w_sh,
        ]
    )
    parts.append((0.0, TORSO, torso_poly))
    limb(NECK, thorax3, neck3, P["thorax"], P["upper_neck"], radii["neck"], 0.01)
    for side, s in (("r", 1), ("l", -1)):
        r_ = side == "r"
        limb(
            R_UARM if r_ else L_UARM,
            p3[f"{side}_shoulder"],
            p3[f"{side}_elbow"],
            P[f"{side}_shoulder"],
            P[f"{side}_elbow"],
            radii["upper_arm"],
            0.03,
        )
        limb(
            R_FARM if r_ else L_FARM,
            p3[f"{side}_elbow"],
            p3[f"{side}_wrist"],
            P[f"{side}_elbow"],
            P[f"{side}_wrist"],
            radii["forearm"],
            0.031,
        )
        limb(
            R_HAND if r_ else L_HAND,
            p3[f"{side}_wrist"],
            extremities[f"{side}_hand"],
            P[f"{side}_wrist"],
            E[f"{side}_hand"],
            radii["hand"],
            0.032,
        )
        limb(
            R_THIGH if r_ else L_THIGH,
            p3[f"{side}_hip"],
            p3[f"{side}_knee"],
            P[f"{side}_hip"],
            P[f"{side}_knee"],
            radii["thigh"],
            -0.03,
        )
        limb(
            R_SHIN if r_ else L_SHIN,
            p3[f"{side}_knee"],
            p3[f"{side}_ankle"],
            P[f"{side}_knee"],
            P[f"{side}_ankle"],
            radii["shin"],
            -0.029,
        )
        limb(
            R_FOOT if r_ else L_FOOT,
            p3[f"{side}_ankle"],
            extremities[f"{side}_toe"],
            P[f"{side}_ankle"],
            E[f"{side}_toe"],
            radii["foot"],
            -0.028,
        )

    head_c2 = project(head_c3)
    head_axis2 = project(head_dir)
    head_angle = math.atan2(head_axis2[1], head_axis2[0]) if np.linalg.norm(head_axis2) > 0.3 else up_angle
    head_poly = ellipse(head_c2, hb, ha, head_angle)
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
    return Figure(
        joints=joints, parts=parts, head_polygon=head_poly, eyes=eyes, eye_radius=0.11 * ha, face_visible=face_visible
    )
