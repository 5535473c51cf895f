"""The jobs the CLI and the server run: store statistics, analysis into an HTML report, and the demo."""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from socialfusion._background import BACKGROUND_NICENESS
from socialfusion.corpus import Corpus, modality_counts
from socialfusion.exceptions import ConfigurationError, DataError, MissingDependencyError, SocialFusionError
from socialfusion.ingestion import IngestSummary, ingest_corpus
from socialfusion.store import Store, connect

if TYPE_CHECKING:
    from socialfusion.tasks.influence import GraphCommunities

__all__ = [
    "DEMO_SENTIMENT_ENCODERS",
    "DEMO_TOPICS",
    "MAX_NER_TEXTS",
    "MAX_TEXT_FIT",
    "REPORT_SECTIONS",
    "REPORT_TEXT_ENCODER",
    "WHERE_FIELDS",
    "analyze",
    "check_sections",
    "check_time",
    "demo_sentiment",
    "demo_topics",
    "filter_corpus",
    "post_filter",
    "report_sections",
    "run_demo",
    "store_stats",
]

logger = logging.getLogger(__name__)

MAX_NER_TEXTS = 20_000
"""The report's entity recognition reads at most this many distinct texts (``tasks.knowledge.entity_sample``):
NER is the costliest report stage (44% of ``analyze`` on 42k posts), and a sample this size finds the corpus's
most frequent entities."""

DEMO_TOPICS = {"encoders": {"text": "text/multilingual"}, "method": "kmeans", "n_topics": 8}
"""The demo's topic model: multilingual sentence vectors (its posts mix English and Chinese), 8 KMeans topics."""

REPORT_TEXT_ENCODER = "text/tfidf"
"""The text encoder of the report's profile and engagement features: fitted on the corpus in seconds."""

MAX_TEXT_FIT = 50_000
"""The report's text encoder (``REPORT_TEXT_ENCODER``, for the profiles' embeddings and engagement's interest match)
learns its vocabulary and SVD from at most this many texts, a seeded sample; every post is then embedded."""

DEMO_SENTIMENT_ENCODERS = {"image": "image/colour-histogram", "lexicon": "text/lexicon"}
"""What the demo's sentiment model reads: fast to compute (seconds), and enough for the synthetic posts, whose
images show their sentiment by brightness and tint."""


def store_stats(store: Store) -> dict[str, Any]:
    """Row counts per table and posts per modality.

    Returns:
        ``{"tables": {name: rows}, "modalities": {"text": n, "image": n, "video": n, "audio": n}}``.
    """
    tables = {name: store.count(name) for name in Corpus.table_names()}
    posts = store.read("posts", columns=["text", "media"])
    return {"tables": tables, "modalities": modality_counts(posts)}


# analyze(progress=...) hears of each section as it starts, without threading a callback through every builder
_SECTION_STARTED: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "section_started", default=None)


def _section_or_note(key: str, title: str, build: Callable[[], Any]) -> Any:
    """Build one analysis's section; an analysis the corpus cannot support becomes a card that says why."""
    from socialfusion.report import ReportSection, Text

    started = _SECTION_STARTED.get()
    if started is not None:
        started(title)
    try:
        return build()
    except SocialFusionError as error:  # too little data, a missing extra, an option the corpus cannot take
        logger.warning("the report skips %s: %s", key, error)
        return ReportSection(title=title, key=key, summary="Skipped.", blocks=[Text(f"Skipped: {error}")])


def _note(key: str, title: str, text: str) -> Any:
    """A card that says why a section asked for by name has nothing to show."""
    from socialfusion.report import ReportSection, Text

    return ReportSection(title=title, key=key, summary="Nothing to show.", blocks=[Text(text)])


# -- which posts a report covers -----------------------------------------------------------------------------------

WHERE_FIELDS = ("author", "hashtag", "lang", "media", "mention", "platform", "text")
"""The fields a ``where`` condition can test (see ``post_filter``)."""

_WHERE = re.compile(r"^\s*([a-z_]+)\s*(!=|!~|=|~)\s*(.*?)\s*$", re.S)


