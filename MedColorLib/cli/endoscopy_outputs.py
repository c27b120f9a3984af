"""The outputs of ``medcolor endoscopy``, written in one transaction: the movie, the contact sheet, the numbered
colour frames and the path (all or none)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from MedColorLib.io.atomic import transaction


def write_outputs(args: argparse.Namespace, frames: dict[str, np.ndarray], points_ras: np.ndarray) -> list[Path]:
    """Write every requested output; a failure leaves none of them (and removes a frames folder it made)."""
    from MedColorLib.cli.movie import contact_sheet, side_by_side, write_movie
    from MedColorLib.io.pictures import write_image_2d
    from MedColorLib.io.points import write_points

    colour = list(frames["colour"])
    shown = [side_by_side(c, g) for c, g in zip(colour, frames["gray"])] if "gray" in frames else colour
    folder = Path(args.frames_dir) if args.frames_dir else None
    made_folder = folder is not None and not folder.exists()
    written = [Path(args.output)]
    try:
        with transaction():
            write_movie(args.output, shown, args.fps)
            if args.contact_sheet:
                write_image_2d(args.contact_sheet, contact_sheet(shown, columns=4 if "gray" in frames else None))
                written.append(Path(args.contact_sheet))
            if folder is not None:
                folder.mkdir(exist_ok=True)
                for n, frame in enumerate(colour, 1):
                    write_image_2d(folder / f"frame_{n:04d}.png", frame)
                written.append(folder)
            if args.path_out:
                write_points(args.path_out, points_ras, {"path": str(args.path), "frames": len(colour)})
                written.append(Path(args.path_out))
    except BaseException:
        if made_folder and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    print("wrote " + " and ".join(str(p) for p in written))
    return written
