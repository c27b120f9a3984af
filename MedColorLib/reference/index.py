"""The colour-reference library: an indexed folder of colour images, searched by D-hash.

A library is a folder of colour images (PNG, JPEG, TIFF, BMP, colour DICOM) plus the index file
``medcolor-library.json``. Each image has a set (``pseudo``, ``real`` or any user-defined name), tags
(``modality``, ``region``, ...), a source and a licence. Metadata comes, strongest first, from:
1. a sidecar ``<image file name>.json`` (e.g. ``brain.png.json``: ``{"set": ..., "tags": {...},
   "source": ..., "licence": ...}``);
2. the previous index entry of the same unchanged file (same path and SHA-256, or a moved/renamed
   file: same SHA-256 and its old path gone), so metadata edited by hand in the index survives a
   re-index; a changed file or a copy counts as a new image;
3. defaults: the set is the first subfolder's name (``pseudo/x.png`` -> ``pseudo``) or ``default_set``
   for files at the top level.

Retrieval is in :mod:`MedColorLib.reference.retrieval`; images are read by :mod:`MedColorLib.io.images`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


from MedColorLib.io.atomic import atomic_path
from MedColorLib.io.hashing import sha256_file
from MedColorLib.reference.dhash import dhash, hash_to_hex, hex_to_hash
from MedColorLib.errors import MedColorError, short_reason
from MedColorLib.io.images import DICOM_SUFFIXES, RASTER_SUFFIXES, load_reference
from MedColorLib.io.paths import check_regular_file

INDEX_NAME = "medcolor-library.json"
FORMAT = "medcolor-library"
VERSION = 1
SIDECAR_SUFFIX = ".json"
DEFAULT_SET = "user"
DEFAULT_LICENCE = "unknown"


@dataclass(frozen=True)
class Entry:
    """One indexed colour image; ``path`` is relative to the library folder, POSIX style."""

    path: str
    dhash: str
    width: int
    height: int
    set: str
    tags: dict = field(default_factory=dict)
    source: str = ""
    licence: str = DEFAULT_LICENCE
    sha256: str = ""

    @property
    def hash(self) -> int:
        """The D-hash as an integer."""
        return hex_to_hash(self.dhash)


@dataclass
class Library:
    """An index loaded or (re)built for ``root``; ``skipped``/``added``/``removed`` describe the last indexing."""

    root: Path
    entries: list[Entry]
    skipped: list[tuple[str, str]] = field(default_factory=list, compare=False)
    added: list[str] = field(default_factory=list, compare=False)
    removed: list[str] = field(default_factory=list, compare=False)

    def sets(self) -> list[str]:
        """Sorted set names present in the library."""
        return sorted({e.set for e in self.entries})

    def path_of(self, entry: Entry) -> Path:
        """Absolute path of an entry's image."""
        return self.root / entry.path

    @property
    def index_path(self) -> Path:
        """Where the index file lives."""
        return self.root / INDEX_NAME


# ----------------------------------------------------------------------------- index

def index_library(folder: str | Path, default_set: str = DEFAULT_SET, default_source: str = "",
                  default_licence: str = DEFAULT_LICENCE) -> Library:
    """(Re)build ``folder/medcolor-library.json``; returns the Library with skipped/added/removed filled in."""
    root = _library_dir(folder)
    _check_set_name(default_set)
    previous, skipped = _previous_entries(root)
    files = _image_files(root)
    present = {p.relative_to(root).as_posix() for p in files}
    by_path = {e.path: e for e in previous}
    by_sha = {e.sha256: e for e in previous if e.path not in present}  # moved or renamed files
    defaults = {"set": default_set, "source": default_source, "licence": default_licence}
    entries: list[Entry] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            entries.append(_index_one(root, path, by_path, by_sha, defaults))
        except MedColorError as err:
            skipped.append((rel, str(err)))
    now = {e.path for e in entries}
    library = Library(root, entries, skipped,
                      added=sorted(now - set(by_path)), removed=sorted(set(by_path) - now))
    write_index(library)
    return library


def _index_one(root: Path, path: Path, by_path: Mapping[str, Entry], by_sha: Mapping[str, Entry],
               defaults: Mapping[str, str]) -> Entry:
    """Index entry for one image: reuse hash and metadata when its bytes are unchanged."""
    rel = path.relative_to(root).as_posix()
    check_regular_file(path, "image")  # a FIFO would block the hash, a broken link would raise
    sha = sha256_file(path)
    old = by_path.get(rel) if by_path.get(rel) and by_path[rel].sha256 == sha else by_sha.get(sha)
    meta = _default_meta(rel, defaults)
    if old is not None:
        meta.update(set=old.set, tags=dict(old.tags), source=old.source, licence=old.licence)
        hash_hex, width, height = old.dhash, old.width, old.height
    else:
        rgb = load_reference(path, max_side=None)  # full size: the index records the file's own size and hash
        hash_hex, (height, width) = hash_to_hex(dhash(rgb)), rgb.shape[:2]
    meta.update(_read_sidecar(path))
    _check_set_name(meta["set"])
    return Entry(path=rel, dhash=hash_hex, width=int(width), height=int(height), set=meta["set"],
                 tags=meta["tags"], source=meta["source"], licence=meta["licence"], sha256=sha)


