"""Graph encoders: one vector per user from who follows, mentions, replies to and engages with whom.

Both encoders are fitted on a corpus. ``fit`` builds one weighted user graph (``build_user_graph``) from the
``edges`` table (follow / friend / mention / reply, each kind with its own weight, times the edge's ``weight``
column when given) plus user -> author ties derived from ``interactions`` (a like, comment, share... of a post
ties the user to the post's author), optionally symmetrised; ``encode(user_ids)`` then looks the users up.

- ``graph/spectral``: the leading eigenvectors of the degree-regularised normalised adjacency, scaled by the
  square roots of their eigenvalues (a directed graph: the top singular vectors, half the dimensions for the
  sources and half for the targets).
- ``graph/random-walk``: DeepWalk without gensim, as in NetMF: truncated weighted random walks, skip-gram
  co-occurrence counts over a window, their positive pointwise mutual information (PPMI), factorised by a
  randomized SVD.

A user id that is not a node of the graph becomes a missing row ("user not in the graph"), and so does a node
without any tie ("user has no ties in the graph"): its embedding would be the zero vector, which says nothing.
``version`` joins a hash of the settings and a fingerprint of the fitted graph (its number of ties and a hash of
the tie list), so cached features never outlive the graph they came from.

Examples:
    >>> from socialfusion.corpus import Corpus
    >>> corpus = Corpus.from_records(edges=[{"src": "a", "dst": "b", "kind": "follow"},
    ...                                     {"src": "b", "dst": "c", "kind": "follow"}])
    >>> encoder = SpectralGraphEncoder(dim=2).fit(corpus)
    >>> encoded = encoder.encode(["a", "zed"])
    >>> encoded.vectors.shape, encoded.missing.tolist(), encoded.reasons
    ((2, 2), [False, True], [None, 'user not in the graph'])
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.encoders._base import Encoded, RowCollector, register_encoder, settings_version
from socialfusion.exceptions import ConfigurationError, attempt_import
from socialfusion.schema import EDGE_KINDS, INTERACTION_KINDS

if TYPE_CHECKING:
    from scipy import sparse

    from socialfusion.corpus import Corpus

__all__ = [
    "DEFAULT_EDGE_WEIGHTS",
    "DEFAULT_INTERACTION_WEIGHTS",
    "RandomWalkGraphEncoder",
    "SpectralGraphEncoder",
    "UserGraph",
    "build_user_graph",
]

DEFAULT_EDGE_WEIGHTS: Mapping[str, float] = {"follow": 1.0, "friend": 1.0, "mention": 1.0, "reply": 1.0}
# A view is an exposure chosen by a feed, not by the user: it ties nobody to anybody by default.
DEFAULT_INTERACTION_WEIGHTS: Mapping[str, float] = {
    "like": 1.0, "comment": 2.0, "share": 2.0, "click": 0.5, "view": 0.0,
}
NOT_IN_GRAPH = "user not in the graph"
NO_TIES = "user has no ties in the graph"

_WALKS_PER_CHUNK = 1 << 17  # bounds the memory of the co-occurrence pairs of one chunk of walks


def _scipy_sparse():
    return attempt_import("scipy.sparse", "graph")


@dataclass(frozen=True)
class UserGraph:
    """A weighted user graph: ``adjacency[i, j]`` is the strength of the tie from ``user_ids[i]`` to ``user_ids[j]``.

    Attributes:
        user_ids: ``(n_users,)`` str, sorted, so that the same ties give the same graph in any table order.
        adjacency: ``(n_users, n_users)`` float64 CSR array, canonical (sorted indices, no duplicates, no zeros,
            no self-ties); symmetric when the graph was symmetrised.
    """

    user_ids: np.ndarray
    adjacency: sparse.csr_array

    @property
    def n_ties(self) -> int:
        """The number of stored ties (non-zero entries; a symmetrised tie counts in both directions)."""
        return int(self.adjacency.nnz)

    def fingerprint(self) -> str:
        """``"<n_ties>t-<hash>"``: the tie count and a hash of the user ids and of the weighted tie list."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update("\x1f".join(self.user_ids.tolist()).encode())
        for array, dtype in ((self.adjacency.indptr, np.int64), (self.adjacency.indices, np.int64),
                             (self.adjacency.data, np.float64)):
            digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
        return f"{self.n_ties}t-{digest.hexdigest()}"


