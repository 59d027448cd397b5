"""MPII PCKh: each convention of docs/protocols.md ("MPII PCKh") pinned with a hand-computed case."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lspd_bench.errors import InputError
from lspd_bench.evaluation.pckh import PCKH_CONVENTIONS, head_size_from_boxes, pckh

N_J = 16
HEAD = 10.0  # px; with a 10 px head, an error of d px is d/10 head sizes exactly in floating point
SCORED = [j for j in range(N_J) if j not in (6, 7)]


def _people(n: int, seed: int = 0) -> np.ndarray:
    """Ground truth in 1-based px, on a quarter-pixel grid so that the hand cases are exact in floats."""
    return np.round(np.random.default_rng(seed).uniform(50.0, 500.0, size=(n, N_J, 2)) * 4) / 4


def _exact(gt: np.ndarray) -> np.ndarray:
    """The 0-based prediction that sits exactly on the 1-based ground truth."""
    return gt - 1.0


def _run(pred, gt, visible=None, head=HEAD):
    n = len(gt)
    visible = np.ones((n, N_J), bool) if visible is None else visible
    return pckh(pred, gt, visible, np.full(n, head))


def test_plus_one_shift_turns_0_based_predictions_into_1_based():
    gt = _people(3)
    on_target = _run(_exact(gt), gt)
    assert on_target.curve[0, SCORED] == pytest.approx(100.0)  # error 0 even at threshold 0
    assert on_target.normalized_error[:, SCORED] == pytest.approx(0.0)
    # Feeding the 1-based ground truth as a "prediction" is off by (1, 1): √2 px = 0.1414 head sizes.
    unshifted = _run(gt, gt)
    assert unshifted.normalized_error[0, 0] == pytest.approx(math.sqrt(2) / HEAD)
    assert unshifted.mean_at_01 == 0.0


def test_error_exactly_on_the_threshold_is_correct_as_with_less_or_equal():
    gt = _people(2)
    pred = _exact(gt)
    pred[..., 0] += 3.0
    pred[..., 1] += 4.0  # a 3-4-5 triangle: error exactly 5 px = 0.5 head sizes
    res = _run(pred, gt)
    assert res.normalized_error[0, 0] == 0.5
    assert res.mean == 100.0  # `<` would give 0
    assert res.curve[49, 0] == 0.0  # at 0.49 it is a miss


def test_mean_at_01_is_read_at_exactly_0_1_not_at_0_11():
    gt = _people(4)
    pred = _exact(gt)
    pred[:2, :, 0] += 1.0  # error 0.1 head sizes: correct at 0.1
    pred[2:, :, 0] += 1.05  # error 0.105: correct at 0.11 only
    res = _run(pred, gt)
    assert res.mean_at_01 == pytest.approx(50.0)
    idx_011 = int(np.argmin(np.abs(res.thresholds - 0.11)))
    assert idx_011 == 11 and res.curve[idx_011, SCORED] == pytest.approx(100.0)  # HRNet's index 11
    assert res.table["Mean@0.1"] == res.mean_at_01


def test_mean_is_weighted_by_visible_count_not_plain_mean_of_joints():
    gt = _people(4)
    pred = _exact(gt)
    visible = np.ones((4, N_J), bool)
    visible[1:, 5] = False  # l_ankle visible in person 0 only, and wrong there
    pred[0, 5] += 100.0
    res = _run(pred, gt, visible)
    assert res.per_joint[5] == 0.0
    assert res.joint_count[5] == 1
    assert res.mean == pytest.approx(100.0 * 52 / 53)  # 13 joints × 4 people right, 1 wrong
    assert res.mean != pytest.approx(np.mean(res.per_joint[SCORED]))  # the plain mean is 92.86


def test_pelvis_and_thorax_errors_do_not_move_any_summary():
    gt = _people(3)
    pred = _exact(gt)
    pred[:, [6, 7]] += 500.0
    res = _run(pred, gt)
    assert res.per_joint[6] == 0.0 and res.per_joint[7] == 0.0
    assert all(v == 100.0 for v in res.table.values())


def test_head_is_head_top_alone_and_other_groups_average_left_and_right():
    gt = _people(2)
    pred = _exact(gt)
    pred[:, 8] += 50.0  # upper_neck: not in Head, but in the Mean
    pred[:, 12] += 50.0  # r_shoulder wrong, l_shoulder right
    pred[0, 11] += 50.0  # r_elbow wrong for one of two people
    res = _run(pred, gt)
    assert res.table["Head"] == 100.0
    assert res.table["Shoulder"] == 50.0
    assert res.table["Elbow"] == 75.0
    assert res.mean == pytest.approx(100.0 * (28 - 2 - 2 - 1) / 28)


def test_missing_joints_never_count_even_with_huge_errors():
    gt = _people(2)
    pred = _exact(gt)
    visible = np.ones((2, N_J), bool)
    visible[0, 0] = False
    pred[0, 0] = 1e6
    gt[0, 0] = np.nan  # missing joints may carry any value in the ground truth
    res = _run(pred, gt, visible)
    assert res.mean == 100.0 and res.joint_count[0] == 1
    assert not res.correct[0, 0] and np.isnan(res.normalized_error[0, 0])


def test_head_size_is_0_6_times_head_box_diagonal():
    boxes = np.array([[[10.0, 20.0], [40.0, 60.0]], [[0.0, 0.0], [5.0, 12.0]]])
    assert head_size_from_boxes(boxes) == pytest.approx([0.6 * 50.0, 0.6 * 13.0])


def test_curve_has_51_thresholds_and_conventions_are_stated():
    res = _run(_exact(_people(1)), _people(1))
    assert res.curve.shape == (51, N_J) and res.thresholds[10] == 0.1 and res.thresholds[-1] == 0.5
    text = " ".join(res.conventions)
    for fact in ("0.11", "<=", "pelvis and thorax", "visible count", "SC_BIAS 0.6", "+1"):
        assert fact in text
    assert res.conventions == PCKH_CONVENTIONS


def _reference_pckh(pred, gt, visible, head):
    """A direct loop over people and joints, written from the protocol's steps."""
    correct = np.zeros(N_J)
    count = np.zeros(N_J)
    for p in range(len(gt)):
        for j in range(N_J):
            if visible[p, j]:
                count[j] += 1
                d = math.hypot(pred[p, j, 0] + 1 - gt[p, j, 0], pred[p, j, 1] + 1 - gt[p, j, 1])
                correct[j] += d / head[p] <= 0.5
    return 100 * correct / count, 100 * correct[SCORED].sum() / count[SCORED].sum()


