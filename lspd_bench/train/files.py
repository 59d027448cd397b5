"""The names of the files in a run folder (``lspd-bench train --out``, and each cell of a matrix), declared once.

The trainer writes the log and the checkpoints; ``lspd_bench.evaluation.run`` writes the run's identity, its
metrics and the per-person correctness; the store, the report and the gate read them. The names live here,
in a module that imports nothing, so that the torch-free readers (``--dry-run``, ``report``, ``check``) can
import them without importing the trainer.
"""

LOG_NAME = "log.csv"  # one row per epoch
LAST = "last.pt"  # the checkpoint a run resumes from and is evaluated with
BEST = "best.pt"  # the checkpoint of the best validation figure
CONFIG_FILE = "config.json"  # the run's identity and its hash
METRICS_FILE = "metrics.json"  # the final evaluation; a cell is trained once it is whole
TEACHER_RECORD = "teacher.json"  # a cached teacher's folder: its figure and history; it is trained once this exists
PER_PERSON_FILE = "per_person.npz"  # PCKh correctness per person and joint (paired intervals, claims)

#: The per-epoch history's validation fields (``log.csv``, ``metrics.json``'s ``train.history``): the deployed
#: stage's figure, each stage k's (no flip test), and the validation's wall seconds; an epoch not validated
#: (``val_every``) has none of them.
HISTORY_HEADLINE = "headline"
HISTORY_STAGE = "val_stage{k}"
HISTORY_VAL_SECONDS = "val_seconds"
