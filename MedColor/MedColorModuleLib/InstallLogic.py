"""Python dependencies and VGG19 weights for the Slicer module; no Qt, dialogs stay in the widget.

PyTorch comes from the PyTorch extension (``PyTorchUtils``, never pip-installed here); the other packages
from ``Resources/requirements.txt`` through ``slicer.packaging.pip_ensure`` (Slicer 5.12+) or
``slicer.util.pip_install`` (5.10). ImageNet weights live in torch's per-user hub cache, which is
independent of the Slicer version; users may import a file there (offline sites) or clear it.

>>> install = InstallLogic(); install.ensureDependencies(); install.hasImagenetWeights()
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Callable

from MedColorLib.errors import MedColorError

TORCH_REQUIREMENT = ">=2.2"
TORCHVISION_REQUIREMENT = ">=0.17"
IMAGENET_WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"  # torchvision VGG19_Weights.IMAGENET1K_V1; sha256 starts dcbb9e9d
IMAGENET_WEIGHTS_URL = "https://download.pytorch.org/models/" + IMAGENET_WEIGHTS_FILE
IMAGENET_WEIGHTS_MB = 548


def requirementsPath() -> Path:
    return Path(__file__).resolve().parent.parent / "Resources" / "requirements.txt"


def readRequirements(path: Path | None = None) -> list[str]:
    """Requirement lines without comments or blanks."""
    lines = (path or requirementsPath()).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def _distributionName(requirement: str) -> str:
    for separator in "<>=!~;[ ":
        requirement = requirement.split(separator)[0]
    return requirement


def missingRequirements(requirements: list[str]) -> list[str]:
    """Requirements whose distribution is not installed at all (versions are pip's business)."""
    missing = []
    for requirement in requirements:
        try:
            metadata.version(_distributionName(requirement))
        except metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def torchHubCheckpoints() -> Path:
    """torch.hub's checkpoint folder, computed as torch does, without importing torch."""
    torchHome = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch")
    return Path(torchHome) / "hub" / "checkpoints"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InstallLogic:
    """Ensures torch + requirements, and manages the weights folder. ``confirm(text) -> bool`` asks the user."""

    def __init__(self, confirm: Callable[[str], bool] | None = None, weightsFolder: Path | None = None) -> None:
        self._confirm = confirm or (lambda text: True)
        self._weightsFolder = Path(weightsFolder) if weightsFolder else torchHubCheckpoints()

    # ------------------------------------------------------------ packages
    def ensureDependencies(self) -> None:
        """Install PyTorch (PyTorch extension) then the other requirements, asking first; raise if declined."""
        self.ensureTorch()
        self.ensureRequirements()

    def ensureTorch(self) -> None:
        try:
            import PyTorchUtils  # noqa: PLC0415 - the PyTorch extension, present only inside Slicer
        except ImportError:
            if missingRequirements(["torch", "torchvision"]):
                raise MedColorError("MedColor needs PyTorch: install the PyTorch extension from the Extensions Manager")
            return
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        if torchLogic.torchInstalled() and not missingRequirements(["torchvision"]):
            return
        torch = torchLogic.installTorch(askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT,
                                        torchvisionVersionRequirement=TORCHVISION_REQUIREMENT)
        if torch is None:
            raise MedColorError("PyTorch is required: install it from the PyTorch Util module and try again")

    def ensureRequirements(self, requirements: list[str] | None = None) -> None:
        requirements = requirements if requirements is not None else readRequirements()
        try:
            from slicer.packaging import pip_ensure  # Slicer 5.12+
        except ImportError:
            pip_ensure = None
        if pip_ensure is not None:
            try:
                pip_ensure(requirements, requester="MedColor")
            except RuntimeError as exc:
                raise MedColorError(f"MedColor's Python packages were not installed: {exc}") from None
            return
        missing = missingRequirements(requirements)
        if not missing:
            return
        if not self._confirm(f"MedColor needs these Python packages: {', '.join(missing)}. Install them now?"):
            raise MedColorError("MedColor's Python packages are missing; Apply installs them when you agree")
        import slicer

        slicer.util.pip_install(missing)

    # ------------------------------------------------------------ weights
    def weightsFolder(self) -> Path:
        return self._weightsFolder

    def imagenetWeightsPath(self) -> Path:
        return self._weightsFolder / IMAGENET_WEIGHTS_FILE

    def hasImagenetWeights(self) -> bool:
        return self.imagenetWeightsPath().is_file()

    def confirmImagenetDownload(self) -> bool:
        """Ask before torchvision downloads the ImageNet VGG19 weights (once per user)."""
        if self.hasImagenetWeights():
            return True
        return self._confirm(f"MedColor will download the ImageNet VGG19 weights ({IMAGENET_WEIGHTS_MB} MB) from "
                             f"{IMAGENET_WEIGHTS_URL} into {self._weightsFolder}. Continue?")

    def importWeightsFile(self, path: str | Path) -> Path:
        """Copy a downloaded ImageNet VGG19 file into the weights folder after checking its hash."""
        path = Path(path)
        if not path.is_file():
            raise MedColorError(f"weights file not found: {path}")
        expected = IMAGENET_WEIGHTS_FILE.split("-")[1].split(".")[0]
        if not sha256(path).startswith(expected):
            raise MedColorError(f"{path.name} is not torchvision's VGG19 ImageNet file (hash does not start "
                                f"{expected}); download {IMAGENET_WEIGHTS_URL}")
        self._weightsFolder.mkdir(parents=True, exist_ok=True)
        target = self.imagenetWeightsPath()
        partial = target.with_suffix(".part")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        return target

    def clearWeights(self) -> list[Path]:
        """Delete the weights MedColor downloaded or imported; return what was removed."""
        target = self.imagenetWeightsPath()
        if not target.is_file():
            return []
        target.unlink()
        return [target]
