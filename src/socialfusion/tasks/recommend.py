"""Content recommendation: popularity, factorisation, item neighbours, graph models, content, social and hybrid models.

Every recommender learns from interactions, given as a Corpus (its ``interactions`` table, optionally filtered by
``kind``; the weight of a row is its ``value`` or 1 per row) or as an Arrow table with the columns ``user``,
``item`` and optionally ``weight`` and ``time``. User and item ids are strings, mapped to codes internally
(``users_``, ``items_``: sorted ids). They share one interface:

- ``fit(interactions, ...)`` learns; ``recommend(users, k)`` returns an Arrow table ``(user, item, score, rank)``
  of the ``k`` best items per user, leaving out what the user already consumed unless ``exclude_seen=False``,
  optionally among ``candidates`` only, re-ranked for ``diversity`` (maximal marginal relevance over item
  vectors) or ``freshness`` (a time-decay boost of recent items); ``score(users, items)`` returns raw scores.
- A user absent from training (cold start) gets the items most users consumed; ``SocialRecommender`` gives them
  what their friends consumed instead. ``ContentRecommender`` scores items from their features, so a new item
  nobody has consumed yet can be recommended.

``split_interactions`` holds out interactions at random or by time (nothing later than a held-out interaction
is trained on), ``ranking_metrics`` scores recommendations with Recall@k and NDCG@k over the full ranking, and
``write_item_vectors`` / ``retrieve`` serve top-k retrieval through the store's vector index.

Examples:
    >>> import pyarrow as pa
    >>> plays = pa.table({"user": ["a", "a", "b", "b", "c"], "item": ["x", "y", "x", "z", "x"]})
    >>> model = PopularityRecommender().fit(plays)
    >>> model.recommend(["c"], k=2).to_pylist()
    [{'user': 'c', 'item': 'y', 'score': 1.0, 'rank': 1}, {'user': 'c', 'item': 'z', 'score': 1.0, 'rank': 2}]
"""

from __future__ import annotations

import inspect
import itertools
import logging
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion._model_files import TYPE, Archive, ModelReader, ModelWriter, write_archive
from socialfusion._threads import one_native_thread
from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, DataError, StoreError, attempt_import
from socialfusion.tasks._ids import positions, sorted_distinct

if TYPE_CHECKING:
    from socialfusion.learn._data import ModalityFeatures
    from socialfusion.report import ReportSection
    from socialfusion.store import Store

__all__ = [
    "ITEM_VECTORS_TABLE",
    "RECOMMENDERS",
    "ALSRecommender",
    "BPRRecommender",
    "ContentRecommender",
    "DLAERecommender",
    "EASERecommender",
    "GFCFRecommender",
    "HybridRecommender",
    "InteractionSplit",
    "ItemKNNRecommender",
    "LightGCNRecommender",
    "PopularityRecommender",
    "RP3betaRecommender",
    "SocialRecommender",
    "evaluate_recommender",
    "exact_top_k",
    "fuse_item_features",
    "interaction_table",
    "load_recommender",
    "ranking_metrics",
    "recommendation_section",
    "retrieve",
    "save_recommender",
    "split_interactions",
    "write_item_vectors",
]

logger = logging.getLogger(__name__)

ITEM_VECTORS_TABLE = "item_vectors"
"""The store table ``write_item_vectors`` writes and ``retrieve`` searches by default."""
_SCHEMA = pa.schema([("user", pa.string()), ("item", pa.string()), ("weight", pa.float64()),
                     ("time", pa.timestamp("us", tz="UTC"))])
_RECOMMENDATION_SCHEMA = pa.schema([("user", pa.string()), ("item", pa.string()), ("score", pa.float64()),
                                    ("rank", pa.int64())])
_BATCH_USERS = 256  # users scored at a time at most
_BLOCK_SCORES = 1 << 21
"""Scores in one dense (users, items) block at most (16 MB of float64): with a million items, blocks of 256 users
(2 GB each, several temporaries at once) ranked 20 times slower per user than blocks of 2."""
_COMBINERS = ("blend", "stacked")
_MAX_GRID_POINTS = 3003  # blend weights searched exhaustively up to this many simplex points (6 components, step 0.1)
_TIE_BLOCK = 1 << 16  # social ties whose two users' consumed items are compared at a time
_WEIGHTINGS = ("binary", "log", "raw", "bm25")
_SECONDS_PER_DAY = 86_400.0


# -- interactions ---------------------------------------------------------------------------------------------

