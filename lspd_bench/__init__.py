"""lspd-bench: benchmarking and ablation suite for lightweight pose-distillation networks."""

__version__ = "0.1.0"
