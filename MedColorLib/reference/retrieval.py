"""Reference retrieval (paper, step 1): filter a library by set and tags, rank by Hamming distance
between D-hashes, ties by path. For a volume, decide once (``choose_for_volume``: majority over
representative slices) or per slab with hysteresis (``choose_per_slab``). A user who pins a reference
skips the search and passes the image (``io.images.load_reference``) to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from MedColorLib.reference.dhash import dhash, to_uint8
from MedColorLib.errors import MedColorError
from MedColorLib.reference.index import Entry, Library


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
