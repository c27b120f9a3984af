"""DICOM reading on the pydicom that Slicer 5.10 ships (2.4.4, no ``pydicom.pixels``), issue 12 point 3.

``pydicom.pixels`` is made unimportable for MedColorLib's helper (an import hook; pydicom 3 itself still needs
it), as on pydicom 2.4: MedColorLib must fall back to ``pydicom.pixel_data_handlers.util`` and read real DICOM
files from ../shared/data identically.
The real pydicom 2.4.4 wheel was also checked by hand (README, "3D Slicer extension").
"""

from __future__ import annotations

import builtins
import warnings

import numpy as np
import pytest

pytest.importorskip("pydicom")

from MedColorLib.io import images  # noqa: E402
from MedColorLib.io.dicom_compat import pixel_functions  # noqa: E402

FILES = [("ct", "pydicomdata_693_UNCR_CT_head.dcm"), ("us", "pydicomdata_US_ALOKA_palette_pelvis.dcm"),
         ("us", "pydicomdata_US_echo_mono.dcm")]


def _read_all(data_dir):
    out = []
    for folder, name in FILES:
        path = data_dir / folder / name
        if not path.is_file():
            pytest.skip(f"{path} not in the shared data")
        out.append(images.read_gray_image(path) if folder == "us" else images.read_gray(path))
    return out


def test_pydicom_24_import_path_reads_the_same(data_dir, monkeypatch):
    normal = _read_all(data_dir)
    assert pixel_functions().source == "pydicom.pixels"
    real_import = builtins.__import__

    def import_as_on_pydicom_24(name, globals=None, locals=None, fromlist=(), level=0):
        # only MedColor's helper sees pydicom 2.4's layout: pydicom 3 itself still needs its pixels package
        if name == "pydicom.pixels" and (globals or {}).get("__name__") == "MedColorLib.io.dicom_compat":
            raise ImportError("No module named 'pydicom.pixels'")
        return real_import(name, globals, locals, fromlist, level)
    monkeypatch.setattr(builtins, "__import__", import_as_on_pydicom_24)
    functions = pixel_functions()
    assert functions.source == "pydicom.pixel_data_handlers.util" and callable(functions.apply_voi_lut)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pydicom 3 warns about the 2.x location
        fallback = _read_all(data_dir)
    for a, b in zip(normal, fallback):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert fallback[1].std() > 0  # the palette-colour frame went through apply_color_lut