def _lower(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.utf8_lower(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)


def _matches(values: pa.Array, wanted: list[str], contains: bool) -> pa.Array:
    """Boolean per value: equal to (or, with ``contains``, containing) one of ``wanted``; lower-cased; null is no."""
    if contains:
        masks = [pc.match_substring(values, value) for value in wanted]
    else:
        masks = [pc.equal(values, value) for value in wanted]
    mask = masks[0]
    for other in masks[1:]:
        mask = pc.or_(mask, other)
    return mask.fill_null(False)


def _any_item(lists: pa.ChunkedArray, wanted: list[str], contains: bool, *, strip: str = "",
              field: str | None = None) -> pa.Array:
    """Boolean per post: one item of its list (``field`` of a struct item) matches."""
    lists = lists.combine_chunks()
    items = pc.list_flatten(lists)
    if field is not None:
        items = pc.struct_field(items, field)
    items = pc.utf8_lower(items)
    if strip:
        items = pc.utf8_ltrim(items, characters=strip)
    import numpy as np

    hits = pc.list_parent_indices(lists).filter(_matches(items, wanted, contains))
    mask = np.zeros(len(lists), dtype=bool)
    mask[hits.to_numpy(zero_copy_only=False)] = True
    return pa.array(mask)


def post_filter(condition: str, users: pa.Table | None = None) -> Callable[[pa.Table], pa.Array]:
    """A ``where`` condition on posts, as a function from a posts table to one boolean per post.

    The syntax is ``FIELD OP VALUE``: ``=`` (equals), ``~`` (contains), ``!=`` and ``!~`` (their negations);
    matching ignores case, and ``a|b`` matches either value. Fields: ``hashtag`` and ``mention`` (any of the post's,
    ``#``/``@`` ignored), ``text``, ``lang``, ``platform``, ``author`` (the author's id or handle, ``@`` ignored) and
    ``media`` (the kind of any attached file: image, video, audio).

    Args:
        condition: e.g. ``"hashtag=climate"``, ``"text~flood|storm"``, ``"lang!=en"``, ``"media=image"``.
        users: the users table, so that ``author`` can name authors by handle.

    Returns:
        A function of a posts table returning a boolean ``pa.Array`` (True: the post is kept).

    Raises:
        ConfigurationError: the condition does not parse, or names an unknown field or an empty value.

    Examples:
        >>> posts = pa.table({"post_id": ["p1", "p2"], "text": ["Flood warning", "sunny"],
        ...                   "hashtags": [["Climate"], []]})
        >>> post_filter("hashtag=#climate")(posts).to_pylist(), post_filter("text~FLOOD|sun")(posts).to_pylist()
        ([True, False], [True, True])
    """
    parsed = _WHERE.match(condition or "")
    if not parsed:
        raise ConfigurationError(f"cannot read the condition {condition!r}: write FIELD=VALUE, FIELD~VALUE (contains), "
                                 f"FIELD!=VALUE or FIELD!~VALUE, FIELD one of {', '.join(WHERE_FIELDS)}; e.g. "
                                 "hashtag=climate or text~flood")
    field, operator, value = parsed.groups()
    if field not in WHERE_FIELDS:
        raise ConfigurationError(f"unknown field {field!r} in the condition {condition!r}; use one of "
                                 f"{', '.join(WHERE_FIELDS)}")
    strip = {"hashtag": "#＃", "mention": "@＠", "author": "@＠"}.get(field, "")
    wanted = [part.strip().lower().lstrip(strip) for part in value.split("|")]
    if not all(wanted):
        raise ConfigurationError(f"the condition {condition!r} has an empty value; e.g. {field}{operator}something")
    contains, negate = "~" in operator, operator.startswith("!")
    handles: dict[str, set[str]] = {}
    if field == "author" and users is not None and users.num_rows and "handle" in users.column_names:
        for user, handle in zip(users.column("user_id").to_pylist(), users.column("handle").to_pylist()):
            if user is not None and handle:
                handles.setdefault(handle.strip().lower().lstrip(strip), set()).add(user)

    def keep(posts: pa.Table) -> pa.Array:
        if field == "hashtag":
            mask = _any_item(posts.column("hashtags"), wanted, contains, strip=strip)
        elif field == "mention":
            mask = _any_item(posts.column("mentions"), wanted, contains, strip=strip)
        elif field == "media":
            mask = _any_item(posts.column("media"), wanted, contains, field="kind")
        elif field == "author":
            authors = posts.column("author_id").combine_chunks()
            mask = _matches(pc.utf8_lower(authors), wanted, contains)
            if handles:  # authors named by handle: the ids of the users whose handle matches
                names = pa.array(list(handles), pa.string())
                ids = {user for name, hit in zip(handles, _matches(names, wanted, contains).to_pylist()) if hit
                       for user in handles[name]}
                mask = pc.or_(mask, pc.is_in(authors, value_set=pa.array(sorted(ids), pa.string())).fill_null(False))
        else:
            mask = _matches(_lower(posts.column(field)), wanted, contains)
        return pc.invert(mask) if negate else mask

    return keep


def _as_time(value: str | dt.date | dt.datetime, *, end_of_day: bool) -> dt.datetime:
    """A ``since``/``until`` bound as an aware UTC datetime; a bare date as its start (or, for until, its end)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
        except ValueError as error:
            raise ConfigurationError(f"cannot read the date {text!r}: write YYYY-MM-DD or an ISO 8601 date and time, "
                                     "e.g. 2024-05-01 or 2024-05-01T12:00:00Z") from error
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value + dt.timedelta(days=1 if end_of_day else 0), dt.time(), dt.UTC)
        return value - dt.timedelta(microseconds=1) if end_of_day else value
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def check_time(value: str) -> str:
    """``value`` itself when it reads as a ``since``/``until`` bound (``YYYY-MM-DD`` or an ISO 8601 date and time).

    Raises:
        ConfigurationError: it does not.

    Examples:
        >>> check_time("2024-05-01")
        '2024-05-01'
    """
    _as_time(value, end_of_day=False)
    return value


def filter_corpus(corpus: Corpus, *, since: str | dt.date | None = None, until: str | dt.date | None = None,
                  where: str | Sequence[str] = ()) -> Corpus:
    """The corpus restricted to some posts: by time and by ``where`` conditions (``post_filter``), all of them.

    Interactions on posts left out, and labels of those posts, are left out too; users, edges and rejects stay.

    Args:
        corpus: the corpus.
        since: keep posts created at or after this (``"2024-05-01"``: from the start of that UTC day).
        until: keep posts created at or before this (``"2024-05-31"``: through the end of that UTC day). With
            ``since`` or ``until``, undated posts are left out.
        where: one condition or several (``["hashtag=climate", "lang=en"]``).

    Returns:
        A new Corpus (the same one when nothing is asked).

    Raises:
        ConfigurationError: a condition or a date does not parse, or ``since`` is after ``until``.

    Examples:
        >>> corpus = Corpus.from_records(posts=[
        ...     {"post_id": "p1", "text": "flood #Climate", "hashtags": ["Climate"], "created_at": "2024-05-01T09:00Z"},
        ...     {"post_id": "p2", "text": "sun", "created_at": "2024-05-03T09:00Z"}])
        >>> filter_corpus(corpus, where="hashtag=climate").posts.column("post_id").to_pylist()
        ['p1']
        >>> filter_corpus(corpus, since="2024-05-02", until="2024-05-03").posts.column("post_id").to_pylist()
        ['p2']
    """
    conditions = [where] if isinstance(where, str) else list(where)
    if since is None and until is None and not conditions:
        return corpus
    posts = corpus.posts
    mask = pa.array([True] * posts.num_rows, pa.bool_())
    created = posts.column("created_at")
    start = _as_time(since, end_of_day=False) if since is not None else None
    end = _as_time(until, end_of_day=True) if until is not None else None
    if start is not None and end is not None and start > end:
        raise ConfigurationError(f"since ({since}) is after until ({until}): no post can be in between")
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(created, pa.scalar(start, created.type)).fill_null(False))
    if end is not None:
        mask = pc.and_(mask, pc.less_equal(created, pa.scalar(end, created.type)).fill_null(False))
    for condition in conditions:
        mask = pc.and_(mask, post_filter(condition, corpus.users)(posts))
    kept = posts.filter(mask)
    ids = kept.column("post_id")
    labels = corpus.labels
    on_posts = pc.equal(labels.column("item_kind"), "post")
    labels = labels.filter(pc.or_(pc.invert(on_posts), pc.is_in(labels.column("item_id"), value_set=ids)))
    return Corpus(posts=kept, users=corpus.users,
                  interactions=corpus.interactions.filter(pc.is_in(corpus.interactions.column("post_id"),
                                                                   value_set=ids)),
                  edges=corpus.edges, labels=labels, rejects=corpus.rejects, metadata=dict(corpus.metadata))


def _of_posts(table: pa.Table, corpus: Corpus) -> pa.Table:
    """The rows of a post-keyed table (``post_id``) whose post is in the corpus (a filtered report's posts)."""
    from socialfusion.tasks._ids import keep_rows

    return keep_rows(table, pc.is_in(table.column("post_id"), value_set=corpus.posts.column("post_id")))


# -- the report's sections -----------------------------------------------------------------------------------------

REPORT_SECTIONS = {
    "overview": "Corpus overview",
    "sentiment": "Sentiment",
    "network": "Social network",
    "topics": "Topics",
    "trends": "Trends",
    "opinion": "Public opinion",
    "knowledge": "Knowledge graph",
    "patterns": "Hidden patterns",
    "profiles": "User profiles and segments",
    "engagement": "Engagement",
    "recommend": "Recommendation",
}
"""The report's sections by key (``analyze(sections=...)``), in reading order, with their titles."""


def check_sections(sections: str | Sequence[str] | None) -> list[str]:
    """The section keys asked for, in reading order: all of ``REPORT_SECTIONS`` for None; ``"a,b"`` or a list.

    Raises:
        ConfigurationError: an unknown key, or none at all.

    Examples:
        >>> check_sections("trends, overview")
        ['overview', 'trends']
    """
    if sections is None:
        return list(REPORT_SECTIONS)
    keys = [key.strip() for key in (sections.split(",") if isinstance(sections, str) else sections) if key.strip()]
    unknown = [key for key in keys if key not in REPORT_SECTIONS]
    if unknown or not keys:
        raise ConfigurationError(f"unknown report section(s) {unknown or keys!r}; choose from "
                                 f"{', '.join(REPORT_SECTIONS)}")
    return [key for key in REPORT_SECTIONS if key in keys]


def _trend_keys(store: Store | None, corpus: Corpus, *,
                assignments: bool = True) -> tuple[pa.Table | None, pa.Table | None]:
    """Topic assignments when a topic model wrote them to the store, else hashtags; and the store's ``topics``
    table (what names and colours the topics in every card) when the keys are its topic ids. With
    ``assignments=False`` only the topics table (the incremental cards read their keys from the stored counts)."""
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE
    from socialfusion.tasks.trends import key_assignment

    if store is not None and POST_TOPICS_TABLE in store.tables():
        topics = store.read(TOPICS_TABLE, columns=["topic_id", "label"]) if TOPICS_TABLE in store.tables() else None
        return (_of_posts(key_assignment(store, by="topic"), corpus) if assignments else None), topics
    return (key_assignment(corpus.posts, by="hashtag") if assignments else None), None


def _trends_and_opinion(corpus: Corpus, store: Store | None, wanted: Sequence[str]) -> list:
    """The trends and public-opinion cards: from the posts, or, in an incremental run (``_incremental.ACTIVE``),
    from the daily counts stored in the store, with a note that says which."""
    from socialfusion.app._incremental import ACTIVE, opinion_from_state, volume_series_from_state, with_note
    from socialfusion.tasks.opinion import (
        count_opinions,
        opinion_alerts,
        opinion_posts,
        opinion_section,
        post_sentiment,
    )
    from socialfusion.tasks.trends import trends_section, volume_series

    incremental = ACTIVE.get() if store is not None else None
    from_state = incremental is not None and incremental.from_state
    keys, topics = _trend_keys(store, corpus, assignments=not from_state)

    def noted(section: Any) -> Any:
        return with_note(section, incremental.note) if incremental is not None else section

    def trends() -> Any:
        if from_state:
            return trends_section(volume_series_from_state(store, since=incremental.since, until=incremental.until),
                                  topics=topics)
        return trends_section(volume_series(corpus.posts, keys), topics=topics)

    def opinion() -> Any:
        if from_state:
            timeline, alerts = opinion_from_state(store, since=incremental.since, until=incremental.until)
            return opinion_section(timeline, alerts, topics=topics)
        sentiment = _of_posts(post_sentiment(store), corpus) if store is not None else None
        scored = opinion_posts(corpus.posts, keys, sentiment)
        timeline = count_opinions(scored, posts=corpus.posts)
        return opinion_section(timeline, opinion_alerts(timeline, evidence=scored), topics=topics)

    sections = []
    if "trends" in wanted:
        sections.append(noted(_section_or_note("trends", "Trends", trends)))
    if "opinion" in wanted:
        sections.append(noted(_section_or_note("opinion", "Public opinion", opinion)))
    return sections


BACKGROUND_NER_TEXTS = 1_000
"""From this many sampled texts on, the report's entity recognition runs in a second process
(``socialfusion._background.run_beside``) while this one builds the other cards; fewer are recognised here."""


EARLY_NER_NICENESS = 19
"""The niceness of an entity recognition started early (``_recognise_entities_early``): it yields the CPU to the
work started for sooner use (the demo's topic model beside its sentiment models) and takes what they leave."""

_EARLY_RECOGNITIONS: dict[bytes, Any] = {}  # what _recognise_entities_early started: sample's identity -> call
_NER_COLUMNS = ("post_id", "text", "lang")  # what entity recognition reads of a post


def _ner_input(sampled: pa.Table) -> pa.Table:
    """The columns of a sample that entity recognition reads (all that travels to a second process)."""
    return sampled.select([name for name in _NER_COLUMNS if name in sampled.column_names])


def _sample_identity(sampled: pa.Table) -> bytes:
    """What entity recognition reads of a sample, as a digest: equal digests, equal entities."""
    import hashlib

    import orjson

    return hashlib.blake2b(orjson.dumps(list(_ner_input(sampled).to_pydict().values())), digest_size=16).digest()


def _entity_recognition(sampled: pa.Table, niceness: int = BACKGROUND_NICENESS) -> Any:
    """The entity recognition of a sample, started beside this process (at ``niceness``) from
    ``BACKGROUND_NER_TEXTS`` texts on, else made here when its result is asked for."""
    from socialfusion._background import run_beside_at, run_here
    from socialfusion.tasks.knowledge import extract_entities

    if sampled.num_rows < BACKGROUND_NER_TEXTS:
        return run_here(extract_entities, _ner_input(sampled))
    return run_beside_at(niceness, extract_entities, _ner_input(sampled))


def _start_entity_recognition(corpus: Corpus, max_ner_texts: int | None) -> tuple[pa.Table, Any]:
    """The knowledge graph's entity sample, and its entity recognition started (beside this process when large),
    or the one ``_recognise_entities_early`` already started on the same sample.

    NER is the costliest step of the report: it reads a bounded, seeded, language-stratified sample of texts, and
    the knowledge and pattern cards use the same entities.
    """
    from socialfusion.tasks.knowledge import entity_sample

    sampled = entity_sample(corpus.posts, max_ner_texts)
    early = _EARLY_RECOGNITIONS.pop(_sample_identity(sampled), None) if _EARLY_RECOGNITIONS else None
    return sampled, _entity_recognition(sampled) if early is None else early


def _recognise_entities_early(store: Store, max_ner_texts: int | None = MAX_NER_TEXTS) -> None:
    """Start the report's entity recognition of the store's posts now, beside this process, for an ``analyze``
    of the same posts later in this process (the demo starts it before training its models). A later analysis of
    other posts (new ones, a filter, another sample size) does not use it; one not collected is stopped at exit.
    It runs at ``EARLY_NER_NICENESS``."""
    import atexit

    from socialfusion.tasks.knowledge import entity_sample

    sampled = entity_sample(store.read("posts", columns=list(_NER_COLUMNS)), max_ner_texts)
    if sampled.num_rows < BACKGROUND_NER_TEXTS:
        return
    if not _EARLY_RECOGNITIONS:
        atexit.register(lambda: [call.cancel() for call in _EARLY_RECOGNITIONS.values()])
    _EARLY_RECOGNITIONS[_sample_identity(sampled)] = _entity_recognition(sampled, EARLY_NER_NICENESS)


def _knowledge_and_patterns(corpus: Corpus, wanted: Sequence[str], sampled: pa.Table, recognition: Any) -> list:
    from socialfusion.tasks.knowledge import KnowledgeGraph, knowledge_section
    from socialfusion.tasks.patterns import association_rules, patterns_section, user_segments
    from socialfusion.tasks.trends import key_assignment

    entities = recognition.result()
    n_sampled = sampled.num_rows if sampled.num_rows < corpus.posts.num_rows else None

    def patterns() -> Any:
        # rules are mined from the posts whose entities are known, so entities and hashtags count alike
        support = min(1.0, 5 / max(sampled.num_rows, 1))  # a pattern needs 5 posts behind it, at any size
        rules = association_rules(sampled, entities=entities, min_support=support)
        segments = user_segments(corpus.posts, key_assignment(corpus.posts, by="hashtag"))
        note = (f"Rules mined from a sample of {n_sampled:,} of {corpus.posts.num_rows:,} posts (the knowledge "
                "graph's entity sample: seeded, stratified by language)." if n_sampled else None)
        return patterns_section(rules, segments, note=note)

    sections = []
    if "knowledge" in wanted:
        sections.append(_section_or_note("knowledge", "Knowledge graph",
                                         lambda: knowledge_section(KnowledgeGraph.build(corpus.posts, entities,
                                                                                        users=corpus.users),
                                                                   entity_posts=n_sampled)))
    if "patterns" in wanted:
        sections.append(_section_or_note("patterns", "Hidden patterns", patterns))
    return sections


def _profiles_and_engagement(corpus: Corpus, store: Store | None, sentiment_predictions: pa.Table | None,
                             wanted: Sequence[str], follow_graph: Callable[[], GraphCommunities]) -> list:
    from socialfusion.tasks.engagement import EngagementModel, engagement_examples, engagement_section, time_split
    from socialfusion.tasks.profiles import (
        PostTexts,
        audience_segments,
        build_profiles,
        post_sentiment_values,
        profile_embeddings,
        profiles_section,
    )

    # both cards embed post texts with the same encoder, fitted once inside whichever card asks first; each embeds
    # the posts it reads a block at a time (every post's vector at once: 2 GB at 2M posts)
    fit_sample: dict[str, int] = {}  # what the text encoder learned from, when it was a sample
    texts = functools.cache(lambda: PostTexts(
        corpus, store=store, text_encoder=REPORT_TEXT_ENCODER, max_fit_texts=MAX_TEXT_FIT,
        on_sample=lambda used, total: fit_sample.update(used=used, total=total)))

    def profiles() -> Any:
        sentiment = sentiment_predictions
        if sentiment is None:  # the lexicon's labels, computed once for the profiles and the segments' traits
            values = post_sentiment_values(corpus, "lexicon")
            names = {-1.0: "negative", 0.0: "neutral", 1.0: "positive"}
            sentiment = pa.table({"post_id": pa.array(list(values), pa.string()),
                                  "label": pa.array([names[value] for value in values.values()], pa.string())})
        table = build_profiles(corpus, store=store, sentiment=sentiment,  # the store's topics name interests
                               embeddings=profile_embeddings(corpus, post_vectors=texts()),
                               follow_graph=follow_graph())
        note = (f"Text embeddings: {REPORT_TEXT_ENCODER} learned its vocabulary and projection from a seeded sample "
                f"of {fit_sample['used']:,} of {fit_sample['total']:,} texts, then embedded every post."
                if fit_sample else None)
        return profiles_section(table, audience_segments(table, corpus=corpus, sentiment=sentiment), note=note)

    def engagement() -> Any:
        from socialfusion.tasks.engagement import MAX_EXAMPLES

        # the store's post_topics (the topics card's model), when there are some, give the topic features; a large
        # corpus gives the examples of a seeded sample of users (MAX_EXAMPLES), which the card states
        train, test = time_split(engagement_examples(corpus, store=store, post_vectors=texts(),
                                                     max_examples=MAX_EXAMPLES, follow_graph=follow_graph()))
        model = EngagementModel(learner="logistic").fit(train)
        return engagement_section(model, test)

    sections = []
    if "profiles" in wanted:
        sections.append(_section_or_note("profiles", "User profiles and segments", profiles))
    if "engagement" in wanted:
        sections.append(_section_or_note("engagement", "Engagement", engagement))
    return sections


MAX_EVALUATION_USERS = 1000
"""The recommendation card scores its models on at most this many test users, and tunes the hybrid's weights on at
most this many validation users (seeded samples; the test users stratified by activity): ranking every post for
every user grows as users x posts, the square of the corpus; with the users bounded it grows as the posts."""


def _users_sample(interactions: pa.Table, max_users: int, seed: int = 0) -> pa.Table:
    """The interactions of at most ``max_users`` of their users (all when fewer): a seeded random sample stratified
    by activity (the power of two of each user's number of interactions here), so light and heavy users keep their
    shares."""
    import numpy as np

    from socialfusion.tasks._clustering import stratified_sample

    # users in id order: the order of Arrow's group-by output depends on how the table is cut into chunks
    counts = interactions.group_by("user", use_threads=False).aggregate([("user", "count")]).sort_by("user")
    if counts.num_rows <= max_users:
        return interactions
    activity = np.log2(counts.column("user_count").to_numpy()).astype(np.int64)
    chosen = counts.column("user").take(pa.array(stratified_sample(activity, max_users, seed)))
    return interactions.filter(pc.is_in(interactions.column("user"), value_set=chosen))


def _recommendation(corpus: Corpus, max_users: int | None = MAX_EVALUATION_USERS) -> Any:
    """Recommendation quality of each model on a random 8:1:1 split of the likes, and the hybrid's examples; scored
    on at most ``max_users`` test users and tuned on at most as many validation users (None: all of them)."""
    from socialfusion.tasks.recommend import (
        ALSRecommender,
        HybridRecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        SocialRecommender,
        evaluate_recommender,
        recommendation_section,
        split_interactions,
    )

    split = split_interactions(corpus, kind="like")
    test = split.test if max_users is None else _users_sample(split.test, max_users)
    components = {"ALS": ALSRecommender, "item kNN": ItemKNNRecommender, "social": SocialRecommender}
    models = {"popularity": PopularityRecommender(), **{name: make() for name, make in components.items()}}
    fitted = {name: model.fit(split.train, edges=corpus.edges) for name, model in models.items()}
    evaluation = {name: evaluate_recommender(model, test) for name, model in fitted.items()}
    # the hybrid blends the components fitted above (same training likes): each model is fitted once
    hybrid = HybridRecommender({name: fitted[name] for name in components}, prefitted=True,
                               max_tune_users=max_users)
    hybrid.fit(split.train, validation=split.validation, edges=corpus.edges)
    evaluation["hybrid (weights tuned on validation)"] = evaluate_recommender(hybrid, test)
    active = split.train.group_by("user").aggregate([("item", "count")]).sort_by([("item_count", "descending")])
    examples = hybrid.recommend(active.column("user").to_pylist()[:3], k=5)
    tested = pc.count_distinct(split.test.column("user")).as_py()
    sampled = "" if test.num_rows == split.test.num_rows else (
        f" Scores from a seeded sample of {max_users:,} of {tested:,} test users (stratified by activity); the "
        f"hybrid's weights were tuned on {hybrid.tune_users_:,} validation users.")
    return recommendation_section(evaluation, examples, data=corpus,
                                  note="Likes split at random 8:1:1 (seed 0); every post a user has not liked in "
                                       "training is ranked." + sampled)


def report_sections(corpus: Corpus, *, store: Store | None = None,
                    sentiment_predictions: pa.Table | None = None,
                    sections: str | Sequence[str] | None = None,
                    max_ner_texts: int | None = MAX_NER_TEXTS) -> list:
    """The report sections for a corpus, in reading order (each analysis contributes one).

    An analysis the corpus cannot support (too few posts, no timestamps, no ties) becomes a card that says why,
    and the rest of the report is still written.

    Args:
        corpus: the corpus.
        store: the store the corpus came from, for what analyses wrote there (topic assignments, cached features).
            Its post tables are read for the corpus's posts only, so a filtered corpus (``filter_corpus``) gets
            a report on its posts.
        sentiment_predictions: an Arrow table of sentiment predictions (``socialfusion.tasks.read_predictions``)
            to add the sentiment section; the held-out scores the demo records in the corpus metadata show too.
        sections: the keys of the sections to build (``REPORT_SECTIONS``; ``"a,b"`` or a list); None builds every
            section the data allows. A section asked for by name that has no data (no sentiment predictions, no
            topics) becomes a card that says how to make some.
        max_ner_texts: the knowledge graph's (and association rules') entities come from at most this many
            distinct texts, a seeded sample stratified by language (``entity_sample``), and the cards say so;
            None reads every text. From ``BACKGROUND_NER_TEXTS`` texts on, recognition runs in a second process
            while this one builds the other cards (``socialfusion._background``).

    Raises:
        ConfigurationError: an unknown section key.
    """
    from socialfusion.report import overview_section

    wanted = check_sections(sections)
    named = sections is not None
    built = [overview_section(corpus)] if "overview" in wanted else []
    if "sentiment" in wanted:
        if sentiment_predictions is not None:
            from socialfusion.tasks.sentiment import EVALUATION_METADATA_KEY, sentiment_section

            evaluation = corpus.metadata.get(EVALUATION_METADATA_KEY)
            built.append(sentiment_section(corpus, _of_posts(sentiment_predictions, corpus), evaluation=evaluation))
        elif named:
            built.append(_note("sentiment", "Sentiment", "No sentiment predictions in the store; make some with: "
                                                         "socialfusion sentiment predict (or sentiment lexicon)."))
    if corpus.posts.num_rows == 0:
        return built
    # entity recognition starts first, beside this process, and its two cards are built last, in their place
    recognition = _start_entity_recognition(corpus, max_ner_texts) if {"knowledge", "patterns"} & set(wanted) \
        else None
    try:
        _analyses_around_entities(corpus, store, sentiment_predictions, wanted, named, built, recognition)
    finally:
        if recognition is not None:
            recognition[1].cancel()  # stops the recognition when an analysis raised before its entities were read
    return built


def _analyses_around_entities(corpus: Corpus, store: Store | None, sentiment_predictions: pa.Table | None,
                              wanted: Sequence[str], named: bool, built: list,
                              recognition: tuple[pa.Table, Any] | None) -> None:
    from socialfusion.tasks._network_report import network_section
    from socialfusion.tasks.influence import graph_communities
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, read_topics, topics_section

    # the follow graph's communities, found once for the network, profiles and engagement cards (each found them)
    follow_graph = functools.cache(lambda: graph_communities(corpus))
    if "network" in wanted:
        built.append(_section_or_note("network", "Social network",
                                      lambda: network_section(corpus, graph=follow_graph())))
    if "topics" in wanted:
        if store is not None and POST_TOPICS_TABLE in store.tables():
            def topics() -> Any:
                assigned, table = read_topics(store)
                kept = _of_posts(assigned, corpus)
                if kept.num_rows < assigned.num_rows:  # a filtered report: topic sizes count its posts only
                    counted = pc.value_counts(kept.column("topic_id"))
                    counts = dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist()))
                    sizes = pa.array([counts.get(topic, 0) for topic in table.column("topic_id").to_pylist()],
                                     pa.int64())
                    table = table.set_column(table.column_names.index("size"), "size", sizes)
                    table = table.filter(pc.greater(sizes, 0))
                return topics_section((kept, table), corpus)

            built.append(_section_or_note("topics", "Topics", topics))
        elif named:
            built.append(_note("topics", "Topics", "No topics in the store; fit some with: socialfusion topics fit."))
    if {"trends", "opinion"} & set(wanted):
        built.extend(_trends_and_opinion(corpus, store, wanted))
    entities_at = len(built)
    if {"profiles", "engagement"} & set(wanted):
        built.extend(_profiles_and_engagement(corpus, store, sentiment_predictions, wanted, follow_graph))
    follow_graph.cache_clear()  # no card after this reads it: 0.6 GB at 150,000 users, freed before recommendation
    if "recommend" in wanted:
        built.append(_section_or_note("recommend", "Recommendation", lambda: _recommendation(corpus)))
    if recognition is not None:
        built[entities_at:entities_at] = _knowledge_and_patterns(corpus, wanted, *recognition)


