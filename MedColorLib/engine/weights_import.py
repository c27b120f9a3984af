"""Read VGG16/VGG19 convolution weights from a user's file: a torch state dict, an ONNX export, or
tensorflow-vgg's ``vgg19.npy`` (the authors' format). Every reader returns a torchvision ``features``
state dict, its architecture and the preprocessing its weights expect; a bad file -> MedColorError.

No reader executes code from the file: torch loads with ``weights_only=True``, ONNX is a protobuf, and
the ``.npy`` pickle goes through an unpickler that admits only numpy arrays, dicts, lists and strings.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from MedColorLib.engine.backbones import (ARCHITECTURES, conv_positions, conv_shapes, detect_architecture, expected_state,
                                          features_from_state)
from MedColorLib.errors import MedColorError

PREPROCESSING = ("caffe", "torchvision")


@dataclass
class Imported:
    """Features state dict (torchvision keys), architecture, the preprocessing its weights expect, format notes."""

    state: dict[str, torch.Tensor]
    arch: str
    preprocess: str
    info: dict = field(default_factory=dict)


def read_weights_file(path: Path) -> Imported:
    """Dispatch on the suffix: .onnx, .npy, anything else a torch state dict; every weight must be finite."""
    if path.is_dir():
        raise MedColorError(f"weights {path} is a directory; give a .pth, .onnx or .npy file")
    if not path.exists():
        raise MedColorError(f"weights file not found: {path}")
    from MedColorLib.io.paths import check_regular_file
    check_regular_file(path, "weights file")
    suffix = path.suffix.lower()
    reader = read_onnx if suffix == ".onnx" else read_tensorflow_vgg if suffix == ".npy" else read_torch
    return check_finite(reader(path), path)


def check_finite(imported: Imported, path: Path) -> Imported:
    """MedColorError naming the first layer with a NaN or infinite weight (such a network colours nothing)."""
    for name, tensor in imported.state.items():
        if not bool(torch.isfinite(tensor).all()):
            raise MedColorError(f"weights file {path} has NaN or infinite values in {name}; it is damaged or "
                                "was saved from a diverged training: give intact weights")
    return imported


# ---------------------------------------------------------------- torch state dict
def read_torch(path: Path) -> Imported:
    """A VGG16/VGG19 state dict (whole model or features only; MedColor's own files carry a "medcolor" note)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt, truncated or non-tensor file
        raise MedColorError(f"cannot load weights file {path}: {type(err).__name__}") from None
    if not isinstance(data, dict):
        raise MedColorError(f"weights file {path} does not hold a state dict")
    note = data.get("medcolor") if isinstance(data.get("medcolor"), dict) else {}
    state = data.get("state_dict", data) if note else data
    state = {k.removeprefix("features."): v for k, v in state.items()
             if isinstance(v, torch.Tensor) and not k.startswith("classifier.")}
    arch = detect_architecture(state)
    if arch is None:
        features_from_state(state, f"weights file {path}")  # raises, naming the first mismatch
    preprocess = note.get("preprocessing", "torchvision")
    if preprocess not in PREPROCESSING:
        raise MedColorError(f"weights file {path} names an unknown preprocessing {preprocess!r}")
    return Imported({k: state[k].float().contiguous() for k in expected_state(arch)}, arch, preprocess,
                    {"format": "torch state dict", **{k: v for k, v in note.items() if isinstance(v, str)}})


# ---------------------------------------------------------------- ONNX
_KERAS_NAME = re.compile(r"(block\d+_conv\d+)")


def read_onnx(path: Path) -> Imported:
    """The conv weights of an ONNX VGG16/VGG19, taken from its Conv nodes in graph order (names are only labels).

    ONNX Conv weights are OIHW and, like torch, cross-correlation: no transpose or flip. A graph with an
    NHWC input (a Keras export, tf2onnx) is taken to hold Keras/Caffe ImageNet-style weights, which
    expect Caffe preprocessing; an NCHW graph (a torch export) torchvision's normalisation.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise MedColorError("reading ONNX weights needs the onnx package: pip install onnx") from None
    try:
        graph = onnx.load(str(path)).graph
    except Exception as err:  # a truncated or non-ONNX file: protobuf DecodeError and friends
        raise MedColorError(f"cannot read ONNX file {path}: {type(err).__name__}") from None
    consts = _constants(graph, numpy_helper)
    convs = []
    for node in graph.node:  # ONNX keeps nodes topologically sorted
        if node.op_type != "Conv":
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        w = consts.get(node.input[1]) if len(node.input) > 1 else None
        b = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if w is None or w.ndim != 4 or group != 1:
            raise MedColorError(f"ONNX file {path} is not a plain VGG: conv {node.name} has no constant 4-D weight")
        b = np.zeros(w.shape[0], np.float32) if b is None else b.reshape(-1)
        label = _KERAS_NAME.search(node.name) or _KERAS_NAME.search(node.input[1])
        convs.append((label.group(1) if label else f"conv{len(convs)}", w, b))
    by_count = {len(conv_shapes(a)): a for a in ARCHITECTURES}
    if len(convs) not in by_count:
        raise MedColorError(f"ONNX file {path} is not a VGG16/19: {len(convs)} convolutions, expected 13 or 16")
    arch = by_count[len(convs)]
    state = _state_from_convs(convs, arch, f"ONNX file {path}")
    nhwc = _input_is_nhwc(graph)
    return Imported(state, arch, "caffe" if nhwc else "torchvision",
                    {"format": "onnx", "producer": graph_producer(path), "input": "NHWC" if nhwc else "NCHW"})


def graph_producer(path: Path) -> str:
    """The ONNX producer name and version (e.g. tf2onnx 1.17.0), for provenance."""
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    return f"{model.producer_name} {model.producer_version}".strip()


def _constants(graph, numpy_helper) -> dict[str, np.ndarray]:
    """Initializers and Constant outputs, folded through Identity/Transpose/Cast (exporters leave these on weights)."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
        elif node.op_type in ("Identity", "Transpose", "Cast") and node.input and node.input[0] in values:
            src = values[node.input[0]]
            if node.op_type == "Transpose":
                perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
                src = np.transpose(src, perm)
            values[node.output[0]] = src
    return values


def _input_is_nhwc(graph) -> bool:
    """True when the first graph input's last dimension is 3 (channels last)."""
    dims = graph.input[0].type.tensor_type.shape.dim if graph.input else []
    return len(dims) == 4 and dims[-1].dim_value == 3 and dims[1].dim_value != 3


def _state_from_convs(convs: list[tuple[str, np.ndarray, np.ndarray]], arch: str, what: str) -> dict[str, torch.Tensor]:
    """Map (name, OIHW weight, bias) in order onto features keys, checking every shape; only up to relu5_1 is kept."""
    keep = expected_state(arch)
    state = {}
    for (name, w, b), pos, shape in zip(convs, conv_positions(arch), conv_shapes(arch)):
        if tuple(w.shape) != shape or tuple(b.shape) != (shape[0],):
            raise MedColorError(f"{what} is not a {arch}: {name} has weight {tuple(w.shape)}, expected {shape}")
        if f"{pos}.weight" in keep:
            state[f"{pos}.weight"] = torch.from_numpy(np.array(w, np.float32))
            state[f"{pos}.bias"] = torch.from_numpy(np.array(b, np.float32))
    return state


# ---------------------------------------------------------------- tensorflow-vgg .npy
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dicts, lists and strings, and refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def restricted_npy(path: Path):
    """The object stored in an object-dtype .npy (np.save of a dict), through the arrays-only unpickler."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
        except Exception as err:
            raise MedColorError(f"{path} is not a .npy file ({type(err).__name__})") from None
        if not dtype.hasobject:
            raise MedColorError(f"{path} holds a plain {dtype} array of shape {shape}, not tensorflow-vgg's dict")
        try:  # latin1: tensorflow-vgg's files were pickled by Python 2
            obj = _ArraysOnly(f, encoding="latin1").load()
        except pickle.UnpicklingError as err:
            raise MedColorError(f"{path} is refused: its pickle holds other objects ({err})") from None
        except Exception as err:  # truncated or corrupt data
            raise MedColorError(f"cannot read {path}: {type(err).__name__}") from None
    return obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj


def read_tensorflow_vgg(path: Path) -> Imported:
    """tensorflow-vgg's vgg16.npy / vgg19.npy: {"conv1_1": [W (HWIO), b], ...}; BGR 0-255 minus the mean input."""
    data = restricted_npy(path)
    if not isinstance(data, dict):
        raise MedColorError(f"{path} does not hold tensorflow-vgg's dict of layers (found {type(data).__name__})")
    names = {"vgg19": _vgg_names(4), "vgg16": _vgg_names(3)}
    arch = "vgg19" if "conv5_4" in data or "conv3_4" in data else "vgg16"
    missing = [n for n in names[arch] if n not in data]
    if missing:
        raise MedColorError(f"{path} is not a tensorflow-vgg {arch} file: no layer {missing[0]}")
    convs = []
    for name in names[arch]:
        entry = data[name]
        if not isinstance(entry, (list, tuple)) or len(entry) < 2 or not all(isinstance(a, np.ndarray) for a in entry[:2]):
            raise MedColorError(f"{path}: layer {name} is not a [weight, bias] pair of arrays")
        w, b = entry[0], entry[1]
        if w.ndim != 4:
            raise MedColorError(f"{path}: layer {name} has weight shape {w.shape}, expected 3x3xINxOUT")
        convs.append((name, np.ascontiguousarray(w.transpose(3, 2, 0, 1)), b))  # HWIO -> OIHW, no flip
    return Imported(_state_from_convs(convs, arch, str(path)), arch, "caffe", {"format": "tensorflow-vgg npy"})


def _vgg_names(convs_in_late_blocks: int) -> list[str]:
    """conv1_1 .. conv5_N in order (blocks 3-5 have 3 convs in VGG16, 4 in VGG19)."""
    counts = (2, 2, convs_in_late_blocks, convs_in_late_blocks, convs_in_late_blocks)
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(counts) for i in range(n)]
