"""Destinations of one run, checked together before any computation: each folder exists and is writable,
each name has a known extension and is neither a folder nor a symbolic link loop, and no destination is
another destination or an input (files by resolved path and ``os.path.samefile``; folders by containment).
An input's data files count as inputs: the files a NRRD or MetaImage header points to (io.headers)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterable, Sequence

from MedColorLib.errors import MedColorError
from MedColorLib.io.atomic import remove_quietly, temporary_name, write_error
from MedColorLib.io.headers import data_files


def check_outputs(outputs: Sequence[tuple[str, str | Path, Sequence[str]]],
                  inputs: Iterable[str | Path | None] = ()) -> list[Path]:
    """``outputs``: (option name, path, allowed suffixes); ``inputs``: files or folders read by the run.
    Returns the destination paths; MedColorError (one line) on the first problem."""
    paths = [Path(p) for _, p, _ in outputs]
    sources = [(Path(p), f"the input {p}") for p in inputs if p]
    sources += [(data, f"the data file {data} of the input {source}") for source, _ in list(sources)
                for data in data_files(source)]
    for (option, _, _), path in zip(outputs, paths):
        for source, words in sources:
            if same_or_inside(path, source):
                raise MedColorError(f"{option} {path} would overwrite or add to {words}; choose another output path")
    for n, path in enumerate(paths):
        for m in range(n):
            if same_path(path, paths[m]):
                raise MedColorError(f"{outputs[n][0]} and {outputs[m][0]} name the same file {path}; "
                                    "give each output its own name")
    for (option, _, suffixes), path in zip(outputs, paths):
        check_output(option, path, suffixes)
    return paths


def check_output(option: str, path: Path, suffixes: Sequence[str]) -> None:
    """One destination: known extension, not a folder or a link loop, folder present and writable."""
    if suffixes and not path.name.lower().endswith(tuple(suffixes)):
        raise MedColorError(f"{option} {path}: unknown file type; use {', '.join(suffixes)}")
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise MedColorError(f"{option} {path} is a symbolic link loop; remove it or choose another name") from None
    if path.is_dir():
        raise MedColorError(f"{option} {path} is a folder; give a file name such as {path / ('out' + suffixes[0])}"
                            if suffixes else f"{option} {path} is a folder; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise MedColorError(f"{option} {path}: folder {folder} does not exist; create it first")
    probe_writable(folder / path.name)


def probe_writable(path: Path) -> None:
    """Create and remove a hidden file next to ``path``: read-only, permission and quota problems show now."""
    probe = temporary_name(path)
    try:
        with open(probe, "xb"):
            pass
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        remove_quietly(probe)


def same_path(a: Path, b: Path) -> bool:
    """Same file: equal resolved paths, or both exist and are one file (hard links, bind mounts)."""
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):
        pass
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def same_or_inside(path: Path, source: Path) -> bool:
    """``path`` is the input file ``source``, or lies inside the input folder ``source``."""
    if same_path(path, source):
        return True
    if not source.is_dir():
        return False
    try:
        folder = path.parent.resolve()
        root = source.resolve()
    except (OSError, RuntimeError):
        return False
    return folder == root or root in folder.parents or (folder.exists() and os.path.samefile(folder, root))
