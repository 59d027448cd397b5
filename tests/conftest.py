import os

import pytest
import torch

# Tests measure behaviour, not speed: one thread keeps them from fighting each other on 2 cores.
torch.set_num_threads(1)

# ../shared beside the project; LSPD_BENCH_SHARED points elsewhere (a clone in another folder).
SHARED = os.environ.get("LSPD_BENCH_SHARED") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "shared")
)
REAL_SAMPLES = os.path.join(SHARED, "data", "real_samples")


@pytest.fixture
def real_samples() -> str:
    """The real MPII/COCO sample folder (``../shared/data/real_samples`` from the project root)."""
    if not os.path.isdir(REAL_SAMPLES):
        pytest.skip(f"real samples not found at {REAL_SAMPLES} (../shared beside the project, or "
                    "$LSPD_BENCH_SHARED)")
    return REAL_SAMPLES


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> str:
    """A small synthetic benchmark (96 train / 32 val people at 64×64), generated once per test session."""
    from lspd_bench.data.synth import generate_dataset, preset

    root = tmp_path_factory.mktemp("synth") / "tiny"
    generate_dataset(root, preset("ci", n_train=96, n_val=32), seed=0, workers=1)
    return str(root)


@pytest.fixture
def tiny_overrides(tiny_synth, tmp_path) -> dict:
    """Overrides that make the ci preset train in about a second on the tiny benchmark."""
    return {"data_dir": tiny_synth, "cache_dir": str(tmp_path / "cache"), "epochs": 2, "batch_size": 16,
            "width": 16, "teacher_features": 16, "teacher_epochs": 2, "flip_test": False}  # fmt: skip
