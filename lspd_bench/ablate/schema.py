"""The columns of an ablation's results table (``results.csv`` / ``results.parquet``): one row per cell.

The report and the regression gate read these names; the store writes them. A cell's own folder
``<matrix>/<cell>/`` holds ``cell.json`` (its axes and identity), the run's ``config.json``,
``metrics.json``, ``cost.json``, ``per_person.npz`` (PCKh data: ``correct`` N×16 bool at 0.5 and
``visible`` N×16 bool of the deploy stage, ``stage_correct`` K×N×16 of every stage, for the intervals of
deltas and claims), ``log.csv`` and checkpoints.
"""

from dataclasses import dataclass
from enum import StrEnum

from lspd_bench.config import FAMILY_OF, IDENTITY_KEYS, KIND_OF
from lspd_bench.cost.counters import COUNTERS, FVCORE
from lspd_bench.evaluation import evaluators


class Status(StrEnum):
    """Where a cell stands: the ``status`` column holds done, failed, running or pending; the store's folders and
    the live view tell the others apart."""

    NEW = "new"  # no folder yet
    PENDING = "pending"  # waiting for a slot (and a cell left interrupted, which resumes)
    INTERRUPTED = "interrupted"  # a folder without an outcome: its process died
    RUNNING = "running"  # training or being profiled
    BUSY = "busy"  # another process holds its lock
    TRAINED = "trained"  # trained and evaluated, waiting for the latency phase
    DONE = "done"  # trained, evaluated and costed
    FAILED = "failed"  # with its one-line error


#: Bookkeeping columns.
CELL = "cell"  # the cell id: a hash of its identity (resolved config, dataset fingerprint, suite version)
STATUS = "status"  # a Status: done | failed | running | pending
ERROR = "error"  # one line, for failed cells
RUN_DIR = "run_dir"  # the cell's folder, relative to the matrix folder

#: Configuration columns: every key of a run's identity, as ``lspd_bench.config.RunConfig`` declares them, with
#: the cell's resolved value (a model knob left at its default holds the model's value; a key that does not
#: apply to the cell, like ``alpha`` without distillation, is empty). Any of them may be a matrix's axis; the
#: report's axes and the gate's cells are the ones that vary.
CONFIG = IDENTITY_KEYS
SEED = "seed"  # averaged over, never an axis

#: Context columns that are not configuration keys: the same within one comparable table.
CONTEXT = ("dataset_fingerprint", "preset", "metric", "headline_name")

#: Columns that must agree for figures to be comparable, by what mixing them would mean: the data (the data
#: family's keys, the fingerprint, the metric) and the evaluation settings. The report refuses a table that
#: mixes them (unless told ``--allow-mixed``), and the gate refuses results that differ from the baseline there.
MIX_GROUPS: dict[str, tuple[str, ...]] = {
    "datasets": (*(k for k in CONFIG if FAMILY_OF[k] == "data"), "dataset_fingerprint", "metric"),
    "evaluation settings": tuple(k for k in CONFIG if FAMILY_OF[k] == "evaluation"),
    "presets": ("preset",),
}
#: The columns a matrix's variants are told apart by: every configuration column that is neither the seed
#: nor one that must agree.
VARIANT_COLUMNS = tuple(k for k in CONFIG if k != SEED and not any(k in g for g in MIX_GROUPS.values()))

#: Accuracy of the deploy stage, percent: every metric's figures, as its evaluator declares them (PCKh: the MPII
#: table; COCO: AP/AR, pycocotools' fractions × 100). A row fills its own metric's.
ACCURACY_COLUMNS = evaluators.ACCURACY_COLUMNS
HEADLINE = "headline"  # the evaluator's headline (PCKh Mean, AP), percent, of the deploy stage
STAGE_HEADLINE = "stage{k}_headline"  # the same figure for every stage k = 1..K

#: The MAC counters of ``lspd_bench.cost.count_macs`` (``report --counter``) and their columns.
MAC_COLUMNS = {c.id: c.column for c in COUNTERS}
#: Cost (deploy model unless stated; MACs at batch 1 and the run's input size).
COST_COLUMNS = (
    "params_full",
    "params_deploy",
    *MAC_COLUMNS.values(),
    "latency_ms",
    "latency_p90_ms",
    "latency_threads",
    "throughput_img_s",
    "throughput_batch",
    "latency_ratio",
    "latency_ratio_low",
    "latency_ratio_high",
)
#: latency_ratio = the cell's latency / a reference model's, the two taking turns in the same process (machine
#: speed cancels; the CI gate compares this, not milliseconds), with its 95 % interval over the rounds
#: (``lspd_bench.ablate.latency.RATIO_CONVENTION``).


@dataclass(frozen=True)
class CostKind:
    """A cost the report plots accuracy against (``report --cost``) and a claim may condition on (``at fewer``)."""

    column: str  # its results column (GMACs: fvcore's; the report's ``--counter`` picks another)
    title: str  # what plots and pages call it
    scale: float  # the column's value × scale = the figure in ``unit``
    unit: str


#: The costs by name: GMACs, deploy parameters, latency.
COST_KINDS: dict[str, CostKind] = {
    "gmacs": CostKind(FVCORE.column, "GMACs", 1.0, "GMACs"),
    "params": CostKind("params_deploy", "parameters", 1e-6, "M"),
    "latency": CostKind("latency_ms", "latency", 1.0, "ms"),
}

#: Training facts.
TRAIN_COLUMNS = ("train_seconds", "train_images_per_s", "peak_rss_mib")
#: peak_rss_mib = the training process's peak resident memory (MiB, 2^20 bytes): an upper bound for the cell.

#: Each column's kind (``int``, ``float``, ``str`` or ``bool``; any value may be empty): the configuration keys as
#: ``lspd_bench.config`` declares them, the others here. The store writes these types and the reader
#: (``lspd_bench.ablate.store.read_table``) reads them back, from Parquet or from the CSV's text.
COLUMN_KINDS: dict[str, str] = {
    CELL: "str",
    STATUS: "str",
    ERROR: "str",
    RUN_DIR: "str",
    **{k: KIND_OF[k] for k in CONFIG},
    **dict.fromkeys(CONTEXT, "str"),
    **dict.fromkeys((HEADLINE, *ACCURACY_COLUMNS), "float"),
    **dict.fromkeys(COST_COLUMNS, "float"),
    **dict.fromkeys(("params_full", "params_deploy", "latency_threads", "throughput_batch"), "int"),
    **dict.fromkeys(TRAIN_COLUMNS, "float"),
}


def column_kind(column: str) -> str | None:
    """The declared kind of ``column`` (stage headlines, ``stage<k>_headline``, are floats); None for a column
    the schema does not declare."""
    if column in COLUMN_KINDS:
        return COLUMN_KINDS[column]
    prefix, _, suffix = STAGE_HEADLINE.partition("{k}")
    middle = (
        column[len(prefix) : len(column) - len(suffix)] if column.startswith(prefix) and column.endswith(suffix) else ""
    )
    return "float" if middle.isdigit() else None
