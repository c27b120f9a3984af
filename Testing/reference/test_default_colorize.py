"""``medcolor colorize`` without a reference option: the per-user default library, built once, then reused."""

from __future__ import annotations

import json

from MedColorLib.cli.main import dispatch
from MedColorLib.reference.default_library import STAMP


def test_colorize_builds_the_default_library_once_and_reuses_it(data_dir, tmp_path, monkeypatch, capsys):
    home, lib = tmp_path / "home", tmp_path / "lib"
    monkeypatch.setenv("HOME", str(home))            # the real home is never written
    monkeypatch.setenv("MEDCOLOR_LIBRARY", str(lib))
    inp = data_dir / "ct" / "totalseg_example_ct_sm.nii.gz"
    args = ["colorize", str(inp), "--mode", "preview", "--quiet"]
    assert dispatch(args + ["-o", str(tmp_path / "a.nrrd"), "--report", str(tmp_path / "a.json")]) == 0
    first = capsys.readouterr().err
    assert first.count("building the default reference library") == 1 and str(lib) in first
    stamp, index = (lib / STAMP).stat().st_mtime_ns, (lib / "medcolor-library.json").stat().st_mtime_ns
    assert dispatch(args + ["-o", str(tmp_path / "b.nrrd"), "--report", str(tmp_path / "b.json")]) == 0
    assert "building" not in capsys.readouterr().err
    assert (lib / STAMP).stat().st_mtime_ns == stamp and (lib / "medcolor-library.json").stat().st_mtime_ns == index
    assert not home.exists()
    report = json.loads((tmp_path / "b.json").read_text())["reference"]
    assert report["region"]["region"] == "abdomen" and report["reference_tags"]["region"] == "abdomen"
    assert report["library"] == str(lib.resolve())


def test_an_older_default_library_is_rebuilt(tmp_path, monkeypatch):
    from MedColorLib.reference.default_library import ensure_default_library
    notes = []
    library = ensure_default_library(tmp_path / "lib", note=notes.append)
    assert notes and {e.tags.get("region") for e in library.entries} >= {"head", "abdomen"}
    (tmp_path / "lib" / STAMP).write_text(json.dumps({"version": 1}))
    notes.clear()
    ensure_default_library(tmp_path / "lib", note=notes.append)
    assert notes and "building" in notes[0]