def interaction_table(
    data: Corpus | pa.Table, *, kind: str | Sequence[str] | None = None, weight: str = "value"
) -> pa.Table:
    """Interactions as one Arrow table ``(user, item, weight, time)``, one row per input row.

    Args:
        data: a Corpus (its ``interactions``: ``user_id``, ``post_id``, ``kind``, ``at``, ``value``) or a table
            with the columns ``user`` and ``item`` and optionally ``weight`` (default 1) and ``time``.
        kind: keep only these interaction kinds (Corpus only), e.g. ``"like"``; None keeps every kind.
        weight: for a Corpus, ``"value"`` (the row's value, 1 when null) or ``"count"`` (1 per row).

    Returns:
        A table with the schema ``user: string, item: string, weight: float64, time: timestamp[us, UTC]``.

    Raises:
        ConfigurationError: unknown ``weight``, or ``kind`` given with a table.
        DataError: a table without ``user`` and ``item`` columns, null ids or negative weights.

    Examples:
        >>> interaction_table(pa.table({"user": ["a"], "item": ["x"]})).to_pylist()
        [{'user': 'a', 'item': 'x', 'weight': 1.0, 'time': None}]
    """
    if weight not in ("value", "count"):
        raise ConfigurationError(f"weight must be 'value' or 'count'; got {weight!r}.")
    if isinstance(data, Corpus):
        rows = data.interactions
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            rows = rows.filter(pc.is_in(rows.column("kind"), value_set=pa.array(kinds, pa.string())))
        weights = (pc.fill_null(rows.column("value").cast(pa.float64()), 1.0) if weight == "value"
                   else pa.array(np.ones(rows.num_rows)))
        table = pa.table([rows.column("user_id"), rows.column("post_id"), weights, rows.column("at")],
                         schema=_SCHEMA)
    elif isinstance(data, pa.Table):
        if kind is not None:
            raise ConfigurationError("kind filters a Corpus's interactions; filter the table yourself.")
        missing = [name for name in ("user", "item") if name not in data.column_names]
        if missing:
            raise DataError(f"an interactions table needs the columns user and item (weight and time optional); "
                            f"missing {missing} among {data.column_names}.")
        n = data.num_rows
        weights = data.column("weight") if "weight" in data.column_names else pa.array(np.ones(n))
        times = data.column("time") if "time" in data.column_names else pa.nulls(n, _SCHEMA.field("time").type)
        try:
            table = pa.table([data.column("user").cast(pa.string()), data.column("item").cast(pa.string()),
                              pc.fill_null(weights.cast(pa.float64()), 1.0), times.cast(_SCHEMA.field("time").type)],
                             schema=_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            raise DataError(f"cannot read the interactions table: {error}; give string ids, numeric weights "
                            "and UTC timestamps.") from error
    else:
        raise DataError(f"interactions must be a Corpus or an Arrow table; got {type(data).__name__}.")
    if table.column("user").null_count or table.column("item").null_count:
        raise DataError("interactions hold null user or item ids; drop those rows first.")
    if table.num_rows and pc.min(table.column("weight")).as_py() < 0:
        raise DataError("interaction weights must be non-negative; got a negative weight.")
    return table


def _aggregate_pairs(table: pa.Table) -> pa.Table:
    """One row per (user, item): summed weight and earliest time, in the order Arrow's group-by gives for the table
    in one chunk (the order a seeded split shuffles: grouped chunk by chunk, it would depend on how the rows were
    cut into chunks, which a store's reader decides)."""
    grouped = table.combine_chunks().group_by(["user", "item"], use_threads=False).aggregate(
        [("weight", "sum"), ("time", "min")])
    return grouped.rename_columns(["user", "item", "weight", "time"]).select(_SCHEMA.names).cast(_SCHEMA)


class InteractionSplit(NamedTuple):
    """Train, validation and test interactions, each an ``interaction_table``."""

    train: pa.Table
    validation: pa.Table
    test: pa.Table


def split_interactions(
    data: Corpus | pa.Table,
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    by: str = "random",
    random_state: int | None = 0,
    kind: str | Sequence[str] | None = None,
    weight: str = "value",
) -> InteractionSplit:
    """Split interactions into train, validation and test parts.

    ``by="random"`` first merges repeated (user, item) rows into one pair (weights summed, earliest time) and
    shuffles the pairs with ``random_state``, so that a pair is never both trained on and held out.
    ``by="time"`` keeps the rows and cuts them in time order: every training row is no later than every
    validation row, which is no later than every test row (rows at the same instant stay in order of input).

    Args:
        data: interactions (see ``interaction_table``).
        ratios: three non-negative shares summing to 1 (a share of 0 gives an empty part).
        by: ``"random"`` or ``"time"``.
        random_state: seed of the random split.
        kind: interaction kinds kept (Corpus only).
        weight: ``"value"`` or ``"count"`` (Corpus only).

    Returns:
        An ``InteractionSplit`` of three ``interaction_table`` tables.

    Raises:
        ConfigurationError: bad ``ratios`` or ``by``.
        DataError: ``by="time"`` and some interaction has no time.

    Examples:
        >>> plays = pa.table({"user": list("aabbc"), "item": list("xyxzx"), "time": pa.array(
        ...     [5, 1, 2, 4, 3], pa.timestamp("s", tz="UTC"))})
        >>> split = split_interactions(plays, ratios=(0.6, 0.2, 0.2), by="time")
        >>> [part.num_rows for part in split], split.test.column("item").to_pylist()
        ([3, 1, 1], ['x'])
    """
    ratios = tuple(float(share) for share in ratios)
    if len(ratios) != 3 or min(ratios) < 0 or not math.isclose(sum(ratios), 1.0, abs_tol=1e-9):
        raise ConfigurationError(f"ratios must be three non-negative shares summing to 1; got {ratios}.")
    if by not in ("random", "time"):
        raise ConfigurationError(f"by must be 'random' or 'time'; got {by!r}.")
    table = interaction_table(data, kind=kind, weight=weight)
    if by == "random":
        table = _aggregate_pairs(table)
        order = np.random.default_rng(random_state).permutation(table.num_rows)
    else:
        if table.column("time").null_count:
            raise DataError(f"{table.column('time').null_count} interactions have no time; a time split needs "
                            "every time: use by='random' or fill the times.")
        order = np.argsort(table.column("time").cast(pa.int64()).to_numpy(), kind="stable")
    table = table.take(order)
    first, second = np.round(np.cumsum(ratios)[:2] * table.num_rows).astype(int)
    return InteractionSplit(table.slice(0, first), table.slice(first, second - first), table.slice(second))


# -- metrics --------------------------------------------------------------------------------------------------

def _pairs(table: pa.Table) -> set[tuple[str, str]]:
    return set(zip(table.column("user").to_pylist(), table.column("item").to_pylist()))


def ranking_metrics(
    recommendations: pa.Table,
    held_out: pa.Table,
    *,
    k: int | Sequence[int] = (10, 20),
    exclude: pa.Table | None = None,
) -> dict[str, float]:
    """Recall@k and NDCG@k of ranked recommendations against held-out interactions, averaged over users.

    The users scored are those with at least one relevant item (a held-out item, less the pairs in ``exclude``,
    typically the training pairs). For a user with relevant set ``R`` and ranked list ``L``:
    ``Recall@k = |L[:k] & R| / |R|`` (the definition of the LightGCN and SEPT code, not ``/ min(k, |R|)``),
    ``NDCG@k = DCG@k / IDCG@k`` with ``DCG@k = sum over hits at rank r of 1 / log2(r + 1)`` and ``IDCG@k`` the
    DCG of ``min(k, |R|)`` hits at the top. Rank the full item set (every item not in the user's training
    items) for the figures the papers report. A scored user without recommendations counts as 0.

    Args:
        recommendations: ``(user, item, rank)`` (``recommend``'s output); rank 1 is the best.
        held_out: ``(user, item)`` relevant pairs.
        k: one cut-off or several.
        exclude: ``(user, item)`` pairs that are not relevant even when held out.

    Returns:
        ``{"recall@10": ..., "ndcg@10": ..., ..., "users": n}``.

    Raises:
        ConfigurationError: a cut-off below 1.
        DataError: missing columns.

    Examples:
        >>> recommended = pa.table({"user": ["a", "a", "a"], "item": ["x", "y", "z"], "rank": [1, 2, 3]})
        >>> held = pa.table({"user": ["a", "a"], "item": ["y", "w"]})
        >>> scores = ranking_metrics(recommended, held, k=(1, 3))
        >>> scores["recall@1"], scores["recall@3"], round(scores["ndcg@3"], 4)
        (0.0, 0.5, 0.3869)
    """
    cutoffs = sorted({int(k)} if isinstance(k, int | np.integer) else {int(value) for value in k})
    if not cutoffs or cutoffs[0] < 1:
        raise ConfigurationError(f"k must be one or more cut-offs >= 1; got {k}.")
    for name, table, columns in (("recommendations", recommendations, ("user", "item", "rank")),
                                 ("held_out", held_out, ("user", "item"))):
        missing = [column for column in columns if column not in table.column_names]
        if missing:
            raise DataError(f"{name} needs the columns {list(columns)}; missing {missing}.")
    excluded = _pairs(exclude) if exclude is not None else set()
    relevant: dict[str, set[str]] = {}
    for user, item in _pairs(held_out) - excluded:
        relevant.setdefault(user, set()).add(item)
    ranked: dict[str, list[tuple[int, str]]] = {}
    for user, item, rank in zip(*(recommendations.column(name).to_pylist() for name in ("user", "item", "rank"))):
        if user in relevant:
            ranked.setdefault(user, []).append((rank, item))
    discount = 1.0 / np.log2(np.arange(2, cutoffs[-1] + 2))
    totals = {f"{metric}@{cut}": 0.0 for cut in cutoffs for metric in ("recall", "ndcg")}
    for user, items in relevant.items():
        hits = np.array([item in items for _, item in sorted(ranked.get(user, []))[: cutoffs[-1]]], dtype=bool)
        for cut in cutoffs:
            top = hits[:cut]
            totals[f"recall@{cut}"] += top.sum() / len(items)
            totals[f"ndcg@{cut}"] += discount[: len(top)][top].sum() / discount[: min(cut, len(items))].sum()
    n_users = len(relevant)
    result: dict[str, float] = {name: float(value / n_users if n_users else 0.0) for name, value in totals.items()}
    result["users"] = n_users
    return result


def evaluate_recommender(
    model: _Recommender, held_out: pa.Table, *, k: int | Sequence[int] = (10, 20)
) -> dict[str, float]:
    """Recall@k and NDCG@k of a fitted recommender on held-out interactions, ranking every unseen item.

    Each held-out user gets ``max(k)`` recommendations over all the model's items except those it trained on
    for that user; held-out pairs that were also trained on (repeat consumption in a time split) are not
    relevant.

    Args:
        model: a fitted recommender.
        held_out: interactions (``user``, ``item``), e.g. ``split_interactions(...).test``.
        k: cut-offs.

    Returns:
        ``ranking_metrics``' dict.
    """
    cutoffs = [k] if isinstance(k, int | np.integer) else list(k)
    users = pc.unique(held_out.column("user")).to_pylist()
    recommendations = model.recommend(users, k=max(cutoffs), exclude_seen=True)
    return ranking_metrics(recommendations, held_out, k=cutoffs, exclude=model.seen_pairs(users))


# -- item features --------------------------------------------------------------------------------------------

def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def fuse_item_features(
    features: ModalityFeatures | Mapping[str, np.ndarray], weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """One vector per item from per-modality vectors: each modality L2-normalised, weighted, side by side.

    Each row of each modality is scaled to unit length (absent rows stay 0) and by ``sqrt(weight)``, the
    modalities are concatenated in sorted order and the result is scaled to unit length again, so that the dot
    product of two items is the weighted mean of their per-modality cosine similarities (over the modalities
    both have, up to the final scaling).

    Args:
        features: a ``ModalityFeatures`` or modality name -> ``(n, dim)`` array.
        weights: modality name -> non-negative weight; None weighs every modality 1.

    Returns:
        ``(n, sum of dims)`` float32, rows of unit length (0 for an item with no modality).

    Raises:
        ConfigurationError: a weight for an unknown modality or a negative weight.

    Examples:
        >>> fused = fuse_item_features({"text": np.array([[3.0, 4.0]]), "image": np.array([[0.0, 2.0]])})
        >>> fused.astype(float).round(3).tolist()
        [[0.0, 0.707, 0.424, 0.566]]
    """
    vectors = features.vectors if hasattr(features, "vectors") else dict(features)
    weights = dict(weights or {})
    unknown = set(weights) - set(vectors)
    if unknown or any(value < 0 for value in weights.values()):
        raise ConfigurationError(f"weights need known modalities {sorted(vectors)} and non-negative values; got "
                                 f"{weights}.")
    blocks = [_normalise_rows(np.asarray(vectors[name], np.float32)) * np.float32(np.sqrt(weights.get(name, 1.0)))
              for name in sorted(vectors)]
    return _normalise_rows(np.concatenate(blocks, axis=1)).astype(np.float32)


# -- the shared machinery -------------------------------------------------------------------------------------

def _codes(ids: Sequence[str], index: Mapping[str, int]) -> np.ndarray:
    return np.fromiter((index.get(value, -1) for value in ids), dtype=np.int64, count=len(ids))


def _blocks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``size`` (the last shorter) covering ``range(n)``."""
    return (slice(start, start + size) for start in range(0, n, size))


def _user_blocks(n_users: int, n_items: int) -> Iterator[slice]:
    """Slices of users whose dense (users, items) score blocks stay within ``_BLOCK_SCORES``."""
    return _blocks(n_users, max(1, min(_BATCH_USERS, _BLOCK_SCORES // max(n_items, 1))))


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of the ``k`` best finite scores of each row, best first (ties: lower index)."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((len(scores), 0), np.int64), np.empty((len(scores), 0))
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(
        np.arange(scores.shape[1]), (len(scores), 1))
    chosen = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -chosen), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(chosen, order, axis=1)


def _weighted(matrix: Any, weighting: str) -> Any:
    """The user-item CSR with its weights transformed: binary, log1p, raw or BM25 (implicit's bm25_weight)."""
    if weighting not in _WEIGHTINGS:
        raise ConfigurationError(f"weighting must be one of {_WEIGHTINGS}; got {weighting!r}.")
    result = matrix.copy().astype(np.float32)
    if weighting == "binary":
        result.data[:] = 1.0
    elif weighting == "log":
        result.data = np.log1p(result.data).astype(np.float32)
    elif weighting == "bm25":
        neighbours = attempt_import("implicit.nearest_neighbours", "recommend")
        result = neighbours.bm25_weight(result).tocsr().astype(np.float32)
    return result


class _Recommender:
    """What every recommender shares: id mapping, the seen matrix, cold start and ``recommend``."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            exceptions = attempt_import("sklearn.exceptions", "recommend")
            raise exceptions.NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(interactions) "
                                            "first.")

    # -- fit -------------------------------------------------------------------------------------------------
    def fit(
        self,
        interactions: Corpus | pa.Table,
        *,
        kind: str | Sequence[str] | None = None,
        weight: str = "value",
        items: Sequence[str] | None = None,
        item_features: ModalityFeatures | np.ndarray | None = None,
        item_ids: Sequence[str] | None = None,
        item_times: pa.Table | None = None,
        edges: Corpus | pa.Table | None = None,
    ) -> _Recommender:
        """Learn from interactions.

        Every recommender takes the same arguments and uses those it needs: ``ContentRecommender`` needs
        ``item_features``, ``SocialRecommender`` needs ``edges`` (or a Corpus with edges), the others ignore them
        (item features still serve ``diversity``).

        Args:
            interactions: a Corpus or a ``(user, item[, weight, time])`` table (see ``interaction_table``).
            kind: interaction kinds kept (Corpus only).
            weight: ``"value"`` or ``"count"`` (Corpus only).
            items: more item ids to rank besides the consumed ones (e.g. new posts).
            item_features: a ``ModalityFeatures`` (fused with ``fuse_item_features``; its ``ids`` name the items)
                or an ``(n, d)`` array whose rows follow ``item_ids``; these items join the ranked items.
            item_ids: the ids of the rows of an array ``item_features``.
            item_times: ``(item, time)`` creation times for ``freshness``; by default a Corpus's post times,
                else each item's first interaction.
            edges: social ties, ``(src, dst[, kind, weight])`` or a Corpus; by default a Corpus's edges.

        Returns:
            self.

        Raises:
            DataError: no interactions, malformed tables or features.
        """
        table = interaction_table(interactions, kind=kind, weight=weight)
        if table.num_rows == 0:
            raise DataError("no interactions to learn from (check kind=...); a recommender needs at least one.")
        vectors, feature_ids = _item_vectors(item_features, item_ids)
        if edges is None and isinstance(interactions, Corpus) and interactions.edges.num_rows:
            edges = interactions.edges
        ties = _edge_table(edges) if edges is not None else None
        user_columns = [table.column("user")] + ([ties.column("src"), ties.column("dst")] if ties is not None else [])
        user_ids = sorted_distinct(pa.chunked_array([chunk for column in user_columns for chunk in column.chunks],
                                                    pa.string()), keep_null=True)
        extra = pa.array(list(items or []) + list(feature_ids or []), pa.string())
        item_ids = sorted_distinct(pa.chunked_array(table.column("item").chunks + [extra], pa.string()), keep_null=True)
        self.users_ = user_ids.to_numpy(zero_copy_only=False)
        self.items_ = item_ids.to_numpy(zero_copy_only=False)
        self.user_index_ = {user: code for code, user in enumerate(self.users_)}
        self.item_index_ = {item: code for code, item in enumerate(self.items_)}
        sparse = attempt_import("scipy.sparse", "recommend")
        rows = positions(table.column("user"), user_ids)
        columns = positions(table.column("item"), item_ids)
        seen = sparse.csr_array((table.column("weight").to_numpy(), (rows, columns)),
                                shape=(len(self.users_), len(self.items_)))
        seen.sum_duplicates()
        self.seen_ = seen
        self.popularity_ = np.bincount(seen.indices, minlength=len(self.items_)).astype(np.float64)
        self.item_vectors_ = None
        if vectors is not None:
            self.item_vectors_ = np.zeros((len(self.items_), vectors.shape[1]), np.float32)
            self.item_vectors_[_codes(feature_ids, self.item_index_)] = vectors
        self.item_times_ = _item_times(item_ids, table, interactions, item_times)
        self._fit(ties)
        return self

    def _fit(self, edges: pa.Table | None) -> None:
        """Learn the model's own state once the shared state exists."""

    # -- scoring ---------------------------------------------------------------------------------------------
    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """``(len(codes), n_items)`` scores of known users (``allowed``: the items that may be recommended)."""
        raise NotImplementedError

    def _scores_for_ids(self, users: Sequence[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """Scores of any users: known ones by the model, unknown ones by popularity (cold start)."""
        codes = _codes(users, self.user_index_)
        if allowed is None:
            allowed = np.ones((len(users), len(self.items_)), bool)
        scores = np.empty((len(users), len(self.items_)), np.float64)
        known = codes >= 0
        if known.any():
            scores[known] = self._user_scores(codes[known], allowed[known])
        scores[~known] = self.popularity_
        return scores

    def score(self, users: Sequence[str], items: Sequence[str]) -> np.ndarray:
        """Raw scores of items for users (higher is better); unknown users get item popularity.

        Args:
            users: user ids.
            items: item ids known to the model (``items_``).

        Returns:
            ``(len(users), len(items))`` float64.

        Raises:
            NotFittedError: not fitted.
            DataError: an unknown item.
        """
        self._check_fitted()
        users, items = _as_ids(users, "users"), _as_ids(items, "items")
        columns = _codes(items, self.item_index_)
        if (columns < 0).any():
            unknown = [item for item, code in zip(items, columns) if code < 0][:5]
            raise DataError(f"unknown items {unknown}; pass them to fit(items=...) (or with item_features) first.")
        return self._scores_for_ids(users)[:, columns]

    def seen_pairs(self, users: Sequence[str] | None = None) -> pa.Table:
        """The ``(user, item)`` pairs trained on (for ``users``, or all)."""
        self._check_fitted()
        codes = np.arange(len(self.users_)) if users is None else np.unique(_codes(_as_ids(users, "users"),
                                                                                 self.user_index_))
        codes = codes[codes >= 0]
        coo = self.seen_[codes].tocoo()  # only the asked users' rows, in user order
        return pa.table({"user": pa.array(self.users_[codes[coo.row]].tolist(), pa.string()),
                         "item": pa.array(self.items_[coo.col].tolist(), pa.string())})

    def item_vectors(self) -> np.ndarray | None:
        """``(n_items, d)`` vectors of the items (features, or latent factors), or None; used for diversity."""
        return self.item_vectors_

    # -- recommend -------------------------------------------------------------------------------------------
    def recommend(
        self,
        users: str | Sequence[str],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[str] | None = None,
        diversity: float = 0.0,
        freshness: float | None = None,
        now: Any = None,
    ) -> pa.Table:
        """The ``k`` best items for each user.

        Re-ranking (when ``diversity > 0`` or ``freshness`` is set) works on the ``pool = max(5k, 50)`` best items:
        the item at rank ``r`` has relevance ``1 - (r - 1) / pool``, multiplied by ``1 + 2 ** (-age / half-life)``
        for freshness (a brand-new item counts double, an old one once), then chosen greedily by maximal marginal
        relevance (Carbonell & Goldstein 1998): ``(1 - diversity) * relevance - diversity * max cosine to the
        items already chosen``. The ``score`` column then holds that adjusted relevance.

        Args:
            users: one user id or several.
            k: items per user.
            exclude_seen: leave out the items each user consumed in training.
            candidates: recommend only among these item ids (unknown ones are ignored).
            diversity: MMR weight in ``[0, 1]``; 0 keeps the model's order. Needs item vectors (item features
                given to ``fit``, or a factor model's item factors).
            freshness: half-life in days of the recency boost; None for none. Needs item times.
            now: the reference time of item ages (datetime); None for the latest item time.

        Returns:
            ``(user, item, score, rank)``, rank 1 the best; fewer than ``k`` rows for a user when fewer items are
            left.

        Raises:
            NotFittedError: not fitted.
            ConfigurationError: ``k < 1``, ``diversity`` outside ``[0, 1]`` or without item vectors, or a
                non-positive ``freshness``.
        """
        self._check_fitted()
        users = [users] if isinstance(users, str) else _as_ids(users, "users")
        if k < 1:
            raise ConfigurationError(f"k must be at least 1; got {k}.")
        if not 0.0 <= diversity <= 1.0:
            raise ConfigurationError(f"diversity must be in [0, 1]; got {diversity}.")
        if diversity > 0 and self.item_vectors() is None:
            raise ConfigurationError(f"diversity needs item vectors; {type(self).__name__} has none: pass "
                                     "item_features to fit.")
        vectors = _normalise_rows(np.asarray(self.item_vectors(), np.float32)) if diversity > 0 else None
        boost = self._freshness_boost(freshness, now) if freshness is not None else None
        allowed_items = np.ones(len(self.items_), bool)
        if candidates is not None:
            allowed_items[:] = False
            codes = _codes(_as_ids(candidates, "candidates"), self.item_index_)
            allowed_items[codes[codes >= 0]] = True
        reranking = diversity > 0 or boost is not None
        pool = max(5 * k, 50) if reranking else k
        rows: dict[str, list[Any]] = {name: [] for name in _RECOMMENDATION_SCHEMA.names}
        for block in _user_blocks(len(users), len(self.items_)):
            batch = users[block]
            allowed = np.tile(allowed_items, (len(batch), 1))
            if exclude_seen:
                codes = _codes(batch, self.user_index_)
                for row, code in enumerate(codes):
                    if code >= 0:
                        allowed[row, self.seen_.indices[self.seen_.indptr[code]:self.seen_.indptr[code + 1]]] = False
            scores = np.where(allowed, self._scores_for_ids(batch, allowed), -np.inf)
            top, top_scores = _top_k(scores, pool)
            for user, items, values in zip(batch, top, top_scores):
                keep = np.isfinite(values)
                items, values = items[keep], values[keep]
                if reranking:
                    items, values = _rerank(items, values, k, pool, diversity, vectors, boost)
                items, values = items[:k], values[:k]
                rows["user"] += [user] * len(items)
                rows["item"] += self.items_[items].tolist()
                rows["score"] += values.tolist()
                rows["rank"] += list(range(1, len(items) + 1))
        return pa.table(rows, schema=_RECOMMENDATION_SCHEMA)

    def _freshness_boost(self, half_life_days: float, now: Any) -> np.ndarray:
        if half_life_days <= 0:
            raise ConfigurationError(f"freshness is a half-life in days and must be positive; got {half_life_days}.")
        times = self.item_times_
        if np.isnan(times).all():
            raise ConfigurationError("freshness needs item times: fit on a Corpus with post times, on timed "
                                     "interactions, or pass item_times.")
        reference = np.nanmax(times) if now is None else pa.scalar(now, pa.timestamp("us", tz="UTC")).value / 1e6
        age_days = np.clip((reference - times) / _SECONDS_PER_DAY, 0.0, None)
        return np.nan_to_num(np.exp2(-age_days / half_life_days), nan=0.0)


def _rerank(items: np.ndarray, values: np.ndarray, k: int, pool: int, diversity: float, vectors: np.ndarray | None,
            boost: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Freshness boost then greedy MMR over a user's candidate pool (see ``recommend``)."""
    if len(items) == 0:
        return items, values
    relevance = 1.0 - np.arange(len(items)) / pool  # by rank: raw scores of different models do not compare
    if boost is not None:
        relevance = relevance * (1.0 + boost[items])
    if vectors is None or diversity == 0:
        order = np.lexsort((np.arange(len(items)), -relevance))[:k]
        return items[order], relevance[order]
    candidate_vectors = vectors[items]
    chosen: list[int] = []
    closest = np.full(len(items), -np.inf)
    remaining = np.ones(len(items), bool)
    for _ in range(min(k, len(items))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        objective = np.where(remaining, (1 - diversity) * relevance - diversity * penalty, -np.inf)
        best = int(np.argmax(objective))
        chosen.append(best)
        remaining[best] = False
        closest = np.maximum(closest, candidate_vectors @ candidate_vectors[best])
    chosen_array = np.array(chosen)
    return items[chosen_array], relevance[chosen_array]


def _as_ids(values: Sequence[Any], name: str) -> list[str]:
    if isinstance(values, str):
        raise ConfigurationError(f"{name} must be a sequence of ids, not one string; wrap it: [{values!r}].")
    return [str(value) for value in (values.to_pylist() if hasattr(values, "to_pylist") else values)]


def _item_vectors(features: Any, ids: Sequence[str] | None) -> tuple[np.ndarray | None, list[str] | None]:
    if features is None:
        return None, None
    if hasattr(features, "vectors"):
        if features.ids is None:
            raise DataError("ModalityFeatures given as item_features need ids (the item ids of their rows).")
        return fuse_item_features(features), list(features.ids)
    matrix = np.asarray(features, np.float32)
    if matrix.ndim != 2 or ids is None or len(ids) != len(matrix):
        raise DataError(f"item_features as an array must be (n_items, d) with item_ids of length n_items; got "
                        f"shape {matrix.shape} and {None if ids is None else len(ids)} ids.")
    return matrix, [str(value) for value in ids]


def _item_times(items: pa.Array, table: pa.Table, data: Any, item_times: pa.Table | None) -> np.ndarray:
    """Seconds since the epoch per item of ``items`` (NaN when unknown): given, else post times, else first
    interaction."""
    times = np.full(len(items), np.nan)
    sources = [table.group_by("item", use_threads=False).aggregate([("time", "min")]).rename_columns(
        ["item", "time"])]
    if isinstance(data, Corpus) and data.posts.num_rows:
        sources.append(data.posts.select(["post_id", "created_at"]).rename_columns(["item", "time"]))
    if item_times is not None:
        sources.append(item_times.select(["item", "time"]))
    for source in sources:  # later sources win
        stamps = source.column("time").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        codes = positions(source.column("item").cast(pa.string()), items)
        valid = (codes >= 0) & stamps.is_valid().to_numpy(zero_copy_only=False)
        values = stamps.to_numpy(zero_copy_only=False)
        times[codes[valid]] = np.asarray(values[valid], np.float64) / 1e6
    return times


def _edge_table(edges: Corpus | pa.Table) -> pa.Table:
    """Ties as ``(src, dst, kind, weight)``: a Corpus's edges or a table with src and dst."""
    table = edges.edges if isinstance(edges, Corpus) else edges
    if not isinstance(table, pa.Table) or not {"src", "dst"} <= set(table.column_names):
        raise DataError("edges must be a Corpus or a table with the columns src and dst (kind, weight optional).")
    n = table.num_rows
    kinds = table.column("kind") if "kind" in table.column_names else pa.array(["friend"] * n, pa.string())
    weights = table.column("weight") if "weight" in table.column_names else pa.array(np.ones(n))
    return pa.table({"src": table.column("src").cast(pa.string()), "dst": table.column("dst").cast(pa.string()),
                     "kind": kinds.cast(pa.string()), "weight": pc.fill_null(weights.cast(pa.float64()), 1.0)})


# -- recommenders ---------------------------------------------------------------------------------------------

class PopularityRecommender(_Recommender):
    """Recommend the items the most users consumed (ties: item id order); the cold-start baseline.

    Attributes:
        users_: sorted user ids; items_: sorted item ids; popularity_: ``(n_items,)`` users per item;
        seen_: ``(n_users, n_items)`` CSR of summed interaction weights.

    Examples:
        >>> model = PopularityRecommender().fit(pa.table({"user": ["a", "b", "b"], "item": ["x", "x", "y"]}))
        >>> model.score(["a"], ["x", "y"]).tolist()
        [[2.0, 1.0]]
    """

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(codes), 1))


class _FactorModel(_Recommender):
    """A latent-factor model: ``score = user_factors_ @ item_factors_.T``; item factors serve diversity."""

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return self.user_factors_[codes].astype(np.float64) @ self._float64_item_factors().T

    def _float64_item_factors(self) -> np.ndarray:
        """The item factors in float64, converted once per fit: converting them for every block of users cost
        more than the product (float32 products would make a user's scores depend on the users beside it)."""
        source, converted = getattr(self, "float64_item_factors_", (None, None))
        if source is not self.item_factors_:
            converted = self.item_factors_.astype(np.float64)
            self.float64_item_factors_ = (self.item_factors_, converted)
        return converted

    def item_vectors(self) -> np.ndarray | None:
        return self.item_vectors_ if self.item_vectors_ is not None else self.item_factors_

    def _train(self, make_model: Any, matrix: Any) -> None:
        sparse = attempt_import("scipy.sparse", "recommend")
        with one_native_thread("blas"):  # implicit parallelises itself and checks the BLAS threads when built
            model = make_model()
            model.fit(sparse.csr_matrix(matrix), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, np.float32)
        self.item_factors_ = np.asarray(model.item_factors, np.float32)


class ALSRecommender(_FactorModel):
    """Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008).

    Uses ``implicit``'s CPU solver with confidence ``1 + alpha * w`` for the transformed weight ``w``.

    Args:
        factors: latent dimensions.
        regularization: L2 penalty.
        alpha: confidence scale.
        iterations: ALS sweeps.
        weighting: ``"binary"``, ``"log"`` (log1p), ``"raw"`` or ``"bm25"`` transform of the weights.
        n_jobs: threads of ``implicit`` (more is faster; 1 is bit-for-bit reproducible).
        random_state: seed of the initial factors.

    Attributes:
        user_factors_: ``(n_users, factors)``; item_factors_: ``(n_items, factors)``; and the shared attributes
        of ``PopularityRecommender``.
    """

    def __init__(self, factors: int = 64, *, regularization: float = 0.05, alpha: float = 2.0, iterations: int = 15,
                 weighting: str = "log", n_jobs: int = 1, random_state: int | None = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, edges: pa.Table | None) -> None:
        als = attempt_import("implicit.cpu.als", "recommend")
        self._train(lambda: als.AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization, alpha=self.alpha, iterations=self.iterations,
            num_threads=self.n_jobs, random_state=self.random_state), _weighted(self.seen_, self.weighting))


class BPRRecommender(_FactorModel):
    """Bayesian personalised ranking (Rendle et al. 2009) on binary interactions, with ``implicit``'s CPU solver.

    Args:
        factors: latent dimensions (plus one item bias).
        learning_rate: SGD step.
        regularization: L2 penalty.
        iterations: epochs.
        n_jobs: threads (more is faster; 1 is reproducible).
        random_state: seed of initialisation and sampling.

    Attributes:
        user_factors_, item_factors_: ``(n, factors + 1)``; and the shared attributes.
    """

    def __init__(self, factors: int = 64, *, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, n_jobs: int = 1, random_state: int | None = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, edges: pa.Table | None) -> None:
        bpr = attempt_import("implicit.cpu.bpr", "recommend")
        self._train(lambda: bpr.BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
            iterations=self.iterations, num_threads=self.n_jobs, random_state=self.random_state),
            _weighted(self.seen_, "binary"))


class ItemKNNRecommender(_Recommender):
    """Item-based neighbours: score = sum of the cosine similarities of an item to the user's items.

    Similarities come from the (weighted) item columns of the user-item matrix; each item keeps its
    ``neighbours`` most similar items.

    Args:
        neighbours: similar items kept per item.
        weighting: transform of the weights (see ``ALSRecommender``).
        shrink: added to the cosine's denominator, damping similarities of rarely consumed items.

    Attributes:
        similarity_: ``(n_items, n_items)`` sparse item-item similarities; and the shared attributes.
    """

    def __init__(self, neighbours: int = 100, *, weighting: str = "binary", shrink: float = 0.0) -> None:
        self.neighbours = neighbours
        self.weighting = weighting
        self.shrink = shrink

    def _fit(self, edges: pa.Table | None) -> None:
        matrix = _weighted(self.seen_, self.weighting).tocsc().astype(np.float64)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        gram = (matrix.T @ matrix).tocsr()
        gram.setdiag(0.0)
        gram.eliminate_zeros()
        _divide_by_norm_products(gram, norms, self.shrink)
        self.similarity_ = _keep_top_per_row(gram, self.neighbours)
        self.weights_ = _weighted(self.seen_, self.weighting).tocsr().astype(np.float64)

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return np.asarray((self.weights_[codes] @ self.similarity_).todense())


class RP3betaRecommender(_Recommender):
    """RP3beta (Paudel et al. 2017): item-item transitions of a 3-step random walk, divided by popularity ** beta.

    With ``P_ui`` the user-item matrix (weights transformed by ``weighting``) and ``P_iu`` the binary item-user
    matrix, each row-normalised to transition probabilities and raised element-wise to ``alpha``, the item-item
    similarity is ``W = P_iu @ P_ui`` with column ``j`` divided by ``popularity_j ** beta`` (the penalty that
    lets less popular items surface), a zero diagonal and the ``neighbours`` largest values kept per row; a
    user's scores are their weighted item row times ``W``.

    Args:
        neighbours: similar items kept per item.
        alpha: exponent of the transition probabilities (1 is the plain walk P3alpha).
        beta: popularity penalty (0: none).
        weighting: transform of the interaction weights (see ``ALSRecommender``).

    Attributes:
        similarity_: ``(n_items, n_items)`` sparse ``W``; and the shared attributes.

    Examples:
        >>> plays = pa.table({"user": ["a", "a", "b", "b", "c"], "item": ["x", "y", "x", "y", "x"]})
        >>> RP3betaRecommender(beta=0.0).fit(plays).recommend(["c"], k=1).column("item").to_pylist()
        ['y']
    """

    def __init__(self, neighbours: int = 200, *, alpha: float = 1.0, beta: float = 0.5,
                 weighting: str = "binary") -> None:
        self.neighbours = neighbours
        self.alpha = alpha
        self.beta = beta
        self.weighting = weighting

    def _fit(self, edges: pa.Table | None) -> None:
        sparse = attempt_import("scipy.sparse", "recommend")
        if self.neighbours < 1 or self.alpha <= 0 or self.beta < 0:
            raise ConfigurationError(f"RP3beta needs neighbours >= 1, alpha > 0 and beta >= 0; got neighbours="
                                     f"{self.neighbours}, alpha={self.alpha}, beta={self.beta}.")
        self.inputs_ = _weighted(self.seen_, self.weighting).tocsr().astype(np.float64)
        user_item = _normalise_rows_sparse(self.inputs_, order=1).tocsr()
        item_user = _normalise_rows_sparse(_weighted(self.seen_, "binary").T.tocsr().astype(np.float64),
                                           order=1).tocsr()
        user_item.data **= self.alpha
        item_user.data **= self.alpha
        penalty = np.divide(1.0, self.popularity_ ** self.beta, out=np.zeros_like(self.popularity_),
                            where=self.popularity_ > 0)
        similarity = (item_user @ user_item @ sparse.diags_array(penalty)).tocsr()
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        self.similarity_ = _keep_top_per_row(similarity, self.neighbours)

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return np.asarray((self.inputs_[codes] @ self.similarity_).todense())


class GFCFRecommender(_Recommender):
    """GF-CF (Shen et al. 2021): a closed-form graph filter, linear plus an optional ideal low-pass part.

    With ``X`` the user-item matrix (weights transformed by ``weighting``), ``d_u`` and ``d_i`` its row and column
    sums and ``R = D_u^-1/2 X D_i^-1/2`` the normalised matrix, a user's scores are
    ``x_u R^T R + ideal_weight * x_u D_i^-1/2 V V^T D_i^1/2``, where ``V`` holds the ``factors`` top right singular
    vectors of ``R`` (``scipy.sparse.linalg.svds``; computed only when ``ideal_weight > 0``). The linear part is
    LightGCN's propagation without training; items nobody consumed score 0.

    Args:
        ideal_weight: weight of the ideal low-pass part (0: the linear filter alone).
        factors: singular vectors of the ideal low-pass part.
        weighting: transform of the weights (see ``ALSRecommender``).
        random_state: seed of the SVD's start vector.

    Attributes:
        normalised_: ``(n_users, n_items)`` CSR ``R``; item_basis_: ``(n_items, factors)`` ``V`` or None; and the
        shared attributes.

    Examples:
        >>> plays = pa.table({"user": ["a", "a", "b", "b", "c"], "item": ["x", "y", "x", "y", "x"]})
        >>> model = GFCFRecommender().fit(plays)
        >>> model.score(["c"], ["x", "y"]).round(3).tolist()
        [[0.667, 0.408]]
    """

    def __init__(self, ideal_weight: float = 0.0, *, factors: int = 256, weighting: str = "binary",
                 random_state: int | None = 0) -> None:
        self.ideal_weight = ideal_weight
        self.factors = factors
        self.weighting = weighting
        self.random_state = random_state

    def _fit(self, edges: pa.Table | None) -> None:
        sparse = attempt_import("scipy.sparse", "recommend")
        if self.ideal_weight < 0 or self.factors < 1:
            raise ConfigurationError(f"GF-CF needs ideal_weight >= 0 and factors >= 1; got ideal_weight="
                                     f"{self.ideal_weight}, factors={self.factors}.")
        self.inputs_ = _weighted(self.seen_, self.weighting).tocsr().astype(np.float64)
        user_degree = np.asarray(self.inputs_.sum(axis=1)).ravel()
        item_degree = np.asarray(self.inputs_.sum(axis=0)).ravel()
        self.item_scale_ = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree),
                                     where=item_degree > 0)
        user_scale = np.divide(1.0, np.sqrt(user_degree), out=np.zeros_like(user_degree), where=user_degree > 0)
        self.normalised_ = (sparse.diags_array(user_scale) @ self.inputs_ @ sparse.diags_array(self.item_scale_)
                            ).tocsr()
        self.item_basis_ = None
        if self.ideal_weight > 0:
            linalg = attempt_import("scipy.sparse.linalg", "recommend")
            rank = min(self.factors, min(self.normalised_.shape) - 1)
            if rank < 1:
                raise DataError("GF-CF's ideal low-pass part needs at least 2 users and 2 items; set ideal_weight=0.")
            start = np.random.default_rng(self.random_state).random(min(self.normalised_.shape))
            _, _, basis = linalg.svds(self.normalised_, k=rank, v0=start)
            self.item_basis_ = basis.T.astype(np.float64)

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        inputs = self.inputs_[codes]
        scores = np.asarray(((inputs @ self.normalised_.T) @ self.normalised_).todense())
        if self.item_basis_ is not None:
            ideal = (inputs @ (self.item_scale_[:, None] * self.item_basis_)) @ self.item_basis_.T
            root = np.divide(1.0, self.item_scale_, out=np.zeros_like(self.item_scale_), where=self.item_scale_ > 0)
            scores += self.ideal_weight * ideal * root
        return scores


class LightGCNRecommender(_FactorModel):
    """LightGCN (He et al. 2020): embeddings propagated over the user-item graph, trained with BPR (torch).

    The graph joins users and items by their (binary) interactions and, with ``social_weight > 0``, users by
    their ``friend``/``follow`` edges with that weight (both ways; a simple social LightGCN); its adjacency
    ``A`` is normalised symmetrically to ``D^-1/2 A D^-1/2``. From ego embeddings ``E_0`` (Xavier-uniform),
    ``E_{l+1} = D^-1/2 A D^-1/2 E_l`` for ``layers`` steps (``torch.sparse.mm``) and the final embeddings are
    the mean of ``E_0 ... E_layers``; a user's score of an item is the dot product of the two. Training
    minimises the BPR loss ``-log sigmoid(s_ui - s_uj)`` over mini-batches of training pairs ``(u, i)`` with a
    negative ``j`` drawn uniformly among the items ``u`` did not consume, plus ``regularization / 2`` times the
    squared norm of the batch's ego embeddings divided by the batch size, with Adam. With a ``validation`` set
    in ``fit`` it stops when Recall@20 on it (as ``evaluate_recommender`` counts it) has not improved for
    ``patience`` epochs and keeps the best epoch's embeddings; without one it trains ``epochs`` epochs. Items
    nobody consumed in training get zero embeddings (score 0). Per-epoch progress goes to the logger (INFO).

    With ``contrastive_weight > 0`` it trains as XSimGCL (Yu et al. 2023, "XSimGCL: Towards Extremely Simple Graph
    Contrastive Learning for Recommendation"): during training each propagated layer gets random noise,
    ``E_l + noise * sign(E_l) * d / ||d||`` with ``d`` uniform on ``[0, 1)`` per row, and the loss adds
    ``contrastive_weight`` times an InfoNCE term (temperature ``temperature``) that pulls each batch user's (and
    each batch positive item's) final embedding towards its own layer-``contrastive_layer`` embedding and away
    from the other batch users' (items'). The contrast spreads the embeddings more evenly over the sphere (the
    paper finds this helps the rarely consumed items); scoring uses the noiseless propagation. The final
    embeddings stay the mean of ``E_0 ... E_layers`` (the paper leaves out ``E_0``).

    Args:
        factors: embedding dimension.
        layers: propagation steps (0: matrix factorisation trained with BPR).
        learning_rate: Adam step.
        regularization: L2 weight on the batch's ego embeddings.
        batch_size: training pairs per step.
        epochs: epochs (the most epochs with early stopping).
        patience: epochs without a better validation Recall@20 before stopping.
        social_weight: weight of the user-user edges in the graph (0: interactions only).
        contrastive_weight: weight of XSimGCL's InfoNCE term (0: plain LightGCN).
        noise: size of the noise added to each layer while training with the contrastive term.
        temperature: InfoNCE temperature.
        contrastive_layer: the layer (1 to ``layers``) whose embeddings are contrasted with the final ones.
        n_jobs: torch CPU threads while fitting (None: torch's setting); restored afterwards.
        device: torch device, e.g. ``"cpu"`` or ``"cuda"``; None uses CUDA when available.
        random_state: seed of the initial embeddings, the batch order, the negatives and the noise.

    Attributes:
        user_factors_: ``(n_users, factors)``; item_factors_: ``(n_items, factors)`` final embeddings;
        epochs_: epochs whose embeddings are kept; history_: ``(epoch, mean loss, validation Recall@20 or NaN)``
        per epoch trained; and the shared attributes.

    Examples:
        >>> plays = pa.table({"user": ["a", "a", "b", "b", "c"], "item": ["x", "y", "x", "y", "x"]})
        >>> model = LightGCNRecommender(8, epochs=5, random_state=0).fit(plays)
        >>> model.user_factors_.shape, model.epochs_
        ((3, 8), 5)
    """

    def __init__(self, factors: int = 64, *, layers: int = 3, learning_rate: float = 1e-3,
                 regularization: float = 1e-4, batch_size: int = 2048, epochs: int = 200, patience: int = 10,
                 social_weight: float = 0.0, contrastive_weight: float = 0.0, noise: float = 0.1,
                 temperature: float = 0.2, contrastive_layer: int = 1, n_jobs: int | None = None,
                 device: str | None = None, random_state: int | None = 0) -> None:
        self.factors = factors
        self.layers = layers
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.social_weight = social_weight
        self.contrastive_weight = contrastive_weight
        self.noise = noise
        self.temperature = temperature
        self.contrastive_layer = contrastive_layer
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state

    def fit(self, interactions: Corpus | pa.Table, *, validation: Corpus | pa.Table | None = None,
            **context: Any) -> LightGCNRecommender:
        """Learn the embeddings, stopping early on ``validation`` when given.

        Args:
            interactions: training interactions (see ``_Recommender.fit``).
            validation: held-out interactions whose Recall@20 picks the epoch; None trains ``epochs`` epochs.
            **context: the other arguments of ``_Recommender.fit`` (``edges`` for ``social_weight > 0``).

        Returns:
            self.

        Raises:
            ConfigurationError: a non-positive size, rate or epoch count, or negative weights.
        """
        self._validation = None if validation is None else interaction_table(validation)
        try:
            super().fit(interactions, **context)
        finally:
            del self._validation
        return self

    def _check_arguments(self) -> None:
        positive = {"factors": self.factors, "learning_rate": self.learning_rate, "batch_size": self.batch_size,
                    "epochs": self.epochs, "patience": self.patience, "temperature": self.temperature}
        bad = {name: value for name, value in positive.items() if not value > 0}
        bad.update({name: value for name, value in (
            ("layers", self.layers), ("regularization", self.regularization), ("social_weight", self.social_weight),
            ("contrastive_weight", self.contrastive_weight), ("noise", self.noise)) if not value >= 0})
        if self.n_jobs is not None and not self.n_jobs >= 1:
            bad["n_jobs"] = self.n_jobs
        if self.contrastive_weight > 0 and not 1 <= self.contrastive_layer <= self.layers:
            bad["contrastive_layer"] = self.contrastive_layer
        if bad:
            raise ConfigurationError(f"LightGCN needs positive factors, learning_rate, batch_size, epochs, patience "
                                     f"and temperature, non-negative layers, regularization, social_weight, "
                                     f"contrastive_weight and noise, n_jobs >= 1 or None, and with a contrastive "
                                     f"term a contrastive_layer from 1 to layers; got {bad}.")

    def _adjacency(self, edges: pa.Table | None) -> Any:
        """The ``(n_users + n_items)`` square normalised adjacency as scipy COO."""
        sparse = attempt_import("scipy.sparse", "recommend")
        n_users, n_items = self.seen_.shape
        interactions = self.seen_.tocoo()
        rows = [interactions.row, interactions.col + n_users]
        columns = [interactions.col + n_users, interactions.row]
        values = [np.ones(interactions.nnz), np.ones(interactions.nnz)]
        if self.social_weight > 0:
            if edges is None:
                raise DataError("social_weight > 0 needs edges: fit on a Corpus with edges or pass edges=.")
            source = positions(edges.column("src"), self.users_)
            target = positions(edges.column("dst"), self.users_)
            keep = (source >= 0) & (target >= 0) & (source != target)
            ties = sparse.coo_array((np.ones(keep.sum()), (source[keep], target[keep])), shape=(n_users, n_users))
            ties = (ties + ties.T).tocoo()  # symmetric and binary: a tie counts once, whichever way it was given
            rows.append(ties.row)
            columns.append(ties.col)
            values.append(np.full(ties.nnz, self.social_weight))
        size = n_users + n_items
        adjacency = sparse.coo_array((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                                     shape=(size, size)).tocsr()
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        scale = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
        return (sparse.diags_array(scale) @ adjacency @ sparse.diags_array(scale)).tocoo()

    def _fit(self, edges: pa.Table | None) -> None:
        self._check_arguments()
        torch = attempt_import("torch", "recommend")
        threads = torch.get_num_threads()
        if self.n_jobs is not None:
            torch.set_num_threads(self.n_jobs)
        try:
            self._train_graph(torch, edges)
        finally:
            torch.set_num_threads(threads)

    def _train_graph(self, torch: Any, edges: pa.Table | None) -> None:
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        rng = np.random.default_rng(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        n_users, n_items = self.seen_.shape
        adjacency = self._adjacency(edges).tocsr()
        with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is not
            warnings.simplefilter("ignore", UserWarning)
            graph = torch.sparse_csr_tensor(torch.from_numpy(adjacency.indptr.astype(np.int64)),
                                            torch.from_numpy(adjacency.indices.astype(np.int64)),
                                            torch.from_numpy(adjacency.data.astype(np.float32)), adjacency.shape,
                                            check_invariants=True).to(device)
        product = _symmetric_product(torch)
        user_ego = torch.nn.init.xavier_uniform_(torch.empty(n_users, self.factors), generator=generator)
        item_ego = torch.nn.init.xavier_uniform_(torch.empty(n_items, self.factors), generator=generator)
        user_ego = torch.nn.Parameter(user_ego.to(device))
        item_ego = torch.nn.Parameter(item_ego.to(device))
        optimiser = torch.optim.Adam([user_ego, item_ego], lr=self.learning_rate)

        def propagate(noisy: bool = False) -> tuple[Any, Any, Any]:
            """Final user and item embeddings, and the contrasted layer's (None without noise)."""
            layer = torch.cat([user_ego, item_ego])
            total, contrasted = layer, None
            for depth in range(1, self.layers + 1):
                layer = product(graph, layer)
                if noisy:
                    direction = torch.rand(layer.shape, generator=generator).to(device)
                    layer = layer + self.noise * torch.sign(layer) * torch.nn.functional.normalize(direction, dim=1)
                    if depth == self.contrastive_layer:
                        contrasted = layer
                total = total + layer
            final = total / (self.layers + 1)
            return final[:n_users], final[n_users:], contrasted

        def info_nce(final: Any, contrasted: Any, codes: np.ndarray) -> Any:
            """InfoNCE of the distinct ``codes``' final embeddings against their contrasted-layer ones."""
            rows = torch.from_numpy(np.unique(codes)).to(device)
            anchors = torch.nn.functional.normalize(final[rows], dim=1)
            views = torch.nn.functional.normalize(contrasted[rows], dim=1)
            targets = torch.arange(len(rows), device=device)
            return torch.nn.functional.cross_entropy(anchors @ views.T / self.temperature, targets)

        pairs = self.seen_.tocoo()
        pair_users, pair_items = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
        consumed = np.sort(pair_users * n_items + pair_items)
        validate = self._validation_recall(torch, device) if self._validation is not None else None
        contrastive = self.contrastive_weight > 0
        self.history_: list[tuple[int, float, float]] = []
        best = (-1.0, 0, None)
        for epoch in range(1, self.epochs + 1):
            order = rng.permutation(len(pair_users))
            losses = []
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                users, positives = pair_users[batch], pair_items[batch]
                negatives = _uniform_negatives(rng, users, n_items, consumed)
                user_final, item_final, contrasted = propagate(noisy=contrastive)
                users_t, positives_t, negatives_t = (torch.from_numpy(codes).to(device)
                                                     for codes in (users, positives, negatives))
                user_vectors = user_final[users_t]
                margin = (user_vectors * (item_final[positives_t] - item_final[negatives_t])).sum(dim=1)
                penalty = (user_ego[users_t].square().sum() + item_ego[positives_t].square().sum()
                           + item_ego[negatives_t].square().sum()) / 2 / len(batch)
                loss = -torch.nn.functional.logsigmoid(margin).mean() + self.regularization * penalty
                if contrastive:
                    loss = loss + self.contrastive_weight * (
                        info_nce(user_final, contrasted[:n_users], users)
                        + info_nce(item_final, contrasted[n_users:], positives))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
            recall = float("nan")
            if validate is not None:
                with torch.no_grad():
                    user_final, item_final, _ = propagate()
                    recall = validate(user_final, item_final)
                if recall > best[0]:
                    best = (recall, epoch, (user_final.cpu().numpy(), item_final.cpu().numpy()))
            self.history_.append((epoch, float(np.mean(losses)), recall))
            logger.info("LightGCN epoch %d: loss %.4f, validation recall@20 %.4f", epoch, np.mean(losses), recall)
            if validate is not None and epoch - best[1] >= self.patience:
                break
        if validate is None:
            with torch.no_grad():
                user_final, item_final, _ = propagate()
            best = (float("nan"), self.epochs, (user_final.cpu().numpy(), item_final.cpu().numpy()))
        self.epochs_ = best[1]
        self.user_factors_ = np.asarray(best[2][0], np.float32)
        self.item_factors_ = np.asarray(best[2][1], np.float32)
        self.item_factors_[self.popularity_ == 0] = 0.0  # never consumed: nothing was learnt about these items

    def _validation_recall(self, torch: Any, device: Any) -> Any:
        """A function of the final embeddings giving Recall@20 on ``_validation`` (``evaluate_recommender``'s)."""
        held = self._validation
        n_items = len(self.items_)
        users = _codes(held.column("user").to_pylist(), self.user_index_)
        trained = self.seen_.tocoo()
        trained = set((trained.row.astype(np.int64) * n_items + trained.col).tolist())
        # Relevant: distinct held-out (user, item) pairs of known users not trained on; an item unknown to training
        # cannot be found but still counts in its user's denominator.
        relevant = {(int(user), item) for user, item in zip(users, held.column("item").to_pylist())
                    if user >= 0 and (item not in self.item_index_
                                      or int(user) * n_items + self.item_index_[item] not in trained)}
        sizes = np.bincount([user for user, _ in relevant], minlength=len(self.users_))
        scored = np.flatnonzero(sizes)
        if len(scored) == 0:
            raise DataError("no validation interaction of a known user to stop early on; pass another validation "
                            "set or none.")
        hits = torch.tensor(sorted(user * n_items + self.item_index_[item] for user, item in relevant
                                   if item in self.item_index_), dtype=torch.int64, device=device)
        chunks = []  # users scored at a time: bounds the dense (users, items) block
        for begin in range(0, len(scored), _BATCH_USERS * 4):
            chunk = scored[begin:begin + _BATCH_USERS * 4]
            seen = self.seen_[chunk].tocoo()
            chunks.append(tuple(torch.from_numpy(np.asarray(values, np.int64)).to(device)
                                for values in (chunk, seen.row, seen.col)))
        sizes_t = torch.from_numpy(sizes[scored]).to(device, torch.float64)

        def recall(user_final: Any, item_final: Any) -> float:
            found = []
            for chunk, seen_rows, seen_columns in chunks:
                scores = user_final[chunk] @ item_final.T
                scores[seen_rows, seen_columns] = -torch.inf
                top = torch.topk(scores, min(20, n_items), dim=1).indices
                found.append(torch.isin(chunk[:, None] * n_items + top, hits).sum(dim=1))
            return float((torch.cat(found) / sizes_t).mean())

        return recall


def _symmetric_product(torch: Any) -> Any:
    """``A @ x`` for a symmetric sparse CSR ``A``, differentiable in ``x`` (its gradient is ``A @ grad`` too).

    torch's own backward of a CSR product transposes ``A`` on every call; symmetry makes that unnecessary, and CSR
    products are several times faster than COO ones on CPU.
    """

    class SymmetricProduct(torch.autograd.Function):
        @staticmethod
        def forward(context: Any, matrix: Any, dense: Any) -> Any:
            context.matrix = matrix
            return torch.sparse.mm(matrix, dense)

        @staticmethod
        def backward(context: Any, gradient: Any) -> tuple[None, Any]:
            return None, torch.sparse.mm(context.matrix, gradient)

    return SymmetricProduct.apply


def _uniform_negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, consumed: np.ndarray) -> np.ndarray:
    """One item per user drawn uniformly among those the user did not consume (``consumed``: sorted pair keys)."""
    negatives = rng.integers(0, n_items, len(users))
    for _ in range(100):
        keys = users * n_items + negatives
        position = np.minimum(np.searchsorted(consumed, keys), len(consumed) - 1)
        clash = consumed[position] == keys
        if not clash.any():
            break
        negatives[clash] = rng.integers(0, n_items, int(clash.sum()))
    return negatives


class EASERecommender(_Recommender):
    """EASE (Steck 2019): a closed-form item-item linear model with a zero diagonal.

    ``B = -P / diag(P)`` with ``P = (X^T X + l2 * I)^-1`` over the items at least ``min_users`` users consumed
    (a dense inversion, cubic in that number); other items score 0.

    Args:
        l2: ridge penalty.
        min_users: items consumed by fewer users are left out of the model.
        weighting: transform of the weights.

    Attributes:
        modelled_: ``(m,)`` codes of the modelled items; weights_: ``(m, m)`` float32 ``B``.
    """

    def __init__(self, l2: float = 200.0, *, min_users: int = 2, weighting: str = "binary") -> None:
        self.l2 = l2
        self.min_users = min_users
        self.weighting = weighting

    def _fit(self, edges: pa.Table | None) -> None:
        self.modelled_ = np.flatnonzero(self.popularity_ >= self.min_users)
        matrix = _weighted(self.seen_, self.weighting).tocsc()[:, self.modelled_].astype(np.float64)
        self.weights_ = self._solve((matrix.T @ matrix).toarray()).astype(np.float32)
        self.inputs_ = matrix.tocsr().astype(np.float32)

    def _penalty(self, gram: np.ndarray) -> float | np.ndarray:
        """The ridge penalty added to the Gram matrix's diagonal: ``l2`` for every item."""
        return self.l2

    def _solve(self, gram: np.ndarray) -> np.ndarray:
        """The item-item weights ``B`` from the Gram matrix ``X^T X`` (overwritten), with a zero diagonal."""
        gram[np.diag_indices_from(gram)] += self._penalty(gram)
        inverse = np.linalg.inv(gram)
        weights = inverse / -np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0.0
        return weights

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(codes), len(self.items_)))
        scores[:, self.modelled_] = self.inputs_[codes] @ self.weights_
        return scores


