"""The batch speaks ``medcolor colorize``: it takes colorize's own options (copied from colorize's parser) and
runs each volume as the colorize command line it would be, parsed by colorize's parser on the worker."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from MedColorLib.errors import MedColorError
from MedColorLib.options import Options

# set by the batch for each volume, so not batch options
PER_VOLUME = ("input", "output", "preview", "report", "quiet", "help")
PATH_OPTIONS = ("reference", "library")   # made absolute: a worker on another machine has another cwd


class _RaisingParser(argparse.ArgumentParser):
    """argparse whose errors are MedColorErrors (a volume's options are checked before any work starts)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise MedColorError(message)


def colorize_parser() -> argparse.ArgumentParser:
    """The real ``medcolor colorize`` parser (its errors raise MedColorError)."""
    from MedColorLib.cli import colorize as cli_colorize
    sub = _RaisingParser(prog="medcolor").add_subparsers()
    cli_colorize.add_commands(sub)
    return sub.choices["colorize"]


def shared_actions() -> list[argparse.Action]:
    """colorize's options that apply to every volume of a batch (all but input, outputs and --quiet)."""
    return [a for a in colorize_parser()._actions if a.dest not in PER_VOLUME]


def add_colorize_options(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` colorize's shared options (same names, defaults, choices and help), kept as the text
    given: colorize's parser checks and converts them for each volume (check_shared, parse_volume)."""
    group = parser.add_argument_group("options of `medcolor colorize`, applied to every volume")
    for action in shared_actions():
        raw = copy.copy(action)
        raw.type, raw.required = None, False     # a manifest row may bring its own reference
        group._add_action(raw)


def option_tokens(args: argparse.Namespace, actions: list[argparse.Action]) -> dict[str, list[str]]:
    """The options given on the batch command line, as colorize tokens by destination."""
    tokens: dict[str, list[str]] = {}
    for action in actions:
        value = getattr(args, action.dest, action.default)
        if value is None or value is action.default:
            continue
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:
            tokens[action.dest] = [flag]
        else:
            if action.dest in PATH_OPTIONS or (action.dest == "weights" and Path(value).exists()):
                value = str(Path(value).absolute())
            tokens[action.dest] = [f"{flag}={value}"]
    return tokens


def volume_argv(inp: Path, output: Path, preview: Path, report: Path, tokens: dict[str, list[str]]) -> tuple[str, ...]:
    """One volume's colorize command line (without the word ``colorize``)."""
    options = [t for dest in sorted(tokens) for t in tokens[dest]]
    return (f"--output={output}", f"--preview={preview}", f"--report={report}", "--quiet", *options, "--", str(inp))


def check_shared(tokens: dict[str, list[str]]) -> argparse.Namespace:
    """The batch's own options parsed by colorize's parser, as for a volume (MedColorError on a bad one)."""
    return parse_volume(volume_argv(Path("volume.nii"), Path("out.nrrd"), Path("out.png"), Path("out.json"), tokens))


def parse_volume(argv: tuple[str, ...] | list[str]) -> argparse.Namespace:
    """A volume's colorize command line parsed by colorize's parser (MedColorError on a bad option)."""
    return colorize_parser().parse_args(list(argv))


def accepts(dest: str) -> bool:
    """Whether this medcolor's colorize has the option ``dest`` (e.g. ``region``)."""
    return any(a.dest == dest for a in colorize_parser()._actions)


def client_options(args: argparse.Namespace, remote: bool) -> Options:
    """colorize's checks of a volume's options (``complete_args``), run by the client before any work. With
    remote workers (--scheduler) a GPU is theirs to have, not the client's: --device cuda is checked there."""
    from MedColorLib.cli.colorize import complete_args
    device = args.device
    if remote and device == "cuda":
        args.device = "auto"
    options = complete_args(args)
    args.device = options.device = device
    return options
