"""VGG16 and VGG19 (torchvision's architectures, no batch norm): layer maps, feature modules, state-dict checks.

Both networks have every layer the losses use (conv1_1, conv2_1, conv3_1, conv4_1, conv4_2, conv5_1); only
their positions in ``features`` differ. The architecture of a set of weights is read off its shapes.
"""

from __future__ import annotations

import torch
from torch import nn

from MedColorLib.errors import MedColorError

ARCHITECTURES = ("vgg16", "vgg19")
# torchvision's cfgs "D" (VGG16) and "E" (VGG19); "M" is a 2x2 max-pool
CFGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# post-ReLU outputs used by the losses, as indices into torchvision's <arch>().features
LAYER_MAPS: dict[str, dict[str, int]] = {
    "vgg16": {"conv1_1": 1, "conv2_1": 6, "conv3_1": 11, "conv4_1": 18, "conv4_2": 20, "conv5_1": 25},
    "vgg19": {"conv1_1": 1, "conv2_1": 6, "conv3_1": 11, "conv4_1": 20, "conv4_2": 22, "conv5_1": 29},
}


def cut(arch: str) -> int:
    """Number of ``features`` modules kept: up to and including relu5_1."""
    return LAYER_MAPS[arch]["conv5_1"] + 1


def conv_positions(arch: str) -> list[int]:
    """Indices of every Conv2d of torchvision's <arch>().features (13 for VGG16, 16 for VGG19)."""
    out, i = [], 0
    for v in CFGS[arch]:
        if v == "M":
            i += 1
        else:
            out.append(i)
            i += 2  # Conv2d + ReLU
    return out


def conv_shapes(arch: str) -> list[tuple[int, int, int, int]]:
    """OIHW weight shapes of every conv, in order."""
    shapes, cin = [], 3
    for v in CFGS[arch]:
        if v != "M":
            shapes.append((int(v), cin, 3, 3))
            cin = int(v)
    return shapes


def expected_state(arch: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict of features[:cut(arch)]."""
    out: dict[str, tuple[int, ...]] = {}
    for pos, shape in zip(conv_positions(arch), conv_shapes(arch)):
        if pos < cut(arch):
            out[f"{pos}.weight"], out[f"{pos}.bias"] = shape, (shape[0],)
    return out


def features_module(arch: str) -> nn.Sequential:
    """features[:cut] of torchvision's <arch>, built without the 120M-parameter classifier (its init costs seconds)."""
    from torchvision.models.vgg import make_layers
    return make_layers(CFGS[arch], batch_norm=False)[:cut(arch)]


def detect_architecture(state: dict[str, torch.Tensor]) -> str | None:
    """The architecture whose features[:cut] keys and shapes all appear in state (VGG19 needs 16.weight, a
    pool in VGG16; VGG16 needs 17.weight, a ReLU in VGG19), or None."""
    for arch in ARCHITECTURES:
        want = expected_state(arch)
        if all(k in state and tuple(state[k].shape) == s for k, s in want.items()):
            return arch
    return None


def features_from_state(state: dict[str, torch.Tensor], what: str) -> tuple[nn.Sequential, str]:
    """A features module loaded strictly from a features state dict; MedColorError naming what is wrong."""
    arch = detect_architecture(state)
    if arch is None:
        raise MedColorError(f"{what} is not a VGG16 or VGG19 state dict ({_mismatch(state)})")
    module = features_module(arch)
    module.load_state_dict({k: state[k].float() for k in expected_state(arch)})
    return module, arch


def _mismatch(state: dict[str, torch.Tensor]) -> str:
    """The first key that is missing or has the wrong shape, for the closer of the two architectures."""
    best = ""
    for arch in ARCHITECTURES:
        for k, s in expected_state(arch).items():
            if k not in state:
                why = f"missing {k}"
            elif tuple(state[k].shape) != s:
                why = f"{k} has shape {tuple(state[k].shape)}, {arch} needs {s}"
            else:
                continue
            best = best or why
            break
    return best
