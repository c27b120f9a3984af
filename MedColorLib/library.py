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

Retrieval (paper, step 1): filter by set and tags, rank by Hamming distance between D-hashes, ties by
path. For a volume, decide once (``choose_for_volume``: majority over representative slices) or per
slab with hysteresis (``choose_per_slab``). A user who pins a reference simply skips the search and
passes the reference image (``load_reference``) to the engine.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import atomic_path
from .dhash import dhash, hash_to_hex, hex_to_hash, to_uint8
from .errors import MedColorError
from .io2d import DICOM_SUFFIXES, is_dicom

INDEX_NAME = "medcolor-library.json"
FORMAT = "medcolor-library"
VERSION = 1
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SIDECAR_SUFFIX = ".json"
MIN_SIDE = 16  # a reference smaller than this is useless to the engine
GRAY_CHROMA = 30 / 255  # a pixel is coloured when max - min channel exceeds this
GRAY_FRACTION = 0.005  # an image is gray when fewer pixels than this are coloured (JPEG noise, overlays)
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


@dataclass(frozen=True)
class Match:
    """A search result: absolute image path, its set, Hamming distance to the query, and the entry."""

    path: Path
    set: str
    distance: int
    entry: Entry


@dataclass(frozen=True)
class VolumeChoice:
    """One reference for a whole volume: the winning match, its votes and the slices that voted."""

    match: Match
    votes: int
    mean_distance: float
    slice_indices: tuple[int, ...]


# ----------------------------------------------------------------------------- reading images

def load_reference(path: str | Path) -> np.ndarray:
    """A colour reference as (h, w, 3) float32 RGB in [0, 1]; MedColorError if unreadable, gray or tiny."""
    path = Path(path)
    rgb = _read_rgb(path)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise MedColorError(f"reference {path} is too small ({w}x{h} px); use one at least {MIN_SIDE} px a side")
    if is_gray(rgb):
        raise MedColorError(f"reference {path} is gray; a colour reference is needed")
    return rgb


def is_gray(rgb: np.ndarray) -> bool:
    """True when (almost) no pixel of an RGB image in [0, 1] has visible colour."""
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return float((chroma > GRAY_CHROMA).mean()) < GRAY_FRACTION


def read_gray_image(path: str | Path) -> np.ndarray:
    """A 2-D query image (PNG/JPEG/TIFF or DICOM slice) as float32 gray in [0, 1] (DICOM: its window)."""
    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"image {path} does not exist; give the path of a PNG, JPEG or DICOM file")
    if is_dicom(path):
        return _dicom_gray(path)
    img = _open_pil(path)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _unit(np.asarray(img, dtype=np.float64))
    return np.asarray(img.convert("L"), dtype=np.float32) / 255


def _read_rgb(path: Path) -> np.ndarray:
    """Any supported colour file -> float32 RGB in [0, 1] (no gray check)."""
    if not path.is_file():
        raise MedColorError(f"reference {path} does not exist; give the path of a colour image")
    if is_dicom(path):
        return _dicom_rgb(path, *_dicom_pixels(path))
    img = _open_pil(path)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise MedColorError(f"reference {path} is gray; a colour reference is needed")
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255


def _open_pil(path: Path) -> Image.Image:
    """Open and decode an image with PIL; MedColorError if it cannot."""
    try:
        img = Image.open(path)
        img.load()
        return img
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as err:
        raise MedColorError(f"{path} is not a readable image ({_short(err)}); replace or remove it") from None


def _dicom_pixels(path: Path, frame: str = "first"):
    """(dataset, pixels of one frame: the first or the middle one); MedColorError if unreadable."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        arr = ds.pixel_array
    except Exception as err:  # pydicom raises many types for broken/undecodable files
        raise MedColorError(f"{path} is not a readable DICOM image ({_short(err)}); replace or remove it") from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[0 if frame == "first" else frames // 2]
    return ds, arr


def _dicom_rgb(path: Path, ds, arr: np.ndarray) -> np.ndarray:
    """One colour DICOM frame (RGB, YBR_* - converted by pydicom - or PALETTE COLOR) -> float32 RGB in [0, 1]."""
    from pydicom.pixels import apply_color_lut

    kind = str(ds.get("PhotometricInterpretation", "")).upper()
    if kind == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds).astype(np.float64)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        top = 255.0 if bits <= 8 or rgb.max() <= 255 else 65535.0
        return (rgb / top).astype(np.float32)
    if kind.startswith("MONOCHROME") or arr.ndim != 3 or arr.shape[-1] != 3:
        raise MedColorError(f"reference {path} is gray; a colour reference is needed")
    top = float(2 ** int(ds.get("BitsStored", 8)) - 1)
    return np.clip(arr.astype(np.float64) / top, 0, 1).astype(np.float32)


def _dicom_gray(path: Path) -> np.ndarray:
    """A DICOM slice as gray in [0, 1]: modality LUT, the file's VOI window if any, min-max; colour -> luma."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds, arr = _dicom_pixels(path, frame="middle")
    kind = str(ds.get("PhotometricInterpretation", "")).upper()
    if kind == "PALETTE COLOR" or (arr.ndim == 3 and arr.shape[-1] == 3):
        rgb = _dicom_rgb(path, ds, arr)
        return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
    values = apply_modality_lut(arr, ds)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        values = apply_voi_lut(values, ds, prefer_lut=False)
    gray = _unit(np.asarray(values, dtype=np.float64))
    return 1 - gray if kind == "MONOCHROME1" else gray


