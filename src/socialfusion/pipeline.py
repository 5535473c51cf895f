"""The jobs the CLI and the server run: store statistics, analysis into an HTML report, and the demo."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialfusion.corpus import Corpus, modality_counts
from socialfusion.exceptions import DataError, MissingDependencyError, SocialFusionError
from socialfusion.ingestion import IngestSummary, ingest_corpus
from socialfusion.store import Store, connect

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DEMO_SENTIMENT_ENCODERS",
    "DEMO_TOPICS",
    "REPORT_TEXT_ENCODER",
    "analyze",
    "demo_sentiment",
    "demo_topics",
    "run_demo",
    "store_stats",
]

logger = logging.getLogger(__name__)

DEMO_TOPICS = {"encoders": {"text": "text/multilingual"}, "method": "kmeans", "n_topics": 8}
"""The demo's topic model: multilingual sentence vectors (its posts mix English and Chinese), 8 KMeans topics."""

REPORT_TEXT_ENCODER = "text/tfidf"
"""The text encoder of the report's profile and engagement features: fitted on the corpus in seconds."""

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


def _section_or_note(key: str, title: str, build: Callable[[], Any]) -> Any:
    """Build one analysis's section; an analysis the corpus cannot support becomes a card that says why."""
    from socialfusion.report import ReportSection, Text

    try:
        return build()
    except SocialFusionError as error:  # too little data, a missing extra, an option the corpus cannot take
        logger.warning("the report skips %s: %s", key, error)
        return ReportSection(title=title, key=key, summary="Skipped.", blocks=[Text(f"Skipped: {error}")])


def _trend_keys(store: Store | None, corpus: Corpus) -> tuple[pa.Table, pa.Table | None]:
    """Topic assignments when a topic model wrote them to the store, else hashtags; and the store's ``topics``
    table (what names and colours the topics in every card) when the keys are its topic ids."""
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE
    from socialfusion.tasks.trends import key_assignment

    if store is not None and POST_TOPICS_TABLE in store.tables():
        topics = store.read(TOPICS_TABLE, columns=["topic_id", "label"]) if TOPICS_TABLE in store.tables() else None
        return key_assignment(store, by="topic"), topics
    return key_assignment(corpus.posts, by="hashtag"), None


def _trends_and_opinion(corpus: Corpus, store: Store | None) -> list:
    from socialfusion.tasks.opinion import (
        count_opinions,
        opinion_alerts,
        opinion_posts,
        opinion_section,
        post_sentiment,
    )
    from socialfusion.tasks.trends import trends_section, volume_series

    keys, topics = _trend_keys(store, corpus)
    sections = [_section_or_note("trends", "Trends",
                                 lambda: trends_section(volume_series(corpus.posts, keys), topics=topics))]

    def opinion() -> Any:
        scored = opinion_posts(corpus.posts, keys, post_sentiment(store) if store is not None else None)
        timeline = count_opinions(scored, posts=corpus.posts)
        return opinion_section(timeline, opinion_alerts(timeline, evidence=scored), topics=topics)

    sections.append(_section_or_note("opinion", "Public opinion", opinion))
    return sections


def _knowledge_and_patterns(corpus: Corpus) -> list:
    from socialfusion.tasks.knowledge import KnowledgeGraph, extract_entities, knowledge_section
    from socialfusion.tasks.patterns import association_rules, patterns_section, user_segments
    from socialfusion.tasks.trends import key_assignment

    entities = extract_entities(corpus.posts)

    def patterns() -> Any:
        support = min(1.0, 5 / max(corpus.posts.num_rows, 1))  # a pattern needs 5 posts behind it, at any size
        rules = association_rules(corpus.posts, entities=entities, min_support=support)
        segments = user_segments(corpus.posts, key_assignment(corpus.posts, by="hashtag"))
        return patterns_section(rules, segments)

    return [
        _section_or_note("knowledge", "Knowledge graph",
                         lambda: knowledge_section(KnowledgeGraph.build(corpus.posts, entities,
                                                                        users=corpus.users))),
        _section_or_note("patterns", "Hidden patterns", patterns),
    ]


