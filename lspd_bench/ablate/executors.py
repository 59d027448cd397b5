"""Where cells run: local processes, this process, Ray tasks or submitit jobs — all running :func:`run_cell`.

A cell's work (data → train → evaluate) is one call of :func:`run_cell`, which takes the cell's lock,
trains with ``resume=True`` (an interrupted cell continues from its last checkpoint), writes live
progress to ``progress.json`` and its verdict to ``status.json``. Executors only start those calls and
report when one ends (the :class:`Executor` protocol), so the driver (``lspd_bench.ablate.run``) treats
every backend alike and reads everything else from the shared results folder.

:data:`EXECUTORS` is the registry, name → :class:`ExecutorKind` (its factory, the library it needs, how many
cells it runs at once by default); ``--executor`` takes its names. Adding an executor is a class with the
protocol's members and one :func:`register` call.

- ``local``: a pool of ``jobs`` spawned processes, one cell at a time each, with ``threads`` torch
  threads (``jobs × threads`` = the cores). On CUDA each process is pinned to its own GPU (or its own
  ``--gpus-per-cell`` of them) by ``CUDA_VISIBLE_DEVICES``, one process per GPU by default. On Linux a worker
  dies with its driver (``PR_SET_PDEATHSIG``), so a killed ``lspd-bench ablate`` never leaves orphans training
  into its folders.
- ``inprocess``: each cell in the calling process, one at a time (debugging, tests).
- ``ray``: each cell a Ray task asking for ``threads`` CPUs (and its GPUs on CUDA); needs ``pip install ray``.
- ``submitit``: each cell a submitit job (SLURM when available, else submitit's local executor).

A cell granted GPUs (its pool process's, or those its scheduler gave its task or job) trains on them: its
``device`` becomes ``cuda``, the first of them, and with more than one it trains with DDP, one process per
GPU under torchrun (:func:`torchrun_command`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sized, runtime_checkable

from lspd_bench.ablate import store
from lspd_bench.ablate.schema import Status
from lspd_bench.env import VISIBLE_DEVICES
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_text
from lspd_bench.train.files import HISTORY_HEADLINE, METRICS_FILE

#: What a cell trained with DDP leaves in its folder besides the run's files: the configuration torchrun's
#: processes read, and their output.
TORCHRUN_CONFIG = "torchrun-config.yaml"
TORCHRUN_LOG = "torchrun.log"


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell: its id and folder, its configuration, its thread count."""

    cell: str
    cell_dir: str
    config: dict[str, Any]  # RunConfig.to_dict()
    threads: int = 1
    label: str = ""
    imports: tuple[str, ...] = ()  # plugin modules the cell's models come from (lspd_bench.plugins)
    #: The GPUs the executor granted the cell (``CUDA_VISIBLE_DEVICES`` names them: its pool process's, or its
    #: scheduler's): it trains on ``cuda``, with DDP over them when more than one. 0: its ``device`` key decides.
    gpus: int = 0


#: What an executor reports for a cell that ended: the task, and run_cell's return value (or ``{"cell",
#: "status": "died", "error"}`` when the process, task or job running it was lost).
Ended = list[tuple[CellTask, dict[str, Any]]]


@runtime_checkable
class Executor(Protocol):
    """What the driver (``lspd_bench.ablate.run``) uses of an executor: it submits cells while fewer than
    ``slots`` are ``running``, polls for the ones that ended, and shuts the executor down at the end or on
    any exception (a cell still running resumes from its checkpoint next time)."""

    @property
    def slots(self) -> int:
        """Cells at once."""
        ...

    @property
    def running(self) -> Sized:
        """The cells submitted that have not been reported as ended (the driver takes its ``len``)."""
        ...

    def submit(self, task: CellTask) -> None:
        """Start ``run_cell(task)`` somewhere that sees the matrix folder."""
        ...

    def poll(self, timeout: float) -> Ended:
        """Wait up to ``timeout`` s; return the cells that ended, with their outcomes."""
        ...

    def shutdown(self) -> None:
        """Cancel what still runs."""
        ...


