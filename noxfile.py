"""Sessions: `nox -s demo` (the main job), `nox -s tests`, `nox -s regress` (the CI gate), `nox -s benchmarks`,
`nox -s docs` (the documentation site), `nox -s ci` (docs, tests and regress in one environment: `.ci/run`), and
`nox -s gpu` (the GPU check, on a machine with a CUDA GPU).

Every session installs torch first, pinned through constraints.txt: an unpinned torch (or a package
that depends on it, like ptflops, installed first) would pull a multi-GB CUDA build on a CPU machine.
Which build of torch comes is `LSPD_BENCH_TORCH_INDEX`'s to say (see `torch_source`): by default the
PyTorch CPU wheels, a URL for another build (a CUDA one), or empty for pip's own indexes and configuration.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from typing import Callable, Mapping

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

CONSTRAINTS = ("-c", "constraints.txt")
#: The optional dependencies the tests exercise (runtimes and cluster executors).
TEST_EXTRAS = "dev,onnx,ray,submitit"


#: The environment variable that names the index torch is installed from, and its default: the PyTorch CPU
#: wheels (what the suite needs on a machine without a GPU, and what the baseline was measured with).
TORCH_INDEX_VAR = "LSPD_BENCH_TORCH_INDEX"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def reachable(url: str, timeout_s: float = 5.0) -> bool:
    """Whether ``url``'s server answers at all (an HTTP error is an answer)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):  # URLError, a timeout, no route, a malformed URL
        return False
    return True


def torch_source(env: Mapping[str, str], is_reachable: Callable[[str], bool] = reachable) -> tuple[list[str], str]:
    """The pip arguments that pick torch's build, and the one line that says which.

    ``LSPD_BENCH_TORCH_INDEX`` unset: the CPU wheels' index is added to pip's own (a ``+cpu`` wheel of the
    pinned version wins over PyPI's CUDA one), unless it cannot be reached, when pip's own indexes decide (in
    5 s rather than pip's minute of retries). Set to a URL: that index is added instead (a CUDA build's,
    ``https://download.pytorch.org/whl/cu126``). Set but empty: pip's own indexes and configuration alone (a
    mirror, ``PIP_INDEX_URL``, ``PIP_FIND_LINKS``)."""
    value = env.get(TORCH_INDEX_VAR)
    if value is None:
        if is_reachable(CPU_TORCH_INDEX):
            return ["--extra-index-url", CPU_TORCH_INDEX], (
                f"torch: the CPU build, from {CPU_TORCH_INDEX} ({TORCH_INDEX_VAR} unset; set it to another index "
                "for another build, or to nothing for pip's own indexes)"
            )
        return [], (
            f"torch: {CPU_TORCH_INDEX} cannot be reached, so pip's own indexes pick the build (on PyPI for "
            f"Linux x86 that is the CUDA one; set {TORCH_INDEX_VAR} to an index you can reach)"
        )
    if not value.strip():
        return [], f"torch: from pip's own indexes and configuration ({TORCH_INDEX_VAR} is empty)"
    return ["--extra-index-url", value.strip()], f"torch: from {value.strip()} ({TORCH_INDEX_VAR})"


def install(session: nox.Session, extras: str = TEST_EXTRAS, env: Mapping[str, str] = os.environ) -> None:
    index, says = torch_source(env)
    session.log(says)
    session.install(*CONSTRAINTS, *index, "torch")  # first, alone, pinned: never a CUDA wheel by accident
    session.install(*CONSTRAINTS, "-e", f".[{extras}]" if extras else ".")


def run_tests(session: nox.Session, *args: str) -> None:
    session.run("ruff", "format", "--check", ".")  # the layout is the formatter's (pyproject.toml [tool.ruff])
    # One worker per core, each test module on one worker (its fixtures are built once); every test and the
    # processes it starts use one torch thread (tests/conftest.py), so the workers do not oversubscribe.
    session.run("pytest", "-n", "auto", "--dist", "loadfile", *args)


def run_regress(session: nox.Session, *args: str) -> None:
    out, cache = os.path.join("runs", "ci"), os.path.join("runs", "ci-cache")
    for folder in (out, cache):  # fresh: a resumed matrix or a cached teacher would hide a code change
        shutil.rmtree(folder, ignore_errors=True)
    # The machine's own kernels: the gate's rules allow for the noise that kernels, threads and load bring.
    env = {"LSPD_BENCH_CACHE": os.path.abspath(cache)}
    session.run(
        "lspd-bench",
        "ablate",
        "ablations/ci.yaml",
        "--out",
        out,
        "--jobs",
        "2",
        "--threads",
        "1",
        env=env,
        success_codes=[0, 1],
    )  # a failed cell is reported by check (exit 1)
    session.run(
        "lspd-bench",
        "check",
        out,
        "--baseline",
        os.path.join("reports", "baseline", "ci.json"),
        "--markdown",
        os.path.join("reports", "check", "ci.md"),
        *args,
        env=env,
    )


def build_docs(session: nox.Session) -> None:
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def tests(session: nox.Session) -> None:
    """Every test, slow ones included (pass `-- -m "not slow"` for the quick subset).

    The HTML report test renders in headless Chromium when it is installed (Debian: `apt-get install
    chromium`; `.ci/run` installs it) and is skipped, saying so, when it is not.
    """
    install(session)
    run_tests(session, *session.posargs)


