"""Command-line values checked while argparse parses them, against the ranges of ``options.LIMITS``: a bad
value is one line in argparse's own form (``medcolor: error: argument --size: ...``) before anything is
read or computed. Every command that takes engine options (colorize, demo, batch, evaluate, finetune) uses
these types; ``check_args`` re-checks a parsed namespace for commands that build one by hand."""

from __future__ import annotations

import argparse
import math
from typing import Callable

from MedColorLib.errors import MedColorError
from MedColorLib.options import LIMITS, shown_range


def whole(name: str, limits: tuple[float, float] | None = None, unit: str = "") -> Callable[[str], int]:
    """argparse type: an integer within ``limits`` (default LIMITS[name])."""
    low, high = limits or LIMITS[name]

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range {shown_range(low, high)}{unit}")
        return value

    parse.__name__ = "int"
    return parse


def number(limits: tuple[float, float], what: str = "") -> Callable[[str], float]:
    """argparse type: a finite real number within ``limits`` (``what`` names it in the message)."""
    low, high = limits

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what or 'the value'} must be a finite number, got {text!r}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what or 'the value'} {value:g} is out of range "
                                             f"{shown_range(low, high)}")
        return value

    parse.__name__ = "float"
    return parse


def counts(text: str) -> tuple[int, int]:
    """argparse type of --iterations: two whole numbers 'STAGE1,STAGE2' within LIMITS['iterations']."""
    low, high = LIMITS["iterations"]
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(low <= v <= high for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give two whole numbers {shown_range(low, high)} like 1000,1000 "
                                         "(stage 1, stage 2)")
    return values


def window(text: str) -> str:
    """argparse type of --window: LOW,HIGH or a preset name, as prepare.parse_window takes it."""
    from MedColorLib.prepare import parse_window
    try:
        parse_window(text)
    except MedColorError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def require_device(name: str) -> None:
    """--device cuda without a CUDA GPU is refused before any work, in every mode (preview too)."""
    if name == "cuda":
        from MedColorLib.engine.device import resolve_device
        resolve_device(name)