class DLAERecommender(EASERecommender):
    """DLAE (Steck 2020): a denoising linear autoencoder, EASE's relative that learns to undo item dropout.

    Training the item-item model on inputs with each item dropped with probability ``dropout`` is, in
    expectation, ridge regression with the item-dependent penalty ``Lambda = dropout / (1 - dropout) *
    diag(X^T X) + l2 * I``: ``B = (X^T X + Lambda)^-1 X^T X = I - (X^T X + Lambda)^-1 Lambda``, with no
    zero-diagonal constraint (the dropout keeps ``B`` from the identity). Popular items are penalised more, which
    is what lifts it over EASE on long-tailed data. Same cost as EASE (one dense inversion). With
    ``zero_diagonal=True`` the diagonal of ``B`` is constrained to 0 as in EASE, ``B = -P / diag(P)`` for ``P =
    (X^T X + Lambda)^-1`` (EASE under DLAE's item-dependent penalty: the limit of Steck's emphasised EDLAE).

    Args:
        l2: the uniform part of the penalty.
        dropout: the item dropout probability, in [0, 1).
        min_users: items consumed by fewer users are left out of the model.
        weighting: transform of the weights.
        zero_diagonal: constrain the diagonal of ``B`` to 0 (see above).

    Attributes:
        modelled_: ``(m,)`` codes of the modelled items; weights_: ``(m, m)`` float32 ``B``.

    Examples:
        >>> plays = pa.table({"user": ["a", "a", "b", "b", "c", "c"], "item": ["x", "y", "x", "y", "x", "z"]})
        >>> DLAERecommender(1.0, dropout=0.25, min_users=1).fit(plays).recommend(["c"], k=1).column("item").to_pylist()
        ['y']
    """

    def __init__(self, l2: float = 100.0, *, dropout: float = 0.25, min_users: int = 2,
                 weighting: str = "binary", zero_diagonal: bool = False) -> None:
        super().__init__(l2, min_users=min_users, weighting=weighting)
        self.dropout = dropout
        self.zero_diagonal = zero_diagonal

    def _fit(self, edges: pa.Table | None) -> None:
        if not 0.0 <= self.dropout < 1.0 or self.l2 < 0:
            raise ConfigurationError(f"DLAE needs 0 <= dropout < 1 and l2 >= 0; got dropout {self.dropout!r}, "
                                     f"l2 {self.l2!r}.")
        super()._fit(edges)

    def _penalty(self, gram: np.ndarray) -> np.ndarray:
        return self.dropout / (1.0 - self.dropout) * np.diag(gram) + self.l2

    def _solve(self, gram: np.ndarray) -> np.ndarray:
        if self.zero_diagonal:  # EASE's constrained solution under DLAE's penalty
            return super()._solve(gram)
        penalty = self._penalty(gram)
        gram[np.diag_indices_from(gram)] += penalty
        weights = -np.linalg.inv(gram) * penalty[None, :]
        weights[np.diag_indices_from(weights)] += 1.0
        return weights


