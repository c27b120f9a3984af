"""MedColor.py itself (issue 12 points 1, 12, 13): sample data on both Sample Data signatures, one logic
__init__, a Reload that re-imports MedColorModuleLib/MedColorLib.

MedColor.py imports slicer.ScriptedLoadableModule, slicer.parameterNodeWrapper and slicer.i18n, which exist
only inside the Slicer application: they are injected as fakes. The fake ScriptedLoadableModuleLogic.__init__
is Slicer's own (Base/Python/slicer/ScriptedLoadableModule.py, identical in v5.10.0 and v5.12.0); the fake
SampleDataLogic classes have the 5.12 ``registerCustomSampleDataCategory(category, title)`` or no such method (5.10).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
import unittest
from pathlib import Path

import pytest

pytest.importorskip("slicer")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "MedColor"))

from MedColorModuleLib.SampleDataRegistration import CATEGORY, registerSampleData, reloadableModuleNames  # noqa: E402


class ScriptedLoadableModuleLogic:
    """Slicer's class, as in the source (v5.12.0 l.296-308)."""

    def __init__(self, parent=None):
        super().__init__()
        self.moduleName = self.__class__.__name__
        if self.moduleName.endswith("Logic"):
            self.moduleName = self.moduleName[:-5]
        self.isSingletonParameterNode = True


class ScriptedLoadableModuleWidget:
    reloads = 0

    def onReload(self):
        ScriptedLoadableModuleWidget.reloads += 1


@pytest.fixture
def medcolor_module(monkeypatch):
    slm = types.ModuleType("slicer.ScriptedLoadableModule")
    slm.ScriptedLoadableModule, slm.ScriptedLoadableModuleTest = object, unittest.TestCase
    slm.ScriptedLoadableModuleLogic, slm.ScriptedLoadableModuleWidget = ScriptedLoadableModuleLogic, ScriptedLoadableModuleWidget
    pnw = types.ModuleType("slicer.parameterNodeWrapper")
    pnw.parameterNodeWrapper = lambda cls: cls
    pnw.Choice = lambda choices: ("Choice", list(choices))  # recorded: the test of the region field reads it
    pnw.WithinRange = lambda *a, **k: None
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr, i18n.translate = (lambda text: text), (lambda context, text: text)
    for name, module in (("slicer.ScriptedLoadableModule", slm), ("slicer.parameterNodeWrapper", pnw),
                         ("slicer.i18n", i18n)):
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("MedColor_under_test", ROOT / "MedColor" / "MedColor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SampleData512:
    def __init__(self):
        self.categories, self.sources = {}, []

    def registerCustomSampleDataCategory(self, category, title):
        self.categories[category] = title

    def registerCustomSampleDataSource(self, **kwargs):
        self.sources.append(kwargs)


class SampleData510:
    def __init__(self):
        self.sources = []

    def registerCustomSampleDataSource(self, **kwargs):
        self.sources.append(kwargs)


@pytest.mark.parametrize("logic_class", [SampleData512, SampleData510])
def test_sample_data_registers_on_both_signatures(logic_class, tmp_path):
    logic = logic_class()
    registerSampleData(logic, tmp_path, title="MedColor")
    assert [s["sampleName"] for s in logic.sources] == ["MedColorAbdomenCT"]
    assert logic.sources[0]["category"] == CATEGORY and logic.sources[0]["checksums"].startswith("SHA256:")
    if logic_class is SampleData512:
        assert logic.categories == {CATEGORY: "MedColor"}


def test_medcolor_py_registers_sample_data(medcolor_module, monkeypatch):
    logic = SampleData512()
    monkeypatch.setitem(sys.modules, "SampleData", types.SimpleNamespace(SampleDataLogic=logic))
    medcolor_module.registerSampleData()
    assert logic.categories == {CATEGORY: "MedColor"} and len(logic.sources) == 1
    assert Path(logic.sources[0]["thumbnailFileName"]).is_file()


def test_logic_init_runs_once_and_keeps_the_injected_process(medcolor_module, monkeypatch):
    from MedColorModuleLib.ColorizationLogic import ColorizationLogic

    calls = []
    original = ColorizationLogic.__init__

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("process"))
        original(self, *args, **kwargs)
    monkeypatch.setattr(ColorizationLogic, "__init__", counting)
    monkeypatch.setattr(importlib.import_module("MedColorModuleLib.ColorizationLogic"), "pythonSlicerExecutable",
                        lambda: "PythonSlicer")
    process = object()
    logic = medcolor_module.MedColorLogic(process=process)
    assert calls == [process] and logic._process is process
    assert logic.moduleName == "MedColor" and logic.isSingletonParameterNode


def test_weights_choices_match_the_resolver(medcolor_module):
    from MedColorModuleLib.ColorizationLogic import WEIGHTS_CHOICES

    values = [w.value for w in medcolor_module.Weights]
    assert values == list(WEIGHTS_CHOICES) == ["auto", "imagenet", "medical", "file", "random"]
    assert medcolor_module.MedColorParameterNode.weights is medcolor_module.Weights.Automatic


