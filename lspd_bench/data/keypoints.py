"""Keypoint definitions of the two formats (joint order, flip pairs, skeletons, OKS sigmas).

The datasets' and their evaluators' own definitions; every other module takes them from here.
"""

from __future__ import annotations

import numpy as np

MPII_JOINTS: tuple[str, ...] = (
    "r_ankle",
    "r_knee",
    "r_hip",
    "l_hip",
    "l_knee",
    "l_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "r_wrist",
    "r_elbow",
    "r_shoulder",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
)
MPII_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
MPII_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 6),
    (6, 3),
    (3, 4),
    (4, 5),
    (6, 7),
    (7, 8),
    (8, 9),
    (7, 12),
    (12, 11),
    (11, 10),
    (7, 13),
    (13, 14),
    (14, 15),
)
#: PCKh summary groups (the MPII table): Head is head_top alone; pelvis and thorax are excluded.
MPII_PCKH_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (9,),
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
MPII_EXCLUDED_FROM_MEAN: tuple[int, ...] = (6, 7)

COCO_JOINTS: tuple[str, ...] = (
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
)
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
)
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)
#: COCO OKS sigmas for the 17 joints, in COCO order (pycocotools' values).
COCO_SIGMAS = np.array(
    [
        0.026,
        0.025,
        0.025,
        0.035,
        0.035,
        0.079,
        0.079,
        0.072,
        0.072,
        0.062,
        0.062,
        0.107,
        0.107,
        0.087,
        0.087,
        0.089,
        0.089,
    ]
)
#: Upper-body joints (COCO order) for half-body augmentation.
COCO_UPPER_BODY: tuple[int, ...] = tuple(range(11))


def flip_permutation(num_joints: int, flip_pairs) -> np.ndarray:
    """Index array ``p`` such that ``flipped[:, p]`` swaps every left joint with its right twin."""
    perm = np.arange(num_joints)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm
