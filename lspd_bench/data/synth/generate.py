"""Generating a dataset: rendering chunks across processes, writing the files, hashing and ``meta.json``.

Every sample's RNG is seeded by (seed, split, index): the files are byte-identical for the same seed,
configuration and ``SYNTH_VERSION`` however many processes render them. ``meta.json`` records each file's
sha256 and a content ``fingerprint`` over them.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from lspd_bench.data.keypoints import COCO_JOINTS, MPII_JOINTS
from lspd_bench.data.synth.config import SYNTH_VERSION, SynthConfig
from lspd_bench.data.synth.export import (
    GT_MAT_FILE,
    META_FILE,
    _annotation,
    _plus_one,
    _write_json,
    coco_document,
    coco_file,
    image_name,
    images_file,
    mpii_entries,
    mpii_file,
)
from lspd_bench.data.synth.render import render_sample
from lspd_bench.errors import InputError
from lspd_bench.fileio import atomic_path


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