def _describe_filter(since: Any, until: Any, where: Sequence[str]) -> str:
    parts = [f"since {since}"] if since is not None else []
    parts += [f"until {until}"] if until is not None else []
    return "; ".join(parts + list(where))


def analyze(store: Store | Corpus, out: str | Path, *, title: str = "socialfusion report",
            sections: str | Sequence[str] | None = None, since: str | dt.date | None = None,
            until: str | dt.date | None = None, where: str | Sequence[str] = (),
            progress: Callable[[str, int, int], None] | None = None,
            max_ner_texts: int | None = MAX_NER_TEXTS, incremental: bool = False,
            reuse_cards: bool = False) -> Path:
    """Analyse a store (or an in-memory corpus) and write the self-contained HTML report to ``out``.

    A store with sentiment predictions (``socialfusion sentiment predict``) gets a sentiment section.

    With ``incremental``, the analysis keeps its state in the store (``socialfusion.app._incremental``): each run
    finds the posts not analysed before (by post id and content hash: a late post with an old timestamp counts,
    a re-ingested duplicate does not), predicts their sentiment and assigns their topic with the store's models
    (the posts that have none), adds them to daily counts per key and sentiment class, and builds the trends and
    public-opinion cards from those counts instead of every post; both cards say so. The other cards need every
    post (graphs, models fitted on the corpus) and are recomputed, or, with ``reuse_cards``, the network,
    knowledge graph, patterns, profiles, engagement and recommendation cards of the last run with the same
    filter are reused, each with a note saying when it was built and on how many posts. ``since``/``until``
    keep their meaning (which posts the report shows); ``where`` conditions or bounds inside a day cannot use the
    daily counts, and the trend and opinion cards are then computed from the posts (their note says so).

    Args:
        store: the store, or a corpus.
        out: the report's path.
        title: the page title and heading.
        sections: which sections to build (``REPORT_SECTIONS`` keys, ``"a,b"`` or a list); None: all.
        since: only posts created at or after this date (``"2024-05-01"``) or time.
        until: only posts created at or before this date (through the end of the day) or time.
        where: only posts matching this condition, or all of these (``post_filter``: ``"hashtag=climate"``,
            ``"text~flood"``, ...).
        progress: called as ``progress(stage, stages_done, stages_total)`` when each stage starts (reading the
            store, each analysis, writing the report), and once with ``stages_done == stages_total`` at the end.
        max_ner_texts: entity recognition reads at most this many distinct texts (``report_sections``).
        incremental: update the stored analysis state from the new posts only (a store, not a corpus).
        reuse_cards: reuse the last run's cards that need every post (implies ``incremental``).

    Returns:
        The report's path.

    Raises:
        ConfigurationError: an unknown section, or a condition or date that does not parse, or ``incremental``
            on a corpus.
        DataError: the store is empty (a mistyped path that ``connect`` created, say).
        NothingToAnalyse: ``since`` is later than every post (no report is written).
    """
    from socialfusion.app import _incremental
    from socialfusion.report import write_report
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, read_predictions
    from socialfusion.tasks.topics import POST_TOPICS_TABLE

    wanted = check_sections(sections)  # before any work: a typo fails fast
    incremental = incremental or reuse_cards
    if incremental and isinstance(store, Corpus):
        raise ConfigurationError("an incremental analysis keeps its state in a store: pass a store, not a corpus")
    total = 2 + len(set(wanted) - {"overview", "sentiment"}) + incremental  # reading, the slow analyses, writing
    done: list[str] = []

    def stage(name: str) -> None:
        if progress is not None:
            progress(name, min(len(done), total - 1), total)
        done.append(name)

    stage("reading the store")
    conditions = [where] if isinstance(where, str) else list(where)
    corpus = store if isinstance(store, Corpus) else Corpus.from_store(store, bookkeeping=False)
    if not isinstance(store, Corpus) and not any(corpus.counts().values()):
        raise DataError(f"the store {store.uri!r} is empty: nothing to analyse; ingest into it first, or check its "
                        "path (connect(path, create=False) refuses a store that does not exist)")
    context = None
    if incremental and corpus.posts.num_rows:
        stage("updating the incremental state")
        update = _incremental.update_analysis_state(store)
        context = _incremental.incremental_context(update, since=since, until=until, where=conditions)
    latest = pc.max(corpus.posts.column("created_at")).as_py() if corpus.posts.num_rows else None
    corpus = filter_corpus(corpus, since=since, until=until, where=conditions)
    if since is not None and corpus.posts.num_rows == 0 and (latest is None or latest < _as_time(since,
                                                                                                  end_of_day=False)):
        newest = f"the latest post is from {latest:%Y-%m-%d %H:%M} UTC" if latest else "no post has a date"
        raise _incremental.NothingToAnalyse(f"nothing to do: no post at or after {since} ({newest})")
    predictions = None
    # the sentiment card shows the predictions, and the profiles' sentiment tendency reads them
    if not isinstance(store, Corpus) and {"sentiment", "profiles"} & set(wanted) and (
            PREDICTIONS_TABLE in store.tables()):
        predictions = read_predictions(store)
    subtitle = f"{corpus.posts.num_rows:,} posts · {corpus.users.num_rows:,} users · {corpus.edges.num_rows:,} edges"
    described = _describe_filter(since, until, conditions)
    if described:
        subtitle += f" · posts: {described}"
    reuse = {"described": described, "options": {"max_ner_texts": max_ner_texts}, "posts": corpus.posts.num_rows}
    reused = _incremental.load_cards(store, wanted, **reuse) if incremental and reuse_cards else {}
    rest = [key for key in wanted if key not in reused]
    if reused and sections is None:  # a section not asked for by name shows only when it has data
        rest = [key for key in rest if (key != "sentiment" or predictions is not None) and (
            key != "topics" or POST_TOPICS_TABLE in store.tables())]
    token = _SECTION_STARTED.set(stage)
    active = _incremental.ACTIVE.set(context)
    try:
        built = report_sections(corpus, store=None if isinstance(store, Corpus) else store,
                                sentiment_predictions=predictions, sections=rest if reused else sections,
                                max_ner_texts=max_ner_texts) if rest else []
    finally:
        _incremental.ACTIVE.reset(active)
        _SECTION_STARTED.reset(token)
    if incremental:
        _incremental.save_cards(store, built, **reuse)
    order = list(REPORT_SECTIONS)
    built = sorted([*built, *reused.values()], key=lambda section: order.index(section.key)
                   if section.key in order else len(order))
    stage("writing the report")
    path = write_report(built, Path(out), title=title, subtitle=subtitle)
    if progress is not None:
        progress("done", total, total)
    return path


