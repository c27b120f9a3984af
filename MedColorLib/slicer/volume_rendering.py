"""Volume rendering with MedColor's 3-D presets: the colour render volume (direct colour, opacity ramp on its
alpha = the physical values) and the gray scan (flesh colour, the same ramp in physical values), both lit.

>>> render = add_render_volume(scene, ctNode, colourNode, "endoscopy")
>>> show_colour_3d(render, "endoscopy", logic)
"""

from __future__ import annotations

import numpy as np

from MedColorLib.errors import MedColorError
from MedColorLib.slicer import mrml

FLESH = (0.90, 0.62, 0.52)        # the gray scan's constant colour in 3-D (as an endoscopy preset shows it)
LIGHTING = {"ambient": 0.30, "diffuse": 0.75, "specular": 0.15, "specular_power": 12.0}
RENDER_ATTRIBUTE = "MedColor.renderOf"   # on the render volume: the ID of the colour volume it was made from
PRESET_ATTRIBUTE = "MedColor.preset3D"   # and the preset it was made for ("" once its colour volume changed)


def preset_of(node, name: str):
    """The named 3-D preset (pipeline.render3d.Preset) in this scalar node's physical values."""
    from MedColorLib.pipeline.render3d import preset_for

    return preset_for(mrml.volume_from_node(node), name)


def render_rgba(input_node, colour_node, preset_name: str = "endoscopy"):
    """(K, J, I, 4) uint16 render volume from the scalar input and its colour volume (see pipeline.render3d)."""
    from MedColorLib.pipeline.render3d import preset_for, render_volume

    if colour_node is None or colour_node.GetImageData() is None:
        raise MedColorError("no colour volume: colorize the scan first")
    volume = mrml.volume_from_node(input_node)
    return render_volume(volume, mrml.array_from_node(colour_node), preset_for(volume, preset_name))


def add_render_volume(scene, input_node, colour_node, preset_name: str = "endoscopy", node=None):
    """Add (or update ``node``) the RGBA render volume '<colour> 3-D' with the input's geometry; returns it.

    The colour volume itself is not changed: it stays the slice-view output."""
    return store_render_volume(scene, input_node, colour_node, preset_name,
                               render_rgba(input_node, colour_node, preset_name), node)


def store_render_volume(scene, input_node, colour_node, preset_name: str, rgba: np.ndarray, node=None):
    """Put a render volume computed elsewhere (the module's worker) into the scene as add_render_volume does:
    into ``node``, else into the render volume already made from ``colour_node``, else a new node."""
    node = node or find_render_volume(scene, colour_node)
    attributes = {RENDER_ATTRIBUTE: colour_node.GetID(), PRESET_ATTRIBUTE: preset_name}
    if node is not None:
        return mrml.update_color_node(node, rgba, input_node, attributes)
    return mrml.create_color_node(scene, rgba, input_node, f"{colour_node.GetName()} 3-D", attributes)


def _display(node, logic):
    display = mrml.volume_rendering_logic(logic).CreateDefaultVolumeRenderingNodes(node)
    if display is None or display.GetVolumePropertyNode() is None:
        raise MedColorError(f"volume rendering could not be set up for '{node.GetName()}'")
    return display


def _light(prop) -> None:
    """Shading on with MedColor's material: depth cues from the gradient of the physical values."""
    prop.ShadeOn()
    prop.SetAmbient(LIGHTING["ambient"])
    prop.SetDiffuse(LIGHTING["diffuse"])
    prop.SetSpecular(LIGHTING["specular"])
    prop.SetSpecularPower(LIGHTING["specular_power"])
    prop.SetInterpolationTypeToLinear()


def _ramp(function, low: float, high: float, top: float, lowest: float, highest: float) -> None:
    function.RemoveAllPoints()
    for x, y in ((lowest, 0.0), (low, 0.0), (high, top), (highest, top)):
        function.AddPoint(x, y)


def show_colour_3d(render_node, preset_name: str, logic=None, *, input_node=None, visible: bool = True):
    """Direct-colour, lit volume rendering of a render volume with the preset's opacity ramp on its alpha.

    The preset comes from ``input_node`` (MR presets are percentiles of the scan); CT presets need none."""
    from MedColorLib.pipeline.render3d import ALPHA_MAX, CT_PRESETS

    preset = preset_of(input_node, preset_name) if input_node is not None else CT_PRESETS.get(preset_name)
    if preset is None:
        raise MedColorError(f"unknown 3-D preset {preset_name!r}")
    image = render_node.GetImageData() if render_node is not None else None
    if image is None or image.GetNumberOfScalarComponents() != 4:
        raise MedColorError("the 3-D colour needs the RGBA render volume (add_render_volume)")
    display = _display(render_node, logic)
    if display.IsA("vtkMRMLCPURayCastVolumeRenderingDisplayNode"):
        _to_8_bits(render_node)
    prop = display.GetVolumePropertyNode().GetVolumeProperty()
    prop.IndependentComponentsOff()   # RGB is the colour; alpha drives opacity, gradient and lighting
    _light(prop)
    top = 255.0 if _is_8_bits(render_node) else ALPHA_MAX
    low, high = (a * top / ALPHA_MAX for a in preset.alpha_ramp())
    _ramp(display.GetVolumePropertyNode().GetScalarOpacity(), low, high, preset.opacity, 0.0, top)
    _flat(display.GetVolumePropertyNode().GetGradientOpacity(), 0.0, top)
    display.SetVisibility(visible)
    return display


