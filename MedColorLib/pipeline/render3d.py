"""The 3-D colour: an RGBA volume for direct-colour volume rendering, derived from the scalar input, its
MedColor colour volume and a named opacity preset.

The slice-view colour volume keeps the input's luma exactly, so air is black and tissue in the partial-
volume band is dark; rendered as it is, the surface a camera sees is murky and ringed. Here instead:
- alpha is a linear map of the *physical* values (HU on CT) over the preset's scalar range, so the
  renderer's opacity ramp (on alpha) places the surface where the anatomy is, and its gradient, used for
  lighting, is the physical one;
- colour is taken from the tissue inside the surface (values in the preset's colour range) and carried
  to every other voxel by nearest-tissue fill, so air and partial-volume voxels hold the colour of the
  tissue behind the wall (trilinear sampling mixes no black in);
- chroma and luma are smoothed over a few millimetres, and the lightness is lifted into a range that stays
  readable under lighting (``luma = lift[0] + lift[1] * tissue luma``), keeping the tissue's CIELAB hue and
  saturation C*/L*: the lift lights the wall more brightly, as a brighter lamp would the same tissue;
- the volume is 16-bit: the renderer lights the surface with the gradient of alpha, and 8 bits over the
  preset's scalar range (4.7 HU a level on endoscopy) speckle that gradient where the wall is seen at a
  grazing angle; 16 bits give alpha the scan's own precision, so the lit surface is the gray render's.
Arrays are (K, J, I) like :class:`~MedColorLib.types.Volume`; spacing is (i, j, k) in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from MedColorLib.engine.color import LUMA
from MedColorLib.errors import MedColorError
from MedColorLib.prepare import is_ct, robust_range
from MedColorLib.types import Volume

CHROMA_SIGMA_MM = 2.0      # chroma varies smoothly over a few voxels: no voxel-scale blotches on the wall
LUMA_SIGMA_MM = 1.5
LUMA_LIFT = (0.45, 0.5)    # rendered lightness: the gray 0.45 + 0.5 * tissue luma (soft tissue ~0.5 -> 0.7)
WORK_VOXEL_MM = 2.0        # colour is filled and smoothed on a grid of about this voxel size, then upsampled
RENDER_DTYPE = np.uint16   # RGBA of the render volume (VTK renders 4 dependent components of 16 bits)
ALPHA_MAX = float(np.iinfo(RENDER_DTYPE).max)


@dataclass(frozen=True)
class Preset:
    """An opacity preset in physical values: transparent below ``ramp[0]``, ``opacity`` above ``ramp[1]``.

    ``scalar_range`` is mapped linearly onto alpha 0..ALPHA_MAX (it contains the ramp); voxels from ``colour_from`` up
    to ``colour_to`` are the tissue whose colour is carried across the surface (endoscopy: the soft tissue of
    the wall, not bone or contrast); ``cap``: lumens cut by the scan's edge are closed there (endoscopy)."""

    name: str
    ramp: tuple[float, float]
    scalar_range: tuple[float, float]
    colour_from: float
    colour_to: float = float("inf")
    opacity: float = 1.0
    cap: bool = False
    description: str = ""

    def alpha_of(self, value: float | np.ndarray) -> np.ndarray:
        """Physical value(s) -> alpha in [0, ALPHA_MAX] (float), the map the render volume stores."""
        low, high = self.scalar_range
        return np.clip((np.asarray(value, np.float64) - low) / (high - low), 0.0, 1.0) * ALPHA_MAX

    def alpha_ramp(self) -> tuple[float, float]:
        """The opacity ramp in alpha units (what the renderer's scalar opacity function gets)."""
        return float(self.alpha_of(self.ramp[0])), float(self.alpha_of(self.ramp[1]))


CT_PRESETS = {
    "endoscopy": Preset("endoscopy", (-600.0, -400.0), (-1000.0, 200.0), 0.0, 150.0, cap=True,
                        description="the air/wall surface (airway, colon lumen, skin), about -500 HU"),
    "soft-tissue": Preset("soft-tissue", (-80.0, 20.0), (-400.0, 400.0), 20.0, 150.0,
                          description="fat transparent, muscle and organs opaque"),
    "bone": Preset("bone", (150.0, 300.0), (-200.0, 1000.0), 250.0, description="bone surface, about 200 HU"),
}
# MR: fractions of the robust (0.5, 99.5 percentile) foreground range
MR_FRACTIONS = {
    "endoscopy": ((0.04, 0.12), (-0.1, 0.6), 0.25, "the background/tissue surface (MR: no HU; no lumen air)"),
    "soft-tissue": ((0.25, 0.4), (0.0, 1.0), 0.45, "the brighter tissues (MR percentiles)"),
    "bone": ((0.6, 0.8), (0.2, 1.1), 0.8, "the brightest tissues (MR percentiles)"),
}
PRESET_NAMES = tuple(CT_PRESETS)