def _unit(values: np.ndarray) -> np.ndarray:
    """Min-max scale to float32 [0, 1]; a constant image becomes zeros."""
    if values.size == 0 or not np.isfinite(values).all():
        raise MedColorError("image has no pixels or NaN/Inf values; give a valid image")
    lo, hi = float(values.min()), float(values.max())
    return ((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)).astype(np.float32)


def _short(err: BaseException) -> str:
    """First line of an exception message, kept short."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]


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
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    old = by_path.get(rel) if by_path.get(rel) and by_path[rel].sha256 == sha else by_sha.get(sha)
    meta = _default_meta(rel, defaults)
    if old is not None:
        meta.update(set=old.set, tags=dict(old.tags), source=old.source, licence=old.licence)
        hash_hex, width, height = old.dhash, old.width, old.height
    else:
        rgb = load_reference(path)
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
        raise MedColorError(f"sidecar {side.name} is not valid JSON ({_short(err)}); fix or delete it") from None
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
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
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
        raise MedColorError(f"library index {index} is corrupt ({_short(err)}); "
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


# ----------------------------------------------------------------------------- search

def candidates(library: Library, set: str | None = None, tags: Mapping[str, str] | None = None) -> list[Entry]:
    """Entries of the given set carrying all the given tags (case-insensitive), sorted by path."""
    chosen = [e for e in library.entries
              if (set is None or e.set == set) and _has_tags(e, tags or {})]
    if not chosen:
        raise MedColorError(f"no reference in {library.root} matches set={set!r} tags={dict(tags or {})}; "
                            f"sets there: {', '.join(library.sets()) or 'none (empty library)'}")
    return sorted(chosen, key=lambda e: e.path)


def _has_tags(entry: Entry, tags: Mapping[str, str]) -> bool:
    """Every wanted tag equals one of the entry's comma-separated values for that key."""
    for key, want in tags.items():
        have = [v.strip().lower() for v in str(entry.tags.get(key, "")).split(",")]
        if str(want).strip().lower() not in have:
            return False
    return True


def search(library: Library, gray_image, set: str | None = None, tags: Mapping[str, str] | None = None,
           k: int = 5) -> list[Match]:
    """The k nearest references to a gray image (array in [0, 1], uint8 or PIL) by D-hash, ties by path."""
    if k < 1:
        raise MedColorError(f"k must be at least 1 (got {k})")
    entries = candidates(library, set, tags)
    dist = _distances(np.array([dhash(gray_image)], dtype=np.uint64), entries)[0]
    order = np.argsort(dist, kind="stable")[:k]  # entries are sorted by path, so ties go by path
    return [_match(library, entries[i], int(dist[i])) for i in order]


def _match(library: Library, entry: Entry, distance: int) -> Match:
    """A Match for an entry."""
    return Match(library.path_of(entry), entry.set, distance, entry)


def _distances(hashes: np.ndarray, entries: list[Entry]) -> np.ndarray:
    """(S, N) Hamming distances between S query hashes and N entries."""
    refs = np.array([e.hash for e in entries], dtype=np.uint64)
    xor = np.ascontiguousarray(hashes[:, None] ^ refs[None, :])
    bits = np.unpackbits(xor.reshape(-1, 1).view(np.uint8), axis=1)  # popcount; numpy < 2 has no bitwise_count
    return bits.sum(axis=1, dtype=np.int64).reshape(xor.shape)


# ----------------------------------------------------------------------------- volumes