def test_vectorised_result_matches_a_direct_loop():
    rng = np.random.default_rng(3)
    gt = _people(40, seed=3)
    head = rng.uniform(10.0, 40.0, 40)
    visible = rng.random((40, N_J)) > 0.2
    pred = _exact(gt) + rng.normal(0.0, 8.0, gt.shape)
    res = pckh(pred, gt, visible, head)
    per_joint, mean = _reference_pckh(pred, gt, visible, head)
    assert res.per_joint == pytest.approx(per_joint)
    assert res.mean == pytest.approx(mean)
    assert res.correct.sum() == round(float((per_joint * visible.sum(0) / 100).sum()))


def test_to_dict_is_strict_json_and_joints_without_cases_are_null():
    gt = _people(2)
    visible = np.ones((2, N_J), bool)
    visible[:, 0] = False
    d = _run(_exact(gt), gt, visible).to_dict(per_person=True)
    text = json.dumps(d, allow_nan=False)
    assert d["per_joint"]["r_ankle"] is None and d["joint_count"]["r_ankle"] == 0
    assert d["table"]["Mean"] == 100.0 and len(d["curve"]["head_top"]) == 51
    assert len(d["correct"]) == 2 and "conventions" in json.loads(text)


def test_result_is_frozen():
    res = _run(_exact(_people(1)), _people(1))
    with pytest.raises(AttributeError):
        res.table = {}
    with pytest.raises(ValueError):
        res.correct[0, 0] = False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, g, v, h: (p[:, :15], g, v, h), "predictions must be N×16×2"),
        (lambda p, g, v, h: (p[:2], g, v, h), "2 predictions for 3 ground-truth people"),
        (
            lambda p, g, v, h: (np.where(np.arange(16)[None, :, None] == 4, np.nan, p), g, v, h),
            "NaN or inf at person 0 joint 4 (l_knee)",
        ),
        (lambda p, g, v, h: (p, g, v[:, :10], h), "visible must be N×16"),
        (lambda p, g, v, h: (p, g, v, np.array([10.0, 0.0, 10.0])), "head size must be a positive number"),
        (lambda p, g, v, h: (p, g, np.zeros_like(v), h), "no visible joints"),
    ],
)
def test_bad_inputs_raise_input_error_naming_the_problem(change, message):
    gt = _people(3)
    args = change(_exact(gt), gt, np.ones((3, N_J), bool), np.full(3, HEAD))
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pckh(*args)
