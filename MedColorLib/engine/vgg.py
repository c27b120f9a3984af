"""Frozen VGG16/VGG19 feature extractor (to relu5_1); ``load_vgg`` builds it from any weights engine.weights resolves."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from MedColorLib.errors import MedColorError

from MedColorLib.engine.backbones import LAYER_MAPS, cut

# Post-ReLU outputs used by the losses, as indices into torchvision's vgg19().features (VGG16: LAYER_MAPS).
LAYER_INDEX = LAYER_MAPS["vgg19"]
CONTENT_LAYER = "conv4_2"
COLOUR_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
SWAP_LAYERS = ("conv3_1", "conv4_1", "conv5_1")
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class VGGFeatures(nn.Module):
    """VGG16 or VGG19 cut after relu5_1, frozen. forward: (B, 3, H, W) RGB in [0, 1] -> {layer: (B, C, h, w)}.

    preprocess "torchvision" feeds ImageNet-normalised RGB; "caffe" feeds BGR 0-255 minus the Caffe
    mean (the authors' convention, for Caffe-converted state dicts). ``pixel_scale`` is the size of one
    [0, 1] intensity unit in network-input units: the pixel-domain losses (Y, TV) are measured in those
    units, which reproduces the authors' 0-255 scale exactly with Caffe weights.
    """

    def __init__(self, features: nn.Sequential, preprocess: str = "torchvision", label: str = "",
                 arch: str = "vgg19") -> None:
        super().__init__()
        if arch not in LAYER_MAPS:
            raise MedColorError(f"unknown architecture {arch!r}; choose vgg16 or vgg19")
        self.arch, self.layer_index = arch, LAYER_MAPS[arch]
        if preprocess not in ("torchvision", "caffe"):
            raise MedColorError(f"unknown preprocessing {preprocess!r}; choose torchvision or caffe")
        # channels-last (NHWC): faster convolutions with oneDNN and cuDNN, and the Gram's pixel-by-channel
        # view of a feature map needs no copy (measured in bench/bench_engine.py)
        self.layers = features[:cut(arch)].eval().requires_grad_(False).to(memory_format=torch.channels_last)
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
        wanted = {self.layer_index[name]: name for name in layers}
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
        index_to_name = {i: n for n, i in self.layer_index.items()}
        for i, layer in enumerate(self.layers):
            if isinstance(layer, nn.Conv2d):
                m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
            elif isinstance(layer, nn.MaxPool2d):
                m = F.interpolate(m, size=(m.shape[-2] // 2, m.shape[-1] // 2), mode="bilinear", align_corners=False)
            if i in index_to_name:
                out[index_to_name[i]] = m
        return out


def load_vgg(weights: str = "auto", device: str | torch.device = "cpu", seed: int = 0,
             preprocess: str | None = None) -> VGGFeatures:
    """Build the extractor from any weights the resolver knows (engine.weights: auto | imagenet | medical |
    random | NAME | PATH); preprocess None = the one the weights were trained with."""
    from MedColorLib.engine.weights import resolve
    found = resolve(weights, seed)
    found.preprocess = preprocess or found.preprocess
    net = VGGFeatures(found.features, found.preprocess, found.label, found.arch)
    return net.to(device)
