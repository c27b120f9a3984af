"""Rows of the failure table (test_failures.CASES) added by issue 23: the second hostile round (first block, the
issue's list) and our own pass over the same families (second block). Each row: argv builder -> the words the
one error line must hold (a tuple: all of them; the file's name is among them where it is known)."""

from __future__ import annotations

from pathlib import Path

import hostile_builders as hb
from hostile_builders import CT, REF, T1

PREVIEW = ["--reference", str(REF), "--mode", "preview", "--weights", "random", "--quiet"]
FAST_2D = ["--reference", str(REF), "--weights", "random", "--size", "64", "--iterations", "2,2", "--quiet"]


def o(t: Path, name: str = "o.nrrd") -> str:
    return str(t / "out" / name)


def ct(t: Path) -> str:
    import shutil
    return str(shutil.copy(CT, t / "in" / "ct.nii.gz"))


def t1(t: Path) -> str:
    import shutil
    return str(shutil.copy(T1, t / "in" / "t1.png"))


def colorize(source: Path | str, t: Path, *extra: str) -> list[str]:
    return ["colorize", str(source), "-o", o(t), *PREVIEW, *extra]


def evaluate(t: Path, **changes) -> list[str]:
    return ["evaluate", str(hb.config(t, **changes)), "--out", str(t / "out" / "ev"), "--quiet"]


def finetune(t: Path, *extra: str) -> list[str]:
    return ["finetune", "--references", str(REF), "--out", o(t, "w.pth"), "--steps", "1", "--quiet", *extra]


