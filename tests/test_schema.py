"""The shared data model: validation messages, time handling, Arrow schemas, record keys and content hashes."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from socialfusion.exceptions import ConfigurationError, SchemaValidationError
from socialfusion.schema import (
    KEYS,
    TABLES,
    Post,
    arrow_schema,
    content_hashes,
    feature_schema,
    record_keys,
    records_to_table,
    validate_record,
)

UTC = dt.UTC


def validation_error(table: str, data) -> SchemaValidationError:
    with pytest.raises(SchemaValidationError) as caught:
        validate_record(table, data)
    return caught.value


def hashes(table: str, records: list[dict]) -> list[str]:
    """The record_hash of each record, validated and turned into a table."""
    return records_to_table(table, records).column("record_hash").to_pylist()


def post(**fields) -> dict:
    return {"post_id": "p1", "author_id": "u1", "text": "hi", **fields}


# -- validation messages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "data", "record_id", "field", "message"),
    [
        ("posts", post(media=[{"kind": "gif", "uri": "a.gif"}]), "p1", "media.0.kind",
         "Input should be 'image', 'video' or 'audio'"),
        ("posts", post(media=[{"kind": "image", "uri": "a.png"}, {"uri": "b.png"}]), "p1", "media.1.kind",
         "Field required"),
        ("posts", post(media=[{"kind": "image"}]), "p1", "media.0", "a media item needs a uri or data"),
        ("posts", post(like_count=-1), "p1", "like_count", "greater than or equal to 0"),
        ("posts", post(colour="red"), "p1", "colour", "Extra inputs are not permitted"),
        ("posts", {"text": "no id"}, None, "post_id", "Field required"),
        ("users", {"user_id": "u1", "followers_count": "many"}, "u1", "followers_count", "valid integer"),
        ("interactions", {"user_id": "u1", "post_id": "p1", "kind": "poke"}, "u1/p1/poke/None", "kind",
         "Input should be 'like', 'comment', 'share', 'view' or 'click'"),
        ("edges", {"src": "a", "dst": "b", "kind": "pokes"}, "a/b/pokes", "kind",
         "Input should be 'follow', 'friend', 'mention' or 'reply'"),
        ("labels", {"item_id": "p1", "item_kind": "thing", "task": "sentiment", "label": "pos"},
         "thing/p1/sentiment", "item_kind", "Input should be 'post', 'user', 'edge' or 'cascade'"),
    ],
)
def test_validation_error_names_table_record_and_dotted_field(table, data, record_id, field, message):
    error = validation_error(table, data)

    assert (error.table, error.record_id, error.field) == (table, record_id, field)
    text = str(error)
    assert text.startswith(f"{table} record {record_id}: " if record_id else f"{table} record: ")
    assert f"field '{field}'" in text
    assert message in text


def test_validation_error_counts_the_other_errors():
    error = validation_error("posts", post(like_count=-1, share_count=-2, view_count=-3))

    assert error.field == "like_count"
    assert str(error).endswith("(and 2 more)")


def test_a_record_that_is_not_a_mapping_is_rejected_with_its_type():
    error = validation_error("posts", ["p1", "hi"])

    assert str(error) == "posts record must be a JSON object, got list"
    assert (error.table, error.record_id, error.field) == ("posts", None, None)


def test_unknown_table_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="unknown table 'tweets'"):
        validate_record("tweets", {"post_id": "p1", "text": "hi"})


@pytest.mark.parametrize(
    ("table", "data", "field"),
    [
        ("posts", {"post_id": "", "text": "hi"}, "post_id"),
        ("posts", {"post_id": "   ", "text": "hi"}, "post_id"),
        ("posts", post(reshare_of=""), "reshare_of"),
        ("users", {"user_id": "\t"}, "user_id"),
        ("interactions", {"user_id": "u1", "post_id": "", "kind": "like"}, "post_id"),
        ("edges", {"src": "a", "dst": " ", "kind": "follow"}, "dst"),
        ("labels", {"item_id": "p1", "task": "sentiment", "label": ""}, "label"),
    ],
)
def test_blank_ids_must_be_non_empty_strings(table, data, field):
    error = validation_error(table, data)

    assert error.field == field
    assert str(error).endswith(f"field '{field}': must be a non-empty string")


def test_a_blank_id_is_not_shown_as_the_record_id():
    error = validation_error("posts", {"post_id": "", "text": "hi"})

    assert error.record_id is None
    assert str(error) == "posts record: field 'post_id': must be a non-empty string"


def test_label_record_id_uses_the_default_item_kind():
    error = validation_error("labels", {"item_id": "p1", "task": "sentiment", "label": ""})

    assert error.record_id == "post/p1/sentiment"


def test_numeric_ids_become_strings():
    post_model = validate_record("posts", {"post_id": 12, "author_id": 34, "text": "hi", "reply_to": 11})
    edge = validate_record("edges", {"src": 1, "dst": 2, "kind": "follow"})
    label = validate_record("labels", {"item_id": 7, "task": "stance", "label": 1})

    assert (post_model.post_id, post_model.author_id, post_model.reply_to) == ("12", "34", "11")
    assert (edge.src, edge.dst) == ("1", "2")
    assert (label.item_id, label.label) == ("7", "1")


# -- times -------------------------------------------------------------------------------------------------------

NOON_UTC = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "created_at",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01T14:00:00+02:00",
        "2024-05-01T07:00:00-05:00",
        "2024-05-01T12:00:00",  # naive ISO text: taken as UTC
        dt.datetime(2024, 5, 1, 12, 0),  # naive datetime: taken as UTC
        dt.datetime(2024, 5, 1, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        1714564800,  # epoch seconds
    ],
)
def test_times_are_converted_to_utc(created_at):
    model = validate_record("posts", post(created_at=created_at))

    assert model.created_at == NOON_UTC
    assert model.created_at.utcoffset() == dt.timedelta(0)


def test_times_of_every_table_are_utc():
    interaction = validate_record("interactions", {"user_id": "u", "post_id": "p", "kind": "like",
                                                   "at": "2024-05-01T13:00:00+01:00"})
    user = validate_record("users", {"user_id": "u", "created_at": "2024-05-01T12:00:00"})
    edge = validate_record("edges", {"src": "a", "dst": "b", "kind": "follow", "created_at": 1714564800})

    assert interaction.at == user.created_at == edge.created_at == NOON_UTC


def test_an_unreadable_time_names_the_field():
    error = validation_error("posts", post(created_at="yesterday"))

    assert (error.record_id, error.field) == ("p1", "created_at")


# -- the empty post rule -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_a_post_with_no_text_no_media_and_no_reshare_is_rejected(text):
    error = validation_error("posts", post(text=text))

    assert error.record_id == "p1"
    assert "empty post: no text, no media and not a reshare" in str(error)


@pytest.mark.parametrize(
    "exception",
    [
        {"media": [{"kind": "image", "uri": "cat.png"}]},
        {"media": [{"kind": "audio", "data": b"RIFF"}]},
        {"reshare_of": "p0"},
    ],
)
def test_a_post_without_text_is_kept_when_it_has_media_or_reshares(exception):
    model = validate_record("posts", post(text=None, **exception))

    assert isinstance(model, Post)
    assert model.text == ""  # a null text is stored as ""


# -- Arrow schemas -----------------------------------------------------------------------------------------------

EXPECTED_COLUMNS = {
    "posts": ["post_id", "author_id", "created_at", "text", "lang", "media", "reply_to", "reshare_of", "quote_of",
              "hashtags", "mentions", "urls", "platform", "like_count", "share_count", "reply_count", "view_count",
              "extra"],
    "users": ["user_id", "handle", "display_name", "created_at", "followers_count", "following_count",
              "profile_text", "location", "verified", "platform", "extra"],
    "interactions": ["user_id", "post_id", "kind", "at", "value", "extra"],
    "edges": ["src", "dst", "kind", "created_at", "weight", "extra"],
    "labels": ["item_id", "item_kind", "task", "label", "split", "extra"],
    "rejects": ["source", "location", "table", "reason", "raw", "at"],
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_arrow_schema_has_the_table_fields_then_bookkeeping(table):
    schema = arrow_schema(table)

    assert schema.names == EXPECTED_COLUMNS[table] + ["record_key", "record_hash"]
    assert not schema.field("record_key").nullable
    for key_field in KEYS[table]:
        if key_field != "at":  # interactions may have no time
            assert not schema.field(key_field).nullable, key_field


def test_arrow_schema_types_by_eye():
    posts = arrow_schema("posts")
    interactions = arrow_schema("interactions")

    assert posts.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert posts.field("hashtags").type == pa.list_(pa.string())
    assert posts.field("media").type.value_type.names == ["kind", "uri", "data", "sha256", "mime", "size_bytes",
                                                          "error"]
    assert posts.field("like_count").type == pa.int64()
    assert posts.field("extra").type == pa.string()  # JSON text
    assert interactions.field("value").type == pa.float64()
    assert arrow_schema("users").field("verified").type == pa.bool_()
    assert not arrow_schema("rejects").field("at").nullable


def test_arrow_schema_of_an_unknown_table():
    with pytest.raises(ConfigurationError, match="unknown table 'likes'"):
        arrow_schema("likes")


def test_feature_schema_shape():
    schema = feature_schema(4)

    assert schema.names == ["item_id", "item_kind", "encoder", "version", "content_hash", "modality", "vector",
                            "missing", "reason", "record_key"]
    assert schema.field("vector").type == pa.list_(pa.float32(), 4)
    assert schema.field("vector").type.list_size == 4
    assert schema.field("missing").type == pa.bool_()
    assert schema.field("reason").nullable
    assert feature_schema(1).field("vector").type.list_size == 1


@pytest.mark.parametrize("dim", [0, -3])
def test_feature_schema_needs_a_positive_dimension(dim):
    with pytest.raises(ConfigurationError, match=f"feature dimension must be positive, got {dim}"):
        feature_schema(dim)


SAMPLE_RECORDS = {
    "posts": [post(created_at="2024-05-01T12:00:00Z", hashtags=["a"], media=[{"kind": "image", "uri": "a.png"}],
                   extra={"lang_guess": "en"})],
    "users": [{"user_id": "u1", "handle": "ann", "verified": True, "followers_count": 3}],
    "interactions": [{"user_id": "u1", "post_id": "p1", "kind": "like", "value": 1.5}],
    "edges": [{"src": "u1", "dst": "u2", "kind": "follow", "weight": 2}],
    "labels": [{"item_id": "p1", "task": "sentiment", "label": "pos", "split": "train"}],
    "rejects": [{"source": "a.jsonl", "location": "line 3", "reason": "malformed JSON", "at": NOON_UTC}],
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_records_to_table_has_the_arrow_schema(table):
    rows = records_to_table(table, SAMPLE_RECORDS[table])

    assert rows.schema.equals(arrow_schema(table))
    assert rows.num_rows == 1
    assert records_to_table(table, []).schema.equals(arrow_schema(table))


def test_records_to_table_by_eye():
    rows = records_to_table("posts", SAMPLE_RECORDS["posts"]).to_pylist()[0]

    assert rows["post_id"] == rows["record_key"] == "p1"
    assert rows["created_at"] == NOON_UTC
    assert rows["extra"] == '{"lang_guess":"en"}'
    assert rows["media"][0]["kind"] == "image"
    assert len(rows["record_hash"]) == 24  # 12 bytes of blake2b, in hex


def test_records_to_table_validates_mappings():
    with pytest.raises(SchemaValidationError, match="field 'kind'"):
        records_to_table("edges", [{"src": "a", "dst": "b", "kind": "pokes"}])


# -- record keys -------------------------------------------------------------------------------------------------


def test_record_key_of_single_key_tables_is_the_id():
    rows = records_to_table("posts", [post(post_id="p1"), post(post_id="42")])

    assert rows.column("record_key").to_pylist() == ["p1", "42"]


def test_multi_field_keys_by_eye():
    edges = records_to_table("edges", [{"src": "a", "dst": "bc", "kind": "follow"}])
    labels = records_to_table("labels", [{"item_id": "u1", "item_kind": "user", "task": "bot", "label": "no"}])
    interactions = records_to_table("interactions", [{"user_id": "u1", "post_id": "p1", "kind": "like"},
                                                     {"user_id": "u1", "post_id": "p1", "kind": "like", "at": 1}])

    assert edges.column("record_key").to_pylist() == ["1:a,2:bc,6:follow"]
    assert labels.column("record_key").to_pylist() == ["4:user,2:u1,3:bot"]
    assert interactions.column("record_key").to_pylist() == ["2:u1,2:p1,4:like,-", "2:u1,2:p1,4:like,7:1000000"]


@pytest.mark.parametrize(
    ("table", "records"),
    [
        ("interactions", [
            {"user_id": "u1", "post_id": "p1", "kind": "like"},
            {"user_id": "u1", "post_id": "p1", "kind": "like", "at": "2024-05-01T12:00:00Z"},
            {"user_id": "u1", "post_id": "p1", "kind": "like", "at": "2024-05-01T12:00:01Z"},
            {"user_id": "u1", "post_id": "p1", "kind": "view"},
            {"user_id": "u1,2:p1", "post_id": "x", "kind": "like"},  # a separator inside a value
            {"user_id": "u", "post_id": "1p1", "kind": "like"},
            {"user_id": "-", "post_id": "p1", "kind": "like"},  # the null marker as a value
            {"user_id": "u1", "post_id": "p2", "kind": "like"},
        ]),
        ("edges", [
            {"src": "a", "dst": "b", "kind": "follow"},
            {"src": "b", "dst": "a", "kind": "follow"},
            {"src": "a,", "dst": "b", "kind": "follow"},
            {"src": "a", "dst": ",b", "kind": "follow"},
            {"src": "ab", "dst": "c", "kind": "follow"},
            {"src": "a", "dst": "bc", "kind": "follow"},
            {"src": "a", "dst": "b", "kind": "friend"},
        ]),
        ("labels", [
            {"item_id": "p1", "task": "sentiment", "label": "pos"},
            {"item_id": "p1", "item_kind": "user", "task": "sentiment", "label": "pos"},
            {"item_id": "p1", "task": "stance", "label": "pos"},
            {"item_id": "p", "task": "1sentiment", "label": "pos"},
            {"item_id": "1:p1", "task": "sentiment", "label": "pos"},
        ]),
    ],
)
def test_distinct_key_tuples_give_distinct_record_keys(table, records):
    keys = records_to_table(table, records).column("record_key").to_pylist()

    assert len(set(keys)) == len(records)


def test_record_keys_accept_a_chunked_and_sliced_table():
    rows = records_to_table("edges", [{"src": "a", "dst": "b", "kind": "follow"},
                                      {"src": "c", "dst": "d", "kind": "reply"}])
    chunked = pa.concat_tables([rows, rows.slice(0, 1)])

    assert record_keys("edges", chunked.slice(1)).to_pylist() == ["1:c,1:d,5:reply", "1:a,1:b,6:follow"]


# -- content hashes ----------------------------------------------------------------------------------------------


def test_equal_content_gives_equal_hashes_whatever_the_field_order():
    fields = post(created_at="2024-05-01T12:00:00Z", hashtags=["a", "b"], extra={"x": 1, "y": [1, 2]},
                  media=[{"kind": "image", "uri": "a.png", "mime": "image/png"}])
    reordered = dict(reversed(list(fields.items())))
    reordered["extra"] = {"y": [1, 2], "x": 1}
    reordered["media"] = [{"mime": "image/png", "uri": "a.png", "kind": "image"}]
    same_instant = {**fields, "created_at": "2024-05-01T14:00:00+02:00"}

    first, second, third = hashes("posts", [fields, reordered, same_instant])

    assert first == second == third


@pytest.mark.parametrize(
    "change",
    [
        {"text": "hi!"},
        {"hashtags": ["a", "c"]},
        {"hashtags": ["a"]},
        {"media": [{"kind": "image", "uri": "b.png"}]},
        {"media": [{"kind": "video", "uri": "a.png"}]},
        {"created_at": "2024-05-01T12:00:01Z"},
        {"created_at": None},
        {"extra": {"x": 2}},
        {"extra": None},
        {"author_id": "u2"},
        {"like_count": 1},
        {"lang": "en"},
    ],
)
def test_any_field_change_changes_the_hash(change):
    base = post(created_at="2024-05-01T12:00:00Z", hashtags=["a", "b"], extra={"x": 1},
                media=[{"kind": "image", "uri": "a.png"}])

    before, after = hashes("posts", [base, {**base, **change}])

    assert before != after


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"hashtags": ["ab"]}, {"hashtags": ["a", "b"]}),
        ({"hashtags": ["a,b"]}, {"hashtags": ["a", "b"]}),
        ({"hashtags": []}, {"hashtags": [""]}),
        ({"text": "a|b", "lang": None}, {"text": "a", "lang": "b"}),
        ({"text": "a|1:b"}, {"text": "a", "lang": "b"}),
        ({"text": "hi", "lang": "-"}, {"text": "hi", "lang": None}),
        ({"text": "x", "mentions": ["a"], "urls": []}, {"text": "x", "mentions": [], "urls": ["a"]}),
        ({"text": "x", "reply_to": "p0"}, {"text": "x", "quote_of": "p0"}),
        ({"text": "x", "media": [{"kind": "image", "data": b"1"}]},
         {"text": "x", "media": [{"kind": "image", "data": b"2"}]}),
    ],
)
def test_rows_whose_fields_would_run_together_get_different_hashes(first, second):
    one, two = hashes("posts", [post(**first), post(**second)])

    assert one != two


def test_hash_of_users_and_edges_changes_with_content():
    users = hashes("users", [{"user_id": "u1", "handle": "ann"}, {"user_id": "u1", "handle": "ann", "verified": False},
                             {"user_id": "u1", "handle": "ann"}])
    edges = hashes("edges", [{"src": "a", "dst": "b", "kind": "follow", "weight": 1},
                             {"src": "a", "dst": "b", "kind": "follow", "weight": 1.5}])

    assert users[0] == users[2] != users[1]
    assert edges[0] != edges[1]


def test_a_reject_hash_ignores_when_it_was_seen():
    reject = {"source": "a.jsonl", "location": "line 3", "reason": "malformed JSON", "raw": "{"}
    seen_twice = hashes("rejects", [{**reject, "at": "2024-05-01T12:00:00Z"}, {**reject, "at": "2025-01-01T00:00:00Z"}])
    other_reason = hashes("rejects", [{**reject, "reason": "empty post", "at": "2024-05-01T12:00:00Z"}])

    assert seen_twice[0] == seen_twice[1]
    assert other_reason[0] != seen_twice[0]


def test_a_sliced_table_hashes_like_its_unsliced_rows():
    # Regression guard: a sliced list column's offsets do not start at 0.
    records = [
        post(post_id="p1", hashtags=["a", "b", "c"], mentions=["x"], media=[{"kind": "image", "uri": "1.png"}]),
        post(post_id="p2", hashtags=["d"], mentions=[], urls=["https://e.org"]),
        post(post_id="p3", hashtags=[], mentions=["y", "z"], media=[{"kind": "audio", "uri": "3.wav"}]),
        post(post_id="p4", hashtags=["e", "f"], created_at="2024-05-01T12:00:00Z"),
    ]
    whole = records_to_table("posts", records)
    fresh = [records_to_table("posts", [record]).column("record_hash")[0].as_py() for record in records]

    assert whole.column("record_hash").to_pylist() == fresh
    assert content_hashes("posts", whole.slice(1, 2)).to_pylist() == fresh[1:3]
    assert content_hashes("posts", whole.slice(3)).to_pylist() == fresh[3:]
    chunked = pa.concat_tables([whole.slice(2), whole.slice(0, 2)])
    assert content_hashes("posts", chunked.slice(1, 2)).to_pylist() == [fresh[3], fresh[0]]


def test_content_hashes_of_no_rows():
    assert content_hashes("posts", records_to_table("posts", [])).to_pylist() == []
