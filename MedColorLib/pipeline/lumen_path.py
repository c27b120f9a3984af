"""Automatic fly-through paths in a CT: the airway (trachea -> carina -> both main bronchi) and the colon (the
largest gas-filled tubular lumen below the lungs), as centred polylines in RAS millimetres.

The scan is first turned into a canonical array (numpy axes S, P, L, index increasing toward superior,
posterior, left) by axis permutations and flips read off the direction matrix, so flipped or permuted
files give the same path. Lumens are segmented by thresholds in HU; centred routes are minimum-cost
paths (scikit-image MCP) with a cost that grows toward the wall (distance transform).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.prepare import is_ct
from MedColorLib.types import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
STRICT_AIR_HU = -900.0              # trachea lumen (about -1000) but not most lung parenchyma (about -850)
AIRWAY_THRESHOLDS = tuple(range(-950, -574, 25))   # region growing, relaxed step by step until it leaks
AIRWAY_MAX_ML = 250.0               # trachea + bronchi are about 50-150 ml; more is a leak into the lungs
TRACHEA_AREA_MM2 = (40.0, 800.0)    # cross-section of a trachea (diameter about 7-32 mm)
TRACHEA_MIN_LENGTH_MM = 25.0
BRONCHUS_LENGTH_MM = {"left": 45.0, "right": 25.0}   # typical main bronchus lengths (adult anatomy)
GAS_HU = -600.0
GAS_MAX_MEAN_HU = -880.0            # colon gas is about -1000 HU on average; lung parenchyma about -850
GAS_MIN_ML = 2.0
SMOOTH_MM = 3.0
FACE_MARGIN_MM = 8.0                # the colon path keeps this far inside the scan's faces


@dataclass
class LumenPath:
    """points_ras: (N, 3) float mm along the path; landmarks: name -> (3,) RAS mm (e.g. 'carina');
    segments: name -> (first, last) point index."""

    kind: str
    points_ras: np.ndarray
    landmarks: dict = field(default_factory=dict)
    segments: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------ canonical frame

@dataclass(frozen=True)
class Canonical:
    """A volume's array as (S, P, L) numpy axes; maps canonical indices back to RAS mm."""

    array: np.ndarray
    spacing: np.ndarray      # (3,) mm per canonical axis
    perm: tuple              # canonical axis c = original numpy axis perm[c]
    flips: tuple             # canonical axis c was flipped
    volume: Volume

    def to_ras(self, index: np.ndarray) -> np.ndarray:
        """(N, 3) canonical (float) indices -> (N, 3) RAS mm."""
        index = np.atleast_2d(np.asarray(index, np.float64))
        original = np.empty_like(index)
        for c, axis in enumerate(self.perm):
            n = self.array.shape[c]
            original[:, axis] = (n - 1 - index[:, c]) if self.flips[c] else index[:, c]
        ijk = original[:, ::-1] * np.asarray(self.volume.spacing[:3])
        lps = ijk @ np.asarray(self.volume.direction, np.float64).T + np.asarray(self.volume.origin[:3])
        return lps @ LPS_TO_RAS.T