class ContentRecommender(_Recommender):
    """Score items by the similarity of their features to the user's taste (a content two-tower, untrained).

    Item vectors are the fused multimodal features (``fuse_item_features``); a user's vector is the mean of the
    vectors of the items they consumed, weighted by ``log1p(weight)``, and an item's score is the cosine of the
    two. Items are scored from their features alone, so new items nobody consumed (cold start) are recommended
    as soon as they have features.

    Attributes:
        user_vectors_: ``(n_users, d)`` unit user vectors; and the shared attributes (``item_vectors_``).

    Examples:
        >>> plays = pa.table({"user": ["a", "a"], "item": ["cat1", "cat2"]})
        >>> features = np.array([[1.0, 0.1], [0.9, 0.0], [0.0, 1.0], [1.0, 0.05]])
        >>> model = ContentRecommender().fit(plays, item_features=features, item_ids=["cat1", "cat2", "dog",
        ...                                                                           "cat-new"])
        >>> model.recommend(["a"], k=1).column("item").to_pylist()
        ['cat-new']
    """

    def _fit(self, edges: pa.Table | None) -> None:
        if self.item_vectors_ is None:
            raise DataError("ContentRecommender needs item_features in fit (fused item vectors).")
        self.item_vectors_ = _normalise_rows(self.item_vectors_)
        weights = self.seen_.copy()
        weights.data = np.log1p(weights.data)
        self.user_vectors_ = _normalise_rows(np.asarray(weights @ self.item_vectors_, np.float32))

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return self.user_vectors_[codes].astype(np.float64) @ self.item_vectors_.T.astype(np.float64)


