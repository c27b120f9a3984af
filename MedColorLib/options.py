"""Every engine setting, with the paper's values as defaults (ALGORITHM.md)."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields

from MedColorLib.errors import MedColorError

MODES = ("paper", "volume", "preview")
DEVICES = ("auto", "cpu", "cuda")
INITS = ("correspondence", "input", "noise")
# paper: the paper's schedule per slice; volume: the deep-feature correspondence alone on the key slices,
# and with refine=True 100 + 100 steps from it (warm L-BFGS converges in far fewer steps; measured against
# the truth, the steps do not improve the colours: docs/performance.md); preview: no network at all
DEFAULT_ITERATIONS = {"paper": (1000, 1000), "volume": (100, 100), "preview": (0, 0)}
# the accepted values of every setting, (low, high) inclusive; the CLI's parser types use the same table
# size: the style swap's 3x3 patches need a 3x3 conv5_1 map (48 px in); above 2048 px VGG19's activations
# alone outgrow a large GPU. seed: what NumPy and scikit-learn accept. match: above 1e10 the float32 loss
# overflows
LIMITS: dict[str, tuple[float, float]] = {
    "size": (48, 2048), "iterations": (0, 100_000), "key_slices": (1, 100_000), "smooth_passes": (0, 100),
    "seed": (0, 2**32 - 1), "k": (2, 16), "match": (0.0, 1e10), "luma_l1": (0.0, 1.0), "luma_match": (0.0, 1e3),
}
# evaluation settings (evaluation.config) and fine-tuning (training.finetune): crops of 32 px reach relu5_1
EVALUATION_LIMITS = {"side": (32, 4096), "reference_side": (16, 8192), "metric_slices": (1, 10_000)}
FINETUNE_LIMITS = {"steps": (1, 1_000_000), "size": (32, 1024), "batch": (1, 256), "seed": LIMITS["seed"],
                   "lr": (0.0, 1.0), "anchor": (0.0, 1e10), "keep": (0.0, 1e10)}
LOSS_LIMIT = 1e10  # every other loss weight: finite, 0 .. 1e10


@dataclass
class LossWeights:
    """Loss weights (paper defaults). Pixel terms are measured in the network's input units."""

    content: float = 1.0            # alpha, conv4_2
    colour: float = 100.0           # Gamma, masked Gram conv1_1..conv5_1
    colour_layers: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)  # beta_l
    luma: float = 1e4               # lambda (paper; the authors' code used 1e5)
    luma_l1: float = 0.0            # aY: 0 = pure L2 (authors' code), 1 = pure L1
    swap: float = 10.0              # gamma, conv3_1/conv4_1/conv5_1
    tv: float = 1e-3
    # not in the paper: (Cb, Cr) pulled toward the deep-feature correspondence (engine.correspondence); at
    # 1e5 the paper's terms cannot move the colours away from it (they moved them away from the truth:
    # docs/ground_truth.md). 0 = the paper's objective
    match: float = 1e5

    def check(self) -> "LossWeights":
        """Every weight a finite number in range (aY in [0, 1], the others 0 .. 1e10); MedColorError otherwise."""
        for f in fields(self):
            value = getattr(self, f.name)
            for v in value if f.name == "colour_layers" and isinstance(value, (tuple, list)) else [value]:
                check_number(f.name, v, LIMITS.get(f.name, (0.0, LOSS_LIMIT)))
        return self


@dataclass
class Options:
    """Settings of one colorization run."""

    mode: str = "volume"
    weights: str = "auto"           # auto | imagenet | medical | random | imported NAME | PATH (engine.weights)
    device: str = "auto"
    size: int = 224                 # optimisation size (paper: 224)
    iterations: tuple[int, int] | None = None  # L-BFGS stage 1, stage 2; None = the mode's default
    refine: bool = False            # volume mode: the paper's loss stack after the correspondence on the key slices
    key_slices: int = 4             # volume/preview: slices optimised with the full loss
    smooth_passes: int = 1          # volume/preview: [1,2,1] passes over the key grids along the slice axis
    optimizer: str = "lbfgs"        # "lbfgs" | "adam"
    seed: int = 0
    k: int = 4                      # intensity clusters
    # "correspondence": the gray target with the deep-feature correspondence's chroma (measured best against
    # the truth). "input": the gray target + 1e-3 noise. "noise": the paper's near-constant noise; measured
    # here, torch's L-BFGS stalls from that flat start (loss unchanged after 30 steps where Adam moves)
    init: str = "correspondence"
    postfilter: bool = True
    # weight of the luma in the correspondence search; None: 1, or CALIBRATED_LUMA_WEIGHT where the volume
    # pipeline finds the luma calibrated (a CT in its library CT reference's window: reference.resolve)
    luma_match: float | None = None
    loss: LossWeights = field(default_factory=LossWeights)

    def check(self) -> "Options":
        """Raise MedColorError (one line) on a setting of the wrong type or out of range; return self."""
        for name, allowed in (("mode", MODES), ("device", DEVICES), ("optimizer", ("lbfgs", "adam")), ("init", INITS)):
            if getattr(self, name) not in allowed:
                raise MedColorError(f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        if not isinstance(self.weights, str) or not self.weights:
            raise MedColorError(f"weights must be a name or a path, got {self.weights!r}")
        for name in ("size", "key_slices", "smooth_passes", "seed", "k"):
            check_int(name, getattr(self, name))
        if not isinstance(self.refine, bool):
            raise MedColorError(f"refine must be true or false, got {self.refine!r}")
        if self.refine and self.mode == "preview":
            raise MedColorError("preview mode uses no network, so there is nothing to refine; use --mode volume")
        if self.iterations is None:
            refined = self.mode == "paper" or self.refine
            self.iterations = DEFAULT_ITERATIONS[self.mode] if refined else (0, 0)
        counts = self.iterations
        if isinstance(counts, (str, bytes)) or not hasattr(counts, "__len__") or len(counts) != 2:
            raise MedColorError(f"iterations must be two counts (stage 1, stage 2), got {self.iterations!r}")
        for n in self.iterations:
            check_int("iterations", n)
        self.iterations = tuple(int(n) for n in self.iterations)
        if not isinstance(self.postfilter, bool):
            raise MedColorError(f"postfilter must be true or false, got {self.postfilter!r}")
        if self.luma_match is not None:
            self.luma_match = check_number("luma_match", self.luma_match, LIMITS["luma_match"])
        self.loss.check()
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    def luma_weight(self) -> float:
        """The luma's weight in the correspondence search: ``luma_match``, 1 when unset."""
        return 1.0 if self.luma_match is None else float(self.luma_match)


def check_int(name: str, value, limits: tuple[float, float] | None = None) -> int:
    """``value`` is an integer (not a bool) within ``limits`` (default LIMITS[name]); MedColorError naming the
    setting otherwise."""
    low, high = limits or LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise MedColorError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise MedColorError(f"{name} {value} is out of range {shown_range(low, high)}")
    return value


def check_number(name: str, value, limits: tuple[float, float]) -> float:
    """``value`` is a finite real number within ``limits``; MedColorError naming the setting otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MedColorError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise MedColorError(f"{name} must be a finite number, got {value}")
    if not limits[0] <= value <= limits[1]:
        raise MedColorError(f"{name} {value:g} is out of range {shown_range(*limits)}")
    return float(value)


def shown_range(low: float, high: float) -> str:
    """'48..2048', '0..4294967295', '0..1e+10': whole numbers in full, others as %g."""
    text = lambda v: str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"  # noqa: E731
    return f"{text(low)}..{text(high)}"
