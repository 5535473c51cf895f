"""More like this post (fused or text vectors), topic assignment of new texts, the reach what-if and the next
adopters of a cascade: each through its route, with its errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import socialfusion as sf  # noqa: E402
from socialfusion import app  # noqa: E402
from socialfusion.server import Settings, create_app  # noqa: E402

from .conftest import TEXT_ENCODER, build_store, make_tokens  # noqa: E402

API = "/api/v1"
IMAGE_ENCODER = "image/colour-histogram"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    """A client of a fresh featurized store (text only at first) and a read token."""
    path = tmp_path_factory.mktemp("more") / "store"
    build_store(path)
    read = make_tokens(sf.connect(path)).read
    with TestClient(create_app(Settings(store=path, job_workers=0))) as client:
        yield client, read, path


def _post_with(store: sf.Store, column: str) -> str:
    """A post that has text (``column="text"``) or an image (``"media"``)."""
    posts = store.read("posts", columns=["post_id", "text", "media"]).to_pylist()
    return next(post["post_id"] for post in posts if (post[column] if column == "text" else post["media"]))


def test_similar_posts_by_text_then_by_fused_vectors(served, monkeypatch):
    from socialfusion import search
    from socialfusion.featurize import featurize
    from socialfusion.tasks.recommend import fuse_item_features

    client, read, path = served
    store = sf.connect(path)
    post_id = _post_with(store, "media")
    text_only = client.get(f"{API}/posts/{post_id}/similar", params={"k": 5}, headers=read)
    assert text_only.status_code == 200, text_only.text
    body = text_only.json()
    assert body["vector"] == "text" and body["encoders"] == {"text": TEXT_ENCODER}
    assert len(body["hits"]) == 5 and post_id not in {hit["post"]["post_id"] for hit in body["hits"]}
    refused = client.get(f"{API}/posts/{post_id}/similar", params={"by": "fused"}, headers=read)
    assert refused.status_code == 409 and "image, video or audio" in refused.json()["error"]["message"]

    # the store's table list is looked at once every CHECK_SECONDS; this test asks again at once
    monkeypatch.setattr(search, "CHECK_SECONDS", 0.0)
    featurize(store, [IMAGE_ENCODER])  # now two modalities: "auto" fuses them
    fused = client.get(f"{API}/posts/{post_id}/similar", params={"k": 5}, headers=read)
    assert fused.status_code == 200, fused.text
    body = fused.json()
    assert body["vector"] == "fused" and body["encoders"] == {"text": TEXT_ENCODER, "image": IMAGE_ENCODER}
    # the ranking is the cosine of the fused vectors, computed here independently
    from socialfusion.featurize import load_features

    ids = store.read("posts", columns=["post_id"]).column("post_id").to_pylist()
    parts = {}
    for modality, encoder in (("text", TEXT_ENCODER), ("image", IMAGE_ENCODER)):
        encoded = load_features(store, encoder, ids)
        parts[modality] = encoded.vectors * ~encoded.missing[:, None]
    vectors = fuse_item_features(parts)
    scores = vectors @ vectors[ids.index(post_id)]
    expected = sorted(
        (i for i in range(len(ids)) if ids[i] != post_id and vectors[i].any()), key=lambda i: (-scores[i], i)
    )[:5]
    assert [hit["post"]["post_id"] for hit in body["hits"]] == [ids[i] for i in expected]
    assert [round(hit["score"], 4) for hit in body["hits"]] == [round(float(scores[i]), 4) for i in expected]
    by_text = client.get(f"{API}/posts/{post_id}/similar", params={"by": "text", "k": 5}, headers=read).json()
    assert by_text["vector"] == "text" and by_text["hits"] == text_only.json()["hits"]
    missing = client.get(f"{API}/posts/no-such-post/similar", headers=read)
    assert missing.status_code == 404


def test_topic_assignment_of_new_texts(served):
    client, read, path = served
    texts = {"texts": ["A great football match last night", "My recipe for dinner tonight"]}
    before = client.post(f"{API}/topics/assign", json=texts, headers=read)
    assert before.status_code == 409 and "topics fit" in before.json()["error"]["message"]

    assert client.get(f"{API}/topics", headers=read).status_code == 409
    store = sf.connect(path)
    fitted = app.fit_topics(store, app.FitTopicsParams(text_encoder=TEXT_ENCODER, n_topics=4, min_topic_size=2))
    listed = client.get(f"{API}/topics", headers=read)
    assert listed.status_code == 200 and listed.json()["posts"] == fitted.assigned
    assert [topic["topic_id"] for topic in listed.json()["topics"]] == [0, 1, 2, 3]
    assert [topic["keywords"] for topic in listed.json()["topics"]] == [topic.keywords for topic in fitted.summaries]
    assigned = client.post(f"{API}/topics/assign", json=texts, headers=read)
    assert assigned.status_code == 200, assigned.text
    body = assigned.json()
    topics = {row["topic_id"]: row["label"] for row in store.read("topics", columns=["topic_id", "label"]).to_pylist()}
    assert body["encoder"] == TEXT_ENCODER and [row["index"] for row in body["assignments"]] == [0, 1]
    for row in body["assignments"]:
        assert row["topic_id"] in topics or (row["topic_id"] == -1 and row["label"] is None)
    # a stored post's text lands in the topic its post was assigned when the model was fitted
    stored = store.read("post_topics", columns=["post_id", "topic_id"]).to_pylist()[:5]
    texts_of = dict(
        zip(
            *(store.read("posts", columns=["post_id", "text"]).column(name).to_pylist() for name in ("post_id", "text"))
        )
    )
    again = client.post(
        f"{API}/topics/assign", json={"texts": [texts_of[row["post_id"]] for row in stored]}, headers=read
    ).json()
    assert [row["topic_id"] for row in again["assignments"]] == [row["topic_id"] for row in stored]
    for bad in ({"texts": []}, {"texts": [""]}, {"texts": ["x"] * 101}, {"text": "one"}):
        refused = client.post(f"{API}/topics/assign", json=bad, headers=read)
        assert refused.status_code == 422, bad


def test_reach_what_if(served):
    client, read, path = served
    store = sf.connect(path)
    edges = store.read("edges", columns=["src", "dst", "kind"]).to_pylist()
    followed = [edge["dst"] for edge in edges if edge["kind"] == "follow"]
    popular = max(set(followed), key=followed.count)
    ask = {"seeds": [popular], "probability": 0.5, "runs": 200, "seed": 3}
    found = client.post(f"{API}/network/reach", json=ask, headers=read)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["seeds"] == [popular] and body["runs"] == 200
    assert 1 <= body["p5"] <= body["expected_reach"] <= body["p95"] <= body["users"]
    assert body["expected_reach"] > 1  # half of its followers pass it on: it goes beyond the seed
    assert client.post(f"{API}/network/reach", json=ask, headers=read).json() == body  # seeded: the same again
    weaker = client.post(f"{API}/network/reach", json={**ask, "probability": 0.01}, headers=read).json()
    assert weaker["expected_reach"] < body["expected_reach"]
    unknown = client.post(f"{API}/network/reach", json={**ask, "seeds": ["nobody"]}, headers=read)
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]["message"]
    assert client.post(f"{API}/network/reach", json={**ask, "probability": 2}, headers=read).status_code == 422


def test_next_adopters_by_the_stores_model(served, tmp_path):
    from socialfusion.datasets import load_forest_cascades

    client, read, path = served
    ask = {"adopters": ["a", "b", "stranger"], "k": 2}
    before = client.post(f"{API}/network/next-adopters", json=ask, headers=read)
    assert before.status_code == 409 and "next-adopters fit" in before.json()["error"]["message"]

    folder = tmp_path / "cascades"
    folder.mkdir()
    for name, start in (
        ("cascade.txt", 1_286_000_000),
        ("cascadevalid.txt", 1_287_000_000),
        ("cascadetest.txt", 1_288_000_000),
    ):
        rows = [
            " ".join(f"{user},{start + 1000 * repeat + 60 * step}" for step, user in enumerate(order))
            for repeat in range(8)
            for order in (("a", "b", "c"), ("x", "y", "z"))
        ]
        (folder / name).write_text("\n".join(rows) + "\n")
    fitted = app.fit_next_adopters(
        load_forest_cascades(folder), app.NextAdoptersFitParams(window=1), app.next_adopter_model_path(sf.connect(path))
    )
    assert fitted.cascades == 16 and not fitted.graph
    found = client.post(f"{API}/network/next-adopters", json=ask, headers=read)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["next"][0]["user_id"] == "c" and body["unknown"] == ["stranger"]
    assert [row["rank"] for row in body["next"]] == [1, 2] and "a" not in {row["user_id"] for row in body["next"]}
    scored = app.evaluate_next_adopters(
        load_forest_cascades(folder),
        app.NextAdoptersEvaluationParams(split="test", ks=[1]),
        app.next_adopter_model_path(sf.connect(path)),
    )
    assert scored.scores["hits@1"] == 1.0 and scored.steps == 32
    assert client.post(f"{API}/network/next-adopters", json={"adopters": []}, headers=read).status_code == 422