def _check_weights(weights: Mapping[str, float] | None, default: Mapping[str, float], kinds: Sequence[str],
                   argument: str) -> dict[str, float]:
    """``weights`` (kinds it does not name weigh 0) or the default, validated."""
    if weights is None:
        return dict(default)
    unknown = sorted(set(weights) - set(kinds))
    if unknown:
        raise ConfigurationError(f"{argument} names unknown kinds {unknown}; expected some of {list(kinds)}")
    negative = sorted(kind for kind, weight in weights.items() if not float(weight) >= 0.0)
    if negative:
        raise ConfigurationError(f"{argument} must be non-negative numbers; check {negative}")
    return {kind: float(weights.get(kind, 0.0)) for kind in kinds}


def _kind_weights(kinds: pa.ChunkedArray, weights: Mapping[str, float]) -> np.ndarray:
    """(n,) float64: the weight of each row's kind (0 for a kind not in ``weights``)."""
    names = list(weights)
    position = pc.fill_null(pc.index_in(kinds, value_set=pa.array(names, pa.string())), len(names))
    lookup = np.append(np.array([weights[name] for name in names], np.float64), 0.0)
    return lookup[position.to_numpy()]


def build_user_graph(
    corpus: Corpus,
    *,
    edge_weights: Mapping[str, float] | None = None,
    interaction_weights: Mapping[str, float] | None = None,
    symmetric: bool = True,
) -> UserGraph:
    """The weighted user graph of a corpus: its edges plus user -> author ties from interactions.

    A tie ``u -> v`` weighs ``edge_weights[kind] * (edge weight or 1)`` for each edge of the kind, plus
    ``interaction_weights[kind]`` for each interaction of ``u`` with a post written by ``v``; parallel ties add
    up. Self-ties (a user liking their own post) are dropped. Every user of the ``users`` table is a node, tied
    or not, and so is every user an edge or an interaction names.

    Args:
        corpus: the corpus (``edges``, ``interactions``, ``posts`` for the authors, ``users`` for the nodes).
        edge_weights: weight per edge kind; kinds it does not name weigh 0. None: ``DEFAULT_EDGE_WEIGHTS``.
        interaction_weights: weight per interaction kind; kinds it does not name weigh 0. None:
            ``DEFAULT_INTERACTION_WEIGHTS``.
        symmetric: add every tie in the other direction too (``A + A.T``).

    Returns:
        The graph, nodes sorted by user id.

    Raises:
        ConfigurationError: a weight mapping names an unknown kind or a negative weight.
        MissingDependencyError: scipy is not installed.
    """
    sparse = _scipy_sparse()
    edge_weights = _check_weights(edge_weights, DEFAULT_EDGE_WEIGHTS, EDGE_KINDS, "edge_weights")
    interaction_weights = _check_weights(
        interaction_weights, DEFAULT_INTERACTION_WEIGHTS, INTERACTION_KINDS, "interaction_weights"
    )
    edges, interactions, posts = corpus.edges, corpus.interactions, corpus.posts
    edge_strength = _kind_weights(edges.column("kind"), edge_weights)
    edge_strength *= pc.fill_null(edges.column("weight"), 1.0).to_numpy()
    post_position = pc.index_in(interactions.column("post_id"), value_set=posts.column("post_id").combine_chunks())
    authors = pc.take(posts.column("author_id"), post_position)
    sources = pa.chunked_array(edges.column("src").chunks + interactions.column("user_id").chunks, pa.string())
    targets = pa.chunked_array(edges.column("dst").chunks + authors.chunks, pa.string())
    strength = np.concatenate([edge_strength, _kind_weights(interactions.column("kind"), interaction_weights)])

    known = pc.unique(pa.chunked_array(sources.chunks + targets.chunks + corpus.users.column("user_id").chunks,
                                       pa.string()).drop_null())
    user_ids = pc.take(known, pc.array_sort_indices(known))
    source_code = pc.index_in(sources, value_set=user_ids).to_numpy().astype(np.int64)
    # A null target: an interaction with a post missing from the corpus or without an author.
    target_code = pc.fill_null(pc.index_in(targets, value_set=user_ids), -1).to_numpy().astype(np.int64)
    keep = (target_code >= 0) & (strength > 0) & (source_code != target_code)
    n_users = len(user_ids)
    adjacency = sparse.csr_array(
        (strength[keep], (source_code[keep], target_code[keep])), shape=(n_users, n_users), dtype=np.float64
    )
    if symmetric:
        adjacency = (adjacency + adjacency.T).tocsr()
    adjacency.sum_duplicates()
    adjacency.eliminate_zeros()
    return UserGraph(user_ids=np.asarray(user_ids.to_pylist(), dtype=object), adjacency=adjacency)


