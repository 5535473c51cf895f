"""What the dashboard's pages need that the API does not answer: the report's cards as JSON (the same section
builders as the HTML report: figures are Plotly JSON for ``Plotly.react``), sentiment and topic chips for a page
of posts, image thumbnails, the topics, and a user's profile card. Thin operations over the store."""

from __future__ import annotations

import datetime as dt
import html
import io
from typing import Any, Literal

import orjson
import pyarrow.compute as pc
from pydantic import Field, model_validator

from socialfusion.app._common import Identifier, Params, cached, check_user, clean, local_folder
from socialfusion.exceptions import ConfigurationError, MediaError, NotFoundError
from socialfusion.store import Store, sql_string

__all__ = ["DASHBOARD_SECTIONS", "SectionParams", "annotations", "section_json", "thumbnail", "topics", "user_card"]

DASHBOARD_SECTIONS = ("overview", "sentiment", "network", "topics", "trends", "opinion")
"""The report's cards the dashboard shows (``socialfusion.pipeline.REPORT_SECTIONS`` keys)."""

SectionKey = Literal[DASHBOARD_SECTIONS]
_SECTION_TABLES = [
    "posts",
    "users",
    "interactions",
    "edges",
    "labels",
    "post_topics",
    "topics",
    "sentiment_predictions",
]
MAX_ANNOTATED = 200
THUMBNAIL_PIXELS = 160
MAX_IMAGE_BYTES = 20 * 1024**2


class SectionParams(Params):
    """Which posts a card covers: whole UTC days from ``since`` through ``until``, and one topic."""

    since: dt.date | None = Field(None, description="First day (YYYY-MM-DD, UTC).")
    until: dt.date | None = Field(None, description="Last day, included.")
    topic_id: int | None = Field(None, ge=-1, le=1_000_000, description="Only posts of this topic.")

    @model_validator(mode="after")
    def _ordered(self) -> SectionParams:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self


def _topic_names(store: Store) -> dict[str, str]:
    from socialfusion.tasks.topics import TOPICS_TABLE, topic_names

    if TOPICS_TABLE not in store.tables():
        return {}
    return topic_names(store.read(TOPICS_TABLE, columns=["topic_id", "label"]))


def _of_topic(store: Store, corpus: Any, topic_id: int) -> Any:
    """The corpus with only the posts of one topic (the rest of it as it is)."""
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.topics import POST_TOPICS_TABLE

    if POST_TOPICS_TABLE not in store.tables():
        raise NotFoundError(
            f"store {store.uri!r} has no topics; fit some with: socialfusion topics fit", field="topic_id"
        )
    ids = store.read(POST_TOPICS_TABLE, where=f"topic_id = {int(topic_id)}", columns=["post_id"]).column("post_id")
    kept = corpus.posts.filter(pc.is_in(corpus.posts.column("post_id"), value_set=ids.combine_chunks()))
    return Corpus(**{**corpus.__dict__, "posts": kept})


def _block_json(block: Any, block_id: str | None) -> dict[str, Any]:
    from socialfusion.report import Figure, Metrics, Table, column_title
    from socialfusion.report._format import format_value

    if isinstance(block, Figure):
        return {
            "type": "figure",
            "id": block_id,
            "caption": block.caption,
            "figure": orjson.loads(block.figure.to_json()),
        }
    if isinstance(block, Table):
        columns, rows = block.head()
        return {
            "type": "table",
            "id": block_id,
            "caption": block.caption,
            "columns": [column_title(name) for name in columns],
            "total": block.num_rows,
            "rows": [[format_value(row.get(name)) for name in columns] for row in rows],
        }
    if isinstance(block, Metrics):
        return {
            "type": "metrics",
            "caption": block.caption,
            "values": [[name, format_value(value)] for name, value in block.values.items()],
        }
    return {"type": "text", "text": block.text}


def _section_json(section: Any) -> dict[str, Any]:
    from socialfusion.report import Figure, Table

    figures = iter(section.figure_ids())
    tables = iter(section.table_ids())
    blocks = [
        _block_json(
            block, next(figures) if isinstance(block, Figure) else next(tables) if isinstance(block, Table) else None
        )
        for block in section.blocks
    ]
    return {"key": section.key, "title": section.title, "summary": section.summary, "blocks": blocks}


