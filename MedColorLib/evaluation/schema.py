"""Every value of an evaluation configuration checked for type, finiteness and range before any work: one
line naming the key (``volumes[1].slices must be two whole numbers [start, stop], got 5``). The sections
are those of evaluation.config; the ground_truth section's own rules are in evaluation.ground_truth."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace

from MedColorLib.baselines.transfers import BASELINES
from MedColorLib.errors import MedColorError
from MedColorLib.options import DEVICES, EVALUATION_LIMITS, LIMITS, MODES, LossWeights, Options, shown_range

VOLUME_MODES = MODES
_OPTION_FIELDS = {f.name for f in fields(Options)}
_LOSS_FIELDS = {f.name for f in fields(LossWeights)}


def fail(where: str, expected: str, value) -> None:
    """Raise the one-line error: ``where must be expected, got value``."""
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    raise MedColorError(f"{where} must be {expected}, got {shown if len(shown) <= 60 else shown[:57] + '...'}")


def string(where: str, value, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str) or (choices and value not in choices):
        fail(where, f"one of {', '.join(choices)}" if choices else "a string", value)
    return value


def flag(where: str, value) -> bool:
    if not isinstance(value, bool):
        fail(where, "true or false", value)
    return value


def whole(where: str, value, limits: tuple[float, float]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not limits[0] <= value <= limits[1]:
        fail(where, f"a whole number {shown_range(*limits)}", value)
    return value


def number(where: str, value, limits: tuple[float, float] = (-math.inf, math.inf)) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not limits[0] <= value <= limits[1]:
        fail(where, "a finite number" + ("" if limits == (-math.inf, math.inf) else f" {shown_range(*limits)}"), value)
    return float(value)


def items(where: str, value, kind: str = "list") -> list:
    if not isinstance(value, list):
        fail(where, f"a {kind}", value)
    return value


def obj(where: str, value) -> dict:
    if not isinstance(value, dict):
        fail(where, "an object", value)
    return value


def pair_of_wholes(where: str, value, limits: tuple[float, float]) -> list[int]:
    if not isinstance(value, list) or len(value) != 2:
        fail(where, f"two whole numbers {shown_range(*limits)}", value)
    return [whole(f"{where}[{n}]", v, limits) for n, v in enumerate(value)]


# ------------------------------------------------------------------------------------------- sections

def check_top(config: dict) -> None:
    """The top-level keys' types (their contents are checked by the functions below)."""
    for key in ("root", "description", "name"):
        if key in config:
            string(key, config[key])
    for key in ("methods", "pairs", "volumes", "notes"):
        if key in config:
            items(key, config[key])
    for key in ("settings", "ablations", "warm_start", "ground_truth"):
        if config.get(key) is not None:
            obj(key, config[key])


def check_settings(raw: dict) -> None:
    """Types and ranges of the settings (unknown keys are refused by evaluation.config)."""
    checks = {"weights": lambda w, v: string(w, v), "device": lambda w, v: string(w, v, DEVICES),
              "iterations": lambda w, v: pair_of_wholes(w, v, LIMITS["iterations"]),
              "postfilter": flag, "finetuned": lambda w, v: v is None or string(w, v)}
    for key, value in raw.items():
        where = f"settings.{key}"
        if key in checks:
            checks[key](where, value)
        elif key in LIMITS or key in EVALUATION_LIMITS:
            whole(where, value, LIMITS.get(key) or EVALUATION_LIMITS[key])


def check_entry(where: str, raw, kind: str) -> None:
    """A pair or volume entry: names and paths are strings; a volume's crop, stride, window and modes."""
    obj(where, raw)
    for key in ("name", "modality", "target", "reference", "reference_kind"):
        if key in raw:
            string(f"{where}.{key}", raw[key])
    if kind != "volume":
        return
    if "slices" in raw:
        start, stop = pair_of_wholes(f"{where}.slices", raw["slices"], (0, 10**9))
        if start >= stop:
            fail(f"{where}.slices", "[start, stop] with start < stop", raw["slices"])
    if "stride" in raw:
        whole(f"{where}.stride", raw["stride"], (1, 64))
    if raw.get("window") is not None:
        _window(f"{where}.window", raw["window"])
    for n, mode in enumerate(items(f"{where}.modes", raw.get("modes", []))):
        _mode(f"{where}.modes[{n}]", mode)
    for n, name in enumerate(items(f"{where}.baselines", raw.get("baselines", []))):
        string(f"{where}.baselines[{n}]", name, tuple(BASELINES))


