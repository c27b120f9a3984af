"""Fly-through paths as files: read a points file (JSON list in RAS or LPS mm, ``{"points_ras"|"points_lps":
[...]}``, or a Slicer markups ``.mrk.json`` curve), write ``{"points_ras": [[x, y, z], ...]}`` atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.io.atomic import atomic_path, check_destination

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
SPACES = ("ras", "lps")


def read_points(path: str | Path, space: str = "ras") -> np.ndarray:
    """(N, 3) float RAS mm from a points file. ``space`` says how a bare JSON list is meant (ras or lps);
    keyed files and markups files say it themselves."""
    path = Path(path)
    if space not in SPACES:
        raise MedColorError(f"unknown coordinate space {space!r}; use ras or lps")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MedColorError(f"points file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MedColorError(f"cannot read points file {path}: {err}") from None
    if isinstance(data, dict) and "markups" in data:
        points, space = _markups(data, path)
    elif isinstance(data, dict) and ("points_ras" in data or "points_lps" in data):
        space = "ras" if "points_ras" in data else "lps"
        points = data[f"points_{space}"]
    elif isinstance(data, list):
        points = data
    else:
        raise MedColorError(f"{path}: expected a JSON list of [x, y, z] points, {{\"points_ras\": [...]}} or a "
                            "Slicer markups (.mrk.json) curve")
    array = _as_points(points, path)
    return array @ LPS_TO_RAS.T if space == "lps" else array


def _markups(data: dict, path: Path) -> tuple[list, str]:
    """Control points of the first markup in a Slicer ``.mrk.json`` file, and its coordinate system."""
    markups = data.get("markups") or []
    if not markups or not isinstance(markups[0], dict):
        raise MedColorError(f"{path}: the markups file holds no markup")
    markup = markups[0]
    space = str(markup.get("coordinateSystem", "LPS")).lower()   # Slicer writes LPS by default
    if space not in SPACES:
        raise MedColorError(f"{path}: unknown coordinateSystem {markup.get('coordinateSystem')!r}")
    try:
        return [p["position"] for p in markup.get("controlPoints", [])], space
    except (KeyError, TypeError):
        raise MedColorError(f"{path}: a control point has no position") from None


def _as_points(points, path: Path) -> np.ndarray:
    try:
        array = np.asarray(points, np.float64)
    except (TypeError, ValueError):
        raise MedColorError(f"{path}: points must be [x, y, z] numbers in mm") from None
    if array.ndim != 2 or array.shape[1] != 3:
        raise MedColorError(f"{path}: points must be [x, y, z] numbers in mm, got shape {array.shape}")
    if len(array) < 2:
        raise MedColorError(f"{path}: a path needs at least two points, got {len(array)}")
    if not np.isfinite(array).all():
        raise MedColorError(f"{path}: the points contain NaN or infinite values")
    return array


def write_points(path: str | Path, points_ras: np.ndarray, extra: dict | None = None) -> Path:
    """Write ``{"points_ras": [[x, y, z], ...], **extra}`` (mm) atomically."""
    path = Path(path)
    check_destination(path)
    body = {"points_ras": np.round(np.asarray(points_ras, np.float64), 4).tolist(), **(extra or {})}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
    return path
