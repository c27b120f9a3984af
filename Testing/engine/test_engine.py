"""The paper's engine on real images: gradients, luma, colour transfer, style swap, weights, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from MedColorLib.engine.color import chroma_np, luma_np
from MedColorLib.engine.optimise import build_targets, colorize_batch, loss_terms
from MedColorLib.errors import MedColorError
from MedColorLib.engine.gram import mask_support, masked_gram, support_gram
from MedColorLib.engine.losses import _patches, colour_loss, style_swap, swap_indices
from MedColorLib.engine.masks import paired_masks
from MedColorLib.options import LossWeights, Options
from MedColorLib.engine.slices import colorize_slices
from MedColorLib.engine.vgg import COLOUR_LAYERS, LAYER_INDEX, load_vgg

SIZE = 64


@pytest.fixture(scope="module")
def net():
    return load_vgg("random", "cpu", seed=0)


def _batch(gray: np.ndarray, ref: np.ndarray):
    g = torch.as_tensor(gray)[None, None]
    r = torch.as_tensor(ref).permute(2, 0, 1)[None]
    mt, mr = paired_masks(gray, luma_np(ref).astype(np.float32))
    return g, r, torch.as_tensor(mt)[None], torch.as_tensor(mr)[None]


def test_every_loss_term_sends_gradient_to_the_image(net, brain_t1, visible_woman):
    g, r, mt, mr = _batch(brain_t1, visible_woman)
    t = build_targets(net, g, r, mt, mr)
    x = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    terms = loss_terms(net, x, t, Options().loss, stage=2)
    assert set(terms) == {"content", "colour", "tv", "luma", "swap"}
    for name, value in terms.items():
        (grad,) = torch.autograd.grad(value.sum(), x, retain_graph=True)
        assert grad.abs().sum() > 0, f"{name} does not reach the image"
        assert torch.isfinite(grad).all(), name


def test_stage_one_has_no_luma_or_swap_term(net, brain_t1, visible_woman):
    t = build_targets(net, *_batch(brain_t1, visible_woman))
    assert set(loss_terms(net, torch.rand(1, 3, SIZE, SIZE), t, Options().loss, stage=1)) == {"content", "colour", "tv"}


def test_colour_loss_falls_and_cluster_chroma_moves_to_reference(net, brain_t1, visible_woman):
    g, r, mt, mr = _batch(brain_t1, visible_woman)
    # random weights give tiny activations, so the Gram term is isolated here (content and TV off)
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(60, 0), postfilter=False,
                   loss=LossWeights(content=0.0, tv=0.0, colour=1e6, match=0.0))
    t = build_targets(net, g, r, mt, mr, with_swap=False)
    x0 = g.expand(-1, 3, -1, -1) + 0.001 * torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def colour(x):
        f = net(x)
        return float(sum(colour_loss(f[l], t.masks[l], t.grams[l]) for l in COLOUR_LAYERS))

    out = colorize_batch(net, g, r, mt, mr, opts, start=x0)
    assert colour(out) < 0.2 * colour(x0)
    # per paired cluster, the mean chroma of the output approaches the reference's
    ref_c, out_c = chroma_np(visible_woman), chroma_np(out[0].permute(1, 2, 0).numpy())
    labels_t, labels_r = mt[0].argmax(0).numpy(), mr[0].argmax(0).numpy()
    for k in range(4):
        target = ref_c[labels_r == k].mean(0)
        before = np.linalg.norm(target)  # the start is gray: chroma 0
        after = np.linalg.norm(out_c[labels_t == k].mean(0) - target)
        assert after < 0.5 * before, f"cluster {k}: {after:.4f} vs gray {before:.4f}"


def test_output_luma_is_the_input_luma(net, brain_t1, visible_woman):
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(5, 5))
    res = colorize_slices(net, brain_t1[None], visible_woman, opts)
    assert res.rgb.shape == (1, *brain_t1.shape, 3) and res.rgb.dtype == np.uint8
    assert np.abs(luma_np(res.rgb[0] / 255) - brain_t1).max() <= 1 / 255 + 1e-6
    assert np.ptp(res.rgb[0].astype(int), axis=-1).mean() > 2, "the output has no colour"


def test_inputs_are_not_modified_and_seed_repeats(net, brain_t1, visible_woman):
    gray, ref = brain_t1.copy()[None], visible_woman.copy()
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(4, 4), seed=3)
    a = colorize_slices(net, gray, ref, opts).rgb
    assert np.array_equal(a, colorize_slices(net, gray, ref, opts).rgb)
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(4, 4), seed=3, init="input")  # seeded noise
    a = colorize_slices(net, gray, ref, opts).rgb
    b = colorize_slices(net, gray, ref, opts).rgb
    assert np.array_equal(a, b)
    assert np.array_equal(gray[0], brain_t1) and np.array_equal(ref, visible_woman)
    c = colorize_slices(net, gray, ref, replace(opts, seed=4)).rgb
    assert not np.array_equal(a, c)


def test_batch_equals_slices_optimised_alone_for_adam(net, brain_t1, visible_woman):
    # losses are per image: with a per-element optimiser the batch gives each slice its own result
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(3, 3), optimizer="adam", postfilter=False)
    pair = np.stack([brain_t1, brain_t1[::-1].copy()])
    both = colorize_slices(net, pair, visible_woman, opts).optimised
    alone = colorize_slices(net, pair[1:], visible_woman, opts).optimised
    assert torch.allclose(both[1], alone[0], atol=1e-4)


def test_swap_targets_are_reference_patches():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(6, 9, 11, generator=g)
    target = torch.randn(6, 8, 8, generator=g)
    idx = swap_indices(target, ref)
    # brute force: normalised correlation of every target patch with every reference patch
    tp, rp = _patches(target).flatten(1), _patches(ref).flatten(1)
    expected = (tp @ (rp / rp.norm(dim=1, keepdim=True)).T).argmax(1)
    assert torch.equal(idx.flatten(), expected)
    # with a single chosen patch everywhere, the swapped map is that reference patch tiled
    swapped = style_swap(target, ref, ref)
    row = swapped[:, 1:-1, 1:-1]
    assert swapped.shape == target.shape and torch.isfinite(row).all()
    # identical target and reference: every patch picks itself and the map is rebuilt exactly
    assert torch.allclose(style_swap(ref, ref, ref), ref, atol=1e-5)


def test_swap_on_real_features_picks_reference_values(net, brain_t1, visible_woman):
    g, r, mt, mr = _batch(brain_t1, visible_woman)
    t = build_targets(net, g, r, mt, mr)
    f_ref = net(r)["conv5_1"][0]
    swapped = t.swapped["conv5_1"][0]
    # the centre of each 3x3 output patch with full overlap is an average of reference values
    assert swapped.min() >= f_ref.min() - 1e-5 and swapped.max() <= f_ref.max() + 1e-5


def test_weights_from_file_load_and_wrong_architecture_is_refused(tmp_path, net):
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in net.layers.state_dict().items()}, path)
    loaded = load_vgg(str(path))
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(loaded(x)["conv5_1"], net(x)["conv5_1"])
    bad = tmp_path / "vgg11.pth"
    from torchvision.models import vgg11
    torch.save(vgg11(weights=None).features.state_dict(), bad)
    with pytest.raises(MedColorError, match="not a VGG16 or VGG19 state dict"):
        load_vgg(str(bad))
    with pytest.raises(MedColorError, match="not found"):
        load_vgg(str(tmp_path / "missing.pth"))


def test_mask_propagation_follows_the_network(net):
    masks = torch.zeros(1, 4, 64, 64)
    masks[:, 0, :, :32], masks[:, 1, :, 32:] = 1, 1
    m = net.propagate_masks(masks)
    assert set(m) == set(LAYER_INDEX)
    assert m["conv1_1"].shape[-1] == 64 and m["conv5_1"].shape[-1] == 4
    total = m["conv3_1"].sum(1)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)  # masks still partition the image


def test_bad_reference_and_tiny_image_are_refused(net, brain_t1, visible_woman):
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(1, 0))
    gray_ref = np.repeat(brain_t1[..., None], 3, -1)
    with pytest.raises(MedColorError, match="gray"):
        colorize_slices(net, brain_t1[None], gray_ref, opts)
    with pytest.raises(MedColorError, match="smaller"):
        colorize_slices(net, brain_t1[None, :20, :20], visible_woman, opts)
    nan = brain_t1.copy()
    nan[3, 3] = np.nan
    with pytest.raises(MedColorError, match="NaN"):
        colorize_slices(net, nan[None], visible_woman, opts)


def test_support_gram_equals_the_dense_masked_gram(net, brain_t1, visible_woman):
    _, _, mt, _ = _batch(brain_t1, visible_woman)
    f = net(torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)))
    masks = net.propagate_masks(torch.cat([mt, mt.flip(-1)]))
    for layer in COLOUR_LAYERS:
        dense = masked_gram(f[layer], masks[layer])
        assert torch.allclose(support_gram(f[layer], mask_support(masks[layer])), dense, rtol=1e-4, atol=1e-9), layer


def test_dense_masked_gram_and_its_backward_match_the_plain_formula():
    """masked_gram's stacked, pixel-major product and hand-written backward against autograd on (F M_k)(F M_k)^T / n_k."""
    g = torch.Generator().manual_seed(5)
    f = torch.rand(2, 6, 5, 7, dtype=torch.float64, generator=g).contiguous(memory_format=torch.channels_last)
    masks = torch.rand(2, 3, 5, 7, dtype=torch.float64, generator=g).round()
    masks[1, 0] = 0  # an empty mask gives a zero Gram
    fm = (f.unsqueeze(1) * masks.unsqueeze(2)).flatten(3)
    plain = fm @ fm.transpose(-1, -2) / (6 * 5 * 7 * masks.flatten(2).mean(2)).clamp_min(1e-8)[..., None, None]
    assert torch.allclose(masked_gram(f, masks), plain)
    assert not masked_gram(f, masks)[1, 0].any()
    assert torch.autograd.gradcheck(lambda v: masked_gram(v, masks), (f.requires_grad_(True),))


