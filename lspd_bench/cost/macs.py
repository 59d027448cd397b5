"""Multiply-accumulate counts from the field's two counters, fvcore and ptflops.

The totals are the libraries' own; this module only runs them the same way for every model (eval mode,
batch 1, ptflops' backend named) and collects what each counter skipped, so that no figure is a
silent zero. docs/protocols.md, "MACs and FLOPs", compares the counters.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import io
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from lspd_bench.cost.counters import CONV_LINEAR, FVCORE, PTFLOPS

#: fvcore operator names that are convolutions or linear maps: the "conv and linear only" figure.
CONV_LINEAR_OPS = frozenset({"conv", "linear", "matmul", "addmm", "bmm", "einsum"})


@dataclass(frozen=True)
class MacCount:
    """One counter's verdict on one model at one input size (batch 1, eval mode).

    ``macs`` is None when the counter failed (``error`` says why); ``skipped`` maps each operator or
    module the counter met but did not count to how often it met it.
    """

    counter: str  # its id (lspd_bench.cost.counters)
    library: str  # the library and version that produced the figure
    counts: str  # what this counter includes, in a few words
    macs: int | None
    skipped: dict[str, int] = field(default_factory=dict)
    by_operator: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    note: str = ""

    @property
    def gmacs(self) -> float | None:
        """MACs in units of 10⁹."""
        return None if self.macs is None else self.macs / 1e9

    def to_dict(self) -> dict:
        return {**asdict(self), "gmacs": self.gmacs}


def _version(dist: str) -> str:
    return f"{dist} {importlib.metadata.version(dist)}"


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Put ``model`` in eval mode for the block and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def layer_macs(model: nn.Module) -> Iterator[list[float]]:
    """Count, from forward hooks, the multiply-accumulates of ``model``'s convolutions and linear layers in the
    forward passes run inside the block: yields a one-item list that holds the running total.

    No trace and no pass of its own: a caller that runs the model anyway (the matrix's check of each model)
    counts on that pass. Only these layers count (fvcore's "conv and linear" figure, without its trace), so it
    orders models by cost but is not a reported figure."""
    total = [0.0]

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        kernel = float(torch.tensor(module.weight.shape[2:]).prod()) if module.weight.dim() > 2 else 1.0
        if isinstance(module, nn.ConvTranspose2d):  # every input pixel meets the whole kernel
            total[0] += inputs[0].numel() * module.out_channels / module.groups * kernel
        elif isinstance(module, nn.Conv2d):
            total[0] += output.numel() * module.in_channels / module.groups * kernel
        else:
            total[0] += output.numel() * module.in_features

    layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, layers)]
    try:
        yield total
    finally:
        for handle in handles:
            handle.remove()


def fvcore_count(model: nn.Module, x: torch.Tensor) -> tuple[MacCount, MacCount]:
    """fvcore's ``FlopCountAnalysis`` total, and its convolution-and-linear-only part."""
    from fvcore.nn import FlopCountAnalysis

    library = _version("fvcore")
    try:
        analysis = FlopCountAnalysis(model, (x,))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        total = int(analysis.total())
        by_op = {k: int(v) for k, v in analysis.by_operator().items()}
        skipped = dict(sorted(analysis.unsupported_ops().items()))
    except Exception as exc:  # a counter failing is a result to show, not a crash
        failed = dict(library=library, macs=None, error=f"{type(exc).__name__}: {exc}")
        return (
            MacCount(FVCORE.id, counts="fvcore default handles", **failed),
            MacCount(CONV_LINEAR.id, counts="conv and linear ops only (fvcore)", **failed),
        )
    conv_linear = {k: v for k, v in by_op.items() if k in CONV_LINEAR_OPS}
    return (
        MacCount(
            FVCORE.id,
            library,
            "conv (no bias), linear, matmul, batch_norm, upsample, adaptive pool; ReLU ignored by design",
            total,
            skipped,
            by_op,
        ),
        MacCount(
            CONV_LINEAR.id,
            library,
            "conv and linear ops only (fvcore's conv/linear/matmul handles)",
            sum(conv_linear.values()),
            skipped,
            conv_linear,
            note="excludes "
            + (", ".join(f"{k} {v / 1e9:.4f} G" for k, v in by_op.items() if k not in conv_linear) or "nothing"),
        ),
    )


#: Python operators on tensors: ptflops patches ``torch.add`` and ``Tensor.add`` but not ``+``.
_OPERATORS = {
    "__add__": "+",
    "__radd__": "+",
    "__iadd__": "+=",
    "__sub__": "-",
    "__rsub__": "-",
    "__mul__": "*",
    "__rmul__": "*",
    "__imul__": "*=",
    "__truediv__": "/",
    "__matmul__": "@",
}


def _call_name(func) -> str:
    """``torch.cat``, ``Tensor.chunk``, ``F.interpolate``: how a reader would write the call."""
    name = getattr(func, "__name__", repr(func))
    owner = getattr(func, "__qualname__", name).split(".")[0]
    if owner in ("TensorBase", "Tensor"):
        return f"Tensor.{name}"
    if getattr(func, "__module__", "") == "torch.nn.functional":
        return f"F.{name}"
    return f"torch.{name}"


class _UncountedCalls(TorchFunctionMode):
    """Records torch calls made outside every module that ptflops hooks and that its patches miss."""

    _METADATA = re.compile(r"(__get__|^size$|^dim$|^numel$|^is_|^__len__$|^__getitem__$)")

    def __init__(self, counted_funcs: set):
        super().__init__()
        self.counted_funcs = counted_funcs
        self.depth = 0  # >0 while inside a hooked (counted) module or one of our operator wrappers
        self.calls: Counter = Counter()

    def record(self, name: str) -> None:
        if self.depth == 0:
            self.calls[name] += 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if func not in self.counted_funcs and not self._METADATA.search(name):
            self.record(_call_name(func))
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _operator_probes(mode: _UncountedCalls):
    """Temporarily wrap the tensor operators so that ``a + b`` is recorded as the operator it is."""
    originals = {op: getattr(torch.Tensor, op) for op in _OPERATORS}

    def probe(op, original):
        def wrapper(*args, **kwargs):
            mode.record(f"operator {_OPERATORS[op]}")
            mode.depth += 1  # the TensorBase method it calls is the operator, already recorded
            try:
                return original(*args, **kwargs)
            finally:
                mode.depth -= 1

        return wrapper

    try:
        for op, original in originals.items():
            setattr(torch.Tensor, op, probe(op, original))
        yield
    finally:
        for op, original in originals.items():
            setattr(torch.Tensor, op, original)


def _ptflops_pytorch_uncounted(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Calls ptflops' pytorch backend does not count: tensor operators and functions between modules."""
    from ptflops import pytorch_ops

    hooked = tuple(pytorch_ops.MODULES_MAPPING)
    counted = set(pytorch_ops.FUNCTIONAL_MAPPING) | set(pytorch_ops.TENSOR_OPS_MAPPING)
    mode = _UncountedCalls(counted)

    def enter(*_):
        mode.depth += 1

    def leave(*_):
        mode.depth -= 1

    handles = []
    for m in model.modules():
        if isinstance(m, hooked):
            handles += [m.register_forward_pre_hook(enter), m.register_forward_hook(leave)]
    try:
        with torch.inference_mode(), _operator_probes(mode), mode:
            model(x)
    finally:
        for h in handles:
            h.remove()
    return dict(mode.calls)


def ptflops_count(model: nn.Module, x: torch.Tensor, backend: str) -> MacCount:
    """ptflops' ``get_model_complexity_info`` with ``backend`` named explicitly (its default changed)."""
    from ptflops import get_model_complexity_info

    library = f"{_version('ptflops')} (backend={backend})"
    counts = {
        "pytorch": "module hooks: conv (with bias), BN, activations, pooling, upsample, linear; patched functionals",
        "aten": "aten mm/matmul/addmm/bmm/convolution only",
    }[backend]
    # ptflops decorates the module it is given; count on a copy so the caller's model stays clean.
    work = copy.deepcopy(model)
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        macs, _ = get_model_complexity_info(
            work,
            tuple(x.shape[1:]),
            as_strings=False,
            backend=backend,
            print_per_layer_stat=False,
            verbose=True,
            ost=log,
            input_constructor=lambda _shape: x,
        )
    if macs is None:
        lines = [ln for ln in log.getvalue().splitlines() if ln.strip()]
        return MacCount(PTFLOPS[backend].id, library, counts, None, error=lines[-1] if lines else "failed")
    text = log.getvalue()
    if backend == "pytorch":
        leaf_types = {type(m).__name__ for m in work.modules() if not list(m.children())}
        zero_modules = Counter(
            name for name in re.findall(r"module (\w+) is treated as a zero-op", text) if name in leaf_types
        )
        skipped = {f"module {k}": v for k, v in zero_modules.items()}
        skipped.update(_ptflops_pytorch_uncounted(work, x))
    else:
        skipped = dict(Counter(re.findall(r"Warning: (\S+) operation is treated as a zero-op", text)))
    return MacCount(PTFLOPS[backend].id, library, counts, int(macs), dict(sorted(skipped.items())))


def count_macs(model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu") -> list[MacCount]:
    """Every counter's MACs for one forward pass of ``model`` at batch 1 and ``input_hw`` (H, W px).

    Returns fvcore, fvcore's conv-and-linear-only figure, ptflops (pytorch backend) and ptflops (aten
    backend), in that order. The model is measured in eval mode and left in the mode it came in.
    """
    x = torch.randn(1, 3, *input_hw, device=device)
    with eval_mode(model):
        fv, conv_linear = fvcore_count(model, x)
        return [fv, conv_linear, ptflops_count(model, x, "pytorch"), ptflops_count(model, x, "aten")]
