"""Every third-party package the Slicer path imports is declared in MedColor/Resources/requirements.txt.

The Slicer path is the module's logic (MedColor/MedColorModuleLib, MedColor.py) and every MedColorLib
module the worker can reach. Imports are parsed with ast (file scope and inside functions); import names
map to distribution names (sklearn -> scikit-learn, ...), compared with pyproject.toml. Packages that
Slicer itself bundles (numpy, SimpleITK, vtk, qt, ...) and torch/torchvision (from the PyTorch
extension) are exempt. The floors must accept what Slicer 5.10 ships (pydicom 2.4.4, scipy 1.13.1).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "MedColor"))

from MedColorModuleLib.InstallLogic import distributionName, readRequirements  # noqa: E402

IMPORT_TO_DIST = {"sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow", "SimpleITK": "SimpleITK",
                  "nibabel": "nibabel", "nilearn": "nilearn", "pydicom": "pydicom", "kornia": "kornia",
                  "scipy": "scipy", "onnx": "onnx", "pylibjpeg": "pylibjpeg", "tqdm": "tqdm"}
# bundled with every supported Slicer, or provided by the PyTorch extension, or Slicer itself
PROVIDED = {"numpy", "SimpleITK", "vtk", "vtkmodules", "qt", "ctk", "slicer", "SampleData", "PyTorchUtils",
            "packaging", "torch", "torchvision", "MedColorLib", "MedColorModuleLib"}
# MedColorLib rooms the worker (MedColorLib.slicer.worker -> pipeline) can import
WORKER_ROOMS = ("errors.py", "options.py", "types.py", "io", "prepare.py", "engine", "baselines", "reference",
                "pipeline", "slicer")


def imported_top_names(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file (including lazy ones inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def slicer_path_files() -> list[Path]:
    files = [ROOT / "MedColor" / "MedColor.py", *sorted((ROOT / "MedColor" / "MedColorModuleLib").glob("*.py"))]
    for room in WORKER_ROOMS:
        target = ROOT / "MedColorLib" / room
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


def third_party(names: set[str]) -> set[str]:
    return {n for n in names if n not in sys.stdlib_module_names and n not in PROVIDED and n != "__future__"}


def test_every_import_on_the_slicer_path_is_a_declared_requirement():
    declared = {distributionName(r).lower() for r in readRequirements()}
    used = set().union(*(third_party(imported_top_names(f)) for f in slicer_path_files()))
    unknown = used - set(IMPORT_TO_DIST)
    assert not unknown, f"map these imports to distributions in IMPORT_TO_DIST: {sorted(unknown)}"
    missing = {IMPORT_TO_DIST[n].lower() for n in used} - declared - {"simpleitk"}
    assert not missing, f"imported on the Slicer path but not in requirements.txt: {sorted(missing)}"
    assert {"nibabel", "nilearn", "pydicom", "scikit-image"} <= declared  # the default library and DICOM


def test_the_scan_sees_lazy_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\ndef f():\n    import nibabel as nib\n    from sklearn.cluster import KMeans\n")
    assert third_party(imported_top_names(probe)) == {"nibabel", "sklearn"}


def test_requirements_agree_with_pyproject_and_accept_slicer_510_packages():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pyproject = {Requirement(r).name.lower(): Requirement(r) for r in project}
    for line in readRequirements():
        req = Requirement(line)
        assert req.name.lower() in pyproject, f"{req.name} is in requirements.txt but not in pyproject.toml"
    bundled_510 = {"pydicom": "2.4.4", "scipy": "1.13.1", "pillow": "11.2.1"}  # Slicer v5.10.0 SuperBuild pins
    for name, version in bundled_510.items():
        req = next(Requirement(r) for r in readRequirements() if Requirement(r).name.lower() == name)
        assert req.specifier.contains(version), f"{line!r} would force Slicer 5.10 to replace its {name} {version}"
    assert not any(Requirement(r).name.lower() in ("torch", "torchvision", "numpy") for r in readRequirements())


@pytest.mark.parametrize("name", ["nibabel", "nilearn", "pydicom-data"])
def test_default_library_packages_are_declared(name):
    assert name in {distributionName(r).lower() for r in readRequirements()}
