"""k-means intensity clusters, paired by intensity rank between target and reference (paper step 3)."""

from __future__ import annotations

import numpy as np

from MedColorLib.errors import MedColorError


def fit_centres(gray: np.ndarray, k: int = 4, max_samples: int = 200_000, seed: int = 0) -> np.ndarray:
    """1-D Lloyd k-means on intensities from evenly spaced initial centres.

    gray: any shape, float in [0, 1]. Returns the k centres sorted ascending, float64 (k,).
    """
    from sklearn.cluster import KMeans  # here, not at import: 1.6 s that the correspondence path never needs

    values = np.asarray(gray, dtype=np.float32).ravel()
    if values.size < k:
        raise MedColorError(f"cannot fit {k} intensity clusters to {values.size} pixels")
    if values.size > max_samples:  # a fixed-seed subsample keeps volumes cheap and deterministic
        values = np.random.default_rng(seed).choice(values, max_samples, replace=False)
    lo, hi = float(values.min()), float(values.max())
    init = np.linspace(lo, hi, k + 2)[1:-1, None] if hi > lo else np.full((k, 1), lo)
    km = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit(values[:, None])
    return np.sort(km.cluster_centers_.ravel()).astype(np.float64)


def assign(gray: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Label of the nearest (sorted) centre for every pixel; int64 with gray's shape, 0 = darkest."""
    edges = (centres[1:] + centres[:-1]) / 2  # nearest centre in 1-D = bins between midpoints
    return np.digitize(np.asarray(gray), edges).astype(np.int64)


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    """(..., H, W) int labels -> (..., k, H, W) float32 masks."""
    return (labels[..., None, :, :] == np.arange(k)[:, None, None]).astype(np.float32)


def paired_masks(target: np.ndarray, reference_gray: np.ndarray, k: int = 4,
                 target_centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank-paired masks: (k, H, W) for the target and (k, h, w) for gray(reference).

    Cluster i of the target pairs with cluster i of the reference (darkest with darkest).
    target_centres lets a volume share one set of centres across all its slices.
    """
    tc = fit_centres(target, k) if target_centres is None else np.asarray(target_centres)
    rc = fit_centres(reference_gray, k)
    return one_hot(assign(target, tc), k), one_hot(assign(reference_gray, rc), k)