def preset_for(volume: Volume, name: str = "endoscopy") -> Preset:
    """The named preset in the volume's physical values: HU on CT, robust percentiles elsewhere (MR)."""
    key = name.strip().lower().replace("_", "-")
    if key not in CT_PRESETS:
        raise MedColorError(f"unknown 3-D preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    if is_ct(volume):
        return CT_PRESETS[key]
    low, high = robust_range(volume.array)
    at = lambda f: float(low + f * (high - low))  # noqa: E731
    ramp, scalar_range, colour_from, text = MR_FRACTIONS[key]
    return Preset(key, (at(ramp[0]), at(ramp[1])), (at(scalar_range[0]), at(scalar_range[1])), at(colour_from),
                  description=text)


def render_volume(volume: Volume, rgba: np.ndarray, preset: Preset) -> np.ndarray:
    """(K, J, I, 4) uint16 render volume: RGB carried from tissue and smoothed, alpha = preset's map of the
    physical values. ``rgba``: the colour volume (K, J, I, 3|4) uint8 of ``volume``; neither is modified."""
    values = np.asarray(volume.array)
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 4 or rgba.shape[:3] != values.shape or rgba.shape[-1] not in (3, 4):
        raise MedColorError(f"the colour volume {rgba.shape} {rgba.dtype} does not match the scalar volume "
                            f"{values.shape}: give the colour volume made from this scan")
    out = np.empty((*values.shape, 4), RENDER_DTYPE)
    out[..., :3] = carried_colour(values, rgba[..., :3], (preset.colour_from, preset.colour_to),
                                  _spacing_kji(volume))
    for k in range(values.shape[0]):  # slab by slab: no float64 copy of the volume
        out[k, ..., 3] = np.round(preset.alpha_of(values[k]))
    if preset.cap:
        cap_lumens(values, out[..., 3], preset)
    return out


def cap_lumens(values: np.ndarray, alpha: np.ndarray, preset: Preset, thickness: int = 2) -> None:
    """Close lumens cut by the scan's edge: on each face, the lumen enclosed by opaque tissue in that face's
    slice (its air and its partial-volume rim below the ramp's top, not the air around the body) gets the
    opaque alpha in the outer ``thickness`` voxels. In place.

    From inside a lumen that leaves the scan the camera then sees a wall (coloured like the tissue around)
    where the scan ends, instead of a hole into the empty background; the rim is capped too, or rays leak
    through its half-transparent voxels into the background (dark notches along the cap's edge)."""
    from scipy import ndimage

    opaque = RENDER_DTYPE(np.ceil(preset.alpha_ramp()[1]))
    for axis in range(3):
        for index in (0, values.shape[axis] - 1):
            face = np.take(values, index, axis=axis) < preset.ramp[1]
            labels, _ = ndimage.label(face)
            border = np.unique(np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel()]))
            enclosed = (labels > 0) & ~np.isin(labels, border)
            layers = range(index, index + thickness) if index == 0 else range(index - thickness + 1, index + 1)
            for layer in layers:
                view = np.take(alpha, layer, axis=axis)      # a copy: write it back below
                view[enclosed] = np.maximum(view[enclosed], opaque)
                index_tuple = [slice(None)] * 3
                index_tuple[axis] = layer
                alpha[tuple(index_tuple)] = view


def _spacing_kji(volume: Volume) -> np.ndarray:
    return np.asarray(volume.spacing[:3], np.float64)[::-1]


def carried_colour(values: np.ndarray, rgb: np.ndarray, tissue: tuple[float, float],
                   spacing_kji: np.ndarray) -> np.ndarray:
    """(K, J, I, 3) uint16: every voxel gets the (smoothed) colour of the nearest tissue voxel (value within
    ``tissue`` = (from, to)), its lightness lifted (:func:`lift`). Worked on a grid of about WORK_VOXEL_MM,
    then trilinearly upsampled."""
    from scipy import ndimage

    step = np.maximum(1, np.floor(WORK_VOXEL_MM / spacing_kji + 1e-6)).astype(int)
    grid = tuple(slice(0, None, int(s)) for s in step)
    small_values = values[grid]
    source = (small_values >= tissue[0]) & (small_values <= tissue[1])
    if not source.any():
        source = small_values >= np.percentile(small_values, 90)  # no such tissue: the densest tenth
    small_rgb = rgb[grid].astype(np.float32) / 255.0
    luma = small_rgb @ np.asarray(LUMA, np.float32)
    offset = small_rgb - luma[..., None]                       # chroma as R-Y, G-Y, B-Y (zero luma)
    spacing = spacing_kji * step
    fields = np.concatenate([offset, luma[..., None]], axis=-1)                    # (k, j, i, 4)
    weight = ndimage.gaussian_filter(source.astype(np.float32), CHROMA_SIGMA_MM / spacing, mode="nearest")
    for c in range(fields.shape[-1]):
        # normalised convolution: the tissue's own colour averaged over nearby tissue only (no air mixed in)
        fields[..., c] = ndimage.gaussian_filter(np.where(source, fields[..., c], 0.0), CHROMA_SIGMA_MM / spacing,
                                                 mode="nearest") / np.maximum(weight, 1e-6)
    del weight
    nearest = ndimage.distance_transform_edt(~source, sampling=spacing, return_distances=False,
                                             return_indices=True)
    fields = fields[tuple(nearest)]                     # every voxel: the nearest tissue's averaged colour
    del nearest
    for c, sigma_mm in enumerate((CHROMA_SIGMA_MM,) * 3 + (LUMA_SIGMA_MM,)):
        fields[..., c] = ndimage.gaussian_filter(fields[..., c], sigma_mm / spacing, mode="nearest")
    lifted = np.stack([lift(fields[k]) for k in range(fields.shape[0])])    # (k, j, i, 3) in [0, 1]
    del fields
    return _upsample(lifted, values.shape, step)


