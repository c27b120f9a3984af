"""Virtual endoscopy figures and pictures (issue 18), measured in one run. Prints JSON, writes PNGs.

Colours every scan first (``medcolor colorize``'s volume path: library retrieval, the trained medical VGG16,
correspondence only, ``--iterations 0,0``), then renders with headless Slicer (slicer-core, offscreen):
- chest CT: 5 stations trachea -> carina -> left main bronchus on the automatic airway path, 400x400, 80 deg;
- abdomen CTs (3 mm NIfTI, DICOM series): 5 stations along the automatic colon path;
each frame once from the colour render volume and once from the gray scan (flesh colour, same ramp, lit) from
the same camera. Figures per frame (metrics/render.py): opaque fraction, mean L*, hue angle and chroma of the
mean colour, stripes (mean |Laplacian of L*| after a 0.7 px Gaussian) and its ratio to the gray frame's.
Pictures (chest CT): ``endoscopy_frame.png`` (colour | gray, the carina station) and ``endoscopy_external.png``
(colour | gray, anterior view, endoscopy preset = the air/skin surface).

    python bench/endoscopy_figures.py --library LIB --out docs [--weights medical] [--size 400]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
SCANS = {"chest CT (airway)": ("ct/itkelastix_chest_ct_phase00.nii.gz", "airway"),
         "abdomen CT 3 mm (colon)": ("ct/totalseg_example_ct_sm.nii.gz", "colon"),
         "abdomen CT DICOM (colon)": ("ct/totalseg_example_ct_dicom", "colon")}
ACCEPT = {"opaque": 0.97, "mean_L": 45.0, "hue_deg": (0.0, 50.0), "chroma": 15.0, "stripes_ratio": 1.25}


def colour(volume, library: str, weights: str):
    from MedColorLib.options import Options
    from MedColorLib.pipeline.volume import colorize_volume
    result = colorize_volume(volume, Options(mode="volume", weights=weights, iterations=(0, 0)), library=library)
    return result.rgba, result.report


def stations(volume, kind: str, frames: int):
    from MedColorLib.pipeline.flythrough import cameras_along
    from MedColorLib.pipeline.lumen_path import find_path
    path = find_path(volume, kind)
    points = path.points_ras
    if kind == "airway":
        points = points[: path.segments["left main bronchus"][1] + 1]
    return cameras_along(points, frames, 80.0), path


def passes(f: dict) -> bool:
    return (f["opaque"] >= ACCEPT["opaque"] and f["mean_L"] >= ACCEPT["mean_L"] and f["chroma"] >= ACCEPT["chroma"]
            and f["hue_deg"] is not None and ACCEPT["hue_deg"][0] <= f["hue_deg"] <= ACCEPT["hue_deg"][1]
            and f["stripes_ratio"] <= ACCEPT["stripes_ratio"])


def measure(name: str, rel: str, kind: str, args) -> tuple[dict, dict]:
    from MedColorLib.io.volumes import read_volume
    from MedColorLib.metrics.render import frame_figures
    from MedColorLib.pipeline.render3d import preset_for, render_volume
    from MedColorLib.slicer import endoscopy, scene
    from MedColorLib.slicer.render_job import scalar_node
    from MedColorLib.slicer import mrml

    volume = read_volume(DATA / rel)
    t0 = time.perf_counter()
    rgba, report = colour(volume, args.library, args.weights)
    t1 = time.perf_counter()
    render = render_volume(volume, rgba, preset_for(volume, "endoscopy"))
    t2 = time.perf_counter()
    cameras, path = stations(volume, kind, args.frames)
    app = scene.create_headless_slicer()
    scan = scalar_node(app, volume, "scan")
    node = mrml.create_color_node(app.scene, render, scan, "colour 3-D")
    size = (args.size, args.size)
    colour_frames = endoscopy.render_frames(app, scan, node, cameras, size=size)
    gray_frames = endoscopy.render_frames(app, scan, node, cameras, size=size, gray=True)
    rows = []
    for c, g in zip(colour_frames, gray_frames):
        f, fg = frame_figures(c), frame_figures(g)
        f["stripes_gray"] = fg["stripes"]
        f["stripes_ratio"] = f["stripes"] / fg["stripes"]
        f["passes"] = passes(f)
        rows.append({k: (round(v, 3) if isinstance(v, float) else v) for k, v in f.items()})
    out = {"scan": rel, "path": kind, "reference": report.get("reference", {}).get("path"),
           "network": report.get("network"), "colour_seconds": round(t1 - t0, 1),
           "render_volume_seconds": round(t2 - t1, 1), "path_points": len(path.points_ras), "stations": rows,
           "all_pass": all(r["passes"] for r in rows)}
    pictures = {"colour": colour_frames, "gray": gray_frames, "app": app, "scan": scan, "node": node}
    return out, pictures


def write_pictures(pictures: dict, out: Path, station: int) -> list[str]:
    from PIL import Image

    from MedColorLib.cli.movie import side_by_side
    from MedColorLib.slicer import scene, volume_rendering

    frame = side_by_side(pictures["colour"][station], pictures["gray"][station], gap=6)
    Image.fromarray(frame).save(out / "endoscopy_frame.png")
    app, scan, node = pictures["app"], pictures["scan"], pictures["node"]
    colour_display = volume_rendering.show_colour_3d(node, "endoscopy", app.volume_rendering_logic)
    outside = scene.render_3d(app, size=(420, 420), view_direction="anterior")
    colour_display.SetVisibility(False)
    gray_display = volume_rendering.show_gray_3d(scan, "endoscopy", app.volume_rendering_logic)
    outside_gray = scene.render_3d(app, size=(420, 420), view_direction="anterior")
    gray_display.SetVisibility(False)
    Image.fromarray(side_by_side(outside, outside_gray, gap=6)).save(out / "endoscopy_external.png")
    return ["endoscopy_frame.png", "endoscopy_external.png"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True, help="reference library (medcolor library build LIB)")
    parser.add_argument("--weights", default="medical")
    parser.add_argument("--out", default="docs", help="folder for the pictures and endoscopy_figures.json")
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--sheets", help="also write every scan's frames (colour over gray) as PNG sheets here")
    parser.add_argument("--scans", default=",".join(SCANS), help="which scans (comma-separated names)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {"acceptance": ACCEPT, "size": args.size, "view_angle": 80.0, "preset": "endoscopy", "scans": {}}
    for name, (rel, kind) in SCANS.items():
        if name not in args.scans.split(","):
            continue
        figures["scans"][name], pictures = measure(name, rel, kind, args)
        if args.sheets:
            from PIL import Image
            sheet = np.concatenate([np.concatenate(pictures[k], axis=1) for k in ("colour", "gray")], axis=0)
            Image.fromarray(sheet).save(Path(args.sheets) / f"sheet_{kind}_{len(figures['scans'])}.png")
        if kind == "airway":
            figures["pictures"] = write_pictures(pictures, out, station=args.frames - 2)
    (out / "endoscopy_figures.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
