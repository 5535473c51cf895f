"""Operations that ask the corpus a question: influencers, communities, bursts, opinion alerts, similar users,
recommendations for a user, knowledge-graph neighbours."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field

from socialfusion.app._common import K, Params, Result, cached, check_user, clean, local_folder
from socialfusion.exceptions import ConfigurationError, NotFoundError, StoreError
from socialfusion.store import Store

__all__ = [
    "RECOMMENDER_FILE",
    "Burst",
    "BurstParams",
    "BurstsResult",
    "CommunitiesParams",
    "CommunitiesResult",
    "Community",
    "Influencer",
    "InfluencersParams",
    "InfluencersResult",
    "Neighbour",
    "NeighboursParams",
    "NeighboursResult",
    "OpinionAlert",
    "OpinionAlertsParams",
    "OpinionAlertsResult",
    "QuotedPost",
    "Recommendation",
    "RecommendationsParams",
    "RecommendationsResult",
    "SimilarUser",
    "SimilarUsersParams",
    "SimilarUsersResult",
    "bursts",
    "communities",
    "influencers",
    "kg_neighbours",
    "opinion_alerts",
    "recommendations",
    "recommender_path",
    "similar_users",
]

GraphKind = Literal["follow", "friend", "mention", "reply", "reshare"]
_GRAPH_TABLES = ["posts", "users", "edges", "interactions"]
_NO_KEY = object()


def _graph(store: Store, kinds: list[str]):
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.influence import social_graph

    return cached(store, _GRAPH_TABLES, ("graph", sorted(kinds)),
                  lambda: social_graph(Corpus.from_store(store), kinds=tuple(sorted(set(kinds)))))


class InfluencersParams(Params):
    """Which ties make the graph, and how many users to return."""

    kinds: list[GraphKind] = Field(["follow"], min_length=1, max_length=5)
    k: K = 20


class Influencer(Result):
    """A user's centrality scores (``socialfusion.tasks.influence.influence_scores``)."""

    user_id: str
    in_degree: int
    out_degree: int
    pagerank: float
    hub: float | None
    authority: float | None
    core: int
    betweenness: float | None
    bridging: float | None


class InfluencersResult(Result):
    """The most influential users by PageRank."""

    users: list[Influencer]


def influencers(store: Store, params: InfluencersParams) -> InfluencersResult:
    """The most influential users by PageRank, with the scores that say why."""
    from socialfusion.tasks.influence import influence_scores

    scores = cached(store, _GRAPH_TABLES, ("influence", sorted(params.kinds)),
                    lambda: influence_scores(_graph(store, params.kinds)))
    return InfluencersResult(users=clean(scores.slice(0, params.k).to_pylist()))


class CommunitiesParams(Params):
    """The graph and the community method."""

    kinds: list[GraphKind] = Field(["follow"], min_length=1, max_length=5)
    method: Literal["leiden", "louvain"] = "leiden"
    resolution: float = Field(1.0, gt=0, le=100)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    members: int = Field(10, ge=0, le=1000, description="User ids listed per community (the first, by id).")
    k: K = Field(100, description="Communities returned, largest first.")


class Community(Result):
    """One community: its size and some members."""

    community: int
    size: int
    members: list[str]


class CommunitiesResult(Result):
    """Communities, largest first, and the partition's modularity."""

    method: str
    modularity: float | None
    communities: list[Community]


def communities(store: Store, params: CommunitiesParams) -> CommunitiesResult:
    """Communities of the social graph (``socialfusion.tasks.influence.communities``)."""
    from socialfusion.tasks.influence import communities as find_communities

    found = cached(store, _GRAPH_TABLES, ("communities", params.model_dump(exclude={"members", "k"})),
                   lambda: find_communities(_graph(store, params.kinds), method=params.method,
                                            resolution=params.resolution, random_state=params.seed))
    groups: dict[int, list[str]] = {}
    for row in found.table.to_pylist():
        groups.setdefault(row["community"], []).append(row["user_id"])
    listed = [Community(community=label, size=len(users), members=sorted(users)[: params.members])
              for label, users in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))]
    return CommunitiesResult(method=found.method, modularity=clean(found.modularity),
                             communities=listed[: params.k])


class BurstParams(Params):
    """How posts are grouped and counted, and the burst test."""

    by: Literal["hashtag", "topic"] = "hashtag"
    freq: Literal["D", "h"] = "D"
    method: Literal["negative_binomial", "poisson", "kleinberg"] = "negative_binomial"
    k: K = 20


class Burst(Result):
    """A burst of a key's volume."""

    key: str
    name: str | None = None
    start: dt.datetime
    end: dt.datetime
    periods: int
    posts: int
    score: float | None


class BurstsResult(Result):
    """Bursts, strongest first."""

    bursts: list[Burst]


