"""Issue 21 points 1, 2, 5 and 6: what reaches the worker and how its result comes back into the scene.

Real slicer-core MRML (scene, subject hierarchy, storage nodes); the worker process is the injected FakeProcess
of test_module_logic (it writes a colour file as the worker does), except in the pipe test, which runs a real
child process through WorkerProcess.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "MedColor"))

from test_module_logic import FakeProcess, collect  # noqa: E402

from MedColorModuleLib import ColorizationLogic, WorkerProcess  # noqa: E402

from MedColorLib import prepare  # noqa: E402
from MedColorLib.options import Options  # noqa: E402
from MedColorLib.slicer import mrml  # noqa: E402


@pytest.fixture
def soft_tissue_ct(app, ct_node):
    """A CT crop inside the abdomen: no air, so its values alone do not say CT (an MR window would be guessed)."""
    import slicer

    hu = mrml.array_from_node(ct_node)[12:18, 35:65, 45:75]
    node = slicer.util.addVolumeFromArray(hu, ijkToRAS=mrml.ijk_to_ras(ct_node), name="soft tissue ct")
    yield node
    app.scene.RemoveNode(node)


def mark_as_dicom_series(scene, node, modality: str) -> None:
    """What Slicer's DICOM import does (DICOMLib/DICOMPlugin.py addSeriesInSubjectHierarchy): the Modality tag
    goes on the series' subject hierarchy item, not on the volume node."""
    import slicer

    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    item = hierarchy.CreateItem(hierarchy.GetSceneItemID(), node)
    hierarchy.SetItemAttribute(item, slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMSeriesModalityAttributeName(),
                               modality)


def test_dicom_modality_is_read_from_the_subject_hierarchy_and_sent_to_the_worker(app, soft_tissue_ct):
    assert mrml.volume_from_node(soft_tissue_ct).modality == ""
    assert prepare.choose_window(mrml.volume_from_node(soft_tissue_ct))[2].startswith("percentiles")  # the bug
    mark_as_dicom_series(app.scene, soft_tissue_ct, "CT")
    assert soft_tissue_ct.GetAttribute("DICOM.Modality") is None  # Slicer never sets it on the node
    volume = mrml.volume_from_node(soft_tissue_ct)
    assert volume.modality == "CT" and prepare.choose_window(volume)[2] == "soft-tissue"
    process = FakeProcess()
    logic = ColorizationLogic(process=process, pythonExecutable="python-for-test")
    logic.start(soft_tissue_ct, None, Options(mode="preview"))
    assert process.job["modality"] == "CT"
    logic.cancel()


def test_no_hierarchy_node_is_added_when_looking_up_the_modality(app):
    import slicer

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "loose")
    count = scene.GetNumberOfNodes()
    assert mrml.dicom_modality(node) == "" and scene.GetNumberOfNodes() == count


@pytest.mark.parametrize("modality, window", [("CT", "soft-tissue"), (None, "percentiles")])
def test_worker_applies_the_modality_of_the_job(app, soft_tissue_ct, visible_woman, tmp_path, modality, window):
    from MedColorLib.slicer import worker

    job = {"input": str(mrml.write_volume_node(soft_tissue_ct, tmp_path / "input.nrrd")),
           "output": str(tmp_path / "output.nrrd"), "reference": str(tmp_path / "reference.npy"),
           "options": Options(mode="preview", weights="random", device="cpu", size=64, seed=0).check().as_dict(),
           "modality": modality, "rgb": True}
    np.save(job["reference"], visible_woman)
    stream = io.StringIO()
    worker.run_job(job, stream=stream)
    result = json.loads(stream.getvalue().splitlines()[-1])
    assert result["report"]["window"]["name"].startswith(window)
    assert mrml.read_color_array(job["output"]).shape[-1] == 3  # "rgb": the scene's colour, written as such


def test_output_volume_deleted_during_the_run_goes_to_a_new_node(app, ct_node):
    output = app.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "chosen output")
    process = FakeProcess(finishAtOnce=False)
    logic = ColorizationLogic(process=process)
    seen = collect(logic)
    logic.start(ct_node, output, Options(mode="preview"), name="ct colour")
    assert logic.poll()  # progress only: still running
    process.finishAtOnce = True
    app.scene.RemoveNode(output)  # the user deletes it while the worker runs
    while logic.poll():
        pass
    node = seen["nodes"][0]
    assert node is not output and node.GetScene() is app.scene and app.scene.GetNodeByID(node.GetID()) is node
    assert output.GetImageData() is None  # the removed node was not filled
    assert node.GetName().startswith("ct colour") and seen["errors"] == []
    app.scene.RemoveNode(node)


@pytest.mark.parametrize("failure, expected", [(MemoryError(), "not enough memory to load the result"),
                                               (RuntimeError("vtk said no"), "RuntimeError: vtk said no")])
def test_unexpected_error_while_loading_the_result_is_reported(app, ct_node, monkeypatch, failure, expected):
    def fail(path):
        raise failure
    monkeypatch.setattr(mrml, "read_color_image", fail)
    process = FakeProcess()
    logic = ColorizationLogic(process=process)
    seen = collect(logic)
    count = app.scene.GetNumberOfNodes()
    logic.start(ct_node, None, Options(mode="preview"))
    while logic.poll():  # raised out of the widget's timer slot before: no dialog, no message
        pass
    assert len(seen["errors"]) == 1 and expected in seen["errors"][0] and seen["nodes"] == []
    assert app.scene.GetNumberOfNodes() == count and not logic.isRunning()
    assert not Path(process.job["output"]).parent.exists()  # the job folder is removed all the same


def test_undecodable_bytes_on_the_pipe_do_not_lose_the_result(tmp_path):
    script = ("import json, sys\n"
              "sys.stdout.buffer.write(b'a library prints \\xff\\xfe in latin-1: caf\\xe9\\n'); sys.stdout.flush()\n"
              "print(json.dumps({'result': 'out.nrrd', 'report': {'note': 'caf\\u00e9'}}, ensure_ascii=False))\n")
    process = WorkerProcess()
    process.start([sys.executable, "-c", script], env=ColorizationLogic._workerEnvironment(Options()), cwd=str(tmp_path))
    assert process.wait(60) == 0
    events = []
    for _ in range(100):  # the reader thread may still be queueing the last line
        events += process.readEvents()
        if events or not process.outputPending():
            break
        process.wait(0.05)
    events += process.readEvents()
    assert events == [{"result": "out.nrrd", "report": {"note": "café"}}]
