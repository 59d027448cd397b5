import os

import pytest
import torch

# Tests measure behaviour, not speed: one thread keeps them from fighting each other on 2 cores.
torch.set_num_threads(1)

SHARED = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
REAL_SAMPLES = os.path.join(SHARED, "data", "real_samples")


@pytest.fixture
def real_samples() -> str:
    """The real MPII/COCO sample folder (``../shared/data/real_samples`` from the project root)."""
    if not os.path.isdir(REAL_SAMPLES):
        pytest.skip(f"real samples not found at {REAL_SAMPLES} (they live in ../shared beside the project)")
    return REAL_SAMPLES
