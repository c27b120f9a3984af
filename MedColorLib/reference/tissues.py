"""Tissue maps of a real CT or MR slice, and the pseudo-colour composition of a reference from them.

CT (``ct_tissues``): Hounsfield thresholds plus simple morphology on one slice: the body is the
largest component of (HU > -400), holes filled; inside it, gas below -400 HU is lung in the chest and
neutral gas elsewhere; fat -190..-30; bone >= 250 HU next to cortical bone (>= 500) with its small
enclosed holes (marrow); contrast-enhanced blood ENHANCED_HU..500 HU away from bone (in the vessels and in
the perfused parenchyma of liver, spleen and kidneys); the rest of the body is soft tissue
(muscle; in the head brain: CSF below 12, grey matter >= 30, white matter between). MR
(``mr_tissues``): three intensity classes (multi-Otsu) inside the body, named by the sequence.
``compose`` keeps the slice's own gray (the windowed scan) as luma and gives each pixel the CIELAB hue
and chroma of its tissue's palette colour at the pixel's lightness (in gamut).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from MedColorLib.reference.palette import PALETTE

# iodinated blood: above every unenhanced soft tissue (muscle 35-55 HU, unenhanced liver 55-65, blood 30-45, clot
# 50-75), so every pixel above it that is not bone holds contrast, in a vessel or in a perfused organ. It is also
# where the tissue table's "contrast blood" class starts (evaluation.tissues.CT_CLASSES: 100..250 HU)
ENHANCED_HU = 100
# the classes that carry a colour; "gas" and "air" stay neutral
CT_SOFT = {"head": "brain", "neck": "muscle", "chest": "muscle", "abdomen": "muscle", "pelvis": "muscle"}
MR_CLASSES = {  # sequence -> tissue of the dark, middle and bright intensity class inside the body
    "t1": ("bone", "muscle", "fat"),                 # T1 spin echo: fat and marrow bright, cortex dark
    "t1_fs_contrast": ("fat", "liver", "blood"),     # fat-suppressed T1 after gadolinium: vessels bright
}


def body_mask(hu: np.ndarray, pixel_mm: float) -> np.ndarray:
    """(H, W) bool: the largest connected region above -400 HU after a 2 mm opening, holes filled."""
    radius = max(1, int(round(2.0 / pixel_mm)))
    solid = ndimage.binary_opening(hu > -400, structure=_disk(radius))
    labels, n = ndimage.label(solid)
    if n == 0:
        return np.zeros(hu.shape, bool)
    largest = 1 + int(np.argmax(ndimage.sum(solid, labels, index=range(1, n + 1))))
    return ndimage.binary_fill_holes(labels == largest)


def ct_tissues(hu: np.ndarray, pixel_mm: float, region: str) -> dict[str, np.ndarray]:
    """Hard tissue masks (H, W) bool of one CT slice in HU (float), by name; ``region`` names the soft tissue."""
    hu = ndimage.gaussian_filter(np.asarray(hu, np.float64), 0.6)  # speckle off the thresholds
    body = body_mask(hu, pixel_mm)
    near_cortex = ndimage.binary_dilation(hu >= 500, _disk(max(1, int(round(1.5 / pixel_mm)))))
    bone = (hu >= 250) & near_cortex
    bone = _fill_small_holes(bone, 400 / pixel_mm ** 2) & ~(hu < 100) & body  # marrow, not the brain
    gas = (hu < -400) & body
    fat = (hu >= -190) & (hu < -30) & body
    blood = (hu >= ENHANCED_HU) & (hu < 500) & body & ~ndimage.binary_dilation(bone, _disk(1))
    soft = body & ~(bone | gas | fat | blood)
    maps = {"bone": bone, "fat": fat, "blood": blood, "lung" if region == "chest" else "gas": gas}
    if CT_SOFT.get(region, "muscle") == "brain":
        inner = ndimage.binary_erosion(body, _disk(max(1, int(round(8.0 / pixel_mm)))))  # not the skin's edge
        maps.update(csf=soft & inner & (hu < 12), grey_matter=soft & (hu >= 30),
                    white_matter=soft & ((hu >= 12) | ~inner) & (hu < 30))
    else:
        maps["muscle"] = soft
    return maps


def mr_tissues(intensity: np.ndarray, sequence: str) -> dict[str, np.ndarray]:
    """Three intensity classes inside the body of one MR slice (float), named for ``sequence`` (MR_CLASSES)."""
    from skimage.filters import threshold_multiotsu

    x = ndimage.gaussian_filter(np.asarray(intensity, np.float64), 0.8)
    hi = np.percentile(x, 99.5)
    body = ndimage.binary_fill_holes(ndimage.binary_opening(x > 0.08 * hi, _disk(2)))
    labels, n = ndimage.label(body)
    if n:
        body = labels == 1 + int(np.argmax(ndimage.sum(body, labels, index=range(1, n + 1))))
    low, high = threshold_multiotsu(x[body], classes=3)
    dark, middle, bright = MR_CLASSES[sequence]
    return {dark: body & (x < low), middle: body & (x >= low) & (x < high), bright: body & (x >= high)}


def compose(luma: np.ndarray, tissues: dict[str, np.ndarray], soften: float = 0.7) -> np.ndarray:
    """(H, W, 3) uint8 sRGB: luma (H, W) in [0, 1] kept; each tissue's palette colour at that luma.

    A tissue's colour keeps the CIELAB hue and chroma of its palette colour at the lightness of the
    pixel's gray (the same material, lighter or darker); its (Cb, Cr) is mixed by the tissue weights
    and scaled down where needed to stay in gamut, so the luma is kept exactly. Tissue edges are
    softened by a Gaussian of ``soften`` pixels; pixels of no tissue stay gray.
    """
    y = np.clip(np.asarray(luma, np.float64), 0, 1)
    lightness = 116 * _lab_f(_linear(y)) - 16
    cb = np.zeros_like(y)
    cr = np.zeros_like(y)
    for name, mask in tissues.items():
        if name in ("gas", "air"):
            continue
        weight = ndimage.gaussian_filter(mask.astype(np.float64), soften) if soften else mask.astype(np.float64)
        tcb, tcr = _chroma_at(lab_of(name), lightness)
        cb += weight * tcb
        cr += weight * tcr
    scale = _gamut_scale(y, cb, cr)
    return _to_rgb(y, cb * scale, cr * scale)


def lab_of(name: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a palette colour."""
    from skimage.color import rgb2lab
    return tuple(float(v) for v in rgb2lab(np.array([[PALETTE[name].rgb]], np.float64) / 255)[0, 0])