def _fix_signs(vectors: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Flip each column so that its largest-magnitude entry is positive (the same flips apply to ``others``)."""
    largest = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[largest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return (vectors * signs, *(other * signs for other in others))


def _inverse_square_root(values: np.ndarray) -> np.ndarray:
    """``values ** -0.5``, and 0 where a value is 0 (a user with no tie in that direction)."""
    result = np.zeros_like(values, dtype=np.float64)
    np.divide(1.0, np.sqrt(values), out=result, where=values > 0)
    return result


def _randomized_svd(
    matrix: Any, rank: int, rng: np.random.Generator, *, n_oversamples: int = 10, n_power_iterations: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``rank`` singular triplets of a (sparse) matrix by Halko, Martinsson and Tropp's range finder.

    For a symmetric matrix these are its eigenpairs of largest magnitude (``u`` the eigenvectors, ``s`` the
    absolute eigenvalues).

    Args:
        matrix: ``(n_rows, n_columns)`` sparse array or ndarray.
        rank: number of triplets, at most ``min(n_rows, n_columns)``.
        rng: draws the Gaussian test matrix.
        n_oversamples: extra sketch columns (accuracy).
        n_power_iterations: subspace iterations (accuracy when the spectrum decays slowly).

    Returns:
        ``u`` ``(n_rows, rank)``, ``s`` ``(rank,)`` descending, ``vt`` ``(rank, n_columns)``, float32; signs
        fixed so that each left singular vector's largest-magnitude entry is positive. On a matrix narrower than
        the sketch they are exact up to float32 rounding.
    """
    linalg = attempt_import("scipy.linalg", "graph")
    # Single precision halves the memory traffic of the sparse products, which bound the running time.
    matrix = matrix.astype(np.float32)
    sketch_size = min(rank + n_oversamples, *matrix.shape)
    basis = matrix @ rng.standard_normal((matrix.shape[1], sketch_size), dtype=np.float32)
    for _ in range(n_power_iterations):
        # LU keeps the columns apart as well as QR does here, at a fraction of the cost (as in scikit-learn).
        basis = linalg.lu(matrix.T @ linalg.lu(basis, permute_l=True)[0], permute_l=True)[0]
        basis = matrix @ basis
    basis, _ = np.linalg.qr(basis)
    small_u, singular_values, vt = np.linalg.svd(np.asarray((matrix.T @ basis).T), full_matrices=False)
    u, v = _fix_signs((basis @ small_u)[:, :rank], vt[:rank].T)
    return u, singular_values[:rank], v.T


class _UserGraphEncoder:
    """What both graph encoders share: the settings of the graph, ``fit``, ``version`` and ``encode``."""

    name: str
    modality = "graph"

    def __init__(self, dim: int, edge_weights: Mapping[str, float] | None,
                 interaction_weights: Mapping[str, float] | None, symmetric: bool, random_state: int | None):
        self.dim = dim
        self.edge_weights = edge_weights
        self.interaction_weights = interaction_weights
        self.symmetric = symmetric
        self.random_state = random_state

    def _embedding_settings(self) -> dict[str, Any]:
        """The settings of the embedding method itself (they enter ``version``)."""
        raise NotImplementedError

    def _embed(self, adjacency: sparse.csr_array, rng: np.random.Generator) -> np.ndarray:
        """``(n_users, dim)`` embedding of a graph whose every node has at least one tie."""
        raise NotImplementedError

    def _check_settings(self) -> None:
        """Raise ConfigurationError for a setting out of range (subclasses add theirs)."""
        if not int(self.dim) >= 1:
            raise ConfigurationError(f"{self.name}: dim must be a positive integer, got {self.dim!r}")

    @property
    def version(self) -> str:
        """``"<settings hash>-<n_ties>t-<graph hash>"``; the graph part is ``"unfitted"`` before ``fit``."""
        settings = settings_version(
            self.name, self.dim,
            sorted(_check_weights(self.edge_weights, DEFAULT_EDGE_WEIGHTS, EDGE_KINDS, "edge_weights").items()),
            sorted(_check_weights(self.interaction_weights, DEFAULT_INTERACTION_WEIGHTS, INTERACTION_KINDS,
                                  "interaction_weights").items()),
            self.symmetric, self.random_state, sorted(self._embedding_settings().items()),
        )
        return f"{settings}-{getattr(self, 'graph_fingerprint_', 'unfitted')}"

    def fit(self, corpus: Corpus) -> _UserGraphEncoder:
        """Build the user graph of ``corpus`` and embed every user.

        Args:
            corpus: the corpus whose edges, interactions, posts and users make the graph.

        Returns:
            self, with ``user_ids_`` ``(n_users,)``, ``embedding_`` ``(n_users, dim)`` float32 (zero rows for
            users without ties), ``has_ties_`` ``(n_users,)`` bool and ``graph_fingerprint_`` set.

        Raises:
            ConfigurationError: a setting is out of range, or a weight mapping is invalid.
            MissingDependencyError: scipy is not installed.
        """
        self._check_settings()
        graph = build_user_graph(corpus, edge_weights=self.edge_weights,
                                 interaction_weights=self.interaction_weights, symmetric=self.symmetric)
        adjacency = graph.adjacency
        in_degree = np.bincount(adjacency.indices, minlength=len(graph.user_ids))
        has_ties = (np.diff(adjacency.indptr) > 0) | (in_degree > 0)
        tied = np.flatnonzero(has_ties)
        embedding = np.zeros((len(graph.user_ids), int(self.dim)), np.float32)
        if len(tied):
            embedding[tied] = self._embed(adjacency[tied][:, tied].tocsr(), np.random.default_rng(self.random_state))
        self.user_ids_ = graph.user_ids
        self.embedding_ = embedding
        self.has_ties_ = has_ties
        self.graph_fingerprint_ = graph.fingerprint()
        self._row_of = {user_id: row for row, user_id in enumerate(graph.user_ids.tolist())}
        return self

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """The embeddings of the users ``items`` (user ids), in order.

        Args:
            items: user ids (str); None and ids that are not nodes of the graph become missing rows.
            batch_size: unused (a lookup); part of the Encoder signature.

        Returns:
            ``Encoded`` with vectors ``(len(items), dim)`` float32; missing rows say "no input",
            "user not in the graph" or "user has no ties in the graph".

        Raises:
            ConfigurationError: the encoder is not fitted.
        """
        if not hasattr(self, "embedding_"):
            raise ConfigurationError(f"{self.name} is not fitted: call fit(corpus) before encode")
        rows = RowCollector(len(items), int(self.dim))
        for index, user_id in enumerate(items):
            row = None if user_id is None else self._row_of.get(str(user_id))
            if user_id is None:
                rows.skip(index, "no input")
            elif row is None:
                rows.skip(index, NOT_IN_GRAPH)
            elif not self.has_ties_[row]:
                rows.skip(index, NO_TIES)
            else:
                rows.put(index, self.embedding_[row])
        return rows.result()


@register_encoder("graph/spectral", modality="graph", extra="graph")
class SpectralGraphEncoder(_UserGraphEncoder):
    """Spectral embedding of users: leading eigenvectors of the regularised normalised adjacency.

    With degrees ``D`` and ``tau = regularization * mean degree``, a randomized eigensolver (Halko et al.'s
    range finder with power iterations, scipy only) finds the ``dim`` eigenpairs of largest magnitude of
    ``M = (D + tau)^-1/2 A (D + tau)^-1/2``. They are ordered by eigenvalue; each eigenvector is scaled by the
    square root of its eigenvalue and signed so that its largest entry is positive. Eigenvectors of negative
    eigenvalues (the star around a hub, bipartite patches) become zero columns: they say nothing about
    communities and, kept, they swamp them. The regularisation (Qin and Rohe, 2013) keeps low-degree users from
    producing spurious eigenvectors. A directed graph (``symmetric=False``) takes the top singular vectors of
    ``(D_out + tau)^-1/2 A (D_in + tau)^-1/2`` instead: the first half of the dimensions says whom a user ties
    to, the second half who ties to them.

    Args:
        dim: embedding size; beyond the number of tied users the extra dimensions are zero.
        edge_weights: weight per edge kind (see ``build_user_graph``).
        interaction_weights: weight per interaction kind (see ``build_user_graph``).
        symmetric: symmetrise the graph (eigendecomposition) or keep it directed (SVD).
        regularization: ``tau`` as a multiple of the mean degree; 0 for the plain normalised adjacency.
        random_state: seeds the eigensolver's sketch; the same seed gives the same embedding.

    Examples:
        >>> from socialfusion.encoders import get_encoder
        >>> encoder = get_encoder("graph/spectral", dim=16)
        >>> encoder.version.endswith("-unfitted")
        True
    """

    name = "graph/spectral"

    def __init__(self, dim: int = 64, *, edge_weights: Mapping[str, float] | None = None,
                 interaction_weights: Mapping[str, float] | None = None, symmetric: bool = True,
                 regularization: float = 1.0, random_state: int | None = 0):
        super().__init__(dim, edge_weights, interaction_weights, symmetric, random_state)
        self.regularization = regularization

    def _embedding_settings(self) -> dict[str, Any]:
        return {"regularization": self.regularization}

    def _check_settings(self) -> None:
        super()._check_settings()
        if not float(self.regularization) >= 0.0:
            raise ConfigurationError(f"{self.name}: regularization must be 0 or more, got {self.regularization!r}")

    def _embed(self, adjacency: sparse.csr_array, rng: np.random.Generator) -> np.ndarray:
        sparse = _scipy_sparse()
        out_degree, in_degree = np.asarray(adjacency.sum(axis=1)), np.asarray(adjacency.sum(axis=0))
        tau = float(self.regularization) * out_degree.mean()
        normalised = (sparse.diags_array(_inverse_square_root(out_degree + tau)) @ adjacency
                      @ sparse.diags_array(_inverse_square_root(in_degree + tau))).tocsr()
        n_users, dim = adjacency.shape[0], int(self.dim)
        embedding = np.zeros((n_users, dim))
        if self.symmetric:
            rank = min(dim, n_users)
            vectors, magnitudes, vt = _randomized_svd(normalised, rank, rng)
            # A symmetric matrix's right singular vector is its left one times the sign of the eigenvalue.
            eigenvalues = magnitudes * np.sign(np.einsum("ij,ji->j", vectors, vt))
            order = np.argsort(-eigenvalues, kind="stable")
            # Negative eigenvalues (hubs' stars, bipartite patches) say nothing about communities: zero columns.
            embedding[:, :rank] = vectors[:, order] * np.sqrt(np.clip(eigenvalues[order], 0.0, None))
            return embedding
        out_dim = dim - dim // 2
        rank = min(out_dim, n_users)
        u, singular_values, vt = _randomized_svd(normalised, rank, rng)
        embedding[:, :rank] = u * np.sqrt(singular_values)
        in_rank = min(dim // 2, rank)
        embedding[:, out_dim:out_dim + in_rank] = (vt.T * np.sqrt(singular_values))[:, :in_rank]
        return embedding


@register_encoder("graph/random-walk", modality="graph", extra="graph")
class RandomWalkGraphEncoder(_UserGraphEncoder):
    """DeepWalk-style embedding of users without gensim: random walks, PPMI, randomized SVD (NetMF).

    Every tied user starts ``walks_per_node`` walks of ``walk_length`` users; each step follows a tie with
    probability proportional to its weight (a directed graph: outgoing ties; a walk stops at a user without
    any). Two users ``k <= window`` steps apart on a walk co-occur, in both directions (the skip-gram window).
    The co-occurrence counts ``C`` become ``PPMI = max(0, log(C_ij * sum(C) / (C_i. * C_.j)))``, whose top
    ``dim`` singular vectors, scaled by the square roots of the singular values, are the embedding: the matrix
    that skip-gram with one negative sample factorises implicitly (Levy and Goldberg, 2014; Qiu et al., 2018).

    Args:
        dim: embedding size; beyond the number of tied users the extra dimensions are zero.
        edge_weights: weight per edge kind (see ``build_user_graph``).
        interaction_weights: weight per interaction kind (see ``build_user_graph``).
        symmetric: walk the symmetrised graph, or follow ties in their direction only.
        walks_per_node: walks started from every tied user.
        walk_length: users per walk, the start included.
        window: the skip-gram window, in steps.
        min_count: pairs of users that co-occur fewer times (both orders together) are dropped before PPMI:
            mostly chance meetings of far-apart users. Dropping them shrinks the matrix several-fold on large
            graphs (100k users, 1M edges: 20M entries at 2, 7.6M at 3) and sharpens communities; 1 keeps all.
        random_state: seeds the walks and the SVD; the same seed gives the same embedding.
    """

    name = "graph/random-walk"

    def __init__(self, dim: int = 64, *, edge_weights: Mapping[str, float] | None = None,
                 interaction_weights: Mapping[str, float] | None = None, symmetric: bool = True,
                 walks_per_node: int = 10, walk_length: int = 20, window: int = 5, min_count: int = 3,
                 random_state: int | None = 0):
        super().__init__(dim, edge_weights, interaction_weights, symmetric, random_state)
        self.walks_per_node = walks_per_node
        self.walk_length = walk_length
        self.window = window
        self.min_count = min_count

    def _embedding_settings(self) -> dict[str, Any]:
        return {"walks_per_node": self.walks_per_node, "walk_length": self.walk_length, "window": self.window,
                "min_count": self.min_count}

    def _check_settings(self) -> None:
        super()._check_settings()
        for argument, least in (("walks_per_node", 1), ("walk_length", 2), ("window", 1), ("min_count", 1)):
            if not int(getattr(self, argument)) >= least:
                raise ConfigurationError(
                    f"{self.name}: {argument} must be an integer of at least {least}, got {getattr(self, argument)!r}"
                )

    def _embed(self, adjacency: sparse.csr_array, rng: np.random.Generator) -> np.ndarray:
        ppmi = _positive_pmi(self._cooccurrence(adjacency, rng))
        rank = min(int(self.dim), ppmi.shape[0])
        u, singular_values, _ = _randomized_svd(ppmi, rank, rng)
        embedding = np.zeros((ppmi.shape[0], int(self.dim)))
        embedding[:, :rank] = u * np.sqrt(singular_values)
        return embedding

    def _cooccurrence(self, adjacency: sparse.csr_array, rng: np.random.Generator) -> sparse.csr_array:
        """Symmetric ``(n_users, n_users)`` counts of users within ``window`` steps of each other on the walks.

        Pairs seen fewer than ``min_count`` times (in either order) are dropped.
        """
        n_users = adjacency.shape[0]
        starts = np.repeat(np.flatnonzero(np.diff(adjacency.indptr) > 0), int(self.walks_per_node))
        window = min(int(self.window), int(self.walk_length) - 1)
        # Unordered pairs (lower id first): half the entries to sum and threshold; mirrored at the end.
        counts = _scipy_sparse().csr_array((n_users, n_users), dtype=np.float32)
        for first in range(0, len(starts), _WALKS_PER_CHUNK):
            walks = _random_walks(adjacency, starts[first:first + _WALKS_PER_CHUNK], int(self.walk_length), rng)
            pair_codes = []
            for offset in range(1, window + 1):
                earlier, later = walks[:, :-offset].ravel(), walks[:, offset:].ravel()
                on_walk = later >= 0  # a walk that stopped stays stopped, so the earlier user is on it too
                earlier, later = earlier[on_walk], later[on_walk]
                pair_codes.append(np.minimum(earlier, later) * n_users + np.maximum(earlier, later))
            counts = counts + _count_pairs(np.concatenate(pair_codes), n_users)
        counts.data[counts.data < self.min_count] = 0.0
        counts.eliminate_zeros()
        return (counts + counts.T).tocsr()


def _count_pairs(pair_codes: np.ndarray, n_users: int) -> sparse.csr_array:
    """``(n_users, n_users)`` float32 CSR counts of the pairs ``(code // n_users, code % n_users)``, by one sort."""
    pair_codes = np.sort(pair_codes)
    first_of_run = np.flatnonzero(np.concatenate([[True], pair_codes[1:] != pair_codes[:-1]]))
    counts = np.diff(first_of_run, append=len(pair_codes)).astype(np.float32)
    rows, columns = np.divmod(pair_codes[first_of_run], n_users)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
    return _scipy_sparse().csr_array((counts, columns, indptr), shape=(n_users, n_users))


def _random_walks(adjacency: sparse.csr_array, starts: np.ndarray, walk_length: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Weighted random walks, all advanced together one step at a time.

    Args:
        adjacency: ``(n_users, n_users)`` CSR; a step from ``i`` goes to ``j`` with probability
            ``A[i, j] / sum_j A[i, j]``.
        starts: ``(n_walks,)`` start users.
        walk_length: users per walk.
        rng: draws the steps.

    Returns:
        ``(n_walks, walk_length)`` int64 users; ``-1`` after a walk reached a user without outgoing ties.
    """
    indptr, indices = adjacency.indptr, adjacency.indices
    cumulative = np.cumsum(adjacency.data)
    before_row = np.concatenate([[0.0], cumulative])[indptr]  # total weight of the rows before each row
    walks = np.full((len(starts), walk_length), -1, np.int64)
    walks[:, 0] = starts
    alive = np.flatnonzero(indptr[starts + 1] > indptr[starts])
    for step in range(1, walk_length):
        current = walks[alive, step - 1]
        targets = before_row[current] + rng.random(len(current)) * (before_row[current + 1] - before_row[current])
        # Sorted keys make the binary searches walk the cumulative weights in order: several times faster.
        order = np.argsort(targets)
        position = np.empty(len(targets), np.int64)
        position[order] = np.searchsorted(cumulative, targets[order], side="right")
        position = np.clip(position, indptr[current], indptr[current + 1] - 1)
        walks[alive, step] = indices[position]
        following = walks[alive, step]
        alive = alive[indptr[following + 1] > indptr[following]]
    return walks


def _positive_pmi(counts: sparse.csr_array) -> sparse.csr_array:
    """``max(0, log(C_ij * sum(C) / (C_i. * C_.j)))`` on the non-zero counts, as a CSR array of the same shape."""
    counts = counts.tocoo()
    row_totals, column_totals = np.asarray(counts.sum(axis=1)), np.asarray(counts.sum(axis=0))
    pmi = np.log(counts.data * counts.data.sum() / (row_totals[counts.row] * column_totals[counts.col]))
    positive = pmi > 0
    sparse = _scipy_sparse()
    return sparse.csr_array((pmi[positive], (counts.row[positive], counts.col[positive])), shape=counts.shape)
