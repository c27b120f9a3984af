"""Atomic file writes: a hidden temporary file next to the target, renamed over it only on success.

Inside :func:`transaction` every :func:`atomic_path` only writes its temporary file; the transaction renames
them all together at its end, or removes them all on any failure, so a run writes all its outputs or none.
"""

from __future__ import annotations

import errno
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from MedColorLib.errors import MedColorError

_PENDING: list[list[tuple[Path, Path]]] = []  # stack of open transactions: (temporary, destination) pairs
_COMMITTING = [False]


def temporary_name(path: Path) -> Path:
    """The hidden temporary file next to ``path`` (``.medcolor-XXXXXXXX-name``), within the file system's
    name limit: a long name keeps only its end (and so its suffix, which writers dispatch on)."""
    prefix = f".medcolor-{secrets.token_hex(4)}-"
    name = os.fsencode(path.name)
    room = name_limit(path.parent) - len(prefix)
    if len(name) > room:
        name = name[-room:]
        while name and not _starts_a_character(name):  # never half a UTF-8 character
            name = name[1:]
    return path.with_name(prefix + os.fsdecode(name))


def name_limit(folder: Path) -> int:
    """The longest file name (bytes) the file system of ``folder`` takes; 255 when it cannot say."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _starts_a_character(data: bytes) -> bool:
    return data[0] & 0xC0 != 0x80


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists; never raises (the clean-up must not hide the first error)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def write_error(path: Path, err: OSError) -> MedColorError:
    """One-line MedColorError for a failed write ('disk full' for ENOSPC/EDQUOT)."""
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return MedColorError(f"cannot write {path}: disk full")
    if err.errno == errno.EROFS:
        return MedColorError(f"cannot write {path}: the file system is read-only")
    return MedColorError(f"cannot write {path}: {err.strerror or err}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to ``path``; rename it over ``path`` on success (or at the end of
    the enclosing :func:`transaction`), delete it on any failure (OSError -> MedColorError; Ctrl-C re-raised)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if _PENDING:
            _PENDING[-1].append((tmp, path))
        else:
            os.replace(tmp, path)
    except OSError as err:
        remove_quietly(tmp)
        raise write_error(path, err) from None
    except BaseException:
        remove_quietly(tmp)
        raise


@contextmanager
def transaction() -> Iterator[None]:
    """All atomic writes inside are committed together at the end; on any failure none is left."""
    pending: list[tuple[Path, Path]] = []
    _PENDING.append(pending)
    try:
        yield
    except BaseException:
        _PENDING.pop()
        for tmp, _ in pending:
            remove_quietly(tmp)
        raise
    _PENDING.pop()
    _commit(pending)


def committing() -> bool:
    """True while a transaction renames its files (a signal handler then defers the cancellation)."""
    return _COMMITTING[0]


def _commit(pending: list[tuple[Path, Path]]) -> None:
    """Rename every temporary file over its destination; a failure removes the new files again."""
    done: list[Path] = []
    _COMMITTING[0] = True
    try:
        for tmp, path in pending:
            os.replace(tmp, path)
            done.append(path)
    except OSError as err:
        for path in done:
            remove_quietly(path)
        for tmp, _ in pending:
            remove_quietly(tmp)
        raise write_error(pending[len(done)][1], err) from None
    finally:
        _COMMITTING[0] = False


def check_destination(path: Path, source: str | None = None) -> None:
    """The output folder must exist and the output must not be the input file ``source``."""
    if not path.parent.is_dir():
        raise MedColorError(f"cannot write {path}: folder {path.parent} does not exist")
    if source and Path(source).resolve() == path.resolve():
        raise MedColorError(f"output {path} is the input file; choose another output name")