def section_json(store: Store, key: str, params: SectionParams) -> dict[str, Any]:
    """One card of the report over the store's posts (``socialfusion.pipeline.report_sections``), as JSON.

    Figures are Plotly figure JSON, tables their first rows as shown in the report, metrics name/value pairs. A
    ``topics`` mapping from the names charts give topics (entity-escaped labels) to topic ids lets a page drill
    down from a clicked series to its posts.

    Raises:
        ConfigurationError: an unknown section key.
        NotFoundError: a topic filter on a store without topics.
    """
    from socialfusion.corpus import Corpus
    from socialfusion.pipeline import filter_corpus, report_sections
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, read_predictions

    if key not in DASHBOARD_SECTIONS:
        raise ConfigurationError(f"unknown section {key!r}; choose from {', '.join(DASHBOARD_SECTIONS)}")

    def compute() -> dict[str, Any]:
        corpus = filter_corpus(Corpus.from_store(store), since=params.since, until=params.until)
        if params.topic_id is not None:
            corpus = _of_topic(store, corpus, params.topic_id)
        predictions = read_predictions(store) if PREDICTIONS_TABLE in store.tables() else None
        built = report_sections(corpus, store=store, sentiment_predictions=predictions, sections=[key])
        if not built:
            return {
                "key": key,
                "title": key,
                "summary": "No posts.",
                "blocks": [{"type": "text", "text": "No posts match these filters."}],
            }
        return _section_json(built[0])

    payload = cached(store, _SECTION_TABLES, ("dashboard-section", key, params.model_dump(mode="json")), compute)
    names = _topic_names(store)
    return {**payload, "topics": {html.escape(label, quote=False): int(topic) for topic, label in names.items()}}


def topics(store: Store) -> list[dict[str, Any]]:
    """The store's topics: id, label, size and colour (the report's colour of that topic)."""
    from socialfusion.report._figures import topic_colors
    from socialfusion.tasks.topics import TOPICS_TABLE

    if TOPICS_TABLE not in store.tables():
        return []
    rows = store.read(TOPICS_TABLE, columns=["topic_id", "label", "size"]).sort_by("topic_id").to_pylist()
    colours = topic_colors(row["topic_id"] for row in rows)
    names = _topic_names(store)
    return [
        {
            "topic_id": row["topic_id"],
            "label": names.get(str(row["topic_id"]), row["label"]),
            "size": row["size"],
            "color": colours.get(str(row["topic_id"])),
        }
        for row in rows
    ]


def _in_list(ids: list[str]) -> str:
    return f"post_id IN ({', '.join(sql_string(post_id) for post_id in ids)})"


