"""pydicom's pixel helpers on every supported Slicer: ``pydicom.pixels`` (3.x, Slicer 5.12+) or 2.4 (5.10)."""

from __future__ import annotations

from types import SimpleNamespace


def pixel_functions() -> SimpleNamespace:
    """apply_color_lut, apply_modality_lut and apply_voi_lut from the installed pydicom (same signatures),
    and ``source``, the module they came from."""
    try:
        from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
        source = "pydicom.pixels"
    except ImportError:  # pydicom 2.x has no pydicom.pixels; 3.x still has this but warns it goes in 4.0
        from pydicom.pixel_data_handlers.util import apply_color_lut, apply_modality_lut, apply_voi_lut
        source = "pydicom.pixel_data_handlers.util"
    return SimpleNamespace(apply_color_lut=apply_color_lut, apply_modality_lut=apply_modality_lut,
                           apply_voi_lut=apply_voi_lut, source=source)
