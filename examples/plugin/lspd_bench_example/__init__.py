"""An example lspd-bench plugin. Importing it registers the LSPD block type ``dwres`` and the network
``tinypose`` (the ``lspd_bench.models`` entry point in pyproject.toml has lspd-bench import it)."""

from lspd_bench_example import blocks, tinypose  # noqa: F401  importing registers

__version__ = "0.1.0"