DEMO_TOPICS_NICENESS = 0
"""The niceness of the demo's topic model, which learns in a second process while this one trains the sentiment
models: both take about as long, and the report needs both, so they share the CPU equally (at the background's
usual niceness, this process's threads took the topic model's core and the report waited for it: 15.3-16.9 s
against 14.2-14.3 s for the whole demo)."""


def demo_sentiment(store: Store, *, max_train_rows: int | None = None) -> dict[str, dict[str, Any]]:
    """Train the demo's sentiment model on the planted labels (train split), score it, predict every post.

    Fits a ``SentimentModel`` on ``DEMO_SENTIMENT_ENCODERS`` and, for comparison, one on the lexicon features
    alone; scores both and the lexicon baseline on the test split; writes the fused model's predictions to
    ``sentiment_predictions`` and the scores to the store metadata (``EVALUATION_METADATA_KEY``).

    Args:
        store: the store (labels of the ``sentiment`` task; features and predictions are written).
        max_train_rows: each model learns from at most this many labelled training posts, a seeded sample
            stratified by label (None: ``tasks.sentiment.MAX_TRAIN_ROWS``); the sentiment card says so.

    Returns:
        Method name -> ``evaluate`` result on the test split; the two trained models' also hold ``training``:
        ``n`` (posts learned from), ``labelled`` (labelled training posts) and ``sampled``.
    """
    from socialfusion.tasks.sentiment import (
        EVALUATION_METADATA_KEY,
        MAX_TRAIN_ROWS,
        LexiconSentiment,
        SentimentModel,
        write_predictions,
    )

    max_train_rows = MAX_TRAIN_ROWS if max_train_rows is None else max_train_rows

    fused = SentimentModel(encoders=DEMO_SENTIMENT_ENCODERS, max_train_rows=max_train_rows).fit(store, split="train")
    text_only = SentimentModel(encoders={"lexicon": "text/lexicon"}, max_train_rows=max_train_rows).fit(
        store, split="train")

    def scores(model: SentimentModel) -> dict[str, Any]:  # held-out scores, and what the model learned from
        training = {key: model.training_[key] for key in ("n", "labelled", "sampled")}
        return {**model.evaluate(store, split="test"), "training": training}

    evaluation = {
        "fused: lexicon features + colour histogram (stacked)": scores(fused),
        "text only: lexicon features (stacked)": scores(text_only),
        "lexicon baseline (VADER, snownlp)": LexiconSentiment().evaluate(store, split="test"),
    }
    write_predictions(store, fused.predict(store))
    store.update_metadata({EVALUATION_METADATA_KEY: evaluation})
    return evaluation


