"""MedColor engine: deep colour transfer for grayscale CT/MRI (Zeng et al., IEEE Access 2020).

Pure Python on numpy / torch / scikit-learn / SimpleITK; no Qt. Only ``MedColorLib.slicer`` imports
``slicer``. The data path, one subpackage per stage: ``io`` (read, write) -> ``prepare`` (axis, window,
air) -> ``reference`` (library, D-hash retrieval) -> ``engine`` (VGG features, masks, losses, L-BFGS,
imaging) -> ``pipeline`` (volume modes, propagation) -> ``io`` (write). ``baselines`` and ``metrics``
measure; ``evaluation``, ``training``, ``cli`` and ``slicer`` are the edges.

>>> from MedColorLib import Options, colorize_volume, read_volume
>>> result = colorize_volume(read_volume("ct.nii.gz"), Options(mode="preview"), reference=rgb)
"""

__version__ = "0.1.0"

# the public API, imported on first use so that ``import MedColorLib`` stays light (no torch)
_API = {
    "MedColorError": "MedColorLib.errors",
    "CancelledError": "MedColorLib.errors",
    "Options": "MedColorLib.options",
    "LossWeights": "MedColorLib.options",
    "Volume": "MedColorLib.types",
    "Progress": "MedColorLib.types",
    "read_volume": "MedColorLib.io.volumes",
    "write_color_volume": "MedColorLib.io.write",
    "load_reference": "MedColorLib.io.images",
    "load_weights": "MedColorLib.engine.vgg",
    "colorize_volume": "MedColorLib.pipeline.volume",
    "colorize_image": "MedColorLib.pipeline.image",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'MedColorLib' has no attribute {name!r}")
    import importlib
    module = importlib.import_module(_API[name])
    return getattr(module, "load_vgg" if name == "load_weights" else name)
