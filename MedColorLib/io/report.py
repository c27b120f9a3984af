"""Provenance and the JSON report, shared by the CLI, the Slicer worker and the benchmarks."""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path

from MedColorLib import __version__
from MedColorLib.io.atomic import atomic_path
from MedColorLib.options import Options


def versions() -> dict[str, str]:
    """Versions of MedColor and the packages that shape its output."""
    out = {"medcolor": __version__, "python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "scikit-learn", "kornia", "SimpleITK"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def provenance(options: Options, weights_label: str, device: str, reference: dict, **extra) -> dict:
    """What produced an output: mode, weights (and their architecture, preprocessing, source, sha256), seed,
    device, reference, parameters, versions."""
    return {"mode": options.mode, "weights": weights_label, "network": weights_fields(weights_label),
            "seed": options.seed, "device": device, "reference": reference, "params": options.as_dict(),
            "versions": versions(), **extra}


def weights_fields(label: str) -> dict[str, str]:
    """The network label "source | architecture | preprocessing | sha256:HEX" (engine.weights) as fields."""
    parts = [p.strip() for p in label.split(" | ")]
    fields = dict(zip(("source", "architecture", "preprocessing"), parts))
    fields.update({"sha256": p.removeprefix("sha256:") for p in parts[3:] if p.startswith("sha256:")})
    return fields


def json_safe(value):
    """Replace non-finite floats (PSNR of identical images is inf) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | Path, data: dict) -> None:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(json_safe(data), indent=2, default=str))


def flat_metadata(report: dict) -> dict[str, str]:
    """Provenance as flat MedColor.* key/value strings for a file header."""
    keys = ("mode", "weights", "network", "seed", "device", "reference", "window", "params", "versions", "key_slices")
    return {f"MedColor.{k}": v if isinstance(v, str) else json.dumps(v, default=str) for k, v in report.items() if k in keys}
