"""Every engine setting, with the paper's values as defaults (ALGORITHM.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from MedColorLib.errors import MedColorError

MODES = ("paper", "volume", "preview")
DEVICES = ("auto", "cpu", "cuda")
INITS = ("correspondence", "input", "noise")
# paper: the paper's schedule per slice; volume: the deep-feature correspondence alone on the key slices,
# and with refine=True 100 + 100 steps from it (warm L-BFGS converges in far fewer steps; measured against
# the truth, the steps do not improve the colours: docs/performance.md); preview: no network at all
DEFAULT_ITERATIONS = {"paper": (1000, 1000), "volume": (100, 100), "preview": (0, 0)}


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
    loss: LossWeights = field(default_factory=LossWeights)

    def check(self) -> "Options":
        """Raise MedColorError on an invalid setting; return self."""
        if self.mode not in MODES:
            raise MedColorError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.device not in DEVICES:
            raise MedColorError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.size < 32:
            raise MedColorError(f"--size {self.size} is too small: VGG19 to conv5_1 needs at least 32 px")
        if self.refine and self.mode == "preview":
            raise MedColorError("preview mode uses no network, so there is nothing to refine; use --mode volume")
        if self.iterations is None:
            refined = self.mode == "paper" or self.refine
            self.iterations = DEFAULT_ITERATIONS[self.mode] if refined else (0, 0)
        if len(self.iterations) != 2 or min(self.iterations) < 0:
            raise MedColorError(f"iterations must be two counts >= 0, got {self.iterations}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise MedColorError(f"unknown optimizer {self.optimizer!r}; choose lbfgs or adam")
        if not 2 <= self.k <= 16:
            raise MedColorError(f"k = {self.k} intensity clusters is out of range 2..16")
        if self.key_slices < 1:
            raise MedColorError(f"key_slices must be at least 1, got {self.key_slices}")
        if self.init not in INITS:
            raise MedColorError(f"unknown init {self.init!r}; choose one of {', '.join(INITS)}")
        if not self.loss.match >= 0:
            raise MedColorError(f"the correspondence weight {self.loss.match} must be >= 0")
        if not 0.0 <= self.loss.luma_l1 <= 1.0:
            raise MedColorError(f"aY = {self.loss.luma_l1} must lie in [0, 1]")
        return self

    def as_dict(self) -> dict:
        return asdict(self)
