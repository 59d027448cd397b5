"""Cost figures: the counters' own totals, what they skip, and latency measured as docs/protocols.md ("Latency") states."""

import time

import pytest
import torch
import torch.nn as nn

from lspd_bench.cost import count_macs, count_params, measure_latencies, measure_latency, peak_forward_memory
from lspd_bench.cost.latency import torch_threads
from lspd_bench.errors import InputError
from lspd_bench.models import build, list_models


class ConvBnRelu(nn.Module):
    """conv3×3 (3→8, no bias) + BN + ReLU, then a residual `+`: every counter's quirks in one module."""

    stride = 1

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn(self.conv(x)))
        return y + y


CONV_MACS = 8 * 3 * 9 * 32 * 32  # out × in × k² × output positions


def by_counter(counts):
    return {c.counter: c for c in counts}


def test_counters_agree_on_a_hand_counted_convolution():
    counts = by_counter(count_macs(ConvBnRelu(), (32, 32)))
    assert counts["conv+linear"].macs == CONV_MACS
    assert counts["ptflops-aten"].macs == CONV_MACS  # aten backend: convolution only
    # fvcore adds its batch_norm handle; ptflops' module hooks add BN and ReLU.
    fvcore = counts["fvcore"]
    assert fvcore.by_operator["conv"] == CONV_MACS and fvcore.by_operator["batch_norm"] > 0
    assert fvcore.macs == sum(fvcore.by_operator.values())
    assert counts["ptflops-pytorch"].macs > counts["fvcore"].macs
    assert all(c.library.split()[0] in ("fvcore", "ptflops") for c in counts.values())
    assert "backend=pytorch" in counts["ptflops-pytorch"].library
    assert "backend=aten" in counts["ptflops-aten"].library


def test_every_count_carries_a_declared_counter_and_has_its_results_column():
    from lspd_bench.ablate.schema import COST_COLUMNS, MAC_COLUMNS
    from lspd_bench.cost.counters import COUNTERS

    assert [c.counter for c in count_macs(ConvBnRelu(), (32, 32))] == [c.id for c in COUNTERS]
    assert list(MAC_COLUMNS.values()) == [
        "gmacs_fvcore",
        "gmacs_conv_linear",
        "gmacs_ptflops_pytorch",
        "gmacs_ptflops_aten",
    ]  # the results table's columns: renaming one breaks every stored baseline
    assert set(MAC_COLUMNS.values()) <= set(COST_COLUMNS)


@pytest.mark.parametrize("name", ["lspd-xs", "simplebaseline-mbv2"])  # plain and transposed convolutions
def test_the_matrix_checks_hook_count_is_fvcores_conv_and_linear_figure(name):
    from lspd_bench.cost.macs import fvcore_count, layer_macs

    model, x = build(name).eval(), torch.randn(1, 3, 64, 64)
    with layer_macs(model) as macs, torch.no_grad():
        model(x)
    assert macs[0] == fvcore_count(model, x)[1].macs
    assert not any(m._forward_hooks for m in model.modules())  # the hooks leave with the block


def test_what_each_counter_skips_is_listed_not_silent():
    counts = by_counter(count_macs(ConvBnRelu(), (32, 32)))
    assert counts["fvcore"].skipped == {"aten::add": 1}
    assert counts["ptflops-pytorch"].skipped == {"operator +": 1}  # `y + y` escapes ptflops' patches
    assert "aten.add" in counts["ptflops-aten"].skipped
    assert "aten.native_batch_norm" in counts["ptflops-aten"].skipped
    assert "batch_norm" in counts["conv+linear"].note