def _chroma_at(lab: tuple[float, float, float], lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Cb, Cr) of the colour with the given L* and the palette colour's a*, b* (unclipped sRGB)."""
    _, a, b = lab
    fy = (lightness + 16) / 116
    xyz = np.stack([_lab_finv(fy + a / 500) * 0.95047, _lab_finv(fy), _lab_finv(fy - b / 200) * 1.08883], -1)
    rgb_lin = xyz @ np.array([[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560],
                              [0.0556434, -0.2040259, 1.0572252]]).T
    r, g, bl = np.moveaxis(np.sign(rgb_lin) * _gamma(np.abs(rgb_lin)), -1, 0)
    return -0.168736 * r - 0.331264 * g + 0.5 * bl, 0.5 * r - 0.418688 * g - 0.081312 * bl


def _linear(v: np.ndarray) -> np.ndarray:
    """sRGB gamma -> linear."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _gamma(v: np.ndarray) -> np.ndarray:
    """Linear -> sRGB gamma (v >= 0)."""
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def _lab_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)


def _lab_finv(f: np.ndarray) -> np.ndarray:
    return np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29))


def _gamut_scale(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Largest factor in [0, 1] per pixel that keeps y + factor * chroma inside the RGB cube."""
    scale = np.ones_like(y)
    for dr in ((1.402 * cr), (-0.344136 * cb - 0.714136 * cr), (1.772 * cb)):
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where(dr > 1e-9, (1 - y) / dr, np.inf)
            down = np.where(dr < -1e-9, -y / dr, np.inf)
        scale = np.minimum(scale, np.minimum(up, down))
    return np.clip(scale, 0, 1)


def _to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Full-range BT.601 YCbCr -> sRGB uint8."""
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _fill_small_holes(mask: np.ndarray, max_pixels: float) -> np.ndarray:
    """The mask with its enclosed holes smaller than ``max_pixels`` filled (marrow inside cortex)."""
    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, n = ndimage.label(holes)
    if n == 0:
        return mask
    sizes = ndimage.sum(holes, labels, index=range(1, n + 1))
    small = np.concatenate([[False], sizes < max_pixels])
    return mask | small[labels]


def _disk(radius: int) -> np.ndarray:
    """A disk structuring element of the given radius in pixels."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2
