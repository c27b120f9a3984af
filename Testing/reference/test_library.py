"""The reference library: indexing, search, volume choices, default library, CLI - on real images."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from MedColorLib.reference.dhash import dhash, hamming, hash_to_hex
from MedColorLib.errors import MedColorError
from MedColorLib.reference.index import INDEX_NAME, index_library, load_library
from MedColorLib.reference.retrieval import choose_for_volume, choose_per_slab, choose_per_slice, count_switches, search
from MedColorLib.io.images import load_reference, read_gray_image
from MedColorLib.reference.default_library import build_default_library

imagehash = pytest.importorskip("imagehash")

REAL = ("itk_VisibleWomanHeadSlice.png", "skimage_retina.jpg", "skimage_ihc.png")
PSEUDO = ("pydicomdata_US1_UNCR_powerdoppler.dcm", "pydicomdata_color-pl_doppler_TEE.dcm",
          "pydicom_examples_palette_US.dcm")


@pytest.fixture()
def ref_dir(tmp_path, data_dir) -> Path:
    """A library folder with copies of the shared colour references: real/ photos, pseudo/ colour US."""
    root = tmp_path / "lib"
    for sub, names in (("real", REAL), ("pseudo", PSEUDO)):
        (root / sub).mkdir(parents=True)
        for name in names:
            shutil.copyfile(data_dir / "color_ref" / name, root / sub / name)
    return root


@pytest.fixture(scope="session")
def default_lib(tmp_path_factory):
    """The default library, built once per session; returns (library, seconds taken)."""
    start = time.perf_counter()
    lib = build_default_library(tmp_path_factory.mktemp("default") / "lib")
    return lib, time.perf_counter() - start


@pytest.fixture(scope="session")
def colin_axial(data_dir) -> list[np.ndarray]:
    """Colin27 T1 (real head MR with skull) as display-oriented uint8 axial slices, inferior to superior."""
    nib = pytest.importorskip("nibabel")
    vol = np.asarray(nib.load(data_dir / "mri" / "mricron_ch2_colin27_t1.nii.gz").dataobj)
    assert vol.dtype == np.uint8 and vol.ndim == 3
    return [vol[::-1, ::-1, k].T for k in range(vol.shape[2])]


def cli(argv: list[str]) -> int:
    """The dispatcher's contract for the library commands: MedColorError -> message + exit 2."""
    from MedColorLib.cli import library as cli_library

    parser = argparse.ArgumentParser(prog="medcolor")
    cli_library.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MedColorError as err:
        print(f"medcolor: error: {err}")
        return 2


# ----------------------------------------------------------------------------- index

def test_index_records_every_field(ref_dir):
    lib = index_library(ref_dir)
    assert lib.skipped == []
    assert sorted(e.path for e in lib.entries) == sorted(
        [f"real/{n}" for n in REAL] + [f"pseudo/{n}" for n in PSEUDO])
    doc = json.loads((ref_dir / INDEX_NAME).read_text())
    assert doc["format"] == "medcolor-library" and len(doc["entries"]) == 6
    for e in lib.entries:
        path = ref_dir / e.path
        assert e.set == e.path.split("/")[0]
        assert e.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        if path.suffix != ".dcm":
            with Image.open(path) as img:
                assert e.dhash == str(imagehash.dhash(img)), e.path
                assert (e.width, e.height) == img.size
    assert load_library(ref_dir).entries == lib.entries


