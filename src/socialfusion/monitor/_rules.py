"""Alert rules: each reads the store (and the posts new this cycle) and returns its findings, the alerts it
would fire; deduplication by episode happens later (``_loop``).

Two shapes of rule:

- *conditions* (opinion, burst, volume): hold or not for a subject (a key, or ``*``) at the last observed period;
  a subject's episode lasts while its condition holds, and fires one alert when it begins.
- *events* (keyword, entity, reshares): happen to posts; each post is evidence of one alert of a rule and
  subject at most (a term, or the post itself), so a post that reaches N reshares fires once, ever.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.monitor._config import (
    BurstRule,
    EntityRule,
    KeywordRule,
    OpinionRule,
    ResharesRule,
    RuleConfig,
    VolumeRule,
)
from socialfusion.monitor._state import EvidencePost
from socialfusion.store import Store

__all__ = ["CONDITION_KINDS", "CycleData", "Finding", "evaluate_rule"]

CONDITION_KINDS = frozenset({"opinion", "burst", "volume"})
"""Rule kinds whose alerts are episodes of a condition; the others are events of posts."""

_ALL = "*"
_POST_COLUMNS = ["post_id", "author_id", "created_at", "text", "lang", "hashtags", "mentions"]


@dataclass
class Finding:
    """An alert a rule would fire: about ``subject``, with its numbers and the posts behind it."""

    rule: str
    kind: str
    subject: str
    title: str
    numbers: dict[str, Any]
    posts: list[EvidencePost]
    name: str | None = None


@dataclass
class CycleData:
    """What the rules of one cycle read, each read once: the posts, the keys by kind, and the new posts."""

    store: Store
    new_post_ids: list[str]
    _cache: dict[Any, Any] = field(default_factory=dict)

    def _once(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def posts(self) -> pa.Table:
        """The store's posts (the columns the rules read)."""
        return self._once("posts", lambda: self.store.read("posts", columns=_POST_COLUMNS))

    def new_posts(self) -> pa.Table:
        """The posts new this cycle (collected and not yet processed)."""
        posts = self.posts()
        return self._once(
            "new",
            lambda: posts.filter(pc.is_in(posts.column("post_id"), value_set=pa.array(self.new_post_ids, pa.string()))),
        )

    def keys(self, by: str) -> pa.Table:
        """``(post_id, key)`` of every post: its hashtags, its topic, or ``*`` for every post."""
        from socialfusion.tasks.trends import key_assignment

        if by == "all":
            ids = self.posts().column("post_id")
            return self._once(
                ("keys", by), lambda: pa.table({"post_id": ids, "key": pa.array([_ALL] * len(ids), pa.string())})
            )
        return self._once(("keys", by), lambda: key_assignment(self.store, by))

    def names(self, by: str) -> dict[str, str]:
        """Topic id -> label when the keys are topics."""
        from socialfusion.app._analyses import _names

        return self._once(("names", by), lambda: _names(self.store, by))

    def series(self, by: str, freq: str) -> pa.Table:
        """The volume series of the keys (``socialfusion.tasks.trends.volume_series``)."""
        from socialfusion.tasks.trends import volume_series

        return self._once(("series", by, freq), lambda: volume_series(self.posts(), self.keys(by), freq=freq))

    def handles(self) -> dict[str, str]:
        """User id -> handle (lower-case, without @)."""

        def read() -> dict[str, str]:
            users = self.store.read("users", columns=["user_id", "handle"])
            return {
                user: handle.lstrip("@").lower()
                for user, handle in zip(users.column("user_id").to_pylist(), users.column("handle").to_pylist())
                if handle
            }

        return self._once("handles", read)


def _evidence(posts: pa.Table, ids: Sequence[str], limit: int) -> list[EvidencePost]:
    """The posts ``ids`` (in that order, at most ``limit``) with their texts, excerpted as opinion alerts quote."""
    from socialfusion.tasks.opinion import _excerpt

    ids = list(dict.fromkeys(ids))[:limit]
    rows = posts.filter(pc.is_in(posts.column("post_id"), value_set=pa.array(ids, pa.string())))
    texts = dict(zip(rows.column("post_id").to_pylist(), rows.column("text").to_pylist()))
    return [EvidencePost(post_id=post_id, text=_excerpt(texts.get(post_id))) for post_id in ids]


