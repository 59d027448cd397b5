"""Plugins: models and LSPD block types that other packages register with the built-ins' own functions.

A plugin is a module that, when imported, calls ``lspd_bench.models.register_model`` and/or
``lspd_bench.models.register_block``. It is named in one of three ways:

- an entry point of the group ``lspd_bench.models`` in an installed distribution; its value is the
  module (``mypkg.pose``), or ``module:function`` for a function to call once with no arguments;
- ``lspd-bench --import MODULE`` (repeatable) or a matrix file's ``imports: [MODULE, ...]``: a module that
  is installed or importable from the current folder;
- ``LSPD_BENCH_IMPORTS`` (comma-separated modules): how the two above reach the processes that train cells.

Nothing is imported until the registry is first used (:func:`ensure_loaded`, called by ``list_models``,
``get_entry`` and ``build``), and then the built-in models first, so ``lspd-bench --help`` and a dry run on
a cached model catalogue need neither the plugins nor torch. A plugin that cannot be imported, registers a
name that is taken, or registers a model without what the suite needs (``lspd_bench.models.contract``) is
an ``InputError`` naming it, raised before anything runs.

A plugin is known by its *origin*, which enters the identity of every run that uses one of its models
or blocks (``lspd_bench.train.build.identity``): the distribution that installs it and its version, or,
for a module that no distribution installs, a digest of its package's code that leaves out comments and
docstrings. Built-in models and blocks have no origin, so their identities are what they always were.

This module imports neither torch nor the registry at import time.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from lspd_bench.errors import InputError

#: The entry-point group that installed distributions declare their plugin modules in.
GROUP = "lspd_bench.models"
#: Modules to import as plugins, comma-separated; set by ``--import`` and ``imports:`` for spawned processes.
ENV = "LSPD_BENCH_IMPORTS"
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass
class _State:
    """What this process was asked to import and what it has imported."""

    requested: dict[str, str] = field(default_factory=dict)  # module → how it was named (for messages)
    imported: set[str] = field(default_factory=set)
    entry_points_loaded: bool = False
    loading: bool = False
    importing: list[str] = field(default_factory=list)  # the plugin modules being imported, innermost last
    known: dict[str, dict[str, str]] = field(default_factory=dict)  # top-level package → origin, from entry points


_state = _State()


# --- naming plugins ---------------------------------------------------------------------------------------


def request(modules: Iterable[str], where: str) -> None:
    """Ask for ``modules`` to be imported as plugins the next time the registry is used.

    ``where`` says how they were named (``--import``, ``imports: in m.yaml``) for messages. Each name is
    checked now without importing it (its top-level package must be findable, installed or in the
    current folder), and passed on to spawned processes through ``LSPD_BENCH_IMPORTS``.
    """
    for name in modules:
        check_module(name, where)
        _state.requested.setdefault(name, where)
    names = dict.fromkeys([*_env_modules(), *_state.requested])
    if names:
        os.environ[ENV] = ",".join(names)


def check_module(name: Any, where: str) -> None:
    """``name`` must be a dotted module name whose top-level package can be found (nothing is imported)."""
    import importlib.util

    if not isinstance(name, str) or not _MODULE_NAME.match(name):
        raise InputError(f"{where}: {name!r} is not a module name (e.g. mypkg.pose)")
    _add_current_folder()
    top = name.partition(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(
            f"{where}: no module named {top!r} (install its package, or run from the folder that holds it)"
        )


def _add_current_folder() -> None:
    """A module named on the command line may live in the current folder, as with ``python -m``; it goes last
    on the path, so an installed package of the same name wins."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)


def _env_modules() -> list[str]:
    return [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]


def named() -> dict[str, str]:
    """Every module named for this process, with how it was named."""
    return {**{m: ENV for m in _env_modules()}, **_state.requested}


@contextlib.contextmanager
def session() -> Iterator[None]:
    """The modules named inside the block (and ``LSPD_BENCH_IMPORTS``) are forgotten when it ends: one
    command's ``--import`` does not carry over to the next command run in the same process."""
    requested, env = dict(_state.requested), os.environ.get(ENV)
    try:
        yield
    finally:
        _state.requested = requested
        if env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = env


# --- loading them -----------------------------------------------------------------------------------------


def _entry_points() -> list:
    from importlib.metadata import entry_points

    return sorted(entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value))


