"""Parameter counts."""

from __future__ import annotations

import torch.nn as nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once), as in every pose paper's tables."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def architecture_hash(model: nn.Module, input_hw: tuple[int, int]) -> str:
    """What a network's cost depends on, hashed: its layers and their settings (the module tree's repr), the
    names and shapes of its parameters and buffers, and the input size. Two cells with the same hash run the
    same computation, whatever their weights."""
    import hashlib
    import json

    tensors = [(name, list(t.shape), str(t.dtype)) for name, t in [*model.named_parameters(), *model.named_buffers()]]
    text = json.dumps([repr(model), tensors, list(input_hw)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
