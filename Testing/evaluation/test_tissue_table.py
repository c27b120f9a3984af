"""The tissue table (issue 20's acceptance figures): CIELAB of the mean colour per HU class, and its verdicts."""

from __future__ import annotations

import numpy as np
from skimage.color import lab2rgb

from MedColorLib.evaluation.tissues import check_acceptance, tissue_table


def _colour(L: float, hue: float, chroma: float) -> np.ndarray:
    lab = np.array([[[L, chroma * np.cos(np.radians(hue)), chroma * np.sin(np.radians(hue))]]])
    return np.round(lab2rgb(lab)[0, 0] * 255).astype(np.uint8)


def _volume(blood_chroma: float) -> tuple[np.ndarray, np.ndarray]:
    """(4, 20, 20) HU with one class per slice, and an RGB output painting each class in one colour."""
    values = np.stack([np.full((20, 20), hu, np.int16) for hu in (-100, 40, 150, 900)])
    colours = [_colour(30, 80, 25), _colour(55, 40, 25), _colour(75, 35, blood_chroma), _colour(98, 80, 3)]
    return values, np.stack([np.broadcast_to(c, (20, 20, 3)) for c in colours])


def test_table_measures_the_mean_colour_of_each_class():
    values, rgb = _volume(30)
    table = tissue_table(values, rgb, "CT")
    assert table["fat (-150..-50 HU)"]["voxels"] == 400
    assert abs(table["fat (-150..-50 HU)"]["hue"] - 80) < 2 and abs(table["contrast blood (100..250 HU)"]["chroma"] - 30) < 2
    assert all(check_acceptance(table).values())


def test_pale_blood_fails_and_a_scan_without_contrast_has_no_blood_verdict():
    values, rgb = _volume(12)
    table = tissue_table(values, rgb, "CT")
    assert check_acceptance(table)["blood hue 0-50, chroma >= 20"] is False
    verdicts = check_acceptance(table, contrast=False)
    assert verdicts["blood hue 0-50, chroma >= 20"] is None and verdicts["bone chroma <= 15"] is True
