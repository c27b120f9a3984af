"""The evaluation configuration: a JSON file (see bench/eval_default.json) with ``settings`` (engine settings,
each overridable from the command line), ``methods`` for 2-D pairs, ``pairs`` (2-D slices), ``volumes``
(cropped volumes and their modes), ``ablations`` (loss terms, gamma, lambda/gamma, aY on one pair) and
``warm_start`` (a slice chain with and without warm starts). Relative paths resolve against ``root``
(itself relative to the configuration's folder; default: that folder). ``notes``: Markdown paragraphs printed
under the report's header (what the figures show, written by whoever ran them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable


from MedColorLib.baselines.transfers import BASELINES
from MedColorLib.errors import MedColorError
from MedColorLib.evaluation import schema
from MedColorLib.io.paths import check_regular_file
from MedColorLib.options import Options

FIGURES = ("ssim_gray", "psnr_gray", "fsim", "entropy", "colourfulness", "chroma_distance", "air_chroma")
VOLUME_FIGURES = ("flicker", "context_spread", "delta_e_to_paper", "seconds_per_slice")
MODE_METHODS = ("paper", "paper+finetuned")
VOLUME_MODES = ("paper", "volume", "preview")
Log = Callable[[str], None]


@dataclass
class Settings:
    """Engine and evaluation settings shared by every run of one evaluation."""

    weights: str = "random"
    device: str = "cpu"
    size: int = 64                          # optimisation size (paper: 224)
    iterations: tuple[int, int] = (4, 4)    # L-BFGS stage 1, 2 (paper: 1000, 1000)
    seed: int = 0
    k: int = 4
    side: int = 128                         # 2-D targets: centre square resized to side x side
    reference_side: int = 256               # references: longer side at most this
    key_slices: int = 3                     # volume mode
    metric_slices: int = 4                  # volumes: 2-D figures averaged over this many tissue slices
    postfilter: bool = True
    finetuned: str | None = None            # a fine-tuned state dict: adds the "paper+finetuned" method

    def options(self, mode: str = "paper", **changes) -> Options:
        """Engine options for these settings; changes override fields (loss=LossWeights(...), ...)."""
        base = Options(mode=mode, weights=self.weights, device=self.device, size=self.size,
                       iterations=tuple(self.iterations), seed=self.seed, k=self.k, key_slices=self.key_slices,
                       postfilter=self.postfilter)
        return replace(base, **changes).check()


# ------------------------------------------------------------------------------------ configuration

def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Read and check a configuration; overrides (non-None values) replace its settings."""
    path = Path(path)
    if not path.exists():
        raise MedColorError(f"evaluation configuration not found: {path}")
    check_regular_file(path, "evaluation configuration")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"line {getattr(err, 'lineno', '?')}"
        raise MedColorError(f"{path} is not valid JSON ({err.__class__.__name__} at {where})") from None
    except RecursionError:
        raise MedColorError(f"{path} nests its JSON too deeply to be a configuration") from None
    if not isinstance(config, dict):
        raise MedColorError(f"{path} must hold a JSON object with 'pairs' and/or 'volumes'")
    try:
        check_values(config)
    except MedColorError as err:
        raise MedColorError(f"{path}: {err}") from None
    root = (path.parent / config.get("root", ".")).resolve()
    config["settings"] = settings_from(config.get("settings") or {}, overrides or {})
    config["methods"] = check_methods(config.get("methods", ["paper", *BASELINES]), config["settings"])
    config["pairs"] = [_entry(p, root, "pair") for p in config.get("pairs", [])]
    config["volumes"] = [_entry(v, root, "volume") for v in config.get("volumes", [])]
    if not config["pairs"] and not config["volumes"] and not config.get("ground_truth") \
            and not config.get("volume_truth"):
        raise MedColorError(f"{path} lists no 'pairs', 'volumes', 'ground_truth' or 'volume_truth'; nothing to "
                            "evaluate")
    notes = config.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise MedColorError(f"{path}: 'notes' must be a list of Markdown paragraphs (strings)")
    config["root_dir"] = root  # the ground_truth section resolves its paths when the run starts
    config["source"] = str(path)
    return config


def check_values(config: dict) -> None:
    """Every value's type and range (evaluation.schema), before any path is resolved or any work starts."""
    schema.check_top(config)
    schema.check_settings(config.get("settings") or {})
    for n, name in enumerate(config.get("methods", [])):
        schema.string(f"methods[{n}]", name)
    for n, note in enumerate(config.get("notes", [])):
        schema.string(f"notes[{n}]", note)
    for kind in ("pair", "volume"):
        for n, raw in enumerate(config.get(kind + "s", [])):
            schema.check_entry(f"{kind}s[{n}]", raw, kind)
    schema.check_ablations(config.get("ablations") or {})
    schema.check_warm_start(config.get("warm_start") or {})
    schema.check_ground_truth(config.get("ground_truth") or {})


def settings_from(raw: dict, overrides: dict) -> Settings:
    """Settings from a config dict plus overrides; unknown keys -> MedColorError."""
    known = {f.name for f in fields(Settings)}
    merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise MedColorError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    schema.check_settings(merged)
    if "iterations" in merged:
        merged["iterations"] = tuple(merged["iterations"])
    settings = Settings(**merged)
    settings.options()  # checks size, iterations, device, k
    return settings


def check_methods(methods: list, settings: Settings) -> list[str]:
    """Known 2-D methods, plus paper+finetuned when a fine-tuned state dict is given."""
    bad = [m for m in methods if m not in (*MODE_METHODS, *BASELINES)]
    if bad:
        raise MedColorError(f"unknown method {bad[0]!r}; choose from {', '.join((*MODE_METHODS, *BASELINES))}")
    if settings.finetuned and "paper+finetuned" not in methods:
        methods = [*methods, "paper+finetuned"]
    return list(methods)


def _entry(raw: dict, root: Path, kind: str) -> dict:
    """A pair or volume entry with resolved, existing paths and its required keys."""
    missing = [k for k in ("name", "modality", "target", "reference") if k not in raw]
    if missing:
        raise MedColorError(f"{kind} entry {raw.get('name', raw)!r} lacks the key {missing[0]!r}")
    entry = dict(raw)
    for key in ("target", "reference"):
        p = (root / raw[key]).resolve()
        if not p.exists():
            raise MedColorError(f"{kind} {raw['name']!r}: {key} {raw[key]} not found (resolved to {p})")
        entry[key] = p
    entry.setdefault("reference_kind", "real")
    return entry
