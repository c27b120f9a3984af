"""Frozen VGG19 feature extractor (to relu5_1) and its weights: imagenet | random | state-dict file."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from MedColorLib.errors import MedColorError

# Post-ReLU outputs used by the losses, as indices into torchvision's vgg19().features.
LAYER_INDEX = {"conv1_1": 1, "conv2_1": 6, "conv3_1": 11, "conv4_1": 20, "conv4_2": 22, "conv5_1": 29}
CONTENT_LAYER = "conv4_2"
COLOUR_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
SWAP_LAYERS = ("conv3_1", "conv4_1", "conv5_1")
_N_LAYERS = 30  # features[:30] ends with relu5_1
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class VGGFeatures(nn.Module):
    """VGG19 cut after relu5_1, frozen. forward: (B, 3, H, W) RGB in [0, 1] -> {layer: (B, C, h, w)}.

    preprocess "torchvision" feeds ImageNet-normalised RGB; "caffe" feeds BGR 0-255 minus the Caffe
    mean (the authors' convention, for Caffe-converted state dicts). ``pixel_scale`` is the size of one
    [0, 1] intensity unit in network-input units: the pixel-domain losses (Y, TV) are measured in those
    units, which reproduces the authors' 0-255 scale exactly with Caffe weights.
    """

    def __init__(self, features: nn.Sequential, preprocess: str = "torchvision", label: str = "") -> None:
        super().__init__()
        if preprocess not in ("torchvision", "caffe"):
            raise MedColorError(f"unknown preprocessing {preprocess!r}; choose torchvision or caffe")
        # channels-last (NHWC): faster convolutions with oneDNN and cuDNN, and the Gram's pixel-by-channel
        # view of a feature map needs no copy (measured in bench/bench_engine.py)
        self.layers = features[:_N_LAYERS].eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self.preprocess, self.label = preprocess, label
        if preprocess == "caffe":
            mean, std, self.pixel_scale = torch.tensor(_CAFFE_MEAN_BGR[::-1]) / 255, torch.full((3,), 1 / 255), 255.0
        else:
            mean, std = torch.tensor(_IMAGENET_MEAN), torch.tensor(_IMAGENET_STD)
            self.pixel_scale = float(1 / std.mean())
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.register_buffer("std", std.view(1, 3, 1, 1))

    def normalise(self, rgb: torch.Tensor) -> torch.Tensor:
        x = (rgb - self.mean) / self.std
        return x.flip(1) if self.preprocess == "caffe" else x

    def forward(self, rgb: torch.Tensor, layers: tuple[str, ...] = tuple(LAYER_INDEX)) -> dict[str, torch.Tensor]:
        wanted = {LAYER_INDEX[name]: name for name in layers}
        last = max(wanted)
        out, x = {}, self.normalise(rgb).contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return out

    @torch.no_grad()
    def propagate_masks(self, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, K, H, W) masks -> {layer: (B, K, h, w)}: 3x3 mean at each conv, bilinear halving at each pool.

        This is the paper's mask propagation; 'SAME' padding in TF excludes the border from the mean.
        """
        out, m = {}, masks
        index_to_name = {i: n for n, i in LAYER_INDEX.items()}
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Conv2d):
                m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
            elif isinstance(layer, nn.MaxPool2d):
                m = F.interpolate(m, size=(m.shape[-2] // 2, m.shape[-1] // 2), mode="bilinear", align_corners=False)
            if i in index_to_name:
                out[index_to_name[i]] = m
        return out


def _vgg19_features() -> nn.Sequential:
    from torchvision.models import vgg19
    return vgg19(weights=None).features


def load_vgg(weights: str = "imagenet", device: str | torch.device = "cpu", seed: int = 0,
             preprocess: str = "torchvision") -> VGGFeatures:
    """Build the extractor. weights: "imagenet" (torchvision download, hash-checked), "random" (seeded), or a path."""
    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            features = _vgg19_features()
        label = f"random(seed={seed})"
    elif weights == "imagenet":
        features, label = _imagenet_features(), "imagenet(torchvision VGG19_Weights.IMAGENET1K_V1)"
    else:
        features, label = _features_from_file(Path(weights)), f"file:{weights}"
    return VGGFeatures(features, preprocess, label).to(device)


def _imagenet_features() -> nn.Sequential:
    from torchvision.models import VGG19_Weights, vgg19
    try:
        return vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash is a RuntimeError
        raise MedColorError(
            f"cannot obtain the ImageNet VGG19 weights ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
            "offline, pass --weights PATH to a VGG19 state dict, or --weights random for a test run") from None


def _features_from_file(path: Path) -> nn.Sequential:
    """Load a VGG19 state dict (full model or features only) with weights_only=True and check its shapes."""
    if not path.is_file():
        raise MedColorError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or non-tensor file
        raise MedColorError(f"cannot load weights file {path}: {type(err).__name__}") from None
    if not isinstance(state, dict):
        raise MedColorError(f"weights file {path} does not hold a state dict")
    state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    features = _vgg19_features()[:_N_LAYERS]
    expected = features.state_dict()
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        what = f"missing {missing[0]}" if missing else f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}"
        raise MedColorError(f"weights file {path} is not a VGG19 state dict ({what})")
    features.load_state_dict({k: state[k] for k in expected})
    return features