class SocialRecommender(_Recommender):
    """Recommend what a user's friends and followees consumed, weighted by tie strength.

    ``score(u, i) = sum over ties u -> v of tie(u, v) * [v consumed i]`` plus ``1e-6 *`` the item's share of
    users (so that items no friend consumed fall back to popularity). A ``friend`` edge ties both ways, a
    ``follow`` edge ``u -> v`` lets ``u`` see what ``v`` consumed. ``tie(u, v)`` is the edge weight (1 when
    absent), times ``similarity + cosine(u, v)`` of the two users' consumed items with
    ``tie_strength="similarity"`` (``similarity`` keeps ties between users with nothing in common).

    Users who are in the graph but consumed nothing (new users) are recommended their friends' items.

    Args:
        kinds: edge kinds used.
        tie_strength: ``"uniform"`` or ``"similarity"``.
        similarity: the floor added to the cosine similarity.

    Attributes:
        ties_: ``(n_users, n_users)`` CSR tie weights; and the shared attributes.

    Examples:
        >>> plays = pa.table({"user": ["a", "b", "c"], "item": ["x", "y", "z"]})
        >>> edges = pa.table({"src": ["a"], "dst": ["b"], "kind": ["friend"]})
        >>> SocialRecommender().fit(plays, edges=edges).recommend(["a"], k=1).column("item").to_pylist()
        ['y']
    """

    def __init__(self, kinds: Sequence[str] = ("friend", "follow"), *, tie_strength: str = "similarity",
                 similarity: float = 0.1) -> None:
        self.kinds = kinds
        self.tie_strength = tie_strength
        self.similarity = similarity

    def _fit(self, edges: pa.Table | None) -> None:
        if self.tie_strength not in ("uniform", "similarity"):
            raise ConfigurationError(f"tie_strength must be 'uniform' or 'similarity'; got {self.tie_strength!r}.")
        if edges is None:
            raise DataError("SocialRecommender needs edges: fit on a Corpus with edges or pass edges=.")
        sparse = attempt_import("scipy.sparse", "recommend")
        edges = edges.filter(pc.is_in(edges.column("kind"), value_set=pa.array(list(self.kinds), pa.string())))
        source = positions(edges.column("src"), self.users_)
        target = positions(edges.column("dst"), self.users_)
        weight = edges.column("weight").to_numpy()
        mutual = edges.column("kind").to_numpy(zero_copy_only=False) == "friend"
        rows = np.concatenate([source, target[mutual]])
        columns = np.concatenate([target, source[mutual]])
        values = np.concatenate([weight, weight[mutual]])
        ties = sparse.csr_array((values, (rows, columns)), shape=(len(self.users_),) * 2)
        ties.sum_duplicates()
        self.consumed_ = _weighted(self.seen_, "binary").tocsr().astype(np.float64)
        if self.tie_strength == "similarity":
            normalised = _normalise_rows_sparse(self.consumed_)
            coo = ties.tocoo()
            cosine = np.concatenate([np.zeros(0)] + [  # a block of ties at a time: bounded row copies
                np.asarray(normalised[coo.row[block]].multiply(normalised[coo.col[block]]).sum(axis=1)).ravel()
                for block in _blocks(len(coo.row), _TIE_BLOCK)])
            ties = sparse.csr_array((coo.data * (self.similarity + cosine), (coo.row, coo.col)), shape=ties.shape)
        self.ties_ = ties

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        scores = np.asarray((self.ties_[codes] @ self.consumed_).todense())
        return scores + 1e-6 * self.popularity_ / max(len(self.users_), 1)


