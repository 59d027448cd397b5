"""Evaluation: heatmap decoding, MPII PCKh, COCO keypoint AP, bootstrap intervals, one evaluator per metric.

Metric functions are pure NumPy on arrays (``decode``, ``pckh``, ``bootstrap``, the NumPy half of
``coco_ap``); ``io`` and ``coco_keypoint_ap`` are the thin adapters to files and pycocotools; ``evaluators``
declares each metric's figures and scores a model with it. Import from the modules: this package imports
nothing, so that the torch-free readers can use ``lspd_bench.evaluation.evaluators`` without torch.
"""