def _window(where: str, value) -> None:
    from MedColorLib.prepare import check_window, parse_window
    if isinstance(value, str):
        try:
            parse_window(value)
        except MedColorError as err:
            raise MedColorError(f"{where}: {err}") from None
        return
    if not isinstance(value, list) or len(value) != 2:
        fail(where, "LOW,HIGH as a string, a preset name or [low, high]", value)
    low, high = (number(f"{where}[{n}]", v) for n, v in enumerate(value))
    if not low < high:
        fail(where, "[low, high] with low < high", value)
    check_window(low, high, where)


def _mode(where: str, spec) -> None:
    if isinstance(spec, str):
        string(where, spec, VOLUME_MODES)
        return
    obj(where, spec)
    string(f"{where}.mode", spec.get("mode", "volume"), VOLUME_MODES)
    if "label" in spec:
        string(f"{where}.label", spec["label"])
    keys = spec.get("key_slices")
    if keys is not None and keys != "all":
        whole(f"{where}.key_slices", keys, LIMITS["key_slices"])
    unknown = sorted(set(spec) - {"mode", "label", "key_slices", "iterations"})
    if unknown:
        raise MedColorError(f"{where}: unknown key {unknown[0]!r}")
    if "iterations" in spec:
        pair_of_wholes(f"{where}.iterations", spec["iterations"], LIMITS["iterations"])


def option_values(where: str, changes: dict) -> None:
    """Engine options given in a configuration (a mode or a method): known names, valid values."""
    bad = sorted(set(changes) - _OPTION_FIELDS)
    if bad:
        raise MedColorError(f"{where}: unknown setting {bad[0]!r}")
    values = dict(changes)
    if "iterations" in values:
        values["iterations"] = tuple(pair_of_wholes(f"{where}.iterations", values["iterations"], LIMITS["iterations"]))
    if "loss" in values:
        loss = obj(f"{where}.loss", values["loss"])
        unknown = sorted(set(loss) - _LOSS_FIELDS)
        if unknown:
            raise MedColorError(f"{where}.loss: unknown weight {unknown[0]!r}")
        values["loss"] = replace(LossWeights(), **{k: tuple(v) if isinstance(v, list) else v for k, v in loss.items()})
    try:
        replace(Options(), **values).check()
    except MedColorError as err:
        raise MedColorError(f"{where}: {err}") from None


def check_ablations(raw: dict) -> None:
    for key in ("enabled", "loss_combinations"):
        if key in raw:
            flag(f"ablations.{key}", raw[key])
    if "iterations" in raw:
        pair_of_wholes("ablations.iterations", raw["iterations"], LIMITS["iterations"])
    for n, name in enumerate(items("ablations.pairs", raw.get("pairs", []))):
        string(f"ablations.pairs[{n}]", name)
    for key, limits in (("gamma", (0.0, 1e10)), ("ratio", (0.0, 1e10)), ("luma_l1", LIMITS["luma_l1"])):
        for n, value in enumerate(items(f"ablations.{key}", raw.get(key, []))):
            number(f"ablations.{key}[{n}]", value, limits)


def check_warm_start(raw: dict) -> None:
    if "volume" in raw:
        string("warm_start.volume", raw["volume"])
    if "slices" in raw:
        whole("warm_start.slices", raw["slices"], (1, 10_000))
    if "iterations" in raw:
        pair_of_wholes("warm_start.iterations", raw["iterations"], LIMITS["iterations"])


def check_ground_truth(raw: dict) -> None:
    """Shapes of the ground_truth section; its names and paths are checked by evaluation.ground_truth."""
    for n, method in enumerate(items("ground_truth.methods", raw.get("methods", []))):
        where = f"ground_truth.methods[{n}]"
        if not isinstance(method, str):
            obj(where, method)
            for key in ("label", "mode", "start"):
                if key in method:
                    string(f"{where}.{key}", method[key])
            option_values(where, {k: v for k, v in method.items() if k not in ("label", "mode", "start")})
    for n, pair in enumerate(items("ground_truth.pairs", raw.get("pairs", []))):
        where = f"ground_truth.pairs[{n}]"
        obj(where, pair)
        for key in ("name", "kind", "modality"):
            if key in pair:
                string(f"{where}.{key}", pair[key])
        for key in ("truth", "reference"):
            if key in pair:
                _source(f"{where}.{key}", pair[key])


def _source(where: str, raw) -> None:
    obj(where, raw)
    for key in ("image", "mni", "view"):
        if key in raw:
            string(f"{where}.{key}", raw[key])
    if "mm" in raw:
        whole(f"{where}.mm", raw["mm"], (-200, 200))  # a plane of MNI space, in mm
    if "crop" in raw:
        crop = items(f"{where}.crop", raw["crop"])
        if len(crop) != 4:
            fail(f"{where}.crop", "[top, left, bottom, right]", crop)
        for n, value in enumerate(crop):
            number(f"{where}.crop[{n}]", value, (0.0, 1.0))
