"""The body region of an input, decided once per volume: the user's ``--region``, else DICOM
BodyPartExamined, else a cheap rule on the volume itself. The decision says how it was made.

The rule (``region_rule``) looks at up to 12 slices spread over the volume, each with a body mask
(``tissues.body_mask`` for CT, an intensity threshold for MR):
- CT: chest when at least 30 % of the slices have gas (< -400 HU) over 15 % of the body's area (the
  lungs); else head when the body's median cross-section is under 350 cm^2 and at least 45 % of it is
  brain-like (15..60 HU) with under 10 % fat; else neck when the cross-section is under 350 cm^2; else
  abdomen (the rule does not tell the pelvis from the abdomen: use DICOM or ``--region pelvis``).
- MR (and other non-CT): head when the largest cross-section of the body is under 400 cm^2, else body.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.types import Volume

REGIONS = ("head", "neck", "chest", "abdomen", "pelvis", "shoulder", "body")
# where retrieval looks when no reference of the region itself exists (nearest first)
NEIGHBOURS = {"head": ("neck",), "neck": ("head", "chest"), "chest": ("body", "neck", "abdomen"),
              "abdomen": ("body", "pelvis", "chest"), "pelvis": ("abdomen", "body"),
              "shoulder": ("body", "chest"), "body": ("abdomen", "chest", "pelvis")}
# DICOM PS3.16 CID 4031 body-part terms (BodyPartExamined) -> region
BODY_PARTS = {
    "head": ("HEAD", "BRAIN", "SKULL", "HEADNECK", "ORBIT", "EAR", "SELLA", "FACE", "IAC"),
    "neck": ("NECK", "CSPINE", "LARYNX", "THYROID", "PHARYNX"),
    "chest": ("CHEST", "THORAX", "LUNG", "HEART", "TSPINE", "BREAST", "MEDIASTINUM", "CHESTABDOMEN", "RIB"),
    "abdomen": ("ABDOMEN", "LIVER", "PANCREAS", "KIDNEY", "LSPINE", "ABDOMENPELVIS", "STOMACH", "SPLEEN",
                "GALLBLADDER", "ADRENAL"),
    "pelvis": ("PELVIS", "HIP", "PROSTATE", "BLADDER", "SSPINE", "UTERUS", "RECTUM", "COCCYX", "SACRUM"),
    "shoulder": ("SHOULDER", "CLAVICLE", "SCAPULA"),
    "body": ("WHOLEBODY", "TRUNK", "EXTREMITY"),
}
MAX_SLICES = 12


@dataclass(frozen=True)
class RegionDecision:
    """region: one of REGIONS (or "" when undecided); modality: "CT", "MR", ...; how: a sentence."""

    region: str
    modality: str
    how: str
    features: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """For the report."""
        return asdict(self)


def check_region(name: str) -> str:
    """A region name, lower case; MedColorError naming the choices otherwise."""
    region = str(name).strip().lower()
    if region not in REGIONS:
        raise MedColorError(f"--region {name!r} is not a body region; choose one of {', '.join(REGIONS)}")
    return region


def region_of_body_part(value: str) -> str:
    """The region of a DICOM BodyPartExamined value, or "" when it names none we know."""
    term = "".join(str(value).upper().split()).replace("_", "")
    return next((region for region, terms in BODY_PARTS.items() if term in terms), "")


def volume_modality(volume: Volume) -> str:
    """CT (by tag or HU-like values), else the tag's modality, else MR."""
    from MedColorLib.prepare import is_ct

    if is_ct(volume):
        return "CT"
    return (volume.modality or "MR").upper()


def decide_region(volume: Volume, override: str | None = None) -> RegionDecision:
    """The region of a volume: ``override`` (--region), else BodyPartExamined, else ``region_rule``."""
    modality = volume_modality(volume)
    if override:
        return RegionDecision(check_region(override), modality, "given by the user (--region)")
    part = str(volume.metadata.get("body_part", "")).strip()
    if part and region_of_body_part(part):
        return RegionDecision(region_of_body_part(part), modality, f"DICOM BodyPartExamined {part!r}")
    region, features = region_rule(volume, modality)
    note = f" (BodyPartExamined {part!r} names no region)" if part else ""
    return RegionDecision(region, modality, f"rule on the volume{note}: " + _explain(region, features), features)


def region_rule(volume: Volume, modality: str) -> tuple[str, dict]:
    """(region, the measured features) from the pixels alone; see the module docstring."""
    slices, pixel_mm = _sample_slices(volume)
    if modality != "CT":
        area = max(_mr_body(s).sum() for s in slices) * pixel_mm ** 2 / 100
        return ("head" if area < 400 else "body"), {"max_area_cm2": round(float(area), 1)}
    from MedColorLib.reference.tissues import body_mask
    rows = []
    for hu in slices:
        body = body_mask(hu.astype(np.float32), pixel_mm)
        n = body.sum()
        if n * pixel_mm ** 2 / 100 < 10:           # under 10 cm^2: an end slice or air
            continue
        inside = hu[body]
        rows.append((n * pixel_mm ** 2 / 100, np.mean(inside < -400), np.mean((inside >= -190) & (inside < -30)),
                     np.mean((inside >= 15) & (inside <= 60))))
    if not rows:
        return "", {"slices_with_body": 0}
    area, gas, fat, brain = np.array(rows).T
    f = {"area_cm2": round(float(np.median(area)), 1), "lung_slices": round(float(np.mean(gas > 0.15)), 2),
         "fat": round(float(np.median(fat)), 3), "brain_like": round(float(np.median(brain)), 3)}
    if f["lung_slices"] >= 0.3:
        return "chest", f
    if f["area_cm2"] < 350:
        return ("head" if f["brain_like"] >= 0.45 and f["fat"] < 0.1 else "neck"), f
    return "abdomen", f


def _explain(region: str, f: dict) -> str:
    """One line saying which figures led to the region."""
    figures = ", ".join(f"{k} {v}" for k, v in f.items())
    return f"{region or 'undecided'} ({figures})"


def _sample_slices(volume: Volume) -> tuple[list[np.ndarray], float]:
    """Up to MAX_SLICES (H, W) slices spread along the slice axis, and the in-plane pixel size in mm."""
    from MedColorLib.prepare import check_volume, in_plane_mm, take_slice

    array = volume.array
    if array.ndim == 2:
        return [np.asarray(array, np.float32)], float(np.sqrt(volume.spacing[0] * volume.spacing[1]))
    axis = check_volume(volume, min_slices=1)
    n = array.shape[axis]
    picks = np.unique(np.linspace(0, n - 1, min(n, MAX_SLICES)).round().astype(int))
    return [np.asarray(take_slice(array, axis, int(k)), np.float32) for k in picks], in_plane_mm(volume, axis)


def _mr_body(intensity: np.ndarray) -> np.ndarray:
    """(H, W) bool: voxels above 10 % of the slice's 99th percentile, holes filled."""
    from scipy import ndimage

    high = np.percentile(intensity, 99)
    return ndimage.binary_fill_holes(intensity > intensity.min() + 0.1 * (high - intensity.min()))