def _is_8_bits(node) -> bool:
    from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR

    return node.GetImageData().GetScalarType() == VTK_UNSIGNED_CHAR


def _to_8_bits(render_node) -> None:
    """VTK's CPU ray caster renders dependent RGBA only as unsigned char (16 bits render nothing): the render
    volume is rounded to 8 bits for it, and its lit surface is coarser (see docs/endoscopy.md)."""
    import logging

    if _is_8_bits(render_node):
        return
    logging.warning("MedColor: CPU ray casting renders the 3-D colour with 8 bits; GPU ray casting (Slicer's "
                    "default) renders it with 16 bits and a smoother lit surface")
    rgba = mrml.array_from_node(render_node).astype(np.float32) / 257.0
    render_node.SetAndObserveImageData(mrml.image_data_from_rgba(np.round(rgba).astype(np.uint8)))
    mrml.as_color_volume(render_node)   # its slice-view window back to 0..255


def show_gray_3d(input_node, preset_name: str, logic=None, *, colour=FLESH, visible: bool = True):
    """The gray scan rendered the conventional way: one flesh colour, the preset's ramp in physical values, lit."""
    preset = preset_of(input_node, preset_name)
    display = _display(input_node, logic)
    prop_node = display.GetVolumePropertyNode()
    _light(prop_node.GetVolumeProperty())
    lo, hi = (float(v) for v in np.asarray(input_node.GetImageData().GetScalarRange()))
    lowest, highest = min(lo, preset.ramp[0] - 1), max(hi, preset.ramp[1] + 1)
    _ramp(prop_node.GetScalarOpacity(), *preset.ramp, preset.opacity, lowest, highest)
    colours = prop_node.GetColor()
    colours.RemoveAllPoints()
    colours.AddRGBPoint(lowest, *colour)
    colours.AddRGBPoint(highest, *colour)
    _flat(prop_node.GetGradientOpacity(), 0.0, max(1.0, highest - lowest))
    display.SetVisibility(visible)
    return display


def _flat(function, low: float, high: float) -> None:
    """Gradient opacity 1 everywhere: opacity comes from the values, the gradient only lights."""
    function.RemoveAllPoints()
    function.AddPoint(low, 1.0)
    function.AddPoint(high, 1.0)


def find_render_volume(scene, colour_node):
    """The render volume made earlier from ``colour_node`` (by its MedColor.renderOf attribute), or None."""
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLVectorVolumeNode")):
        node = scene.GetNthNodeByClass(n, "vtkMRMLVectorVolumeNode")
        if node.GetAttribute(RENDER_ATTRIBUTE) == colour_node.GetID():
            return node
    return None


def current_render_volume(colour_node, preset_name: str):
    """The render volume of ``colour_node`` made for ``preset_name`` and still current, or None (make one)."""
    scene = colour_node.GetScene() if colour_node is not None else None
    render = find_render_volume(scene, colour_node) if scene is not None else None
    return render if render is not None and render.GetAttribute(PRESET_ATTRIBUTE) == preset_name else None


def mark_render_stale(colour_node) -> None:
    """The colour volume was remade: its render volume, if any, is made again on the next Show in 3-D."""
    scene = colour_node.GetScene()
    render = find_render_volume(scene, colour_node) if scene is not None else None
    if render is not None:
        render.SetAttribute(PRESET_ATTRIBUTE, "")


def show_in_3d(input_node, colour_node, preset_name: str = "endoscopy", logic=None):
    """What Show in 3-D does: the render volume of (scan, colour volume, preset) made or refreshed, shown lit
    with the preset; the colour volume's own rendering hidden. Returns the render volume's display node."""
    if input_node is None:
        raise MedColorError("select the input scan: the 3-D colour is made from the scan and its colour volume")
    if colour_node is None or colour_node.GetScene() is None:
        raise MedColorError("no colour volume: colorize the scan first")
    scene = colour_node.GetScene()
    render = current_render_volume(colour_node, preset_name)
    if render is None:
        render = add_render_volume(scene, input_node, colour_node, preset_name)
    for n in range(colour_node.GetNumberOfDisplayNodes()):
        display = colour_node.GetNthDisplayNode(n)
        if display is not None and display.IsA("vtkMRMLVolumeRenderingDisplayNode"):
            display.SetVisibility(False)
    return show_colour_3d(render, preset_name, logic, input_node=input_node)
