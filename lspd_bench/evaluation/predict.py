"""Run a model over a top-down dataset and decode every stage's heatmaps to image coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from lspd_bench.evaluation.decode import flip_test_average, get_final_preds


@dataclass(frozen=True)
class Predictions:
    """Per-stage decoded joints of N people, in dataset order.

    ``coords[k]`` is N×J×2 (x, y) in 0-based px of the original image, ``maxvals[k]`` N×J the heatmap
    peak values (keypoint scores) of stage k+1.
    """

    coords: list[np.ndarray]
    maxvals: list[np.ndarray]
    flip_test: bool
    decoding: str

    @property
    def stages(self) -> int:
        return len(self.coords)


def _stages(output) -> list[torch.Tensor]:
    return list(output) if isinstance(output, (list, tuple)) else [output]


@torch.inference_mode()
def predict(
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    *,
    flip_pairs,
    flip_test: bool = True,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    method: str = "argmax",
    workers: int = 0,
) -> Predictions:
    """Predict every person of ``dataset`` (items with ``image`` and ``meta.center/scale``).

    With ``flip_test`` each batch also runs mirrored; the heatmaps are flipped back with ``flip_pairs``,
    shifted one pixel (HRNet's ``SHIFT_HEATMAP``) and averaged with the plain ones. Decoding is
    ``method`` (argmax with the quarter-pixel shift, or DARK), mapped back through the crop's inverse
    affine. The model is put in eval mode and left there.
    """
    model.eval()
    device = torch.device(device)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    coords: list[list[np.ndarray]] | None = None
    maxvals: list[list[np.ndarray]] | None = None
    for batch in loader:
        images = batch["image"].to(device)
        outputs = [h.float().cpu().numpy() for h in _stages(model(images))]
        if flip_test:
            flipped = [h.float().cpu().numpy() for h in _stages(model(torch.flip(images, dims=[3])))]
            outputs = [flip_test_average(h, f, flip_pairs, shift=True) for h, f in zip(outputs, flipped)]
        center = batch["meta"]["center"].numpy()
        scale = batch["meta"]["scale"].numpy()
        if coords is None:
            coords, maxvals = [[] for _ in outputs], [[] for _ in outputs]
        for k, heatmaps in enumerate(outputs):
            c, m = get_final_preds(heatmaps, center, scale, method)
            coords[k].append(c)
            maxvals[k].append(m.reshape(m.shape[0], -1))
    if coords is None or maxvals is None:
        raise ValueError("the dataset is empty")
    return Predictions([np.concatenate(c) for c in coords], [np.concatenate(m) for m in maxvals], flip_test, method)
