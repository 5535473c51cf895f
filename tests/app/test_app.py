"""The application layer: each operation on a small synthetic store, typed parameters in, typed results out."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

import socialfusion as sf
from socialfusion import app
from socialfusion.exceptions import DataError, NotFoundError, StoreError

TEXT_ENCODER = "text/minilm-int8"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> sf.Store:
    from socialfusion.featurize import featurize

    opened = sf.connect(tmp_path_factory.mktemp("app") / "store")
    sf.ingest_corpus(sf.generate(n_users=40, n_posts=120, seed=0).corpus, opened)
    featurize(opened, [TEXT_ENCODER])
    return opened


def _all_pages(store, **filters) -> list[app.Post]:
    posts, cursor = [], None
    while True:
        page = app.query_posts(store, app.PostQuery(limit=25, cursor=cursor, **filters))
        posts += page.posts
        cursor = page.next_cursor
        if cursor is None:
            return posts


def test_parameters_are_closed_and_bounded():
    with pytest.raises(ValidationError, match="Extra inputs"):
        app.PostQuery(limit=5, colour="red")
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        app.SearchParams(query="x", k=1001)
    with pytest.raises(ValidationError, match="invalid cursor"):
        app.PostQuery(cursor="not-a-cursor")
    with pytest.raises(ValidationError, match="unknown encoder"):
        app.FeaturizeParams(encoders=["text/nope"])
    with pytest.raises(ValidationError, match="encoder"):
        app.SearchParams(query="x", encoder="text/tfidf")  # fitted on the corpus: cannot embed a query


def test_statistics(store):
    stats = app.store_statistics(store)
    assert stats.tables["posts"] == store.count("posts") and stats.modalities["text"] > 0


def test_pages_are_newest_first_and_complete(store):
    posts = _all_pages(store)
    assert len(posts) == len({post.post_id for post in posts}) == store.count("posts")
    times = [post.created_at for post in posts if post.created_at is not None]
    assert times == sorted(times, reverse=True)
    assert all(not hasattr(item, "data") for post in posts for item in post.media)


def test_filters(store):
    first = _all_pages(store)[0]
    by_author = _all_pages(store, author_id=first.author_id)
    assert by_author and {post.author_id for post in by_author} == {first.author_id}
    tag = next(post.hashtags[0] for post in _all_pages(store) if post.hashtags)
    assert all(tag.lower() in [h.lower() for h in post.hashtags] for post in _all_pages(store, hashtag=f"#{tag}"))
    images = _all_pages(store, has="image")
    assert images and all(any(item.kind == "image" for item in post.media) for post in images)
    chinese = _all_pages(store, lang="zh")
    assert all(post.lang == "zh" for post in chinese)
    middle = dt.datetime(2024, 3, 15, tzinfo=dt.UTC)
    later = _all_pages(store, since=middle)
    earlier = _all_pages(store, until=middle)
    assert all(post.created_at >= middle for post in later) and all(post.created_at < middle for post in earlier)
    assert len(later) + len(earlier) == sum(1 for post in _all_pages(store) if post.created_at is not None)


def test_one_post_and_unknown_ids(store):
    post_id = _all_pages(store)[0].post_id
    detail = app.get_post(store, post_id)
    assert detail.post.post_id == post_id
    assert [feature.encoder for feature in detail.features] == [TEXT_ENCODER]
    with pytest.raises(NotFoundError):
        app.get_post(store, "no-such-post")


def test_search_modes(store):
    semantic = app.search_posts(store, app.SearchParams(query="climate summit heatwave", mode="semantic", k=5))
    keyword = app.search_posts(store, app.SearchParams(query="climate", mode="keyword", k=5))
    hybrid = app.search_posts(store, app.SearchParams(query="climate", k=5))
    assert len(semantic.hits) == 5 and [hit.rank for hit in semantic.hits] == [1, 2, 3, 4, 5]
    assert keyword.hits and all("climate" in hit.post.text.lower() for hit in keyword.hits)
    assert hybrid.hits and hybrid.hits[0].post.post_id in {hit.post.post_id for hit in semantic.hits + keyword.hits}
    assert app.search_posts(store, app.SearchParams(query="zzzqqq", mode="keyword")).hits == []
    with pytest.raises(DataError, match="blank"):
        app.search_posts(store, app.SearchParams(query="   ", mode="keyword"))


def test_more_like_this(store):
    post_id = app.search_posts(store, app.SearchParams(query="climate", mode="keyword", k=1)).hits[0].post.post_id
    similar = app.similar_posts(store, post_id, app.SimilarPostsParams(k=4))
    assert len(similar.hits) == 4 and post_id not in [hit.post.post_id for hit in similar.hits]
    with pytest.raises(NotFoundError):
        app.similar_posts(store, "no-such-post", app.SimilarPostsParams())


def test_sentiment_of_a_new_text_lexicon_then_trained_model(store):
    lexicon = app.predict_sentiment(store, app.SentimentParams(text="I love this, what a wonderful day!"))
    assert (lexicon.label, lexicon.model) == ("positive", "lexicon")
    trained = app.train_sentiment(store, app.TrainSentimentParams(
        encoders={"lexicon": "text/lexicon"}, predict=True))
    assert trained.predictions_written > 0 and (Path(store.uri) / trained.model).is_dir()
    predicted = app.predict_sentiment(store, app.SentimentParams(text="I love this, what a wonderful day!"))
    assert predicted.model == "stacked" and set(predicted.probabilities) == set(trained.classes)
    assert predicted.label in trained.classes
    label = predicted.label
    with_label = _all_pages(store, sentiment=label)
    assert with_label and all(app.get_post(store, post.post_id).sentiment.label == label for post in with_label[:3])
    own = app.evaluate_sentiment(store, app.EvaluateSentimentParams(split="test"))
    assert own.n == sum(map(sum, own.confusion_matrix)) > 0 and 0 <= own.accuracy <= 1
    lexicon_scores = app.evaluate_sentiment(store, app.EvaluateSentimentParams(lexicon=True, split="test"))
    assert lexicon_scores.n == own.n and lexicon_scores.ece is not None  # calibrated on the train labels
    labelled = app.label_posts(store, app.LabelPostsParams(lexicon=True, write=False))
    assert labelled.written == 0 and labelled.calibrated and sum(labelled.counts.values()) == len(labelled.predictions)


def test_a_model_saved_elsewhere_labels_and_scores_and_a_store_without_one_says_so(store, tmp_path):
    trained = app.train_sentiment(store, app.TrainSentimentParams(encoders={"lexicon": "text/lexicon"},
                                                                  fusion="concat", learner="logistic", predict=False),
                                  folder=tmp_path / "model")
    assert trained.model == str(tmp_path / "model") and trained.predictions_written == 0
    assert (trained.task, trained.split, trained.fusion) == ("sentiment", "train", "concat")
    scores = app.evaluate_sentiment(store, app.EvaluateSentimentParams(), folder=tmp_path / "model")
    assert scores.labels and scores.n > 0
    written = app.label_posts(store, app.LabelPostsParams(), folder=tmp_path / "model")
    assert written.written == store.count("sentiment_predictions") and written.calibrated is None
    bare = sf.connect(tmp_path / "bare")
    sf.ingest_corpus(sf.generate(n_users=10, n_posts=20, seed=2).corpus, bare)
    with pytest.raises(StoreError, match="no trained sentiment model"):
        app.label_posts(bare, app.LabelPostsParams())
    with pytest.raises(ValidationError, match="learner"):
        app.TrainSentimentParams(learner="xgboost")


def test_topics_then_posts_of_a_topic(store, tmp_path):
    with pytest.raises(ValidationError, match="needs the number of topics"):
        app.FitTopicsParams(method="kmeans", n_topics=None)
    with pytest.raises(ValidationError, match="not a text encoder"):
        app.FitTopicsParams(text_encoder="image/colour-histogram")
    steps = []
    fitted = app.fit_topics(store, app.FitTopicsParams(n_topics=4, text_encoder=TEXT_ENCODER, min_topic_size=5),
                            progress=lambda done, message: steps.append((done, message)))
    assert fitted.topics == 4 and fitted.assigned > 0 and fitted.outliers == 0
    assert steps[-1] == (0.95, "writing the topics") and [done for done, _ in steps] == sorted(d for d, _ in steps)
    stored = app.stored_topics(store)
    assert stored.posts == fitted.assigned and stored.topics == fitted.summaries
    assert sum(topic.size for topic in stored.topics) == fitted.assigned
    assert app.assign_new_posts(store).assigned == 0  # every post has its topic
    source = tmp_path / "late.jsonl"
    source.write_bytes(orjson.dumps({"post_id": "late1", "text": "the football match and the league final"}) + b"\n")
    app.ingest_files(store, app.IngestParams(paths=[str(source)]))
    late = app.assign_new_posts(store)
    assert late.assigned == 1 and sum(late.per_topic.values()) == 1
    assert app.get_post(store, "late1").topic.topic_id in late.per_topic
    of_topic = _all_pages(store, topic_id=0)
    assert of_topic and all(app.get_post(store, post.post_id).topic.topic_id == 0 for post in of_topic[:3])


def test_network_analyses(store):
    influencers = app.influencers(store, app.InfluencersParams(k=5))
    assert len(influencers.users) == 5
    ranks = [user.pagerank for user in influencers.users]
    assert ranks == sorted(ranks, reverse=True)
    found = app.communities(store, app.CommunitiesParams(members=3))
    assert found.communities and sum(group.size for group in found.communities) > 0
    assert all(len(group.members) <= 3 for group in found.communities)


def test_trends_and_opinion(store):
    bursts = app.bursts(store, app.BurstParams(method="poisson", k=5))
    assert len(bursts.bursts) <= 5
    alerts = app.opinion_alerts(store, app.OpinionAlertsParams(min_posts=2, alpha=0.5, k=3))
    assert len(alerts.alerts) <= 3


def test_similar_users_and_recommendations(store):
    from socialfusion.corpus import Corpus
    from socialfusion.tasks.profiles import build_profiles, write_profiles
    from socialfusion.tasks.recommend import PopularityRecommender, save_recommender

    corpus = Corpus.from_store(store)
    write_profiles(store, build_profiles(corpus, store=store, text_encoder=TEXT_ENCODER, sentiment=None))
    user = corpus.posts.column("author_id")[0].as_py()
    similar = app.similar_users(store, user, app.SimilarUsersParams(k=3))
    assert len(similar.users) == 3 and user not in [row.user_id for row in similar.users]
    with pytest.raises(StoreError, match="recommend fit"):
        app.recommendations(store, user, app.RecommendationsParams(model="popularity"))
    save_recommender(PopularityRecommender().fit(corpus), app.recommender_path(store, "popularity"))
    recommended = app.recommendations(store, user, app.RecommendationsParams(model="popularity", k=4))
    assert [item.rank for item in recommended.items] == [1, 2, 3, 4]
    for call in (lambda: app.similar_users(store, "no-such-user", app.SimilarUsersParams()),
                 lambda: app.recommendations(store, "no-such-user", app.RecommendationsParams())):
        with pytest.raises(NotFoundError):
            call()


def test_knowledge_graph_neighbours(store):
    found = app.kg_neighbours(store, app.NeighboursParams(node="#climate", entities=False, k=3))
    assert found.node == "hashtag:climate" and 0 < len(found.neighbours) <= 3
    with pytest.raises(NotFoundError):
        app.kg_neighbours(store, app.NeighboursParams(node="#no-such-tag", entities=False))


def test_ingest_and_featurize(store, tmp_path):
    source = tmp_path / "more.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"post_id": f"new{i}", "text": f"brand new post {i}"}) + b"\n"
                                for i in range(5)))
    first = app.ingest_files(store, app.IngestParams(paths=[str(source)]))
    again = app.ingest_files(store, app.IngestParams(paths=[str(source)]))
    assert (first.ingested, again.duplicate) == (5, 5)
    result = app.featurize_store(store, app.FeaturizeParams(encoders=[TEXT_ENCODER]))
    run = result.encoders[0]
    assert run.encoded == 5 and run.cached == run.items - 5


def test_ingest_fills_ids_and_constants_and_names_an_unknown_format(tmp_path):
    target = sf.connect(tmp_path / "store")
    source = tmp_path / "labels.csv"
    source.write_text("post_id,label\np1,positive\np2,negative\n")
    result = app.ingest_files(target, app.IngestParams(paths=[str(source)], table="labels",
                                                       constants={"task": "sentiment", "split": "test"}))
    assert result.ingested == 2 and not result.failed and result.warnings == []
    assert set(target.read("labels").column("split").to_pylist()) == {"test"}
    posts = tmp_path / "posts.csv"
    posts.write_text("text\nno id here\nnor here\n")
    app.ingest_files(target, app.IngestParams(paths=[str(posts)], id_from="hash", detect_language=False))
    assert target.count("posts") == 2 and None not in target.read("posts").column("post_id").to_pylist()
    with pytest.raises(ValidationError, match="unknown input format 'nope'; known formats: bluesky"):
        app.IngestParams(paths=[str(posts)], format="nope")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"post_id": "ok", "text": "fine"}\n{not json\n'
                      '{"post_id": "bad", "like_count": -4, "text": "x"}\n')
    result = app.ingest_files(target, app.IngestParams(paths=[str(broken)], detect_language=False))
    assert (result.ingested, result.rejected) == (1, 2)
    stats = app.store_statistics(target, app.StatsParams(rejects=True, every_reject=True))
    assert stats.tables["rejects"] == 2 and sum(group.count for group in stats.reject_reasons) == 2
    assert sorted(reject.location for reject in stats.rejects) == ["line 2", "line 3"]
    assert app.store_statistics(target).reject_reasons is None


def test_analyze_takes_sections_filters_and_incremental_and_refuses_bad_ones_up_front(store, tmp_path):
    with pytest.raises(ValidationError, match="unknown report section"):
        app.AnalyzeParams(sections=["overveiw"])
    with pytest.raises(ValidationError, match="unknown field 'colour'"):
        app.AnalyzeParams(where=["colour=red"])
    with pytest.raises(ValidationError, match="cannot read the date 'yesterday'"):
        app.AnalyzeParams(since="yesterday")
    stages = []
    result = app.analyze_store(store, app.AnalyzeParams(title="Watch", sections=["trends", "overview"],
                                                        where=["text~the"]),
                               out=tmp_path / "report.html", progress=lambda done, stage: stages.append((done, stage)))
    page = Path(result.report).read_text()
    assert result.bytes == len(page.encode()) and "<title>Watch</title>" in page and "posts: text~the" in page
    assert result.incremental is None
    assert stages[0] == (0.0, "reading the store") and stages[-1] == (1.0, "done")
    assert [done for done, _ in stages] == sorted(done for done, _ in stages)
    with pytest.raises(app.NothingToAnalyse, match="no post at or after 2099-01-01"):
        app.analyze_store(store, app.AnalyzeParams(since="2099-01-01"), out=tmp_path / "never.html")
    assert not (tmp_path / "never.html").exists()
    fresh = sf.connect(tmp_path / "fresh")
    sf.ingest_corpus(sf.generate(n_users=20, n_posts=40, seed=1).corpus, fresh)
    first = app.analyze_store(fresh, app.AnalyzeParams(sections=["trends"], incremental=True),
                              out=tmp_path / "first.html")
    again = app.analyze_store(fresh, app.AnalyzeParams(sections=["trends"], incremental=True),
                              out=tmp_path / "again.html")
    assert "first incremental run" in first.incremental and "no new post" in again.incremental


def test_tokens(store):
    created = app.create_token(store, app.TokenParams(name="ops", scopes=["write", "read", "write"]))
    assert created.info.scopes == ["read", "write"]
    secret = created.token.rsplit("_", 1)[1]
    stored = store.read(app.TOKENS_TABLE).to_pylist()
    assert not any(secret in str(row) for row in stored)  # only the salted hash is kept
    assert app.verify_token(store, created.token).token_id == created.info.token_id
    assert app.verify_token(store, created.token[:-1] + "x") is None
    assert app.verify_token(store, "garbage") is None
    app.revoke_token(store, created.info.token_id)
    assert app.verify_token(store, created.token) is None
    assert created.info.token_id not in [info.token_id for info in app.list_tokens(store)]
    with pytest.raises(NotFoundError):
        app.revoke_token(store, "0" * 16)


def test_jobs_lifecycle_orphans_and_rerun(store, tmp_path):
    job = app.create_job(store, app.FeaturizeJob(kind="featurize", params=app.FeaturizeParams(encoders=[TEXT_ENCODER])),
                         owner="dead-server", owner_pid=2**22 + 12345)
    assert job.state == "queued" and app.get_job(store, job.job_id) == job
    app.update_job(store, job.job_id, state="running")
    marked = app.interrupt_orphans(store, "this-server", alive=lambda pid: pid == os.getpid())
    assert marked == [job.job_id] and app.get_job(store, job.job_id).state == "interrupted"
    requeued = app.rerun_job(store, job.job_id, owner="this-server", owner_pid=os.getpid())
    assert requeued.state == "queued" and requeued.error is None
    with pytest.raises(StoreError, match="only an interrupted"):
        app.rerun_job(store, job.job_id, owner="this-server", owner_pid=os.getpid())
    result = app.execute_job(store, requeued, workspace=tmp_path, progress=lambda fraction, message: None)
    assert result["encoders"][0]["encoder"] == TEXT_ENCODER
    assert job.job_id in [listed.job_id for listed in app.list_jobs(store, app.JobListParams(state="queued"))]
    with pytest.raises(NotFoundError):
        app.create_job(store, app.IngestJob(kind="ingest", params=app.IngestUploadParams(upload_id="0" * 32)),
                       owner="x", owner_pid=1, workspace=tmp_path)


def test_callers_asking_at_once_share_one_computation_and_its_error(store):
    import threading
    import time

    from socialfusion.app._common import cached

    calls, started = [], threading.Barrier(6)

    def slow(outcome):
        def compute():
            calls.append(outcome)
            time.sleep(0.3)  # the other callers arrive while this one computes
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return compute

    def ask(key, outcome, answers):
        started.wait()
        try:
            answers.append(cached(store, ["posts"], key, slow(outcome)))
        except DataError as error:
            answers.append(error)

    answers, failures = [], []
    threads = [threading.Thread(target=ask, args=("single-flight", index, answers)) for index in range(3)]
    threads += [threading.Thread(target=ask, args=("single-flight-error", DataError("boom"), failures))
                for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(calls) == 2  # one computation per key, not one per caller
    assert len(set(answers)) == 1 and len(answers) == 3
    assert len(failures) == 3 and all(isinstance(error, DataError) for error in failures)
    # a failed computation is not cached: the next caller computes again
    assert cached(store, ["posts"], "single-flight-error", lambda: "recovered") == "recovered"
