"""``medcolor weights import FILE [--name NAME]`` and ``medcolor weights list``: the network weights MedColor can use."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="import VGG16/VGG19 weights (state dict, ONNX, tensorflow-vgg .npy) or list them")
    commands = p.add_subparsers(dest="weights_command", required=True)
    imp = commands.add_parser("import", help="convert and check a weights file once; use it later as --weights NAME")
    imp.add_argument("file", help="torch state dict (.pth/.pt), ONNX export (.onnx) or tensorflow-vgg vgg19.npy")
    imp.add_argument("--name", help="name to use with --weights (default: the file's stem)")
    imp.add_argument("--preprocess", choices=("caffe", "torchvision"),
                     help="input convention of the weights (default: by format: .npy and NHWC ONNX caffe, else torchvision)")
    imp.set_defaults(func=_run_import)
    ls = commands.add_parser("list", help="the weights available here: architecture, preprocessing, source, cache path")
    ls.set_defaults(func=_run_list)


def _run_import(args: argparse.Namespace) -> int:
    from MedColorLib.engine.weights import import_file
    note = import_file(Path(args.file), args.name, args.preprocess)
    print(f"imported {args.file} as {note['name']!r}: {note['architecture']}, {note['preprocessing']} preprocessing, "
          f"{note['path']} (use --weights {note['name']})")
    return 0


def available() -> list[dict[str, str]]:
    """One row per weights choice: name, status, architecture, preprocessing, source, path (no network, no conversion)."""
    from MedColorLib.errors import MedColorError
    from MedColorLib.engine import weights as w
    cached = w.imagenet_cached()
    rows = [{"name": "imagenet", "status": "cached" if cached else "downloaded on first use (needs internet)",
             "architecture": "vgg19", "preprocessing": "torchvision",
             "source": "torchvision VGG19_Weights.IMAGENET1K_V1", "path": str(cached or "")}]
    try:
        onnx_path, version = w.medical_onnx()
        note = w.read_sidecar("medical")
        rows.append({"name": "medical", "status": "converted" if note else "converted on first use",
                     "architecture": "vgg16", "preprocessing": "caffe",
                     "source": f"{w.MEDICAL_PACKAGE} {version} {onnx_path}", "path": str(note["path"]) if note else ""})
    except MedColorError:
        rows.append({"name": "medical", "status": f"not installed: {w.INSTALL_MEDICAL}", "architecture": "vgg16",
                     "preprocessing": "caffe", "source": w.MEDICAL_PACKAGE, "path": ""})
    folder = w.cache_dir()
    for sidecar in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        note = w.read_sidecar(sidecar.stem)
        if note and sidecar.stem != "medical":
            rows.append({"name": sidecar.stem, "status": "imported", "architecture": str(note.get("architecture")),
                         "preprocessing": str(note.get("preprocessing")), "source": str(note.get("source")),
                         "path": str(note.get("path"))})
    rows.append({"name": "random", "status": "tests of the mechanics only", "architecture": "vgg19 (random:vgg16)",
                 "preprocessing": "torchvision", "source": "seeded torchvision initialisation", "path": ""})
    return rows


def _run_list(args: argparse.Namespace) -> int:
    for row in available():
        print(f"{row['name']:10s} {row['architecture']:8s} {row['preprocessing']:11s} {row['status']}")
        print(f"{'':10s} source: {row['source']}" + (f"\n{'':10s} path:   {row['path']}" if row["path"] else ""))
    print("auto (the default) = imagenet when cached or downloadable, else medical")
    return 0
