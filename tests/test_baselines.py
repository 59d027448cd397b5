"""The baselines and the teacher: interface, shapes, deploy module and published parameter counts."""

from __future__ import annotations

import pytest
import torch

from lspd_bench.errors import InputError
from lspd_bench.models import build, get_entry

SINGLE_OUTPUT = [
    "simplebaseline-r18",
    "simplebaseline-r50",
    "simplebaseline-mbv2",
    "litehrnet-18",
    "litehrnet-30",
]
# A small hourglass keeps the forward tests fast; the full-size one is only built for its parameter count.
SMALL_HOURGLASS = {"stacks": 2, "features": 32}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", SINGLE_OUTPUT)
@pytest.mark.parametrize("size", [(256, 192), (256, 256)])
def test_single_output_models_give_heatmaps_at_quarter_resolution(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build(name, num_joints=5).eval()
    with torch.inference_mode():
        heatmaps = model(torch.randn(2, 3, *size))
    assert isinstance(heatmaps, torch.Tensor)
    assert heatmaps.shape == (2, 5, size[0] // 4, size[1] // 4)


@pytest.mark.parametrize("size", [(256, 192), (256, 256)])
def test_hourglass_gives_one_heatmap_per_stack(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build("hourglass", num_joints=5, **SMALL_HOURGLASS).eval()
    with torch.inference_mode():
        heatmaps = model(torch.randn(2, 3, *size))
    assert isinstance(heatmaps, list) and len(heatmaps) == SMALL_HOURGLASS["stacks"]
    assert all(h.shape == (2, 5, size[0] // 4, size[1] // 4) for h in heatmaps)


def test_hourglass_deploy_returns_the_last_stack_with_shared_weights() -> None:
    torch.manual_seed(0)
    model = build("hourglass", stacks=3, features=32).eval()
    deployed = model.deploy()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(deployed(x), model(x)[-1])
    # Shared, not copied: a change to the trained model shows up in the deployed one.
    assert {id(p) for p in deployed.parameters()} == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", SINGLE_OUTPUT)
def test_single_output_models_deploy_as_themselves(name: str) -> None:
    model = build(name)
    assert model.deploy() is model


@pytest.mark.parametrize(
    ("name", "knobs", "published", "tolerance"),
    [
        ("hourglass", {"stacks": 8, "features": 256, "num_joints": 16}, 25.5e6, 0.02),
        # FPD's own code gives 3.29M for its 4 × 128 student, 2.7% above the "≈ 3.2M" quoted for it.
        ("hourglass", {"stacks": 4, "features": 128, "num_joints": 16}, 3.2e6, 0.03),
        ("simplebaseline-r50", {}, 34.0e6, 0.02),
        ("simplebaseline-mbv2", {}, 9.57e6, 0.02),
        # Lite-HRNet's sizes are published to 0.1M (1.13M and 1.76M exactly): allow the rounding.
        ("litehrnet-18", {}, 1.1e6, 0.05e6 / 1.1e6),
        ("litehrnet-30", {}, 1.8e6, 0.05e6 / 1.8e6),
    ],
)
def test_parameter_counts_match_the_published_ones(
    name: str, knobs: dict[str, int], published: float, tolerance: float
) -> None:
    assert _params(build(name, **knobs)) == pytest.approx(published, rel=tolerance)


def test_lite_hrnet_30_is_larger_than_18_with_the_same_head() -> None:
    small, large = build("litehrnet-18"), build("litehrnet-30")
    assert _params(small) < _params(large)
    assert small.final.weight.shape == large.final.weight.shape == (17, 40, 1, 1)


def test_registry_entries_show_the_documented_knobs_and_input_sizes() -> None:
    hourglass = get_entry("hourglass")
    assert hourglass.family == "hourglass" and hourglass.default_input == (256, 256)
    assert hourglass.knobs == {"stacks": 8, "features": 256, "num_joints": 16}
    for name in SINGLE_OUTPUT:
        entry = get_entry(name)
        assert entry.default_input == (256, 192)
        assert entry.knobs == {"num_joints": 17}
    assert {get_entry(n).family for n in SINGLE_OUTPUT} == {"simplebaseline", "litehrnet"}


@pytest.mark.parametrize("name", ["hourglass", *SINGLE_OUTPUT])
def test_unknown_knob_raises_type_error(name: str) -> None:
    with pytest.raises(TypeError, match="no knob 'width'"):
        build(name, width=2)


@pytest.mark.parametrize(
    ("name", "knobs", "message"),
    [
        ("hourglass", {"features": 30}, "features=30"),
        ("hourglass", {"stacks": 0}, "stacks=0"),
        ("simplebaseline-mbv2", {"num_joints": 0}, "num_joints must be >= 1, got 0"),
        ("litehrnet-18", {"num_joints": 0}, "num_joints must be >= 1, got 0"),
    ],
)
def test_bad_knob_values_raise_input_error_naming_the_value(name: str, knobs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build(name, **knobs)


@pytest.mark.parametrize("name", ["litehrnet-18", "simplebaseline-mbv2"])
def test_same_seed_builds_the_same_weights(name: str) -> None:
    torch.manual_seed(7)
    first = build(name).state_dict()
    torch.manual_seed(7)
    second = build(name).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize(("name", "knobs"), [("litehrnet-18", {}), ("hourglass", SMALL_HOURGLASS)])
def test_models_train_a_step_with_every_output_supervised(name: str, knobs: dict) -> None:
    # In-place activations and the Lite-HRNet fuse must leave autograd intact.
    torch.manual_seed(0)
    model = build(name, **knobs).train()
    outputs = model(torch.randn(2, 3, 64, 64))
    outputs = outputs if isinstance(outputs, list) else [outputs]
    sum(o.square().mean() for o in outputs).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_simplebaseline_init_follows_xiao_et_al() -> None:
    model = build("simplebaseline-r18")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(bn.weight == 1) and torch.all(bn.bias == 0) for bn in bns)
    # Xiao et al.'s head init: heatmap conv N(0, 0.001), zero bias.
    assert model.head.weight.std().item() == pytest.approx(0.001, rel=0.3)
    assert torch.all(model.head.bias == 0)


def test_fvcore_traces_deployed_models_to_the_reference_macs() -> None:
    # docs/protocols.md ("MACs and FLOPs"): SimpleBaseline-MobileNetV2 at 256×192 is 1.580 fvcore GMACs in eval mode.
    fvcore = pytest.importorskip("fvcore.nn")
    model = build("simplebaseline-mbv2").deploy().eval()
    analysis = fvcore.FlopCountAnalysis(model, torch.zeros(1, 3, 256, 192))
    analysis.unsupported_ops_warnings(False)
    assert analysis.total() / 1e9 == pytest.approx(1.580, abs=0.0005)
    small_hg = build("hourglass", **SMALL_HOURGLASS).deploy().eval()
    # A fully convolutional network's MACs grow with its pixels: twice the side, four times the MACs.
    small, large = (fvcore.FlopCountAnalysis(small_hg, torch.zeros(1, 3, s, s)).total() for s in (64, 128))
    assert large / small == pytest.approx(4.0, rel=0.01)