def test_reload_drops_the_helper_packages(medcolor_module, monkeypatch):
    monkeypatch.setitem(sys.modules, "MedColorModuleLib.fake_for_reload", types.ModuleType("x"))
    monkeypatch.setitem(sys.modules, "MedColorLib.fake_for_reload", types.ModuleType("y"))
    widget = medcolor_module.MedColorWidget()
    before = ScriptedLoadableModuleWidget.reloads
    saved = {n: sys.modules[n] for n in reloadableModuleNames(list(sys.modules))}
    try:
        widget.onReload()
        assert not reloadableModuleNames(list(sys.modules)) and ScriptedLoadableModuleWidget.reloads == before + 1
    finally:
        sys.modules.update({n: m for n, m in saved.items() if "fake_for_reload" not in n})
    assert reloadableModuleNames(["MedColorLib", "MedColorLib.io.images", "MedColorModuleLib.Widget", "numpy",
                                  "MedColorLibX"]) == ["MedColorLib", "MedColorLib.io.images", "MedColorModuleLib.Widget"]
    assert "import imp\n" not in (ROOT / "MedColor" / "MedColor.py").read_text()


def test_widget_hooks_survive_a_failed_setup(medcolor_module):
    widget = medcolor_module.MedColorWidget()  # setup() never ran: no .widget
    widget.cleanup(), widget.enter(), widget.exit()


def test_self_test_skips_when_pip_packages_are_missing(medcolor_module, monkeypatch):
    # in testing mode Slicer's pip_ensure logs and returns None without installing: the test must skip
    install = importlib.import_module("MedColorModuleLib.InstallLogic")
    monkeypatch.setattr(install, "missingTestRequirements", lambda: ["kornia>=0.7", "nilearn>=0.10"])
    case = medcolor_module.MedColorTest("runTest")
    with pytest.raises(unittest.SkipTest, match="kornia>=0.7, nilearn>=0.10"):
        case.test_colorizes_synthetic_volume()


def test_reload_and_test_reports_a_skip_with_its_reason(medcolor_module, app, monkeypatch):
    # issue 21 point 3: ScriptedLoadableModule.runTest calls MedColorTest.runTest directly, inside
    # tryWithErrorDisplay("Reload and Test failed."), which catches Exception, and unittest.SkipTest is one
    import slicer.util

    install = importlib.import_module("MedColorModuleLib.InstallLogic")
    monkeypatch.setattr(install, "missingTestRequirements", lambda: ["kornia>=0.7"])
    shown, ran = [], []
    monkeypatch.setattr(slicer.util, "infoDisplay", lambda text, **kwargs: shown.append(text), raising=False)
    case = medcolor_module.MedColorTest("runTest")
    original = case.test_rejects_bad_input_without_changing_scene
    monkeypatch.setattr(case, "test_rejects_bad_input_without_changing_scene", lambda: ran.append(original()))
    try:
        case.runTest()
    except unittest.SkipTest as exc:  # pytest would report it as a skip, hiding the bug
        pytest.fail(f"the skip escaped runTest, so Reload and Test shows it as a failure: {exc}")
    assert ran == [None] and len(shown) == 1 and "kornia>=0.7" in shown[0]
    monkeypatch.setattr(case, "test_rejects_bad_input_without_changing_scene", lambda: case.fail("a real failure"))
    with pytest.raises(AssertionError, match="a real failure"):
        case.runTest()


def test_readme_self_test_command_loads_the_module_tests(medcolor_module, monkeypatch):
    # issue 21 point 4: slicer.testing.runUnitTest(path, name) runs unittest's loadTestsFromName(name), which
    # imports ``name`` as a module; Slicer's slicer_add_python_unittest passes the script's folder and NAME_WE
    match = re.search(r"slicer\.testing\.runUnitTest\(\[(.*?)\], '(\w+)'\)", (ROOT / "README.md").read_text())
    assert match and match.group(2) == Path("MedColor.py").stem
    monkeypatch.syspath_prepend(str(ROOT / "MedColor"))
    try:
        suite = unittest.TestLoader().loadTestsFromName(match.group(2))
        names = {(type(case).__name__, case._testMethodName) for case in _cases(suite)}
        assert ("MedColorTest", "test_colorizes_synthetic_volume") in names
        old = {type(case).__name__ for case in _cases(unittest.TestLoader().loadTestsFromName("MedColorTest"))}
        assert old == {"_FailedTest"}  # the old command: "No module named 'MedColorTest'"
    finally:
        sys.modules.pop("MedColor", None)


def _cases(suite):
    for item in suite:
        yield from (_cases(item) if isinstance(item, unittest.TestSuite) else [item])


def test_region_field_offers_auto_and_every_known_region_and_is_bound_in_the_ui(medcolor_module):
    """Issue 20: the panel's body-region combo offers "auto" and the regions MedColorLib knows, defaults to auto,
    and the .ui binds it (and every other SlicerParameterName) to a parameter-node field."""
    import typing
    import xml.etree.ElementTree as ET

    from MedColorLib.reference.regions import REGIONS

    node = medcolor_module.MedColorParameterNode
    assert typing.get_args(node.__annotations__["region"])[1] == ("Choice", ["auto", *REGIONS])
    assert node.region == "auto"
    tree = ET.parse(ROOT / "MedColor" / "Resources" / "UI" / "MedColor.ui")
    bound = {w.get("name"): w.find("property[@name='SlicerParameterName']/string").text
             for w in tree.iter("widget") if w.find("property[@name='SlicerParameterName']") is not None}
    assert bound["regionComboBox"] == "region"
    assert set(bound.values()) <= set(node.__annotations__)
    assert {"referenceWhyLabel", "referenceThumbnailLabel"} <= {w.get("name") for w in tree.iter("widget")}
