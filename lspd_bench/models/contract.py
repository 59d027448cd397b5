"""The model contract: what the suite needs of every model, built in or a plugin's, written down once.

A registered factory ``factory(num_joints=..., **knobs)`` (every knob with a default) returns a
``torch.nn.Module`` that is a :class:`PoseModel`:

- ``forward(x)``: B×3×H×W → the heatmaps of every stage, earliest first, each B×J×H/4×W/4
  (:data:`HEATMAP_STRIDE`: the suite's targets are at a quarter of the input); a single tensor is one stage;
- ``deploy()``: the inference module, which is what is profiled and timed; its forward returns one heatmap
  tensor equal to the full model's stage ``deploy_stage`` in eval mode;
- ``stride``: the multiple (px) that input heights and widths must be, checked before a run starts;
- ``num_joints``: J, the heatmap channels (the suite passes the dataset's count as the ``num_joints`` knob);
- optionally ``deploy_stage``: the 1-based stage that ``deploy()`` returns and that a run's headline scores
  (default 1).

:func:`static_problems` is the cheap part, checked when a plugin registers a model (the model is built on
the meta device, so no memory is allocated and no weight is initialised); ``lspd_bench.cost.contract``
checks the rest (shapes at two input sizes, ``deploy()`` against the full model, the MAC counters), for
``lspd-bench models --check NAME``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol, runtime_checkable

import torch
import torch.nn as nn

#: Heatmaps are at input / 4 (the targets the data pipeline renders), whatever the model's ``stride``.
HEATMAP_STRIDE = 4


@runtime_checkable
class PoseModel(Protocol):
    """What every registered model provides (``isinstance(model, PoseModel)`` checks that the names exist)."""

    stride: int
    num_joints: int

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """B×3×H×W → one B×J×H/4×W/4 heatmap tensor per stage, earliest first (or one tensor)."""
        ...

    def deploy(self) -> nn.Module:
        """The inference module: returns stage ``deploy_stage``'s heatmaps (default 1) as one tensor."""
        ...


def deploy_stage(model: nn.Module) -> int:
    """The 1-based stage ``deploy()`` returns and a run scores (``deploy_stage``, default 1)."""
    return int(getattr(model, "deploy_stage", 1))


def stages_of(output: Any) -> list[torch.Tensor] | None:
    """A forward pass's heatmaps as a list (one tensor is one stage); None when it is neither."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (list, tuple)) and output and all(isinstance(t, torch.Tensor) for t in output):
        return list(output)
    return None


def attribute_problems(model: Any, num_joints: int | None = None) -> list[str]:
    """What ``model`` lacks of :class:`PoseModel`'s names (``num_joints``: the count it was built with)."""
    if not isinstance(model, nn.Module):
        return [f"the factory returns {type(model).__name__}, not a torch.nn.Module"]
    problems = []
    if not callable(getattr(model, "deploy", None)):
        problems.append("no deploy() (the inference module, which is profiled and timed)")
    stride = getattr(model, "stride", None)
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        problems.append("no stride (a positive int: the multiple, in px, that input sides must be)")
    joints = getattr(model, "num_joints", None)
    if not isinstance(joints, int) or isinstance(joints, bool):
        problems.append("no num_joints (an int: the heatmap channels)")
    elif num_joints is not None and joints != num_joints:
        problems.append(f"num_joints is {joints} for a model built with num_joints={num_joints}")
    stage = getattr(model, "deploy_stage", 1)
    if not isinstance(stage, int) or stage < 1:
        problems.append(f"deploy_stage is {stage!r}, not a 1-based stage number")
    return problems


def _build_quietly(factory: Callable[..., nn.Module], knobs: dict[str, Any]) -> nn.Module:
    """Build on the meta device (no memory, no initialisation); on the CPU if the constructor needs real
    tensors. The global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        try:
            with torch.device("meta"):
                return factory(**knobs)
        except Exception:
            return factory(**knobs)


def static_problems(entry) -> list[str]:
    """The contract's cheap part for a registry entry: its factory takes ``num_joints`` and has a default for
    every knob, and the model it builds with those defaults has :class:`PoseModel`'s names."""
    if "num_joints" not in entry.knobs:
        return ["its factory has no num_joints keyword (the suite passes the dataset's joint count)"]
    missing = [k for k, v in entry.knobs.items() if v is inspect.Parameter.empty]
    if missing:
        return [f"its factory has no default for {', '.join(missing)} (every knob needs one)"]
    try:
        model = _build_quietly(entry.factory, {})
    except Exception as exc:
        from lspd_bench.plugins import first_line

        return [f"building it with its default knobs fails: {first_line(exc)}"]
    return attribute_problems(model, entry.knobs["num_joints"])


#: The channels and side of the tensor a block is tried on when a plugin registers it.
_BLOCK_PROBE = (32, 8)


def block_problems(block: Callable[..., nn.Module]) -> list[str]:
    """An LSPD block type: ``block(channels)`` is a module that keeps a 1×C×H×W input's shape (tried on the
    CPU at 32 channels, 8×8; the global random state is left as it was)."""
    from lspd_bench.plugins import first_line

    channels, side = _BLOCK_PROBE
    with torch.random.fork_rng(devices=[]):
        try:
            module = block(channels)
        except Exception as exc:
            return [f"{getattr(block, '__name__', block)}({channels}) fails: {first_line(exc)}"]
        if not isinstance(module, nn.Module):
            return [
                f"{getattr(block, '__name__', block)}({channels}) returns {type(module).__name__}, not a "
                "torch.nn.Module"
            ]
        try:
            with torch.inference_mode():
                out = module.eval()(torch.zeros(1, channels, side, side))
        except Exception as exc:
            return [f"its forward pass fails on a 1×{channels}×{side}×{side} input: {first_line(exc)}"]
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, channels, side, side):
        shape = "×".join(map(str, out.shape)) if isinstance(out, torch.Tensor) else type(out).__name__
        return [f"it turns a 1×{channels}×{side}×{side} input into {shape} (a block keeps the shape)"]
    return []