def _latest_posts(data: CycleData, by: str, key: str, start: dt.datetime, limit: int) -> list[str]:
    """The key's posts created at or after ``start``, latest first."""
    posts, keys = data.posts(), data.keys(by)
    ids = keys.filter(pc.equal(keys.column("key"), key)).column("post_id")
    chosen = posts.filter(
        pc.and_(
            pc.is_in(posts.column("post_id"), value_set=ids),
            pc.greater_equal(posts.column("created_at"), pa.scalar(start, posts.schema.field("created_at").type)),
        )
    )
    chosen = chosen.sort_by([("created_at", "descending"), ("post_id", "ascending")])
    return chosen.column("post_id").slice(0, limit).to_pylist()


def _key_finding(
    rule: BurstRule | VolumeRule, data: CycleData, key: str, title: str, numbers: dict[str, Any], *, since: dt.datetime
) -> Finding:
    """A finding about a key, with its latest posts since ``since`` as evidence."""
    ids = _latest_posts(data, rule.by, key, since, rule.examples)
    return Finding(
        rule.name,
        rule.kind,
        key,
        title,
        numbers,
        _evidence(data.posts(), ids, rule.examples),
        data.names(rule.by).get(key),
    )


def _opinion(rule: OpinionRule, data: CycleData) -> list[Finding]:
    from socialfusion.app import OpinionAlertsParams, opinion_alerts

    found = opinion_alerts(
        data.store,
        OpinionAlertsParams(
            by=rule.by,
            freq=rule.freq,
            window=rule.window,
            baseline=rule.baseline,
            alpha=rule.alpha,
            min_posts=rule.min_posts,
            latest=True,
            examples=rule.examples,
            k=1000,
        ),
    )
    findings = []
    for alert in found.alerts:
        numbers = alert.model_dump(mode="json", exclude={"key", "name", "examples"})
        label = alert.name or alert.key
        title = (
            f"negative share of {label!r} rose to {alert.window_share:.0%} "
            f"(baseline {alert.baseline_share:.0%}; {alert.window_negative} of {alert.window_posts} posts)"
        )
        findings.append(
            Finding(
                rule.name,
                rule.kind,
                alert.key,
                title,
                numbers,
                [EvidencePost(post_id=post.post_id, text=post.text) for post in alert.examples],
                alert.name,
            )
        )
    return findings


def _burst(rule: BurstRule, data: CycleData) -> list[Finding]:
    from socialfusion.tasks.trends import emerging_topics

    series = data.series(rule.by, rule.freq)
    found = (
        emerging_topics(
            series,
            method=rule.method,
            within=rule.within,
            top=1000,
            alpha=rule.alpha,
            window=rule.window,
            min_count=rule.min_count,
        )
        if rule.method != "kleinberg"
        else emerging_topics(series, method=rule.method, within=rule.within, top=1000)
    )
    names = data.names(rule.by)
    findings = []
    for row in found.to_pylist():
        label = names.get(row["key"], row["key"])
        title = (
            f"{label!r} is bursting: {row['latest']} posts in the last period, {row['before']:.1f} per period before"
        )
        numbers = {name: row[name] for name in ("start", "periods", "posts", "score", "latest", "before")}
        findings.append(_key_finding(rule, data, row["key"], title, numbers, since=row["start"]))
    return findings


def _volume(rule: VolumeRule, data: CycleData) -> list[Finding]:
    series = data.series(rule.by, rule.freq)
    observed = series.filter(pc.is_valid(series.column("count")))
    if observed.num_rows == 0:
        return []
    last = pc.max(observed.column("period"))
    latest = observed.filter(pc.equal(observed.column("period"), last))
    if rule.key is not None:
        latest = latest.filter(pc.equal(latest.column("key"), rule.key))
    latest = latest.filter(pc.greater_equal(latest.column("count"), rule.threshold))
    names = data.names(rule.by)
    findings = []
    for row in latest.to_pylist():
        label = "all posts" if row["key"] == _ALL else repr(names.get(row["key"], row["key"]))
        title = (
            f"{row['count']} posts of {label} in the period from {row['period']:%Y-%m-%d %H:%M} UTC "
            f"(threshold {rule.threshold})"
        )
        numbers = {"period": row["period"], "count": row["count"], "threshold": rule.threshold, "total": row["total"]}
        findings.append(_key_finding(rule, data, row["key"], title, numbers, since=row["period"]))
    return findings


