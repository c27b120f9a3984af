"""``medcolor evaluate`` (figures, report, montages) and ``medcolor finetune`` (VGG19 on medical images)."""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from pathlib import Path

from MedColorLib.cli import validate
from MedColorLib.options import DEVICES, EVALUATION_LIMITS, FINETUNE_LIMITS


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="run target/reference pairs through MedColor and the baselines; "
                       "write a JSON of figures, a Markdown report and montages")
    p.add_argument("config", help="evaluation configuration (JSON), e.g. bench/eval_default.json")
    p.add_argument("--out", default="docs", help="output folder: <out>/<name>.md, <out>/<name>/*.png, figures.json")
    p.add_argument("--name", default="evaluation", help="report name (default: evaluation)")
    p.add_argument("--weights", help="imagenet | random | PATH (overrides the configuration)")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--size", type=validate.whole("size", unit=" px"), help="optimisation size in px (paper: 224)")
    p.add_argument("--iterations", type=validate.counts, help="L-BFGS iterations of stage 1,2 (paper: 1000,1000)")
    p.add_argument("--side", type=validate.whole("side", EVALUATION_LIMITS["side"], " px"),
                   help="2-D targets: centre square resized to this many px")
    p.add_argument("--key-slices", type=validate.whole("key_slices"), help="volume mode: key slices")
    p.add_argument("--seed", type=validate.whole("seed"))
    p.add_argument("--finetuned", help="a fine-tuned VGG19 state dict: adds the paper+finetuned method")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_run_evaluate)

    f = sub.add_parser("finetune", help="adapt VGG19 so that a gray image's features match its colour original's")
    f.add_argument("--images", nargs="*", default=[], help="medical gray images (files or folders): their features "
                   "are kept close to the start network's")
    f.add_argument("--references", nargs="+", required=True, help="colour images (files or folders): gray(x) -> x")
    f.add_argument("--out", required=True, help="output state dict (.pth), loadable by --weights PATH")
    f.add_argument("--weights", default="imagenet", help="start weights: imagenet | random | PATH")
    f.add_argument("--steps", type=validate.whole("steps", FINETUNE_LIMITS["steps"]), default=200)
    f.add_argument("--size", type=validate.whole("size", FINETUNE_LIMITS["size"], " px"), default=128,
                   help="training crop size in px")
    f.add_argument("--batch", type=validate.whole("batch", FINETUNE_LIMITS["batch"]), default=4)
    f.add_argument("--lr", type=validate.number((1e-12, 1.0), "the learning rate"), default=1e-5)
    f.add_argument("--anchor", type=validate.number(FINETUNE_LIMITS["anchor"], "the anchor weight"), default=1e-3,
                   help="weight of the L2 pull toward the start weights")
    f.add_argument("--keep", type=validate.number(FINETUNE_LIMITS["keep"], "the keep weight"), default=1.0,
                   help="weight of the gray medical images' feature term")
    f.add_argument("--device", default="auto", choices=DEVICES)
    f.add_argument("--seed", type=validate.whole("seed"), default=0)
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=_run_finetune)


def _run_evaluate(args: argparse.Namespace) -> int:
    from MedColorLib.evaluation.config import load_config
    from MedColorLib.evaluation.runner import run_evaluate_logged
    overrides = {"weights": args.weights, "device": args.device, "size": args.size, "side": args.side,
                 "iterations": list(args.iterations) if args.iterations else None, "key_slices": args.key_slices,
                 "seed": args.seed, "finetuned": args.finetuned}
    config = load_config(args.config, overrides)
    validate.require_device(config["settings"].device)
    check_report_place(config, args.out, args.name)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    command = "medcolor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["evaluate"] else \
        f"medcolor evaluate {args.config}"
    paths = run_evaluate_logged(config, args.out, args.name, command, log)
    print(f"wrote {paths['markdown']}, {paths['json']} and montages in {paths['folder']}")
    return 0


def check_report_place(config: dict, out: str, name: str) -> None:
    """--name is a plain file name, and <out>/<name>.md and <out>/<name>/ hold none of the evaluation's inputs
    (the report and its montages would replace them)."""
    from MedColorLib.errors import MedColorError
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise MedColorError(f"--name {name!r} must be a plain file name (letters, digits, '.', '_', '-')")
    if Path(out).exists() and not Path(out).is_dir():
        raise MedColorError(f"--out {out} is not a folder; give a folder for the report (created when missing)")
    markdown, folder = (Path(out) / f"{name}.md").resolve(), (Path(out) / name).resolve()
    entries = config["pairs"] + config["volumes"]
    inputs = [Path(config["source"])] + [e[k] for e in entries for k in ("target", "reference")]
    for path in inputs:
        real = Path(path).resolve()
        if real == markdown or real == folder or folder in real.parents:
            raise MedColorError(f"--out {out} --name {name} would write over the input {path}; choose another place")


def _run_finetune(args: argparse.Namespace) -> int:
    from MedColorLib.training.finetune import FinetuneSettings, finetune_files
    validate.require_device(args.device)
    t0 = time.perf_counter()
    settings = FinetuneSettings(weights=args.weights, steps=args.steps, size=args.size, batch=args.batch, lr=args.lr,
                                anchor=args.anchor, keep=args.keep, device=args.device, seed=args.seed)
    report = lambda s, n, loss: None if args.quiet else print(f"step {s}/{n}: loss {loss:.4g}", file=sys.stderr)  # noqa: E731
    result = finetune_files(args.images, args.references, args.out, settings, progress=report)
    print(f"wrote {args.out}: loss {result.losses[0]:.4g} -> {result.losses[-1]:.4g} over {len(result.losses)} "
          f"steps in {time.perf_counter() - t0:.0f} s (start weights: {result.start_label})")
    return 0
