"""Social link prediction without leakage: held-out splits, neighbourhood heuristics, spectral scores, a combiner.

``split_edges`` holds out a fraction of the edges (at random, or the latest ones when timestamps are given) and
draws as many negative pairs among the non-edges of the FULL graph; every scorer then sees only the training
edges. ``heuristic_scores`` computes the classic neighbourhood scores (Liben-Nowell & Kleinberg 2007; Zhou, Lü &
Zhang 2009 for resource allocation) with sparse products, ``embedding_scores`` compares spectral embeddings of
the training graph, and ``LinkPredictor`` learns a combination of them (plus, optionally, per-node feature
vectors) on an inner split of the training edges, so that no held-out edge is ever a feature or a label.
``evaluate_link_prediction`` reports ROC AUC and average precision, ``compare_link_methods`` every method on one
split, and ``suggest_links`` ranks each user's non-neighbours within a few hops (friend suggestions).

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> community = np.arange(60) % 4  # four planted communities
    >>> probability = np.where(community[:, None] == community[None, :], 0.6, 0.02)
    >>> upper = np.triu(rng.random((60, 60)) < probability, k=1)
    >>> edges = np.argwhere(upper)
    >>> split = split_edges(edges, test_fraction=0.1, random_state=0)
    >>> scores = heuristic_scores(split.train_edges, split.test_pairs, split.n_nodes, "adamic_adar")
    >>> evaluate_link_prediction(split, scores)["auc"] > 0.8
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.tasks._ids import distinct_codes

__all__ = [
    "HEURISTICS",
    "LinkPredictor",
    "LinkSplit",
    "compare_link_methods",
    "embedding_scores",
    "evaluate_link_prediction",
    "heuristic_scores",
    "spectral_embedding",
    "split_edges",
    "suggest_links",
]

HEURISTICS = ("adamic_adar", "common_neighbours", "jaccard", "preferential_attachment", "resource_allocation")
"""The names ``heuristic_scores`` accepts."""

# Below this many nodes a dense eigendecomposition is exact and faster than ARPACK (which also needs k < n).
_DENSE_EIGEN_LIMIT = 600


class LinkSplit(NamedTuple):
    """A held-out link-prediction split; every array is ``(n, 2)`` int64 node indices.

    Attributes:
        train_edges: ``(m_train, 2)`` the edges a scorer may see.
        test_positive: ``(k, 2)`` held-out edges (absent from ``train_edges``).
        test_negative: ``(k, 2)`` pairs that are not edges of the full graph (nor self-loops).
        n_nodes: the number of nodes (indices run ``0 .. n_nodes - 1``).
    """

    train_edges: np.ndarray
    test_positive: np.ndarray
    test_negative: np.ndarray
    n_nodes: int

    @property
    def test_pairs(self) -> np.ndarray:
        """``(2k, 2)``: the positives, then the negatives (the order ``evaluate_link_prediction`` expects)."""
        return np.concatenate([self.test_positive, self.test_negative])

    @property
    def test_labels(self) -> np.ndarray:
        """``(2k,)`` int8: 1 for each positive of ``test_pairs``, 0 for each negative."""
        return np.concatenate([np.ones(len(self.test_positive), np.int8), np.zeros(len(self.test_negative), np.int8)])


def _as_pairs(pairs: np.ndarray | Sequence[tuple[int, int]], name: str) -> np.ndarray:
    """``pairs`` as an ``(n, 2)`` int64 array of non-negative indices, or a DataError naming ``name``."""
    array = np.asarray(pairs)
    if array.size == 0:
        return np.empty((0, 2), np.int64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise DataError(f"{name} must be an (n, 2) array of node indices; got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise DataError(f"{name} must hold integer node indices; got dtype {array.dtype}.")
    array = array.astype(np.int64)
    if array.min() < 0:
        raise DataError(f"{name} holds a negative node index ({array.min()}); indices start at 0.")
    return array


def _check_n_nodes(pairs: np.ndarray, n_nodes: int | None, name: str) -> int:
    """``n_nodes`` (or one more than the largest index when None), checked against the indices in ``pairs``."""
    largest = int(pairs.max()) + 1 if len(pairs) else 0
    if n_nodes is None:
        return largest
    if largest > n_nodes:
        raise DataError(f"{name} refers to node {largest - 1} but n_nodes is {n_nodes}; pass a larger n_nodes.")
    return int(n_nodes)


def _pair_codes(pairs: np.ndarray, n_nodes: int) -> np.ndarray:
    """One int64 code per ordered pair: ``u * n_nodes + v``."""
    return pairs[:, 0] * np.int64(n_nodes) + pairs[:, 1]


def _sample_non_edges(
    edge_codes: np.ndarray, count: int, n_nodes: int, undirected: bool, rng: np.random.Generator
) -> np.ndarray:
    """``count`` distinct pairs drawn uniformly among the non-edges (no self-loop) by rejection, ``(count, 2)``."""
    n_candidates = n_nodes * (n_nodes - 1) // (2 if undirected else 1)
    available = n_candidates - len(edge_codes)
    if count > available:
        raise DataError(
            f"cannot draw {count} negative pairs: the graph has only {available} non-edges among {n_nodes} nodes; "
            "lower test_fraction."
        )
    known = np.sort(edge_codes)
    chosen = np.empty(0, np.int64)
    acceptance = available / n_candidates
    while len(chosen) < count:
        batch = int(np.ceil((count - len(chosen)) / acceptance * 1.2)) + 16
        draws = rng.integers(0, n_nodes, size=(batch, 2), dtype=np.int64)
        if undirected:
            draws = np.sort(draws, axis=1)
        draws = draws[draws[:, 0] != draws[:, 1]]
        codes = _pair_codes(draws, n_nodes)
        position = np.minimum(np.searchsorted(known, codes), max(len(known) - 1, 0))
        if len(known):
            codes = codes[known[position] != codes]
        codes = np.concatenate([chosen, codes])
        # Keep the first occurrence of each code, in draw order, so that the result depends only on the seed.
        _, first = np.unique(codes, return_index=True)
        chosen = codes[np.sort(first)][:count]
    return np.stack([chosen // n_nodes, chosen % n_nodes], axis=1)


def split_edges(
    edges: np.ndarray | Sequence[tuple[int, int]],
    *,
    test_fraction: float = 0.1,
    timestamps: np.ndarray | Sequence[Any] | None = None,
    undirected: bool = True,
    n_nodes: int | None = None,
    random_state: int | None = 0,
) -> LinkSplit:
    """Hold out a fraction of the edges as test positives and draw as many test negatives among non-edges.

    The edges are first cleaned: self-loops are dropped, an undirected pair is stored once as ``(min, max)``
    and a repeated edge is kept once (with its earliest timestamp). Then ``round(test_fraction * m)`` edges
    (at least one) move to ``test_positive`` and leave the training graph: chosen at random, or, when
    ``timestamps`` are given, the latest ones (ties in time broken by input order), which mimics predicting
    future friendships from the past. Negatives are drawn uniformly, without replacement, among the pairs that
    are not edges of the FULL graph (training and test), so a held-out friendship is never labelled negative.
    Nothing keeps the training graph connected: a node whose every edge is held out becomes isolated there.

    Args:
        edges: ``(m, 2)`` node indices (``0 .. n_nodes - 1``) or a list of ``(u, v)`` pairs.
        test_fraction: share of the (cleaned) edges held out, in ``(0, 1)``.
        timestamps: ``(m,)`` sortable times of the edges (numbers or datetimes); None splits at random.
        undirected: treat ``(u, v)`` and ``(v, u)`` as one edge (negatives are then unordered pairs too).
        n_nodes: the number of nodes; None means one more than the largest index in ``edges``.
        random_state: seed of the random split and of the negative draws.

    Returns:
        A ``LinkSplit`` of int64 arrays: ``train_edges`` ``(m - k, 2)``, ``test_positive`` ``(k, 2)``,
        ``test_negative`` ``(k, 2)``, and ``n_nodes``.

    Raises:
        ConfigurationError: ``test_fraction`` is not in ``(0, 1)``.
        DataError: ``edges`` or ``timestamps`` are malformed, too few edges remain for a split, or the graph has
            fewer non-edges than the negatives needed.

    Examples:
        >>> split = split_edges([(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], test_fraction=0.4, random_state=0)
        >>> len(split.train_edges), len(split.test_positive), len(split.test_negative)
        (3, 2, 2)
        >>> full = {(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)}
        >>> any(tuple(pair) in full for pair in split.test_negative.tolist())
        False
        >>> times = [5, 1, 2, 3, 4]
        >>> split_edges([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], test_fraction=0.2, timestamps=times).test_positive
        array([[0, 1]])
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigurationError(f"test_fraction must be in (0, 1); got {test_fraction}.")
    pairs = _as_pairs(edges, "edges")
    if timestamps is not None:
        times = np.asarray(timestamps)
        if times.shape != (len(pairs),):
            raise DataError(f"timestamps must have one entry per edge ({len(pairs)}); got shape {times.shape}.")
        order = np.argsort(times, kind="stable")
        pairs = pairs[order]
    n_nodes = _check_n_nodes(pairs, n_nodes, "edges")
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if undirected:
        pairs = np.sort(pairs, axis=1)
    # First occurrence in (time) order: a repeated friendship dates from when it first appeared.
    _, first = np.unique(_pair_codes(pairs, n_nodes), return_index=True)
    pairs = pairs[np.sort(first)]
    n_test = max(1, round(test_fraction * len(pairs)))
    if n_test >= len(pairs):
        raise DataError(f"{len(pairs)} distinct edges (self-loops and repeats dropped) are too few to hold out "
                        f"{n_test}; pass more edges or a smaller test_fraction.")
    rng = np.random.default_rng(random_state)
    if timestamps is None:
        pairs = pairs[rng.permutation(len(pairs))]
    test_positive, train_edges = pairs[len(pairs) - n_test:], pairs[: len(pairs) - n_test]
    negatives = _sample_non_edges(_pair_codes(pairs, n_nodes), n_test, n_nodes, undirected, rng)
    return LinkSplit(train_edges, test_positive, negatives, n_nodes)


def _adjacency(train_edges: np.ndarray | Sequence[tuple[int, int]], n_nodes: int) -> Any:
    """The symmetric binary ``(n_nodes, n_nodes)`` CSR adjacency of the training edges (self-loops dropped)."""
    sparse = attempt_import("scipy.sparse", "graph")
    edges = _as_pairs(train_edges, "train_edges")
    _check_n_nodes(edges, n_nodes, "train_edges")
    edges = edges[edges[:, 0] != edges[:, 1]]
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    columns = np.concatenate([edges[:, 1], edges[:, 0]])
    adjacency = sparse.csr_array((np.ones(len(rows), np.float64), (rows, columns)), shape=(n_nodes, n_nodes))
    adjacency.sum_duplicates()
    adjacency.data[:] = 1.0
    return adjacency


def _heuristic_matrix(adjacency: Any, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """Every heuristic of ``HEURISTICS`` for ``pairs`` over ``adjacency``: name -> ``(n_pairs,)`` float64."""
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    u, v = pairs[:, 0], pairs[:, 1]
    shared = adjacency[u].multiply(adjacency[v]).tocsr()  # (n_pairs, n_nodes): 1 where a node is a common neighbour
    common = np.asarray(shared.sum(axis=1)).ravel()
    union = degree[u] + degree[v] - common
    # A common neighbour of two distinct nodes has degree >= 2, so log(degree) > 0 wherever it is used.
    inverse_log_degree = np.zeros_like(degree)
    np.divide(1.0, np.log(np.maximum(degree, 1.0)), out=inverse_log_degree, where=degree > 1)
    inverse_degree = np.zeros_like(degree)
    np.divide(1.0, degree, out=inverse_degree, where=degree > 0)
    jaccard = np.zeros_like(common)
    np.divide(common, union, out=jaccard, where=union > 0)
    return {
        "adamic_adar": shared @ inverse_log_degree,
        "common_neighbours": common,
        "jaccard": jaccard,
        "preferential_attachment": degree[u] * degree[v],
        "resource_allocation": shared @ inverse_degree,
    }


def heuristic_scores(
    train_edges: np.ndarray | Sequence[tuple[int, int]],
    pairs: np.ndarray | Sequence[tuple[int, int]],
    n_nodes: int,
    method: str,
) -> np.ndarray:
    """Score node pairs with a neighbourhood heuristic of the (undirected) training graph.

    With ``N(x)`` the neighbours of ``x`` and ``k(x) = |N(x)|``: ``common_neighbours`` = ``|N(u) & N(v)|``,
    ``jaccard`` = ``|N(u) & N(v)| / |N(u) | N(v)|`` (0 when both are isolated), ``adamic_adar`` = sum over
    common neighbours ``z`` of ``1 / log k(z)``, ``resource_allocation`` = sum of ``1 / k(z)``,
    ``preferential_attachment`` = ``k(u) * k(v)``. Directed edges count in both directions; repeats once.

    Args:
        train_edges: ``(m, 2)`` training edges (never the held-out ones).
        pairs: ``(n_pairs, 2)`` node pairs to score.
        n_nodes: the number of nodes.
        method: one of ``HEURISTICS``.

    Returns:
        ``(n_pairs,)`` float64 scores, higher meaning a likelier link.

    Raises:
        ConfigurationError: ``method`` is unknown.
        DataError: malformed edges or pairs, or an index ``>= n_nodes``.

    Examples:
        >>> square = [(0, 1), (1, 2), (2, 3), (3, 0)]
        >>> heuristic_scores(square, [(0, 2), (0, 1)], 4, "common_neighbours")
        array([2., 0.])
        >>> heuristic_scores(square, [(0, 2)], 4, "resource_allocation")
        array([1.])
    """
    if method not in HEURISTICS:
        raise ConfigurationError(f"unknown heuristic {method!r}; choose one of {', '.join(HEURISTICS)}.")
    pairs = _as_pairs(pairs, "pairs")
    _check_n_nodes(pairs, n_nodes, "pairs")
    return _heuristic_matrix(_adjacency(train_edges, n_nodes), pairs)[method]


def spectral_embedding(
    train_edges: np.ndarray | Sequence[tuple[int, int]],
    n_nodes: int,
    *,
    n_components: int = 32,
    random_state: int | None = 0,
) -> np.ndarray:
    """Embed the nodes by the leading eigenvectors of the normalised adjacency of the training graph.

    The normalised adjacency ``D^-1/2 A D^-1/2`` is symmetric; its ``n_components`` largest (algebraic)
    eigenpairs ``(lambda, u)`` give the embedding ``u * sqrt(max(lambda, 0))``, so that the dot product of two
    rows is the rank-``n_components`` positive-part approximation of their normalised adjacency entry. The
    corpus-level ``SpectralGraphEncoder`` works on a ``UserGraph`` built from a Corpus; this one takes bare
    index pairs so that a held-out split stays the only source of edges. Isolated nodes embed at 0.

    Args:
        train_edges: ``(m, 2)`` training edges.
        n_nodes: the number of nodes.
        n_components: embedding width (clipped to ``n_nodes - 1``).
        random_state: seed of the ARPACK start vector (graphs above a few hundred nodes).

    Returns:
        ``(n_nodes, n_components)`` float64, each column's largest-magnitude entry positive.

    Examples:
        >>> embedding = spectral_embedding([(0, 1), (2, 3)], 4, n_components=2)
        >>> embedding.shape, bool(embedding[0] @ embedding[1] > embedding[0] @ embedding[2])
        ((4, 2), True)
    """
    if n_components < 1:
        raise ConfigurationError(f"n_components must be at least 1; got {n_components}.")
    adjacency = _adjacency(train_edges, n_nodes)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=scale, where=degree > 0)
    sparse = attempt_import("scipy.sparse", "graph")
    normalised = sparse.diags_array(scale) @ adjacency @ sparse.diags_array(scale)
    n_components = max(1, min(n_components, n_nodes - 1))
    if n_nodes <= _DENSE_EIGEN_LIMIT:
        values, vectors = np.linalg.eigh(normalised.toarray())
        values, vectors = values[::-1][:n_components], vectors[:, ::-1][:, :n_components]
    else:
        linalg = attempt_import("scipy.sparse.linalg", "graph")
        start = np.random.default_rng(random_state).uniform(0.5, 1.0, n_nodes)
        values, vectors = linalg.eigsh(normalised, k=n_components, which="LA", v0=start)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
    largest = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[largest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs * np.sqrt(np.clip(values, 0.0, None))


def _similarities(embedding: np.ndarray, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """Dot product and cosine similarity of the embedded pairs: name -> ``(n_pairs,)``."""
    left, right = embedding[pairs[:, 0]], embedding[pairs[:, 1]]
    dot = np.einsum("ij,ij->i", left, right)
    norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    cosine = np.zeros_like(dot)
    np.divide(dot, norms, out=cosine, where=norms > 0)
    return {"dot": dot, "cosine": cosine}


def embedding_scores(
    train_edges: np.ndarray | Sequence[tuple[int, int]],
    pairs: np.ndarray | Sequence[tuple[int, int]],
    n_nodes: int,
    *,
    similarity: str = "dot",
    n_components: int = 32,
    random_state: int | None = 0,
) -> np.ndarray:
    """Score node pairs by the similarity of their ``spectral_embedding`` rows.

    Args:
        train_edges: ``(m, 2)`` training edges.
        pairs: ``(n_pairs, 2)`` node pairs to score.
        n_nodes: the number of nodes.
        similarity: ``"dot"`` or ``"cosine"`` (0 where a node is isolated).
        n_components: embedding width.
        random_state: seed of the eigensolver.

    Returns:
        ``(n_pairs,)`` float64 scores.

    Raises:
        ConfigurationError: unknown ``similarity``.

    Examples:
        >>> embedding_scores([(0, 1), (1, 2), (3, 4)], [(0, 2), (0, 4)], 5, similarity="cosine").round(2)
        array([1., 0.])
    """
    if similarity not in ("cosine", "dot"):
        raise ConfigurationError(f"unknown similarity {similarity!r}; choose 'dot' or 'cosine'.")
    pairs = _as_pairs(pairs, "pairs")
    _check_n_nodes(pairs, n_nodes, "pairs")
    embedding = spectral_embedding(train_edges, n_nodes, n_components=n_components, random_state=random_state)
    return _similarities(embedding, pairs)[similarity]


class LinkPredictor:
    """Supervised link prediction: a classifier over heuristics, spectral similarity and node-feature products.

    ``fit`` holds out ``validation_fraction`` of the training edges (``split_edges`` again, so negatives are
    non-edges of the training graph), computes the features of those pairs over the remaining edges, and fits
    the classifier on them: the labels are never visible to the features. ``predict_proba`` then computes the
    features of new pairs over all the training edges. Features: log1p of common neighbours, Adamic-Adar,
    resource allocation and preferential attachment, Jaccard, spectral dot and cosine, and, when
    ``node_features`` are given (e.g. users' profile embeddings), their dot product and cosine similarity: two
    features rather than one per dimension, so a few thousand labelled pairs are enough to weigh them.

    Args:
        estimator: ``"logistic"`` (standardised logistic regression) or ``"hist_gradient_boosting"``.
        validation_fraction: share of the training edges used as labelled positives in ``fit``.
        n_components: width of the spectral embedding.
        n_repeats: number of inner splits whose pairs are pooled (more labelled pairs on small graphs).
        undirected: whether the edges are undirected (passed to ``split_edges``).
        random_state: seed of the inner splits, the embedding and the classifier.

    Attributes:
        classes_: ``array([0, 1])``.
        n_nodes_: number of nodes seen in ``fit``.
        estimator_: the fitted scikit-learn classifier.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> community = np.arange(60) % 4
        >>> upper = np.triu(rng.random((60, 60)) < np.where(community[:, None] == community, 0.6, 0.02), k=1)
        >>> split = split_edges(np.argwhere(upper), random_state=0)
        >>> model = LinkPredictor(random_state=0).fit(split.train_edges, n_nodes=split.n_nodes)
        >>> probability = model.predict_proba(split.test_pairs)[:, 1]
        >>> probability.shape == (len(split.test_pairs),), evaluate_link_prediction(split, probability)["auc"] > 0.8
        (True, True)
    """

    def __init__(
        self,
        estimator: str = "logistic",
        *,
        validation_fraction: float = 0.1,
        n_components: int = 32,
        n_repeats: int = 1,
        undirected: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.estimator = estimator
        self.validation_fraction = validation_fraction
        self.n_components = n_components
        self.n_repeats = n_repeats
        self.undirected = undirected
        self.random_state = random_state

    def _features(self, train_edges: np.ndarray, pairs: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """``(n_pairs, n_features)`` features of ``pairs`` over ``train_edges``."""
        heuristics = _heuristic_matrix(_adjacency(train_edges, self.n_nodes_), pairs)
        similarities = _similarities(embedding, pairs)
        columns = [np.log1p(heuristics[name]) for name in ("adamic_adar", "common_neighbours",
                                                           "preferential_attachment", "resource_allocation")]
        columns += [heuristics["jaccard"], similarities["dot"], similarities["cosine"]]
        features = np.stack(columns, axis=1)
        if self.node_features_ is not None:
            content = _similarities(self.node_features_, pairs)
            features = np.hstack([features, np.stack([content["dot"], content["cosine"]], axis=1)])
        return features

    def _embedding(self, train_edges: np.ndarray) -> np.ndarray:
        return spectral_embedding(train_edges, self.n_nodes_, n_components=self.n_components,
                                  random_state=self.random_state)

    def _make_estimator(self) -> Any:
        if self.estimator == "logistic":
            linear_model = attempt_import("sklearn.linear_model", "graph")
            pipeline = attempt_import("sklearn.pipeline", "graph")
            preprocessing = attempt_import("sklearn.preprocessing", "graph")
            return pipeline.make_pipeline(preprocessing.StandardScaler(),
                                          linear_model.LogisticRegression(max_iter=2000))
        if self.estimator == "hist_gradient_boosting":
            ensemble = attempt_import("sklearn.ensemble", "graph")
            return ensemble.HistGradientBoostingClassifier(random_state=self.random_state)
        raise ConfigurationError(
            f"unknown estimator {self.estimator!r}; choose 'logistic' or 'hist_gradient_boosting'.")

    def fit(
        self,
        train_edges: np.ndarray | Sequence[tuple[int, int]],
        *,
        n_nodes: int | None = None,
        node_features: np.ndarray | None = None,
    ) -> LinkPredictor:
        """Learn the classifier from inner splits of the training edges.

        Args:
            train_edges: ``(m, 2)`` training edges (the ``train_edges`` of an outer ``LinkSplit``).
            n_nodes: the number of nodes; None means one more than the largest index (or the rows of
                ``node_features``).
            node_features: optional ``(n_nodes, d)`` per-node vectors, used through their dot product and cosine.

        Returns:
            self.

        Raises:
            ConfigurationError: unknown estimator or ``n_repeats < 1``.
            DataError: malformed edges or node features.
        """
        estimator = self._make_estimator()
        if self.n_repeats < 1:
            raise ConfigurationError(f"n_repeats must be at least 1; got {self.n_repeats}.")
        edges = _as_pairs(train_edges, "train_edges")
        if n_nodes is None and node_features is not None:
            n_nodes = len(node_features)
        self.n_nodes_ = _check_n_nodes(edges, n_nodes, "train_edges")
        if node_features is not None:
            node_features = np.asarray(node_features, dtype=np.float64)
            if node_features.ndim != 2 or len(node_features) != self.n_nodes_:
                raise DataError(f"node_features must be (n_nodes={self.n_nodes_}, d); got {node_features.shape}.")
        self.node_features_ = node_features
        seeds = np.random.default_rng(self.random_state).integers(0, 2**31, size=self.n_repeats)
        features, labels = [], []
        for seed in seeds:
            inner = split_edges(edges, test_fraction=self.validation_fraction, undirected=self.undirected,
                                n_nodes=self.n_nodes_, random_state=int(seed))
            features.append(self._features(inner.train_edges, inner.test_pairs, self._embedding(inner.train_edges)))
            labels.append(inner.test_labels)
        self.estimator_ = estimator.fit(np.concatenate(features), np.concatenate(labels))
        self.classes_ = np.array([0, 1])
        self.train_edges_ = edges
        self.embedding_ = self._embedding(edges)
        return self

    def predict_proba(self, pairs: np.ndarray | Sequence[tuple[int, int]]) -> np.ndarray:
        """Probability of no link / link for each pair, from features over all the training edges.

        Args:
            pairs: ``(n_pairs, 2)`` node pairs.

        Returns:
            ``(n_pairs, 2)`` float64; column 1 is the link probability.

        Raises:
            NotFittedError: ``fit`` was not called.
            DataError: malformed pairs or an index ``>= n_nodes_``.
        """
        if not hasattr(self, "estimator_"):
            exceptions = attempt_import("sklearn.exceptions", "graph")
            raise exceptions.NotFittedError("This LinkPredictor is not fitted yet; call fit(train_edges) first.")
        pairs = _as_pairs(pairs, "pairs")
        _check_n_nodes(pairs, self.n_nodes_, "pairs")
        return self.estimator_.predict_proba(self._features(self.train_edges_, pairs, self.embedding_))

    def predict(self, pairs: np.ndarray | Sequence[tuple[int, int]]) -> np.ndarray:
        """``(n_pairs,)`` int: 1 where the link probability is at least 0.5."""
        return (self.predict_proba(pairs)[:, 1] >= 0.5).astype(np.int64)


def evaluate_link_prediction(split: LinkSplit, scores: np.ndarray | Sequence[float]) -> dict[str, float]:
    """ROC AUC and average precision of scores given to ``split.test_pairs`` (positives first, then negatives).

    Args:
        split: the ``LinkSplit`` the scores are for.
        scores: ``(len(test_positive) + len(test_negative),)`` scores, higher meaning a likelier link.

    Returns:
        ``{"auc": ..., "average_precision": ...}`` as floats.

    Raises:
        DataError: ``scores`` has the wrong length.

    Examples:
        >>> split = LinkSplit(np.empty((0, 2)), np.array([[0, 1]]), np.array([[0, 2]]), 3)
        >>> evaluate_link_prediction(split, [0.9, 0.1])
        {'auc': 1.0, 'average_precision': 1.0}
    """
    metrics = attempt_import("sklearn.metrics", "graph")
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = split.test_labels
    if scores.shape != labels.shape:
        raise DataError(f"scores must have one entry per test pair ({len(labels)}: positives then negatives); "
                        f"got {scores.shape[0]}.")
    return {
        "auc": float(metrics.roc_auc_score(labels, scores)),
        "average_precision": float(metrics.average_precision_score(labels, scores)),
    }


_SUGGESTIONS_SCHEMA = pa.schema([("user", pa.int64()), ("candidate", pa.int64()), ("score", pa.float64()),
                                 ("rank", pa.int32())])


def _candidates(adjacency: Any, user: int, max_hops: int | None) -> np.ndarray:
    """Sorted non-neighbours of ``user`` (never ``user``) within ``max_hops`` hops, or all of them when None."""
    neighbours = adjacency.indices[adjacency.indptr[user]:adjacency.indptr[user + 1]]
    seen = np.zeros(adjacency.shape[0], bool)
    seen[user] = True
    seen[neighbours] = True
    if max_hops is None:
        return np.flatnonzero(~seen)
    found, frontier = [], neighbours
    for _ in range(max_hops - 1):
        reached = distinct_codes(adjacency[frontier].indices) if len(frontier) else frontier
        frontier = reached[~seen[reached]]
        seen[frontier] = True
        found.append(frontier)
    return np.sort(np.concatenate(found)) if found else np.empty(0, np.int64)


def suggest_links(
    train_edges: np.ndarray | Sequence[tuple[int, int]],
    n_nodes: int,
    users: Sequence[int] | np.ndarray,
    k: int = 10,
    *,
    model: LinkPredictor | str | None = None,
    max_hops: int | None = 2,
    node_features: np.ndarray | None = None,
    random_state: int | None = 0,
) -> pa.Table:
    """The ``k`` likeliest new links of each user: non-neighbours within ``max_hops`` hops, ranked by a scorer.

    Candidates of a user are the nodes at distance 2 to ``max_hops`` in the (undirected) graph of
    ``train_edges``: never the user, never a current neighbour. They are scored by ``model``: a
    ``LinkPredictor`` (fitted here on ``train_edges`` when it is not fitted yet; None means a default
    ``LinkPredictor(random_state=random_state)``), or the name of a heuristic from ``HEURISTICS``.

    Args:
        train_edges: ``(m, 2)`` the known edges (directions and repeats ignored).
        n_nodes: the number of nodes (indices run ``0 .. n_nodes - 1``).
        users: node indices to suggest links for (repeats are dropped, order kept).
        k: suggestions per user at most (fewer when the user has fewer candidates).
        model: a ``LinkPredictor`` (fitted or not), a heuristic name, or None for a fresh ``LinkPredictor``.
        max_hops: how far candidates may lie (at least 2); None considers every non-neighbour (e.g. for a user
            without links, whom only ``node_features`` can place).
        node_features: optional ``(n_nodes, d)`` per-node vectors (e.g. profile embeddings) given to the
            ``LinkPredictor`` fitted here.
        random_state: seed of the ``LinkPredictor`` created when ``model`` is None.

    Returns:
        Columns ``user``, ``candidate`` (int64 node indices), ``score`` (float64: link probability or heuristic
        score) and ``rank`` (int32, 1 = likeliest; ties by candidate index), users in the given order.

    Raises:
        ConfigurationError: ``k < 1``, ``max_hops < 2``, an unknown heuristic, or ``node_features`` given with a
            heuristic or an already fitted model.
        DataError: malformed edges, a user index outside ``0 .. n_nodes - 1``, or a fitted model trained on
            another number of nodes.

    Examples:
        >>> square = [(0, 1), (1, 2), (2, 3), (3, 0), (3, 4)]
        >>> suggest_links(square, 5, [0], k=2, model="common_neighbours").to_pylist()
        [{'user': 0, 'candidate': 2, 'score': 2.0, 'rank': 1}, {'user': 0, 'candidate': 4, 'score': 1.0, 'rank': 2}]
    """
    if k < 1:
        raise ConfigurationError(f"k must be at least 1; got {k}.")
    if max_hops is not None and max_hops < 2:
        raise ConfigurationError(f"max_hops must be at least 2 (neighbours are never suggested) or None; "
                                 f"got {max_hops}.")
    if isinstance(model, str) and model not in HEURISTICS:
        raise ConfigurationError(f"unknown heuristic {model!r}; choose one of {', '.join(HEURISTICS)}, "
                                 "or pass a LinkPredictor.")
    fitted = isinstance(model, LinkPredictor) and hasattr(model, "estimator_")
    if node_features is not None and (isinstance(model, str) or fitted):
        raise ConfigurationError("node_features are used only by a LinkPredictor fitted here; pass model=None or "
                                 "an unfitted LinkPredictor, or fit yours with node_features first.")
    edges = _as_pairs(train_edges, "train_edges")
    n_nodes = _check_n_nodes(edges, n_nodes, "train_edges")
    wanted = np.asarray(users).ravel()
    if wanted.size and (not np.issubdtype(wanted.dtype, np.integer) or wanted.min() < 0 or wanted.max() >= n_nodes):
        raise DataError(f"users must be node indices in 0 .. {n_nodes - 1}; got {wanted.tolist()[:10]}.")
    wanted = np.array(list(dict.fromkeys(wanted.astype(np.int64).tolist())), np.int64)
    adjacency = _adjacency(edges, n_nodes)
    candidates = [_candidates(adjacency, int(user), max_hops) for user in wanted]
    owners = np.repeat(wanted, [len(found) for found in candidates])
    pairs = np.stack([owners, np.concatenate(candidates) if candidates else owners], axis=1).astype(np.int64)
    if not len(pairs):
        return _SUGGESTIONS_SCHEMA.empty_table()
    if isinstance(model, str):
        scores = _heuristic_matrix(adjacency, pairs)[model]
    else:
        model = LinkPredictor(random_state=random_state) if model is None else model
        if not fitted:
            model.fit(edges, n_nodes=n_nodes, node_features=node_features)
        elif model.n_nodes_ != n_nodes:
            raise DataError(f"the model was fitted on {model.n_nodes_} nodes but n_nodes is {n_nodes}; refit it on "
                            "these edges or pass model=None.")
        scores = model.predict_proba(pairs)[:, 1]
    # One lexsort orders the pairs by user (in the given order), score (descending), then candidate index.
    group = np.repeat(np.arange(len(wanted)), [len(found) for found in candidates])
    order = np.lexsort((pairs[:, 1], -scores, group))
    pairs, scores = pairs[order], scores[order]
    starts = np.searchsorted(group, np.arange(len(wanted)))  # group is sorted already
    rank = np.arange(len(pairs)) - starts[group] + 1
    keep = rank <= k
    return pa.table({"user": pairs[keep, 0], "candidate": pairs[keep, 1], "score": scores[keep],
                     "rank": rank[keep].astype(np.int32)}, schema=_SUGGESTIONS_SCHEMA)


def compare_link_methods(
    split: LinkSplit, *, node_features: np.ndarray | None = None, random_state: int | None = 0
) -> pa.Table:
    """Held-out ROC AUC and average precision of every heuristic, the spectral embedding and ``LinkPredictor``.

    Every method scores ``split.test_pairs`` from ``split.train_edges`` only, so no held-out edge leaks in.

    Args:
        split: a ``LinkSplit`` from ``split_edges``.
        node_features: optional ``(n_nodes, d)`` vectors given to ``LinkPredictor``.
        random_state: seed of the spectral embedding and of ``LinkPredictor``.

    Returns:
        Columns ``method`` (each of ``HEURISTICS``, then ``"spectral_dot"`` and ``"link_predictor"``), ``auc`` and
        ``average_precision``, in that order.

    Raises:
        DataError: the split's training graph is too small to fit ``LinkPredictor``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> community = np.arange(60) % 4
        >>> upper = np.triu(rng.random((60, 60)) < np.where(community[:, None] == community, 0.6, 0.02), k=1)
        >>> table = compare_link_methods(split_edges(np.argwhere(upper), random_state=0))
        >>> auc = dict(zip(table.column("method").to_pylist(), table.column("auc").to_pylist()))
        >>> list(auc)[-2:], auc["adamic_adar"] > 0.8, auc["link_predictor"] > 0.8
        (['spectral_dot', 'link_predictor'], True, True)
    """
    adjacency = _adjacency(split.train_edges, split.n_nodes)
    scores = dict(_heuristic_matrix(adjacency, split.test_pairs))
    scores["spectral_dot"] = embedding_scores(split.train_edges, split.test_pairs, split.n_nodes,
                                              random_state=random_state)
    model = LinkPredictor(random_state=random_state).fit(split.train_edges, n_nodes=split.n_nodes,
                                                         node_features=node_features)
    scores["link_predictor"] = model.predict_proba(split.test_pairs)[:, 1]
    rows = [{"method": name, **evaluate_link_prediction(split, scores[name])}
            for name in (*HEURISTICS, "spectral_dot", "link_predictor")]
    return pa.Table.from_pylist(rows, schema=pa.schema([("method", pa.string()), ("auc", pa.float64()),
                                                        ("average_precision", pa.float64())]))
