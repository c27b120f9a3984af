"""The real chest CT of ../shared/data for the 3-D colour and endoscopy tests: crops, flips and permutations with
the same world geometry, an independent carina locator, HU at RAS points, and a cheap (preview) colour volume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

CHEST = ("ct", "itkelastix_chest_ct_phase00.nii.gz")
TRACHEA_BOX = (slice(60, 141), slice(150, 330), slice(150, 350))   # (K, J, I) of the chest CT: trachea to carina
SMALL_BOX = (slice(66, 124), slice(190, 290), slice(185, 295))       # a smaller crop: still trachea to bronchi
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def read_chest(data_dir: Path):
    from MedColorLib.io.volumes import read_volume
    return read_volume(data_dir.joinpath(*CHEST))


def cropped(volume, box: tuple[slice, slice, slice]):
    """A crop (K, J, I slices) with its origin moved so every voxel keeps its world position."""
    start = np.array([box[2].start or 0, box[1].start or 0, box[0].start or 0], np.float64)   # i, j, k
    origin = np.asarray(volume.origin) + np.asarray(volume.direction) @ (np.asarray(volume.spacing) * start)
    return replace(volume, array=np.ascontiguousarray(volume.array[box]), origin=tuple(origin))


def flipped(volume, axis: int):
    """The array reversed along numpy ``axis``, geometry adjusted: the same world image."""
    n = 2 - axis                                                  # index axis i, j or k
    direction = np.array(volume.direction, np.float64)
    size = volume.array.shape[axis]
    origin = np.asarray(volume.origin) + direction[:, n] * volume.spacing[n] * (size - 1)
    direction[:, n] *= -1
    return replace(volume, array=np.ascontiguousarray(np.flip(volume.array, axis)), origin=tuple(origin),
                   direction=direction)


def permuted(volume, order: tuple[int, int, int]):
    """numpy axes reordered (``np.transpose(array, order)``), index axes and spacing reordered with them."""
    index_order = [2 - a for a in order][::-1]                   # new index axis n = old index axis index_order[n]
    direction = np.asarray(volume.direction, np.float64)[:, index_order]
    spacing = tuple(volume.spacing[n] for n in index_order)
    return replace(volume, array=np.ascontiguousarray(np.transpose(volume.array, order)), spacing=spacing,
                   direction=direction)


def ras_to_voxel(volume, ras: np.ndarray) -> np.ndarray:
    """(N, 3) RAS mm -> (N, 3) nearest (k, j, i) numpy indices."""
    lps = np.atleast_2d(ras) @ LPS_TO_RAS
    ijk = np.linalg.solve(np.asarray(volume.direction) * np.asarray(volume.spacing), (lps - volume.origin).T).T
    return np.round(ijk[:, ::-1]).astype(int)


def hu_at(volume, ras: np.ndarray) -> np.ndarray:
    kji = ras_to_voxel(volume, ras)
    kji = np.clip(kji, 0, np.array(volume.array.shape) - 1)
    return volume.array[kji[:, 0], kji[:, 1], kji[:, 2]]


def locate_carina(volume) -> np.ndarray:
    """RAS of the carina of the original chest CT (axial k, superior up), found as where the air component of the
    trachea (below -900 HU, grown from the top slice) first splits into two lumens of >= 30 mm2 at least 10 mm apart."""
    from scipy import ndimage

    air = volume.array < -900
    labels, _ = ndimage.label(air, structure=np.ones((3, 3, 3)))
    top = air.shape[0] - 1
    flat, n = ndimage.label(air[top])
    middle = air.shape[2] / 2
    candidates = [i for i in range(1, n + 1) if (flat == i).sum() > 30 and not (flat == i)[[0, -1]].any()]
    trachea = min(candidates, key=lambda i: abs(ndimage.center_of_mass(flat == i)[1] - middle))
    seed = np.argwhere(flat == trachea)[0]
    component = labels == labels[top, seed[0], seed[1]]
    pixel = volume.spacing[0] * volume.spacing[1]
    for k in range(top, -1, -1):
        flat, n = ndimage.label(component[k])
        lumens = [i for i in range(1, n + 1) if (flat == i).sum() * pixel >= 30]
        if len(lumens) >= 2:
            centres = [np.array(ndimage.center_of_mass(flat == i)) for i in lumens[:2]]
            if np.hypot(*((centres[0] - centres[1]) * volume.spacing[1::-1])) >= 10:
                j, i = (centres[0] + centres[1]) / 2
                lps = np.asarray(volume.origin) + np.asarray(volume.direction) @ (np.asarray(volume.spacing) * [i, j, k])
                return lps @ LPS_TO_RAS
    raise AssertionError("the test could not find the carina")


def preview_colour(volume, reference_rgb: np.ndarray) -> np.ndarray:
    """A real MedColor colour volume made cheaply (preview mode: no network); mechanics, not colour quality."""
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume
    return colorize_volume(volume, Options(mode="preview", key_slices=2), reference=reference_rgb).rgba
