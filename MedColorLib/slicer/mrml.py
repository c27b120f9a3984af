"""The one bridge between MRML nodes and the pipeline; imports ``slicer``/``vtk`` lazily, never Qt.

Slicer stores geometry as IJK -> RAS; :class:`~MedColorLib.volume.Volume` is LPS (ITK). RAS -> LPS
flips the signs of the first two world axes. Arrays are (K, J, I) as ``slicer.util.arrayFromVolume``.

>>> volume = volume_from_node(inputNode)
>>> colorNode = create_color_node(slicer.mrmlScene, result.rgba, inputNode, "CT colour", attributes)
>>> show_volume_rendering(colorNode)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from MedColorLib.errors import CancelledError, MedColorError
from MedColorLib.types import CancelFn, ProgressFn, Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
ATTRIBUTE_PREFIX = "MedColor."
DEFAULT_ALPHA_RAMP = (16.0, 64.0)


# ---------------------------------------------------------------- scalar node -> Volume


def check_input_node(node) -> None:
    """Raise MedColorError unless ``node`` is a 3-D single-component scalar volume node with voxels."""
    if node is None:
        raise MedColorError("no input volume selected: choose a CT or MRI scalar volume")
    name = node.GetName() if hasattr(node, "GetName") else str(node)
    if not node.IsA("vtkMRMLScalarVolumeNode"):
        raise MedColorError(f"'{name}' is a {node.GetClassName()}, not a scalar volume: choose a CT or MRI volume")
    if node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise MedColorError(f"'{name}' is a label map (segmentation), not an image: choose a CT or MRI volume")
    image = node.GetImageData()
    if image is None:
        raise MedColorError(f"'{name}' has no voxels: load the image data first")
    if node.IsA("vtkMRMLVectorVolumeNode") or image.GetNumberOfScalarComponents() != 1:
        raise MedColorError(f"'{name}' is a colour/vector volume ({image.GetNumberOfScalarComponents()} "
                            "components): choose a grayscale scalar volume")
    dims = image.GetDimensions()
    if min(dims) < 2:
        raise MedColorError(f"'{name}' is 2-D ({dims[0]}x{dims[1]}x{dims[2]} voxels): MedColor colorizes volumes; "
                            "use the medcolor command line for single images")


def ijk_to_ras(node) -> np.ndarray:
    """The node's 4x4 IJK -> RAS matrix as numpy."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def geometry_from_ijk_to_ras(matrix: np.ndarray) -> tuple[tuple, tuple, np.ndarray]:
    """(spacing, origin, direction) in LPS for a 4x4 IJK -> RAS matrix."""
    ijk_to_lps = RAS_TO_LPS @ np.asarray(matrix, dtype=float)[:3]
    spacing = np.linalg.norm(ijk_to_lps[:, :3], axis=0)
    direction = ijk_to_lps[:, :3] / spacing
    return tuple(float(s) for s in spacing), tuple(float(o) for o in ijk_to_lps[:, 3]), direction


def ijk_to_ras_from_volume(volume: Volume) -> np.ndarray:
    """The 4x4 IJK -> RAS matrix of a Volume (inverse of :func:`geometry_from_ijk_to_ras`)."""
    matrix = np.eye(4)
    matrix[:3, :3] = RAS_TO_LPS @ np.asarray(volume.direction, dtype=float) @ np.diag(volume.spacing)
    matrix[:3, 3] = RAS_TO_LPS @ np.asarray(volume.origin, dtype=float)
    return matrix


def array_from_node(node) -> np.ndarray:
    """A copy of the node's voxels, (K, J, I) or (K, J, I, C)."""
    return _image_array(node.GetImageData()).copy()


