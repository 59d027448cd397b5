"""The columns of an ablation's results table (``results.csv`` / ``results.parquet``): one row per cell.

The report and the regression gate read these names; the store writes them. A cell's own folder
``<matrix>/<cell>/`` holds ``cell.json`` (its axes and identity), the run's ``config.json``,
``metrics.json``, ``cost.json``, ``per_person.npz`` (PCKh data: ``correct`` N×16 bool at 0.5 and
``visible`` N×16 bool of the deploy stage, ``stage_correct`` K×N×16 of every stage, for the intervals of
deltas and claims), ``log.csv`` and checkpoints.
"""

#: Bookkeeping columns.
CELL = "cell"  # the cell id: a hash of its identity (resolved config, dataset fingerprint, suite version)
STATUS = "status"  # done | failed | running | pending
ERROR = "error"  # one line, for failed cells
RUN_DIR = "run_dir"  # the cell's folder, relative to the matrix folder

#: The axes a matrix may vary (each a column, with the resolved value for every cell).
AXES = ("model", "stages", "block", "width", "depth", "width_growth", "blocks_per_level", "deploy_stage",
        "distill", "alpha", "loss", "seed")  # fmt: skip

#: Context columns: the same within one comparable table.
CONTEXT = ("dataset", "dataset_fingerprint", "synth_preset", "preset", "epochs", "batch_size", "input_size",
           "metric", "headline_name", "flip_test")  # fmt: skip

#: Accuracy of the deploy stage. PCKh (percent): the MPII table; COCO: AP/AR in [0, 1] ×100 (percent).
PCKH_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "Mean@0.1")
AP_COLUMNS = ("AP", "AP50", "AP75", "AP(M)", "AP(L)", "AR")
HEADLINE = "headline"  # PCKh Mean or AP (percent), of the deploy stage
STAGE_HEADLINE = "stage{k}_headline"  # the same figure for every stage k = 1..K

#: Cost (deploy model unless stated; MACs at batch 1 and the run's input size).
COST_COLUMNS = ("params_full", "params_deploy", "gmacs_fvcore", "gmacs_conv_linear", "gmacs_ptflops_pytorch",
                "gmacs_ptflops_aten", "latency_ms", "latency_p90_ms", "latency_threads", "throughput_img_s",
                "throughput_batch", "latency_ratio")  # fmt: skip
#: latency_ratio = the cell's minimum latency / a reference model's, measured in the same process
#: (machine speed cancels; the CI gate compares this, not milliseconds).

#: Training facts.
TRAIN_COLUMNS = ("train_seconds", "train_images_per_s", "peak_rss_mib")
#: peak_rss_mib = the training process's peak resident memory (MiB, 2^20 bytes): an upper bound for the cell.
