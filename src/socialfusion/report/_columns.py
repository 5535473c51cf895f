"""How the report names table columns: one mapping from data names (``post_count``) to headers (``Posts``)."""

from __future__ import annotations

import re

__all__ = ["COLUMN_TITLES", "column_title"]

COLUMN_TITLES = {
    "adjusted_p": "Adjusted p",
    "author_id": "Author",
    "baseline_posts": "Posts in baseline",
    "baseline_share": "Negative share in baseline",
    "cascade_id": "Cascade",
    "created_at": "Created at",
    "display_name": "Display name",
    "duration_hours": "Duration (hours)",
    "fit_seconds": "Fit time (s)",
    "followers_count": "Followers",
    "following_count": "Following",
    "in_degree": "In-degree",
    "k-core": "k-core",
    "lang": "Language",
    "like_count": "Likes",
    "max_breadth": "Max breadth",
    "node_id": "Node",
    "p_value": "p-value",
    "pagerank": "PageRank",
    "post_count": "Posts",
    "post_id": "Post",
    "reply_count": "Replies",
    "reshares_per_hour": "Reshares per hour",
    "share_count": "Shares",
    "structural_virality": "Structural virality",
    "topic_id": "Topic",
    "user_id": "User",
    "view_count": "Views",
    "window_negative": "Negative posts in window",
    "window_posts": "Posts in window",
    "window_share": "Negative share in window",
    "z": "z",
}
"""Data column name -> table header, where the generic rule of ``column_title`` would read badly."""

_AT_K = re.compile(r"(recall|precision|ndcg|map|hit_rate|mrr)@(\d+)", re.IGNORECASE)
_AT_K_NAMES = {"recall": "Recall", "precision": "Precision", "ndcg": "NDCG", "map": "MAP", "hit_rate": "Hit rate",
               "mrr": "MRR"}


def column_title(name: str) -> str:
    """The header a report table shows for a data column.

    ``COLUMN_TITLES`` first; ranking metrics as ``Recall@10``; otherwise underscores become spaces and the first
    letter is upper-cased (a name already written for people, such as ``PageRank``, keeps its case).

    Examples:
        >>> [column_title(name) for name in ("post_count", "ndcg@10", "representative post", "PageRank", "z")]
        ['Posts', 'NDCG@10', 'Representative post', 'PageRank', 'z']
    """
    name = str(name)
    if name in COLUMN_TITLES:
        return COLUMN_TITLES[name]
    metric = _AT_K.fullmatch(name)
    if metric:
        return f"{_AT_K_NAMES[metric.group(1).lower()]}@{metric.group(2)}"
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words[:1].islower() else words