def canonical(volume: Volume) -> Canonical:
    """The array reoriented to (S, P, L) by transposes and flips only (a view, no resampling)."""
    direction = np.asarray(volume.direction, np.float64)
    world_of_axis = {a: int(np.argmax(np.abs(direction[:, 2 - a]))) for a in range(3)}  # numpy axis -> LPS axis
    if len(set(world_of_axis.values())) != 3:
        raise MedColorError("the volume is too oblique to find a path automatically; give the path as points")
    perm = tuple(next(a for a in range(3) if world_of_axis[a] == w) for w in (2, 1, 0))
    flips = tuple(bool(direction[w, 2 - a] < 0) for w, a in zip((2, 1, 0), perm))
    array = np.transpose(np.asarray(volume.array), perm)
    array = array[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    spacing = np.array([volume.spacing[2 - a] for a in perm], np.float64)
    return Canonical(array, spacing, perm, flips, volume)


# ---------------------------------------------------------------------------------------------- airway

def airway_path(volume: Volume) -> LumenPath:
    """Trachea (top) -> carina -> left main bronchus -> carina -> right main bronchus -> carina."""
    if not is_ct(volume):
        raise MedColorError("no airway found: the automatic airway path needs a chest CT in HU "
                            "(this volume is not CT); give the path as a points file instead")
    can = canonical(volume)
    top = _trachea_top(can)
    box, airway = _grow_airway(can, top)
    start = _widest_near_top(airway, can.spacing)
    _, tree = _centred_tree(airway, can.spacing, start)
    ends = _bronchus_ends(airway, can.spacing, start)
    first = {side: tree.traceback(tuple(end)) for side, end in ends.items()}
    shared = _common_prefix(first["left"], first["right"])
    if len(shared) * can.spacing.max() < TRACHEA_MIN_LENGTH_MM / 2:
        raise MedColorError("no airway found: the trachea does not divide into two main bronchi in this scan")
    stop, ridge = _carina(airway, can.spacing, first["left"][len(shared) - 1:], first["right"][len(shared) - 1:])
    trachea = np.asarray(tree.traceback(stop), np.float64)
    _, below = _centred_tree(airway, can.spacing, stop)
    bronchi = {side: _cut_length(np.asarray(below.traceback(tuple(end)), np.float64), can.spacing,
                                 BRONCHUS_LENGTH_MM[side]) for side, end in ends.items()}
    pieces = [trachea, bronchi["left"], bronchi["left"][::-1], bronchi["right"], bronchi["right"][::-1]]
    offset = np.asarray([s.start for s in box], np.float64)
    points, marks = _join(pieces, can.spacing, airway)
    ras = can.to_ras(points + offset)
    carina = can.to_ras(np.asarray(ridge) + offset)[0]
    names = ("trachea", "left main bronchus", "left return", "right main bronchus", "right return")
    return LumenPath("airway", ras, {"carina": carina, "trachea top": ras[0]},
                     {name: (int(a), int(b)) for name, (a, b) in zip(names, marks)})


def _trachea_top(can: Canonical) -> np.ndarray:
    """(3,) canonical index of the top of the trachea: the most superior strict-air tube that runs down at
    least TRACHEA_MIN_LENGTH_MM near the left-right middle of the body, with trachea-sized cross-sections."""
    from scipy import ndimage

    air = can.array < STRICT_AIR_HU
    labels, _ = ndimage.label(air)
    body_x = _body_middle(can)
    pixel = can.spacing[1] * can.spacing[2]
    rows = int(np.ceil(TRACHEA_MIN_LENGTH_MM / can.spacing[0]))
    best = None
    for label, box in enumerate(ndimage.find_objects(labels), 1):
        if box is None or box[0].stop - box[0].start < rows:
            continue
        mask = labels[box] == label
        upper = mask[-rows:]                                            # the component's top slices
        if _touches_side(upper, box, air.shape):                       # outside air (or a lung cut by the crop)
            continue
        areas = upper.reshape(rows, -1).sum(1) * pixel
        if not (areas.min() >= TRACHEA_AREA_MM2[0] and np.median(areas) <= TRACHEA_AREA_MM2[1]):
            continue
        cz, cy, cx = ndimage.center_of_mass(upper)
        if abs((cx + box[2].start) - body_x) * can.spacing[2] > 40.0:
            continue
        top = np.array([box[0].stop - 1, cy + box[1].start, cx + box[2].start])
        if best is None or top[0] > best[0]:
            best = top
    if best is None:
        raise MedColorError("no airway found: no trachea (an air-filled tube in the upper chest) is in this "
                            "volume; give a chest CT or the path as a points file")
    return best


def _touches_side(mask: np.ndarray, box: tuple, shape: tuple) -> bool:
    """Whether a mask in ``box`` reaches the front, back, left or right face of the array."""
    return bool((box[1].start == 0 and mask[:, 0].any()) or (box[1].stop == shape[1] and mask[:, -1].any())
                or (box[2].start == 0 and mask[:, :, 0].any()) or (box[2].stop == shape[2] and mask[:, :, -1].any()))


def _body_middle(can: Canonical) -> float:
    """The canonical left-right index of the body's middle (mean x of voxels above -400 HU)."""
    step = max(1, can.array.shape[0] // 16)
    profile = (can.array[::step] > -400).sum(axis=(0, 1)).astype(np.float64)
    return float((profile * np.arange(profile.size)).sum() / max(profile.sum(), 1.0))


def _grow_airway(can: Canonical, top: np.ndarray) -> tuple[tuple, np.ndarray]:
    """(box, mask in the box): the air connected to the trachea top, thresholds relaxed until it leaks."""
    from scipy import ndimage

    half = np.ceil(np.array([160.0, 90.0, 100.0]) / can.spacing).astype(int)   # mm below / around the top
    z, y, x = np.round(top).astype(int)
    box = (slice(max(0, z - half[0]), z + 1), slice(max(0, y - half[1]), y + half[1] + 1),
           slice(max(0, x - half[2]), x + half[2] + 1))
    values = can.array[box]
    seed = (z - box[0].start, int(round(top[1])) - box[1].start, int(round(top[2])) - box[2].start)
    voxel_ml = float(np.prod(can.spacing)) / 1000.0
    found, previous = None, 0.0
    for threshold in AIRWAY_THRESHOLDS:
        labels, _ = ndimage.label(values < threshold, structure=np.ones((3, 3, 3)))
        if labels[seed] == 0:
            continue
        mask = labels == labels[seed]
        volume_ml = mask.sum() * voxel_ml
        if found is not None and (volume_ml > AIRWAY_MAX_ML or volume_ml > 2.0 * previous + 20.0):
            break
        found, previous = mask, volume_ml
    if found is None:
        raise MedColorError("no airway found: the trachea could not be followed in this volume")
    return box, found


def _widest_near_top(mask: np.ndarray, spacing: np.ndarray) -> tuple:
    """The most centred voxel within 10 mm of the mask's top slice."""
    from scipy import ndimage

    top = np.flatnonzero(mask.any(axis=(1, 2))).max()
    rows = max(1, int(round(10.0 / spacing[0])))
    distance = ndimage.distance_transform_edt(mask, sampling=spacing)
    distance[: max(0, top - rows)] = 0
    return tuple(int(v) for v in np.unravel_index(np.argmax(distance), mask.shape))


def _centred_tree(mask: np.ndarray, spacing: np.ndarray, start: tuple):
    """(wall distance in mm, an MCP whose traceback gives centred routes from ``start``)."""
    from scipy import ndimage
    from skimage.graph import MCP_Geometric

    distance = ndimage.distance_transform_edt(mask, sampling=spacing)
    costs = np.where(mask, 1.0 / (distance + 0.5) ** 2, np.inf)
    tree = MCP_Geometric(costs, fully_connected=True, sampling=tuple(spacing))
    tree.find_costs([start])
    return distance, tree


def _geodesic_mm(mask: np.ndarray, spacing: np.ndarray, start: tuple) -> np.ndarray:
    """Path length in mm from ``start`` through the mask to every voxel (inf outside)."""
    from skimage.graph import MCP_Geometric

    lengths, _ = MCP_Geometric(np.where(mask, 1.0, np.inf), fully_connected=True,
                               sampling=tuple(spacing)).find_costs([start])
    return lengths


def _carina(mask: np.ndarray, spacing: np.ndarray, left: list, right: list) -> tuple[tuple, np.ndarray]:
    """(the last air voxel above the carina, the carina ridge point) from the two routes after they part:
    walking both at equal path length, the ridge is the first midpoint between them that is not air."""
    a = smooth_polyline(np.asarray(left, np.float64) * spacing, 0.0, 0.5) / spacing
    b = smooth_polyline(np.asarray(right, np.float64) * spacing, 0.0, 0.5) / spacing
    last = tuple(int(v) for v in left[0])
    for p, q in zip(a, b):
        middle = (p + q) / 2.0
        voxel = tuple(int(v) for v in np.round(middle))
        if not mask[voxel]:
            return last, middle
        last = voxel
    return last, np.asarray(last, np.float64)


def _bronchus_ends(mask: np.ndarray, spacing: np.ndarray, start: tuple) -> dict:
    """The farthest airway voxel (path length) on each side of the trachea: one route per main bronchus."""
    lengths = _geodesic_mm(mask, spacing, start)
    x_mm = (np.arange(mask.shape[2]) - start[2]) * spacing[2]
    ends = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):    # canonical x increases toward the patient's left
        ok = mask & np.isfinite(lengths) & (sign * x_mm[None, None, :] > 15.0)
        if not ok.any():
            raise MedColorError(f"no airway found: no {side} main bronchus leaves the trachea in this volume")
        ends[side] = np.unravel_index(np.argmax(np.where(ok, lengths, -1.0)), mask.shape)
    return ends


def _common_prefix(a: list, b: list) -> list:
    n = 0
    while n < min(len(a), len(b)) and tuple(a[n]) == tuple(b[n]):
        n += 1
    return list(a[:n])


def _cut_length(route: np.ndarray, spacing: np.ndarray, length_mm: float) -> np.ndarray:
    """The first ``length_mm`` of a polyline of indices."""
    steps = np.linalg.norm(np.diff(route, axis=0) * spacing, axis=1)
    run = np.concatenate([[0.0], np.cumsum(steps)])
    return route[: max(2, int(np.searchsorted(run, length_mm, side="right")))]


def _join(pieces: list[np.ndarray], spacing: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Concatenate polylines of indices, each resampled to 1 mm and smoothed as much as the lumen ``mask``
    allows (up to SMOOTH_MM); (points, (first, last) of each piece)."""
    points, marks, n = [], [], 0
    for piece in pieces:
        smooth = _smooth_inside(piece, spacing, mask)
        smooth = smooth[1:] if points else smooth       # the joint is shared
        points.append(smooth)
        marks.append((max(0, n - 1), n + len(smooth) - 1))
        n += len(smooth)
    return np.concatenate(points), marks


def _smooth_inside(piece: np.ndarray, spacing: np.ndarray, mask: np.ndarray) -> np.ndarray:
    sigma = SMOOTH_MM
    while True:
        smooth = smooth_polyline(piece * spacing, sigma) / spacing
        voxels = np.clip(np.round(smooth).astype(int), 0, np.array(mask.shape) - 1)
        if sigma == 0.0 or mask[tuple(voxels.T)].all():
            return smooth
        sigma = sigma / 2 if sigma > 0.5 else 0.0       # a tight bend in a narrow lumen: smooth less


def smooth_polyline(points: np.ndarray, sigma_mm: float, step_mm: float = 1.0) -> np.ndarray:
    """(N, 3) mm -> the same polyline resampled every ``step_mm`` and Gaussian-smoothed (ends kept)."""
    from scipy.ndimage import gaussian_filter1d

    points = np.asarray(points, np.float64)
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    keep = np.concatenate([[True], steps > 1e-9])
    points, run = points[keep], np.concatenate([[0.0], np.cumsum(steps[steps > 1e-9])])
    if len(points) < 2:
        return points
    samples = np.linspace(0.0, run[-1], max(2, int(np.ceil(run[-1] / step_mm)) + 1))
    out = np.stack([np.interp(samples, run, points[:, c]) for c in range(3)], axis=1)
    if sigma_mm > 0 and len(out) > 3:
        smoothed = gaussian_filter1d(out, sigma_mm / step_mm, axis=0, mode="nearest")
        smoothed[0], smoothed[-1] = out[0], out[-1]
        out = smoothed
    return out


# ----------------------------------------------------------------------------------------------- colon

def colon_path(volume: Volume) -> LumenPath:
    """The centred route between the two ends (farthest apart along the lumen) of the largest gas-filled
    lumen that is not lung (mean HU below GAS_MAX_MEAN_HU) and not outside the body."""
    from scipy import ndimage

    if not is_ct(volume):
        raise MedColorError("no colon found: the automatic colon path needs a CT in HU; give a points file")
    can = canonical(volume)
    gas = can.array < GAS_HU
    labels, _ = ndimage.label(gas, structure=np.ones((3, 3, 3)))
    outside = set(np.unique(np.concatenate([labels[:, [0, -1], :].ravel(), labels[:, :, [0, -1]].ravel()])))
    voxel_ml = float(np.prod(can.spacing)) / 1000.0
    best, best_ml = None, GAS_MIN_ML
    for label, box in enumerate(ndimage.find_objects(labels), 1):
        if box is None or label in outside:
            continue
        mask = labels[box] == label
        ml = mask.sum() * voxel_ml
        if ml > best_ml and can.array[box][mask].mean() < GAS_MAX_MEAN_HU:
            best, best_ml = (box, mask), ml
    if best is None:
        raise MedColorError("no colon found: no gas-filled lumen of at least "
                            f"{GAS_MIN_ML:g} ml below the lungs in this volume; give the path as a points file")
    box, mask = best
    mask = np.pad(mask, 1)                      # a margin so the lumen never touches the box edge
    any_point = tuple(int(v[0]) for v in np.nonzero(mask))
    first = _farthest(mask, can.spacing, any_point)
    last = _farthest(mask, can.spacing, first)
    _, tree = _centred_tree(mask, can.spacing, first)
    route = np.asarray(tree.traceback(last), np.float64)
    points, _ = _join([route], can.spacing, mask)
    points -= 1.0                               # back from the padded mask
    offset = np.asarray([s.start for s in box], np.float64)
    points = _away_from_faces(points, offset, can)
    ras = can.to_ras(points + offset)
    return LumenPath("colon", ras, {"start": ras[0], "end": ras[-1]}, {"colon": (0, len(ras) - 1)})


def _away_from_faces(points: np.ndarray, offset: np.ndarray, can: Canonical) -> np.ndarray:
    """The longest run of path points at least FACE_MARGIN_MM inside the scan (a lumen cut by the scan's edge:
    a camera at the edge would look out of the scan); the whole path if no run keeps two points."""
    inner = points + offset
    room = np.minimum(inner, np.array(can.array.shape) - 1 - inner) * can.spacing
    keep = (room >= FACE_MARGIN_MM).all(axis=1)
    runs, start = [], None
    for n, ok in enumerate(np.append(keep, False)):
        if ok and start is None:
            start = n
        elif not ok and start is not None:
            runs.append((start, n))
            start = None
    best = max(runs, key=lambda r: r[1] - r[0], default=None)
    return points[best[0]: best[1]] if best and best[1] - best[0] >= 2 else points


def _farthest(mask: np.ndarray, spacing: np.ndarray, start: tuple) -> tuple:
    lengths = _geodesic_mm(mask, spacing, start)
    return tuple(int(v) for v in np.unravel_index(np.argmax(np.where(np.isfinite(lengths), lengths, -1)),
                                                  mask.shape))


def find_path(volume: Volume, kind: str) -> LumenPath:
    """``kind``: 'airway' or 'colon'."""
    if kind == "airway":
        return airway_path(volume)
    if kind == "colon":
        return colon_path(volume)
    raise MedColorError(f"unknown automatic path {kind!r}: use airway, colon or a points file")