def annotations(store: Store, post_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per post id: its predicted sentiment (label, confidence) and its topic (id, label, colour), where known.

    Raises:
        ConfigurationError: more than ``MAX_ANNOTATED`` ids.
    """
    from socialfusion.report._figures import topic_colors

    if len(post_ids) > MAX_ANNOTATED:
        raise ConfigurationError(f"at most {MAX_ANNOTATED} post ids at once; got {len(post_ids)}")
    found: dict[str, dict[str, Any]] = {post_id: {} for post_id in post_ids}
    if not post_ids:
        return found
    tables = store.tables()
    if "sentiment_predictions" in tables:
        for row in store.read(
            "sentiment_predictions", where=_in_list(post_ids), columns=["post_id", "label", "confidence"]
        ).to_pylist():
            found[row["post_id"]]["sentiment"] = {"label": row["label"], "confidence": clean(row["confidence"])}
    if {"post_topics", "topics"} <= set(tables):
        names = _topic_names(store)
        rows = store.read("post_topics", where=_in_list(post_ids), columns=["post_id", "topic_id"]).to_pylist()
        colours = topic_colors(row["topic_id"] for row in rows)
        for row in rows:
            topic = str(row["topic_id"])
            found[row["post_id"]]["topic"] = {
                "topic_id": row["topic_id"],
                "label": names.get(topic),
                "color": colours.get(topic),
            }
    return found


def _image_bytes(store: Store, item: dict[str, Any]) -> bytes:
    from pathlib import Path

    if item.get("data") is not None:
        return item["data"]
    uri = item.get("uri") or ""
    if "://" in uri and not uri.startswith("file://"):
        raise MediaError(f"the image is at {uri!r}, outside the server: it is not fetched")
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute() and local_folder(store) is not None:
        path = local_folder(store) / path
    if not path.is_file():
        raise NotFoundError(f"the image file {uri!r} is not on the server", field="index")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise MediaError(f"the image file {uri!r} is larger than {MAX_IMAGE_BYTES:,} bytes")
    return path.read_bytes()


def thumbnail(store: Store, post_id: str, index: int) -> bytes:
    """A PNG thumbnail (at most ``THUMBNAIL_PIXELS`` a side) of a post's image, decoded and drawn again: only
    pixels reach the browser, never the stored file.

    Raises:
        NotFoundError: no such post, no media item ``index``, or its file is missing.
        MediaError: the item is not an image, or cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    rows = store.read("posts", where=f"post_id = {sql_string(post_id)}", columns=["media"]).to_pylist()
    if not rows:
        raise NotFoundError(f"no post {post_id!r} in {store.uri!r}", field="post_id")
    media = rows[0]["media"] or []
    if not 0 <= index < len(media):
        raise NotFoundError(f"post {post_id!r} has {len(media)} media items; no item {index}", field="index")
    item = media[index]
    if item.get("kind") != "image":
        raise MediaError(f"media item {index} of post {post_id!r} is a {item.get('kind')}, not an image")
    try:
        with Image.open(io.BytesIO(_image_bytes(store, item))) as image:
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            out = io.BytesIO()
            image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(f"media item {index} of post {post_id!r} is not a readable image: {error}") from None
    return out.getvalue()


_CARD_COLUMNS = [
    "user_id",
    "handle",
    "display_name",
    "created_at",
    "followers_count",
    "following_count",
    "profile_text",
    "location",
    "verified",
    "platform",
]


def user_card(store: Store, user_id: Identifier) -> dict[str, Any]:
    """A user's profile card: the stored user, their posts' count and time span, and their built profile
    (``socialfusion profiles build``: interests, sentiment tendency, activity, influence) when there is one.

    Raises:
        NotFoundError: unknown user.
    """
    from socialfusion.tasks.profiles import PROFILES_TABLE

    check_user(store, user_id)
    quoted = sql_string(user_id)
    users = store.read("users", where=f"user_id = {quoted}").to_pylist() if "users" in store.tables() else []
    user = {name: users[0].get(name) for name in _CARD_COLUMNS} if users else {"user_id": user_id}
    posts = store.read("posts", where=f"author_id = {quoted}", columns=["created_at"]).column("created_at")
    times = pc.drop_null(posts)
    profile = None
    has_profiles = PROFILES_TABLE in store.tables()
    if has_profiles:
        rows = store.read(PROFILES_TABLE, where=f"user_id = {quoted}").to_pylist()
        if rows:
            profile = {name: value for name, value in rows[0].items() if name not in ("vector", "user_id")}
    return clean(
        {
            "user": user,
            "posts": len(posts),
            "first_post": pc.min(times).as_py() if len(times) else None,
            "last_post": pc.max(times).as_py() if len(times) else None,
            "profile": profile,
            "has_profiles": has_profiles,
            "recommenders": fitted_recommenders(store),
        }
    )


def fitted_recommenders(store: Store) -> list[str]:
    """The recommenders fitted for this store (``socialfusion recommend fit``), the hybrid first."""
    from typing import get_args

    from socialfusion.app._analyses import Recommender, recommender_path

    names = sorted(get_args(Recommender), key=lambda name: (name != "hybrid", name))
    return [name for name in names if (path := recommender_path(store, name)) is not None and path.is_file()]


def parse_ids(values: list[str]) -> list[str]:
    """Post ids from repeated ``id`` query values (empty ones dropped, order and first occurrence kept)."""
    return list(dict.fromkeys(value for value in values if value))
