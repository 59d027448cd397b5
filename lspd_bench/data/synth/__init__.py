"""The synthetic pose benchmark: procedurally rendered people with exact MPII and COCO annotations.

What is where (each module imports only those before it): ``config`` holds ``SYNTH_VERSION``, the
knobs (``SynthConfig``) and the presets; ``figure`` the 3-D stick figure (proportions, pose sampling
within joint limits, projection), its joints (``BODY_JOINTS``, ``COCO_FROM_BODY``) and body-part ids;
``scene`` the textures, the background and the distractors behind the person; ``render`` one sample
(placement, occluders, drawing at ``supersample``× and box-filtering down, visibility and silhouette:
``render_sample``); ``export`` the dataset's file names and its MPII and COCO annotation documents;
``generate`` the rendering of a whole dataset across processes, its hashes, fingerprint and
``meta.json`` (``generate_dataset``); ``load`` reading a generated dataset back (``read_meta``,
``load_synth``). This package re-exports their public names.
"""

from __future__ import annotations

from lspd_bench.data.synth.config import MAX_OCCLUDERS, PRESETS, SPLIT_CODES, SYNTH_VERSION, SynthConfig, preset
from lspd_bench.data.synth.export import (
    GT_MAT_FILE,
    META_FILE,
    coco_document,
    coco_file,
    image_name,
    images_file,
    mpii_entries,
    mpii_file,
)
from lspd_bench.data.synth.figure import (
    BODY_JOINTS,
    COCO_FROM_BODY,
    COCO_KEYPOINT_NAMES,
    HAIR,
    HEAD,
    L_FARM,
    L_FOOT,
    L_HAND,
    L_SHIN,
    L_THIGH,
    L_UARM,
    N_PARTS,
    NECK,
    OCCLUDER_ID,
    R_FARM,
    R_FOOT,
    R_HAND,
    R_SHIN,
    R_THIGH,
    R_UARM,
    TORSO,
)
from lspd_bench.data.synth.generate import generate_dataset, sha256_file
from lspd_bench.data.synth.load import attach_array_indices, load_synth, read_meta
from lspd_bench.data.synth.render import SynthSample, render_sample, sample_rng

__all__ = [
    "BODY_JOINTS",
    "COCO_FROM_BODY",
    "COCO_KEYPOINT_NAMES",
    "GT_MAT_FILE",
    "HAIR",
    "HEAD",
    "L_FARM",
    "L_FOOT",
    "L_HAND",
    "L_SHIN",
    "L_THIGH",
    "L_UARM",
    "MAX_OCCLUDERS",
    "META_FILE",
    "N_PARTS",
    "NECK",
    "OCCLUDER_ID",
    "PRESETS",
    "R_FARM",
    "R_FOOT",
    "R_HAND",
    "R_SHIN",
    "R_THIGH",
    "R_UARM",
    "SPLIT_CODES",
    "SYNTH_VERSION",
    "SynthConfig",
    "SynthSample",
    "TORSO",
    "attach_array_indices",
    "coco_document",
    "coco_file",
    "generate_dataset",
    "image_name",
    "images_file",
    "load_synth",
    "mpii_entries",
    "mpii_file",
    "preset",
    "read_meta",
    "render_sample",
    "sample_rng",
    "sha256_file",
]
