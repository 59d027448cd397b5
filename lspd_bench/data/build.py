"""From a run's configuration to its training and validation datasets and what scoring needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lspd_bench.config import Boxes, Dataset, Metric, RunConfig, cache_root
from lspd_bench.data.dataset import FolderImages, PoseDataset, default_flip_pairs
from lspd_bench.data.keypoints import COCO_UPPER_BODY
from lspd_bench.data.transforms import AugmentConfig
from lspd_bench.errors import InputError
from lspd_bench.fileio import file_lock


@dataclass
class DataBundle:
    """The datasets of a run and the facts evaluation needs about them.

    ``metric`` is the dataset's (``Dataset.metric``): ``pckh`` (MPII-style data: ``val_gt_mat`` holds the
    ``gt_valid.mat``-layout ground truth in ``val`` order) or ``ap`` (COCO: ``val_coco_gt`` is the keypoints
    file, ``val_boxes`` says where the person boxes came from). ``fingerprint`` identifies the data's content.
    """

    train: PoseDataset
    val: PoseDataset
    num_joints: int
    flip_pairs: tuple[tuple[int, int], ...]
    metric: Metric
    fingerprint: str
    description: str
    val_gt_mat: Path | None = None
    val_coco_gt: Path | None = None
    val_boxes: Boxes = Boxes.GT

    def train_unaugmented(self) -> PoseDataset:
        """The training people as evaluation crops (no augmentation), in training-set order."""
        t = self.train
        return PoseDataset(
            t.records,
            t.images,
            input_size=t.input_size,
            heatmap_size=t.heatmap_size,
            train=False,
            flip_pairs=t.flip_pairs,
            sigma=t.sigma,
        )


def synth_dir(cfg: RunConfig) -> Path:
    """Where the synthetic benchmark of ``cfg`` lives: ``data_dir``, or the cache by preset and seed."""
    if cfg.data_dir:
        return Path(cfg.data_dir)
    from lspd_bench.data.synth import SYNTH_VERSION

    return cache_root(cfg) / "synth" / f"{cfg.synth_preset}-v{SYNTH_VERSION}-seed{cfg.data_seed}"


def ensure_synth(cfg: RunConfig, workers: int = 2) -> Path:
    """The synthetic benchmark of ``cfg``, generated first when its folder holds none (under a lock)."""
    from lspd_bench.data.synth import META_FILE, generate_dataset, preset, read_meta

    root = synth_dir(cfg)
    if root.exists() and not root.is_dir():
        raise InputError(f"data_dir {root} is a file, not a dataset folder")
    with file_lock(root.parent / f".{root.name}.lock"):
        if not (root / META_FILE).is_file():
            if cfg.data_dir and root.exists() and any(root.iterdir()):
                raise InputError(f"data_dir {root} is not empty and holds no synthetic dataset (no {META_FILE})")
            generate_dataset(root, preset(cfg.synth_preset), seed=cfg.data_seed, workers=workers)
    read_meta(root)
    return root


def _augment(cfg: RunConfig) -> AugmentConfig:
    return AugmentConfig(
        scale_factor=cfg.aug_scale,
        rot_factor=cfg.aug_rot,
        rot_prob=cfg.aug_rot_prob,
        flip_prob=cfg.aug_flip,
        half_body_prob=cfg.aug_half_body,
    )


def _datasets(cfg: RunConfig, train_records, train_images, val_records, val_images, upper_body=None):
    wh = (cfg.input_size[1], cfg.input_size[0])  # PoseDataset takes (w, h)
    common = dict(input_size=wh, sigma=cfg.sigma, upper_body=upper_body)
    train = PoseDataset(train_records, train_images, train=True, aug=_augment(cfg), seed=cfg.seed, **common)
    val = PoseDataset(val_records, val_images, train=False, **common)
    return train, val


def _file_fingerprint(*paths: Path) -> str:
    """SHA-256 over the annotation files (images are named by them)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    return path


def build_data(cfg: RunConfig) -> DataBundle:
    """Training and validation datasets of ``cfg.dataset`` (``synth``, ``mpii`` or ``coco``).

    Layouts: synth — the generator's folder; mpii — HRNet's ``annot/{mpii_train,mpii_val}.json``,
    ``annot/gt_valid.mat`` and ``images/``; coco — ``annotations/person_keypoints_{train,val}2017.json``
    and ``{train,val}2017/`` image folders.
    """
    from lspd_bench.data.coco import load_coco
    from lspd_bench.data.mpii import load_mpii
    from lspd_bench.data.synth import GT_MAT_FILE, load_synth, read_meta

    if cfg.dataset is Dataset.SYNTH:
        root = ensure_synth(cfg)
        train_records, train_images = load_synth(root, "train")
        val_records, val_images = load_synth(root, "val")
        train, val = _datasets(cfg, train_records, train_images, val_records, val_images)
        meta = read_meta(root)
        return DataBundle(
            train,
            val,
            train.num_joints,
            train.flip_pairs,
            cfg.dataset.metric,
            meta["fingerprint"],
            f"synthetic benchmark {cfg.synth_preset} (seed {cfg.data_seed}) at {root}",
            val_gt_mat=root / GT_MAT_FILE,
        )
    if not cfg.data_dir:
        raise InputError(f"dataset={cfg.dataset} needs data_dir=<root of the dataset>")
    root = Path(cfg.data_dir)
    if cfg.dataset is Dataset.MPII:
        train_ann = _require(root / "annot" / "mpii_train.json", "MPII training annotations")
        val_ann = _require(root / "annot" / "mpii_val.json", "MPII validation annotations")
        gt_mat = _require(root / "annot" / "gt_valid.mat", "MPII validation ground truth")
        images = FolderImages(root / "images")
        train, val = _datasets(cfg, load_mpii(train_ann), images, load_mpii(val_ann, gt_mat), images)
        return DataBundle(
            train,
            val,
            16,
            train.flip_pairs,
            cfg.dataset.metric,
            _file_fingerprint(train_ann, val_ann, gt_mat),
            f"MPII at {root}",
            val_gt_mat=gt_mat,
        )
    train_ann = _require(root / "annotations" / "person_keypoints_train2017.json", "COCO training annotations")
    val_ann = _require(root / "annotations" / "person_keypoints_val2017.json", "COCO validation annotations")
    aspect = cfg.input_size[1] / cfg.input_size[0]
    detections = Path(cfg.coco_detections) if cfg.coco_detections else None
    val_records = load_coco(
        val_ann, detections=detections, score_threshold=cfg.det_score_threshold, aspect_ratio=aspect
    )
    train, val = _datasets(
        cfg,
        load_coco(train_ann, aspect_ratio=aspect),
        FolderImages(root / "train2017"),
        val_records,
        FolderImages(root / "val2017"),
        upper_body=COCO_UPPER_BODY,
    )
    fingerprint = _file_fingerprint(train_ann, val_ann, *([detections] if detections else []))
    return DataBundle(
        train,
        val,
        17,
        default_flip_pairs(17),
        cfg.dataset.metric,
        fingerprint,
        f"COCO at {root}",
        val_coco_gt=val_ann,
        val_boxes=Boxes.DETECTIONS if detections else Boxes.GT,
    )
