"""Classical colour-transfer baselines for comparison tables (see ALGORITHM.md, "Classical baselines").

Every baseline takes ``gray``, an (H, W) float image in [0, 1] (the target), and ``reference``, an
(h, w, 3) float RGB image in [0, 1], and returns an (H, W, 3) float32 RGB image in [0, 1]. Inputs are
never modified. All work is done in float64 on copies.

l-alpha-beta (Ruderman et al. 1998, as used by Reinhard 2001 and Welsh 2002) exists in neither
scikit-image nor kornia, so it is built here from ``skimage.color.rgb2xyz`` (sRGB, D65), Reinhard's
XYZ->LMS matrix, log10 and Ruderman's decorrelating transform. LMS is divided by the LMS of white
before the log (von Kries), so gray pixels have alpha = beta = 0 exactly; the offset this adds to
the log cancels in every mean/std match. LMS is floored at 1e-4 of white before the log (black).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from kornia.color import ycbcr_to_rgb
from scipy.ndimage import uniform_filter
from scipy.spatial import cKDTree
from scipy.stats import rankdata
from skimage.color import rgb2xyz, xyz2rgb

from MedColorLib.engine.color import chroma_np, luma_np, with_luma
from MedColorLib.errors import MedColorError
from MedColorLib.engine.masks import paired_masks

Baseline = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Reinhard et al. 2001, eq. 2 (XYZ -> LMS) and eq. 4 (log LMS -> l, alpha, beta).
_XYZ_TO_LMS = np.array([[0.3897, 0.6890, -0.0787], [-0.2298, 1.1834, 0.0464], [0.0, 0.0, 1.0]])
_LMS_TO_LAB = np.diag([3 ** -0.5, 6 ** -0.5, 2 ** -0.5]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])
_LOG_FLOOR = 1e-4
_TINY = 1e-8  # a standard deviation below this counts as "no spread"


# ---------------------------------------------------------------- input checks

def check_gray(gray: np.ndarray, name: str = "target") -> np.ndarray:
    """Validate an (H, W) gray image in [0, 1]; returns it as float64 (no copy if already float64)."""
    arr = np.asarray(gray)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        raise MedColorError(f"{name} must be a gray (H, W) image, got colour shape {arr.shape}; "
                            "convert it to gray first")
    if arr.ndim != 2 or arr.size == 0:
        raise MedColorError(f"{name} must be a non-empty 2-D (H, W) gray image, got shape {arr.shape}")
    return _check_values(arr, name)


def check_rgb(rgb: np.ndarray, name: str = "reference") -> np.ndarray:
    """Validate an (H, W, 3) RGB image in [0, 1]; returns it as float64 (no copy if already float64)."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.size == 0:
        raise MedColorError(f"{name} must be an (H, W, 3) RGB colour image, got shape {arr.shape}; pass a colour image")
    return _check_values(arr, name)


def _check_values(arr: np.ndarray, name: str) -> np.ndarray:
    """Reject NaN/inf and values outside [0, 1] (1e-6 slack for resampling round-off)."""
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise MedColorError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise MedColorError(f"{name} contains NaN or infinite values; fill or mask them before colorizing")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise MedColorError(f"{name} values must lie in [0, 1], got [{arr.min():.4g}, {arr.max():.4g}]; "
                            "rescale it first")
    return arr


# ---------------------------------------------------------------- colour helpers

def _white_lms() -> np.ndarray:
    """LMS of sRGB white (D65), shape (3,)."""
    return rgb2xyz(np.ones((1, 1, 3))).reshape(3) @ _XYZ_TO_LMS.T


def _rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] -> (H, W, 3) Ruderman (l, alpha, beta), float64."""
    lms = rgb2xyz(rgb) @ _XYZ_TO_LMS.T / _white_lms()
    return np.log10(np.maximum(lms, _LOG_FLOOR)) @ _LMS_TO_LAB.T


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) (l, alpha, beta) -> (H, W, 3) RGB clipped to [0, 1] (skimage clips), float64."""
    lms = 10 ** (lab @ np.linalg.inv(_LMS_TO_LAB).T) * _white_lms()
    return xyz2rgb(lms @ np.linalg.inv(_XYZ_TO_LMS).T)


