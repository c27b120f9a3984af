"""Fly-through path files (io/points.py) and movies/sheets (cli/movie.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from MedColorLib.errors import MedColorError
from MedColorLib.cli.movie import contact_sheet, write_movie
from MedColorLib.io.points import read_points, write_points

RAS = [[10.0, -20.0, 30.0], [11.0, -22.0, 25.0], [12.5, -23.0, 20.0]]


def test_bare_list_is_ras_unless_told_lps(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(RAS))
    assert np.allclose(read_points(f), RAS)
    assert np.allclose(read_points(f, "lps"), np.array(RAS) * [-1, -1, 1])


def test_keyed_lps_and_slicer_markups_curve(tmp_path):
    keyed = tmp_path / "k.json"
    keyed.write_text(json.dumps({"points_lps": (np.array(RAS) * [-1, -1, 1]).tolist()}))
    assert np.allclose(read_points(keyed), RAS)
    markups = {"@schema": "https://raw.githubusercontent.com/slicer/slicer/main/Modules/Loadable/Markups/Resources/"
                          "Schema/markups-schema-v1.0.3.json#",
               "markups": [{"type": "Curve", "coordinateSystem": "LPS",
                            "controlPoints": [{"id": str(n), "position": [-x, -y, z]} for n, (x, y, z) in enumerate(RAS)]}]}
    curve = tmp_path / "c.mrk.json"
    curve.write_text(json.dumps(markups))
    assert np.allclose(read_points(curve), RAS)
    markups["markups"][0]["coordinateSystem"] = "RAS"
    markups["markups"][0]["controlPoints"] = [{"position": p} for p in RAS]
    curve.write_text(json.dumps(markups))
    assert np.allclose(read_points(curve), RAS)


@pytest.mark.parametrize("content, message", [("[[1, 2, 3]]", "at least two"), ("[[1, 2], [3, 4]]", "shape"),
                                              ('{"x": 1}', "expected a JSON list"), ("not json", "cannot read"),
                                              ('[[1, 2, NaN], [1, 2, 3]]', "NaN")])
def test_bad_points_files_are_one_line_errors(tmp_path, content, message):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(MedColorError, match=message):
        read_points(f)


def test_written_path_reads_back(tmp_path):
    out = write_points(tmp_path / "path.json", np.array(RAS), {"path": "airway"})
    assert json.loads(out.read_text())["path"] == "airway"
    assert np.allclose(read_points(out), RAS)


def test_gif_movie_and_contact_sheet(tmp_path):
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (30, 40, 3), dtype=np.uint8) for _ in range(5)]
    movie = write_movie(tmp_path / "m.gif", frames, fps=10)
    back = iio.imread(movie, index=None)
    assert back.shape[:3] == (5, 30, 40)
    sheet = contact_sheet(frames, columns=3, gap=2)
    assert sheet.shape == (2 * 30 + 2, 3 * 40 + 2 * 2, 3)
    assert np.array_equal(sheet[:30, :40], frames[0]) and np.array_equal(sheet[32:62, 42:82], frames[4])
    with pytest.raises(MedColorError, match="use .mp4 or .gif"):
        write_movie(tmp_path / "m.avi", frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gif"]


@pytest.mark.slow
def test_mp4_movie_has_every_frame(tmp_path):
    import imageio.v3 as iio

    frames = [np.full((31, 41, 3), 20 * n, np.uint8) for n in range(6)]
    movie = write_movie(tmp_path / "m.mp4", frames, fps=6)
    back = iio.imread(movie, plugin="FFMPEG", index=None)
    assert back.shape[0] == 6 and back.shape[1:3] == (30, 40)       # even size for H.264
    assert abs(float(back[3].mean()) - 60) < 4