def _image_array(image) -> np.ndarray:
    """A vtkImageData's voxels as a numpy view (no copy), (K, J, I) or (K, J, I, C)."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    components = image.GetNumberOfScalarComponents()
    shape = tuple(reversed(image.GetDimensions())) + ((components,) if components > 1 else ())
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape)


def volume_from_node(node) -> Volume:
    """Convert a scalar volume node to a Volume (array copied, geometry in LPS)."""
    check_input_node(node)
    spacing, origin, direction = geometry_from_ijk_to_ras(ijk_to_ras(node))
    return Volume(array=array_from_node(node), spacing=spacing, origin=origin, direction=direction,
                  modality=dicom_modality(node), metadata={"name": node.GetName()})


def dicom_modality(node) -> str:
    """The DICOM Modality ("CT", "MR", ...) of a loaded series, or "" when unknown; the scene is not changed.

    Slicer's DICOM import stores it on the series' subject hierarchy item, not on the volume node
    (DICOMLib/DICOMPlugin.py ``addSeriesInSubjectHierarchy``); a node attribute set by a script is the fallback."""
    import slicer

    attribute = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMSeriesModalityAttributeName()  # "DICOM.Modality"
    scene = node.GetScene()
    # the DICOM import creates the hierarchy node; looking it up must not add one to a scene that has none
    hierarchy = scene.GetFirstNodeByClass("vtkMRMLSubjectHierarchyNode") if scene is not None else None
    item = hierarchy.GetItemByDataNode(node) if hierarchy is not None else 0
    modality = hierarchy.GetItemAttribute(item, attribute) if item else ""
    return (modality or node.GetAttribute(attribute) or "").strip().upper()


# ---------------------------------------------------------------- RGB(A) -> vector node


def _check_rgba(rgba: np.ndarray, like_node=None) -> np.ndarray:
    rgba = np.asarray(rgba)
    if rgba.ndim != 4 or rgba.shape[-1] not in (3, 4) or rgba.dtype not in (np.uint8, np.uint16):
        raise MedColorError(f"colour volume must be uint8 (K, J, I, 3|4) (uint16: 3-D), got {rgba.dtype} {rgba.shape}")
    if like_node is not None and like_node.GetImageData() is not None:
        expected = tuple(reversed(like_node.GetImageData().GetDimensions()))
        if rgba.shape[:3] != expected:
            raise MedColorError(f"colour volume {rgba.shape[:3]} does not match '{like_node.GetName()}' {expected}")
    return rgba


def image_data_from_rgba(rgba: np.ndarray):
    """A vtkImageData (I, J, K) holding a deep copy of an RGB(A) uint8 (K, J, I, C) array (uint16: the 3-D
    render volume, pipeline/render3d.py)."""
    import vtk
    from vtkmodules.util.numpy_support import numpy_to_vtk

    rgba = _check_rgba(rgba)
    image = vtk.vtkImageData()
    image.SetDimensions(rgba.shape[2], rgba.shape[1], rgba.shape[0])
    scalars = numpy_to_vtk(np.ascontiguousarray(rgba).reshape(-1, rgba.shape[-1]), deep=True,
                           array_type=vtk.VTK_UNSIGNED_SHORT if rgba.dtype == np.uint16 else vtk.VTK_UNSIGNED_CHAR)
    scalars.SetName("RGBA" if rgba.shape[-1] == 4 else "RGB")
    image.GetPointData().SetScalars(scalars)
    return image


def _as_image(colour, like_node=None):
    """A checked RGB(A) uint8 vtkImageData: an array (K, J, I, C) is copied, a vtkImageData is used as it is."""
    if isinstance(colour, np.ndarray):
        return image_data_from_rgba(_check_rgba(colour, like_node))
    _check_rgba(_image_array(colour), like_node)
    return colour


def without_alpha(colour):
    """An RGB(A) (K, J, I, C) array (as a view) or vtkImageData (copied) as RGB, for the scene.

    Slice views draw RGBA over black, so MedColor's alpha (the windowed gray) would darken each voxel by its own
    gray; for RGB, volume rendering takes alpha from luminance, which is that gray (docs/slicer_module.md)."""
    if isinstance(colour, np.ndarray):
        return colour[..., :3] if colour.ndim == 4 and colour.shape[-1] == 4 else colour
    return image_data_from_rgba(_image_array(colour)[..., :3]) if colour.GetNumberOfScalarComponents() == 4 else colour


def provenance_attributes(report: Mapping[str, Any] | None) -> dict[str, str]:
    """Node attributes ``MedColor.<key>`` from a pipeline report (nested values as JSON)."""
    attributes = {}
    for key, value in (report or {}).items():
        text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
        attributes[ATTRIBUTE_PREFIX + str(key)] = text
    return attributes


def set_attributes(node, attributes: Mapping[str, Any] | None) -> None:
    """Set node attributes; keys without the ``MedColor.`` prefix get it."""
    for key, value in (attributes or {}).items():
        key = key if key.startswith(ATTRIBUTE_PREFIX) else ATTRIBUTE_PREFIX + key
        node.SetAttribute(key, value if isinstance(value, str) else json.dumps(value, default=str))


def _fill_color_node(node, image, like_node) -> None:
    import slicer

    node.SetAndObserveImageData(image)
    node.CopyOrientation(like_node)
    rgba = image.GetNumberOfScalarComponents() == 4
    node.SetVoxelVectorType(slicer.vtkMRMLVolumeNode.VoxelVectorTypeColorRGBA if rgba
                            else slicer.vtkMRMLVolumeNode.VoxelVectorTypeColorRGB)
    node.SetAndObserveTransformNodeID(like_node.GetTransformNodeID())


def _fix_window_level(node) -> None:
    """Show colours as they are in slice views: auto W/L off, window/level 0..255."""
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is not None and display.IsA("vtkMRMLScalarVolumeDisplayNode"):
        display.SetAutoWindowLevel(False)
        import vtk

        display.SetWindowLevelMinMax(0, 65535 if node.GetImageData().GetScalarType() == vtk.VTK_UNSIGNED_SHORT
                                     else 255)


def create_color_node(scene, rgba, like_node, name: str, attributes: Mapping[str, Any] | None = None):
    """Add a new RGB(A) vector volume node with ``like_node``'s geometry, display nodes and attributes.

    ``rgba``: uint8 (K, J, I, 3|4) array (copied) or vtkImageData (used as it is)."""
    import slicer

    image = _as_image(rgba, like_node)
    node = slicer.vtkMRMLVectorVolumeNode()
    node.SetName(scene.GenerateUniqueName(name) if hasattr(scene, "GenerateUniqueName") else name)
    _fill_color_node(node, image, like_node)
    set_attributes(node, attributes)
    scene.AddNode(node)
    _fix_window_level(node)
    return node


def update_color_node(node, rgba, like_node, attributes: Mapping[str, Any] | None = None):
    """Replace an existing vector volume node's voxels (array or vtkImageData), geometry and MedColor attributes."""
    if node is None or not node.IsA("vtkMRMLVectorVolumeNode"):
        raise MedColorError("the output must be a vector (colour) volume node")
    image = _as_image(rgba, like_node)
    was_modifying = node.StartModify()
    try:
        for key in [k for k in (node.GetAttributeNames() or ()) if k.startswith(ATTRIBUTE_PREFIX)]:
            node.RemoveAttribute(key)
        _fill_color_node(node, image, like_node)
        set_attributes(node, attributes)
    finally:
        node.EndModify(was_modifying)
    _fix_window_level(node)
    return node