def lift(fields: np.ndarray) -> np.ndarray:
    """(..., 4) float (R-Y, G-Y, B-Y, tissue luma) -> (..., 3) float64 sRGB in [0, 1]: the tissue's colour
    with the lightness of the gray ``LUMA_LIFT[0] + LUMA_LIFT[1] * luma``, its CIELAB hue and its saturation
    C*/L* (chroma reduced, hue kept, only where that colour is outside sRGB).

    Saturation, not chroma, is what a surface keeps under brighter light: scaling its luminance by k scales L*,
    a* and b* alike by k^(1/3). Keeping the chroma instead paled the lifted wall (a pastel, chroma ~17 in the
    frames, against ~30 for the gray render's flesh colour)."""
    from skimage.color import rgb2lab

    luma = np.asarray(fields[..., 3], np.float64)
    tissue = np.clip(luma[..., None] + fields[..., :3], 0.0, 1.0)
    lab = rgb2lab(tissue)
    lightness = np.interp(np.clip(LUMA_LIFT[0] + LUMA_LIFT[1] * luma, 0.0, 1.0), *_gray_lightness())
    lab[..., 1:] *= (lightness / np.maximum(lab[..., 0], 1.0))[..., None]
    lab[..., 0] = lightness
    return _lab_to_srgb_in_gamut(lab)


@lru_cache(maxsize=1)  # on first use, not at import: the CLI imports this module to list the presets
def _gray_lightness(samples: int = 1025) -> tuple[np.ndarray, np.ndarray]:
    """(sRGB gray value, its CIELAB L*) sampled over [0, 1], for np.interp."""
    from skimage.color import rgb2lab

    gray = np.linspace(0.0, 1.0, samples)
    return gray, rgb2lab(np.repeat(gray[:, None], 3, axis=1))[:, 0]



def _lab_to_srgb_in_gamut(lab: np.ndarray, tolerance: float = 0.5, steps: int = 12) -> np.ndarray:
    """(..., 3) CIELAB -> (..., 3) sRGB in [0, 1]; a colour outside sRGB keeps its L* and hue, its chroma
    scaled down (bisection) to the gamut's edge, instead of each channel being clipped (a hue shift)."""
    from skimage.color import lab2rgb, rgb2lab

    rgb = lab2rgb(lab)
    outside = np.linalg.norm(rgb2lab(rgb) - lab, axis=-1) > tolerance       # lab2rgb clipped these
    if outside.any():
        wanted = lab[outside]
        low, high = np.zeros(len(wanted)), np.ones(len(wanted))
        for _ in range(steps):
            mid = (low + high) / 2
            trial = np.concatenate([wanted[:, :1], wanted[:, 1:] * mid[:, None]], axis=1)
            fits = np.linalg.norm(rgb2lab(lab2rgb(trial)) - trial, axis=-1) <= tolerance
            low, high = np.where(fits, mid, low), np.where(fits, high, mid)
        rgb[outside] = lab2rgb(np.concatenate([wanted[:, :1], wanted[:, 1:] * low[:, None]], axis=1))
    return rgb


def _upsample(fields: np.ndarray, shape: tuple[int, ...], step: np.ndarray) -> np.ndarray:
    """(k, j, i, C) in [0, 1] on the strided grid (sample n at fine index n * step) -> (K, J, I, C) RENDER_DTYPE,
    trilinear (torch), the few fine voxels past the last sample taking its value."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    out = np.empty((*shape, fields.shape[-1]), RENDER_DTYPE)
    span = tuple(int(s * (n - 1) + 1) for s, n in zip(step, fields.shape[:3]))   # fine voxels the samples span
    for c in range(fields.shape[-1]):
        coarse = torch.from_numpy(np.ascontiguousarray(fields[..., c], np.float32))[None, None]
        fine = F.interpolate(coarse, size=span, mode="trilinear", align_corners=True)[0, 0] \
            if (step > 1).any() else coarse[0, 0]
        pad = [0, shape[2] - span[2], 0, shape[1] - span[1], 0, shape[0] - span[0]]
        fine = F.pad(fine[None], pad, mode="replicate")[0] if any(pad) else fine
        out[..., c] = torch.round(fine.clamp(0.0, 1.0) * ALPHA_MAX).numpy()
    return out
