"""Hidden patterns in a corpus: association rules between what posts carry, and segments of users by what they post.

``association_rules`` mines rules such as ``{#marathon} -> {#running}`` with FP-growth (Han, Pei & Yin 2000;
mlxtend's ``fpgrowth`` and ``association_rules`` on a sparse one-hot table of distinct texts x items): copies of a
post (the same text once lower-cased, without links, mentions and spaces) count once, and a rule needs posts from
several authors, so that a few reposted copies cannot make the strongest rules. ``user_segments`` clusters users
by the share of their posts on each key (a topic, a hashtag, an entity: any post -> key assignment), TF-IDF
weighted, with k-means and, unless given, the number of segments that maximises the silhouette; a best partition
that does no better than users with their keys shuffled is refused.

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
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.tasks._clustering import Clustering, kmeans_by_silhouette, no_structure_message
from socialfusion.tasks.knowledge import ITEM_KINDS, ITEM_SCHEMA, node_label, post_items

if TYPE_CHECKING:
    from socialfusion.report import ReportSection

__all__ = ["RULE_SCHEMA", "InterestSegments", "association_rules", "patterns_section", "text_key", "user_segments"]

logger = logging.getLogger(__name__)

RULE_SCHEMA = pa.schema([("antecedent", pa.list_(pa.string())), ("consequent", pa.list_(pa.string())),
                         ("support", pa.float64()), ("confidence", pa.float64()), ("lift", pa.float64()),
                         ("posts", pa.int64()), ("support_texts", pa.int64()), ("support_authors", pa.int64())])
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"[@＠][\w.]+")
_RETWEET = re.compile(r"^rt\b[\s:]*")
_USER_SCHEMA = pa.schema([("user_id", pa.string()), ("segment", pa.int64())])
_SEGMENT_SCHEMA = pa.schema([("segment", pa.int64()), ("size", pa.int64()), ("top_keys", pa.list_(pa.string())),
                             ("top_shares", pa.list_(pa.float64()))])


class InterestSegments(NamedTuple):
    """Users grouped by what they post about.

    Attributes:
        users: ``user_id, segment`` (segment 0 is the largest, then by size), sorted by user id.
        segments: ``segment, size, top_keys, top_shares``: the keys with the largest mean share of a member's
            posts, and those shares.
        n_segments: the number of segments (1 when the best partition was refused).
        silhouette: the silhouette of the best partition tried (cosine geometry of the TF-IDF rows), also when it
            was refused; NaN when no partition could be formed.
        rejected_k: None, or the number of segments of the best partition when it was refused as no structure
            (silhouette below ``MIN_SILHOUETTE``, or not above users with their keys shuffled across posts): then
            every user is in segment 0.
    """

    users: pa.Table
    segments: pa.Table
    n_segments: int
    silhouette: float
    rejected_k: int | None = None

    def describe(self) -> str:
        """What the segmentation found, in a line: ``"no segment structure found (best silhouette 0.02 at k=2)"``
        or ``"3 user segments, silhouette 0.41"``."""
        if self.rejected_k is not None:
            return no_structure_message(self.silhouette, self.rejected_k)
        if math.isnan(self.silhouette):
            return f"{self.n_segments} user segment{'s' if self.n_segments != 1 else ''}"
        return f"{self.n_segments} user segments, silhouette {self.silhouette:.2f}"


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


def text_key(text: str | None) -> str:
    """The form in which near-identical posts compare equal: NFKC, lower-case, no links, @mentions, leading "RT"
    or whitespace ("" for a post without text).

    Examples:
        >>> text_key("RT @ann:  Big NEWS https://t.co/x  ") == text_key("big news")
        True
    """
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = _MENTION.sub("", _URL.sub("", text))
    return "".join(_RETWEET.sub("", text.strip()).split())


def association_rules(
    posts: pa.Table,
    items: Sequence[str] = ("hashtag", "entity", "image_tag"),
    *,
    min_support: float = 0.01,
    min_confidence: float = 0.5,
    max_len: int | None = 3,
    min_authors: int = 3,
    extra_items: pa.Table | None = None,
    entities: pa.Table | None = None,
) -> pa.Table:
    """Association rules between the items of posts: ``A -> B`` when posts carrying A often carry B too.

    Each distinct text is one transaction: posts whose texts are the same once lower-cased and stripped of links,
    @mentions, a leading "RT" and whitespace (``text_key``) count once, carrying the items of all of them; posts
    without text count one each. Transactions without any item count too: support is a share of all distinct
    texts. Items are knowledge-graph node ids (``hashtag:ai``, ``person:Ada Lovelace``, ``user:u1``,
    ``domain:x.org``, see ``post_items``). Kinds other than ``ITEM_KINDS`` (e.g. ``"image_tag"`` from an image
    tagger, or topics) come from ``extra_items`` rows of that ``kind``, as ``"{kind}:{item}"``; a kind with no rows
    adds nothing.

    - support(A -> B): share of distinct texts carrying A and B;
    - confidence: support(A and B) / support(A);
    - lift: confidence / support(B) (above 1: B is likelier with A than without).

    A rule is kept only when the posts carrying both sides come from at least ``min_authors`` distinct authors
    (``author_id``); without authors in ``posts`` (no column, or all missing) that test cannot be made and is
    skipped, and ``support_authors`` is null.

    Args:
        posts: a posts table (``post_id``, ``text``, ``author_id`` and the list columns that the kinds read).
        items: which item kinds make the transactions.
        min_support: smallest support of a frequent itemset, in (0, 1].
        min_confidence: smallest confidence of a rule, in [0, 1].
        max_len: largest itemset (antecedent plus consequent); None for no limit.
        min_authors: fewest distinct authors behind a rule (1 keeps every rule).
        extra_items: ``post_id, item`` and optionally ``kind`` (rows whose kind is not in ``items`` are skipped;
            without a ``kind`` column every row is used, the item as given).
        entities: an ``extract_entities`` table, to avoid running NER again; None runs it when ``"entity"`` is
            among ``items``.

    Returns:
        ``antecedent, consequent`` (sorted lists of items), ``support, confidence, lift``, ``posts`` (posts carrying
        both sides, copies included), ``support_texts`` (distinct texts carrying both sides) and
        ``support_authors`` (their distinct authors) per rule (``RULE_SCHEMA``), by lift, then confidence, then
        support, then authors, descending.

    Raises:
        ConfigurationError: a threshold out of range, ``max_len`` below 2 or ``min_authors`` below 1.
        DataError: ``posts`` lacks ``post_id``, or ``extra_items`` lacks its columns.
        MissingDependencyError: mlxtend is not installed.
    """
    if not 0 < min_support <= 1:
        raise ConfigurationError(f"min_support must be in (0, 1]; got {min_support}")
    if not 0 <= min_confidence <= 1:
        raise ConfigurationError(f"min_confidence must be in [0, 1]; got {min_confidence}")
    if max_len is not None and max_len < 2:
        raise ConfigurationError(f"max_len must be at least 2 (a rule has two sides) or None; got {max_len}")
    if min_authors < 1:
        raise ConfigurationError(f"min_authors must be at least 1; got {min_authors}")
    if "post_id" not in posts.column_names:
        raise DataError(f"association_rules needs a posts table with post_id; got {posts.column_names}")
    found = _transactions(posts, items, extra_items, entities)
    if posts.num_rows == 0 or found.num_rows == 0:
        return RULE_SCHEMA.empty_table()
    post_ids = posts.column("post_id").to_pylist()
    texts = posts.column("text").to_pylist() if "text" in posts.column_names else [None] * len(post_ids)
    authors = posts.column("author_id").to_pylist() if "author_id" in posts.column_names else [None] * len(post_ids)
    keys: dict[str, int] = {}  # text key -> transaction
    transaction_of = []
    for index, text in enumerate(texts):
        key = text_key(text)
        transaction_of.append(keys.setdefault(key, len(keys)) if key else keys.setdefault(f"\0{index}", len(keys)))
    n_transactions = len(keys)
    position = {post_id: index for index, post_id in enumerate(post_ids)}
    item_posts: dict[str, set[int]] = defaultdict(set)
    for row in found.select(["post_id", "item"]).to_pylist():
        if row["post_id"] in position:
            item_posts[row["item"]].add(position[row["post_id"]])
    item_transactions = {item: {transaction_of[post] for post in carried} for item, carried in item_posts.items()}
    # An item below the support threshold is in no frequent itemset: leave it out of the one-hot table.
    frequent_items = sorted(item for item, carried in item_transactions.items()
                            if len(carried) >= min_support * n_transactions - 1e-9)
    if len(frequent_items) < 2:
        return RULE_SCHEMA.empty_table()
    cells = sorted((transaction, column) for column, item in enumerate(frequent_items)
                   for transaction in item_transactions[item])
    rules = _mine(cells, n_transactions, frequent_items, min_support, min_confidence, max_len)
    if rules.num_rows == 0:
        return rules
    known_authors = any(author is not None for author in authors)
    if not known_authors:
        logger.info("association_rules: the posts have no authors, so min_authors=%d cannot apply", min_authors)
    records = []
    for rule in rules.to_pylist():
        both = set.intersection(*(item_posts[item] for item in rule["antecedent"] + rule["consequent"]))
        rule["posts"] = len(both)
        rule["support_texts"] = len({transaction_of[post] for post in both})
        rule["support_authors"] = len({authors[post] for post in both if authors[post] is not None}) \
            if known_authors else None
        if not known_authors or rule["support_authors"] >= min_authors:
            records.append(rule)
    # rules tied on lift, confidence and support: those from more authors first
    records.sort(key=lambda rule: (-rule["lift"], -rule["confidence"], -rule["support"],
                                   -(rule["support_authors"] or 0), rule["antecedent"], rule["consequent"]))
    return pa.Table.from_pylist(records, schema=RULE_SCHEMA)


def _mine(cells: list[tuple[int, int]], n_transactions: int, columns: list[str], min_support: float,
          min_confidence: float, max_len: int | None) -> pa.Table:
    """FP-growth and rule generation on a sparse boolean transactions x items table given as its true cells."""
    import pandas as pd
    from scipy import sparse

    frequent_patterns = attempt_import("mlxtend.frequent_patterns", "analysis")
    rows, cols = (np.asarray(side, dtype=np.int64) for side in zip(*cells, strict=True))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_transactions, len(columns)))
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix, columns=columns)
    itemsets = frequent_patterns.fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    if itemsets.empty or itemsets["itemsets"].map(len).max() < 2:
        return RULE_SCHEMA.empty_table()
    found = frequent_patterns.association_rules(itemsets, num_itemsets=n_transactions, metric="confidence",
                                                min_threshold=min_confidence,
                                                return_metrics=["support", "confidence", "lift"])
    records = [{"antecedent": sorted(row.antecedents), "consequent": sorted(row.consequents),
                "support": float(row.support), "confidence": float(row.confidence), "lift": float(row.lift),
                "posts": round(row.support * n_transactions)} for row in found.itertuples()]
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
    silhouette is kept, unless it shows no structure: a silhouette below ``MIN_SILHOUETTE`` (0.1), or less than
    ``MIN_SILHOUETTE_GAIN`` (0.03) above the same clustering of the users with their keys shuffled across posts
    (see ``socialfusion.tasks._clustering``). Then every user is in one segment and ``rejected_k`` says which k
    was refused. Fewer than three users make one segment.

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
        ``InterestSegments(users, segments, n_segments, silhouette, rejected_k)``.

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
    found = _cluster(pairs, users, key_names, n_segments, max_segments, random_state)
    labels = found.labels
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
                            pa.Table.from_pylist(segment_rows, schema=_SEGMENT_SCHEMA), len(segment_rows),
                            found.silhouette, found.k if found.rejected else None)


def _share_matrix(pairs: list[tuple[str, str]], users: list[str], keys: list[str]) -> np.ndarray:
    """``(users, keys)``: the share of each user's (post, key) pairs on each key; rows sum to 1."""
    user_index = {user: index for index, user in enumerate(users)}
    key_index = {key: index for index, key in enumerate(keys)}
    counts = np.zeros((len(users), len(keys)), dtype=np.float64)
    np.add.at(counts, ([user_index[user] for user, _ in pairs], [key_index[key] for _, key in pairs]), 1.0)
    return counts / counts.sum(axis=1, keepdims=True)