def as_color_volume(node):
    """Mark a loaded 3/4-component uchar vector volume as RGB(A) colour and fix its W/L to 0..255."""
    import slicer

    image = node.GetImageData() if node is not None else None
    components = image.GetNumberOfScalarComponents() if image is not None else 0
    if not node.IsA("vtkMRMLVectorVolumeNode") or components not in (3, 4):
        raise MedColorError(f"'{node.GetName()}' is not an RGB/RGBA vector volume")
    node.SetVoxelVectorType(slicer.vtkMRMLVolumeNode.VoxelVectorTypeColorRGBA if components == 4
                            else slicer.vtkMRMLVolumeNode.VoxelVectorTypeColorRGB)
    _fix_window_level(node)
    return node


def reference_from_node(node) -> np.ndarray:
    """A colour image or volume node as a reference picture (H, W, 3) float32 in [0, 1] (middle slice)."""
    if node is None or node.GetImageData() is None:
        raise MedColorError("no reference image selected: choose a colour image or volume")
    rgb = array_from_node(node)
    if rgb.ndim != 4 or rgb.shape[-1] not in (3, 4):
        raise MedColorError(f"reference '{node.GetName()}' is not a colour image (RGB): load a colour picture")
    middle = rgb[rgb.shape[0] // 2, :, :, :3].astype(np.float32)
    scale = 255.0 if rgb.dtype == np.uint8 or middle.max() > 1.0 else 1.0
    return np.clip(middle / scale, 0.0, 1.0)


# ---------------------------------------------------------------- volume rendering


def volume_rendering_logic(logic=None):
    """``logic``, else Slicer's volume rendering module logic (a clear error outside the Slicer application)."""
    if logic is not None:
        return logic
    import slicer

    try:
        return slicer.modules.volumerendering.logic()
    except AttributeError as exc:
        raise MedColorError("volume rendering logic not available: pass it explicitly outside Slicer") from exc


def _vr_display_node(node, logic):
    """The node's volume rendering display node, created by Slicer with the user's rendering method if missing.

    ``CreateDefaultVolumeRenderingNodes`` returns the existing node or adds one owned by the scene (no
    reference for the caller to release, no ROI node) of the class chosen in Application Settings."""
    display = logic.CreateDefaultVolumeRenderingNodes(node)
    if display is None or display.GetVolumePropertyNode() is None:
        raise MedColorError(f"volume rendering could not be set up for '{node.GetName()}'")
    return display


def set_alpha_opacity_ramp(display, alpha_ramp: tuple[float, float] = DEFAULT_ALPHA_RAMP,
                           opacity: float = 1.0) -> None:
    """Scalar opacity on the alpha channel: 0 below ``alpha_ramp[0]`` (air), ``opacity`` above ``[1]``."""
    low, high = float(alpha_ramp[0]), float(alpha_ramp[1])
    if not 0 <= low < high <= 255:
        raise MedColorError(f"alpha opacity ramp {alpha_ramp} must satisfy 0 <= low < high <= 255")
    prop = display.GetVolumePropertyNode().GetVolumeProperty()
    prop.IndependentComponentsOff()
    scalar_opacity = display.GetVolumePropertyNode().GetScalarOpacity()
    scalar_opacity.RemoveAllPoints()
    for x, y in ((0.0, 0.0), (low, 0.0), (high, opacity), (255.0, opacity)):
        scalar_opacity.AddPoint(x, y)
    gradient_opacity = display.GetVolumePropertyNode().GetGradientOpacity()
    gradient_opacity.RemoveAllPoints()
    gradient_opacity.AddPoint(0.0, 1.0)
    gradient_opacity.AddPoint(255.0, 1.0)


def show_volume_rendering(node, logic=None, *, alpha_ramp: tuple[float, float] = DEFAULT_ALPHA_RAMP,
                          opacity: float = 1.0, visible: bool = True):
    """Plain direct-colour volume rendering of an RGB(A) node as it is, unlit, air transparent; returns the display
    node. The rendering method (GPU or CPU ray casting) is the user's Slicer setting.

    For 3-D views and endoscopy use ``volume_rendering.show_in_3d``: the slice-view colour keeps the scan's luma,
    so rendered as it is the walls are dark and ringed (docs/endoscopy.md).
    """
    if node is None or not node.IsA("vtkMRMLVectorVolumeNode") or node.GetScene() is None:
        raise MedColorError("volume rendering needs a colour volume node in a scene")
    components = node.GetImageData().GetNumberOfScalarComponents() if node.GetImageData() else 0
    if components not in (3, 4):
        raise MedColorError(f"'{node.GetName()}' has {components} components; volume rendering needs RGB or RGBA")
    display = _vr_display_node(node, volume_rendering_logic(logic))
    # Slicer's recommended properties turn shading on, which darkens the transferred colours: keep them unlit
    display.GetVolumePropertyNode().GetVolumeProperty().ShadeOff()
    # RGB: Slicer appends the colours' luminance as alpha (vtkMRMLVolumeRenderingDisplayableManager): the ramp applies
    set_alpha_opacity_ramp(display, alpha_ramp, opacity)
    display.SetVisibility(visible)
    return display


# ---------------------------------------------------------------- files (for the worker process)


def write_volume_node(node, path: str | Path) -> Path:
    """Write a volume node to a file (NRRD, NIfTI...) with Slicer's storage node; the scene is not changed."""
    import slicer

    path = Path(path)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(False)
    if not storage.WriteData(node) or not path.is_file():
        raise MedColorError(f"could not write '{node.GetName()}' to {path}")
    return path


def read_color_image(path: str | Path):
    """Read a colour volume file with Slicer's storage node, outside any scene: its uint8 RGB(A) vtkImageData."""
    import slicer

    path = Path(path)
    if not path.is_file():
        raise MedColorError(f"colour volume file not found: {path}")
    node = slicer.vtkMRMLVectorVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetSingleFile(True)
    if not storage.ReadData(node) or node.GetImageData() is None:
        raise MedColorError(f"Slicer could not read the colour volume {path}")
    rgba = _image_array(node.GetImageData())
    if rgba.ndim != 4 or rgba.dtype != np.uint8 or rgba.shape[-1] not in (3, 4):
        raise MedColorError(f"{path} is not a uint8 RGB(A) volume ({rgba.dtype} {rgba.shape})")
    return node.GetImageData()


def read_color_array(path: str | Path) -> np.ndarray:
    """Read a colour volume file with Slicer's storage node into (K, J, I, C) uint8, outside any scene."""
    return _image_array(read_color_image(path)).copy()


# ---------------------------------------------------------------- one blocking call


def run_colorization(input_node, output_node=None, options=None, *, reference: np.ndarray | None = None,
                     library: Path | None = None, library_set: str | None = None,
                     window: str | tuple | None = None, name: str | None = None,
                     progress: ProgressFn | None = None, cancel: CancelFn | None = None):
    """Colorize ``input_node`` in this process; return the output vector volume node.

    Blocking (for scripts and tests). The output node is created, or ``output_node`` updated, only on
    success: on an error or a cancel the scene is unchanged.
    """
    from MedColorLib.options import Options

    volume = volume_from_node(input_node)
    if output_node is not None and not output_node.IsA("vtkMRMLVectorVolumeNode"):
        raise MedColorError("the output must be a vector (colour) volume node")
    options = (options or Options()).check()
    from MedColorLib.pipeline.volume import colorize_volume  # torch and the engine load only for a valid request
    result = colorize_volume(volume, options, reference=reference, library=library, library_set=library_set,
                             window=window, progress=progress, cancel=cancel)
    if cancel is not None and cancel():
        raise CancelledError("colorization cancelled")
    return store_result(input_node, result.rgba, result.report, output_node, name)


def store_result(input_node, rgba, report: Mapping | None, output_node=None, name: str | None = None):
    """Put a finished colour volume (array or vtkImageData) into the scene as RGB (:func:`without_alpha`):
    update ``output_node`` or create a new node."""
    attributes = provenance_attributes(report)
    colour = without_alpha(rgba)
    if output_node is not None:
        return update_color_node(output_node, colour, input_node, attributes)
    return create_color_node(input_node.GetScene(), colour, input_node, name or f"{input_node.GetName()} colour",
                             attributes)