def slice_hashes(slices: Iterable, min_content: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Hash every 2-D slice (uint8 or float in [0, 1], one window per volume) and flag slices with content.

    A slice has content when at least ``min_content`` of its pixels exceed 10 % of full scale; the
    rest (air, padding) carry no information for retrieval. Slices are hashed one at a time.
    """
    hashes, content = [], []
    for n, sl in enumerate(slices):
        arr = to_uint8(np.asarray(sl))
        if arr.ndim != 2:
            raise MedColorError(f"slice {n} has shape {arr.shape}; give 2-D gray slices")
        hashes.append(dhash(arr))
        content.append(float((arr > 25).mean()) >= min_content)
    if not hashes:
        raise MedColorError("no slices given; give a volume with at least one slice")
    return np.array(hashes, dtype=np.uint64), np.array(content, dtype=bool)


def choose_per_slice(library: Library, slices: Iterable, set: str | None = None,
                     tags: Mapping[str, str] | None = None) -> list[Match]:
    """The paper's behaviour: the nearest reference for every slice independently (ties by path)."""
    entries = candidates(library, set, tags)
    hashes, _ = slice_hashes(slices)
    dist = _distances(hashes, entries)
    return [_match(library, entries[int(np.argmin(row))], int(row.min())) for row in dist]


def representative_slices(content: np.ndarray, n: int) -> list[int]:
    """n slice indices evenly spread over the slices with content (all slices if none has content)."""
    pool = np.flatnonzero(content) if content.any() else np.arange(len(content))
    picks = pool[((np.arange(n) + 0.5) / n * len(pool)).astype(int)]
    return sorted({int(i) for i in picks})


def choose_for_volume(library: Library, slices: Iterable, set: str | None = None,
                      tags: Mapping[str, str] | None = None, n_representative: int = 9,
                      min_content: float = 0.05) -> VolumeChoice:
    """One reference per volume: each representative slice votes for its nearest reference; most votes
    wins, ties by the smaller summed distance over the representatives, then by path."""
    if n_representative < 1:
        raise MedColorError(f"n_representative must be at least 1 (got {n_representative})")
    entries = candidates(library, set, tags)
    hashes, content = slice_hashes(slices, min_content)
    picks = representative_slices(content, n_representative)
    dist = _distances(hashes[picks], entries)
    votes = np.bincount(np.argmin(dist, axis=1), minlength=len(entries))
    total = dist.sum(axis=0)
    best = min(range(len(entries)), key=lambda i: (-votes[i], total[i], entries[i].path))
    match = _match(library, entries[best], int(round(float(np.median(dist[:, best])))))
    return VolumeChoice(match, int(votes[best]), float(dist[:, best].mean()), tuple(picks))


def choose_per_slab(library: Library, slices: Iterable, set: str | None = None,
                    tags: Mapping[str, str] | None = None, margin: int = 4, patience: int = 3,
                    min_content: float = 0.05) -> list[Match]:
    """A reference per slice that only changes between slabs (hysteresis).

    Start with the reference nearest over the first ``patience`` slices with content. Switch only when
    some other reference beats the current one by at least ``margin`` bits on ``patience`` consecutive
    slices with content; the new slab then starts at the first of those slices and takes the reference
    with the smallest summed distance over them. Slices without content keep the current reference.
    """
    if margin < 0 or patience < 1:
        raise MedColorError(f"need margin >= 0 and patience >= 1 (got {margin}, {patience})")
    entries = candidates(library, set, tags)
    hashes, content = slice_hashes(slices, min_content)
    dist = _distances(hashes, entries)
    chosen = _hysteresis(dist, content, margin, patience)
    return [_match(library, entries[c], int(dist[s, c])) for s, c in enumerate(chosen)]


def _hysteresis(dist: np.ndarray, content: np.ndarray, margin: int, patience: int) -> list[int]:
    """Per-slice candidate index from an (S, N) distance matrix, switching only after a sustained lead."""
    live = np.flatnonzero(content) if content.any() else np.arange(len(content))
    current = int(np.argmin(dist[live[:patience]].sum(axis=0)))
    chosen = [current] * len(dist)
    streak: list[int] = []
    for s in live:
        if dist[s, current] - dist[s].min() >= margin:
            streak.append(int(s))
        else:
            streak = []
        if len(streak) >= patience:
            current = int(np.argmin(dist[streak].sum(axis=0)))
            start, streak = streak[0], []
            chosen[start:] = [current] * (len(chosen) - start)
    chosen[: live[0]] = [chosen[live[0]]] * int(live[0])  # leading empty slices join the first slab
    return chosen


def count_switches(matches: list[Match]) -> int:
    """How many times the reference changes between neighbouring slices."""
    return sum(a.path != b.path for a, b in zip(matches, matches[1:]))
