"""The scene around the person: textures, a procedural background, distractors behind the figure.

Backgrounds are gradients, noise, stripes or checks, often split by a horizon; distractor shapes and
stray limbs are drawn behind the person (occluders in front of it are placed by the renderer).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from lspd_bench.data.synth.config import SynthConfig
from lspd_bench.data.synth.figure import SKIN_TONES, capsule, ellipse, jitter, random_colour, rgb


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs, ys


def _mix(t: np.ndarray | Image.Image, c1, c2) -> Image.Image:
    """RGB image blending colour c1 (t = 0) into c2 (t = 1); ``t`` in [0, 1] or an L image."""
    if not isinstance(t, Image.Image):
        t = Image.fromarray((np.clip(t, 0, 1) * 255).astype(np.uint8))
    return Image.composite(Image.new("RGB", t.size, tuple(c2)), Image.new("RGB", t.size, tuple(c1)), t)


def noise_image(rng: np.random.Generator, wh: tuple[int, int], cells: tuple[int, int] = (2, 9)) -> Image.Image:
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


def texture(
    rng: np.random.Generator, wh: tuple[int, int], kind: str, c1, c2=None, size: int | None = None
) -> Image.Image:
    """A w×h RGB texture: flat, gradient, stripes, checks or smooth noise in colours c1 / c2; pattern
    periods scale with the image side ``size`` (default max(w, h))."""
    if kind == "flat":
        return Image.new("RGB", wh, tuple(c1))
    if kind == "noise":
        return _mix(noise_image(rng, wh), c1, c2)
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


CLOTH_KINDS = ("flat", "flat", "stripes", "checks", "noise", "noise")
_BACKGROUND_KINDS = ("gradient", "noise", "stripes", "checks", "noise", "gradient")


def make_background(rng: np.random.Generator, size: int) -> Image.Image:
    """A procedural background: one texture, often split by a horizon into a second one."""
    hue = rng.random()

    def colour():
        return rgb(hue + rng.normal(0, 0.15), rng.uniform(0.05, 0.7), rng.uniform(0.2, 0.95))

    base = texture(rng, (size, size), str(rng.choice(_BACKGROUND_KINDS)), colour(), colour())
    if rng.random() < 0.5:
        floor = texture(rng, (size, size), str(rng.choice(_BACKGROUND_KINDS)), colour(), colour())
        xs, ys = _grid(size)
        horizon = rng.uniform(0.35, 0.85) * size + (xs - size / 2) * rng.normal(0, 0.15)
        base = Image.composite(floor, base, Image.fromarray((ys > horizon).astype(np.uint8) * 255))
    return base


def random_polygon(rng: np.random.Generator, center: np.ndarray, radius: float) -> np.ndarray:
    kind = rng.integers(3)
    angle = rng.uniform(0, math.pi)
    if kind == 0:  # rotated rectangle
        w, h = radius * rng.uniform(0.4, 1.0), radius * rng.uniform(0.4, 1.0)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    elif kind == 1:  # ellipse
        return ellipse(center, radius * rng.uniform(0.5, 1.0), radius * rng.uniform(0.3, 1.0), angle, 20)
    else:  # irregular polygon
        k = int(rng.integers(3, 7))
        t = np.sort(rng.uniform(0, 2 * math.pi, k))
        r = radius * rng.uniform(0.5, 1.0, k)
        corners = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    c, s = math.cos(angle), math.sin(angle)
    return center + corners @ np.array([[c, s], [-s, c]])


def flat_xy(poly: np.ndarray) -> list[float]:
    """A K×2 polygon as the flat [x0, y0, x1, y1, ...] list ImageDraw takes."""
    return poly.ravel().tolist()


def draw_clutter(rng: np.random.Generator, canvas: Image.Image, cfg: SynthConfig, render: int, body_h: float) -> None:
    """Distractor shapes and stray limbs behind the person (render px)."""
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.poisson(cfg.clutter * 7))):
        center = rng.uniform(-0.1, 1.1, 2) * render
        poly = random_polygon(rng, center, rng.uniform(0.05, 0.3) * render)
        fill = random_colour(rng)
        draw.polygon(flat_xy(poly), fill=fill, outline=jitter(rng, fill, 40) if rng.random() < 0.5 else None)
    # Stray limbs: two-segment capsules in skin or cloth colours, often entering from the border.
    for _ in range(int(rng.poisson(cfg.clutter * 2.0))):
        tone = SKIN_TONES[rng.integers(len(SKIN_TONES))]
        colour = jitter(rng, tone) if rng.random() < 0.5 else random_colour(rng)
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
        draw.polygon(flat_xy(capsule(start, mid, width, 0.85 * width)), fill=colour, outline=outline)
        draw.polygon(flat_xy(capsule(mid, end, 0.85 * width, 0.7 * width)), fill=colour, outline=outline)
