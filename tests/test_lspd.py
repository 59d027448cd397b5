"""The LSPD family as docs/lspd.md describes it: shapes, stages, blocks, deploy, presets."""

import io

import pytest
import torch

from lspd_bench.cost import count_macs, count_params
from lspd_bench.models import build
from lspd_bench.models.lspd import BLOCKS, LMRB, LSPD

SMALL = dict(width=16, depth=2)  # input multiples of 4·2² = 16


@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("stages", [1, 3])
def test_outputs_one_heatmap_per_stage_at_quarter_resolution(block, stages):
    model = LSPD(num_joints=5, stages=stages, block=block, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 48))
    assert isinstance(out, list) and len(out) == stages
    assert all(h.shape == (2, 5, 16, 12) for h in out)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_deploy_equals_full_stage_output_bit_for_bit(block):
    torch.manual_seed(0)
    model = LSPD(stages=3, block=block, **SMALL)
    model.train()
    model(torch.randn(4, 3, 32, 32))  # move the BN running statistics away from their init
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full = model(x)
        for k in (1, 2, 3):
            assert torch.equal(model.deploy(k)(x), full[k - 1]), f"deploy stage {k}"
        assert torch.equal(model.deploy()(x), full[0])  # deploy_stage defaults to 1


def test_deploy_model_stands_alone():
    model = LSPD(stages=2, **SMALL).eval()
    shipped = model.deploy()
    buf = io.BytesIO()
    torch.save(shipped.state_dict(), buf)
    with torch.no_grad():
        for p in model.parameters():  # training the full model further does not touch the shipped one
            p.add_(1.0)
    fresh = LSPD(stages=2, **SMALL).deploy()
    fresh.load_state_dict(torch.load(io.BytesIO(buf.getvalue())))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), shipped(x))


def test_deploy_keeps_only_backbone_and_first_stage():
    one = count_params(LSPD(stages=1, **SMALL).deploy())
    four = LSPD(stages=4, **SMALL)
    assert count_params(four.deploy()) == one  # the later stages and re-injection convs are not shipped
    stage = one - count_params(four.backbone)
    assert count_params(four) >= count_params(four.backbone) + 4 * stage  # four stages in training


def test_deploy_stage_knob_selects_the_stage():
    model = LSPD(stages=3, deploy_stage=2, **SMALL).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.deploy()(x), model(x)[1])


@pytest.mark.parametrize(
    "bad",
    [
        dict(stages=0),
        dict(stages=9),
        dict(block="mystery"),
        dict(deploy_stage=3),
        dict(width=15),
        dict(depth=0),
        dict(groups=3),
    ],
)
def test_invalid_knobs_are_refused(bad):
    with pytest.raises(ValueError):
        LSPD(**{**SMALL, "stages": 2, **bad})


def test_stages_one_to_eight_build():
    for k in range(1, 9):
        assert len(LSPD(stages=k, **SMALL).stages) == k


def test_lmrb_groups_are_hierarchical():
    """Group i sees group i−1's output: perturbing only group 0's channels changes every group."""
    torch.manual_seed(0)
    block = LMRB(32).eval()
    x = torch.randn(1, 32, 16, 16)
    with torch.no_grad():
        reduced = block.reduce(x)
        parts = list(torch.chunk(reduced, 4, dim=1))
        base = []
        for i, branch in enumerate(block.branches):
            base.append(branch(parts[i] if i == 0 else parts[i] + base[-1]))
        parts[0] = parts[0] + 1.0
        moved = []
        for i, branch in enumerate(block.branches):
            moved.append(branch(parts[i] if i == 0 else parts[i] + moved[-1]))
    assert all(not torch.equal(a, b) for a, b in zip(base, moved))
    assert [b[0].dilation for b in block.branches] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert all(b[0].groups == b[0].in_channels for b in block.branches)  # depthwise


@pytest.mark.parametrize("name", ["lspd-s", "lspd-m"])
def test_presets_land_among_lightweight_baselines(name):
    """docs/lspd.md: deploy models at 256×256 of about 1–2 M parameters and well under 1 GMAC."""
    deploy = build(name).deploy()
    params = count_params(deploy)
    assert 0.9e6 <= params <= 2.1e6
    fvcore = count_macs(deploy, (256, 256))[0]
    assert fvcore.counter == "fvcore" and fvcore.macs < 0.75e9


def test_build_passes_knobs_and_refuses_unknown_ones():
    model = build("lspd-xs", stages=3, block="basic", num_joints=17)
    assert len(model.stages) == 3 and model.stages[0].head.out_channels == 17
    with pytest.raises(TypeError, match="no knob 'colour'"):
        build("lspd-xs", colour="red")
    with pytest.raises(KeyError, match="unknown model 'lspd-xxl'"):
        build("lspd-xxl")
