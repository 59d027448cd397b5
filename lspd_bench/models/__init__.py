"""Pose models: the LSPD family, its teacher and the baselines, built by name.

>>> from lspd_bench.models import build
>>> model = build("lspd-s", stages=2, block="lmrb")
"""

from lspd_bench.models.registry import ModelEntry, build, get_entry, list_models, register_model

# Importing the family modules registers their models.
from lspd_bench.models import lspd  # noqa: E402,F401  isort: skip
from lspd_bench.models import hourglass  # noqa: E402,F401  isort: skip
from lspd_bench.models import simple_baseline  # noqa: E402,F401  isort: skip
from lspd_bench.models import lite_hrnet  # noqa: E402,F401  isort: skip

__all__ = ["ModelEntry", "build", "get_entry", "list_models", "register_model"]
