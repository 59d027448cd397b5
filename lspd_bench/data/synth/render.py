"""One sample: placing, drawing and supersampling a person in its scene, with its exact annotations.

The figure is placed (rotation, zoom, truncation at the border), drawn into a part map together with
occluders in front of it, and coloured. A joint outside the image is not annotated (MPII ``joints_vis``
0, COCO v 0); a joint covered by an occluder or by another body part is annotated but not visible (COCO
v 1). Drawing happens at ``supersample``× the output size and is box-filtered down, so edges are
anti-aliased and the silhouette area is exact to 1/``supersample``² px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lspd_bench.data.synth.config import SPLIT_CODES, SynthConfig
from lspd_bench.data.synth.figure import (
    BODY_JOINTS,
    GROUP_TABLE,
    HAIR,
    HAIR_COLOURS,
    HEAD,
    JOINT_INDEX,
    L_FARM,
    L_FOOT,
    L_HAND,
    L_SHIN,
    L_THIGH,
    L_UARM,
    NECK,
    OCCLUDER_ID,
    OWN_TABLE,
    PERSON_TABLE,
    R_FARM,
    R_FOOT,
    R_HAND,
    R_SHIN,
    R_THIGH,
    R_UARM,
    SKIN_TONES,
    TORSO,
    Figure,
    build_figure,
    capsule,
    jitter,
    random_colour,
)
from lspd_bench.data.synth.scene import (
    CLOTH_KINDS,
    draw_clutter,
    flat_xy,
    make_background,
    noise_image,
    random_polygon,
    texture,
)


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


def _place(rng: np.random.Generator, cfg: SynthConfig, fig: Figure) -> tuple[float, np.ndarray, float]:
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
    fig = build_figure(rng, cfg)
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

    background = make_background(rng, size)
    # Large-scale light and shadow over the whole scene, applied with the contour shading below.
    light = rng.uniform(0.0, 0.35)
    lighting = noise_image(rng, (size, size), (3, 12))
    # Nearest upsampling then box reduction gives back the untouched background pixels exactly.
    scene = background.resize((render, render), Image.Resampling.NEAREST) if ss > 1 else background
    draw_clutter(rng, scene, cfg, render, body_h)
    canvas = shrink(scene)

    # Clothing: regions with their own colour and texture.
    skin = jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 10)
    top = random_colour(rng)
    bottom = random_colour(rng, val=(0.1, 0.8))
    sleeves = int(rng.choice(3, p=[0.15, 0.45, 0.4]))  # none, short, long
    shorts = bool(rng.random() < 0.3)
    hair_a = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    hair_b = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    # Each layer: (texture kind, colour 1, colour 2, part ids); textures are made at paste time over
    # the layer's bounding box only.
    layers = [
        (
            "noise",
            jitter(rng, skin, 6),
            jitter(rng, skin, 14),
            (NECK, HEAD, R_HAND, L_HAND)
            + ((R_UARM, L_UARM) if sleeves == 0 else ())
            + ((R_FARM, L_FARM) if sleeves < 2 else ())
            + ((R_SHIN, L_SHIN) if shorts else ()),
        ),
        (
            str(rng.choice(CLOTH_KINDS)),
            top,
            random_colour(rng),
            (TORSO,) + ((R_UARM, L_UARM) if sleeves else ()) + ((R_FARM, L_FARM) if sleeves == 2 else ()),
        ),
        (
            str(rng.choice(CLOTH_KINDS[:5])),
            bottom,
            jitter(rng, bottom, 40),
            (R_THIGH, L_THIGH) + (() if shorts else (R_SHIN, L_SHIN)),
        ),
        ("flat", random_colour(rng, val=(0.05, 0.5)), None, (R_FOOT, L_FOOT)),
        ("noise", jitter(rng, hair_a, 8), jitter(rng, hair_b, 8), (HAIR,)),
    ]

    ids = Image.new("L", (render, render), 0)
    draw_ids = ImageDraw.Draw(ids)
    # Every outline goes to output px in one product (back to front), then is drawn in render px.
    in_order = sorted(fig.parts, key=lambda item: item[0])
    parts_out = to_out(np.concatenate([poly for _, _, poly in in_order]))
    ends = np.cumsum([len(poly) for _, _, poly in in_order])[:-1]
    for (_, part, _), poly in zip(in_order, np.split(to_render(parts_out), ends)):
        draw_ids.polygon(flat_xy(poly), fill=part)

    # Occluders: objects in front of the person, centred near a random joint.
    if rng.random() < cfg.occluder_prob:
        for k in range(1 + int(rng.integers(cfg.max_occluders))):
            anchor = joints[rng.integers(16)] + rng.normal(0, 0.08, 2) * zoom
            radius = rng.uniform(*cfg.occluder_size) * zoom * 0.5
            if rng.random() < 0.3:  # a bar across the figure
                phi = rng.uniform(0, math.pi)
                d = np.array([math.cos(phi), math.sin(phi)]) * zoom * rng.uniform(0.4, 0.7)
                poly = capsule(anchor - d, anchor + d, radius * 0.35, radius * 0.35, 2)
            else:
                poly = random_polygon(rng, anchor, radius)
            draw_ids.polygon(flat_xy(to_render(poly)), fill=OCCLUDER_ID + k)
            colour = random_colour(rng)
            layers.append((str(rng.choice(CLOTH_KINDS)), colour, jitter(rng, colour, 60), (OCCLUDER_ID + k,)))

    ids_arr = np.asarray(ids)
    region_lut = np.zeros(256, dtype=np.uint8)
    for r, (_, _, _, members) in enumerate(layers, start=1):
        region_lut[list(members)] = r
    region_map = region_lut.take(ids_arr)
    for r, (kind, c1, c2, _) in enumerate(layers, start=1):
        alpha = shrink(Image.fromarray((region_map == r).view(np.uint8) * np.uint8(255)))
        box = alpha.getbbox()
        if box is not None:
            tex = texture(rng, (box[2] - box[0], box[3] - box[1]), kind, c1, c2, size)
            canvas.paste(tex, box[:2], alpha.crop(box))

    # Shading: soft darkening towards every contour between groups, and a dark outline on it.
    groups = GROUP_TABLE.take(ids_arr)
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
    uncovered = OWN_TABLE[np.arange(len(BODY_JOINTS)), on_top]
    facing = np.ones(len(BODY_JOINTS), dtype=bool)
    for name, ok in fig.face_visible.items():
        facing[JOINT_INDEX[name]] = ok
    visible = in_image & uncovered & facing

    # Box-filtered coverage comes back as round(255·k / ss²): invert it to the exact count k.
    person = np.asarray(shrink(Image.fromarray(PERSON_TABLE.take(ids_arr))), dtype=np.float32)
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
