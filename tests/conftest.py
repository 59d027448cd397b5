import os

import pytest
import torch

# Tests measure behaviour, not speed: one thread keeps them from fighting each other on 2 cores, and the
# processes they start (ablate, torchrun, workers) inherit one thread each.
torch.set_num_threads(1)
os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

# The real MPII and COCO sample files, committed with the tests (tests/data/README.md says where they come from).
REAL_SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture
def real_samples() -> str:
    """The real MPII/COCO sample folder, ``tests/data``: part of the repository, so a test fails without it."""
    missing = [
        name
        for name in ("mpii/test_mpii.json", "coco/test_coco.json", "coco/test_coco_det_AP_H_56.json")
        if not os.path.isfile(os.path.join(REAL_SAMPLES, name))
    ]
    if missing:
        pytest.fail(
            f"real samples missing from {REAL_SAMPLES}: {', '.join(missing)} (they are committed with the "
            "tests; restore them with git)"
        )
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
    return {
        "data_dir": tiny_synth,
        "cache_dir": str(tmp_path / "cache"),
        "epochs": 2,
        "batch_size": 16,
        "width": 16,
        "teacher_features": 16,
        "teacher_epochs": 2,
        "flip_test": False,
    }