ISSUE = {
    # data loss: destinations against the files a header points to
    "nhdr-data-file-is-the-output": (lambda t: ["colorize", str(hb.nhdr(t, "victim.nrrd")), "-o",
                                                str(t / "in" / "victim.nrrd"), *PREVIEW], ("data file", "victim.nrrd")),
    "mhd-data-file-is-the-preview": (lambda t: colorize(hb.mhd(t, "victim.png"), t, "--preview", str(t / "in" / "victim.png")),
                                     ("data file", "victim.png")),
    "nhdr-list-file-is-the-output": (lambda t: ["colorize", str(hb.nhdr_list(t)), "-o", str(t / "in" / "s07.nrrd"),
                                                *PREVIEW], ("data file", "s07.nrrd")),
    "nhdr-pattern-file-is-the-output": (lambda t: ["colorize", str(hb.nhdr_pattern(t)), "-o", str(t / "in" / "p29.nrrd"),
                                                   *PREVIEW], ("data file", "p29.nrrd")),
    "mhd-list-file-is-the-report": (lambda t: colorize(hb.mhd_list(t), t, "--report", str(t / "in" / "m03.json")),
                                    ("data file", "m03.json")),
    # hangs: anything that is not a regular file is refused before it is opened
    "fifo-input": (lambda t: colorize(hb.fifo(t, "pipe.dcm"), t), ("FIFO", "pipe.dcm")),
    "fifo-input-no-suffix": (lambda t: colorize(hb.fifo(t, "pipe"), t), ("FIFO", "pipe")),
    "fifo-in-dicom-folder": (lambda t: colorize(hb.dicom_series(t, "fifo"), t), ("FIFO", "pipe.dcm")),
    # tracebacks: values the parser used to accept
    "seed-negative": (lambda t: colorize(ct(t), t, "--seed", "-1"), ("--seed", "out of range 0..4294967295")),
    "seed-2-to-the-32": (lambda t: colorize(ct(t), t, "--seed", "4294967296"), ("--seed", "out of range")),
    "size-32": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), *FAST_2D, "--size", "32"], ("--size", "48..2048")),
    "size-47": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), *FAST_2D, "--size", "47"], ("--size", "48..2048")),
    "size-a-million": (lambda t: colorize(ct(t), t, "--size", "1000000"), ("--size", "out of range")),
    "float64-1e39": (lambda t: colorize(hb.beyond_float32(t, 1e39), t), ("f.nii.gz", "float32", "1e+39")),
    "float64-1e300": (lambda t: colorize(hb.beyond_float32(t, 1e300), t), ("f.nii.gz", "float32", "1e+300")),
    "window-1e-39-wide": (lambda t: colorize(ct(t), t, "--window", "0,1e-39"), ("--window", "float32")),
    "evaluate-settings-a-list": (lambda t: evaluate(t, settings=[1, 2]), ("settings", "an object")),
    "evaluate-size-a-string": (lambda t: evaluate(t, settings={"size": "64"}), ("settings.size", "whole number")),
    "evaluate-iterations-an-int": (lambda t: evaluate(t, settings={"iterations": 5}), ("settings.iterations",)),
    "evaluate-iterations-strings": (lambda t: evaluate(t, settings={"iterations": ["a", "b"]}), ("settings.iterations",)),
    "evaluate-pairs-an-int": (lambda t: evaluate(t, pairs=3), ("pairs", "a list")),
    "evaluate-pairs-strings": (lambda t: evaluate(t, pairs=["a", "b"]), ("pairs[0]", "an object")),
    "evaluate-root-an-int": (lambda t: evaluate(t, root=5), ("root", "a string")),
    "evaluate-ablations-a-string": (lambda t: evaluate(t, ablations="all"), ("ablations", "an object")),
    "evaluate-volume-slices-one-value": (lambda t: evaluate(t, volumes=[{"name": "v", "modality": "CT", "target": str(CT),
                                                                       "reference": str(REF), "slices": 5}]),
                                         ("volumes[0].slices", "two whole numbers")),
    "evaluate-size-nan": (lambda t: evaluate(t, settings={"size": float("nan")}), ("settings.size", "NaN")),
    "evaluate-k-4.5": (lambda t: evaluate(t, settings={"k": 4.5}), ("settings.k", "whole number")),
    "evaluate-seed-negative": (lambda t: evaluate(t, settings={"seed": -1}), ("settings.seed", "0..4294967295")),
    "finetune-lr-nan": (lambda t: finetune(t, "--lr", "nan"), ("--lr", "finite")),
    "finetune-size-100000": (lambda t: finetune(t, "--size", "100000"), ("--size", "32..1024")),
    # wrong output with exit 0: damaged payloads and series are refused
    "gzip-nrrd-bytes-flipped": (lambda t: colorize(hb.flipped(t, "gz.nrrd"), t), ("gz.nrrd", "damaged")),
    "compressed-mha-bytes-flipped": (lambda t: colorize(hb.flipped(t, "c.mha"), t), ("c.mha", "damaged")),
    "dicom-slice-without-pixels": (lambda t: colorize(hb.dicom_series(t, "nopixel"), t), ("no complete pixel data",)),
    "dicom-slice-truncated": (lambda t: colorize(hb.dicom_series(t, "truncated"), t), ("not a readable DICOM slice",
                                                                                      "cut off")),
    "dicom-slice-duplicated": (lambda t: colorize(hb.dicom_series(t, "duplicate"), t), ("same position", "zz_copy.dcm")),
    "dicom-slice-missing": (lambda t: colorize(hb.dicom_series(t, "gap"), t), ("not evenly spaced", "not resampled")),
    "dicom-slice-other-orientation": (lambda t: colorize(hb.dicom_series(t, "orientation"), t), ("another orientation",)),
    "sheared-nrrd-to-nifti": (lambda t: ["colorize", str(hb.sheared_nrrd(t)), "-o", o(t, "o.nii.gz"), *PREVIEW],
                              ("not perpendicular", "write .nrrd")),
    "nan-weights-file": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), *FAST_2D[:2], "--weights",
                                    str(hb.nan_weights(t)), "--size", "64", "--iterations", "1,1", "--quiet"],
                         ("nan.pth", "NaN or infinite")),
    "nan-weights-import": (lambda t: ["weights", "import", str(hb.nan_weights(t)), "--name", "nan_issue23"],
                           ("nan.pth", "NaN or infinite")),
    "dicom-2d-rescale-slope-0": (lambda t: ["colorize", str(hb.dicom_slice(t, RescaleSlope=0)), "-o", o(t, "c.png"),
                                            *FAST_2D], ("slice.dcm", "RescaleSlope 0")),
    "constant-8-bit-png": (lambda t: ["colorize", str(hb.constant_png(t)), "-o", o(t, "c.png"), *FAST_2D],
                           ("flat.png", "constant")),
    "preview-for-a-2d-input": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), *FAST_2D, "--preview", o(t, "p.png")],
                               ("--preview", "2-D")),
    # several lines before: now one
    "nifti-datatype-binary": (lambda t: colorize(hb.nifti_datatype(t, 1), t), ("dt1.nii", "datatype 1")),
    "truncated-mha": (lambda t: colorize(hb.truncated_file(t, "cut.mha", False), t), ("cut.mha", "truncated")),
    "compressed-garbage-mha": (lambda t: colorize(hb.garbage_mha(t), t), ("garbage.mha", "damaged")),
    "mhd-without-its-data-file": (lambda t: colorize(hb.mhd_without_data(t), t), ("alone.raw", "does not exist")),
    "newline-in-the-input-name": (lambda t: colorize(hb.truncated_file(t, "new\nline.mha", False), t),
                                  ("new\\nline.mha", "truncated")),
    "cuda-in-preview-without-gpu": (lambda t: colorize(ct(t), t, "--device", "cuda"), ("cuda", "no CUDA GPU")),
}