def _default_meta(rel: str, defaults: Mapping[str, str]) -> dict:
    """Set from the first subfolder (or the default set), default source and licence, no tags."""
    parts = rel.split("/")
    return {"set": parts[0] if len(parts) > 1 else defaults["set"], "tags": {},
            "source": defaults["source"], "licence": defaults["licence"]}


def _read_sidecar(path: Path) -> dict:
    """Metadata from ``<image>.json`` if present: set, tags (modality/region also at top level), source, licence."""
    side = path.with_name(path.name + SIDECAR_SUFFIX)
    if not side.is_file():
        return {}
    try:
        raw = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise MedColorError(f"sidecar {side.name} is not valid JSON ({short_reason(err)}); fix or delete it") from None
    if not isinstance(raw, dict):
        raise MedColorError(f"sidecar {side.name} must hold a JSON object; fix or delete it")
    meta: dict = {}
    tags = raw.get("tags", {})
    if not isinstance(tags, dict):
        raise MedColorError(f"sidecar {side.name}: 'tags' must be an object such as {{\"modality\": \"MR\"}}")
    tags = {str(k): str(v) for k, v in tags.items()}
    tags.update({k: str(raw[k]) for k in ("modality", "region") if k in raw})
    if tags:
        meta["tags"] = tags
    for key, names in (("set", ("set",)), ("source", ("source",)), ("licence", ("licence", "license"))):
        for name in names:
            if name in raw:
                meta[key] = str(raw[name])
    return meta


def _check_set_name(name: str) -> None:
    """A set name is a non-empty word (letters, digits, '-', '_')."""
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise MedColorError(f"set name '{name}' is invalid; use letters, digits, '-' or '_'")


def _image_files(root: Path) -> list[Path]:
    """Candidate image files under root (recursive, hidden entries skipped), sorted."""
    suffixes = RASTER_SUFFIXES + DICOM_SUFFIXES
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _library_dir(folder: str | Path) -> Path:
    """The library folder (an index file path is accepted too); MedColorError if it is not a folder."""
    root = Path(folder)
    if root.name == INDEX_NAME:
        root = root.parent
    if root.exists() and not root.is_dir():
        raise MedColorError(f"{root} is a file, not a folder; give the library folder (the one holding {INDEX_NAME})")
    if not root.is_dir():
        raise MedColorError(f"library folder {root} does not exist; create it or run `medcolor library build {root}`")
    return root.resolve()


def _previous_entries(root: Path) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of an existing index (empty if none); a corrupt index is reported and replaced."""
    if not (root / INDEX_NAME).is_file():
        return [], []
    try:
        return load_library(root).entries, []
    except MedColorError as err:
        return [], [(INDEX_NAME, f"previous index ignored and rebuilt: {err}")]


def write_index(library: Library) -> Path:
    """Write the index atomically (entries sorted by path); returns its path."""
    doc = {"format": FORMAT, "version": VERSION,
           "hash": "dhash 8x8: PIL gray, LANCZOS resize to 9x8, right > left; equals imagehash.dhash",
           "entries": [_entry_dict(e) for e in sorted(library.entries, key=lambda e: e.path)]}
    target = library.index_path
    if not os.access(library.root, os.W_OK):  # read-only file system or no permission: say so before writing
        raise MedColorError(f"cannot write {target}: the library folder {library.root} is not writable")
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8 travels as \udcXX escapes (json.loads restores it)
        data = (json.dumps(doc, indent=1) + "\n").encode("ascii")
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def _entry_dict(e: Entry) -> dict:
    """An entry as a JSON object."""
    return {"path": e.path, "dhash": e.dhash, "width": e.width, "height": e.height, "set": e.set,
            "tags": dict(e.tags), "source": e.source, "licence": e.licence, "sha256": e.sha256}


def load_library(folder: str | Path) -> Library:
    """Read ``folder/medcolor-library.json``; MedColorError when it is missing or corrupt."""
    root = _library_dir(folder)
    index = root / INDEX_NAME
    if not index.is_file():
        raise MedColorError(f"{root} has no {INDEX_NAME}; run `medcolor library index {root}` first")
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or int(doc.get("version", 0)) > VERSION:
            raise ValueError("not a medcolor library index of a known version")
        entries = [_entry_from(raw) for raw in doc["entries"]]
    except MedColorError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise MedColorError(f"library index {index} is corrupt ({short_reason(err)}); "
                            f"run `medcolor library index {root}` to rebuild it") from None
    return Library(root, entries)


def _entry_from(raw: dict) -> Entry:
    """An Entry from its JSON object (validates the hash and the types)."""
    entry = Entry(path=str(raw["path"]), dhash=str(raw["dhash"]), width=int(raw["width"]),
                  height=int(raw["height"]), set=str(raw["set"]),
                  tags={str(k): str(v) for k, v in dict(raw.get("tags", {})).items()},
                  source=str(raw.get("source", "")), licence=str(raw.get("licence", DEFAULT_LICENCE)),
                  sha256=str(raw.get("sha256", "")))
    hex_to_hash(entry.dhash)
    return entry
