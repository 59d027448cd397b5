"""Parameter counts."""

from __future__ import annotations

import torch.nn as nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once), as in every pose paper's tables."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
