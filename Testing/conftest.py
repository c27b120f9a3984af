"""Shared fixtures: real data from ../shared/data, seeded generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMALL_CT = ("ct", "totalseg_example_ct_sm.nii.gz")


@pytest.fixture(autouse=True, scope="session")
def _no_home_library(tmp_path_factory):
    """Tests never build the per-user default library in the real home: MEDCOLOR_LIBRARY points to a temporary
    folder for the whole session (a test that builds it pays once)."""
    import os
    previous = os.environ.get("MEDCOLOR_LIBRARY")
    os.environ["MEDCOLOR_LIBRARY"] = str(tmp_path_factory.mktemp("default-library") / "library")
    yield
    if previous is None:
        os.environ.pop("MEDCOLOR_LIBRARY", None)
    else:
        os.environ["MEDCOLOR_LIBRARY"] = previous


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


def load_gray(path: Path, size: int | None = None) -> np.ndarray:
    """A real 2-D image as float32 gray in [0, 1], optionally resized to size x size."""
    img = Image.open(path).convert("L")
    if size:
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255


def load_rgb(path: Path, size: int | None = None) -> np.ndarray:
    """A real colour image as float32 RGB (H, W, 3) in [0, 1]."""
    img = Image.open(path).convert("RGB")
    if size:
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255


@pytest.fixture(scope="session")
def brain_t1(data_dir) -> np.ndarray:
    return load_gray(data_dir / "mri" / "itk_BrainT1Slice.png", 64)


@pytest.fixture(scope="session")
def visible_woman(data_dir) -> np.ndarray:
    return load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 64)


@pytest.fixture(scope="module")
def app():
    """A real headless slicer-core application and MRML scene (one per test module)."""
    from MedColorLib.slicer import scene as slicer_scene
    return slicer_scene.create_headless_slicer()


@pytest.fixture(scope="module")
def ct_node(app, data_dir):
    """The small real abdomen CT loaded into the scene by Slicer's own storage node."""
    from MedColorLib.slicer import scene as slicer_scene
    return slicer_scene.load_volume(app, data_dir.joinpath(*SMALL_CT), "ct")


@pytest.fixture(scope="session")
def chest_small(data_dir):
    """The real chest CT cropped to the trachea, carina and main bronchi (58 x 100 x 110 voxels)."""
    from chest_ct import SMALL_BOX, cropped, read_chest
    return cropped(read_chest(data_dir), SMALL_BOX)


@pytest.fixture(scope="session")
def chest_small_colour(chest_small, data_dir):
    """Its MedColor colour volume (preview mode, Visible Woman reference: mechanics, not colour quality)."""
    from chest_ct import preview_colour
    return preview_colour(chest_small, load_rgb(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", 64))
