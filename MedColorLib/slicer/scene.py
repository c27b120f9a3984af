"""A headless Slicer: MRML scene + module logics from the ``slicer-core`` wheel, offscreen 2-D/3-D rendering.

Used by the tests, the screenshot script and anything that needs real Slicer code outside the Slicer
application. Imports ``slicer``/``vtk`` lazily; nothing here needs Qt.

>>> app = create_headless_slicer()
>>> node = load_volume(app, "ct.nii.gz")
>>> render_slice(app, node, "axial.png")
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from MedColorLib.errors import MedColorError

VIEW_DIRECTIONS = ("anterior", "posterior", "left", "right", "superior", "inferior")


@dataclass
class HeadlessSlicer:
    """The scene and the module logics a Slicer application would own."""

    scene: Any
    app_logic: Any
    color_logic: Any
    volumes_logic: Any
    volume_rendering_logic: Any


def presets_directory() -> Path:
    """The share folder holding Slicer's volume-rendering ``presets.xml`` (shipped by ``trame-slicer``)."""
    spec = importlib.util.find_spec("trame_slicer")  # located, not imported: its views need a newer slicer
    if spec is None or not spec.submodule_search_locations:
        raise MedColorError("volume rendering needs Slicer's presets.xml: pip install trame-slicer")
    folder = Path(list(spec.submodule_search_locations)[0]) / "resources"
    if not (folder / "presets.xml").is_file():
        raise MedColorError(f"presets.xml not found in {folder}: reinstall trame-slicer")
    return folder


def _import_slicer():
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        import slicer
    except ImportError as exc:
        raise MedColorError("headless Slicer needs the slicer-core package: pip install slicer-core") from exc
    return slicer


def create_headless_slicer(share_directory: Path | None = None) -> HeadlessSlicer:
    """A new scene with application, color, volumes and volume-rendering logics registered.

    Also sets ``slicer.mrmlScene`` so that ``slicer.util`` array helpers work on this scene.
    """
    share = Path(share_directory) if share_directory else presets_directory()
    slicer = _import_slicer()
    from vtkmodules.vtkCommonCore import vtkCollection

    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.SetSliceLogics(vtkCollection())
    app_logic.SetViewLogics(vtkCollection())
    color_logic = app_logic.GetColorLogic()
    color_logic.SetMRMLScene(scene)
    color_logic.AddDefaultColorNodes()
    app_logic.SetModuleLogic("Colors", color_logic)
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    volumes_logic = _register(app_logic, scene, slicer.vtkSlicerVolumesLogic(), "Volumes")
    vr_logic = slicer.vtkSlicerVolumeRenderingLogic()
    vr_logic.SetModuleShareDirectory(share.as_posix())
    _register(app_logic, scene, vr_logic, "VolumeRendering")
    vr_logic.ChangeVolumeRenderingMethod("vtkMRMLGPURayCastVolumeRenderingDisplayNode")
    slicer.mrmlScene = scene
    return HeadlessSlicer(scene, app_logic, color_logic, volumes_logic, vr_logic)


def _register(app_logic, scene, logic, name: str):
    logic.SetMRMLApplicationLogic(app_logic)
    logic.SetMRMLScene(scene)
    app_logic.SetModuleLogic(name, logic)
    return logic


def load_volume(app: HeadlessSlicer, path: str | Path, name: str | None = None):
    """Load a scalar or colour volume file through Slicer's volumes logic (storage node)."""
    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"volume file not found: {path}")
    node = app.volumes_logic.AddArchetypeVolume(str(path), name or path.name.split(".")[0])
    if node is None:
        raise MedColorError(f"Slicer could not read {path}")
    return node


def _offscreen_window(size: tuple[int, int], interactor: bool = False):
    """An offscreen render window with one renderer (and an interactor: camera managers need one)."""
    from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow, vtkRenderWindowInteractor

    window = vtkRenderWindow()
    window.ShowWindowOff()
    window.SetOffScreenRendering(1)
    window.SetSize(*size)
    renderer = vtkRenderer()
    window.AddRenderer(renderer)
    if interactor:
        window_interactor = vtkRenderWindowInteractor()
        window_interactor.SetRenderWindow(window)
        window_interactor.Initialize()
    return window, renderer


def _grab(window, path: str | Path | None) -> np.ndarray:
    """Read the window's pixels as (H, W, 3) uint8 (top row first) and write them to ``path`` as PNG."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOImage import vtkPNGWriter
    from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    if path is not None:
        writer = vtkPNGWriter()
        writer.SetFileName(str(path))
        writer.SetInputData(image)
        writer.Write()
    width, height, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])


def render_3d(
    app: HeadlessSlicer,
    path: str | Path | None = None,
    *,
    size: tuple[int, int] = (512, 512),
    view_direction: str = "anterior",
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Render the scene's 3-D view offscreen (volume rendering displayable manager); return (H, W, 3) uint8."""
    if view_direction not in VIEW_DIRECTIONS:
        raise MedColorError(f"unknown view direction {view_direction!r}; choose one of {', '.join(VIEW_DIRECTIONS)}")
    with ThreeDView(app, size, background) as view:
        _point_camera(view.renderer, view_direction)
        return view.render(path)