def demo_topics(store: Store) -> int:
    """Fit the demo's topic model (``DEMO_TOPICS``) on the store's posts and write its tables.

    Returns:
        The number of topics.
    """
    from socialfusion.tasks.topics import TopicModel, write_topics

    model = TopicModel(**DEMO_TOPICS).fit(store)
    write_topics(store, model)
    return model.topics_.num_rows


def _demo_topics_at(store_uri: str) -> None:
    """``demo_topics`` on the store at ``store_uri`` (what a second process is given: a store does not pickle)."""
    demo_topics(connect(store_uri, create=False))


def _load_demo_topic_libraries() -> None:
    """What the demo's topic model loads before it reads a post (3 to 4 s in a fresh process): LanceDB,
    scikit-learn's PCA and k-means, the encoder registry and onnxruntime, jieba's dictionary."""
    import lancedb  # noqa: F401
    import onnxruntime  # noqa: F401
    from sklearn.cluster import KMeans  # noqa: F401
    from sklearn.decomposition import PCA  # noqa: F401

    from socialfusion.encoders import encoder_info
    from socialfusion.encoders._text_models import _jieba
    from socialfusion.tasks import topics  # noqa: F401

    encoder_info(DEMO_TOPICS["encoders"]["text"])
    _jieba().initialize()