class FileProgress:
    """The training loop's progress events → ``progress.json`` (every epoch, and every few seconds)."""

    def __init__(self, cell_dir: Path, every_s: float = 2.0):
        self.cell_dir = Path(cell_dir)
        self.every_s = every_s
        self.state: dict[str, Any] = {"phase": "starting"}
        self.written = 0.0
        self.epoch_clock: float | None = None
        self.timed_epochs = 0

    def write(self) -> None:
        store.write_progress(self.cell_dir, **self.state)
        self.written = time.monotonic()

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "teacher_start":
            self.state.update(phase="teacher", teacher=event.get("model"))
        elif kind == "epoch_start":
            if self.epoch_clock is None:
                self.epoch_clock = time.monotonic()
            self.state.update(phase="train", epoch=event["epoch"], epochs=event["epochs"], step=0, steps=event["steps"])
        elif kind == "step":
            self.state.update(step=event["step"], loss=event["loss"])
            if time.monotonic() - self.written < self.every_s:
                return
        elif kind == "epoch_end":
            self.timed_epochs += 1
            assert self.epoch_clock is not None
            self.state.update(
                epoch=event["epoch"] + 1,
                step=0,
                loss=event.get("loss"),
                metric=event.get(HISTORY_HEADLINE, self.state.get("metric")),  # an epoch not validated keeps the last
                seconds_per_epoch=(time.monotonic() - self.epoch_clock) / self.timed_epochs,
            )
        elif kind == "evaluate":
            self.state.update(phase="evaluate")
        else:
            return
        self.write()


def run_cell(task: CellTask) -> dict[str, Any]:
    """Train and evaluate one cell in its folder, under its lock; never raises for a failing cell.

    Returns ``{"cell", "status", ...}`` with status ``trained`` (``metrics.json`` written), ``failed``
    (the one-line ``error`` is also in ``status.json``) or ``busy`` (another process holds the cell).
    """
    cell_dir = Path(task.cell_dir)
    with store.cell_lock(cell_dir) as held:
        if not held:
            return {"cell": task.cell, "status": Status.BUSY}
        if store.is_trained(cell_dir):  # finished by another process since it was planned
            return {"cell": task.cell, "status": Status.TRAINED, "seconds": 0.0}
        return _train(task, cell_dir)


def _train(task: CellTask, cell_dir: Path) -> dict[str, Any]:
    import torch

    from lspd_bench import plugins
    from lspd_bench.config import load_config, replace
    from lspd_bench.data.build import build_data
    from lspd_bench.evaluation.run import train_and_evaluate

    torch.set_num_threads(task.threads)
    started = time.perf_counter()
    granted = {"cuda_visible_devices": os.environ.get(VISIBLE_DEVICES)} if task.gpus else {}
    store.write_status(cell_dir, Status.RUNNING, threads=task.threads, **granted)
    progress = FileProgress(cell_dir)
    progress.write()
    try:
        plugins.request(task.imports, "the matrix")  # a worker that did not inherit the driver's environment
        cfg = load_config(None, None, task.config)
        if task.gpus:  # the GPUs its slot or its scheduler granted: cuda is the first of them
            cfg = replace(cfg, device="cuda")
        if task.gpus > 1:
            metrics = _train_distributed(task, cfg, cell_dir)
        else:
            metrics = train_and_evaluate(cfg, cell_dir, resume=True, progress=progress, bundle=build_data(cfg))
    except Exception as exc:  # a failing cell is recorded and the matrix goes on (KeyboardInterrupt is not caught)
        record = store.record_failure(cell_dir, exc, "train")
        return {"cell": task.cell, "status": Status.FAILED, "error": record["error"]}
    seconds = time.perf_counter() - started
    env = metrics["environment"]
    facts = {
        "seconds": seconds,
        "headline": metrics["headline"],
        "threads": task.threads,
        "worker_pid": os.getpid(),
        "worker_host": socket.gethostname(),
        "device": env["device"],  # cuda:0 is the first GPU CUDA_VISIBLE_DEVICES names, when it is set
        "gpu": env.get("gpu"),
        "cuda_visible_devices": env.get("cuda_visible_devices"),
        "precision": metrics["train"]["precision"],
        "processes": metrics["train"]["processes"],
        "epochs_run": metrics["train"]["epochs_run"],
        "seconds_per_epoch": progress.state.get("seconds_per_epoch"),
    }
    store.write_status(cell_dir, Status.TRAINED, **facts)
    return {"cell": task.cell, "status": Status.TRAINED, **facts}


