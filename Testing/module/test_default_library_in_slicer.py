"""The default library in a fresh Slicer without nibabel/nilearn (issue 12 point 2): the MNI renderings are
skipped with a reason (logged by the module) instead of a ModuleNotFoundError that stopped every Apply.

The packages are hidden with an import hook and a patched package lookup; the library is really built.
"""

from __future__ import annotations

import builtins
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))

from MedColorModuleLib.ColorizationLogic import ensureLibrary  # noqa: E402

from MedColorLib.reference import default_library  # noqa: E402


def hide(monkeypatch, *names):
    real_import, real_dir = builtins.__import__, default_library.package_dir

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in names:
            raise ModuleNotFoundError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(default_library, "package_dir", lambda p: None if p in names else real_dir(p))


def test_without_nibabel_the_mni_frames_are_skipped_with_a_reason(tmp_path, monkeypatch, caplog):
    hide(monkeypatch, "nibabel", "nilearn")
    with caplog.at_level(logging.WARNING):
        folder = ensureLibrary(tmp_path / "lib")
    assert (folder / "medcolor-library.json").is_file()
    assert "pseudo/mni152_*" in caplog.text and "nilearn" in caplog.text
    assert not list(folder.glob("pseudo/mni152_*"))


def test_nibabel_present_but_nilearn_missing_is_reported(tmp_path, monkeypatch):
    hide(monkeypatch, "nilearn")
    library = default_library.build_default_library(tmp_path / "lib")
    assert [why for target, why in library.skipped if target == "pseudo/mni152_*"] == [
        "nilearn MNI152 templates not available (nilearn is not installed)"]