def test_index_follows_added_removed_changed_files(ref_dir, data_dir):
    index_library(ref_dir)
    doc = json.loads((ref_dir / INDEX_NAME).read_text())
    for raw in doc["entries"]:  # metadata edited by hand in the index must survive re-indexing
        if raw["path"] == "real/skimage_ihc.png":
            raw.update(tags={"modality": "histology", "region": "colon"}, licence="no known restrictions")
    (ref_dir / INDEX_NAME).write_text(json.dumps(doc))

    (ref_dir / "real" / "skimage_retina.jpg").unlink()
    shutil.copyfile(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", ref_dir / "extra.png")
    vw = Image.open(ref_dir / "real" / "itk_VisibleWomanHeadSlice.png")
    vw.transpose(Image.FLIP_TOP_BOTTOM).save(ref_dir / "real" / "itk_VisibleWomanHeadSlice.png")
    shutil.move(ref_dir / "real" / "skimage_ihc.png", ref_dir / "real" / "ihc_moved.png")

    lib = index_library(ref_dir)
    by_path = {e.path: e for e in lib.entries}
    assert "real/skimage_retina.jpg" not in by_path and "real/skimage_retina.jpg" in lib.removed
    assert by_path["extra.png"].set == "user" and "extra.png" in lib.added
    flipped = Image.open(ref_dir / "real" / "itk_VisibleWomanHeadSlice.png")
    assert by_path["real/itk_VisibleWomanHeadSlice.png"].dhash == str(imagehash.dhash(flipped))
    assert by_path["real/itk_VisibleWomanHeadSlice.png"].dhash != by_path["extra.png"].dhash
    moved = by_path["real/ihc_moved.png"]  # same bytes under a new name: metadata follows the sha256
    assert moved.tags == {"modality": "histology", "region": "colon"} and moved.licence == "no known restrictions"
    assert load_library(ref_dir).entries == lib.entries
    assert all((ref_dir / e.path).is_file() for e in load_library(ref_dir).entries)


def test_sidecar_gives_metadata_and_a_bad_sidecar_skips_its_image(ref_dir, data_dir):
    target = ref_dir / "mine" / "vw.png"
    target.parent.mkdir()
    shutil.copyfile(data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png", target)
    Path(str(target) + ".json").write_text(json.dumps(
        {"set": "cryo", "modality": "photo", "tags": {"region": "head"}, "source": "ITK examples",
         "license": "Apache-2.0"}))
    bad = ref_dir / "real" / "skimage_retina.jpg.json"
    bad.write_text("{not json")
    lib = index_library(ref_dir)
    entry = next(e for e in lib.entries if e.path == "mine/vw.png")
    assert (entry.set, entry.tags, entry.source, entry.licence) == (
        "cryo", {"region": "head", "modality": "photo"}, "ITK examples", "Apache-2.0")
    assert [p for p, _ in lib.skipped] == ["real/skimage_retina.jpg"]
    assert "sidecar" in lib.skipped[0][1]


def test_broken_and_gray_images_are_skipped_with_a_reason(ref_dir, data_dir, capsys):
    shutil.copyfile(data_dir / "mri" / "itk_BrainT1Slice.png", ref_dir / "gray_rgb_mode.png")  # RGB file, gray content
    shutil.copyfile(data_dir / "ct" / "pydicom_CT_small.dcm", ref_dir / "ct.dcm")
    shutil.copyfile(data_dir / "us" / "pydicomdata_US_ALOKA_palette_pelvis.dcm", ref_dir / "aloka.dcm")  # grey LUT
    png = (data_dir / "color_ref" / "itk_VisibleWomanHeadSlice.png").read_bytes()
    (ref_dir / "truncated.png").write_bytes(png[:200])
    (ref_dir / "notes.jpg").write_text("this is not a JPEG")
    (ref_dir / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    lib = index_library(ref_dir)
    reasons = dict(lib.skipped)
    assert set(reasons) == {"gray_rgb_mode.png", "ct.dcm", "aloka.dcm", "truncated.png", "notes.jpg", "broken.dcm"}
    for name in ("gray_rgb_mode.png", "ct.dcm", "aloka.dcm"):
        assert "is gray; a colour reference is needed" in reasons[name]
    for name in ("truncated.png", "notes.jpg", "broken.dcm"):
        assert "not a readable" in reasons[name], reasons[name]
    assert len(lib.entries) == 6

    assert cli(["library", "index", str(ref_dir)]) == 0
    out, err = capsys.readouterr()
    assert "indexed 6 images" in out and "6 skipped" in out
    assert err.count("medcolor: warning: skipped") == 6 and "truncated.png" in err


def test_load_library_errors(tmp_path, ref_dir):
    with pytest.raises(MedColorError, match="does not exist"):
        load_library(tmp_path / "nowhere")
    with pytest.raises(MedColorError, match="library index"):
        load_library(ref_dir)
    index_library(ref_dir)
    index = ref_dir / INDEX_NAME
    good = index.read_text()
    for broken in ("{oops", json.dumps({"format": "other"}), good.replace('"dhash": "', '"dhash": "zz', 1),
                   json.dumps({"format": "medcolor-library", "version": 1, "entries": [{"path": "x"}]})):
        index.write_text(broken)
        with pytest.raises(MedColorError, match="rebuild|re-index"):
            load_library(ref_dir)
    lib = index_library(ref_dir)  # a corrupt index is reported and rebuilt
    assert len(lib.entries) == 6 and lib.skipped[0][0] == INDEX_NAME


# ----------------------------------------------------------------------------- references

def test_load_reference_reads_png_jpeg_and_colour_dicom(data_dir):
    from pydicom.pixels import apply_color_lut

    ref = data_dir / "color_ref"
    vw = load_reference(ref / "itk_VisibleWomanHeadSlice.png")
    assert vw.dtype == np.float32 and vw.shape == (167, 142, 3) and 0 <= vw.min() and vw.max() <= 1
    assert np.allclose(vw * 255, np.asarray(Image.open(ref / "itk_VisibleWomanHeadSlice.png").convert("RGB")))
    assert load_reference(ref / "skimage_retina.jpg").shape == (1024, 1024, 3)  # shrunk to MAX_REFERENCE_SIDE
    assert load_reference(ref / "skimage_retina.jpg", max_side=None).shape == (1411, 1411, 3)
    rgb = load_reference(ref / "pydicomdata_US1_UNCR_powerdoppler.dcm")
    assert rgb.shape == (480, 640, 3) and np.allclose(rgb * 255, pydicom.dcmread(
        ref / "pydicomdata_US1_UNCR_powerdoppler.dcm").pixel_array)
    ds = pydicom.dcmread(ref / "pydicom_examples_palette_US.dcm")
    pal = load_reference(ref / "pydicom_examples_palette_US.dcm")
    lut = apply_color_lut(ds.pixel_array, ds).astype(np.float64)
    assert pal.shape == (350, 800, 3) and np.allclose(pal, lut / 65535, atol=1e-6)


@pytest.mark.parametrize("rel", ["mri/itk_BrainT1Slice.png", "mri/itk_BrainProtonDensitySlice.png",
                                 "ct/pydicom_CT_small.dcm", "us/pydicom_US_echo_multiframe30.dcm"])
def test_gray_reference_is_refused(data_dir, rel):
    with pytest.raises(MedColorError, match="is gray; a colour reference is needed"):
        load_reference(data_dir / rel)


def test_unreadable_reference_is_a_medcolor_error(tmp_path):
    with pytest.raises(MedColorError, match="does not exist"):
        load_reference(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG junk")
    with pytest.raises(MedColorError, match="not a readable image"):
        load_reference(tmp_path / "junk.png")


# ----------------------------------------------------------------------------- search

def test_brain_mr_retrieves_the_brain_like_reference_first(ref_dir, data_dir):
    lib = index_library(ref_dir)
    for rel in ("mri/itk_BrainT1Slice.png", "ct/pydicom_CT_head_J2K.dcm"):
        matches = search(lib, read_gray_image(data_dir / rel), k=10)
        dist = {m.path.name: m.distance for m in matches}
        shown = ", ".join(f"{m.path.name}={m.distance}" for m in matches)
        assert matches[0].path.name == "itk_VisibleWomanHeadSlice.png", f"{rel}: {shown}"
        others = [d for name, d in dist.items() if name != "itk_VisibleWomanHeadSlice.png"]
        assert dist["itk_VisibleWomanHeadSlice.png"] < min(others), f"{rel}: {shown}"
        assert [m.distance for m in matches] == sorted(m.distance for m in matches)
        q = dhash(read_gray_image(data_dir / rel))
        assert all(m.distance == hamming(q, m.entry.hash) for m in matches)


def test_search_filters_by_set_and_tags_and_breaks_ties_by_path(ref_dir, data_dir):
    shutil.copyfile(ref_dir / "real" / "skimage_ihc.png", ref_dir / "real" / "a_copy_of_ihc.png")
    Path(str(ref_dir / "pseudo" / PSEUDO[0]) + ".json").write_text(json.dumps({"tags": {"modality": "US"}}))
    lib = index_library(ref_dir)
    query = read_gray_image(data_dir / "mri" / "itk_BrainT1Slice.png")
    assert {m.set for m in search(lib, query, set="pseudo", k=10)} == {"pseudo"}
    assert len(search(lib, query, set="real", k=10)) == 4
    only = search(lib, query, tags={"modality": "us"}, k=10)
    assert [m.path.name for m in only] == [PSEUDO[0]]
    ihc = [m for m in search(lib, np.asarray(Image.open(ref_dir / "real" / "skimage_ihc.png").convert("L")), k=2)]
    assert [m.distance for m in ihc] == [0, 0]
    assert [m.entry.path for m in ihc] == ["real/a_copy_of_ihc.png", "real/skimage_ihc.png"]
    assert len(search(lib, query, k=3)) == 3
    with pytest.raises(MedColorError, match="sets there: pseudo, real"):
        search(lib, query, set="nonexistent")
    with pytest.raises(MedColorError):
        search(lib, np.full((20, 20), 3.0))


# ----------------------------------------------------------------------------- volumes

def test_per_slab_choice_flips_less_than_per_slice(default_lib, colin_axial):
    lib, _ = default_lib
    kw = dict(set="pseudo", tags={"modality": "MR"})
    per_slice = choose_per_slice(lib, colin_axial, **kw)
    per_slab = choose_per_slab(lib, colin_axial, margin=4, patience=3, **kw)
    assert len(per_slab) == len(per_slice) == len(colin_axial)
    a, b = count_switches(per_slice), count_switches(per_slab)
    assert b < a, f"per-slab switches {b} not fewer than per-slice {a}"
    runs, start = [], 0
    for i in range(1, len(per_slab) + 1):
        if i == len(per_slab) or per_slab[i].path != per_slab[i - 1].path:
            runs.append(i - start)
            start = i
    assert min(runs) >= 3, f"a slab shorter than the patience: {runs}"
    # hysteresis costs little fidelity: mean distance within a few bits of the per-slice optimum
    mean_slice = np.mean([m.distance for m in per_slice])
    mean_slab = np.mean([m.distance for m in per_slab])
    assert mean_slab <= mean_slice + 3, (mean_slab, mean_slice)
    assert count_switches(choose_per_slab(lib, colin_axial, margin=64, patience=3, **kw)) == 0


def test_choose_for_volume_decides_once_by_majority(default_lib, colin_axial):
    lib, _ = default_lib
    choice = choose_for_volume(lib, iter(colin_axial), set="pseudo", tags={"modality": "MR"}, n_representative=9)
    assert len(choice.slice_indices) == 9 and 1 <= choice.votes <= 9
    assert choice.match.entry.tags["modality"] == "MR" and choice.match.path.is_file()
    again = choose_for_volume(lib, (s for s in colin_axial), set="pseudo", tags={"modality": "MR"})
    assert again == choice
    with pytest.raises(MedColorError):
        choose_for_volume(lib, [], set="pseudo")
    with pytest.raises(MedColorError):
        choose_for_volume(lib, [np.zeros((4, 8, 8), np.uint8)])


# ----------------------------------------------------------------------------- default library

def test_default_library_is_valid_with_licences(default_lib):
    lib, seconds = default_lib
    assert seconds < 30, f"build took {seconds:.1f} s"
    assert lib.skipped == []
    assert set(lib.sets()) == {"pseudo", "real"}
    assert sum(e.set == "real" for e in lib.entries) >= 2 and sum(e.set == "pseudo" for e in lib.entries) >= 20
    for e in lib.entries:
        path = lib.path_of(e)
        assert path.is_file() and Path(str(path) + ".json").is_file()
        assert e.licence and e.licence != "unknown" and e.source, e.path
        assert "/work/shared" not in e.source and "shared/data" not in e.source
        assert {"modality", "region"} <= set(e.tags), e.path
        assert e.dhash == hash_to_hex(dhash(load_reference(path))), e.path
    retina = next(e for e in lib.entries if e.path.endswith("retina.jpg"))
    assert "CC0" in retina.licence and retina.dhash == str(imagehash.dhash(Image.open(lib.path_of(retina))))
    modalities = {e.tags["modality"] for e in lib.entries if e.set == "pseudo"}
    assert {"MR", "CT"} <= modalities
    assert load_library(lib.root).entries == lib.entries
    assert index_library(lib.root).entries == lib.entries  # re-indexing keeps everything


def test_default_library_serves_a_brain_mr_slice(default_lib, data_dir):
    lib, _ = default_lib
    top = search(lib, read_gray_image(data_dir / "mri" / "itk_BrainT1Slice.png"), k=3)
    assert top[0].entry.tags["region"] == "head" and top[0].entry.tags["modality"] == "MR", top


# ----------------------------------------------------------------------------- CLI

def test_cli_search_prints_ranked_matches(ref_dir, data_dir, capsys):
    assert cli(["library", "index", str(ref_dir)]) == 0
    capsys.readouterr()
    assert cli(["library", "search", str(data_dir / "mri" / "itk_BrainT1Slice.png"),
                "--library", str(ref_dir), "-k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t") == ["rank", "distance", "set", "path"] and len(lines) == 5
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert [int(r[1]) for r in rows] == sorted(int(r[1]) for r in rows)
    assert rows[0][2] == "real" and rows[0][3].endswith("itk_VisibleWomanHeadSlice.png")

    assert cli(["library", "search", str(data_dir / "ct" / "pydicom_CT_head_J2K.dcm"),
                "--library", str(ref_dir), "--set", "pseudo"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 3 and all(r.split("\t")[2] == "pseudo" for r in rows)


def test_cli_bad_input_gives_one_line_error(ref_dir, data_dir, tmp_path, capsys):
    query = str(data_dir / "mri" / "itk_BrainT1Slice.png")
    cases = [
        ["library", "search", query, "--library", str(ref_dir)],  # not indexed yet
        ["library", "search", query, "--library", str(tmp_path / "none")],
        ["library", "search", str(tmp_path / "missing.png"), "--library", str(ref_dir)],
        ["library", "index", str(tmp_path / "none")],
        ["library", "search", query, "--library", str(ref_dir), "--tag", "modality"],
    ]
    for argv in cases:
        assert cli(argv) == 2, argv
        out = capsys.readouterr().out.strip()
        assert out.startswith("medcolor: error: ") and "\n" not in out, out
    index_library(ref_dir)
    assert cli(["library", "search", query, "--library", str(ref_dir), "--set", "cryo"]) == 2


def test_cli_build_then_search(tmp_path, data_dir, capsys):
    assert cli(["library", "build", str(tmp_path / "lib")]) == 0
    assert "built the default library" in capsys.readouterr().out
    assert cli(["library", "search", str(data_dir / "mri" / "itk_BrainT1Slice.png"),
                "--library", str(tmp_path / "lib"), "--tag", "modality=MR", "-k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_real_dispatcher_when_available(ref_dir, data_dir, capsys):
    pytest.importorskip("MedColorLib.cli.colorize")
    from MedColorLib.cli.main import dispatch

    assert dispatch(["library", "search", str(data_dir / "mri" / "itk_BrainT1Slice.png"),
                     "--library", str(ref_dir)]) == 2
    assert "medcolor: error:" in capsys.readouterr().err
    assert dispatch(["library", "index", str(ref_dir)]) == 0
