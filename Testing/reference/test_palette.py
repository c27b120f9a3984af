"""The palette's colours are those measured on the Visible Woman photograph or published in Slicer's table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from MedColorLib.io.hashing import sha256_file
from MedColorLib.reference.palette import MEASURED, PHOTO_SHA256, PUBLISHED, measure
from MedColorLib.reference.tissues import compose


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    path = data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png"
    assert sha256_file(path) == PHOTO_SHA256  # the same file as Debian's insighttoolkit5-examples ships
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_measured_colour_is_recomputed_from_its_photograph(photo, name):
    assert measure(photo, MEASURED[name].boxes) == MEASURED[name].rgb


def test_fat_is_yellow_and_muscle_red_brown_in_the_photograph(photo):
    from skimage.color import rgb2lab
    hue = {n: np.degrees(np.arctan2(*rgb2lab(np.array([[MEASURED[n].rgb]]) / 255)[0, 0, [2, 1]])) % 360
           for n in ("fat", "muscle")}
    assert 60 <= hue["fat"] <= 100 and 20 <= hue["muscle"] <= 60


def _table(name: str) -> dict[str, list[int]]:
    import trame_slicer
    path = Path(trame_slicer.__file__).parent / "resources" / "terminologies" / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {t["CodeMeaning"]: t.get("recommendedDisplayRGBValue")
            for c in doc["SegmentationCodes"]["Category"] for t in c["Type"]}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_colour_is_the_tables(name):
    pytest.importorskip("trame_slicer")
    colour = PUBLISHED[name]
    assert tuple(_table(colour.table)[colour.entry]) == colour.rgb


def test_compose_keeps_the_luma_and_gives_each_tissue_its_hue():
    luma = np.tile(np.linspace(0.1, 0.9, 64), (64, 1))
    fat = np.zeros(luma.shape, bool)
    fat[:32] = True
    rgb = compose(luma, {"fat": fat, "muscle": ~fat}, soften=0)
    y = (rgb.astype(float) / 255) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(y - luma).max() <= 1.5 / 255
    from skimage.color import rgb2lab
    lab = rgb2lab(rgb[..., :3] / 255)
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360
    assert 60 <= np.median(hue[:32, 8:56]) <= 100 and 20 <= np.median(hue[32:, 8:56]) <= 60
