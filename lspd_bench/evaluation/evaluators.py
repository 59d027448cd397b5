"""The evaluators, one per metric: what a metric's figures are called, which is the headline, how a model's
predictions are scored and kept (in the manner of detectron2's ``DatasetEvaluator``).

A dataset names its metric (``lspd_bench.config.Dataset.metric``); whatever reads or writes a metric's
figures asks its evaluator: the final evaluation and the per-epoch validation (``lspd_bench.evaluation.run``),
the results table's columns (``lspd_bench.ablate.schema``, ``lspd_bench.ablate.store``), the report's headline,
tables and intervals. A new metric is a ``Metric`` member and one :class:`Evaluator` subclass registered here.

Importing this module needs neither torch nor the data loaders: the torch-free readers (``--dry-run``,
``report``, ``check``) use the declarations, and the scoring imports what it needs when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lspd_bench.config import Metric
from lspd_bench.errors import InputError
from lspd_bench.evaluation import pckh
from lspd_bench.fileio import atomic_path, write_json
from lspd_bench.train.files import PER_PERSON_FILE


class Evaluator:
    """A metric: its declarations (class attributes) and how it scores (``score_stages``) and keeps
    (``write_predictions``) the predictions of every stage of a model on the validation split."""

    metric: ClassVar[Metric]
    headline_name: ClassVar[str]  # what tables and plots call the headline
    headline_key: ClassVar[str]  # the stage figure that is the headline
    columns: ClassVar[tuple[str, ...]]  # the deploy stage's figures in the results table, percent
    percent: ClassVar[float]  # the factor from the scorer's unit to percent
    description: ClassVar[str]  # the accuracy columns in one phrase (the report's conventions)
    predictions_file: ClassVar[str]  # the deploy stage's predictions, in the metric's own format
    #: Whether a run keeps per-person correctness (``per_person.npz``): the paired intervals of the report's
    #: deltas and the claims' verdicts need it; a metric without it reports deltas without an interval.
    per_person: ClassVar[bool] = False

    def score_stages(self, preds, bundle) -> tuple[list[dict[str, Any]], list[str], list[Any]]:
        """For each stage of ``preds`` (``lspd_bench.evaluation.predict.Predictions``) on ``bundle``'s validation
        split: its figures, then the conventions of the scoring, then what :meth:`write_predictions` keeps of each
        stage."""
        raise NotImplementedError

    def write_predictions(self, out: Path, kept: list[Any], preds, deploy_stage: int) -> None:
        """Write the deploy stage's predictions into the run folder ``out`` (``predictions_file``, and
        ``per_person.npz`` when ``per_person``)."""
        raise NotImplementedError


class PCKhEvaluator(Evaluator):
    """MPII's PCKh (``lspd_bench.evaluation.pckh``) against the ``gt_valid.mat``-layout ground truth."""

    metric = Metric.PCKH
    headline_name = "PCKh@0.5 Mean"
    headline_key = pckh.MEAN
    columns = pckh.TABLE_COLUMNS
    percent = 1.0
    description = "PCKh@0.5 per joint group, Mean (count-weighted over 14 joints) and Mean@0.1, in %"
    predictions_file = "predictions_val.json"
    per_person = True

    def score_stages(self, preds, bundle):
        from lspd_bench.evaluation.io import load_mpii_ground_truth

        gt = load_mpii_ground_truth(bundle.val_gt_mat)
        if len(gt.joints) != len(preds.coords[0]):
            raise InputError(
                f"{bundle.val_gt_mat} has {len(gt.joints)} people, the validation split {len(preds.coords[0])}"
            )
        head_size = pckh.head_size_from_boxes(gt.headboxes)
        results = [pckh.pckh(c, gt.joints, gt.visible, head_size) for c in preds.coords]
        return [dict(r.table) for r in results], list(results[0].conventions), results

    def write_predictions(self, out, kept, preds, deploy_stage):
        deployed = kept[deploy_stage - 1]
        with atomic_path(Path(out) / PER_PERSON_FILE) as tmp:
            with open(tmp, "wb") as f:  # per-person correctness: the intervals of ablation deltas and claims
                np.savez(
                    f,
                    correct=deployed.correct,
                    correct_at_01=deployed.correct_at_01,
                    visible=deployed.visible,
                    stage_correct=np.stack([s.correct for s in kept]),
                )
        write_json(Path(out) / self.predictions_file, preds.coords[deploy_stage - 1].tolist(), indent=None)


class CocoAPEvaluator(Evaluator):
    """COCO's keypoint AP by pycocotools (``lspd_bench.evaluation.coco_ap``), on ground-truth or detected boxes."""

    metric = Metric.AP
    headline_name = "AP"
    headline_key = "AP"
    columns = ("AP", "AP50", "AP75", "AP(M)", "AP(L)", "AR")
    percent = 100.0  # pycocotools' fractions
    description = "COCO keypoint AP, AP50, AP75, AP(M), AP(L) and AR, in %"
    predictions_file = "results_val_keypoints.json"

    def score_stages(self, preds, bundle):
        from lspd_bench.evaluation.coco_ap import coco_keypoint_ap, coco_results

        recs = bundle.val.records
        figures, kept, conventions = [], [], []
        for k in range(preds.stages):
            kpts = np.concatenate([preds.coords[k], preds.maxvals[k][..., None]], axis=-1)
            res = coco_results(
                [r.image_id for r in recs],
                kpts,
                np.array([r.score for r in recs]),
                np.array([float(np.prod(r.scale)) * 200.0**2 for r in recs]),
            )
            s = coco_keypoint_ap(bundle.val_coco_gt, res, boxes=bundle.val_boxes)
            figures.append({key: s[key] for key in self.columns})
            kept.append(res)
            conventions = conventions or list(s["conventions"])
        return figures, conventions, kept

    def write_predictions(self, out, kept, preds, deploy_stage):
        from lspd_bench.evaluation.coco_ap import write_results

        write_results(kept[deploy_stage - 1], Path(out) / self.predictions_file)


#: The evaluators by metric.
EVALUATORS: dict[Metric, Evaluator] = {}


def register(cls: type[Evaluator]) -> type[Evaluator]:
    """Add the evaluator ``cls`` (one per ``Metric``)."""
    if cls.metric in EVALUATORS:
        raise ValueError(f"metric {cls.metric!r} has an evaluator already")
    EVALUATORS[cls.metric] = cls()
    return cls


register(PCKhEvaluator)
register(CocoAPEvaluator)


def evaluator(metric: str) -> Evaluator:
    """The evaluator of ``metric`` (a ``Metric`` or its name); ``InputError`` naming the choices otherwise."""
    try:
        return EVALUATORS[Metric(metric)]
    except (ValueError, KeyError):
        raise InputError(f"unknown metric {metric!r}; expected one of: {', '.join(EVALUATORS)}") from None


def keeps_per_person(metric: Any) -> bool:
    """Whether a run scored with ``metric`` (a results row's text; anything unknown: no) keeps per-person data."""
    ev = EVALUATORS.get(metric) if isinstance(metric, str) else None
    return bool(ev and ev.per_person)


#: Every metric's results columns, in registration order (the results table holds them all; a row fills its own).
ACCURACY_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(c for e in EVALUATORS.values() for c in e.columns))
