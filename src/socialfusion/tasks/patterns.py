"""Hidden patterns in a corpus: association rules between what posts carry, and segments of users by what they post.

``association_rules`` mines rules such as ``{#marathon} -> {#running}`` with FP-growth (Han, Pei & Yin 2000;
mlxtend's ``fpgrowth`` and ``association_rules`` on a sparse one-hot table of posts x items). ``user_segments``
clusters users by the share of their posts on each key (a topic, a hashtag, an entity: any post -> key
assignment), TF-IDF weighted, with k-means and, unless given, the number of segments that maximises the
silhouette.

mlxtend comes with the ``analysis`` extra, scikit-learn with ``graph`` or ``analysis``; both are imported only when
a function here runs.

Examples:
    >>> import pyarrow as pa
    >>> posts = pa.table({"post_id": ["1", "2", "3", "4"], "text": ["", "", "", ""],
    ...                   "hashtags": [["run", "marathon"], ["run", "marathon"], ["run"], ["cook"]]})
    >>> rules = association_rules(posts, items=["hashtag"], min_support=0.5, min_confidence=0.9)
    >>> rules.select(["antecedent", "consequent", "confidence"]).to_pylist()
    [{'antecedent': ['hashtag:marathon'], 'consequent': ['hashtag:run'], 'confidence': 1.0}]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.tasks._clustering import kmeans_by_silhouette
from socialfusion.tasks.knowledge import ITEM_KINDS, ITEM_SCHEMA, node_label, post_items

if TYPE_CHECKING:
    from socialfusion.report import ReportSection

__all__ = ["RULE_SCHEMA", "InterestSegments", "association_rules", "patterns_section", "user_segments"]

logger = logging.getLogger(__name__)

RULE_SCHEMA = pa.schema([("antecedent", pa.list_(pa.string())), ("consequent", pa.list_(pa.string())),
                         ("support", pa.float64()), ("confidence", pa.float64()), ("lift", pa.float64()),
                         ("posts", pa.int64())])
_USER_SCHEMA = pa.schema([("user_id", pa.string()), ("segment", pa.int64())])
_SEGMENT_SCHEMA = pa.schema([("segment", pa.int64()), ("size", pa.int64()), ("top_keys", pa.list_(pa.string())),
                             ("top_shares", pa.list_(pa.float64()))])


class InterestSegments(NamedTuple):
    """Users grouped by what they post about.

    Attributes:
        users: ``user_id, segment`` (segment 0 is the largest, then by size), sorted by user id.
        segments: ``segment, size, top_keys, top_shares``: the keys with the largest mean share of a member's
            posts, and those shares.
        n_segments: the number of segments.
        silhouette: the silhouette of the partition (cosine geometry of the TF-IDF rows); NaN with one segment.
    """

    users: pa.Table
    segments: pa.Table
    n_segments: int
    silhouette: float


def _transactions(posts: pa.Table, items: Sequence[str], extra_items: pa.Table | None,
                  entities: pa.Table | None) -> pa.Table:
    """``post_id, item, kind`` of the kinds asked for: built-in kinds from ``post_items``, others from extra_items."""
    built_in = [kind for kind in items if kind in ITEM_KINDS]
    tables = [post_items(posts, entities, kinds=built_in)] if built_in else []
    if extra_items is not None:
        if "post_id" not in extra_items.column_names or "item" not in extra_items.column_names:
            raise DataError("extra_items needs columns post_id and item (kind optional); "
                            f"got {extra_items.column_names}")
        rows = extra_items.to_pylist()
        if "kind" in extra_items.column_names:
            rows = [{"post_id": row["post_id"], "item": f"{row['kind']}:{row['item']}", "kind": row["kind"]}
                    for row in rows if row["kind"] in items and row["item"] is not None]
        else:
            rows = [{"post_id": row["post_id"], "item": str(row["item"]), "kind": "extra"}
                    for row in rows if row["item"] is not None]
        tables.append(pa.Table.from_pylist(rows, schema=ITEM_SCHEMA))
    absent = [kind for kind in items if kind not in ITEM_KINDS and not any(
        kind in table.column("kind").to_pylist() for table in tables)]
    if absent:
        logger.info("association_rules: no items of kind %s (give them as extra_items with a kind column)", absent)
    return pa.concat_tables(tables) if tables else ITEM_SCHEMA.empty_table()


def association_rules(
    posts: pa.Table,
    items: Sequence[str] = ("hashtag", "entity", "image_tag"),
    *,
    min_support: float = 0.01,
    min_confidence: float = 0.5,
    max_len: int | None = 3,
    extra_items: pa.Table | None = None,
    entities: pa.Table | None = None,
) -> pa.Table:
    """Association rules between the items of posts: ``A -> B`` when posts carrying A often carry B too.

    Each post is one transaction (posts without any item count too: support is a share of all posts). Items are
    knowledge-graph node ids (``hashtag:ai``, ``person:Ada Lovelace``, ``user:u1``, ``domain:x.org``, see
    ``post_items``). Kinds other than ``ITEM_KINDS`` (e.g. ``"image_tag"`` from an image tagger, or topics) come
    from ``extra_items`` rows of that ``kind``, as ``"{kind}:{item}"``; a kind with no rows adds nothing.

    - support(A -> B): share of posts carrying A and B;
    - confidence: support(A and B) / support(A);
    - lift: confidence / support(B) (above 1: B is likelier with A than without).

    Args:
        posts: a posts table (``post_id``, ``text`` and the list columns that the kinds read).
        items: which item kinds make the transactions.
        min_support: smallest support of a frequent itemset, in (0, 1].
        min_confidence: smallest confidence of a rule, in [0, 1].
        max_len: largest itemset (antecedent plus consequent); None for no limit.
        extra_items: ``post_id, item`` and optionally ``kind`` (rows whose kind is not in ``items`` are skipped;
            without a ``kind`` column every row is used, the item as given).
        entities: an ``extract_entities`` table, to avoid running NER again; None runs it when ``"entity"`` is
            among ``items``.

    Returns:
        ``antecedent, consequent`` (sorted lists of items), ``support, confidence, lift`` and ``posts`` (how many
        carry both sides) per rule (``RULE_SCHEMA``), by lift, then confidence, then support, descending.

    Raises:
        ConfigurationError: a threshold out of range or ``max_len`` below 2.
        DataError: ``posts`` lacks ``post_id``, or ``extra_items`` lacks its columns.
        MissingDependencyError: mlxtend is not installed.
    """
    if not 0 < min_support <= 1:
        raise ConfigurationError(f"min_support must be in (0, 1]; got {min_support}")
    if not 0 <= min_confidence <= 1:
        raise ConfigurationError(f"min_confidence must be in [0, 1]; got {min_confidence}")
    if max_len is not None and max_len < 2:
        raise ConfigurationError(f"max_len must be at least 2 (a rule has two sides) or None; got {max_len}")
    if "post_id" not in posts.column_names:
        raise DataError(f"association_rules needs a posts table with post_id; got {posts.column_names}")
    n_posts = posts.num_rows
    found = _transactions(posts, items, extra_items, entities)
    if n_posts == 0 or found.num_rows == 0:
        return RULE_SCHEMA.empty_table()
    position = {post_id: index for index, post_id in enumerate(posts.column("post_id").to_pylist())}
    pairs = {(position[row["post_id"]], row["item"]) for row in found.select(["post_id", "item"]).to_pylist()
             if row["post_id"] in position}
    counts: dict[str, int] = {}
    for _, item in pairs:
        counts[item] = counts.get(item, 0) + 1
    # An item below the support threshold is in no frequent itemset: leave it out of the one-hot table.
    frequent_items = sorted(item for item, count in counts.items() if count >= min_support * n_posts - 1e-9)
    if len(frequent_items) < 2:
        return RULE_SCHEMA.empty_table()
    column = {item: index for index, item in enumerate(frequent_items)}
    kept = sorted((row, column[item]) for row, item in pairs if item in column)
    rules = _mine(kept, n_posts, frequent_items, min_support, min_confidence, max_len)
    return rules


def _mine(cells: list[tuple[int, int]], n_posts: int, columns: list[str], min_support: float,
          min_confidence: float, max_len: int | None) -> pa.Table:
    """FP-growth and rule generation on a sparse boolean posts x items table given as its true cells."""
    import pandas as pd
    from scipy import sparse

    frequent_patterns = attempt_import("mlxtend.frequent_patterns", "analysis")
    rows, cols = (np.asarray(side, dtype=np.int64) for side in zip(*cells, strict=True))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_posts, len(columns)))
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix, columns=columns)
    itemsets = frequent_patterns.fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    if itemsets.empty or itemsets["itemsets"].map(len).max() < 2:
        return RULE_SCHEMA.empty_table()
    found = frequent_patterns.association_rules(itemsets, num_itemsets=n_posts, metric="confidence",
                                                min_threshold=min_confidence,
                                                return_metrics=["support", "confidence", "lift"])
    records = [{"antecedent": sorted(row.antecedents), "consequent": sorted(row.consequents),
                "support": float(row.support), "confidence": float(row.confidence), "lift": float(row.lift),
                "posts": round(row.support * n_posts)} for row in found.itertuples()]
    records.sort(key=lambda rule: (-rule["lift"], -rule["confidence"], -rule["support"], rule["antecedent"],
                                   rule["consequent"]))
    return pa.Table.from_pylist(records, schema=RULE_SCHEMA)


def _key_column(keys: pa.Table, key_column: str | None) -> str:
    if "post_id" not in keys.column_names:
        raise DataError(f"keys needs a post_id column and a key column; got {keys.column_names}")
    if key_column is not None:
        if key_column not in keys.column_names:
            raise ConfigurationError(f"key_column {key_column!r} is not a column of keys ({keys.column_names})")
        return key_column
    others = [name for name in keys.column_names if name != "post_id"]
    if len(others) != 1:
        raise ConfigurationError(f"keys has columns {others} besides post_id; say which holds the key with "
                                 "key_column=...")
    return others[0]


def user_segments(
    posts: pa.Table,
    keys: pa.Table,
    n_segments: int | None = None,
    *,
    key_column: str | None = None,
    max_segments: int = 10,
    top: int = 5,
    random_state: int = 0,
) -> InterestSegments:
    """Cluster users by what they post about.

    Each user becomes a row of shares: the share of their keyed posts carrying each key (a post with two keys
    counts for both). Rows are TF-IDF weighted (keys that every user posts about weigh less) and scaled to unit
    length, then clustered by k-means (10 seeded starts). When ``n_segments`` is None, every k from 2 to
    ``max_segments`` (and below the number of distinct users' rows) is tried and the one with the best
    silhouette is kept; fewer than three users make one segment.

    Args:
        posts: a posts table with ``post_id`` and ``author_id`` (posts without an author are ignored).
        keys: a post -> key table: ``post_id`` and one key column (topic ids from a topic model, hashtags from
            ``post_items``, ...); keys are compared as strings.
        n_segments: the number of segments; None chooses it by silhouette.
        key_column: the key column's name when ``keys`` has more than one besides ``post_id``.
        max_segments: the largest k tried when choosing.
        top: how many keys describe each segment.
        random_state: seed of k-means.

    Returns:
        ``InterestSegments(users, segments, n_segments, silhouette)``.

    Raises:
        ConfigurationError: ``n_segments`` below 1 or above the number of users; ``max_segments`` below 2;
            ``top`` below 1; an ambiguous or unknown key column.
        DataError: ``posts`` lacks ``post_id`` or ``author_id``; ``keys`` lacks ``post_id``.

    Examples:
        >>> import pyarrow as pa
        >>> posts = pa.table({"post_id": list("abcdef"), "author_id": ["u1", "u1", "u2", "u3", "u4", "u4"]})
        >>> keys = pa.table({"post_id": list("abcdef"), "topic": ["cats", "cats", "cats", "cars", "cars", "cars"]})
        >>> found = user_segments(posts, keys)
        >>> found.users.column("segment").to_pylist(), found.segments.column("top_keys").to_pylist()
        ([0, 0, 1, 1], [['cats'], ['cars']])
    """
    if n_segments is not None and n_segments < 1:
        raise ConfigurationError(f"n_segments must be at least 1 or None; got {n_segments}")
    if max_segments < 2:
        raise ConfigurationError(f"max_segments must be at least 2; got {max_segments}")
    if top < 1:
        raise ConfigurationError(f"top must be at least 1; got {top}")
    missing = [name for name in ("post_id", "author_id") if name not in posts.column_names]
    if missing:
        raise DataError(f"user_segments needs posts with post_id and author_id; missing {missing}")
    column = _key_column(keys, key_column)
    author_of = {row["post_id"]: row["author_id"] for row in posts.select(["post_id", "author_id"]).to_pylist()
                 if row["author_id"] is not None}
    pairs = [(author_of[row["post_id"]], str(row[column])) for row in keys.select(["post_id", column]).to_pylist()
             if row["post_id"] in author_of and row[column] is not None]
    users = sorted({user for user, _ in pairs})
    if not users:
        return InterestSegments(_USER_SCHEMA.empty_table(), _SEGMENT_SCHEMA.empty_table(), 0, math.nan)
    if n_segments is not None and n_segments > len(users):
        raise ConfigurationError(f"n_segments={n_segments} is more than the {len(users)} users with keyed posts")
    key_names = sorted({key for _, key in pairs})
    shares = _share_matrix(pairs, users, key_names)
    labels, silhouette = _cluster(shares, n_segments, max_segments, random_state)
    from socialfusion.tasks.influence import _relabel_by_size

    labels = np.asarray(_relabel_by_size(labels.tolist()), dtype=np.int64)
    segment_rows = []
    for segment in range(int(labels.max()) + 1):
        mean_share = shares[labels == segment].mean(axis=0)
        order = [index for index in np.lexsort((np.arange(len(key_names)), -mean_share)) if mean_share[index] > 0]
        segment_rows.append({"segment": segment, "size": int(np.sum(labels == segment)),
                             "top_keys": [key_names[index] for index in order[:top]],
                             "top_shares": [float(mean_share[index]) for index in order[:top]]})
    return InterestSegments(pa.table({"user_id": users, "segment": labels}, schema=_USER_SCHEMA),
                    pa.Table.from_pylist(segment_rows, schema=_SEGMENT_SCHEMA), len(segment_rows), silhouette)


def _share_matrix(pairs: list[tuple[str, str]], users: list[str], keys: list[str]) -> np.ndarray:
    """``(users, keys)``: the share of each user's (post, key) pairs on each key; rows sum to 1."""
    user_index = {user: index for index, user in enumerate(users)}
    key_index = {key: index for index, key in enumerate(keys)}
    counts = np.zeros((len(users), len(keys)), dtype=np.float64)
    np.add.at(counts, ([user_index[user] for user, _ in pairs], [key_index[key] for _, key in pairs]), 1.0)
    return counts / counts.sum(axis=1, keepdims=True)


def _cluster(shares: np.ndarray, n_segments: int | None, max_segments: int,
             random_state: int) -> tuple[np.ndarray, float]:
    """k-means labels of the TF-IDF weighted share rows, and the silhouette (k chosen by it when None)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    weighted = TfidfTransformer().fit_transform(shares).toarray()
    return kmeans_by_silhouette(weighted, n_segments, max_clusters=max_segments, metric="cosine",
                                random_state=random_state)


def patterns_section(rules: pa.Table | None = None, segments: InterestSegments | None = None, *,
                     top: int = 20) -> ReportSection:
    """The report section of hidden patterns: the strongest association rules and the user segments.

    Args:
        rules: an ``association_rules`` table, or None.
        segments: ``user_segments``'s result, or None.
        top: rules listed.

    Returns:
        A ``ReportSection`` with key ``"patterns"``; its figure (segment sizes) has the div id
        ``patterns-segments``.

    Raises:
        ConfigurationError: ``top`` is below 1.

    Examples:
        >>> patterns_section().summary
        'No association rule or user segment was computed.'
    """
    from socialfusion.report import Figure, Metrics, ReportSection, Table, Text
    from socialfusion.report._figures import bar_chart
    from socialfusion.report._format import plural

    if top < 1:
        raise ConfigurationError(f"top must be at least 1; got {top}")
    title = "Hidden patterns"
    if rules is None and segments is None:
        return ReportSection(title=title, key="patterns", summary="No association rule or user segment was computed.")
    blocks: list = []
    parts = []
    if rules is not None:
        parts.append(plural(rules.num_rows, "association rule"))
        if rules.num_rows:
            shown = [{"if a post has": " + ".join(node_label(item) for item in row["antecedent"]),
                      "it also has": " + ".join(node_label(item) for item in row["consequent"]),
                      "posts": row["posts"], "support": row["support"], "confidence": row["confidence"],
                      "lift": row["lift"]} for row in rules.slice(0, top).to_pylist()]
            blocks.append(Table(shown, max_rows=top, caption=f"The {len(shown)} association rules with the highest "
                                "lift (lift above 1: the second side is likelier with the first than without)"))
        else:
            blocks.append(Text("No association rule reaches the support and confidence thresholds; lower them to "
                               "see weaker patterns."))
    if segments is not None:
        parts.append(plural(segments.n_segments, "user segment"))
        if segments.n_segments:
            blocks.insert(0, Metrics({"user segments": segments.n_segments,
                                      "users": int(sum(segments.segments.column("size").to_pylist())),
                                      "silhouette": segments.silhouette}))
            rows = segments.segments.to_pylist()
            blocks.append(Figure(bar_chart([f"segment {row['segment']}" for row in rows],
                                           [row["size"] for row in rows], value_title="users", horizontal=True),
                                 caption="Users per segment.", key="segments"))
            blocks.append(Table([{"segment": row["segment"], "users": row["size"],
                                  "posts mostly about": ", ".join(f"{node_label(key)} ({share:.0%})" for key, share
                                                                  in zip(row["top_keys"], row["top_shares"],
                                                                         strict=True))}
                                 for row in rows], caption="What the users of each segment post about (mean share "
                                                           "of a member's posts)", max_rows=max(len(rows), 1)))
        else:
            blocks.append(Text("No user has a keyed post, so there are no segments."))
    return ReportSection(title=title, key="patterns", summary=" and ".join(parts) + ".", blocks=blocks)
