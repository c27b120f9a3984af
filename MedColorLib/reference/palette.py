"""The tissue palette of the rendered references: every colour measured from a real colour photograph
or taken from a published anatomy colour table, never picked by hand.

Measured (``MEASURED``): the Visible Human female head cryosection ``VisibleWomanHeadSlice.png``
(142x167 RGB, axial at the orbits; Debian ``insighttoolkit5-examples``,
``/usr/share/doc/insighttoolkit5-examples/examples/Data/``; NLM Visible Human Project, free to use).
A colour is the per-channel median, in CIELAB (D65, scikit-image), of the pixels in the listed
rectangles (rows y0:y1, columns x0:x1, numpy slices), converted back to sRGB uint8:
- fat: the medial orbital fat beside the left globe (30:38, 56:60) and the fat lateral to the right
  orbit (46:54, 18:22); 64 pixels, L* 56.6, hue 82.8 deg, chroma 27.6;
- muscle: the right temporalis muscle (50:58, 29:33); 32 pixels, L* 18.5, hue 37.9, chroma 21.2;
- grey matter: the cerebellar cortex (125:135, 62:78); 160 pixels, L* 32.3, hue 44.6, chroma 27.3;
- white matter: the right temporal white matter (74:78, 36:46); 40 pixels, L* 57.0, hue 78.9, chroma 30.6.
``Testing/reference/test_palette.py`` recomputes them from the photograph.

Published (``PUBLISHED``), for tissues the photograph does not show or shows too small to measure:
3D Slicer's General Anatomy colour table (``recommendedDisplayRGBValue`` of the terminology
``SegmentationCategoryTypeContextName`` "Segmentation category and type - 3D Slicer General Anatomy
list", shipped as ``trame_slicer/resources/terminologies/
SegmentationCategoryTypeModifier-SlicerGeneralAnatomy.term.json`` in the PyPI package ``trame-slicer``;
the same values as Slicer's GenericAnatomyColors), and the DICOM master list beside it for blood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHOTO = "VisibleWomanHeadSlice.png"
PHOTO_SHA256 = "a580fa87ed9928a497f444dd25d79a48784f7070788af82694882fce7d89c8e7"
SLICER_TABLE = "SegmentationCategoryTypeModifier-SlicerGeneralAnatomy.term.json"
DICOM_TABLE = "SegmentationCategoryTypeModifier-DICOM-Master.term.json"


@dataclass(frozen=True)
class Colour:
    """One palette colour: sRGB uint8 and where it comes from (rectangles of PHOTO, or a table entry)."""

    rgb: tuple[int, int, int]
    source: str
    boxes: tuple[tuple[int, int, int, int], ...] = ()   # (y0, y1, x0, x1) in PHOTO, for measured colours
    table: str = ""                                       # terminology file, for published colours
    entry: str = ""                                       # its CodeMeaning


MEASURED: dict[str, Colour] = {
    "fat": Colour((158, 132, 88), "Visible Woman head cryosection: orbital fat",
                  boxes=((30, 38, 56, 60), (46, 54, 18, 22))),
    "muscle": Colour((72, 35, 27), "Visible Woman head cryosection: temporalis muscle", boxes=((50, 58, 29, 33),)),
    "grey_matter": Colour((112, 63, 47), "Visible Woman head cryosection: cerebellar cortex",
                          boxes=((125, 135, 62, 78),)),
    "white_matter": Colour((164, 132, 85), "Visible Woman head cryosection: temporal white matter",
                           boxes=((74, 78, 36, 46),)),
}

PUBLISHED: dict[str, Colour] = {
    "lung": Colour((202, 164, 140), "3D Slicer General Anatomy: middle lobe of right lung",
                   table=SLICER_TABLE, entry="Middle lobe of right lung"),
    "blood": Colour((216, 101, 79), "DICOM master list (Slicer terminology): blood", table=DICOM_TABLE,
                    entry="Blood"),
    "bone": Colour((241, 214, 145), "3D Slicer General Anatomy: bone", table=SLICER_TABLE, entry="Bone"),
    "csf": Colour((85, 188, 255), "3D Slicer General Anatomy: brain cerebrospinal fluid pathway",
                  table=SLICER_TABLE, entry="Brain cerebrospinal fluid pathway"),
    "liver": Colour((221, 130, 101), "3D Slicer General Anatomy: liver", table=SLICER_TABLE, entry="Liver"),
    "skin": Colour((177, 122, 101), "3D Slicer General Anatomy: skin", table=SLICER_TABLE, entry="Skin"),
}

PALETTE: dict[str, Colour] = {**MEASURED, **PUBLISHED}


def measure(photo_rgb: np.ndarray, boxes: tuple[tuple[int, int, int, int], ...]) -> tuple[int, int, int]:
    """sRGB uint8 of the per-channel CIELAB median over the pixels of ``boxes`` in an (H, W, 3) uint8 photo."""
    from skimage.color import lab2rgb, rgb2lab

    lab = rgb2lab(np.asarray(photo_rgb, dtype=np.float64)[..., :3] / 255.0)
    pixels = np.concatenate([lab[y0:y1, x0:x1].reshape(-1, 3) for y0, y1, x0, x1 in boxes])
    rgb = lab2rgb(np.median(pixels, axis=0)[None, None])[0, 0]
    return tuple(int(v) for v in np.round(np.clip(rgb, 0, 1) * 255))