def _normalise_rows_sparse(matrix: Any, order: int = 2) -> Any:
    """Rows scaled to unit L2 norm (``order=2``) or to sum 1 (``order=1``, non-negative entries); empty rows stay 0."""
    sparse = attempt_import("scipy.sparse", "recommend")
    if order == 1:
        norms = np.asarray(abs(matrix).sum(axis=1)).ravel()
    else:
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sparse.diags_array(scale) @ matrix


def _row_blocks(indptr: np.ndarray, entries: int = _BLOCK_SCORES) -> Iterator[tuple[int, int]]:
    """Consecutive ``(first, last)`` row ranges of a CSR matrix holding at most ``entries`` stored values each (or
    one row, when a row alone holds more), so per-entry work runs in bounded temporaries."""
    first, n_rows = 0, len(indptr) - 1
    while first < n_rows:
        last = int(np.searchsorted(indptr, indptr[first] + entries, side="right")) - 1
        last = min(max(last, first + 1), n_rows)
        yield first, last
        first = last


def _divide_by_norm_products(matrix: Any, norms: np.ndarray, shrink: float) -> None:
    """``matrix[i, j] /= norms[i] * norms[j] + shrink`` for every stored entry of a square CSR matrix, in place."""
    for first, last in _row_blocks(matrix.indptr):
        start, end = matrix.indptr[first], matrix.indptr[last]
        denominators = np.repeat(norms[first:last], np.diff(matrix.indptr[first:last + 1]))
        denominators *= norms[matrix.indices[start:end]]
        denominators += shrink
        matrix.data[start:end] /= denominators


