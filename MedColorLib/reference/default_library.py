"""The default reference library, built on a fresh machine from installed packages only.

``real/``: colour photographs of tissue shipped in the scikit-image wheel (retina fundus, IHC
histology). ``pseudo/``: colour-Doppler ultrasound frames shipped in pydicom, and pseudo-colour
references rendered here from nilearn's MNI ICBM152 2009a T1 template and its GM/WM probability maps:
tissue classes drawn with a fixed anatomical palette (CSF blue, grey matter red-orange, white matter
cream-yellow, bone ivory, scalp skin-tone) over the luma of an MR-like or CT-like appearance, at
several axial and coronal levels. Every image gets a sidecar ``<image>.json`` (set, tags, source,
licence), so a later ``index_library`` keeps the metadata.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from MedColorLib.errors import MedColorError
from MedColorLib.io.outputs import probe_writable
from MedColorLib.reference.index import INDEX_NAME, SIDECAR_SUFFIX, Library, index_library

# fixed anatomical palette, sRGB 0-255 (only its chroma is used; the luma comes from the appearance)
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
AXIAL_MM = (-24, -8, 8, 24, 40, 56)
CORONAL_MM = (-72, -40, -8, 24)
LAYERS_MM = {"csf": 1.5, "bone": 7.0, "scalp": 4.0}  # synthetic layers outside the brain mask

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
    """Render the MNI152 pseudo-colour references (axial and coronal levels, each appearance)."""
    t1, gm, wm, affine = _load_mni()
    inv = np.linalg.inv(affine)
    source = (f"rendered by MedColor from nilearn {_version('nilearn')} MNI ICBM152 2009a sym T1/GM/WM "
              "templates (nilearn/datasets/data/mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz)")
    out = root / "pseudo"
    out.mkdir(parents=True, exist_ok=True)
    for view, levels in (("axial", AXIAL_MM), ("coronal", CORONAL_MM)):
        for mm in levels:
            planes = [_plane(v, view, mm, inv) for v in (t1, gm, wm)]
            for name, look in APPEARANCE.items():
                rgb = render_slice(*planes, appearance=name)
                target = out / f"mni152_{name}_{view}_{mm:+04d}mm.png"
                Image.fromarray(rgb).save(target, optimize=False)
                tags = {"modality": look["modality"], "region": "head", "view": view,
                        "appearance": name, "level_mm": str(mm)}
                _write_sidecar(target, "pseudo", tags, source, ICBM_LICENCE)


def _plane(vol: np.ndarray, view: str, mm: float, inv: np.ndarray) -> np.ndarray:
    """A display-oriented plane: axial = anterior up, patient right on the left; coronal = superior up."""
    if view == "axial":
        k = int(round((inv @ [0, 0, mm, 1])[2]))
        return vol[::-1, ::-1, k].T  # rows: y anterior->posterior, columns: x right->left
    j = int(round((inv @ [0, mm, 0, 1])[1]))
    return vol[::-1, j, ::-1].T  # rows: z superior->inferior, columns: x right->left


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