def _names(store: Store, by: str) -> dict[str, str]:
    from socialfusion.tasks.topics import POST_TOPICS_TABLE, TOPICS_TABLE, topic_names

    if by != "topic" or not {POST_TOPICS_TABLE, TOPICS_TABLE} <= set(store.tables()):
        return {}
    return topic_names(store.read(TOPICS_TABLE, columns=["topic_id", "label"]))


def _series(store: Store, by: str, freq: str):
    from socialfusion.tasks.trends import key_assignment, volume_series

    return volume_series(store.read("posts", columns=["post_id", "created_at", "hashtags"]),
                         key_assignment(store, by), freq=freq)


def bursts(store: Store, params: BurstParams) -> BurstsResult:
    """Bursts of volume per hashtag or topic (``socialfusion.tasks.trends.detect_bursts``).

    Raises:
        DataError: ``by="topic"`` and the store has no topics.
    """
    from socialfusion.tasks.trends import detect_bursts

    def compute():
        found = detect_bursts(_series(store, params.by, params.freq), params.method)
        return found.sort_by([("score", "descending"), ("key", "ascending")])

    found = cached(store, ["posts", "post_topics", "topics", "labels"], ("bursts", params.model_dump(exclude={"k"})),
                   compute)
    names = _names(store, params.by)
    return BurstsResult(bursts=[{**row, "name": names.get(row["key"])}
                                for row in clean(found.slice(0, params.k).to_pylist())])


class OpinionAlertsParams(Params):
    """How posts are grouped, and the alert test."""

    by: Literal["hashtag", "topic"] = "hashtag"
    freq: Literal["D", "h"] = "D"
    window: int = Field(3, ge=1, le=1000, description="Periods in the recent window.")
    baseline: int = Field(14, ge=1, le=10_000, description="Periods in the baseline before it.")
    alpha: float = Field(0.01, gt=0, lt=1, description="False-discovery rate (Benjamini-Hochberg).")
    min_posts: int = Field(10, ge=1, le=1_000_000, description="Fewest posts in window and baseline.")
    latest: bool = Field(False, description="Only test the last period.")
    examples: int = Field(3, ge=0, le=100, description="Posts quoted per alert (the most negative of the window).")
    k: K = 20


class QuotedPost(Result):
    """A post quoted as evidence."""

    post_id: str
    text: str | None = None


class OpinionAlert(Result):
    """A key whose negative share rose significantly, with the posts that explain it."""

    key: str
    name: str | None = None
    start: dt.datetime
    end: dt.datetime
    window_posts: int
    window_negative: int
    window_share: float | None
    baseline_posts: int
    baseline_share: float | None
    z: float | None
    p_value: float | None
    adjusted_p: float | None
    examples: list[QuotedPost]


class OpinionAlertsResult(Result):
    """Alerts, strongest first."""

    alerts: list[OpinionAlert]


def opinion_alerts(store: Store, params: OpinionAlertsParams) -> OpinionAlertsResult:
    """Keys whose negative share rose (``socialfusion.tasks.opinion.opinion_alerts``; stored sentiment
    predictions, else the lexicons)."""
    from socialfusion.tasks.opinion import count_opinions, opinion_posts, post_sentiment
    from socialfusion.tasks.opinion import opinion_alerts as find_alerts
    from socialfusion.tasks.trends import key_assignment

    def compute():
        posts = store.read("posts", columns=["post_id", "created_at", "text", "hashtags", "lang"])
        scored = opinion_posts(posts, key_assignment(store, params.by), post_sentiment(store), freq=params.freq)
        timeline = count_opinions(scored, params.freq, posts=posts)
        return find_alerts(timeline, window=params.window, baseline=params.baseline, alpha=params.alpha,
                           min_posts=params.min_posts, latest_only=params.latest, evidence=scored,
                           examples=params.examples)

    found = cached(store, ["posts", "post_topics", "labels", "sentiment_predictions"],
                   ("alerts", params.model_dump(exclude={"k"})), compute)
    names = _names(store, params.by)
    rows = clean(found.slice(0, params.k).to_pylist()) if found.num_rows else []
    return OpinionAlertsResult(alerts=[{**row, "name": names.get(row["key"])} for row in rows])


class SimilarUsersParams(Params):
    """How many similar users, found how."""

    k: K = 10
    exact: bool = Field(False, description="Compare with every profile instead of the vector index.")


class SimilarUser(Result):
    """A user and the cosine similarity of their profile embedding."""

    user_id: str
    similarity: float


class SimilarUsersResult(Result):
    """Users most similar to the one asked about, most similar first."""

    users: list[SimilarUser]


