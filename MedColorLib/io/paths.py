"""Paths of any bytes a POSIX file system allows: what kind of file a path names (only regular files are
read, so a FIFO or a device never blocks a run), a form SimpleITK can open (its C++ layer aborts on a name
that is not UTF-8), and a one-line printable form for messages."""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from MedColorLib.errors import MedColorError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def one_line(text: str) -> str:
    """``text`` printable on one line: control characters escaped (a newline becomes ``\\n``), bytes that are
    not UTF-8 (carried as surrogates in file names) shown as ``\\xNN``."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def kind_of(path: str | Path) -> str | None:
    """None for a regular file (or a link to one); else what ``path`` is, in words ("a FIFO (named pipe)",
    "a folder", "a broken symbolic link", "missing", ...)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken symbolic link" if os.path.islink(path) else "missing"
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def check_regular_file(path: str | Path, what: str) -> None:
    """MedColorError (one line) unless ``path`` is a regular file: a FIFO, device, socket, folder or broken
    link is refused before anything opens it."""
    kind = kind_of(path)
    if kind == "missing":
        raise MedColorError(f"{what} {path} does not exist")
    if kind is not None:
        raise MedColorError(f"{what} {path} is {kind}, not a regular file; give a regular file")


def utf8(path: str | Path) -> bool:
    """True when SimpleITK can take ``path`` as it is (its name encodes as UTF-8)."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


@contextmanager
def itk_path(path: Path, relatives: Iterable[str | Path] = ()) -> Iterator[str]:
    """A name SimpleITK can open for the file or folder ``path``: ``str(path)`` when it is UTF-8, else a
    symbolic link with an ASCII name in a private temporary folder (removed on exit). A file whose own name
    is the problem is linked as ``input<suffix>``; ``relatives`` (data files its header names relative to
    its folder) are linked beside it, so a detached header still finds its voxels."""
    if utf8(path):
        yield str(path)
        return
    path = Path(os.path.abspath(path))
    with tempfile.TemporaryDirectory(prefix="medcolor-") as tmp:
        if utf8(path.name):  # only a folder above is not UTF-8: link that folder, keep the name
            os.symlink(path.parent, Path(tmp) / "folder")
            yield str(Path(tmp) / "folder" / path.name)
            return
        link = Path(tmp) / ("input" + ascii_suffix(path.name))
        os.symlink(path, link)
        for rel in relatives:
            target = Path(tmp) / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts or target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path.parent / rel, target)
        yield str(link)


def ascii_suffix(name: str) -> str:
    """The file-type suffix of ``name`` (``.nii.gz``, ``.nrrd``, ...) when it is ASCII, else ''."""
    lower = name.lower()
    suffix = ".nii.gz" if lower.endswith(".nii.gz") else Path(name).suffix
    return suffix if suffix.isascii() and suffix.isprintable() else ""


@contextmanager
def itk_folder(folder: Path, files: list[Path]) -> Iterator[tuple[str, dict[str, Path]]]:
    """(a folder name SimpleITK can scan, {name SimpleITK will report: real file}) for a DICOM folder whose
    name or file names are not all UTF-8: ASCII-named links to ``files`` (sorted order kept) in a private
    temporary folder. UTF-8 folders are used as they are."""
    if utf8(folder) and all(utf8(f.name) for f in files):
        yield str(folder), {str(f): f for f in files}
        return
    with tempfile.TemporaryDirectory(prefix="medcolor-") as tmp:
        names = {}
        for n, f in enumerate(sorted(files, key=lambda p: os.fsencode(p.name))):
            link = Path(tmp) / f"{n:06d}{ascii_suffix(f.name)}"
            os.symlink(os.path.abspath(f), link)
            names[str(link)] = f
        yield tmp, names