def _cluster(pairs: list[tuple[str, str]], users: list[str], keys: list[str], n_segments: int | None,
             max_segments: int, random_state: int) -> Clustering:
    """k-means of the TF-IDF weighted share rows (k chosen by silhouette when None), against the null of the same
    (user, key) pairs with the keys shuffled across them: each user keeps their number of posts, each key its
    popularity, and who posts about what is left to chance."""
    from sklearn.feature_extraction.text import TfidfTransformer

    def weighted(rows: list[tuple[str, str]]) -> np.ndarray:
        return TfidfTransformer().fit_transform(_share_matrix(rows, users, keys)).toarray()

    shuffled = [key for _, key in pairs]
    np.random.default_rng(random_state).shuffle(shuffled)
    null = weighted([(user, key) for (user, _), key in zip(pairs, shuffled, strict=True)])
    return kmeans_by_silhouette(weighted(pairs), n_segments, max_clusters=max_segments, metric="cosine",
                                random_state=random_state, null_features=null)


def patterns_section(rules: pa.Table | None = None, segments: InterestSegments | None = None, *,
                     top: int = 20, note: str | None = None) -> ReportSection:
    """The report section of hidden patterns: the strongest association rules and the user segments.

    Args:
        rules: an ``association_rules`` table, or None.
        segments: ``user_segments``'s result, or None.
        top: rules listed.
        note: a line on what the rules were mined from (a sample, say), shown under them.

    Returns:
        A ``ReportSection`` with key ``"patterns"``; its figure (segment sizes) has the div id
        ``patterns-segments``. Segments refused as no structure (``rejected_k``) are said so, with their best
        silhouette, instead of shown.

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
                      "posts": row["posts"], "distinct texts": row["support_texts"],
                      "authors": row["support_authors"], "support": row["support"], "confidence": row["confidence"],
                      "lift": row["lift"]} for row in rules.slice(0, top).to_pylist()]
            blocks.append(Table(shown, max_rows=top, caption=f"The {len(shown)} association rules with the highest "
                                "lift (lift above 1: the second side is likelier with the first than without); "
                                "copies of a post count once, and each rule comes from several authors"))
        else:
            blocks.append(Text("No association rule reaches the support, confidence and author thresholds; lower "
                               "them to see weaker patterns."))
        if note:
            blocks.append(Text(note))
    if segments is not None and segments.rejected_k is not None:
        parts.append("no user segments")
        blocks.insert(0, Text(f"{segments.describe().capitalize()}: the users do not fall into groups by what they "
                              "post about any better than they would by chance, so they are not split."))
    elif segments is not None:
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
