"""Evaluation: heatmap decoding, MPII PCKh, COCO keypoint AP, bootstrap intervals.

Metric functions are pure NumPy on arrays (``decode``, ``pckh``, ``bootstrap``, the NumPy half of
``coco_ap``); ``io`` and ``coco_keypoint_ap`` are the thin adapters to files and pycocotools.
"""

from lspd_bench.evaluation.bootstrap import bootstrap_ci, paired_bootstrap, pckh_bootstrap_ci
from lspd_bench.evaluation.coco_ap import coco_keypoint_ap, coco_results, oks, oks_nms, rescore, write_results
from lspd_bench.evaluation.decode import (
    decode,
    flip_back,
    flip_test_average,
    get_final_preds,
    get_max_preds,
    transform_preds,
)
from lspd_bench.evaluation.pckh import PCKhResult, head_size_from_boxes, pckh

__all__ = [
    "PCKhResult",
    "bootstrap_ci",
    "coco_keypoint_ap",
    "coco_results",
    "decode",
    "flip_back",
    "flip_test_average",
    "get_final_preds",
    "get_max_preds",
    "head_size_from_boxes",
    "oks",
    "oks_nms",
    "paired_bootstrap",
    "pckh",
    "pckh_bootstrap_ci",
    "rescore",
    "transform_preds",
    "write_results",
]
