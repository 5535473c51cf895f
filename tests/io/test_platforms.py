"""Tests of the platform export readers (X/Twitter v2, Mastodon, Reddit, Bluesky) on small fixtures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from socialfusion.exceptions import DataError
from socialfusion.io import get_reader, sniff_format
from socialfusion.io.platforms._common import html_to_text
from socialfusion.schema import validate_record

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "platforms"
PLATFORM_FIXTURES = {
    "twitter_v2_search.json": "twitter",
    "twitter_v2_pages.jsonl": "twitter",
    "mastodon_statuses.json": "mastodon",
    "reddit_pushshift.ndjson": "reddit",
    "bluesky_author_feed.json": "bluesky",
}
PLATFORMS = ("twitter", "mastodon", "reddit", "bluesky")
UTC = dt.UTC

ALICE_DID = "did:plc:a7k3m2q9x4w8e5r1t6y0u2i3"
BOB_DID = "did:plc:b2n5v8c1x4z7l0k3j6h9g2f5"
WANG_DID = "did:plc:w4e7r0t3y6u9i2o5p8a1s4d7"
CAROL_DID = "did:plc:c3m6b9n2v5x8z1a4s7d0f3g6"


def read(path: Path, format_name: str) -> list:
    return list(get_reader(format_name).read(path))


def table(records: list, name: str) -> list[dict]:
    return [record.data for record in records if record.error is None and record.table == name]


def post_locations(records: list) -> list[tuple[str, str]]:
    return [(record.data["post_id"], record.location) for record in records
            if record.error is None and record.table == "posts"]


def posts_by_id(records: list) -> dict[str, dict]:
    return {post["post_id"]: post for post in table(records, "posts")}


def edge_pairs(records: list) -> set[tuple[str, str, str]]:
    return {(edge["src"], edge["dst"], edge["kind"]) for edge in table(records, "edges")}


def rejects(records: list) -> list:
    return [record for record in records if record.error is not None]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# --- every reader, every fixture ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "expected"), sorted(PLATFORM_FIXTURES.items()))
def test_sniff_format_recognises_each_fixture(fixture, expected):
    assert sniff_format(FIXTURES / fixture) == expected


@pytest.mark.parametrize(("fixture", "format_name"), sorted(PLATFORM_FIXTURES.items()))
def test_every_record_validates_against_the_schema(fixture, format_name):
    records = read(FIXTURES / fixture, format_name)
    assert table(records, "posts")
    for record in records:
        if record.error is None:
            validate_record(record.table, record.data)
            assert record.source == str(FIXTURES / fixture)
            assert record.location


@pytest.mark.parametrize("format_name", PLATFORMS)
def test_no_reader_claims_another_platforms_file(format_name):
    reader = get_reader(format_name)
    for fixture, owner in PLATFORM_FIXTURES.items():
        head = (FIXTURES / fixture).read_bytes()[: 64 * 1024]
        assert reader.sniff(FIXTURES / fixture, head) is (owner == format_name), fixture


def test_plain_canonical_posts_are_left_to_the_jsonl_reader(tmp_path):
    path = write_jsonl(tmp_path / "posts.jsonl", [
        {"post_id": "1", "author_id": "u1", "text": "hello #world", "created_at": "2024-05-01T12:00:00Z",
         "extra": {"data": [{"id": "x", "text": "y"}]}},
        {"post_id": "2", "author_id": "u2", "text": "a reply", "reply_to": "1"},
    ])
    assert sniff_format(path) == "jsonl"


def test_sniffing_survives_a_head_cut_in_the_middle_of_a_large_response(tmp_path):
    tweets = [{"id": str(index), "author_id": "101", "text": "x" * 300} for index in range(400)]
    twitter = tmp_path / "big_search.json"
    twitter.write_text(json.dumps({"data": tweets, "meta": {"result_count": 400}}, indent=2))
    feed = [{"post": {"uri": f"at://{ALICE_DID}/app.bsky.feed.post/{index}", "cid": "c",
                      "author": {"did": ALICE_DID, "handle": "alice.bsky.social"},
                      "record": {"text": "y" * 300, "createdAt": "2024-05-01T08:00:00Z"}}}
            for index in range(400)]
    bluesky = tmp_path / "big_feed.json"
    bluesky.write_text(json.dumps({"feed": feed, "cursor": "c"}, indent=2))
    assert twitter.stat().st_size > 64 * 1024 and bluesky.stat().st_size > 64 * 1024
    assert sniff_format(twitter) == "twitter"
    assert sniff_format(bluesky) == "bluesky"


@pytest.mark.parametrize(("format_name", "wrong_fixture"), [
    ("twitter", "mastodon_statuses.json"),
    ("twitter", "bluesky_author_feed.json"),
    ("mastodon", "twitter_v2_search.json"),
    ("mastodon", "reddit_pushshift.ndjson"),
    ("reddit", "twitter_v2_pages.jsonl"),
    ("bluesky", "twitter_v2_search.json"),
    ("bluesky", "reddit_pushshift.ndjson"),
])
def test_a_file_of_another_shape_raises_data_error(format_name, wrong_fixture):
    with pytest.raises(DataError, match="is not a"):
        read(FIXTURES / wrong_fixture, format_name)


@pytest.mark.parametrize("format_name", PLATFORMS)
def test_canonical_posts_raise_data_error(tmp_path, format_name):
    canonical = write_jsonl(tmp_path / "posts.jsonl", [{"post_id": "1", "text": "hi"}])
    with pytest.raises(DataError, match="is not a"):
        read(canonical, format_name)


@pytest.mark.parametrize("format_name", ["twitter", "mastodon", "bluesky"])
def test_a_file_that_is_neither_json_nor_json_lines_raises_data_error(tmp_path, format_name):
    garbage = tmp_path / "notes.json"
    garbage.write_text("{ this is not JSON\nat all }\n")
    with pytest.raises(DataError, match="neither one JSON document nor JSON Lines"):
        read(garbage, format_name)


def test_reddit_reads_any_file_line_by_line(tmp_path):
    garbage = tmp_path / "notes.ndjson"
    garbage.write_text("{ this is not JSON\nat all }\n")
    assert [record.location for record in read(garbage, "reddit")] == ["line 1", "line 2"]


# --- X/Twitter API v2 --------------------------------------------------------------------------------------


def test_twitter_search_posts_links_and_media():
    records = read(FIXTURES / "twitter_v2_search.json", "twitter")
    posts = posts_by_id(records)
    assert [post["post_id"] for post in table(records, "posts")] == [
        "1785000000000000001", "1785000000000000002", "1785000000000000003", "1785000000000000004",
        "1785000000000000006", "1784999999999999005",
    ]
    original = posts["1785000000000000001"]
    assert original["text"] == (
        "Spring in Kyoto 🌸 #travel #japan with @bobcodes https://t.co/k1oto https://t.co/pic1")
    assert original["hashtags"] == ["travel", "japan"]
    assert original["mentions"] == ["bobcodes"]
    assert original["urls"] == ["https://example.com/kyoto-guide"]  # the pic.x.com link is the photo itself
    assert original["media"] == [{"kind": "image", "uri": "https://pbs.twimg.com/media/GKyotoSpring01.jpg"}]
    counts = ("like_count", "share_count", "reply_count", "view_count")
    assert [original[count] for count in counts] == [42, 5, 1, 1200]
    assert original["extra"]["conversation_id"] == "1785000000000000001"
    assert original["extra"]["public_metrics"] == {"quote_count": 1, "bookmark_count": 2}
    assert original["platform"] == "twitter"

    reply = posts["1785000000000000002"]
    assert reply["reply_to"] == "1785000000000000001"
    assert reply["extra"]["in_reply_to_user_id"] == "101"

    retweet = posts["1785000000000000003"]
    assert retweet["reshare_of"] == "1785000000000000001"
    assert retweet["text"] == "" and retweet["hashtags"] == [] and retweet["media"] == []
    assert retweet["extra"]["retweet_text"].startswith("RT @alice_ml: Spring in Kyoto")

    quote = posts["1785000000000000004"]
    assert quote["quote_of"] == "1784999999999999005"
    assert quote["hashtags"] == ["video"]
    best_variant = ("https://video.twimg.com/ext_tw_video/1785000000000000104/pu/vid/avc1/1280x720/high.mp4"
                    "?tag=12")
    assert quote["media"] == [{"kind": "video", "uri": best_variant, "mime": "video/mp4"}]

    long_tweet = posts["1785000000000000006"]
    assert long_tweet["text"].endswith("code is open. #NLProc #multimodal")
    assert long_tweet["hashtags"] == ["NLProc", "multimodal"]

    quoted = posts["1784999999999999005"]  # from includes.tweets
    assert quoted["text"] == "今天的天气真好，我们去公园散步吧！#春天"
    assert quoted["lang"] == "zh"
    assert quoted["hashtags"] == ["春天"]
    assert quoted["media"] == [
        {"kind": "video", "uri": "https://video.twimg.com/tweet_video/GParkWalk.mp4", "mime": "video/mp4"}
    ]


def test_twitter_search_users_and_edges():
    records = read(FIXTURES / "twitter_v2_search.json", "twitter")
    users = {user["user_id"]: user for user in table(records, "users")}
    assert {user_id: user["handle"] for user_id, user in users.items()} == {
        "101": "alice_ml", "102": "bobcodes", "103": "chenjing", "104": "dave_news"}
    chen = users["103"]
    assert (chen["display_name"], chen["location"], chen["verified"]) == ("陈静", "上海", True)
    assert (chen["followers_count"], chen["following_count"]) == (98000, 120)
    assert chen["profile_text"] == "上海 · 摄影 · 数据"
    assert chen["extra"]["public_metrics"] == {"tweet_count": 15400, "listed_count": 512}
    # The retweet's "RT @alice_ml" is not a mention edge.
    assert edge_pairs(records) == {
        ("101", "102", "mention"), ("102", "101", "reply"), ("102", "101", "mention")}


def test_twitter_pages_read_line_by_line_with_each_user_once():
    records = read(FIXTURES / "twitter_v2_pages.jsonl", "twitter")
    assert post_locations(records) == [
        ("1785000000000000006", "line 1 data[0]"),
        ("1785000000000000001", "line 1 data[1]"),
        ("1785000000000000002", "line 2 data[0]"),
    ]
    assert [(record.data["user_id"], record.location) for record in records if record.table == "users"] == [
        ("101", "line 1 includes.users[0]"), ("102", "line 1 includes.users[1]")]
    assert posts_by_id(records)["1785000000000000001"]["media"][0]["kind"] == "image"
    assert rejects(records) == []


def test_twitter_bad_lines_and_items_are_rejects(tmp_path):
    path = tmp_path / "pages.jsonl"
    path.write_text(
        json.dumps({"data": [{"id": "1", "author_id": "9", "text": "ok"}, "not a tweet"]}) + "\n"
        + '{"data": [{"id": "2", "text": "cut off\n'
        + json.dumps({"unexpected": True}) + "\n"
        + json.dumps({"data": [{"id": "3", "author_id": "9", "text": "after the damage"}]}) + "\n"
    )
    records = read(path, "twitter")
    assert [(record.location, record.error.split(":")[0]) for record in rejects(records)] == [
        ("line 1 data[1]", "a tweet must be a JSON object, got str"),
        ("line 2", "malformed JSON"),
        ("line 3", 'expected an API v2 response object with "data" or "includes"'),
    ]
    assert list(posts_by_id(records)) == ["1", "3"]


@pytest.mark.parametrize(("format_name", "lines"), [
    ("twitter", [{"data": [{"id": "1", "text": "broken", "attachments": {"media_keys": [["3_1"]]}},
                           {"id": "2", "text": "fine"}]}]),
    ("reddit", [{"id": "a1", "title": ["not", "text"], "subreddit": "x"},
                {"id": "a2", "title": "fine", "subreddit": "x"}]),
])
def test_an_item_with_fields_of_the_wrong_type_is_one_reject(tmp_path, format_name, lines):
    records = read(write_jsonl(tmp_path / "items.jsonl", lines), format_name)
    assert [post["text"] for post in table(records, "posts")] == ["fine"]
    (reject,) = rejects(records)
    assert reject.error.startswith("a field has an unusable type")


# --- Mastodon ----------------------------------------------------------------------------------------------


def test_mastodon_statuses_text_links_and_reblogs():
    records = read(FIXTURES / "mastodon_statuses.json", "mastodon")
    assert post_locations(records) == [
        ("112345678900000005", "[0]"),
        ("112345678900000004", "[1]"),
        ("112345600000000003", "[2] reblog"),
        ("112345678900000003", "[2]"),
        ("112345678900000002", "[3]"),
        ("112345678900000001", "[4]"),
    ]
    posts = posts_by_id(records)
    first = posts["112345678900000001"]
    assert first["text"] == (
        "Hello fediverse! 👋 Reading about #MultimodalAI with @bob\n\nNotes: https://example.org/notes/fusion")
    assert first["urls"] == ["https://example.org/notes/fusion"]
    assert first["hashtags"] == ["multimodalai"]
    assert first["mentions"] == ["bob@fosstodon.org"]
    assert first["author_id"] == "109300000000000001"
    assert first["media"][0]["kind"] == "image"
    assert (first["like_count"], first["share_count"], first["reply_count"]) == (14, 2, 1)

    reply = posts["112345678900000002"]
    assert reply["text"] == "@alice Tea & cake while it trains\nhere is the demo run"
    assert reply["reply_to"] == "112345678900000001"
    assert reply["media"] == [{"kind": "video", "uri": "https://files.mastodon.social/cache/media_attachments"
                                                       "/files/112/345/678/900/000/102/original/demo.mp4"}]

    boosted, boost = posts["112345600000000003"], posts["112345678900000003"]
    assert boosted["text"] == "今天在西湖边录了一段鸟鸣，分享给大家 🐦 #西湖"
    assert boosted["lang"] == "zh" and boosted["hashtags"] == ["西湖"]
    assert boosted["media"][0]["kind"] == "audio"
    assert boosted["media"][0]["uri"].endswith("/original/birds.mp3")
    assert boost["reshare_of"] == "112345600000000003"
    assert boost["text"] == "" and boost["author_id"] == "109300000000000001"

    gifv = posts["112345678900000004"]
    assert gifv["media"][0]["kind"] == "video" and gifv["media"][0]["uri"].endswith("/original/cat.mp4")
    assert gifv["extra"] == {
        "spoiler_text": "cat chaos", "sensitive": True, "visibility": "unlisted",
        "url": "https://mastodon.social/@carol/112345678900000004",
        "uri": "https://mastodon.social/users/carol/statuses/112345678900000004",
    }
    assert posts["112345678900000005"]["text"] == '@carol Classic. Does he do it with "full" mugs too?'


def test_mastodon_users_once_and_edges():
    records = read(FIXTURES / "mastodon_statuses.json", "mastodon")
    users = table(records, "users")
    assert [(user["user_id"], user["handle"]) for user in users] == [
        ("109300000000000001", "alice"),
        ("109300000000000004", "carol"),
        ("109300000000000003", "lihua@m.cmx.im"),
        ("109300000000000002", "bob@fosstodon.org"),
    ]
    alice = users[0]
    assert alice["profile_text"] == "Multimodal ML & social data.\nLyon 🇫🇷"
    assert (alice["followers_count"], alice["following_count"]) == (812, 190)
    assert alice["display_name"] == "Alice Moreau" and alice["platform"] == "mastodon"
    assert edge_pairs(records) == {
        ("109300000000000001", "109300000000000004", "reply"),
        ("109300000000000001", "109300000000000004", "mention"),
        ("109300000000000002", "109300000000000001", "reply"),
        ("109300000000000002", "109300000000000001", "mention"),
        ("109300000000000001", "109300000000000002", "mention"),
    }


def test_mastodon_jsonl_and_non_object_items(tmp_path):
    statuses = json.loads((FIXTURES / "mastodon_statuses.json").read_text(encoding="utf-8"))
    path = write_jsonl(tmp_path / "statuses.jsonl", [statuses[4], [statuses[3], 42]])
    records = read(path, "mastodon")
    assert post_locations(records) == [
        ("112345678900000001", "line 1"), ("112345678900000002", "line 2 [0]")]
    assert [(record.location, record.error) for record in rejects(records)] == [
        ("line 2 [1]", "a status must be a JSON object, got int")]


# --- Reddit ------------------------------------------------------------------------------------------------


def test_reddit_submissions_and_comments():
    records = read(FIXTURES / "reddit_pushshift.ndjson", "reddit")
    assert post_locations(records) == [
        ("1cf1a2b", "line 1"), ("l1a2b3c", "line 2"), ("l1a2b3d", "line 3"),
        ("1cf2b3c", "line 6"), ("1cf3c4d", "line 7"), ("1cf4d5e", "line 8"),
    ]
    posts = posts_by_id(records)
    question = posts["1cf1a2b"]
    assert question["text"] == ("What multimodal datasets do you use?\n\n"
                                "Looking for image+text social media data with labels. #datasets welcome!")
    assert question["created_at"] == dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert (question["like_count"], question["reply_count"]) == (57, 3)
    assert question["extra"]["subreddit"] == "MachineLearning" and question["extra"]["is_self"] is True
    assert "urls" not in question  # a self post's own link is not a url of its content

    answer = posts["l1a2b3c"]
    assert answer["text"] == "Try MVSA and the Weibo COVID set — 微博数据集很有用！"
    assert answer["reply_to"] == "1cf1a2b"
    assert answer["created_at"] == dt.datetime(2024, 5, 1, 10, 40, 0, 500000, tzinfo=UTC)
    assert answer["extra"]["link_id"] == "t3_1cf1a2b"

    thanks = posts["l1a2b3d"]
    assert thanks["reply_to"] == "l1a2b3c"
    assert thanks["created_at"] == dt.datetime(2024, 5, 1, 11, 40, tzinfo=UTC)  # from the string "1714563600"
    assert (thanks["like_count"], thanks["extra"]["score"]) == (0, -3)

    assert posts["1cf2b3c"]["media"] == [{"kind": "image", "uri": "https://i.redd.it/x7k2m9sunset.jpg"}]
    video = posts["1cf3c4d"]
    fallback_url = "https://v.redd.it/9fj3k2l1/DASH_720.mp4?source=fallback"
    assert video["media"] == [{"kind": "video", "uri": fallback_url}]
    assert video["text"] == "My dog learned to open the fridge"  # the "[deleted]" selftext is dropped
    assert video["author_id"] == "[deleted]"
    link = posts["1cf4d5e"]
    assert link["urls"] == ["https://arxiv.org/abs/2405.01234"] and link["media"] == []


def test_reddit_users_skip_deleted_and_bad_lines_are_rejects():
    records = read(FIXTURES / "reddit_pushshift.ndjson", "reddit")
    assert [user["user_id"] for user in table(records, "users")] == [
        "data_nerd", "ml_student", "pixel_pusher", "arxiv_watcher"]
    assert table(records, "users")[0]["handle"] == "data_nerd"
    assert table(records, "edges") == []
    malformed, removed = rejects(records)
    assert malformed.location == "line 4" and malformed.error.startswith("malformed JSON")
    assert malformed.raw.startswith('{"id": "l1a2b3e"') and malformed.table == "posts"
    assert removed.location == "line 5" and "removed or deleted" in removed.error


# --- Bluesky -----------------------------------------------------------------------------------------------


def test_bluesky_posts_facets_embeds_and_reposts():
    records = read(FIXTURES / "bluesky_author_feed.json", "bluesky")
    uri = {
        "poster": f"at://{ALICE_DID}/app.bsky.feed.post/3kqv5jkl5555g",
        "quote": f"at://{ALICE_DID}/app.bsky.feed.post/3kqv4ghi4444f",
        "wang": f"at://{WANG_DID}/app.bsky.feed.post/3kqu9xyz9999d",
        "reply": f"at://{ALICE_DID}/app.bsky.feed.post/3kqv3def3333c",
        "bob": f"at://{BOB_DID}/app.bsky.feed.post/3kqv1bob1111b",
        "first": f"at://{ALICE_DID}/app.bsky.feed.post/3kqv2abc2222a",
    }
    repost_id = f"{uri['wang']}#repost-by-{ALICE_DID}"
    assert post_locations(records) == [
        (uri["poster"], "feed[0]"), (uri["quote"], "feed[1]"), (uri["wang"], "feed[2]"),
        (repost_id, "feed[2] reason"), (uri["reply"], "feed[3]"), (uri["bob"], "feed[3] reply.parent"),
        (uri["first"], "feed[4]"),
    ]
    posts = posts_by_id(records)
    first = posts[uri["first"]]
    assert first["text"] == (
        "🚀 Trying gated fusion on Bluesky data with @bob.bsky.social #multimodal https://example.com/fusion")
    assert first["hashtags"] == ["multimodal"]
    assert first["mentions"] == ["bob.bsky.social"]  # sliced by UTF-8 byte offsets, after an emoji
    assert first["urls"] == ["https://example.com/fusion"]
    assert [item["uri"] for item in first["media"]] == [
        f"at-blob://{ALICE_DID}/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        f"at-blob://{ALICE_DID}/bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy",
    ]
    assert [(item["kind"], item["mime"], item["size_bytes"]) for item in first["media"]] == [
        ("image", "image/jpeg", 183221), ("image", "image/png", 402118)]
    assert (first["like_count"], first["share_count"], first["reply_count"]) == (27, 3, 1)
    assert first["extra"] == {"cid": "bafyreia0", "indexedAt": "2024-05-01T08:00:00.000Z", "quoteCount": 1}

    assert posts[uri["quote"]]["quote_of"] == f"at://{CAROL_DID}/app.bsky.feed.post/3kqt7car7777e"
    poster = posts[uri["poster"]]
    assert poster["quote_of"] == uri["first"] and poster["hashtags"] == ["ICWSM"]
    assert [item["kind"] for item in poster["media"]] == ["image"]

    wang = posts[uri["wang"]]
    assert (wang["text"], wang["lang"], wang["hashtags"]) == ("春天来了，樱花开得正好 🌸 #春天", "zh", ["春天"])
    assert wang["media"][0]["kind"] == "video"
    assert wang["media"][0]["uri"].startswith(f"at-blob://{WANG_DID}/")
    repost = posts[repost_id]
    assert (repost["author_id"], repost["reshare_of"], repost["text"]) == (ALICE_DID, uri["wang"], "")
    assert repost["created_at"] == "2024-05-01T09:30:00.000Z"

    reply = posts[uri["reply"]]
    assert reply["reply_to"] == uri["bob"] and reply["extra"]["reply_root"] == uri["bob"]
    assert reply["text"] == "Yes! Numbers soon, 结果很不错 😄" and reply["lang"] == "en"


def test_bluesky_users_once_and_edges():
    records = read(FIXTURES / "bluesky_author_feed.json", "bluesky")
    assert [(user["user_id"], user["handle"]) for user in table(records, "users")] == [
        (ALICE_DID, "alice.bsky.social"), (WANG_DID, "wangfang.bsky.social"), (BOB_DID, "bob.bsky.social")]
    assert table(records, "users")[1]["display_name"] == "王芳"
    assert edge_pairs(records) == {(ALICE_DID, BOB_DID, "reply"), (ALICE_DID, BOB_DID, "mention")}


def test_bluesky_feed_items_without_a_post_are_rejects(tmp_path):
    feed = json.loads((FIXTURES / "bluesky_author_feed.json").read_text(encoding="utf-8"))
    page = {"feed": [feed["feed"][1], {"reason": {}}, "junk"], "cursor": "x"}
    records = read(write_jsonl(tmp_path / "pages.jsonl", [page]), "bluesky")
    assert len(table(records, "posts")) == 1
    assert [record.location for record in rejects(records)] == ["line 1 feed[1]", "line 1 feed[2]"]


# --- shared helpers ----------------------------------------------------------------------------------------


def test_html_to_text_keeps_paragraphs_breaks_entities_and_plain_links():
    html = ('<p>a &lt;b&gt; <a href="https://t.example/tags/x" class="mention hashtag">#x</a></p>'
            '<p>line<br>next <a href="https://example.org/">example.org/</a></p>')
    converted = html_to_text(html)
    assert converted.text == "a <b> #x\n\nline\nnext example.org/"
    assert converted.links == ["https://example.org/"]