def _entry_point_text(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f"entry point {ep.name!r} of {dist.name} {dist.version}" if dist else f"entry point {ep.name!r}"


def ensure_loaded() -> None:
    """Import the built-in models, then every plugin not imported yet: the entry points, then the named
    modules. Raises ``InputError`` naming the plugin at fault; what was imported before it stays."""
    if _state.loading:  # a plugin that uses the registry while it is being imported
        return
    _state.loading = True
    try:
        import lspd_bench.models  # noqa: F401  the built-ins register first

        if not _state.entry_points_loaded:
            for ep in _entry_points():
                dist = getattr(ep, "dist", None)
                if dist is not None:
                    _state.known.setdefault(
                        ep.module.partition(".")[0], {"distribution": dist.name, "version": dist.version}
                    )
                _load(ep.module, _entry_point_text(ep), ep)
            _state.entry_points_loaded = True
        for name, where in named().items():
            _load(name, where)
    finally:
        _state.loading = False


def _load(name: str, where: str, entry_point=None) -> None:
    """Import one plugin module (and call its entry point's function), then check what it registered."""
    key = entry_point.value if entry_point is not None else name
    if key in _state.imported:
        return
    import importlib

    from lspd_bench.models.lspd import BLOCKS
    from lspd_bench.models.registry import NameTaken, registered

    models, blocks = set(registered()), set(BLOCKS)
    _state.importing.append(name)
    try:
        if entry_point is not None and entry_point.attr:
            hook = entry_point.load()
            if callable(hook):
                hook()
        else:
            importlib.import_module(name)
    except NameTaken as exc:
        raise InputError(f"plugin {name} ({where}): {exc}") from None
    except InputError as exc:
        raise InputError(f"plugin {name} ({where}): {exc}") from None
    except Exception as exc:  # any failure of someone else's module is one line naming it
        raise InputError(f"plugin {name} ({where}) failed to import: {first_line(exc)}") from None
    finally:
        _state.importing.pop()
    _state.imported.add(key)
    _check_registered(name, where, sorted(set(registered()) - models), [b for b in BLOCKS if b not in blocks])


def _check_registered(name: str, where: str, models: list[str], blocks: list[str]) -> None:
    """The contract's cheap part for what a plugin just registered (a model or block that breaks it stops here)."""
    from lspd_bench.models.contract import block_problems, static_problems
    from lspd_bench.models.lspd import BLOCKS
    from lspd_bench.models.registry import registered

    for model in models:
        problems = static_problems(registered()[model])
        if problems:
            raise InputError(
                f"plugin {name} ({where}): model {model!r} does not meet the model contract: "
                f"{'; '.join(problems)} (lspd-bench models --check {model} checks it in full)"
            )
    for block in blocks:
        problems = block_problems(BLOCKS[block])
        if problems:
            raise InputError(f"plugin {name} ({where}): block {block!r} is not an LSPD block: {'; '.join(problems)}")


def first_line(exc: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'x'``: the exception's type and its message's first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# --- what a plugin is known by ----------------------------------------------------------------------------


def registering_origin(obj: Any) -> dict[str, str] | None:
    """The origin of a model factory or block being registered now: the plugin module being imported, else
    the module that defines ``obj``; None for the suite's own."""
    module = _state.importing[-1] if _state.importing else defining_module(obj)
    return origin(module) if module else None


def registering_module(obj: Any) -> str:
    """The module a registration comes from, for messages: the plugin being imported, else ``obj``'s module."""
    return (_state.importing[-1] if _state.importing else defining_module(obj)) or "?"


def defining_module(obj: Any) -> str | None:
    """The module that defines a class or function (a ``functools.partial``'s function)."""
    inner = getattr(obj, "func", obj)
    return getattr(inner, "__module__", None)


def origin(module: str) -> dict[str, str] | None:
    """What the package of ``module`` is known by: ``{"distribution", "version"}`` when a distribution
    installs it, else ``{"package", "code"}`` (a digest of its code without comments and docstrings);
    None for ``lspd_bench`` itself. Nothing is imported."""
    return _origin(module.partition(".")[0])


@functools.cache
def _origin(top: str) -> dict[str, str] | None:
    if top == "lspd_bench":
        return None
    if top in _state.known:
        return dict(_state.known[top])
    import importlib.metadata

    for dist in importlib.metadata.packages_distributions().get(top, []):
        return {"distribution": dist, "version": importlib.metadata.version(dist)}
    return {"package": top, "code": code_digest(package_files(top))}


def package_files(top: str) -> list[Path]:
    """The Python files of top-level package or module ``top`` (found, not imported)."""
    import importlib.util

    if top == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        return [Path(main_file)] if main_file else []
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted(p for folder in spec.submodule_search_locations for p in Path(folder).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def code_digest(paths: Iterable[Path], root: Path | None = None) -> str:
    """A digest of Python files' code: their syntax trees without docstrings, so that editing a comment, a
    docstring or the layout leaves it as it is. A file that does not parse enters with its bytes."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        digest.update(str(path.relative_to(root) if root else path.name).encode())
        source = path.read_bytes()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            digest.update(source)
            continue
        digest.update(ast.dump(_without_docstrings(tree)).encode())
    return digest.hexdigest()[:16]


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def describe(origin_: dict[str, str] | None) -> str:
    """``lspd-bench-example 0.1.0``, ``package mypkg (code 1a2b…)`` or ``built in``."""
    if origin_ is None:
        return "built in"
    if "distribution" in origin_:
        return f"{origin_['distribution']} {origin_['version']}"
    return f"package {origin_['package']} (code {origin_['code']})"


def fingerprint() -> list[dict[str, Any]]:
    """What the plugins this process would load are, without importing any (the model catalogue's cache
    key): each entry point with its distribution's version, each named module with its origin, the code
    of both (an editable install keeps its version while its code changes), and the origins of plugin
    models already registered in this process by a direct import."""
    out: list[dict[str, Any]] = []
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        top = ep.module.partition(".")[0]
        out.append(
            {
                "entry_point": ep.name,
                "value": ep.value,
                "distribution": dist.name if dist else None,
                "version": dist.version if dist else None,
                "code": code_digest(package_files(top)),
            }
        )
    for name in sorted(named()):
        top = name.partition(".")[0]
        out.append({"module": name, "origin": origin(name), "code": code_digest(package_files(top))})
    if "lspd_bench.models.registry" in sys.modules:  # the registry is loaded: what it already holds
        from lspd_bench.models.registry import registered

        seen = sorted({describe(e.plugin) for e in registered().values() if e.plugin is not None})
        out += [{"registered": text} for text in seen]
    return out
