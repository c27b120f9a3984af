"""Atomic file writes: a hidden temporary file next to the target, renamed over it only on success."""

from __future__ import annotations

import errno
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from MedColorLib.errors import MedColorError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to ``path``; rename it over ``path`` on success, delete it on
    any failure (OSError -> MedColorError, 'disk full' for ENOSPC/EDQUOT; Ctrl-C re-raised)."""
    path = Path(path)
    tmp = path.with_name(f".medcolor-{secrets.token_hex(4)}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise MedColorError(f"cannot write {path}: disk full") from None
        raise MedColorError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_destination(path: Path, source: str | None = None) -> None:
    """The output folder must exist and the output must not be the input file ``source``."""
    if not path.parent.is_dir():
        raise MedColorError(f"cannot write {path}: folder {path.parent} does not exist")
    if source and Path(source).resolve() == path.resolve():
        raise MedColorError(f"output {path} is the input file; choose another output name")