def similar_users(store: Store, user_id: str, params: SimilarUsersParams) -> SimilarUsersResult:
    """Users whose profile embeddings are closest (``socialfusion.tasks.profiles.similar_users``).

    Raises:
        NotFoundError: unknown user.
        StoreError: no profiles were built (``socialfusion profiles build``).
        DataError: the user has no profile or no text to embed.
    """
    from socialfusion.tasks.profiles import PROFILES_TABLE
    from socialfusion.tasks.profiles import similar_users as find_similar

    check_user(store, user_id)
    if PROFILES_TABLE not in store.tables():
        raise StoreError(f"store {store.uri!r} has no user profiles; build them with: socialfusion profiles build "
                         f"--store {store.uri}")
    found = find_similar(store, user_id, params.k, exact=params.exact)
    return SimilarUsersResult(users=clean(found.to_pylist()))


RECOMMENDER_FILE = "models/recommender-{name}.npz"
"""Where, inside a local store's folder, a fitted recommender is saved (as ``socialfusion recommend fit`` does)."""

Recommender = Literal["popularity", "als", "bpr", "itemknn", "ease", "dlae", "rp3beta", "gfcf", "lightgcn", "social",
                      "hybrid"]


def recommender_path(store: Store, name: str) -> Path | None:
    """The file of the store's fitted recommender ``name``, or None for a store that is not a local folder."""
    folder = local_folder(store)
    return None if folder is None else folder / RECOMMENDER_FILE.format(name=name)


class RecommendationsParams(Params):
    """Which recommender, how many items, and how to re-rank them."""

    k: K = 10
    model: Recommender = Field("hybrid", description="A recommender fitted with: socialfusion recommend fit.")
    diversity: float = Field(0.0, ge=0, le=1, description="MMR diversity weight.")
    freshness_days: float | None = Field(None, gt=0, le=36_500, description="Half-life of the recency boost.")


class Recommendation(Result):
    """A recommended item."""

    item: str
    score: float | None
    rank: int


class RecommendationsResult(Result):
    """Items for the user, best first; ``known_user`` is False when the model never saw the user (popular items)."""

    user_id: str
    model: str
    known_user: bool
    items: list[Recommendation]


def _recommender(path: Path):
    from socialfusion.tasks.recommend import load_recommender

    return load_recommender(path)


def recommendations(store: Store, user_id: str, params: RecommendationsParams) -> RecommendationsResult:
    """Items for a user from a saved recommender (``socialfusion.tasks.recommend.load_recommender``).

    Raises:
        NotFoundError: unknown user.
        StoreError: no fitted recommender of that name (the message says how to fit one).
    """
    check_user(store, user_id)
    path = recommender_path(store, params.model)
    if path is None or not path.is_file():
        raise StoreError(f"no fitted {params.model!r} recommender in {store.uri!r}; fit one with: socialfusion "
                         f"recommend fit --store {store.uri} --model {params.model}")
    model = cached(store, [], ("recommender", str(path), path.stat().st_mtime), lambda: _recommender(path))
    table = model.recommend([user_id], k=params.k, diversity=params.diversity,
                            freshness=params.freshness_days)
    return RecommendationsResult(user_id=user_id, model=params.model, known_user=user_id in model.user_index_,
                                 items=clean(table.select(["item", "score", "rank"]).to_pylist()))


class NeighboursParams(Params):
    """The node whose ties to list."""

    node: str = Field(min_length=1, max_length=512, description="A node id (person:Ada Lovelace), #hashtag, @user "
                                                                "or a label.")
    relation: Literal["co_occurs", "posted", "mentions", "links_to", "wrote", "contains"] | None = None
    k: K = 10
    entities: bool = Field(True, description="Include named entities (spaCy / jieba NER; slower the first time).")


class Neighbour(Result):
    """A tie of the node."""

    node_id: str
    label: str
    type: str
    relation: str
    direction: str
    weight: float
    pmi: float | None


class NeighboursResult(Result):
    """The node as resolved, and its strongest ties."""

    node: str
    neighbours: list[Neighbour]


def kg_neighbours(store: Store, params: NeighboursParams) -> NeighboursResult:
    """The strongest ties of a knowledge-graph node (``socialfusion.tasks.knowledge.KnowledgeGraph``; the graph
    is built once per version of the posts and users).

    Raises:
        NotFoundError: no node matches.
    """
    from socialfusion.app._knowledge import _knowledge_graph  # the graph every knowledge operation shares

    graph = _knowledge_graph(store, entities=params.entities)
    try:
        centre = graph.resolve(params.node)
    except ConfigurationError as error:
        raise NotFoundError(str(error), field="node") from None
    rows = graph.neighbours(centre, k=params.k, relation=params.relation)
    return NeighboursResult(node=centre, neighbours=clean(rows.to_pylist()))

