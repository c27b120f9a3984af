"""The ground-truth benchmark's synthetic MNI152 pairs, frozen as they were when the benchmark's figures
(docs/ground_truth.md) were measured: nilearn's MNI T1/GM/WM templates drawn with the hand-picked palette
of the first default library, in MR-like or CT-like appearance. A fixture only, so the benchmark stays
comparable over time; the default library no longer uses it (its colours are measured or published:
MedColorLib.reference.palette).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# the first default library's hand-picked palette, sRGB 0-255 (only its chroma is used)
PALETTE = {
    "csf": (60, 120, 230),
    "gm": (230, 90, 70),
    "wm": (245, 215, 120),
    "bone": (245, 240, 225),
    "scalp": (215, 140, 110),
}
# gray level of each class per appearance; "mr" uses the T1 template itself inside the brain
APPEARANCE = {
    "mr": {"csf": 0.10, "bone": 0.06, "scalp": 0.80, "modality": "MR"},
    "mr-brain": {"modality": "MR"},
    "ct": {"csf": 0.12, "gm": 0.56, "wm": 0.42, "bone": 0.97, "scalp": 0.45, "modality": "CT"},
}
LAYERS_MM = {"csf": 1.5, "bone": 7.0, "scalp": 4.0}  # synthetic layers outside the brain mask


def render_slice(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray, appearance: str = "mr") -> np.ndarray:
    """One pseudo-colour slice (uint8 RGB): palette chroma of the tissue mixture over the appearance's luma."""
    look = APPEARANCE[appearance]
    brain = ndimage.binary_fill_holes((t1 > 0.02) | (gm + wm > 0.1))
    inside = np.where(brain, 1.0, 0.0)
    gm_p, wm_p = np.minimum(gm, inside), np.minimum(wm, inside)
    csf_p = np.clip(inside - gm_p - wm_p, 0, 1)
    weights = {"csf": csf_p, "gm": gm_p, "wm": wm_p}
    if appearance == "mr-brain":
        luma = t1 * inside
    else:
        weights.update(_layers(brain))
        luma = t1 * inside if appearance == "mr" else sum(weights[c] * look[c] for c in ("csf", "gm", "wm"))
        luma = luma + sum(weights[c] * look[c] for c in ("bone", "scalp")) + weights["rim"] * look["csf"]
        weights["csf"] = weights["csf"] + weights.pop("rim")
        luma = ndimage.gaussian_filter(luma, 0.6)
    return _compose(luma, weights)


def _layers(brain: np.ndarray) -> dict:
    """Synthetic CSF rim, skull and scalp bands around the brain mask (distances in 1 mm pixels)."""
    d = ndimage.distance_transform_edt(~brain)
    rim_end = LAYERS_MM["csf"]
    bone_end = rim_end + LAYERS_MM["bone"]
    scalp_end = bone_end + LAYERS_MM["scalp"]
    band = lambda lo, hi: ((d > lo) & (d <= hi)).astype(np.float64)  # noqa: E731
    return {"rim": band(0, rim_end), "bone": band(rim_end, bone_end), "scalp": band(bone_end, scalp_end)}


def _compose(luma: np.ndarray, weights: dict) -> np.ndarray:
    """RGB from BT.601 luma and the weight-mixed palette chroma (full-range YCbCr), clipped to uint8."""
    cb = np.zeros_like(luma, dtype=np.float64)
    cr = np.zeros_like(cb)
    for name, w in weights.items():
        r, g, b = (c / 255 for c in PALETTE[name])
        cb += w * (-0.168736 * r - 0.331264 * g + 0.5 * b)
        cr += w * (0.5 * r - 0.418688 * g - 0.081312 * b)
    y = np.asarray(luma, dtype=np.float64)
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
