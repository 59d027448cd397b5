"""Pose models: the LSPD family, its teacher and the baselines, built by name.

>>> from lspd_bench.models import build
>>> model = build("lspd-s", stages=2, block="lmrb")

Other packages add models and LSPD block types with the same ``register_model`` and ``register_block``
(``lspd_bench.plugins``); what a model must provide is ``lspd_bench.models.contract.PoseModel``.
"""

from lspd_bench.models.registry import (
    ModelEntry,
    build,
    check_input_size,
    get_entry,
    list_models,
    register_model,
    stage_count,
)

# Importing the family modules registers their models.
from lspd_bench.models import lspd  # noqa: E402,F401  isort: skip
from lspd_bench.models import hourglass  # noqa: E402,F401  isort: skip
from lspd_bench.models import simple_baseline  # noqa: E402,F401  isort: skip
from lspd_bench.models import lite_hrnet  # noqa: E402,F401  isort: skip
from lspd_bench.models.lspd import register_block  # noqa: E402  isort: skip

__all__ = [
    "ModelEntry",
    "build",
    "check_input_size",
    "get_entry",
    "list_models",
    "register_block",
    "register_model",
    "stage_count",
]
