"""k-means with the number of clusters chosen by silhouette, refused where the data has no cluster structure.

A best silhouette alone does not tell structure from noise: on sparse rows (users with a post or two) k-means on
pure noise scores 0.2 to 0.4, on dense noise about 0.05. So the chosen partition is compared with the same k-means
on a null version of the data that keeps each column's values but not how they go together (a column shuffled
across rows, or keys shuffled across posts), and kept only when it beats it. ``tests/tasks/test_patterns.py`` and
``tests/tasks/test_profiles.py`` check planted segments pass and noise does not.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from socialfusion._threads import one_native_thread

MIN_SILHOUETTE = 0.1
"""Below this best silhouette there is no segment structure: k-means on dense uniform or Gaussian noise scores
about 0.05, three well-separated blobs 0.35 to 0.7 (and Kaufman & Rousseeuw read under 0.25 as no substantial
structure)."""

MIN_SILHOUETTE_GAIN = 0.03
"""How much the best silhouette must beat the null data's at the same k. Measured on 300 users, 30 keys and 1 to
20 posts a user (two seeds each): noise gains at most 0.012 over its null; three planted interest groups (80% or
50% of a user's posts) gain 0.03 to 0.74 with two or more posts a user, four weak ones (30%) 0.05 to 0.39 with five
or more. Groups weaker than that, or users with one post each, are not told from noise."""


class Clustering(NamedTuple):
    """What ``kmeans_by_silhouette`` found.

    Attributes:
        labels: ``(n,)`` int64 cluster of each row; all zeros when the partition was refused or not formed.
        silhouette: the silhouette of the best partition tried (of the refused one too); NaN when none was formed.
        k: the number of clusters of that partition (0 when none was formed).
        null_silhouette: the silhouette of k-means with the same k on the null data; NaN when not computed (a
            fixed ``n_clusters``, or no partition).
        rejected: True when the best partition was refused as no structure (``labels`` then all zeros).
        searched_rows: how many rows the search for k ran on (a seeded sample when below ``n``; 0 when none).
    """

    labels: np.ndarray
    silhouette: float
    k: int
    null_silhouette: float
    rejected: bool
    searched_rows: int = 0


def no_structure_message(silhouette: float, k: int) -> str:
    """What a report or a terminal says of a refused segmentation.

    Examples:
        >>> no_structure_message(0.0213, 2)
        'no segment structure found (best silhouette 0.02 at k=2)'
    """
    return f"no segment structure found (best silhouette {silhouette:.2f} at k={k})"


def shuffled_columns(features: np.ndarray, random_state: int = 0) -> np.ndarray:
    """Each column's values shuffled across rows on its own: the null data of a feature matrix.

    Args:
        features: ``(n, d)``.
        random_state: the shuffle's seed.

    Returns:
        ``(n, d)``, each column a permutation of the same column of ``features``.
    """
    rng = np.random.default_rng(random_state)
    return np.column_stack([rng.permutation(column) for column in np.asarray(features).T]) if features.size \
        else np.asarray(features).copy()


def _silhouette(features: np.ndarray, labels: np.ndarray, metric: str, random_state: int) -> float:
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(features, labels, metric=metric, random_state=random_state,
                                  sample_size=min(len(features), 5000)))


def kmeans_by_silhouette(features: np.ndarray, n_clusters: int | None = None, *, max_clusters: int = 8,
                         metric: str = "euclidean", random_state: int = 0,
                         null_features: np.ndarray | None = None, max_search_rows: int | None = 2000,
                         strata: Any = None) -> Clustering:
    """k-means labels and their silhouette; with ``n_clusters=None``, the k in 2..``max_clusters`` that scores best,
    kept only where the data has cluster structure.

    With ``n_clusters=None`` the best partition is refused (one cluster, ``rejected=True``) when its silhouette is
    below ``MIN_SILHOUETTE`` or beats k-means with the same k on ``null_features`` by less than
    ``MIN_SILHOUETTE_GAIN``. A given ``n_clusters`` is always kept.

    Args:
        features: ``(n, d)`` rows to cluster.
        n_clusters: the number of clusters, or None to choose it.
        max_clusters: the largest k tried when choosing (also capped by distinct rows and ``n - 1``).
        metric: the silhouette's distance (``"euclidean"``, ``"cosine"``, ...).
        random_state: k-means seed (and the silhouette's sample seed, and the null's shuffle).
        null_features: ``(n, d)`` the same rows with their structure destroyed; None shuffles each column of
            ``features`` across rows (``shuffled_columns``).
        max_search_rows: above this many rows, the search for k and the null comparison run on a seeded random
            sample of this many rows (k-means fits on it, and every row gets the nearest centre), so the search
            costs the same at any size; None searches on every row.
        strata: ``(n,)`` a stratum per row: the search sample keeps each stratum's share (``stratified_sample``);
            None draws it uniformly.

    Returns:
        A ``Clustering``; labels all zeros and silhouette NaN when fewer than two clusters can be formed.

    Examples:
        >>> rows = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [5.0, 5.1]])
        >>> found = kmeans_by_silhouette(rows)
        >>> len(set(found.labels[:3])), len(set(found.labels)), round(found.silhouette, 2), found.rejected
        (1, 2, 0.98, False)
    """
    from sklearn.cluster import KMeans

    all_features = features
    sample = None
    if max_search_rows is not None and len(features) > max_search_rows:
        sample = (np.sort(np.random.default_rng(random_state).choice(len(features), max_search_rows, replace=False))
                  if strata is None else stratified_sample(strata, max_search_rows, random_state))
        features = features[sample]
        null_features = None if null_features is None else null_features[sample]
    n_rows = len(features)
    if n_clusters is None:
        distinct = len(np.unique(np.round(features, 12), axis=0))
        candidates = range(2, min(max_clusters, distinct, n_rows - 1) + 1)
    else:
        candidates = range(n_clusters, n_clusters + 1)
    best: tuple[float, np.ndarray, int, Any] | None = None
    with one_native_thread():  # at most max_search_rows rows: milliseconds per fit on one thread
        for k in candidates:
            if k < 2:
                break
            model = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(features)
            labels = model.labels_
            if not 1 < len(np.unique(labels)) < n_rows:
                continue
            score = _silhouette(features, labels, metric, random_state)
            if best is None or score > best[0]:
                best = (score, labels.astype(np.int64), k, model)
    n_all = len(all_features)
    if best is None:
        return Clustering(np.zeros(n_all, dtype=np.int64), math.nan, 0, math.nan, False, n_rows)
    score, labels, k, model = best
    if sample is not None:  # every row to the nearest centre of the sample's k-means
        labels = model.predict(all_features).astype(np.int64)
    if n_clusters is not None:
        return Clustering(labels, score, k, math.nan, False, n_rows)
    null = shuffled_columns(features, random_state) if null_features is None else null_features
    with one_native_thread():
        null_labels = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(null)
    null_score = _silhouette(null, null_labels, metric, random_state) if 1 < len(np.unique(null_labels)) < n_rows \
        else 0.0
    if score < MIN_SILHOUETTE or score - null_score < MIN_SILHOUETTE_GAIN:
        return Clustering(np.zeros(n_all, dtype=np.int64), score, k, null_score, True, n_rows)
    return Clustering(labels, score, k, null_score, False, n_rows)


def stratified_sample(strata: Any, size: int, random_state: int = 0) -> np.ndarray:
    """Sorted positions of a seeded random sample of exactly ``size`` rows in which every stratum keeps its share.

    Each stratum gets ``size * its share`` rows, rounded by largest remainders so that the quotas sum to ``size``;
    all positions when ``size`` is at least the number of rows.

    Args:
        strata: ``(n,)`` the stratum of each row (strings, ints; None is a stratum of its own).
        size: rows wanted.
        random_state: the sample's seed.

    Returns:
        ``(min(size, n),)`` int64 positions, increasing.

    Examples:
        >>> stratified_sample(["en"] * 6 + ["zh"] * 2, 4).tolist()  # 3 of the 6 English rows, 1 of the 2 Chinese
        [3, 4, 5, 6]
    """
    n_rows = len(strata)
    if size >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    keys = np.array(["" if value is None else str(value) for value in strata], dtype=object) \
        if not isinstance(strata, np.ndarray) or strata.dtype == object else strata
    _, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    shares = size * sizes / n_rows
    quotas = np.floor(shares).astype(np.int64)
    quotas[np.argsort(-(shares - quotas), kind="stable")[: size - int(quotas.sum())]] += 1
    rng = np.random.default_rng(random_state)
    grouped = np.argsort(inverse.ravel(), kind="stable")  # positions, stratum by stratum
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    chosen = [rng.choice(grouped[start:start + count], quota, replace=False)
              for start, count, quota in zip(starts, sizes, quotas) if quota]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