def _keep_top_per_row(matrix: Any, k: int) -> Any:
    """A CSR copy of ``matrix`` keeping the ``k`` largest stored values of each row (ties: the earlier stored)."""
    sparse = attempt_import("scipy.sparse", "recommend")
    matrix = sparse.csr_array(matrix)
    counts = np.diff(matrix.indptr)
    keep = np.ones(matrix.nnz, bool)
    for first, last in _row_blocks(matrix.indptr):
        if counts[first:last].max(initial=0) <= k:
            continue
        start, end = matrix.indptr[first], matrix.indptr[last]
        rows = np.repeat(np.arange(first, last), counts[first:last])
        order = np.lexsort((-matrix.data[start:end], rows))  # by row, then value descending; stable on ties
        rank = np.arange(end - start) - (matrix.indptr[rows] - start)  # rows[order] == rows: both sorted by row
        keep[start + order[rank >= k]] = False
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))]).astype(matrix.indptr.dtype)
    result = sparse.csr_array((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)
    result.sort_indices()
    return result


class HybridRecommender(_Recommender):
    """Components' scores combined by a rank blend (weights tuned) or a stacked model, learned on a validation split.

    ``combiner="blend"``: for each user, each component's ``depth`` best allowed items get the score
    ``1 - (rank - 1) / depth`` (``rank_discount="linear"``) or ``1 / log2(rank + 1)`` (``"log"``, the NDCG
    discount), others 0, and the blend is ``sum of weight * that``: ranks, not raw scores, so components with
    different scales mix. ``fit`` searches the weights on a grid of the simplex (step ``grid_step``) for the best
    Recall@``tune_k`` on ``validation``.

    ``combiner="stacked"``: a logistic regression (regularisation ``stack_c``) learned on the validation users.
    Its candidates for a user are the union of the components' ``depth`` best allowed items; each candidate is
    described by every component's score standardised over the user's allowed items, the log of ``1 +`` the
    number of allowed items that component scores higher, and the log of ``1 +`` the item's training
    popularity. The held-out items are the positives. A candidate scores ``1 + `` its probability, other items 0.
    Unlike a blend weight per component, this uses how far apart the scores are, not only their order. It costs a
    sort of each component's scores per user: on Last.fm (17,632 artists, four components), fitting the combiner
    (prefitted components) took 9-10 s against 5.5 s, and recommending to 1,874 users 6.1-6.5 s against 2.5-2.8 s
    for the blend.

    ``fit`` fits every component on the same interactions; without ``validation`` it holds out
    ``validation_fraction`` of the training pairs, tunes, then refits the components on all of them.

    Args:
        components: name -> unfitted recommender.
        weights: name -> fixed weight; None tunes them.
        combiner: ``"blend"`` or ``"stacked"`` (above).
        depth: items per component that enter the blend (or become the stacked model's candidates).
        rank_discount: ``"linear"`` or ``"log"``: how a component's rank becomes its blended score.
        tune_k: the cut-off of the Recall tuned for.
        grid_step: step of the weight grid: every point of the simplex on that grid is tried while there are at
            most 3,003 of them (6 components at step 0.1), else coordinate ascent on it.
        validation_fraction: share of the pairs held out when no validation set is given.
        refit: with a ``validation`` set, refit the components on training plus validation interactions once the
            weights are tuned (the usual last step of model selection: more data, same hyper-parameters).
        random_state: seed of that hold-out.
        prefitted: the components are already fitted on these same training interactions and context (e.g. one
            that stopped early on the validation set): they are used as given, not refitted; needs a
            ``validation`` set (or fixed ``weights``) and ``refit=False``.
        max_tune_users: the weights (or the stacked model) are tuned on at most this many validation users (a
            sample seeded by ``random_state``), so tuning costs the same at any size; None tunes on all of them.
        stack_c: inverse regularisation strength of the stacked model's logistic regression.

    Attributes:
        weights_: name -> the blend weight used (empty when stacked); validation_: weights tried (a tuple in
        sorted name order) -> their Recall@``tune_k`` on the validation users known to training (as
        ``evaluate_recommender`` counts it: held-out items unknown to training count as misses); tune_users_: how
        many validation users the weights or the stacked model were tuned on (0 with fixed weights); stack_:
        None, or the stacked model: ``features`` (their names), ``mean`` and ``scale`` (the standardisation),
        ``coef`` and ``intercept`` (the logistic regression on standardised features); cross_validated_: the
        Recall@``tune_k`` of the whole choice over five folds of the tuning users, each fold scored by what the
        other four chose (the blend's best weights among those tried, or a stacked model learned on them): the
        figure to compare a blend with a stacked hybrid by, as ``validation_`` is in-sample (None with fixed
        weights or a single tuning user); and the shared attributes.
    """

    def __init__(self, components: Mapping[str, _Recommender], *, weights: Mapping[str, float] | None = None,
                 depth: int = 200, rank_discount: str = "linear", tune_k: int = 20, grid_step: float = 0.1,
                 validation_fraction: float = 0.1, refit: bool = False, random_state: int | None = 0,
                 prefitted: bool = False, max_tune_users: int | None = 5000, combiner: str = "blend",
                 stack_c: float = 1.0) -> None:
        self.components = components
        self.weights = weights
        self.combiner = combiner
        self.stack_c = stack_c
        self.depth = depth
        self.rank_discount = rank_discount
        self.tune_k = tune_k
        self.grid_step = grid_step
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.random_state = random_state
        self.prefitted = prefitted
        self.max_tune_users = max_tune_users

    def fit(self, interactions: Corpus | pa.Table, *, validation: Corpus | pa.Table | None = None,
            **context: Any) -> HybridRecommender:
        """Fit the components and tune the blend weights.

        Args:
            interactions: training interactions.
            validation: held-out interactions to tune the weights on; None holds out part of ``interactions``.
            **context: what ``fit`` of the components takes (``kind``, ``item_features``, ``edges``, ...).

        Returns:
            self.

        Raises:
            ConfigurationError: no components, or weights naming unknown components.
        """
        if not self.components:
            raise ConfigurationError("HybridRecommender needs at least one component.")
        if self.combiner not in _COMBINERS:
            raise ConfigurationError(f"combiner must be one of {_COMBINERS}; got {self.combiner!r}.")
        if self.combiner == "stacked" and self.weights is not None:
            raise ConfigurationError("a stacked hybrid learns its model on a validation set: weights must be None.")
        if self.weights is not None and set(self.weights) != set(self.components):
            raise ConfigurationError(f"weights must name every component {sorted(self.components)}; got "
                                     f"{sorted(self.weights)}.")
        names = sorted(self.components)
        table = interaction_table(interactions, kind=context.get("kind"), weight=context.get("weight", "value"))
        if isinstance(interactions, Corpus):
            context.setdefault("edges", interactions.edges if interactions.edges.num_rows else None)
        context = {key: value for key, value in context.items() if key not in ("kind", "weight")}
        refit = validation is None and self.weights is None
        if refit:
            inner = split_interactions(table, ratios=(1 - self.validation_fraction, self.validation_fraction, 0.0),
                                       random_state=self.random_state)
            train, validation = inner.train, inner.validation
        else:
            train = table
            if validation is not None and self.refit:
                table = pa.concat_tables([table, interaction_table(validation)])
                refit = True
        if self.prefitted:
            if refit:
                raise ConfigurationError("prefitted components cannot be refitted: give a validation set (or fixed "
                                         "weights) and refit=False.")
            self._adopt_shared_state(names, train)
            self.components_ = {name: self.components[name] for name in names}
        else:
            super().fit(train, **context)
            context["items"] = list(self.items_)
            self.components_ = {name: _clone(self.components[name]).fit(train, **context) for name in names}
        self.stack_ = self.cross_validated_ = None
        if self.weights is not None:
            self.weights_ = {name: float(self.weights[name]) for name in names}
            self.validation_ = {}
            self.tune_users_ = 0
        elif self.combiner == "stacked":
            self.weights_, self.validation_ = {}, {}
            self.stack_, self.cross_validated_ = self._learn_stack(*self._tuning_users(interaction_table(validation)))
        else:
            self.weights_, self.validation_, self.cross_validated_ = self._tune(
                *self._tuning_users(interaction_table(validation)))
        if refit:
            super().fit(table, **context)
            context["items"] = list(self.items_)
            self.components_ = {name: _clone(self.components[name]).fit(table, **context) for name in names}
        if self.item_vectors_ is None:  # diversity works over the first component's item vectors
            self.item_vectors_ = next((component.item_vectors() for component in self.components_.values()
                                       if component.item_vectors() is not None), None)
        return self

    def _adopt_shared_state(self, names: list[str], train: pa.Table) -> None:
        """Take the users, items and seen matrix of prefitted components (fitting them again would repeat their
        work), after checking that every component was fitted on ``train``: the same users, items and pairs."""
        for name in names:
            self.components[name]._check_fitted()
        first = self.components[names[0]]
        trained_on_train = (
            positions(train.column("user"), first.users_).min(initial=0) >= 0
            and positions(train.column("item"), first.items_).min(initial=0) >= 0
            and math.isclose(float(first.seen_.sum()), pc.sum(train.column("weight")).as_py() or 0.0, rel_tol=1e-9))
        for name in names:
            component = self.components[name]
            if not (trained_on_train and np.array_equal(component.users_, first.users_)
                    and np.array_equal(component.items_, first.items_) and component.seen_.nnz == first.seen_.nnz):
                raise ConfigurationError(f"the prefitted component {name!r} was fitted on other users or items; "
                                         "fit it on the same interactions and edges as the hybrid.")
        for key in _SHARED_STATE + _ID_INDEXES:
            setattr(self, key, getattr(first, key))

    def _seen_mask(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Whether each (user code, item code) pair was trained on; False where either code is -1."""
        n_items = len(self.items_)
        stored = np.repeat(np.arange(self.seen_.shape[0], dtype=np.int64), np.diff(self.seen_.indptr)) * n_items
        stored += self.seen_.indices
        return (rows >= 0) & (columns >= 0) & np.isin(rows.astype(np.int64) * n_items + columns, stored)

    def _component_ranks(self, users: Sequence[str], allowed: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """name -> (items ``(n, depth)``, rank scores ``(n, depth)``) of each component."""
        result = {}
        if self.rank_discount not in ("linear", "log"):
            raise ConfigurationError(f"rank_discount must be 'linear' or 'log'; got {self.rank_discount!r}.")
        ranks = np.arange(1, self.depth + 1)
        linear = 1.0 - (ranks - 1) / self.depth if self.rank_discount == "linear" else 1.0 / np.log2(ranks + 1)
        for name, scores in self._allowed_scores(users, allowed):
            items, values = _top_k(scores, self.depth)
            result[name] = (items, np.where(np.isfinite(values), linear[: items.shape[1]], 0.0))
        return result

    def _allowed_scores(self, users: Sequence[str], allowed: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """(name, ``(n, items)`` scores, -inf where not allowed) of each component in name order, one at a time."""
        for name in sorted(self.components_):
            yield name, np.where(allowed, self.components_[name]._scores_for_ids(users, allowed), -np.inf)

    def _user_scores(self, codes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(codes), len(self.items_)))
        rows = np.arange(len(codes))[:, None]
        if self.stack_ is not None:
            candidates, features = self._stack_features(self.users_[codes].tolist(), allowed)
            probability = 1.0 / (1.0 + np.exp(-_stack_decision(self.stack_, features)))
            valid = candidates >= 0
            scores[np.broadcast_to(rows, candidates.shape)[valid], candidates[valid]] = 1.0 + probability[valid]
            return scores
        for name, (items, values) in self._component_ranks(self.users_[codes].tolist(), allowed).items():
            np.add.at(scores, (np.broadcast_to(rows, items.shape), items), self.weights_[name] * values)
        return scores

    def _stack_features(self, users: Sequence[str], allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stacked model's candidates ``(n, width)`` (item codes, -1 padding: the union of the components'
        ``depth`` best allowed items) and their features ``(n, width, 2 * components + 1)``."""
        scores = dict(self._allowed_scores(users, allowed))
        tops = []
        for values in scores.values():
            items, best = _top_k(values, self.depth)
            tops.append(np.where(np.isfinite(best), items, -1))
        unions = [np.unique(row[row >= 0]) for row in np.concatenate(tops, axis=1)]
        candidates = np.full((len(users), max((len(union) for union in unions), default=0)), -1, np.int64)
        for row, union in enumerate(unions):
            candidates[row, : len(union)] = union
        at = np.maximum(candidates, 0)
        features = []
        for values in scores.values():
            finite = np.isfinite(values)
            count = np.maximum(finite.sum(axis=1, keepdims=True), 1)
            mean = np.where(finite, values, 0.0).sum(axis=1, keepdims=True) / count
            spread = np.sqrt(np.where(finite, (values - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
            chosen = np.take_along_axis(values, at, axis=1)
            standardised = (chosen - mean) / np.where(spread > 0, spread, 1.0)
            ordered = np.sort(values, axis=1)  # -inf (not allowed) first: never counted as scoring higher
            higher = np.stack([values.shape[1] - np.searchsorted(row, value, side="right")
                               for row, value in zip(ordered, chosen)]) if len(users) else chosen
            features += [np.where(np.isfinite(standardised), standardised, 0.0), np.log1p(higher)]
        features.append(np.broadcast_to(np.log1p(self.popularity_[at]), at.shape))
        return candidates, np.stack(features, axis=-1)

    def _tuning_users(self, held: pa.Table) -> tuple[list[str], dict[str, set[int]], dict[str, set[str]]]:
        """The validation users tuned on (a seeded sample of at most ``max_tune_users``), each user's relevant
        item codes and each user's held-out item ids."""
        # Relevant: held-out items a known user did not train on. Items unknown to training cannot be recommended
        # but still count in each user's denominator, so that the tuning Recall is evaluate_recommender's.
        held_users, held_items = held.column("user").to_pylist(), held.column("item").to_pylist()
        rows, columns = _codes(held_users, self.user_index_), _codes(held_items, self.item_index_)
        keep = (rows >= 0) & ~self._seen_mask(rows, columns)  # columnar: no per-pair lookup in the sparse matrix
        kept_users = np.unique(rows[keep])
        if self.max_tune_users is not None and len(kept_users) > self.max_tune_users:
            # a bounded, seeded sample of the validation users: the recall estimate, not its cost, grows with size
            chosen = np.random.default_rng(self.random_state).choice(len(kept_users), self.max_tune_users,
                                                                     replace=False)
            keep &= np.isin(rows, kept_users[np.sort(chosen)])  # codes follow the sorted user ids
        relevant: dict[str, set[int]] = {}
        held_out: dict[str, set[str]] = {}
        for position in np.flatnonzero(keep):
            user, code = held_users[position], columns[position]
            held_out.setdefault(user, set()).add(held_items[position])
            if code >= 0:
                relevant.setdefault(user, set()).add(int(code))
        self.tune_users_ = len(held_out)
        users = sorted(relevant)
        if not users:
            raise DataError("no validation interaction of a known user on a known, unseen item to tune on.")
        return users, relevant, held_out

    def _unseen_blocks(self, users: list[str]) -> Iterator[tuple[slice, np.ndarray]]:
        """Blocks of known users with their ``(batch, items)`` masks of the items they did not train on (never a
        ``(users, items)`` mask)."""
        codes = _codes(users, self.user_index_)
        for block in _user_blocks(len(users), len(self.items_)):
            batch_codes = codes[block]
            allowed = np.ones((len(batch_codes), len(self.items_)), bool)
            for row, code in enumerate(batch_codes):
                allowed[row, self.seen_.indices[self.seen_.indptr[code]:self.seen_.indptr[code + 1]]] = False
            yield block, allowed

    def _folds(self, n_users: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Five seeded folds (train rows, test rows) of the tuning users; none for a single user."""
        if n_users < 2:
            return []
        model_selection = attempt_import("sklearn.model_selection", "recommend")
        folds = model_selection.KFold(min(5, n_users), shuffle=True, random_state=self.random_state)
        return list(folds.split(np.arange(n_users)))

    def _learn_stack(self, users: list[str], relevant: dict[str, set[int]],
                     held_out: dict[str, set[str]]) -> tuple[dict[str, Any], float | None]:
        """The stacked logistic regression fitted on the tuning users' candidates, and its Recall@``tune_k``
        cross-validated over them."""
        linear_model = attempt_import("sklearn.linear_model", "recommend")
        lists = []  # per user: candidate codes, features, hits
        for block, allowed in self._unseen_blocks(users):
            candidates, features = self._stack_features(users[block], allowed)
            for user, row, described in zip(users[block], candidates, features):
                valid = row >= 0
                lists.append((row[valid], described[valid], np.isin(row[valid], list(relevant[user]))))
        sizes = np.array([len(held_out[user]) for user in users], np.float64)

        def fitted(rows: np.ndarray) -> dict[str, Any]:
            features = np.concatenate([lists[row][1] for row in rows])
            hits = np.concatenate([lists[row][2] for row in rows])
            if hits.all() or not hits.any():
                raise DataError("the stacked hybrid needs validation items both among and outside the candidates "
                                "of its tuning users; add validation interactions or raise depth.")
            mean, scale = features.mean(axis=0), features.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
            model = linear_model.LogisticRegression(C=self.stack_c, max_iter=1000)
            model.fit((features - mean) / scale, hits)
            return {"mean": mean, "scale": scale, "coef": model.coef_[0], "intercept": float(model.intercept_[0])}

        def recall(stack: dict[str, Any], rows: np.ndarray) -> float:
            total = 0.0
            for row in rows:
                _, features, hits = lists[row]
                top = np.argsort(-_stack_decision(stack, features), kind="stable")[: self.tune_k]
                total += hits[top].sum() / sizes[row]
            return total

        folds = self._folds(len(users))
        cross_validated = sum(recall(fitted(train), test) for train, test in folds) / len(held_out) if folds else None
        stack = fitted(np.arange(len(lists)))
        names = sorted(self.components_)
        stack["features"] = [f"{name} {kind}" for name in names for kind in ("standardised score", "log rank")] + [
            "log popularity"]
        logger.info("stacked hybrid: cross-validated recall@%d %s on %d users", self.tune_k, cross_validated,
                    len(held_out))
        return stack, cross_validated

    def _tune(self, users: list[str], relevant: dict[str, set[int]], held_out: dict[str, set[str]]
              ) -> tuple[dict[str, float], dict[tuple[float, ...], float], float | None]:
        """The best blend weights, the Recall@``tune_k`` of each weights tried, and that choice's Recall
        cross-validated over the tuning users (each fold scored by the best weights on the other folds)."""
        names = sorted(self.components_)
        ranks = {}
        for block, allowed in self._unseen_blocks(users):
            batch = self._component_ranks(users[block], allowed)
            for name, (items, values) in batch.items():
                ranks.setdefault(name, []).append((items, values))
        # Candidates per user: the union of the components' lists, as a small (users, candidates) problem.
        stacked_items = np.concatenate([np.concatenate([part[0] for part in ranks[name]]) for name in names], axis=1)
        stacked_values = np.concatenate([np.concatenate([part[1] for part in ranks[name]]) for name in names], axis=1)
        widths = [ranks[name][0][0].shape[1] for name in names]  # every batch has the same depth per component
        width = stacked_items.shape[1]
        candidate = np.full((len(users), width), -1, np.int64)
        per_component = np.zeros((len(names), len(users), width))
        for row in range(len(users)):
            unique, inverse = np.unique(stacked_items[row], return_inverse=True)
            candidate[row, : len(unique)] = unique
            offset = 0
            for position, columns in enumerate(widths):
                np.add.at(per_component[position, row], inverse[offset:offset + columns],
                          stacked_values[row, offset:offset + columns])
                offset += columns
        hit = np.array([[code in relevant[user] for code in row] for user, row in zip(users, candidate)])
        sizes = np.array([len(held_out[user]) for user in users])

        per_user: dict[tuple[float, ...], np.ndarray] = {}  # weights -> each tuning user's Recall

        def recall(weights: tuple[float, ...]) -> float:
            blend = np.tensordot(np.asarray(weights), per_component, axes=1) + np.where(candidate >= 0, 0, -np.inf)
            top, _ = _top_k(blend, self.tune_k)
            per_user[weights] = np.take_along_axis(hit, top, axis=1).sum(axis=1) / sizes
            return float(np.sum(per_user[weights]) / len(held_out))

        def preferred(totals: dict[tuple[float, ...], float]) -> tuple[float, ...]:
            """The best weights; among equals, those with fewer components."""
            return max(totals, key=lambda weights: (totals[weights], -np.count_nonzero(weights)))

        steps = round(1 / self.grid_step)
        tried: dict[tuple[float, ...], float] = {}
        if math.comb(steps + len(names) - 1, len(names) - 1) <= _MAX_GRID_POINTS:
            for split in itertools.product(range(steps + 1), repeat=len(names)):
                if sum(split) == steps:
                    weights = tuple(part / steps for part in split)
                    tried[weights] = recall(weights)
        else:
            best = tuple(1.0 / len(names) for _ in names)
            tried[best] = recall(best)
            for _ in range(3):
                for position in range(len(names)):
                    for value in np.linspace(0, 1, steps + 1):
                        weights = tuple(value if index == position else weight for index, weight in enumerate(best))
                        if weights not in tried:  # each round revisits points: score each once
                            tried[weights] = recall(weights)
                    best = max(tried, key=tried.get)
        best = preferred(tried)
        folds = self._folds(len(users))
        cross_validated = 0.0 if folds else None
        for train, test in folds:
            chosen = preferred({weights: float(values[train].sum()) for weights, values in per_user.items()})
            cross_validated += float(per_user[chosen][test].sum()) / len(held_out)
        logger.info("hybrid weights %s: validation recall@%d %.4f (cross-validated %s)", dict(zip(names, best)),
                    self.tune_k, tried[best], cross_validated)
        return dict(zip(names, best)), tried, cross_validated


def _stack_decision(stack: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """A stacked hybrid's log-odds of each candidate (``features``: ``HybridRecommender._stack_features``)."""
    return ((features - stack["mean"]) / stack["scale"]) @ stack["coef"] + stack["intercept"]


def _clone(model: _Recommender) -> _Recommender:
    """An unfitted copy with the same constructor arguments."""
    return type(model)(**{name: value for name, value in vars(model).items() if not name.endswith("_")})


RECOMMENDERS: dict[str, type[_Recommender]] = {
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "content": ContentRecommender,
    "dlae": DLAERecommender,
    "ease": EASERecommender,
    "gfcf": GFCFRecommender,
    "hybrid": HybridRecommender,
    "itemknn": ItemKNNRecommender,
    "lightgcn": LightGCNRecommender,
    "popularity": PopularityRecommender,
    "rp3beta": RP3betaRecommender,
    "social": SocialRecommender,
}
"""Registered recommender classes by name (what ``socialfusion recommend fit --model`` accepts)."""


# -- persistence ----------------------------------------------------------------------------------------------

_FORMAT = "socialfusion.recommender/1"
_DOCUMENT = "model.json"
_SHARED_STATE = ("users_", "items_", "seen_", "popularity_", "item_vectors_", "item_times_")
_SAVED_STATE: dict[str, tuple[str, ...]] = {
    "als": ("user_factors_", "item_factors_"),
    "bpr": ("user_factors_", "item_factors_"),
    "content": ("user_vectors_",),
    "dlae": ("modelled_", "weights_", "inputs_"),
    "ease": ("modelled_", "weights_", "inputs_"),
    "gfcf": ("inputs_", "item_scale_", "normalised_", "item_basis_"),
    "hybrid": ("components_", "weights_", "validation_", "tune_users_", "stack_", "cross_validated_"),
    "itemknn": ("similarity_", "weights_"),
    "lightgcn": ("user_factors_", "item_factors_", "epochs_", "history_"),
    "popularity": (),
    "rp3beta": ("inputs_", "similarity_"),
    "social": ("consumed_", "ties_"),
}
"""What each registered recommender saves besides ``_SHARED_STATE`` (``user_index_``/``item_index_`` are rebuilt)."""
_ADDED_STATE: dict[str, Any] = {"stack_": None, "cross_validated_": None}
"""Fitted attributes added after files were first written, with the value a file without them means."""
_ID_INDEXES = ("user_index_", "item_index_")
_DERIVED_STATE = (*_ID_INDEXES, "float64_item_factors_")  # rebuilt after loading, never saved


def save_recommender(model: _Recommender, path: str | Path) -> Path:
    """Write a fitted recommender to one file that loads without running code.

    The file is a ZIP in NumPy's NPZ layout: ``model.json`` names the recommender (its ``RECOMMENDERS`` name), its
    constructor parameters and its fitted state (numbers, strings and ids in JSON; each array, and the ``data``,
    ``indices`` and ``indptr`` of each sparse CSR matrix, as one ``.npy`` member). A hybrid holds its components
    the same way.

    Returns:
        ``path``.

    Raises:
        NotFittedError: not fitted.
        ConfigurationError: not a registered recommender class, or a parameter a model file cannot hold.
    """
    model._check_fitted()
    writer = ModelWriter([_encode_recommender, _encode_sparse])
    document = {"format": _FORMAT, "model": writer.encode(model, "model")}
    return write_archive(path, documents={_DOCUMENT: document}, arrays=writer.arrays)


def load_recommender(path: str | Path) -> _Recommender:
    """A recommender ``save_recommender`` wrote; nothing in the file is run or unpickled.

    Raises:
        DataError: the file is absent, not a saved recommender (an old pickled one included), or inconsistent.
    """
    error = "cannot read a recommender from {path}: {reason}; fit one with: socialfusion recommend fit --store DIR"
    with Archive(path, "recommender", error=error) as archive:
        document = archive.document(_DOCUMENT)
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise archive.invalid(f"{_DOCUMENT} is not a {_FORMAT} document")
        model = ModelReader(archive, {"recommender": _decode_recommender, "csr": _decode_sparse}
                            ).read(document["model"])
        if not isinstance(model, _Recommender) or not hasattr(model, "items_"):
            raise archive.invalid(f"it holds a {type(model).__name__}, not a fitted recommender")
    return model


def _encode_recommender(writer: ModelWriter, value: Any, name: str) -> Any:
    """``ModelWriter`` hook: a registered recommender as its name, parameters and (when fitted) state."""
    if not isinstance(value, _Recommender):
        return NotImplemented
    kind = next((kind for kind, cls in RECOMMENDERS.items() if type(value) is cls), None)
    if kind is None:
        raise ConfigurationError(f"cannot save a {type(value).__name__}: only the registered recommenders "
                                 f"({', '.join(RECOMMENDERS)}) can be saved")
    params = {key: item for key, item in vars(value).items() if not key.endswith("_") and not key.startswith("_")}
    node = {TYPE: "recommender", "kind": kind, "params": writer.encode(params, f"{name}/params"), "state": None}
    if hasattr(value, "items_"):
        saved = _SHARED_STATE + _SAVED_STATE[kind]
        unknown = sorted(key for key in vars(value) if key.endswith("_") and not key.startswith("_")
                         and key not in saved + _DERIVED_STATE)
        if unknown:
            raise ConfigurationError(f"cannot save a {type(value).__name__}: the fitted attributes {unknown} have no "
                                     f"place in the file; list them in _SAVED_STATE[{kind!r}]")
        node["state"] = {key: writer.encode(getattr(value, key), f"{name}/{key}") for key in saved}
    return node


def _decode_recommender(reader: ModelReader, node: dict) -> _Recommender:
    """``ModelReader`` hook: the recommender a ``"recommender"`` node describes, built from its registered class."""
    kind = node["kind"]
    cls = RECOMMENDERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise reader.archive.invalid(f"a recommender of unknown kind {kind!r}; known: {', '.join(RECOMMENDERS)}")
    params = reader.decode(node["params"])
    accepted = set(inspect.signature(cls).parameters)
    if not isinstance(params, dict) or not set(params) <= accepted:
        raise reader.archive.invalid(f"the parameters of the {kind} recommender are not among {sorted(accepted)}")
    model = cls(**params)
    state = node["state"]
    if state is None:
        return model
    saved = _SHARED_STATE + _SAVED_STATE[kind]
    if not isinstance(state, dict) or not set(saved) - set(_ADDED_STATE) <= set(state) <= set(saved):
        raise reader.archive.invalid(f"the {kind} recommender's state should be {list(saved)}")
    for key in saved:
        setattr(model, key, reader.decode(state[key]) if key in state else _ADDED_STATE[key])
    ids = (model.users_, model.items_)
    if not all(isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype == object for values in ids):
        raise reader.archive.invalid(f"the {kind} recommender's users_ and items_ are not id arrays")
    if getattr(model.seen_, "shape", None) != (len(model.users_), len(model.items_)):
        raise reader.archive.invalid(f"the {kind} recommender's seen_ matrix does not match its users and items")
    if kind == "hybrid" and not _stack_fits(model.stack_, len(model.components_)):
        raise reader.archive.invalid("the hybrid's stacked model does not match its components")
    model.user_index_ = {user: code for code, user in enumerate(model.users_)}
    model.item_index_ = {item: code for code, item in enumerate(model.items_)}
    return model


def _stack_fits(stack: Any, components: int) -> bool:
    """Whether a loaded hybrid's ``stack_`` is None or a stacked model over that many components."""
    if stack is None:
        return True
    shape = (2 * components + 1,)
    return (isinstance(stack, dict) and isinstance(stack.get("intercept"), float)
            and all(isinstance(stack.get(key), np.ndarray) and stack[key].dtype.kind == "f"
                    and stack[key].shape == shape for key in ("mean", "scale", "coef")))


def _encode_sparse(writer: ModelWriter, value: Any, name: str) -> Any:
    """``ModelWriter`` hook: a SciPy sparse matrix or array as its CSR arrays."""
    sparse = attempt_import("scipy.sparse", "recommend")
    if not sparse.issparse(value):
        return NotImplemented
    matrix = value.tocsr()
    return {TYPE: "csr", "matrix": isinstance(value, sparse.spmatrix), "shape": list(matrix.shape),
            **{part: writer.array(getattr(matrix, part), f"{name}/{part}") for part in ("data", "indices", "indptr")}}


def _decode_sparse(reader: ModelReader, node: dict) -> Any:
    """``ModelReader`` hook: a CSR matrix, checked in full (indices in range, ``indptr`` ordered) before any use."""
    sparse = attempt_import("scipy.sparse", "recommend")
    shape = tuple(int(size) for size in node["shape"])
    parts = [reader.array(node[part]) for part in ("data", "indices", "indptr")]
    if len(shape) != 2 or parts[0].dtype.kind not in "biuf" or any(part.dtype.kind not in "iu" for part in parts[1:]):
        raise reader.archive.invalid(f"a sparse matrix of shape {shape} with arrays of dtypes "
                                     f"{[str(part.dtype) for part in parts]}")
    matrix = (sparse.csr_matrix if node["matrix"] else sparse.csr_array)(tuple(parts), shape=shape)
    matrix.check_format(full_check=True)
    return matrix


# -- retrieval through the store's vector index ---------------------------------------------------------------

def write_item_vectors(
    store: Store,
    item_ids: Sequence[str],
    vectors: np.ndarray,
    *,
    table: str = ITEM_VECTORS_TABLE,
    index: str | None = None,
    index_options: Mapping[str, Any] | None = None,
) -> int:
    """Write unit-length item vectors to a store table ``(item, vector)``, optionally with an ANN index.

    Vectors are scaled to unit length, so the store's L2 search ranks by cosine similarity (and by dot
    product with a unit query). The index is built with ``Store.create_index`` (L2 metric).

    Args:
        store: a store (``socialfusion.store.connect``).
        item_ids: ``n`` item ids.
        vectors: ``(n, d)`` item vectors.
        table: the table written (replaced).
        index: None (exact search), or one of the store's vector index types (``socialfusion.store.INDEX_TYPES``)
            such as ``"IVF_HNSW_SQ"`` or ``"IVF_PQ"``.
        index_options: the index's parameters (``num_partitions``, ``num_sub_vectors``, ``m``, ...; see
            ``Store.create_index``).

    Returns:
        The number of rows written.

    Raises:
        DataError: ids and vectors disagree.
        ConfigurationError: an unknown index type or option.
        StoreError: the index cannot be built (e.g. too few items to train it).
    """
    matrix = _normalise_rows(np.asarray(vectors, np.float32))
    if matrix.ndim != 2 or len(matrix) != len(item_ids):
        raise DataError(f"vectors must be (len(item_ids)={len(item_ids)}, d); got {matrix.shape}.")
    rows = pa.table({"item": pa.array([str(item) for item in item_ids], pa.string()),
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])})
    written = store.write(table, rows, mode="overwrite")
    if index is not None:
        store.create_index(table, "vector", index_type=index, metric="l2", **dict(index_options or {}))
    return written


def exact_top_k(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by dot product: row indices and scores, best first.

    Examples:
        >>> exact_top_k(np.eye(3), np.array([0.0, 2.0, 1.0]), 2)
        (array([1, 2]), array([2., 1.]))
    """
    vectors = np.asarray(vectors)
    scores = vectors @ np.asarray(query, dtype=vectors.dtype)  # same dtype: no upcast copy of the matrix
    top, values = _top_k(scores[None, :], k)
    return top[0], values[0]


def retrieve(
    store: Store, user_vector: np.ndarray, k: int = 20, *, table: str = ITEM_VECTORS_TABLE,
    exact: bool = False, where: str | None = None, nprobes: int | None = None, refine_factor: int | None = None,
    ef: int | None = None,
) -> pa.Table:
    """The ``k`` items nearest to a user vector, through the store's vector search (or exactly).

    Args:
        store: a store with a ``write_item_vectors`` table.
        user_vector: ``(d,)`` the query (scaled to unit length).
        k: items returned.
        table: the item vector table.
        exact: brute force over every stored vector instead of the index (the baseline, and the fallback when
            the store cannot search).
        where: a SQL filter on the items (index search only), e.g. ``"item NOT IN ('a', 'b')"``.
        nprobes: IVF partitions searched (``Store.search``); more is slower and finds more of the true top k.
        refine_factor: re-rank ``refine_factor * k`` index hits by their exact vectors: recovers most of what a
            quantised index (PQ, SQ) misorders, and makes the scores exact.
        ef: HNSW search breadth (HNSW indexes).

    Returns:
        ``(item, score)`` best first, score the cosine similarity (approximate through a quantised index
        without ``refine_factor``).

    Raises:
        StoreError: no such table.

    Examples:
        >>> from socialfusion.store import connect
        >>> store = connect("memory://")
        >>> _ = write_item_vectors(store, ["a", "b", "c"], np.array([[1.0, 0], [0, 1.0], [0.7, 0.7]]))
        >>> retrieve(store, np.array([1.0, 0.1]), 2).column("item").to_pylist()
        ['a', 'c']
    """
    query = _normalise_rows(np.asarray(user_vector, np.float32)[None, :])[0]
    if not exact:
        try:
            found = store.search(table, query, k=k, where=where, nprobes=nprobes, refine_factor=refine_factor, ef=ef)
            distance = found.column("_distance").to_numpy()
            return pa.table({"item": found.column("item"), "score": pa.array(1.0 - distance / 2.0, pa.float64())})
        except StoreError as error:
            logger.warning("vector search of %r failed (%s); searching exactly", table, error)
    rows = store.read(table, columns=["item", "vector"])
    matrix = np.asarray(rows.column("vector").combine_chunks().flatten().to_numpy(), np.float32).reshape(
        rows.num_rows, -1)
    top, scores = exact_top_k(matrix, query, k)
    return pa.table({"item": rows.column("item").take(pa.array(top)), "score": pa.array(scores, pa.float64())})


# -- report ---------------------------------------------------------------------------------------------------

def recommendation_section(
    evaluation: Mapping[str, Mapping[str, float]],
    examples: pa.Table | None = None,
    *,
    data: Corpus | None = None,
    note: str = "",
) -> ReportSection:
    """The report section of recommendation quality and example recommendations.

    Args:
        evaluation: method name -> ``ranking_metrics`` result (and optionally ``fit_seconds``).
        examples: ``recommend`` output for a few users.
        data: the corpus, to show each recommended item's text.
        note: a sentence on the protocol (split, items ranked).

    Returns:
        A ``ReportSection`` with key ``"recommend"``.
    """
    from socialfusion.report import Metrics, ReportSection, Table, Text

    blocks: list[Any] = []
    if evaluation:
        rows = [{"method": name, **{key: round(value, 4) if isinstance(value, float) else value
                                    for key, value in metrics.items()}} for name, metrics in evaluation.items()]
        best = max(evaluation, key=lambda name: evaluation[name].get("recall@20", evaluation[name].get(
            "recall@10", 0.0)))
        blocks.append(Metrics({"best method": best, **{key: value for key, value in evaluation[best].items()
                                                       if key.startswith(("recall", "ndcg"))}}))
        blocks.append(Table(rows, caption="Ranking quality on held-out interactions (Recall@k = hits / relevant "
                                          "items; NDCG@k; every unseen item ranked). " + note))
    if examples is not None and examples.num_rows:
        shown = examples
        if data is not None and data.posts.num_rows:
            text = dict(zip(data.posts.column("post_id").to_pylist(), data.posts.column("text").to_pylist()))
            shown = examples.append_column("text", pa.array([(text.get(item) or "")[:80]
                                                             for item in examples.column("item").to_pylist()]))
        blocks.append(Table(shown, caption="Example recommendations.", max_rows=30))
    if not blocks:
        blocks.append(Text("Fit a recommender with: socialfusion recommend fit --store DIR, then analyse again."))
    return ReportSection(title="Recommendations", key="recommend",
                         summary="What to recommend to each user, and how well held-out interactions are found.",
                         blocks=blocks)
