"""``Corpus.from_records`` builds tables column by column and gives exactly what the record path gives."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialfusion.corpus import Corpus
from socialfusion.exceptions import ConfigurationError, SchemaValidationError
from socialfusion.schema import TABLES, Interaction, arrow_schema, records_to_table

UTC = dt.UTC
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))

# Values of each kind of field, valid and not, exotic types included: each must take the same way on both paths.
IDS = ["a", " x ", "u7", "用户", "\x1c", " ", "", "\u3000", 5, 5.5, True, b"b", None]
TIMES = [dt.datetime(2024, 1, 1, 12, tzinfo=UTC), dt.datetime(2024, 1, 1, 12, 0, 0, 5),
         dt.datetime(2024, 1, 1, tzinfo=PLUS_TWO),
         dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2024-01-01T00:00:00Z", 1_700_000_000,
         dt.date(2024, 1, 1), "nope", None]
COUNTS = [0, 5, -1, 2**63, 3.0, 3.5, True, "7", None]
FLOATS = [1.5, 2, 0, float("nan"), float("inf"), True, "1.5", 2**70, None]
BOOLS = [True, False, 1, "yes", None]
EXTRAS = [None, {}, {"b": [1, 2], "a": {"z": None}}, {1: "x"}, {"at": dt.datetime(2024, 1, 1, tzinfo=UTC)},
          {"raw": b"x"}, [1], "text"]
TEXTS = ["hello", "", "   ", "\u3000", "中文", None, 3, "\x1c"]
STRING_LISTS = [[], ["a", "#b"], ("a",), ["a", 1], None, "abc"]
MEDIA = [[], [{"kind": "image", "uri": "a.png"}], [{"kind": "image"}], None]
KINDS = ["like", "share", "follow", "friend", "post", "cascade", "nope", 1, None]

POOLS = {
    "posts": {"post_id": IDS, "author_id": IDS, "created_at": TIMES, "text": TEXTS, "lang": TEXTS, "media": MEDIA,
              "reply_to": IDS, "reshare_of": IDS, "hashtags": STRING_LISTS, "mentions": STRING_LISTS,
              "like_count": COUNTS, "view_count": COUNTS, "extra": EXTRAS},
    "users": {"user_id": IDS, "handle": TEXTS, "created_at": TIMES, "followers_count": COUNTS, "verified": BOOLS,
              "extra": EXTRAS},
    "interactions": {"user_id": IDS, "post_id": IDS, "kind": KINDS, "at": TIMES, "value": FLOATS, "extra": EXTRAS},
    "edges": {"src": IDS, "dst": IDS, "kind": KINDS, "created_at": TIMES, "weight": FLOATS, "extra": EXTRAS},
    "labels": {"item_id": IDS, "item_kind": KINDS, "task": IDS, "label": IDS, "split": TEXTS, "extra": EXTRAS},
    "rejects": {"source": TEXTS, "location": TEXTS, "reason": TEXTS, "raw": TEXTS, "at": TIMES},
}
VALID = {
    "posts": {"post_id": "p", "text": "hi"},
    "users": {"user_id": "u"},
    "interactions": {"user_id": "u", "post_id": "p", "kind": "like"},
    "edges": {"src": "a", "dst": "b", "kind": "follow"},
    "labels": {"item_id": "i", "task": "t", "label": "l"},
    "rejects": {"source": "s", "location": "line 1", "reason": "bad", "at": dt.datetime(2024, 1, 1, tzinfo=UTC)},
}


def outcome(build, table: str, rows: list):
    """The table a builder makes, or the message of the error it raises."""
    try:
        return build(table, rows)
    except SchemaValidationError as error:
        return f"error: {error}"


def columnar(table: str, rows: list):
    return Corpus.from_records(**{table: rows}).table(table)


def assert_same(table: str, rows: list) -> None:
    expected, actual = outcome(records_to_table, table, rows), outcome(columnar, table, rows)
    if isinstance(expected, str) or isinstance(actual, str):
        assert actual == expected
    else:
        assert actual.schema == arrow_schema(table)
        assert actual.equals(expected), (actual.to_pylist(), expected.to_pylist())


def record(table: str):
    """A record of ``table``: a valid base with some fields replaced (or removed) by values from the pools."""
    pool = POOLS[table]
    changes = st.dictionaries(st.sampled_from(sorted(pool)), st.integers(0, 20), max_size=3)
    removed = st.sets(st.sampled_from(sorted(VALID[table])), max_size=1)

    def build(changes: dict, removed: set) -> dict:
        row = {key: value for key, value in VALID[table].items() if key not in removed}
        for name, position in changes.items():
            row[name] = pool[name][position % len(pool[name])]
        return row

    return st.builds(build, changes, removed)


@pytest.mark.parametrize("table", sorted(TABLES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_tables_and_errors_equal_the_record_path(table, data):
    rows = data.draw(st.lists(record(table), max_size=8))
    assert_same(table, rows)


def test_valid_rows_of_every_kind_keep_their_order_with_rows_the_record_path_takes():
    at = dt.datetime(2024, 5, 1, 8, tzinfo=UTC)
    rows = [
        {"post_id": "1", "author_id": "a", "created_at": at, "text": "plain", "hashtags": ["x"], "like_count": 3},
        {"post_id": 2, "text": "numeric id: coerced by the record path"},
        {"post_id": "3", "created_at": "2024-05-01T10:00:00+02:00", "text": "a string time"},
        {"post_id": "4", "text": "", "reshare_of": "1", "extra": {"b": 1, "a": [None]}},
        {"post_id": "5", "text": "media", "media": [{"kind": "image", "uri": "a.png"}]},
        {"post_id": "6", "created_at": at.replace(tzinfo=None), "text": "naive: UTC", "hashtags": ("t",)},
        {"post_id": "用户", "text": "中文"},
    ]
    assert_same("posts", rows)
    assert Corpus.from_records(posts=rows).posts.column("post_id").to_pylist() == ["1", "2", "3", "4", "5", "6", "用户"]
    assert_same("posts", [*rows, Interaction(user_id="u", post_id="p", kind="like")])  # a model of another table


def test_the_first_invalid_record_is_the_one_reported():
    rows = [{"user_id": "u", "post_id": "p", "kind": "like"}, {"user_id": " ", "post_id": "p", "kind": "like"},
            {"user_id": "u", "post_id": "p", "kind": "poke"}]
    with pytest.raises(SchemaValidationError, match="interactions record .*user_id"):
        Corpus.from_records(interactions=rows)
    assert_same("interactions", rows)
    assert_same("interactions", rows[::-1])


def test_schema_models_generators_and_unknown_tables():
    at = dt.datetime(2024, 5, 1, tzinfo=UTC)
    models = [Interaction(user_id="u", post_id=f"p{index}", kind="view", at=at, value=index) for index in range(3)]
    assert_same("interactions", models)
    generated = Corpus.from_records(
        interactions=({"user_id": "u", "post_id": str(index), "kind": "like"} for index in range(3)))
    assert generated.interactions.num_rows == 3
    assert Corpus.from_records(labels=[]).labels.equals(records_to_table("labels", []))
    with pytest.raises(ConfigurationError, match="unknown table 'tweets'"):
        Corpus.from_records(tweets=[{"post_id": "1"}])


def test_plain_valid_rows_never_take_the_record_path(monkeypatch):
    import socialfusion.corpus as corpus_module

    def record_path(table, rows):
        rows = list(rows)
        assert not rows, f"{len(rows)} {table} row(s) took the record path"
        return records_to_table(table, rows)

    monkeypatch.setattr(corpus_module, "records_to_table", record_path)
    at = dt.datetime(2024, 5, 1, tzinfo=UTC)
    corpus = Corpus.from_records(
        posts=[{"post_id": "1", "author_id": "a", "created_at": at, "text": "hi #x", "hashtags": ["x"],
                "media": [], "like_count": 2, "extra": {"source": "api"}}],
        users=[{"user_id": "a", "verified": True, "followers_count": 10}],
        interactions=[{"user_id": "a", "post_id": "1", "kind": "like", "at": at, "value": 1}],
        edges=[{"src": "a", "dst": "b", "kind": "follow", "weight": 0.5}],
        labels=[{"item_id": "c", "item_kind": "cascade", "task": "cascade", "label": "train", "split": "train"}],
        rejects=[{"source": "s", "location": "", "reason": "bad", "at": at}],
    )
    assert corpus.validate().counts() == {name: 1 for name in corpus.table_names()}


def test_from_store_without_bookkeeping_leaves_out_keys_and_hashes_only():
    from socialfusion.datasets.synthetic import generate
    from socialfusion.exceptions import DataError
    from socialfusion.ingestion import ingest_corpus
    from socialfusion.store import connect

    store = connect("memory://")
    ingest_corpus(generate(n_users=20, n_posts=60, seed=0, n_videos=0, n_audio=0, image_fraction=0.0).corpus, store)
    whole, lean = Corpus.from_store(store), Corpus.from_store(store, bookkeeping=False)
    assert lean.counts() == whole.counts() and lean.metadata == whole.metadata
    for name in Corpus.table_names():
        kept = [column for column in arrow_schema(name).names if column not in ("record_key", "record_hash")]
        assert lean.table(name).column_names == kept
        assert lean.table(name).equals(whole.table(name).select(kept))
    with pytest.raises(DataError, match="schema"):
        lean.validate()