def torchrun_command(task: CellTask, config_file: str | Path) -> list[str]:
    """The command that trains ``task``'s cell with DDP over the ``task.gpus`` GPUs its process sees: torchrun
    (``torch.distributed.run``, on a free local port) starts one process per GPU, each ``lspd-bench train`` of
    the cell's configuration (``config_file``) resuming into the cell's folder; rank 0 evaluates and writes
    ``metrics.json``."""
    imports = [arg for module in task.imports for arg in ("--import", module)]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(task.gpus),
        "-m",
        "lspd_bench",
        *imports,
        "train",
        str(config_file),
        "--resume",
        "--out",
        str(task.cell_dir),
    ]


def _train_distributed(task: CellTask, cfg, cell_dir: Path) -> dict[str, Any]:
    """Train and evaluate the cell under torchrun (:func:`torchrun_command`); its output goes to
    ``torchrun.log`` in the cell's folder. Returns its ``metrics.json``; a failure raises ``RunFailed`` with the
    command's own one-line error when it printed one."""
    import yaml

    from lspd_bench.train.loop import RunFailed

    config_file = cell_dir / TORCHRUN_CONFIG
    write_text(config_file, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    with open(cell_dir / TORCHRUN_LOG, "ab") as log:
        code = subprocess.run(torchrun_command(task, config_file), stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        lines = (cell_dir / TORCHRUN_LOG).read_text(encoding="utf-8", errors="replace").splitlines()
        said = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
        raise RunFailed(said[-1] if said else f"torchrun exited with code {code}; see {cell_dir / TORCHRUN_LOG}")
    return json.loads((cell_dir / METRICS_FILE).read_text(encoding="utf-8"))


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


# --- local --------------------------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def _local_worker(conn, parent_pid: int, threads: int, gpus: str | None = None) -> None:
    """A pool process: run the cells it is sent, one at a time, until the driver closes the pipe. ``gpus``: the
    GPUs it is pinned to (``CUDA_VISIBLE_DEVICES``), set before torch initialises CUDA."""
    _die_with_parent(parent_pid)
    if gpus is not None:
        os.environ[VISIBLE_DEVICES] = gpus
    # Before torch loads: one OpenMP pool of the cell's size, not one per core.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        # Library warnings and native messages go to the cell's log, not over the driver's live table.
        log = os.open(Path(task.cell_dir) / store.WORKER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        conn.send(run_cell(task))


@dataclass
class _Worker:
    process: Any
    conn: Any
    task: CellTask | None = None
    gpus: tuple[str, ...] = ()  # the GPUs it is pinned to (CUDA_VISIBLE_DEVICES ids)


@dataclass(frozen=True)
class Gpus:
    """The GPUs a matrix's cells train on: how many each cell takes (0: they train on the CPU), and the ones of
    this machine a local pool pins its processes to, as ``CUDA_VISIBLE_DEVICES`` names them (none for an
    executor whose scheduler grants them, or that runs cells in its own process)."""

    per_cell: int = 0
    ids: tuple[str, ...] = ()

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The GPUs of each pool process: consecutive ``per_cell`` of ``ids`` (a remainder left unused)."""
        n = self.per_cell
        return tuple(self.ids[i : i + n] for i in range(0, len(self.ids) - n + 1, n)) if n else ()


class LocalExecutor:
    """Cells on this machine: a pool of ``slots`` spawned processes, one cell at a time each.

    The processes live for the whole matrix, so a cell does not pay for a fresh interpreter and torch
    import; one that dies (a crash, the OOM killer) fails its cell alone and is replaced. With ``gpus`` (each
    process's GPUs: ``Gpus.groups``) every process is pinned to the group fewest live processes hold, the
    first such: while ``slots`` is at most the groups, no two running cells share a GPU, and the process that
    replaces a dead one takes the GPUs it freed.
    """

    def __init__(self, slots: int, threads: int, gpus: tuple[tuple[str, ...], ...] = ()):
        import multiprocessing

        # spawn, not fork: the driver may have run torch (teacher training, or CUDA); forking a process whose
        # OpenMP pool or CUDA context is initialised can deadlock the child.
        self.ctx = multiprocessing.get_context("spawn")
        self.slots = slots
        self.threads = threads
        self.gpus = gpus
        self.workers: list[_Worker] = []

    @property
    def running(self) -> dict[str, CellTask]:
        return {w.task.cell: w.task for w in self.workers if w.task is not None}

    def _free_gpus(self) -> tuple[str, ...]:
        """The GPUs for a new process: the group that the fewest live processes hold, the first such."""
        if not self.gpus:
            return ()
        held = [w.gpus for w in self.workers]
        return min(self.gpus, key=held.count)

    def _spawn(self, gpus: tuple[str, ...]) -> tuple[Any, Any]:
        """Start a pool process pinned to ``gpus`` (none: not pinned); returns it and the driver's end of its pipe."""
        here, there = self.ctx.Pipe(duplex=True)
        pinned = ",".join(gpus) if gpus else None
        process = self.ctx.Process(
            target=_local_worker, args=(there, os.getpid(), self.threads, pinned), name="lspd-cell"
        )
        process.start()
        there.close()
        return process, here

    def _start_worker(self) -> _Worker:
        gpus = self._free_gpus()
        worker = _Worker(*self._spawn(gpus), gpus=gpus)
        self.workers.append(worker)
        return worker

    def submit(self, task: CellTask) -> None:
        idle = [w for w in self.workers if w.task is None]
        worker = idle[0] if idle else self._start_worker()
        worker.task = dataclasses.replace(task, gpus=len(worker.gpus)) if worker.gpus else task
        worker.conn.send(worker.task)

    def poll(self, timeout: float) -> Ended:
        """Wait up to ``timeout`` s; return the cells that ended, with their outcomes."""
        from multiprocessing.connection import wait

        busy = [w for w in self.workers if w.task is not None]
        if not busy:
            time.sleep(timeout)
            return []
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
        ended = []
        for w in busy:
            task = w.task
            assert task is not None
            outcome = None
            if w.conn in ready:
                with contextlib.suppress(EOFError, OSError):
                    outcome = w.conn.recv()
            if outcome is None and w.process.sentinel not in ready:
                continue
            if outcome is None:  # the process died in the middle of the cell
                w.process.join()
                w.conn.close()
                self.workers.remove(w)
                outcome = {
                    "cell": task.cell,
                    "status": "died",
                    "error": f"the cell's worker process died: {_exit_text(w.process.exitcode)}",
                }
            w.task = None
            ended.append((task, outcome))
        return ended

    def shutdown(self) -> None:
        """Stop the workers (running cells resume from their last checkpoint next time)."""
        for w in self.workers:
            if w.task is not None:
                w.process.terminate()
            w.conn.close()  # an idle worker sees the pipe close and returns
        for w in self.workers:
            w.process.join(10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
        self.workers.clear()


# --- in process -----------------------------------------------------------------------------------------


class InProcessExecutor:
    """Cells in the calling process, one at a time: ``poll`` runs the cell submitted and returns when it ends.

    For debugging and tests: a breakpoint, a monkeypatch or a profiler in the driver reaches the cell's code,
    and no interpreter or torch import is paid per worker. The price: the live view stands still while a
    cell trains, the cell's output goes to the driver's stderr (stdout stays the command's), and a crash
    of the cell (a segfault, the OOM killer) ends the whole run — which resumes, like any other, on a rerun.
    """

    def __init__(self, threads: int):
        self.slots = 1
        self.threads = threads
        self.running: dict[str, CellTask] = {}

    def submit(self, task: CellTask) -> None:
        self.running[task.cell] = task

    def poll(self, timeout: float) -> Ended:
        if not self.running:
            time.sleep(timeout)
            return []
        import torch

        cell, task = next(iter(self.running.items()))
        before = torch.get_num_threads()  # run_cell sets the cell's count: the driver gets its own back
        try:
            with contextlib.redirect_stdout(sys.stderr):
                outcome = run_cell(task)
        finally:
            torch.set_num_threads(before)
            del self.running[cell]
        return [(task, outcome)]

    def shutdown(self) -> None:
        self.running.clear()


# --- ray ----------------------------------------------------------------------------------------------


def _ray_cell(task: CellTask) -> dict[str, Any]:
    return run_cell(task)


class RayExecutor:
    """Each cell a Ray task with ``threads`` CPUs (and ``gpus`` GPUs); results go to the shared folder."""

    def __init__(self, slots: int, threads: int, gpus: int = 0, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise InputError(EXECUTORS["ray"].requirement()) from None
        self.ray = ray
        self.owns_cluster = not ray.is_initialized()
        if self.owns_cluster:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        # Ray sets CUDA_VISIBLE_DEVICES of a task to the GPUs it grants it: the cell trains on those.
        self.remote = ray.remote(_ray_cell).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
        self.slots = slots
        self.gpus = gpus
        self.running: dict[Any, CellTask] = {}

    def submit(self, task: CellTask) -> None:
        task = dataclasses.replace(task, gpus=self.gpus)
        self.running[self.remote.remote(task)] = task

    def poll(self, timeout: float) -> Ended:
        if not self.running:
            time.sleep(timeout)
            return []
        ready, _ = self.ray.wait(list(self.running), num_returns=len(self.running), timeout=timeout)
        ended = []
        for ref in ready:
            task = self.running.pop(ref)
            try:
                outcome = self.ray.get(ref)
            except Exception as exc:  # the task's worker crashed or was lost
                outcome = {"cell": task.cell, "status": "died", "error": f"the Ray task died: {store.one_line(exc)}"}
            ended.append((task, outcome))
        return ended

    def shutdown(self) -> None:
        for ref in self.running:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        self.running.clear()
        if self.owns_cluster:
            self.ray.shutdown()


# --- submitit -----------------------------------------------------------------------------------------


class SubmititExecutor:
    """Each cell a submitit job: SLURM when ``sbatch`` is there (or ``cluster='slurm'``), else local."""

    def __init__(
        self,
        folder: Path,
        slots: int,
        threads: int,
        gpus: int = 0,
        cluster: str | None = None,
        partition: str | None = None,
        timeout_min: int = 24 * 60,
    ):
        try:
            import submitit
        except ImportError:
            raise InputError(EXECUTORS["submitit"].requirement()) from None
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        # SLURM sets CUDA_VISIBLE_DEVICES of a job to the GPUs it grants it: the cell trains on those.
        params: dict[str, Any] = {"timeout_min": timeout_min, "cpus_per_task": threads, "gpus_per_node": gpus}
        if partition:
            params["slurm_partition"] = partition
        self.executor.update_parameters(**params)
        self.slots = slots
        self.gpus = gpus
        self.running: dict[str, tuple[Any, CellTask]] = {}

    def submit(self, task: CellTask) -> None:
        task = dataclasses.replace(task, gpus=self.gpus)
        self.running[task.cell] = (self.executor.submit(run_cell, task), task)

    def poll(self, timeout: float) -> Ended:
        deadline = time.monotonic() + timeout
        while True:
            ended = []
            for cell, (job, task) in list(self.running.items()):
                if not job.done():
                    continue
                try:
                    outcome = job.result()
                except Exception as exc:  # the job failed outside run_cell (killed, timed out, lost)
                    outcome = {"cell": cell, "status": "died", "error": f"the submitit job died: {store.one_line(exc)}"}
                ended.append((task, outcome))
                del self.running[cell]
            if ended or time.monotonic() >= deadline:
                return ended
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def shutdown(self) -> None:
        for job, _ in self.running.values():
            with contextlib.suppress(Exception):
                job.cancel()
        self.running.clear()


# --- the registry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterOptions:
    """Where the cluster executors send the cells (``ablate``'s options of the same names)."""

    address: str | None = None  # --address (ray; None: start a local one)
    cluster: str | None = None  # --cluster (submitit: slurm, local or debug; None: slurm when available)
    partition: str | None = None  # --partition (submitit, SLURM)
    timeout_min: int = 24 * 60  # --timeout-min (submitit's job time limit)


@dataclass(frozen=True)
class ExecutorOptions:
    """What the driver knows that an executor may use; each factory takes what its executor needs."""

    slots: int  # cells at once (plan_slots, from the kind's ``parallel``, the GPUs and --jobs)
    threads: int  # torch threads per cell
    folder: Path  # where an executor may keep its own files (submitit's job folders)
    gpus: int = 0  # per cell: --gpus-per-cell (1 by default) when the matrix trains on CUDA, else 0
    cluster: ClusterOptions = ClusterOptions()
    gpu_ids: tuple[str, ...] = ()  # this machine's GPUs a local pool pins its processes to (``Gpus.ids``)


@dataclass(frozen=True)
class ExecutorKind:
    """A registered executor: its ``--executor`` name, one line of help, how it is built and what it needs.

    ``parallel`` says how many cells run at once unless ``--jobs`` says otherwise: ``cores`` (as many as
    ``--threads`` fit in this machine's cores; on CUDA, one per GPU or per ``--gpus-per-cell`` GPUs), ``all``
    (every cell queued: a cluster schedules them) or ``one`` (one at a time, whatever ``--jobs``). ``module``
    is a library the executor imports beyond the suite's dependencies: when it is not installed, :meth:`check`
    says what to install before any work.
    """

    name: str
    help: str
    factory: Callable[[ExecutorOptions], Executor]
    parallel: Literal["cores", "all", "one"] = "cores"
    module: str | None = None
    library: str = ""  # the module's name for a reader (Ray)
    install: str = ""  # what to pip install

    def requirement(self) -> str:
        return f"--executor {self.name} needs {self.library or self.module}: pip install {self.install}"

    def check(self) -> None:
        """``InputError`` when the library the executor needs is not installed (found without importing it)."""
        if self.module and importlib.util.find_spec(self.module) is None:
            raise InputError(self.requirement())

    def slots(self, cells: int, jobs: int | None, threads: int, cores: int, gpu_slots: int = 0) -> int:
        """Cells at once for ``cells`` to run, ``--jobs`` (None: the default) and ``threads`` per cell;
        ``gpu_slots``: how many cells this machine's GPUs take at once (``len(Gpus.groups)``; 0 on the CPU)."""
        if self.parallel == "one":
            return 1
        if self.parallel == "cores":
            return jobs or max(1, min(gpu_slots or cores // threads, cells))
        return jobs or max(1, cells)


#: The executors by ``--executor`` name, in the order ``--help`` lists them.
EXECUTORS: dict[str, ExecutorKind] = {}


def register(kind: ExecutorKind) -> ExecutorKind:
    """Add ``kind`` to the registry: ``--executor NAME`` takes it (a plugin's too, registered on import)."""
    if kind.name in EXECUTORS:
        raise ValueError(f"executor {kind.name!r} is registered already")
    EXECUTORS[kind.name] = kind
    return kind


def executor_kind(name: str) -> ExecutorKind:
    """The registered executor called ``name`` (``InputError`` naming the choices otherwise)."""
    try:
        return EXECUTORS[name]
    except KeyError:
        raise InputError(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}") from None


def make_executor(name: str, options: ExecutorOptions) -> Executor:
    """The executor called ``name``, built from ``options`` (``InputError`` when its library is missing)."""
    kind = executor_kind(name)
    kind.check()
    return kind.factory(options)


register(
    ExecutorKind(
        "local",
        "a pool of --jobs processes on this machine (default: as many as --threads fit in the cores; on CUDA, "
        "one per GPU, each process pinned to its own)",
        lambda o: LocalExecutor(o.slots, o.threads, Gpus(o.gpus, o.gpu_ids).groups),
    )
)
register(
    ExecutorKind(
        "ray",
        "each cell a Ray task (--address; every cell queued)",
        lambda o: RayExecutor(o.slots, o.threads, o.gpus, o.cluster.address),
        parallel="all",
        module="ray",
        library="Ray",
        install="'lspd-bench[ray]' (or pip install ray)",
    )
)
register(
    ExecutorKind(
        "submitit",
        "each cell a submitit job: SLURM when available (--cluster, --partition, --timeout-min; every cell queued)",
        lambda o: SubmititExecutor(
            o.folder, o.slots, o.threads, o.gpus, o.cluster.cluster, o.cluster.partition, o.cluster.timeout_min
        ),
        parallel="all",
        module="submitit",
        install="'lspd-bench[submitit]'",
    )
)
register(
    ExecutorKind(
        "inprocess",
        "each cell in this process, one at a time, for debugging (breakpoints reach the cell; a crash ends the run)",
        lambda o: InProcessExecutor(o.threads),
        parallel="one",
    )
)