OWN = {
    # headers pointing at what must never be read
    "nhdr-data-file-a-fifo": (lambda t: colorize(hb.nhdr_special_data(t, "fifo"), t), ("pipe.raw", "FIFO")),
    "nhdr-data-file-a-device": (lambda t: colorize(hb.nhdr_special_data(t, "device"), t), ("/dev/zero", "character device")),
    "nhdr-data-file-itself": (lambda t: colorize(hb.nhdr_special_data(t, "itself"), t), ("itself.nhdr", "itself")),
    "nrrd-declaring-a-petabyte": (lambda t: colorize(hb.huge_nrrd(t), t), ("huge.nrrd", "truncated")),
    "gzip-nrrd-truncated": (lambda t: colorize(hb.truncated_file(t, "cut.nrrd", True), t), ("cut.nrrd", "ends early")),
    "raw-nrrd-truncated": (lambda t: colorize(hb.truncated_file(t, "raw.nrrd", False), t), ("raw.nrrd", "truncated")),
    # non-regular files elsewhere
    "fifo-reference": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), "--reference", str(hb.fifo(t, "ref.png")),
                                  "--weights", "random", "--quiet"], ("ref.png", "FIFO")),
    "fifo-weights": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), *FAST_2D[:2], "--weights",
                                str(hb.fifo(t, "w.pth")), "--quiet"], ("w.pth", "FIFO")),
    "fifo-evaluate-config": (lambda t: ["evaluate", str(hb.fifo(t, "cfg.json")), "--out", str(t / "out" / "ev")],
                             ("cfg.json", "FIFO")),
    "fifo-search-image": (lambda t: ["library", "search", str(hb.fifo(t, "q.png")), "--library", str(hb.empty_library(t))],
                          ("q.png", "FIFO")),
    "fifo-weights-import": (lambda t: ["weights", "import", str(hb.fifo(t, "w.pth"))], ("w.pth", "FIFO")),
    "fifo-finetune-reference": (lambda t: ["finetune", "--references", str(hb.fifo(t, "r.png")), "--out", o(t, "w.pth")],
                                ("r.png", "FIFO")),
    "broken-link-in-dicom-folder": (lambda t: colorize(hb.dicom_series(t, "broken-link"), t), ("link.dcm", "broken")),
    "dicom-series-rescale-slope-0": (lambda t: colorize(hb.dicom_series(t, "slope0"), t), ("RescaleSlope 0",)),
    # data loss in other commands
    "finetune-out-is-an-input": (lambda t: ["finetune", "--references", str(hb.dicom_slice(t, "r.pth")),
                                            "--out", str(t / "in" / "r.pth"), "--steps", "1"], ("--out", "input")),
    "finetune-out-not-pth": (lambda t: finetune(t)[:4] + [o(t, "w.png")], ("--out", ".pth")),
    # values out of range or of the wrong kind
    "match-weight-inf": (lambda t: colorize(ct(t), t, "--match-weight", "inf"), ("--match-weight", "finite")),
    "window-beyond-float32": (lambda t: colorize(ct(t), t, "--window", "1e39,1e40"), ("--window", "float32")),
    "values-in-a-denormal-range": (lambda t: colorize(hb.denormal_range(t), t), ("f.nii.gz", "float32", "rescale")),
    "iterations-three-values": (lambda t: colorize(ct(t), t, "--iterations", "1,2,3"), ("--iterations", "two whole")),
    "k-zero": (lambda t: colorize(ct(t), t, "--k", "0"), ("--k", "2..16")),
    "key-slices-zero": (lambda t: colorize(ct(t), t, "--key-slices", "0"), ("--key-slices",)),
    "evaluate-config-nested-deep": (lambda t: ["evaluate", str(hb.deep_json(t)), "--out", str(t / "out" / "ev")],
                                    ("deep.json", "nests")),
    "evaluate-window-beyond-float32": (lambda t: evaluate(t, volumes=[{"name": "v", "modality": "CT", "target": str(CT),
                                                                     "reference": str(REF), "window": [0, 1e-39]}]),
                                       ("volumes[0].window", "float32")),
    "evaluate-ground-truth-crop-strings": (lambda t: evaluate(t, ground_truth={"pairs": [
        {"name": "g", "kind": "real", "truth": {"image": str(REF), "crop": ["a", 0, 1, 1]}, "reference": {"image": str(REF)}}]}),
        ("ground_truth.pairs[0].truth.crop[0]", "finite number")),
    "evaluate-method-iterations-negative": (lambda t: evaluate(t, ground_truth={"pairs": [], "methods": [
        {"label": "m", "iterations": [-1, 2]}]}), ("ground_truth.methods[0].iterations[0]",)),
    "evaluate-report-over-its-config": (lambda t: ["evaluate", str(hb.config(t)), "--out", str(t / "in"), "--name",
                                                   "cfg.json", "--quiet"], ("cfg.json", "input")),
    "evaluate-name-escapes-the-folder": (lambda t: ["evaluate", str(hb.config(t)), "--out", str(t / "out"), "--name",
                                                    "../../x", "--quiet"], ("--name", "plain file name")),
    "evaluate-out-is-a-file": (lambda t: ["evaluate", str(hb.config(t)), "--out", str(hb.constant_png(t)), "--quiet"],
                               ("--out", "not a folder")),
    # options that only volumes use, given for a 2-D image
    "window-for-a-2d-input": (lambda t: ["colorize", t1(t), "-o", o(t, "c.png"), *FAST_2D, "--window", "0,100"],
                              ("--window", "2-D")),
    "series-for-a-nifti-input": (lambda t: colorize(ct(t), t, "--series", "2"), ("--series", "DICOM")),
    # NIfTI-1 cannot hold more than 32767 voxels along an axis
    "nifti-output-axis-over-32767": (lambda t: ["colorize", str(hb.long_nrrd(t)), "-o", o(t, "o.nii.gz"), *PREVIEW],
                                     ("32767", "write .nrrd")),
}
