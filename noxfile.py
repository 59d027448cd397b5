"""Sessions: `nox -s demo` (set up and run the main job), `nox -s tests`, `nox -s benchmarks`.

Every session installs torch first, pinned through constraints.txt: an unpinned torch (or a package
that depends on it, like ptflops, installed first) would pull a multi-GB CUDA build on a CPU machine.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

CONSTRAINTS = ("-c", "constraints.txt")


def install(session: nox.Session, extras: str = "dev,onnx") -> None:
    session.install(*CONSTRAINTS, "torch")  # first, alone, pinned: never a CUDA wheel by accident
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Every test, slow ones included (pass `-- -m "not slow"` for the quick subset)."""
    install(session)
    session.run("pytest", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: profile the model zoo (parameters, GMACs from both counters, latency at 1 thread)."""
    install(session)
    out = os.path.join("reports", "zoo", "zoo.json")
    session.run("lspd-bench", "zoo", "--latency", "--out", out)
    session.log(f"full profiles written to {out}")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """The measured figures of the README (run them on an idle machine)."""
    install(session)
    scripts = session.posargs or sorted(
        os.path.join("benchmarks", f) for f in os.listdir("benchmarks") if f.startswith("bench_") and f.endswith(".py")
    )
    for script in scripts:
        session.run("python", script)
