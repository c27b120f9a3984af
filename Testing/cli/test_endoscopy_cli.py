"""``medcolor endoscopy`` end to end on the real chest CT (cropped): outputs all or none, one-line errors. The
frames are rendered by headless Slicer (slicer-core) in the child process, as a user's run would."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("slicer")

from chest_ct import hu_at  # noqa: E402
from MedColorLib.cli.main import dispatch  # noqa: E402
from MedColorLib.io.write import write_color_volume  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory, chest_small, chest_small_colour):
    import SimpleITK as sitk  # noqa: N813

    folder = tmp_path_factory.mktemp("endoscopy")
    image = sitk.GetImageFromArray(chest_small.array)
    image.SetSpacing(chest_small.spacing)
    image.SetOrigin(chest_small.origin)
    image.SetDirection(np.asarray(chest_small.direction).ravel().tolist())
    sitk.WriteImage(image, str(folder / "chest.nrrd"))
    write_color_volume(folder / "colour.nrrd", chest_small_colour, chest_small)
    return folder


def outputs(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_gif_sheet_frames_and_path_with_gray_side_by_side(files, tmp_path, chest_small):
    import imageio.v3 as iio
    from PIL import Image

    code = dispatch(["endoscopy", str(files / "chest.nrrd"), "--colour", str(files / "colour.nrrd"),
                     "-o", str(tmp_path / "fly.gif"), "--frames", "3", "--size", "48x40",
                     "--contact-sheet", str(tmp_path / "sheet.png"), "--frames-dir", str(tmp_path / "frames"),
                     "--path-out", str(tmp_path / "path.json"), "--compare-gray", "--quiet"])
    assert code == 0
    movie = iio.imread(tmp_path / "fly.gif", index=None)
    assert movie.shape[:3] == (3, 40, 48 + 4 + 48)             # colour | gray from the same camera
    frames = sorted((tmp_path / "frames").iterdir())
    assert [f.name for f in frames] == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    first = np.asarray(Image.open(frames[0]))
    assert first.shape == (40, 48, 3) and np.any(first != 0, axis=-1).mean() > 0.97
    points = np.array(json.loads((tmp_path / "path.json").read_text())["points_ras"])
    assert points.shape[1] == 3 and (hu_at(chest_small, points) < -500).all()
    assert Image.open(tmp_path / "sheet.png").size[0] >= 2 * 48


def test_colour_volume_of_another_scan_is_refused_and_nothing_written(files, tmp_path, capsys, chest_small,
                                                                      chest_small_colour):
    from dataclasses import replace

    shifted = replace(chest_small, origin=tuple(np.add(chest_small.origin, (0.0, 0.0, 10.0))))
    write_color_volume(tmp_path / "other.nrrd", chest_small_colour, shifted)
    code = dispatch(["endoscopy", str(files / "chest.nrrd"), "--colour", str(tmp_path / "other.nrrd"),
                     "-o", str(tmp_path / "fly.gif"), "--path-out", str(tmp_path / "p.json"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("medcolor: error:") and "origin" in err and "\n" not in err
    assert outputs(tmp_path) == ["other.nrrd"]


def test_path_leaving_the_volume_is_refused(files, tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps([[0.0, 0.0, 0.0], [0.0, 0.0, 900.0]]))
    code = dispatch(["endoscopy", str(files / "chest.nrrd"), "--colour", str(files / "colour.nrrd"),
                     "--path", str(tmp_path / "p.json"), "-o", str(tmp_path / "fly.gif"), "--quiet"])
    assert code == 2 and "leaves the volume" in capsys.readouterr().err
    assert outputs(tmp_path) == ["p.json"]


def test_no_airway_in_the_brain_mr_is_one_line(data_dir, tmp_path, capsys):
    code = dispatch(["endoscopy", str(data_dir / "mri" / "dipy_aniso_vox.nii.gz"), "--reference",
                     str(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png"), "--mode", "preview",
                     "-o", str(tmp_path / "fly.mp4"), "--frames-dir", str(tmp_path / "frames"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("medcolor: error: no airway found")
    assert outputs(tmp_path) == []


@pytest.mark.parametrize("extra, message", [(["--size", "40"], "--size must be WxH"),
                                            (["--view-angle", "120"], "argument --view-angle: the view angle"),
                                            (["--view-angle", "nan"], "must be a finite number"),
                                            (["--fps", "0"], "argument --fps: --fps 0 is out of range"),
                                            (["--frames", "0"], "argument --frames: 0 is out of range"),
                                            (["--window", "5,1"], "argument --window"),
                                            (["--preset", "lungs"], "unknown --preset"),
                                            (["-o", "movie.avi"], "unknown file type")])
def test_bad_arguments_are_refused_before_any_work(files, tmp_path, capsys, extra, message):
    argv = ["endoscopy", str(files / "chest.nrrd"), "--colour", str(files / "colour.nrrd"), "-o",
            str(tmp_path / "fly.gif"), "--quiet"] + extra
    if extra[0] == "-o":
        argv[argv.index("-o") + 1] = str(tmp_path / extra[1])
        argv = argv[:-2]
    code = dispatch(argv)
    assert code == 2 and message in capsys.readouterr().err
    assert outputs(tmp_path) == []


def test_frames_dir_must_be_new_or_empty(files, tmp_path, capsys):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "old.png").write_bytes(b"x")
    code = dispatch(["endoscopy", str(files / "chest.nrrd"), "--colour", str(files / "colour.nrrd"), "-o",
                     str(tmp_path / "fly.gif"), "--frames-dir", str(tmp_path / "frames"), "--quiet"])
    assert code == 2 and "new or empty folder" in capsys.readouterr().err
    assert outputs(tmp_path) == ["frames"]


def test_without_a_colour_option_the_scan_is_coloured_from_the_default_library(files, tmp_path, capsys):
    """As `medcolor colorize`: no --colour, --library or --reference -> the per-user default library
    ($MEDCOLOR_LIBRARY: a session folder in the tests), built on first use."""
    import os
    from pathlib import Path

    library = Path(os.environ["MEDCOLOR_LIBRARY"])
    code = dispatch(["endoscopy", str(files / "chest.nrrd"), "--mode", "preview", "-o", str(tmp_path / "fly.gif"),
                     "--frames", "2", "--size", "32x32", "--path-out", str(tmp_path / "path.json"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert outputs(tmp_path) == ["fly.gif", "path.json"]
    assert (library / "medcolor-library.json").is_file()