@pytest.mark.filterwarnings("ignore:TF32 acceleration")  # torch.backends.mkldnn.flags warns about Intel GPUs
@pytest.mark.parametrize("onednn", [True, False])
def test_support_gram_backward_matches_the_dense_form(onednn, brain_t1, visible_woman):
    """The CPU support Gram's own backward (oneDNN products, or plain products) against autograd on the dense form."""
    _, _, mt, _ = _batch(brain_t1, visible_woman)
    masks = torch.nn.functional.avg_pool2d(torch.cat([mt, mt.flip(-1)])[..., ::8, ::8], 3, 1, 1)  # soft, overlapping
    f = torch.rand(2, 5, *masks.shape[-2:], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    f = f.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with torch.backends.mkldnn.flags(enabled=onednn):
        assert torch.autograd.gradcheck(lambda v: support_gram(v, mask_support(masks.double())), (f,))
        sparse = support_gram(f, mask_support(masks.double()))
    assert torch.allclose(sparse, masked_gram(f, masks.double()))


def test_support_gram_float32_gradient_equals_the_dense_form(net, brain_t1, visible_woman):
    """float32 on real VGG features, the path the engine runs (oneDNN products on the CPU; gradcheck above is float64)."""
    _, _, mt, _ = _batch(brain_t1, visible_woman)
    x = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4), requires_grad=True)
    masks = net.propagate_masks(torch.cat([mt, mt.flip(-1)]))
    grads = []
    for gram_fn in (lambda f, m: support_gram(f, mask_support(m)), masked_gram):
        f = net(x)
        loss = sum(gram_fn(f[l], masks[l]).pow(2).sum() / gram_fn(f[l], masks[l]).detach().pow(2).sum() for l in COLOUR_LAYERS)
        grads.append(torch.autograd.grad(loss, x)[0])
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-3 * grads[1].abs().max().item())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (run by bench/check_gpu_graph.py on one)")
def test_cuda_graph_evaluation_equals_eager(brain_t1, visible_woman, monkeypatch):
    """With a GPU: the optimisation with its CUDA graph gives the eager engine's result."""
    from MedColorLib.engine import optimise as engine
    gpu = load_vgg("random", "cuda", seed=0)
    opts = Options(mode="paper", weights="random", size=SIZE, iterations=(5, 5))
    outs, real = [], engine.evaluator
    for graph in (True, False):
        monkeypatch.setattr(engine, "evaluator", lambda o, x, s, graph, g=graph: real(o, x, s, graph=g))
        outs.append(colorize_batch(gpu, *(t.cuda() for t in _batch(brain_t1, visible_woman)), opts).cpu())
    assert torch.allclose(outs[0], outs[1], atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_failed_cuda_graph_capture_falls_back_to_eager():
    """With a GPU: an objective that cannot be captured (it synchronises) is evaluated eagerly, with a warning."""
    from MedColorLib.engine.optimise import evaluator
    x = torch.rand(2, 3, 8, 8, device="cuda", requires_grad=True)
    objective = lambda v: (v ** 2).flatten(1).sum(1) * (1 + 0 * float(v.detach().sum()))  # noqa: E731  float() syncs
    with pytest.warns(UserWarning, match="CUDA graph capture failed"):
        evaluate = evaluator(objective, x, torch.ones(2, device="cuda"), graph=True)
    loss = evaluate()
    assert torch.allclose(loss, (x.detach() ** 2).flatten(1).sum(1))
    assert torch.allclose(x.grad, 2 * x.detach())


def test_every_lbfgs_step_evaluates_the_objective_once():
    """The worst case is bounded per step: no line search, one objective (forward + backward) per step, so a
    stage of n steps costs n + 2 evaluations (the gradient scale, the steps, the last iterate's check)."""
    from MedColorLib.engine.optimise import optimise
    calls = []

    def objective(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return ((x - 0.3) ** 2).flatten(1).sum(1) * torch.linspace(1, 1e-6, x[0].numel()).view_as(x[0]).sum()

    x0 = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    optimise(x0, objective, 25)
    assert len(calls) == 25 + 2