def _profiles_and_engagement(corpus: Corpus, store: Store | None, sentiment_predictions: pa.Table | None) -> list:
    import functools

    from socialfusion.tasks.engagement import EngagementModel, engagement_examples, engagement_section, time_split
    from socialfusion.tasks.profiles import (
        audience_segments,
        build_profiles,
        post_text_vectors,
        profile_embeddings,
        profiles_section,
    )

    # both cards read the same post text vectors: encode them once, inside whichever card asks first
    vectors = functools.cache(lambda: post_text_vectors(corpus, store=store, text_encoder=REPORT_TEXT_ENCODER))

    def profiles() -> Any:
        sentiment = sentiment_predictions if sentiment_predictions is not None else "lexicon"
        table = build_profiles(corpus, store=store, sentiment=sentiment,  # the store's topics name interests
                               embeddings=profile_embeddings(corpus, post_vectors=vectors()))
        return profiles_section(table, audience_segments(table, corpus=corpus, sentiment=sentiment))

    def engagement() -> Any:
        # the store's post_topics (the topics card's model), when there are some, give the topic features
        train, test = time_split(engagement_examples(corpus, store=store, post_vectors=vectors()))
        model = EngagementModel(learner="logistic").fit(train)
        return engagement_section(model, test)

    return [_section_or_note("profiles", "User profiles and segments", profiles),
            _section_or_note("engagement", "Engagement", engagement)]


def _recommendation(corpus: Corpus) -> Any:
    """Recommendation quality of each model on a random 8:1:1 split of the likes, and the hybrid's examples."""
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
    components = {"ALS": ALSRecommender, "item kNN": ItemKNNRecommender, "social": SocialRecommender}
    evaluation = {}
    for name, model in {"popularity": PopularityRecommender(), **{n: c() for n, c in components.items()}}.items():
        evaluation[name] = evaluate_recommender(model.fit(split.train, edges=corpus.edges), split.test)
    hybrid = HybridRecommender({name: component() for name, component in components.items()})
    hybrid.fit(split.train, validation=split.validation, edges=corpus.edges)
    evaluation["hybrid (weights tuned on validation)"] = evaluate_recommender(hybrid, split.test)
    active = split.train.group_by("user").aggregate([("item", "count")]).sort_by([("item_count", "descending")])
    examples = hybrid.recommend(active.column("user").to_pylist()[:3], k=5)
    return recommendation_section(evaluation, examples, data=corpus,
                                  note="Likes split at random 8:1:1 (seed 0); every post a user has not liked in "
                                       "training is ranked.")


def report_sections(corpus: Corpus, *, store: Store | None = None,
                    sentiment_predictions: pa.Table | None = None) -> list:
    """The report sections for a corpus, in reading order (each analysis contributes one).

    An analysis the corpus cannot support (too few posts, no timestamps, no ties) becomes a card that says why,
    and the rest of the report is still written.

    Args:
        corpus: the corpus.
        store: the store the corpus came from, for what analyses wrote there (topic assignments, cached features).
        sentiment_predictions: an Arrow table of sentiment predictions (``socialfusion.tasks.read_predictions``)
            to add the sentiment section; the held-out scores the demo records in the corpus metadata show too.
    """
    from socialfusion.report import overview_section
    from socialfusion.tasks._network_report import network_section
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, read_topics, topics_section

    sections = [overview_section(corpus)]
    if sentiment_predictions is not None:
        from socialfusion.tasks.sentiment import EVALUATION_METADATA_KEY, sentiment_section

        evaluation = corpus.metadata.get(EVALUATION_METADATA_KEY)
        sections.append(sentiment_section(corpus, sentiment_predictions, evaluation=evaluation))
    if corpus.posts.num_rows == 0:
        return sections
    sections.append(_section_or_note("network", "Social network", lambda: network_section(corpus)))
    if store is not None and POST_TOPICS_TABLE in store.tables():
        sections.append(_section_or_note("topics", "Topics", lambda: topics_section(read_topics(store), corpus)))
    sections.extend(_trends_and_opinion(corpus, store))
    sections.extend(_knowledge_and_patterns(corpus))
    sections.extend(_profiles_and_engagement(corpus, store, sentiment_predictions))
    sections.append(_section_or_note("recommend", "Recommendation", lambda: _recommendation(corpus)))
    return sections


