"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

A reader never sees a half-written file, and a crash leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import filelock

from lspd_bench.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should look like any written file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (keys in insertion order, non-JSON values as str)."""
    return write_text(path, json.dumps(data, indent=indent, default=str) + "\n")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive lock on ``path`` (``filelock``; created if needed) for the block, waiting for it if held. The
    operating system drops it when its holder dies, so a killed process never leaves it held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(path):
        yield


@contextlib.contextmanager
def try_lock(path: str | os.PathLike) -> Iterator[bool]:
    """:func:`file_lock` if nobody holds it, without waiting: yields whether the block holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path)
    try:
        lock.acquire(blocking=False)
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def check_output(path: str | os.PathLike, *, folder: bool, what: str = "output") -> Path:
    """Refuse, before anything is written, an output ``path`` that cannot be created: a part of it is a
    file, the path is a file where a folder is wanted (or the reverse), or its nearest existing folder is
    not writable. Returns the path; raises ``InputError`` naming the part at fault."""
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise InputError(f"{what} {path} is a file, not a folder")
        if not folder and path.is_dir():
            raise InputError(f"{what} {path} is a folder, not a file")
        nearest = path if folder else path.parent
    else:
        nearest = path.parent
        while not nearest.exists() and nearest != nearest.parent:
            nearest = nearest.parent
        if not nearest.is_dir():
            raise InputError(f"{what} {path} cannot be created: {nearest} is a file, not a folder")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path} cannot be written: no write permission in {nearest}")
    return path
