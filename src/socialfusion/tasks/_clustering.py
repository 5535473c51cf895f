"""k-means with the number of clusters chosen by silhouette: what user segmentation in several tasks needs."""

from __future__ import annotations

import math

import numpy as np


def kmeans_by_silhouette(features: np.ndarray, n_clusters: int | None = None, *, max_clusters: int = 8,
                         metric: str = "euclidean", random_state: int = 0) -> tuple[np.ndarray, float]:
    """k-means labels and their silhouette; with ``n_clusters=None``, the k in 2..``max_clusters`` that scores best.

    Args:
        features: ``(n, d)`` rows to cluster.
        n_clusters: the number of clusters, or None to choose it.
        max_clusters: the largest k tried when choosing (also capped by distinct rows and ``n - 1``).
        metric: the silhouette's distance (``"euclidean"``, ``"cosine"``, ...).
        random_state: k-means seed (and the silhouette's sample seed).

    Returns:
        ``(labels (n,) int64, silhouette)``; all zeros and NaN when fewer than two clusters can be formed.

    Examples:
        >>> rows = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
        >>> labels, score = kmeans_by_silhouette(rows)
        >>> labels.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0]), round(score, 2)
        (True, 0.99)
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n_rows = len(features)
    if n_clusters is None:
        distinct = len(np.unique(np.round(features, 12), axis=0))
        candidates = range(2, min(max_clusters, distinct, n_rows - 1) + 1)
    else:
        candidates = range(n_clusters, n_clusters + 1)
    best: tuple[float, np.ndarray] | None = None
    for k in candidates:
        if k < 2:
            break
        labels = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(features)
        if not 1 < len(np.unique(labels)) < n_rows:
            continue
        score = float(silhouette_score(features, labels, metric=metric, random_state=random_state,
                                       sample_size=min(n_rows, 5000)))
        if best is None or score > best[0]:
            best = (score, labels.astype(np.int64))
    if best is None:
        return np.zeros(n_rows, dtype=np.int64), math.nan
    return best[1], best[0]
