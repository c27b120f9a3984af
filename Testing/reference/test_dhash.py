"""D-hash: bit-for-bit equal to imagehash.dhash on real images; Hamming distance; bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from MedColorLib.reference.dhash import dhash, hamming, hash_to_hex, hex_to_hash
from MedColorLib.errors import MedColorError

imagehash = pytest.importorskip("imagehash")


def reference_hash(img: Image.Image) -> int:
    """imagehash's dhash as an integer (its hex string, row-major, first bit most significant)."""
    return int(str(imagehash.dhash(img)), 16)


def raster_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def dicom_frames_8bit(data_dir: Path) -> list[tuple[str, np.ndarray]]:
    """Every 2-D frame of every single-file DICOM, min-max scaled to uint8 (RGB frames kept RGB)."""
    frames = []
    for path in sorted(data_dir.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        try:
            arr = ds.pixel_array.astype(np.float64)
        except Exception:  # a codec this environment lacks: not this test's business
            continue
        color = int(ds.get("SamplesPerPixel", 1)) == 3
        stack = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None]
        for i, frame in enumerate(stack[:6]):
            lo, hi = frame.min(), frame.max()
            u8 = np.round((frame - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
            frames.append((f"{path.name}[{i}]{'rgb' if color else ''}", u8))
    return frames


def test_equals_imagehash_on_real_png_and_jpeg(data_dir):
    files = raster_files(data_dir)
    assert len(files) >= 5
    for path in files:
        with Image.open(path) as img:
            img.load()
            want = reference_hash(img)
            assert dhash(img) == want, path.name
            rgb = np.asarray(img.convert("RGB"))
            assert dhash(rgb) == reference_hash(Image.fromarray(rgb)), path.name
            gray = np.asarray(img.convert("L"))
            assert dhash(gray) == want, path.name  # convert("L") first is what imagehash does
            assert dhash(gray.astype(np.float32) / 255) == want, path.name


def test_equals_imagehash_on_real_dicom_slices(data_dir):
    frames = dicom_frames_8bit(data_dir)
    assert len(frames) >= 20, "expected many DICOM frames in the shared data"
    mismatches = [name for name, u8 in frames if dhash(u8) != reference_hash(Image.fromarray(u8))]
    assert not mismatches
    # float input in [0, 1] rounds to the same uint8 image
    for name, u8 in frames[:10]:
        assert dhash(u8.astype(np.float64) / 255) == reference_hash(Image.fromarray(u8)), name


def test_equals_imagehash_on_resized_and_cropped_real_images(data_dir):
    img = Image.open(data_dir / "mri" / "itk_BrainT1Slice.png").convert("L")
    for size in ((9, 8), (16, 16), (31, 17), (224, 224), (500, 300)):
        small = img.resize(size, Image.BICUBIC)
        assert dhash(small) == reference_hash(small), size
    crop = img.crop((20, 30, 120, 90))
    assert dhash(np.asarray(crop)) == reference_hash(crop)


def test_hex_roundtrip_matches_imagehash_string(data_dir):
    img = Image.open(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png")
    h = dhash(img)
    assert hash_to_hex(h) == str(imagehash.dhash(img))
    assert hex_to_hash(hash_to_hex(h)) == h
    assert 0 <= h < 2 ** 64


def test_hamming_equals_imagehash_difference(data_dir):
    a = Image.open(data_dir / "mri" / "itk_BrainT1Slice.png")
    b = Image.open(data_dir / "mri" / "itk_BrainProtonDensitySlice.png")
    assert hamming(dhash(a), dhash(b)) == imagehash.dhash(a) - imagehash.dhash(b)
    assert hamming(dhash(a), dhash(a)) == 0
    assert hamming(0, 2 ** 64 - 1) == 64
    assert hamming(0b1011, 0b0001) == 2


@pytest.mark.parametrize("bad", [
    np.full((8, 8), 2.0),  # float outside [0, 1]
    np.array([[0.1, np.nan], [0.2, 0.3]]),  # NaN
    np.zeros((8, 8), dtype=np.int16),  # not windowed
    np.zeros((4, 8, 8), dtype=np.uint8),  # 3-D stack
    np.zeros((0, 8), dtype=np.uint8),  # empty
])
def test_bad_input_is_a_medcolor_error(bad):
    with pytest.raises(MedColorError):
        dhash(bad)


def test_hex_to_hash_rejects_garbage():
    for text in ("xyz", "0123", "zzzzzzzzzzzzzzzz"):
        with pytest.raises(MedColorError):
            hex_to_hash(text)


def test_imagehash_is_not_a_runtime_dependency():
    code = ("import sys, MedColorLib.reference.dhash, MedColorLib.reference.index, MedColorLib.reference.retrieval, "
            "MedColorLib.reference.default_library, "
            "MedColorLib.cli.library; assert 'imagehash' not in sys.modules, 'imagehash imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