def _term_matches(term: str, posts: pa.Table) -> list[str]:
    """Ids of the posts that contain ``term``: as whole words of the text in any case, or as a hashtag or mention."""
    bare = term.lstrip("#@").casefold()
    pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
    matched = []
    for post_id, text, hashtags, mentions in zip(
        *(posts.column(name).to_pylist() for name in ("post_id", "text", "hashtags", "mentions"))
    ):
        tags = {tag.lstrip("#@").casefold() for tag in (hashtags or []) + (mentions or [])}
        if bare in tags or (text and pattern.search(text)):
            matched.append(post_id)
    return matched


def _appearances(
    rule: KeywordRule | EntityRule, data: CycleData, matches: dict[str, list[str]], what: str
) -> list[Finding]:
    findings = []
    for term, ids in matches.items():
        if ids:
            title = f"{what} {term!r} appeared in {len(ids)} new post{'s' if len(ids) != 1 else ''}"
            findings.append(
                Finding(
                    rule.name,
                    rule.kind,
                    term,
                    title,
                    {"posts": len(ids), "post_ids": ids},
                    _evidence(data.posts(), ids, max(rule.examples, 1)),
                )
            )
    return findings


def _keyword(rule: KeywordRule, data: CycleData) -> list[Finding]:
    new = data.new_posts()
    return _appearances(rule, data, {term: _term_matches(term, new) for term in rule.terms}, "keyword")


def _entity(rule: EntityRule, data: CycleData) -> list[Finding]:
    from socialfusion.tasks.knowledge import extract_entities, normalise_entity

    new = data.new_posts()
    if new.num_rows == 0:
        return []
    found = extract_entities(new.select(["post_id", "text", "lang"]))
    wanted = {normalise_entity(name).casefold(): name for name in rule.entities}
    matches: dict[str, list[str]] = {name: [] for name in rule.entities}
    for post_id, entity in zip(found.column("post_id").to_pylist(), found.column("entity").to_pylist()):
        name = wanted.get(entity.casefold())
        if name is not None and post_id not in matches[name]:
            matches[name].append(post_id)
    return _appearances(rule, data, matches, "entity")


def _reshares(rule: ResharesRule, data: CycleData) -> list[Finding]:
    posts = data.store.read("posts", columns=["post_id", "author_id", "share_count", "reshare_of"])
    counted = (
        posts.filter(pc.is_valid(posts.column("reshare_of"))).group_by("reshare_of").aggregate([("post_id", "count")])
    )
    reshares = dict(zip(counted.column("reshare_of").to_pylist(), counted.column("post_id_count").to_pylist()))
    handles = data.handles() if rule.accounts else {}
    watched = {account.lstrip("@").casefold() for account in rule.accounts}
    findings = []
    for post_id, author, shares in zip(
        *(posts.column(name).to_pylist() for name in ("post_id", "author_id", "share_count"))
    ):
        count = max(shares or 0, reshares.get(post_id, 0))
        if count < rule.threshold:
            continue
        if watched and (author or "").casefold() not in watched and handles.get(author) not in watched:
            continue
        title = (
            f"post {post_id} by {author or 'an unknown author'} reached {count} reshares (threshold {rule.threshold})"
        )
        findings.append(
            Finding(
                rule.name,
                rule.kind,
                post_id,
                title,
                {
                    "reshares": count,
                    "share_count": shares,
                    "reshares_in_store": reshares.get(post_id, 0),
                    "author_id": author,
                    "threshold": rule.threshold,
                },
                _evidence(data.posts(), [post_id], 1),
            )
        )
    return findings


_EVALUATORS: dict[str, Callable[[Any, CycleData], list[Finding]]] = {
    "opinion": _opinion,
    "burst": _burst,
    "volume": _volume,
    "keyword": _keyword,
    "entity": _entity,
    "reshares": _reshares,
}


def evaluate_rule(rule: RuleConfig, data: CycleData) -> list[Finding]:
    """The findings of one rule over the store and this cycle's new posts.

    Raises:
        SocialFusionError: the rule cannot be evaluated (for example ``by = "topic"`` without topics).
    """
    findings = _EVALUATORS[rule.kind](rule, data)
    for finding in findings:
        finding.numbers = {
            name: (
                value.isoformat()
                if isinstance(value, dt.datetime)
                else value.item()
                if isinstance(value, np.generic)
                else value
            )
            for name, value in finding.numbers.items()
        }
    return findings