def test_macs_are_measured_in_eval_mode_and_the_mode_is_restored():
    model = ConvBnRelu().train()
    count_macs(model, (32, 32))
    assert model.training
    assert not hasattr(model, "start_flops_count")  # ptflops decorated a copy, not the caller's model


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "params", "fvcore", "ptflops_pytorch", "ptflops_aten"),
    [
        ("simplebaseline-r50", 34.00e6, 5.450, 5.473, 5.426),
        ("simplebaseline-mbv2", 9.57e6, 1.580, 1.588, 1.565),
    ],
)
def test_reference_figures_of_protocols_md(name, params, fvcore, ptflops_pytorch, ptflops_aten):
    """The reference figures of docs/protocols.md ("MACs and FLOPs") (fvcore 0.1.5, ptflops 0.7.5, 256×192, eval, batch 1), to the printed digit."""
    model = build(name)
    counts = by_counter(count_macs(model, (256, 192)))
    assert count_params(model) == pytest.approx(params, rel=0.001)
    assert counts["fvcore"].gmacs == pytest.approx(fvcore, abs=0.0005)
    assert counts["ptflops-pytorch"].gmacs == pytest.approx(ptflops_pytorch, abs=0.0005)
    assert counts["ptflops-aten"].gmacs == pytest.approx(ptflops_aten, abs=0.0005)


def test_every_registered_model_can_be_profiled():
    for entry in list_models():
        model = entry.factory()
        assert isinstance(model.stride, int) and model.stride % 4 == 0, entry.name
        assert isinstance(model.deploy(), nn.Module), entry.name


def test_latency_reports_the_protocol_statistics():
    before = torch.get_num_threads()
    r = measure_latency(ConvBnRelu(), (32, 32), batch=2, threads=1, min_time_s=0.0)
    assert r.iters >= 50 and r.warmup >= 10
    assert 0 < r.min_ms <= r.median_ms <= r.p90_ms
    assert r.iqr_ms >= 0
    assert (r.threads, r.batch, r.runtime, r.device, r.dtype) == (1, 2, "eager", "cpu", "float32")
    assert r.throughput == pytest.approx(2 * 1000 / r.median_ms)
    assert torch.get_num_threads() == before  # the thread count is set for the measurement only


class Sleeper(nn.Module):
    """A model whose forward pass takes a known time, and whose calls are counted in order."""

    def __init__(self, ms: float, log: list):
        super().__init__()
        self.ms, self.log = ms, log

    def forward(self, x):
        self.log.append(self.ms)
        time.sleep(self.ms / 1000)
        return x


def test_models_measured_together_take_turns_and_keep_their_ratio():
    log: list[float] = []
    fast, slow = measure_latencies([Sleeper(1.0, log), Sleeper(3.0, log)], (8, 8), min_time_s=0.0)
    assert fast.iters >= 50 and slow.iters >= 50
    timed = log[20:]  # after both warm-ups (10 calls each)
    assert timed[:15] == [1.0] * 5 + [3.0] * 5 + [1.0] * 5  # blocks of 5 calls, alternating
    assert slow.min_ms / fast.min_ms == pytest.approx(3.0, rel=0.25)


def test_latency_refuses_fewer_iterations_than_the_protocol():
    with pytest.raises(InputError, match="warm-up"):
        measure_latency(ConvBnRelu(), (32, 32), warmup=5)
    with pytest.raises(InputError, match="50 timed"):
        measure_latency(ConvBnRelu(), (32, 32), iters=10)


def test_thread_count_is_applied_during_the_measurement():
    seen = []

    class Probe(ConvBnRelu):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    with torch_threads(1):
        measure_latency(Probe(), (16, 16), threads=2, min_time_s=0.0)
    assert set(seen) == {2}


@pytest.mark.parametrize("runtime", ["channels_last", "onnxruntime"])
def test_other_runtimes_run_the_same_model(runtime):
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    r = measure_latency(ConvBnRelu(), (32, 32), runtime=runtime, min_time_s=0.0)
    assert r.runtime == runtime and r.median_ms > 0
    assert r.memory_format == ("channels_last" if runtime == "channels_last" else "contiguous")


def test_peak_memory_grows_with_the_batch():
    one = peak_forward_memory(ConvBnRelu(), (64, 64), batch=1)
    four = peak_forward_memory(ConvBnRelu(), (64, 64), batch=4)
    activation = 8 * 64 * 64 * 4  # one float32 feature map of the conv
    assert one["peak_activation_bytes"] >= activation
    assert four["peak_activation_bytes"] >= 4 * activation
    assert four["peak_activation_bytes"] > 2 * one["peak_activation_bytes"]
    assert one["weights_bytes"] == (8 * 3 * 9 + 4 * 8) * 4 + 8  # conv + BN affine/stats + num_batches_tracked
