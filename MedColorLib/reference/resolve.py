"""One colour reference for an input: the pinned one, or the library's nearest by D-hash among the
references of the input's body region and modality (``regions.decide_region``), falling back to
neighbouring regions, then to the modality alone, then to the whole library; the result says which
reference was used and why. No library given: the per-user default library (built on first use).

Reusable by every caller (CLI, Slicer worker, batch): ``resolve_reference(volume, region=..., library=...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.reference.index import Library, load_library
from MedColorLib.reference.regions import NEIGHBOURS, RegionDecision, decide_region
from MedColorLib.types import Volume


def resolve_reference(volume: Volume | None, gray_slices: list | np.ndarray | None = None, *,
                      reference: np.ndarray | None = None, library: str | Path | Library | None = None,
                      library_set: str | None = None, tags: Mapping[str, str] | None = None,
                      region: str | None = None, note: Callable[[str], None] | None = None
                      ) -> tuple[np.ndarray, dict]:
    """(reference RGB (h, w, 3) float in [0, 1], provenance) for a volume (or 2-D input given as a
    one-slice volume). ``gray_slices``: the windowed display slices that are hashed (default: the
    volume's own, windowed per slice). ``region`` (or ``tags["region"]``) overrides the region rule."""
    from MedColorLib.io.images import load_reference
    if reference is not None:
        return reference, {"path": "given"}
    tags = dict(tags or {})
    region = region or tags.pop("region", None)
    decision = decide_region(volume, region) if volume is not None else \
        RegionDecision(region or "", "", "given by the user (--region)" if region else "")
    lib = library if isinstance(library, Library) else open_library(library, note)
    slices = list(gray_slices) if gray_slices is not None else _display_slices(volume)
    choice, why = choose(lib, slices, decision, library_set, tags, default_absence(lib, decision))
    m = choice.match
    return load_reference(m.path), {
        "path": str(m.path), "set": m.set, "hamming_distance": m.distance, "votes": choice.votes,
        "library": str(lib.root), "region": decision.as_dict(), "reference_tags": dict(m.entry.tags),
        "why": f"{why}; nearest by D-hash (median distance {m.distance}, {choice.votes} of "
               f"{len(choice.slice_indices)} representative slices voted for it)"}


def open_library(library: str | Path | None, note: Callable[[str], None] | None = None) -> Library:
    """The given library folder, or the per-user default library, built or updated on first use."""
    if library is not None:
        return load_library(library)
    from MedColorLib.reference.default_library import default_library_dir, ensure_default_library
    return ensure_default_library(default_library_dir(), note=note)


def default_absence(library: Library, decision: RegionDecision) -> str | None:
    """In MedColor's default library (its version stamp is there): why it has no reference of the decided region
    and modality (no package ships one, or its package is not installed), for the report; else None."""
    from MedColorLib.reference.body_slices import absence
    from MedColorLib.reference.default_library import STAMP
    if not decision.region or not (Path(library.root) / STAMP).is_file():
        return None
    return absence(decision.region, decision.modality)


def retrieval_steps(decision: RegionDecision, tags: Mapping[str, str], absent: str | None = None
                    ) -> list[tuple[dict, str]]:
    """Tag filters to try in order, each with the sentence that explains it (``absent``: why the region has none)."""
    modality, region = decision.modality, decision.region
    mod = {"modality": modality} if modality else {}
    steps: list[tuple[dict, str]] = []
    if region:
        steps.append(({**tags, "region": region, **mod}, f"region {region} ({decision.how}), modality {modality or '?'}"))
        none = f"no {modality} reference of region {region} ({decision.how}{'; ' + absent if absent else ''})"
        steps += [({**tags, "region": n, **mod}, f"{none}; neighbouring region {n}")
                  for n in NEIGHBOURS.get(region, ())]
    if modality:
        steps.append(({**tags, "modality": modality},
                      f"no {modality} reference of region {region or '?'} or its neighbours; any region"))
    steps.append((dict(tags), "no reference of the input's modality; the whole library"))
    return steps


def choose(library: Library, slices: list, decision: RegionDecision, library_set: str | None,
           tags: Mapping[str, str], absent: str | None = None):
    """(VolumeChoice, why) from the first retrieval step with candidates; D-hash votes rank within it."""
    from MedColorLib.reference.retrieval import candidates, choose_for_volume
    for step_tags, why in retrieval_steps(decision, tags, absent):
        try:
            candidates(library, library_set, step_tags)
        except MedColorError:
            continue
        return choose_for_volume(library, slices, set=library_set, tags=step_tags), why
    candidates(library, library_set, tags)  # raises the library's own "no reference matches" error
    raise MedColorError(f"no reference in {library.root}")


def _display_slices(volume: Volume) -> list[np.ndarray]:
    """The volume's slices windowed as the pipeline windows them (display orientation), for hashing."""
    from MedColorLib import prepare
    array = volume.array if volume.array.ndim == 3 else volume.array[None]
    axis = prepare.check_volume(volume, min_slices=1) if volume.array.ndim == 3 else 0
    low, high, _ = prepare.choose_window(volume, None)
    view = prepare.slice_view(volume.direction, axis)
    return [prepare.apply_window(prepare.to_display(prepare.take_slice(array, axis, k), view), low, high)
            for k in range(array.shape[axis])]


def luma_calibrated(info: Mapping, window: tuple[float, float]) -> bool:
    """True when equal luma means equal tissue: a CT input shown in the window its library CT reference was rendered
    in (``body_slices.CT_WINDOW``), so the correspondence may lean on the luma (Options.luma_match)."""
    from MedColorLib.prepare import CT_PRESETS
    from MedColorLib.reference.body_slices import CT_WINDOW

    region, tags = info.get("region") or {}, info.get("reference_tags") or {}
    rendered = tuple(float(v) for v in CT_PRESETS[CT_WINDOW])
    return (region.get("modality") == "CT" and tags.get("modality") == "CT"
            and tuple(float(v) for v in window) == rendered)
