"""Headers that can point at other files, read without SimpleITK: NRRD (``data file:`` with one name, a
``%d`` pattern or ``LIST``) and MetaImage (``ElementDataFile`` with one name, a pattern, ``LIST`` or
``LOCAL``). A run compares its destinations against these files, and checks that they are all there."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from MedColorLib.errors import MedColorError
from MedColorLib.io.paths import kind_of

NRRD_SUFFIXES = (".nrrd", ".nhdr")
META_SUFFIXES = (".mha", ".mhd")
MAX_HEADER_BYTES = 1 << 20   # a longer header is not a header
MAX_DATA_FILES = 100_000


@dataclass
class Header:
    """A parsed header: ``fields`` with lower-case keys; ``data_files`` empty when the voxels follow the header
    in the same file, at byte ``offset``."""

    path: Path
    kind: str                                  # "nrrd" | "meta"
    fields: dict[str, str]
    data_files: list[Path] = field(default_factory=list)
    offset: int = 0


def header_kind(path: Path) -> str | None:
    """"nrrd" or "meta" by the file's suffix, else None."""
    name = path.name.lower()
    return "nrrd" if name.endswith(NRRD_SUFFIXES) else "meta" if name.endswith(META_SUFFIXES) else None


def read_header(path: str | Path) -> Header | None:
    """The header of a NRRD or MetaImage file (None for other files); MedColorError when it is malformed."""
    path = Path(path)
    kind = header_kind(path)
    if kind is None:
        return None
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if _misnamed(path, head, kind):
        return None
    return _nrrd(path, head) if kind == "nrrd" else _meta(path, head)


def _misnamed(path: Path, head: bytes, kind: str) -> bool:
    """A file named .nrrd/.mha that is something else (SimpleITK picks its reader by content)."""
    if kind == "nrrd":
        return not head.startswith(b"NRRD000")
    return b"ElementDataFile" not in head[:MAX_HEADER_BYTES] and b"elementdatafile" not in head.lower()


def data_files(path: str | Path) -> list[Path]:
    """The other files a NRRD/MetaImage header names for its voxels ([] for any other file or an unreadable
    header: reading it later says what is wrong)."""
    if kind_of(path) is not None:  # only a regular file is opened (a FIFO would block)
        return []
    try:
        header = read_header(path)
    except (OSError, MedColorError):
        return []
    return header.data_files if header else []


def _lines(head: bytes) -> list[tuple[str, int]]:
    """(line without its newline, byte offset just after it); names keep their bytes (surrogateescape)."""
    out, start = [], 0
    while start < len(head):
        end = head.find(b"\n", start)
        if end < 0:
            out.append((os.fsdecode(head[start:]).rstrip("\r"), len(head)))
            break
        out.append((os.fsdecode(head[start:end]).rstrip("\r"), end + 1))
        start = end + 1
    return out


def _nrrd(path: Path, head: bytes) -> Header:
    lines = _lines(head)
    fields: dict[str, str] = {}
    for n, (line, end) in enumerate(lines[1:], 1):
        if not line.strip():
            return Header(path, "nrrd", fields, offset=end)
        if line.startswith("#") or ":=" in line.split(": ", 1)[0]:
            continue
        key, sep, value = line.partition(": ")
        if not sep:  # not a field: SimpleITK judges the header
            continue
        key = key.strip().lower()
        fields[key] = value.strip()
        if key in ("data file", "datafile"):
            files = _data_files(path, value.strip(), [ln for ln, _ in lines[n + 1:]], "NRRD data file")
            return Header(path, "nrrd", fields, files, offset=end)
    return Header(path, "nrrd", fields, offset=len(head))


def _meta(path: Path, head: bytes) -> Header:
    fields: dict[str, str] = {}
    lines = _lines(head)
    for n, (line, end) in enumerate(lines):
        key, sep, value = line.partition("=")
        if not sep:  # not a field: SimpleITK judges the header
            continue
        key = key.strip().lower()
        fields[key] = value.strip()
        if key == "elementdatafile":
            if value.strip().upper() == "LOCAL":
                return Header(path, "meta", fields, offset=end)
            files = _data_files(path, value.strip(), [ln for ln, _ in lines[n + 1:]], "ElementDataFile")
            return Header(path, "meta", fields, files, offset=end)
    raise MedColorError(f"{path} has no ElementDataFile line; give a complete MetaImage header")


def _data_files(path: Path, value: str, rest: list[str], what: str) -> list[Path]:
    """The files of a data-file value: one name, ``LIST [subdim]`` (names on the following lines) or a
    printf pattern with min, max and step (``slice%03d.raw 1 30 1 [subdim]``); relative to the header."""
    if not value:
        raise MedColorError(f"{path}: the {what} line names no file; fix the header")
    words = value.split()
    if words[0].upper() == "LIST":
        names = [ln.strip() for ln in rest if ln.strip()]
    elif "%" in words[0] and len(words) >= 4:
        names = _pattern(path, words, what)
    else:
        names = [value]
    if not names or len(names) > MAX_DATA_FILES:
        raise MedColorError(f"{path}: the {what} list names {len(names)} files; fix the header")
    return [path.parent / name for name in names]


def _pattern(path: Path, words: list[str], what: str) -> list[str]:
    try:
        low, high, step = (int(w) for w in words[1:4])
        count = (high - low) // step + 1 if step else -1
        if count < 1 or count > MAX_DATA_FILES:
            raise ValueError
        return [words[0] % i for i in range(low, high + (1 if step > 0 else -1), step)]
    except (ValueError, TypeError):
        raise MedColorError(f"{path}: the {what} pattern {' '.join(words)!r} is not 'FORMAT MIN MAX STEP'; "
                            "fix the header") from None
