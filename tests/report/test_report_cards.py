"""What the cards show analysts: BERTopic's topic views, topic-map labels that never overlap, users by handle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from socialfusion import Corpus
from socialfusion.report import Figure, Table, Text, render_report
from socialfusion.tasks._network_report import network_section
from socialfusion.tasks.topics import (
    _KEYWORD_TOPICS,
    _MAP_LABELS,
    _TIMELINE_TOPICS,
    TopicModel,
    _label_box,
    _label_width_px,
    _place_labels,
    topics_section,
)

from ._topics_corpus import DAYS, topics_corpus


@pytest.fixture(scope="module")
def many_topics() -> tuple[TopicModel, Corpus]:
    return topics_corpus(16)


def _figure(section, key: str):
    return next(block.figure for block in section.blocks if isinstance(block, Figure) and block.key == key)


def test_topics_card_has_bertopic_views(many_topics):
    model, corpus = many_topics
    section = topics_section(model, corpus)
    assert section.figure_ids() == ["topics-map", "topics-keywords", "topics-over-time", "topics-hierarchy"]
    assert isinstance(section.blocks[1], Table)
    render_report([section], title="topics")  # renders, ids unique

    bars = _figure(section, "keywords")
    assert len(bars.data) == _KEYWORD_TOPICS  # the largest topics, one small chart each
    for trace in bars.data:
        weights = list(trace.x)
        assert weights == sorted(weights, reverse=True) and weights[0] > 0  # c-TF-IDF, strongest first
    largest = model.topics_.sort_by([("size", "descending")]).to_pylist()[0]
    assert list(bars.data[0].y) == largest["keywords"][:5]

    over_time = _figure(section, "over-time")
    assert len(over_time.data) == _TIMELINE_TOPICS
    assert all(len(trace.x) == DAYS for trace in over_time.data)
    assert sum(sum(trace.y) for trace in over_time.data) == sum(
        sorted(model.topics_.column("size").to_pylist(), reverse=True)[:_TIMELINE_TOPICS])

    hierarchy = _figure(section, "hierarchy")
    assert len(hierarchy.layout.yaxis.tickvals) == 16  # one leaf per topic
    links = [value for value in hierarchy.data[0].x if value is not None]
    assert len(links) == 4 * 15  # 15 merges of 16 topics, four points each


def test_topic_map_labels_never_overlap(many_topics):
    model, _ = many_topics
    section = topics_section(model)
    scatter = _figure(section, "map").data[0]
    labelled = [text for text in scatter.text if text]
    assert 0 < len(labelled) <= _MAP_LABELS
    assert len(scatter.hovertext) == 16  # every topic names itself on hover


def test_label_placement_keeps_labels_apart_and_inside():
    rng = np.random.default_rng(1)
    for _ in range(20):
        centres = rng.uniform(0, [640, 400], size=(40, 2))
        radii = rng.uniform(6, 26, size=40)
        texts = [f"topic {index}: words, more words" for index in range(40)]
        positions = _place_labels(centres, radii, texts, order=range(40), width=640, height=400, limit=15)
        boxes = [_label_box(position, centres[index], radii[index], _label_width_px(texts[index]))
                 for index, position in enumerate(positions) if position]
        assert 0 < len(boxes) <= 15
        for a, b in itertools.combinations(boxes, 2):
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert all(box[0] >= 0 and box[1] >= 0 and box[2] <= 640 and box[3] <= 400 for box in boxes)


def test_spread_out_topics_are_all_labelled():
    model, _ = topics_corpus(3)
    section = topics_section(model)
    assert all(_figure(section, "map").data[0].text)
    assert "every topic is labelled" in next(block.caption for block in section.blocks
                                             if isinstance(block, Figure) and block.key == "map")


def test_topics_stored_without_weights_say_how_to_get_them(many_topics):
    model, corpus = many_topics
    assigned, topics = model.assignments(), model.topics_.drop_columns(["keyword_weights"])
    section = topics_section((assigned, topics), corpus)
    assert "topics-keywords" not in section.figure_ids()  # no centroids either: no map, no hierarchy
    assert any(isinstance(block, Text) and "refit" in block.text for block in section.blocks)


def test_network_card_names_users_by_handle():
    edges = [{"src": fan, "dst": "h", "kind": "follow"} for fan in "abcd"]
    edges.append({"src": "a", "dst": "b", "kind": "follow"})
    users = [{"user_id": "h", "handle": "TheHub"}, {"user_id": "a", "handle": "@ann"}]
    section = network_section(Corpus.from_records(edges=edges, users=users), runs=10)
    assert section.summary.endswith("Most influential: @TheHub (h).")
    influencers = next(block for block in section.blocks if isinstance(block, Table))
    columns, rows = influencers.head()
    assert columns[:2] == ["user", "handle"]
    assert (rows[0]["user"], rows[0]["handle"]) == ("h", "@TheHub")
    assert {row["handle"] for row in rows} == {"@TheHub", "@ann", None}  # no handle: the id alone
    what_if = [block for block in section.blocks if isinstance(block, Table)][-1]
    assert "@TheHub" in what_if.head()[1][0]["seed these users"]

    plain = network_section(Corpus.from_records(edges=edges), runs=10)
    assert "handle" not in next(block for block in plain.blocks if isinstance(block, Table)).head()[0]


def test_profiles_card_says_when_the_text_encoder_learned_from_a_sample(monkeypatch):
    from socialfusion import pipeline
    from socialfusion.datasets.synthetic import generate

    corpus = generate(n_users=40, n_posts=200, seed=0, n_videos=0, n_audio=0, image_fraction=0.0).corpus

    def note_of(section):
        return [block.text for block in section.blocks if isinstance(block, Text) and "Text embeddings" in block.text]

    full = pipeline.report_sections(corpus, sections="profiles")[0]
    assert note_of(full) == []  # every text fits under MAX_TEXT_FIT: no sample, no note
    monkeypatch.setattr(pipeline, "MAX_TEXT_FIT", 50)
    sampled = pipeline.report_sections(corpus, sections="profiles")[0]
    texts = sum(1 for text in corpus.posts.column("text").to_pylist() if text and text.strip())
    assert note_of(sampled) == [f"Text embeddings: text/tfidf learned its vocabulary and projection from a seeded "
                                f"sample of 50 of {texts:,} texts, then embedded every post."]


def test_network_profiles_and_engagement_cards_share_one_community_search(monkeypatch):
    from socialfusion import pipeline
    from socialfusion.datasets.synthetic import generate
    from socialfusion.report._render import _render_section
    from socialfusion.tasks import influence

    corpus = generate(n_users=80, n_posts=400, seed=1, n_videos=0, n_audio=0, image_fraction=0.0).corpus
    alone = {key: _render_section(pipeline.report_sections(corpus, sections=key)[0])
             for key in ("network", "profiles", "engagement")}
    searches = []
    find = influence.communities
    monkeypatch.setattr(influence, "communities", lambda *args, **kwargs: searches.append(1) or find(*args, **kwargs))

    together = pipeline.report_sections(corpus, sections="network,profiles,engagement")

    assert len(searches) == 1
    assert {section.key: _render_section(section) for section in together} == alone
    assert all("Skipped" not in html for html in alone.values())  # each card was built, none became a note


def test_cards_refuse_a_graph_built_with_other_kinds_or_another_seed():
    from socialfusion.datasets.synthetic import generate
    from socialfusion.exceptions import ConfigurationError
    from socialfusion.tasks.engagement import engagement_examples
    from socialfusion.tasks.influence import graph_communities
    from socialfusion.tasks.profiles import build_profiles

    corpus = generate(n_users=30, n_posts=100, seed=0, n_videos=0, n_audio=0, image_fraction=0.0).corpus
    other_seed = graph_communities(corpus, random_state=1)
    with pytest.raises(ConfigurationError, match="built with kinds"):
        network_section(corpus, graph=other_seed)
    with pytest.raises(ConfigurationError, match="built with kinds"):
        build_profiles(corpus, text_encoder="text/tfidf", follow_graph=other_seed)
    with pytest.raises(ConfigurationError, match="built with kinds"):
        engagement_examples(corpus, follow_graph=graph_communities(corpus, kinds=("follow", "friend")))
