"""Tissue colour table: CIELAB (L*, hue angle, chroma) of the mean output colour per tissue class.

CT classes are Hounsfield ranges of the input, over the whole volume; the output is judged as it is
written (its luma is the soft-tissue window's gray). MR has no units: its classes are the dark, middle
and bright thirds (by the 33rd/66th percentiles) of the body's intensities.
"""

from __future__ import annotations

import numpy as np

CT_CLASSES = {"fat (-150..-50 HU)": (-150, -50), "soft tissue (20..70 HU)": (20, 70),
              "contrast blood (100..250 HU)": (100, 250), "bone (> 400 HU)": (400, np.inf)}
MIN_VOXELS = 200   # a class with fewer voxels is reported as absent


def lab_of_mean(rgb: np.ndarray) -> dict:
    """{"L", "hue", "chroma"} of the mean of (N, 3) uint8 sRGB colours (hue in degrees, None when gray)."""
    from skimage.color import rgb2lab

    mean = np.asarray(rgb, np.float64).reshape(-1, 3).mean(axis=0) / 255
    L, a, b = rgb2lab(mean[None, None])[0, 0]
    chroma = float(np.hypot(a, b))
    hue = float(np.degrees(np.arctan2(b, a)) % 360) if chroma >= 1 else None
    return {"L": round(float(L), 1), "hue": None if hue is None else round(hue, 1), "chroma": round(chroma, 1)}


def class_masks(values: np.ndarray, modality: str) -> dict[str, np.ndarray]:
    """Bool masks (same shape as ``values``) of the tissue classes: HU ranges (CT) or intensity thirds (MR)."""
    if modality == "CT":
        return {name: (values >= lo) & (values < hi) for name, (lo, hi) in CT_CLASSES.items()}
    from MedColorLib.prepare import robust_range

    low, high = robust_range(values)
    body = values > low + 0.05 * (high - low)
    t1, t2 = np.percentile(values[body], (33.3, 66.7))
    return {"MR dark third": body & (values < t1), "MR middle third": body & (values >= t1) & (values < t2),
            "MR bright third": body & (values >= t2)}


def tissue_table(values: np.ndarray, rgba: np.ndarray, modality: str) -> dict[str, dict]:
    """Per class: voxel count and the CIELAB figures of its mean colour; ``values`` (K, J, I) input,
    ``rgba`` (K, J, I, 3|4) uint8 output in the same layout."""
    table = {}
    for name, mask in class_masks(np.asarray(values), modality).items():
        n = int(mask.sum())
        table[name] = {"voxels": n, **(lab_of_mean(rgba[..., :3][mask]) if n >= MIN_VOXELS else {})}
    return table


def check_acceptance(table: dict[str, dict], contrast: bool = True) -> dict[str, bool | None]:
    """Issue 20's targets on a CT table: fat hue 60-100, soft tissue hue 20-60, their hues >= 20 apart,
    contrast blood hue 0-50 with chroma >= 20 (where present: ``contrast=False`` for a scan without contrast
    agent, whose 100..250 HU voxels are bone and cartilage), bone chroma <= 15. None: class absent."""
    get = lambda prefix: next((v for k, v in table.items() if k.startswith(prefix) and "L" in v), None)  # noqa: E731
    fat, soft, blood, bone = get("fat"), get("soft"), get("contrast") if contrast else None, get("bone")
    hue_in = lambda c, lo, hi: None if c is None else c["hue"] is not None and lo <= c["hue"] <= hi  # noqa: E731
    apart = None if fat is None or soft is None or None in (fat["hue"], soft["hue"]) else \
        abs(fat["hue"] - soft["hue"]) >= 20
    return {"fat hue 60-100": hue_in(fat, 60, 100), "soft tissue hue 20-60": hue_in(soft, 20, 60),
            "fat and soft tissue hues >= 20 apart": apart,
            "blood hue 0-50, chroma >= 20": None if blood is None else bool(hue_in(blood, 0, 50)) and blood["chroma"] >= 20,
            "bone chroma <= 15": None if bone is None else bone["chroma"] <= 15}