def run_demo(
    out_dir: str | Path, *, n_users: int = 300, n_posts: int = 2000, seed: int = 0
) -> tuple[Path, IngestSummary]:
    """Generate the synthetic social network, ingest it into ``out_dir/store``, write ``out_dir/report.html``.

    Media files are written under ``out_dir/media``. With the ``text`` extra installed, the demo also learns the
    posts' sentiment from the planted labels (``demo_sentiment``: a few seconds) and the report shows it; the topic
    model (``demo_topics``) and the report's entity recognition run in other processes meanwhile
    (``socialfusion._background``); the topic model's starts first and loads its libraries while this one generates
    and ingests the posts, which leaves the second core idle.

    Returns:
        The report's path and the ingest summary.
    """
    from socialfusion._background import prepare_beside
    from socialfusion.datasets.synthetic import generate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    topics = prepare_beside(DEMO_TOPICS_NICENESS, _load_demo_topic_libraries, _demo_topics_at,
                            str((out_dir / "store").resolve()))
    try:
        network = generate(n_users=n_users, n_posts=n_posts, seed=seed, media_dir=out_dir / "media")
        store = connect(out_dir / "store")
        summary = ingest_corpus(network.corpus, store)
    except BaseException:
        topics.cancel()
        raise
    topics.go()  # the topic model learns beside,
    _recognise_entities_early(store)  # and the report's entity recognition in a third
    try:
        demo_sentiment(store)
    except (MissingDependencyError, DataError) as error:  # no text extra, or too few posts to learn from
        logger.warning("the demo skips sentiment: %s", error)
    try:
        topics.result()
    except (MissingDependencyError, DataError) as error:
        logger.warning("the demo skips topics: %s", error)
    report = analyze(store, out_dir / "report.html", title="socialfusion demo: synthetic social network")
    return report, summary