@nox.session
def regress(session: nox.Session) -> None:
    """The regression gate: the ci matrix from scratch, then `lspd-bench check` against reports/baseline/ci.json.

    `nox -s regress -- --update-baseline` accepts the results as the new baseline instead.
    """
    install(session, extras="")  # core dependencies only: the matrix needs no optional runtime or executor
    run_regress(session, *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with --strict into site/: a broken link, anchor or generated reference fails.

    Core dependencies and the docs extra only: the references are generated from the package at build time.
    """
    install(session, extras="docs")
    build_docs(session)


@nox.session
def ci(session: nox.Session) -> None:
    """What `.ci/run` runs: `docs`, `tests` and `regress`, one after the other in one environment (three
    sessions would install torch three times, a third of CI's time)."""
    install(session, extras=f"{TEST_EXTRAS},docs")
    build_docs(session)
    run_tests(session)
    run_regress(session)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: profile the model zoo, run the stages × distillation ablation on the quick preset, report it.

    About 9 minutes on 2 CPU cores from a fresh machine (the preset study timed it); the distilled cells learn
    from the teacher shipped in the package, so none is trained. Core dependencies only: the optional runtimes
    and cluster executors are not needed here.
    """
    install(session, extras="")
    # At the matrix's input size: the report draws the zoo's SimpleBaseline, Lite-HRNet and hourglass by their cost.
    session.run(
        "lspd-bench", "zoo", "--input", "128x128", "--latency", "--out", os.path.join("reports", "zoo", "zoo.json")
    )
    data, out = os.path.join("runs", "data", "quick"), os.path.join("runs", "demo")
    report = os.path.join("reports", "demo")
    if not os.path.isfile(os.path.join(data, "meta.json")):  # deterministic: a second demo reuses it
        session.run("lspd-bench", "data", "synth", "--preset", "quick", "--out", data)
    session.run("lspd-bench", "data", "show", data, "--n", "16", "--out", os.path.join(report, "samples.png"))
    session.run(
        "lspd-bench",
        "ablate",
        "stages=1..4",
        "distill=none,teacher",
        "--preset",
        "quick",
        f"data_dir={data}",
        "--out",
        out,
    )
    # LSPD's claims, judged on this one-seed matrix: the report says why one seed decides none of them.
    claims = (
        "distill=teacher > distill=none at every stages",
        "stages=2 > stages=1 where distill=teacher",
        "stage=2 > stage=1",
    )
    session.run("lspd-bench", "report", out, "--out", report, *(a for c in claims for a in ("--claim", c)))
    session.log(f"open {os.path.join('reports', 'demo', 'index.html')}")


@nox.session
def gpu(session: nox.Session) -> None:
    """The GPU check (`benchmarks/gpu_check.py`): the quick preset's `stages=2 distill=none` cell trained on CUDA in
    fp32 and bf16, its images/s against the CPU's and its fp32 accuracy against the CPU's seed noise; one line,
    exit code 1 when it fails. At most 8 minutes from an installed environment (`nox -R -s gpu` reuses it); on a
    machine without a GPU it says so and passes.

    Torch comes from pip's own indexes unless `LSPD_BENCH_TORCH_INDEX` names one: on PyPI for Linux x86 that is a
    CUDA build (`LSPD_BENCH_TORCH_INDEX=https://download.pytorch.org/whl/cu126` picks another)."""
    install(session, extras="", env={TORCH_INDEX_VAR: "", **os.environ})
    session.run("python", os.path.join("benchmarks", "gpu_check.py"), *session.posargs)


#: The longer reference the presets' rankings are measured against (docs/benchmark.md, "The reference"): the stages
#: matrix at 8× the quick preset's epochs, 2 seeds. Its folder resumes; its results table and report are committed.
REFERENCE = ("ablations/stages.yaml", "seed=0..1", "epochs=16")
REFERENCE_RUN = os.path.join("runs", "reference")
REFERENCE_REPORT = os.path.join("benchmarks", "results", "reference")
#: The presets whose fidelity is measured, each as the same matrix trained into runs/stages-PRESET.
FIDELITY_PRESETS = ("quick", "ci")


@nox.session
def reference(session: nox.Session) -> None:
    """The reference ablation (about 2 hours on 2 cores, a background run; rerun to resume), the stages matrix on
    each preset of FIDELITY_PRESETS, their fidelity (`benchmarks/bench_fidelity.py`), then the reference's report
    into benchmarks/results/reference/."""
    install(session, extras="")
    session.run("lspd-bench", "ablate", *REFERENCE, "--out", REFERENCE_RUN)
    runs = {preset: os.path.join("runs", f"stages-{preset}") for preset in FIDELITY_PRESETS}
    for preset, folder in runs.items():
        session.run("lspd-bench", "ablate", "ablations/stages.yaml", "--preset", preset, "--out", folder)
    fidelity = [a for preset, folder in runs.items() for a in ("--run", f"{preset}={folder}")]
    session.run("python", os.path.join("benchmarks", "bench_fidelity.py"), "--reference", REFERENCE_RUN, *fidelity)
    session.run("lspd-bench", "report", REFERENCE_RUN, "--out", REFERENCE_REPORT)
    shutil.copyfile(os.path.join(REFERENCE_RUN, "results.csv"), os.path.join(REFERENCE_REPORT, "results.csv"))


@nox.session
def benchmarks(session: nox.Session) -> None:
    """The measured figures of the README (run them on an idle machine)."""
    install(session)
    scripts = session.posargs or sorted(  # bench_fidelity reads the reference's runs: `nox -s reference` runs it
        os.path.join("benchmarks", f)
        for f in os.listdir("benchmarks")
        if f.startswith("bench_") and f.endswith(".py") and f != "bench_fidelity.py"
    )
    for script in scripts:
        session.run("python", script)