def analyze(store: Store | Corpus, out: str | Path, *, title: str = "socialfusion report") -> Path:
    """Analyse a store (or an in-memory corpus) and write the self-contained HTML report to ``out``.

    A store with sentiment predictions (``socialfusion sentiment predict``) gets a sentiment section.

    Returns:
        The report's path.
    """
    from socialfusion.report import write_report
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, read_predictions

    corpus = store if isinstance(store, Corpus) else Corpus.from_store(store)
    predictions = None
    if not isinstance(store, Corpus) and PREDICTIONS_TABLE in store.tables():
        predictions = read_predictions(store)
    subtitle = f"{corpus.posts.num_rows:,} posts · {corpus.users.num_rows:,} users · {corpus.edges.num_rows:,} edges"
    sections = report_sections(corpus, store=None if isinstance(store, Corpus) else store,
                               sentiment_predictions=predictions)
    return write_report(sections, Path(out), title=title, subtitle=subtitle)


def demo_sentiment(store: Store) -> dict[str, dict[str, Any]]:
    """Train the demo's sentiment model on the planted labels (train split), score it, predict every post.

    Fits a ``SentimentModel`` on ``DEMO_SENTIMENT_ENCODERS`` and, for comparison, one on the lexicon features
    alone; scores both and the lexicon baseline on the test split; writes the fused model's predictions to
    ``sentiment_predictions`` and the scores to the store metadata (``EVALUATION_METADATA_KEY``).

    Returns:
        Method name -> ``evaluate`` result on the test split.
    """
    from socialfusion.tasks.sentiment import (
        EVALUATION_METADATA_KEY,
        LexiconSentiment,
        SentimentModel,
        write_predictions,
    )

    fused = SentimentModel(encoders=DEMO_SENTIMENT_ENCODERS).fit(store, split="train")
    text_only = SentimentModel(encoders={"lexicon": "text/lexicon"}).fit(store, split="train")
    evaluation = {
        "fused: lexicon features + colour histogram (stacked)": fused.evaluate(store, split="test"),
        "text only: lexicon features (stacked)": text_only.evaluate(store, split="test"),
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


def run_demo(
    out_dir: str | Path, *, n_users: int = 300, n_posts: int = 2000, seed: int = 0
) -> tuple[Path, IngestSummary]:
    """Generate the synthetic social network, ingest it into ``out_dir/store``, write ``out_dir/report.html``.

    Media files are written under ``out_dir/media``. With the ``text`` extra installed, the demo also learns the
    posts' sentiment from the planted labels (``demo_sentiment``: a few seconds) and the report shows it.

    Returns:
        The report's path and the ingest summary.
    """
    from socialfusion.datasets.synthetic import generate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    network = generate(n_users=n_users, n_posts=n_posts, seed=seed, media_dir=out_dir / "media")
    store = connect(out_dir / "store")
    summary = ingest_corpus(network.corpus, store)
    try:
        demo_sentiment(store)
    except (MissingDependencyError, DataError) as error:  # no text extra, or too few posts to learn from
        logger.warning("the demo skips sentiment: %s", error)
    try:
        demo_topics(store)
    except (MissingDependencyError, DataError) as error:
        logger.warning("the demo skips topics: %s", error)
    report = analyze(store, out_dir / "report.html", title="socialfusion demo: synthetic social network")
    return report, summary
