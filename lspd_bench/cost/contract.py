"""The model contract checked in full (``lspd-bench models --check NAME``): one finding per requirement.

The contract itself is ``lspd_bench.models.contract``. This check builds the model (seed 0) and, in eval
mode without gradients:

1. checks the contract's names (``stride``, ``num_joints``, ``deploy()``, ``deploy_stage``);
2. runs a batch of 2 at each input size (rounded up to a multiple of the stride and of 4), and requires one
   finite N×J×H/4×W/4 tensor per stage;
3. runs ``deploy()`` at the first size and requires one tensor equal to the full model's stage
   ``deploy_stage`` (within ``DEPLOY_RTOL``/``DEPLOY_ATOL``, so that a deploy model that folds batch norm
   into its convolutions passes);
4. counts the deploy model's MACs at the first size with fvcore and with ptflops (both backends), as the
   results table does, and requires a positive figure from each.

It lives after the cost counters in the package's order, since it runs them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from lspd_bench.cost.counters import FULL_COUNTERS
from lspd_bench.cost.macs import count_macs
from lspd_bench.cost.params import count_params
from lspd_bench.errors import InputError
from lspd_bench.models import build, get_entry
from lspd_bench.models.contract import HEATMAP_STRIDE, PoseModel, attribute_problems, deploy_stage, stages_of
from lspd_bench.plugins import first_line

#: Input sizes (H, W) the shapes are checked at: two, with different aspect ratios, so that a swapped axis shows.
SIZES = ((256, 192), (128, 96))
#: How close ``deploy()``'s heatmaps must be to the full model's stage (``torch.allclose``).
DEPLOY_RTOL, DEPLOY_ATOL = 1e-4, 1e-5
#: Uncounted operators a finding names before it says "N more".
_SHOWN = 4


@dataclass(frozen=True)
class Finding:
    """One requirement of the contract: whether the model meets it, and what was seen."""

    check: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fitted_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """``size`` rounded up to multiples of the model's stride and of the heatmap stride."""
    step = math.lcm(stride, HEATMAP_STRIDE)
    return tuple(max(step, -(-side // step) * step) for side in size)  # type: ignore[return-value]


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape))


def check_model(
    name: str, knobs: dict[str, Any] | None = None, sizes: Sequence[tuple[int, int]] = SIZES
) -> list[Finding]:
    """Check registered model ``name`` built with ``knobs`` against the contract; a list of findings.

    An unknown name or knob, or a knob value the model refuses (``InputError``), raises ``InputError``: that
    is the caller's input, not the model's fault. Checks that need what an earlier one found missing are
    not run.
    """
    knobs = dict(knobs or {})
    try:
        entry = get_entry(name)
    except KeyError as exc:
        raise InputError(exc.args[0]) from None
    unknown = sorted(set(knobs) - set(entry.knobs))
    if unknown:
        raise InputError(f"model {name!r} has no knob {', '.join(map(repr, unknown))}; knobs: {', '.join(entry.knobs)}")
    if not sizes or any(len(s) != 2 or min(s) < 1 for s in sizes):
        raise InputError(f"sizes must be (H, W) pairs of positive px, got {list(sizes)}")

    findings: list[Finding] = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build(name, **knobs)
    except InputError as exc:  # a knob value the model refuses
        raise InputError(f"model {name!r}: {exc}") from None
    except Exception as exc:
        return [Finding("builds", False, first_line(exc))]
    if not isinstance(model, nn.Module):
        return [Finding("builds", False, f"the factory returns {type(model).__name__}, not a torch.nn.Module")]
    params = count_params(model)
    findings.append(Finding("builds", True, f"{params / 1e6:.3f} M parameters (full model)"))

    joints = knobs.get("num_joints", entry.knobs.get("num_joints"))
    problems = attribute_problems(model, joints if isinstance(joints, int) else None)
    if not problems and not isinstance(model, PoseModel):
        problems.append("not a PoseModel")
    findings.append(
        Finding(
            "contract names",
            not problems,
            "; ".join(problems)
            or f"stride {model.stride}, num_joints {model.num_joints}, deploy(), deploy_stage {deploy_stage(model)}",
        )
    )
    if problems:
        return findings

    model.eval()
    first: tuple[torch.Tensor, list[torch.Tensor]] | None = None
    for size in sizes:
        h, w = fitted_size(tuple(size), model.stride)
        label = f"heatmaps at {h}x{w}" + (
            "" if (h, w) == tuple(size) else f" ({size[0]}x{size[1]} fitted to the stride)"
        )
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
        finding, outputs = _heatmaps(model, x, label)
        findings.append(finding)
        if first is None and outputs is not None:
            first = (x, outputs)
    if first is None:
        return findings
    x, outputs = first
    deployed, finding = _deploy(model, x, outputs)
    findings.append(finding)
    if deployed is not None:
        findings += _counters(deployed, tuple(x.shape[-2:]))
    return findings


def _heatmaps(model: nn.Module, x: torch.Tensor, label: str) -> tuple[Finding, list[torch.Tensor] | None]:
    n, _, h, w = x.shape
    want = (n, model.num_joints, h // HEATMAP_STRIDE, w // HEATMAP_STRIDE)
    try:
        with torch.inference_mode():
            outputs = stages_of(model(x))
    except Exception as exc:
        return Finding(label, False, f"the forward pass fails: {first_line(exc)}"), None
    if outputs is None:
        return Finding(label, False, "forward returns neither a tensor nor a list of tensors"), None
    wrong = [f"stage {k + 1} is {_shape(t)}" for k, t in enumerate(outputs) if tuple(t.shape) != want]
    if wrong:
        return Finding(label, False, f"expected {'×'.join(map(str, want))} per stage; {', '.join(wrong)}"), None
    if not all(torch.isfinite(t).all() for t in outputs):
        return Finding(label, False, "a heatmap holds NaN or infinite values"), None
    stage = deploy_stage(model)
    if stage > len(outputs):
        return Finding(label, False, f"deploy_stage is {stage} but there are {len(outputs)} stage(s)"), None
    return Finding(label, True, f"{len(outputs)} stage(s) of {'×'.join(map(str, want))}"), outputs


def _deploy(model: nn.Module, x: torch.Tensor, outputs: list[torch.Tensor]) -> tuple[nn.Module | None, Finding]:
    stage = deploy_stage(model)
    label = f"deploy() equals stage {stage}"
    try:
        deployed = model.deploy()
        if not isinstance(deployed, nn.Module):
            return None, Finding(label, False, f"deploy() returns {type(deployed).__name__}, not a torch.nn.Module")
        deployed.eval()
        with torch.inference_mode():
            out = deployed(x)
    except Exception as exc:
        return None, Finding(label, False, f"deploy() or its forward pass fails: {first_line(exc)}")
    if not isinstance(out, torch.Tensor):
        return None, Finding(label, False, f"the deploy model returns {type(out).__name__}, not one heatmap tensor")
    expected = outputs[stage - 1]
    if out.shape != expected.shape:
        return None, Finding(
            label, False, f"the deploy model returns {_shape(out)}, stage {stage} is {_shape(expected)}"
        )
    diff = float((out - expected).abs().max())
    same = torch.allclose(out, expected, rtol=DEPLOY_RTOL, atol=DEPLOY_ATOL)
    params = count_params(deployed)
    detail = f"max |difference| {diff:.3g} at {x.shape[-2]}x{x.shape[-1]}; {params / 1e6:.3f} M parameters deployed"
    return deployed, Finding(
        label, same, detail if same else f"{detail} (allowed: rtol {DEPLOY_RTOL:g}, atol {DEPLOY_ATOL:g})"
    )


def _counters(deployed: nn.Module, size: tuple[int, int]) -> list[Finding]:
    findings = []
    counts = {c.counter: c for c in count_macs(deployed, size)}
    for counter in FULL_COUNTERS:
        c = counts[counter.id]
        check = f"{counter.title} counts the deploy model"
        if c.macs is None or c.macs <= 0:
            findings.append(Finding(check, False, c.error or f"it counts {c.macs} MACs"))
            continue
        skipped = [f"{k}×{v}" for k, v in c.skipped.items()]
        if len(skipped) > _SHOWN:
            skipped = [*skipped[:_SHOWN], f"{len(skipped) - _SHOWN} more"]
        skipped = f"; not counted: {', '.join(skipped)}" if skipped else ""
        findings.append(Finding(check, True, f"{c.gmacs:.4f} GMACs at {size[0]}x{size[1]}{skipped}"))
    return findings