def _gray_rgb(gray: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3) with R = G = B."""
    return np.repeat(gray[..., None], 3, axis=-1)


def _keep_luma(rgb: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """Impose gray as the BT.601 luma of (H, W, 3) rgb (any range), fitting chroma into the RGB cube."""
    t = torch.from_numpy(np.moveaxis(rgb, -1, 0)[None].astype(np.float32))
    y = torch.from_numpy(gray[None, None].astype(np.float32))
    return np.moveaxis(with_luma(t, y)[0][0].numpy(), 0, -1).astype(np.float32)


def _ycc_to_rgb(gray: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Luma (H, W) and centred (Cb, Cr) (H, W, 2) -> unclipped (H, W, 3) RGB via kornia, float64."""
    ycc = np.concatenate([gray[..., None], chroma + 0.5], axis=-1)
    return np.moveaxis(ycbcr_to_rgb(torch.from_numpy(np.moveaxis(ycc, -1, 0))).numpy(), 0, -1)


def _match_moments(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Shift/scale each channel of (N, C) x to mean/std; a channel with no spread is set to the mean."""
    sd = x.std(0)
    scale = np.where(sd > _TINY, std / np.maximum(sd, _TINY), 0.0)
    return (x - x.mean(0)) * scale + mean


# ---------------------------------------------------------------- Reinhard 2001

def reinhard(gray: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reinhard et al. 2001: match mean and std of l, alpha and beta to the reference's.

    gray (H, W) float in [0, 1], reference (h, w, 3) float RGB in [0, 1] -> (H, W, 3) float32 RGB.
    A gray target has alpha = beta = 0 everywhere (no spread to scale), so they become the reference's
    mean alpha/beta: the result is one uniform tint (constant chromaticity) whose lightness l is the
    target's, remapped to the reference's l mean/std. Luma is therefore *not* the target's.
    """
    g, ref = check_gray(gray), check_rgb(reference)
    src = _rgb_to_lab(_gray_rgb(g)).reshape(-1, 3)
    r = _rgb_to_lab(ref).reshape(-1, 3)
    out = _match_moments(src, r.mean(0), r.std(0)).reshape(*g.shape, 3)
    return _lab_to_rgb(out).astype(np.float32)


# ---------------------------------------------------------------- Welsh 2002

def welsh(gray: np.ndarray, reference: np.ndarray, samples: int = 200, seed: int = 0) -> np.ndarray:
    """Welsh et al. 2002 (TCGI, global matching): copy alpha/beta of the best-matching reference sample.

    gray (H, W) float in [0, 1], reference (h, w, 3) float RGB in [0, 1] -> (H, W, 3) float32 RGB.
    The reference l is remapped to the target's l mean/std; ``samples`` reference pixels are drawn on a
    jittered grid (seeded); each target pixel takes the alpha/beta of the sample minimising
    0.5*|d mean| + 0.5*|d std| of l over 5x5 neighbourhoods (a weighted L1 match, solved by a k-d tree).
    The target keeps its l; finally its BT.601 luma is imposed exactly (the paper's imaging step).
    """
    g, ref = check_gray(gray), check_rgb(reference)
    if samples < 1:
        raise MedColorError(f"welsh needs samples >= 1, got {samples}")
    tgt, r = _rgb_to_lab(_gray_rgb(g)), _rgb_to_lab(ref)
    l_ref = _match_moments(r[..., :1].reshape(-1, 1), tgt[..., 0].mean(), tgt[..., 0].std()).reshape(r.shape[:2])
    ys, xs = _jittered_grid(r.shape[:2], samples, seed)
    tree = cKDTree(0.5 * _local_stats(l_ref)[ys, xs])
    _, idx = tree.query(0.5 * _local_stats(tgt[..., 0]).reshape(-1, 2), p=1)
    lab = np.concatenate([tgt[..., :1], r[ys, xs, 1:][idx].reshape(*g.shape, 2)], axis=-1)
    return _keep_luma(_lab_to_rgb(lab), g)


def _local_stats(lum: np.ndarray, size: int = 5) -> np.ndarray:
    """(H, W) -> (H, W, 2): mean and standard deviation over size x size windows (reflected borders)."""
    mean = uniform_filter(lum, size, mode="reflect")
    var = uniform_filter(lum * lum, size, mode="reflect") - mean * mean
    return np.stack([mean, np.sqrt(np.maximum(var, 0.0))], axis=-1)


def _jittered_grid(shape: tuple[int, int], samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` (row, col) positions, one uniformly jittered point per cell of a ~sqrt(n) x sqrt(n) grid."""
    rng = np.random.default_rng(seed)
    n = int(np.ceil(np.sqrt(samples)))
    cells = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2)
    cells = cells[np.sort(rng.choice(len(cells), samples, replace=False))] if samples < len(cells) else cells
    pos = (cells + rng.random(cells.shape)) / n * np.asarray(shape)
    pos = np.minimum(pos.astype(np.int64), np.asarray(shape) - 1)
    return pos[:, 0], pos[:, 1]


# ---------------------------------------------------------------- Xiao & Ma 2006

def xiao_ma(gray: np.ndarray, reference: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Xiao & Ma 2006 (CTCCS): whiten the target's RGB by its covariance, colour it with the reference's.

    gray (H, W) float in [0, 1], reference (h, w, 3) float RGB in [0, 1] -> (H, W, 3) float32 RGB.
    out = mu_ref + U_ref S_ref^1/2 S_src^-1/2 U_src^T (x - mu_src), with (U, S) from the SVD of each
    covariance. A gray target's covariance is rank 1, hence +eps*I; its one direction of variation,
    (1, 1, 1), maps onto the reference's principal colour axis. Each axis is signed to have a
    non-negative sum, so brighter stays brighter. Clipped to [0, 1].
    """
    g, ref = check_gray(gray), check_rgb(reference)
    if not eps > 0:
        raise MedColorError(f"xiao_ma needs eps > 0 (a gray target has a rank-1 covariance), got {eps}")
    src, r = _gray_rgb(g).reshape(-1, 3), ref.reshape(-1, 3)
    u_s, s_s = _principal_axes(np.cov(src.T, bias=True) + eps * np.eye(3))
    u_r, s_r = _principal_axes(np.cov(r.T, bias=True))
    transform = u_r @ np.diag(np.sqrt(s_r / s_s)) @ u_s.T
    out = (src - src.mean(0)) @ transform.T + r.mean(0)
    return np.clip(out, 0, 1).reshape(*g.shape, 3).astype(np.float32)


def _principal_axes(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SVD of a (3, 3) covariance: axes as columns (each signed to a non-negative sum), variances (3,)."""
    u, s, _ = np.linalg.svd(cov)
    return u * np.where(u.sum(0) < 0, -1.0, 1.0), s


# ---------------------------------------------------------------- per-cluster chroma histograms

def cluster_histogram(gray: np.ndarray, reference: np.ndarray, k: int = 4) -> np.ndarray:
    """Per intensity cluster, give the target the chroma distribution of the rank-paired reference cluster.

    gray (H, W) float in [0, 1], reference (h, w, 3) float RGB in [0, 1] -> (H, W, 3) float32 RGB.
    Clusters are k-means on intensity (masks.paired_masks), paired by rank. A gray target has no chroma
    to histogram-match, so each target pixel gets, per channel, the reference cluster's Cb and Cr
    quantiles at the pixel's intensity quantile within its cluster (mid-ranks; ties share one colour).
    Each marginal is matched; Cb and Cr both rise with intensity, so their joint correlation is not.
    Luma stays the target's exactly (color.with_luma); chroma outside the RGB cube is shrunk to fit.
    """
    g, ref = check_gray(gray), check_rgb(reference)
    t_masks, r_masks = paired_masks(g, luma_np(ref), k)
    ref_chroma = chroma_np(ref).astype(np.float64)
    chroma = np.zeros((*g.shape, 2))
    for t_mask, r_mask in zip(t_masks.astype(bool), r_masks.astype(bool)):
        if t_mask.any() and r_mask.any():
            q = (rankdata(g[t_mask]) - 0.5) / t_mask.sum()
            chroma[t_mask] = np.quantile(ref_chroma[r_mask], q, axis=0)
    return _keep_luma(_ycc_to_rgb(g, chroma), g)


BASELINES: dict[str, Baseline] = {
    "reinhard": reinhard,
    "welsh": welsh,
    "xiao_ma": xiao_ma,
    "cluster_histogram": cluster_histogram,
}