class ThreeDView:
    """An offscreen 3-D view of the scene (camera, view and volume-rendering displayable managers), kept open
    for several renders; on exit the scene is left as it was. ``camera_node`` is the view's MRML camera."""

    def __init__(self, app: HeadlessSlicer, size: tuple[int, int] = (512, 512),
                 background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        self.app, self.size, self.background = app, size, background

    def __enter__(self) -> "ThreeDView":
        slicer = _import_slicer()
        self.window, self.renderer = _offscreen_window(self.size, interactor=True)
        factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(self.app.app_logic)
        for manager in ("vtkMRMLCameraDisplayableManager", "vtkMRMLViewDisplayableManager",
                        "vtkMRMLVolumeRenderingDisplayableManager"):
            if not factory.IsDisplayableManagerRegistered(manager):
                factory.RegisterDisplayableManager(manager)
        self.before = _node_ids(self.app.scene)
        self.view_logic = slicer.vtkMRMLViewLogic()
        self.view_logic.SetMRMLApplicationLogic(self.app.app_logic)
        self.view_logic.SetMRMLScene(self.app.scene)
        view_node = self.app.scene.GetFirstNodeByClass("vtkMRMLViewNode") or self.view_logic.AddViewNode("MedColor3D")
        view_node.SetBoxVisible(False)
        view_node.SetAxisLabelsVisible(False)
        view_node.SetBackgroundColor(*self.background)
        view_node.SetBackgroundColor2(*self.background)
        self.view_node = view_node
        self.group = slicer.vtkMRMLDisplayableManagerGroup()
        self.group.Initialize(factory, self.renderer)
        self.group.SetMRMLDisplayableNode(view_node)
        return self

    def render(self, path: str | Path | None = None) -> np.ndarray:
        """Draw the view now; (H, W, 3) uint8, also written to ``path`` as PNG when given."""
        self.window.Render()
        return _grab(self.window, path)

    def __exit__(self, *exc) -> None:
        self.group.SetMRMLDisplayableNode(None)
        self.window.Finalize()
        self.view_logic.SetMRMLScene(None)
        _remove_nodes_added(self.app.scene, self.before)


def _node_ids(scene) -> set[str]:
    nodes = scene.GetNodes()
    return {nodes.GetItemAsObject(i).GetID() for i in range(nodes.GetNumberOfItems())}


def _remove_nodes_added(scene, before: set[str]) -> None:
    """Leave the scene as it was: remove the view's helper nodes (slice/camera/model nodes) added since."""
    for node_id in sorted(_node_ids(scene) - before, reverse=True):
        node = scene.GetNodeByID(node_id)
        if node is not None:
            scene.RemoveNode(node)


def _point_camera(renderer, view_direction: str) -> None:
    """Look at the rendered volumes from the named patient side (RAS), fitting them in view."""
    axis = {"anterior": (0, 1, 0), "posterior": (0, -1, 0), "left": (-1, 0, 0), "right": (1, 0, 0),
            "superior": (0, 0, 1), "inferior": (0, 0, -1)}[view_direction]
    camera = renderer.GetActiveCamera()
    camera.SetFocalPoint(0, 0, 0)
    camera.SetPosition(*axis)
    camera.SetViewUp(0, 0, 1) if view_direction not in ("superior", "inferior") else camera.SetViewUp(0, 1, 0)
    renderer.ResetCamera()


def render_slice(
    app: HeadlessSlicer,
    node,
    path: str | Path | None = None,
    *,
    orientation: str = "Axial",
    size: tuple[int, int] = (512, 512),
    offset: float | None = None,
) -> np.ndarray:
    """Render ``node`` in a slice view (Axial/Sagittal/Coronal) offscreen, as Slicer's slice logic reslices it.

    ``offset`` is the slice position in mm along the view normal (default: the volume's centre).
    Returns (H, W, 3) uint8.
    """
    slicer = _import_slicer()
    before = _node_ids(app.scene)
    slice_logic = slicer.vtkMRMLSliceLogic()
    slice_logic.SetMRMLApplicationLogic(app.app_logic)
    slice_logic.SetMRMLScene(app.scene)
    app.app_logic.GetSliceLogics().AddItem(slice_logic)
    slice_node = slice_logic.AddSliceNode(f"MedColor{orientation}")
    try:
        slice_node.SetOrientation(orientation)
        slice_logic.GetSliceCompositeNode().SetBackgroundVolumeID(node.GetID())
        slice_logic.ResizeSliceNode(*size)
        slice_logic.FitSliceToBackground()
        if offset is not None:
            slice_logic.SetSliceOffset(offset)
        slice_logic.SnapSliceOffsetToIJK()
        return _render_image(slice_logic.GetImageDataConnection(), size, path)
    finally:
        app.app_logic.GetSliceLogics().RemoveItem(slice_logic)
        slice_logic.SetMRMLScene(None)
        _remove_nodes_added(app.scene, before)


def _render_image(connection, size: tuple[int, int], path) -> np.ndarray:
    """Draw a slice logic's RGBA output (already window/levelled to 0..255) like Slicer's slice view."""
    from vtkmodules.vtkRenderingCore import vtkActor2D, vtkImageMapper

    window, renderer = _offscreen_window(size)
    mapper = vtkImageMapper()
    mapper.SetColorWindow(255)
    mapper.SetColorLevel(127.5)
    mapper.SetInputConnection(connection)
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    renderer.AddViewProp(actor)
    try:
        window.Render()
        return _grab(window, path)
    finally:
        window.Finalize()
