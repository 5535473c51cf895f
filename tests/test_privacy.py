"""Privacy at ingest: PII scrubbing of text and keyed pseudonyms of user ids and handles."""

from __future__ import annotations

import json
import random

import pytest

from socialfusion.exceptions import ConfigurationError
from socialfusion.privacy import (
    KEY_ENV_VAR,
    PiiMatch,
    Pseudonymizer,
    find_pii,
    protect_raw,
    pseudonym_key,
    scrub_record,
    scrub_text,
)
from socialfusion.schema import TABLES

KEY = b"0123456789abcdef-test-key"
OTHER_KEY = b"fedcba9876543210-test-key"


# -- scrub_text --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scrubbed", "counts"),
    [
        # e-mails
        ("mail me at ann@example.org", "mail me at [EMAIL]", {"email": 1}),
        ("write to ann.lee+news@example.co.uk today", "write to [EMAIL] today", {"email": 1}),
        ("ann@example.org,bob@test.io", "[EMAIL],[EMAIL]", {"email": 2}),
        ("ANN@EXAMPLE.ORG.", "[EMAIL].", {"email": 1}),
        # international, US, UK and Chinese phones, with and without separators
        ("call +44 20 7946 0958", "call [PHONE]", {"phone": 1}),
        ("+447911123456", "[PHONE]", {"phone": 1}),
        ("call 0044 20 7946 0958 from abroad", "call [PHONE] from abroad", {"phone": 1}),
        ("call +1 (415) 555-2671 now", "call [PHONE] now", {"phone": 1}),
        ("call (415) 555-2671 now", "call [PHONE] now", {"phone": 1}),
        ("call 415-555-2671", "call [PHONE]", {"phone": 1}),
        ("call 415.555.2671", "call [PHONE]", {"phone": 1}),
        ("call 4155552671", "call [PHONE]", {"phone": 1}),
        ("tel:+14155552671", "tel:[PHONE]", {"phone": 1}),
        ("toll free 1-800-555-0199 today", "toll free [PHONE] today", {"phone": 1}),
        ("price USD 1 250 000 000 or 212 736 3100", "price USD 1 250 000 000 or [PHONE]", {"phone": 1}),
        ("UK mobile 07700 900123", "UK mobile [PHONE]", {"phone": 1}),
        ("UK mobile 07700900123", "UK mobile [PHONE]", {"phone": 1}),
        ("phone: 020 7946 0958", "phone: [PHONE]", {"phone": 1}),
        ("+86 138 1234 5678", "[PHONE]", {"phone": 1}),
        ("+86-13812345678", "[PHONE]", {"phone": 1}),
        # Chinese mobiles glued to CJK text
        ("手机13812345678联系", "手机[PHONE]联系", {"phone": 1}),
        ("电话：138 1234 5678", "电话：[PHONE]", {"phone": 1}),
        ("电话138-1234-5678。", "电话[PHONE]。", {"phone": 1}),
        # card numbers: Luhn-valid ones only
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok", {"card": 1}),
        ("card 4111-1111-1111-1111", "card [CARD]", {"card": 1}),
        ("card 4111111111111111 exp 12/25", "card [CARD] exp 12/25", {"card": 1}),
        ("amex 3782 822463 10005", "amex [CARD]", {"card": 1}),
        ("card 4111111111111112", "card 4111111111111112", {}),
        ("card 4111 1111 1111 1112", "card 4111 1111 1111 1112", {}),
        # Chinese resident ID numbers (check character verified)
        ("身份证号11010519491231002X", "身份证号[NATIONAL_ID]", {"national_id": 1}),
        ("id 11010519491231002x.", "id [NATIONAL_ID].", {"national_id": 1}),
        ("bad check 110105194912310021", "bad check 110105194912310021", {}),
        # e-mails with an internationalised domain
        ("mail info@münchen.de now", "mail [EMAIL] now", {"email": 1}),
        ("邮箱wang_wu@例子.中国。", "邮箱[EMAIL]。", {"email": 1}),
        # IPv4 and IPv6
        ("server 192.168.1.20 down", "server [IP] down", {"ip": 1}),
        ("server 2001:db8:85a3::8a2e:370:7334 down", "server [IP] down", {"ip": 1}),
        ("http://[2001:db8::1]:8080/x", "http://[[IP]]:8080/x", {"ip": 1}),
        ("服务器fe80::1%eth0挂了", "服务器[IP]挂了", {"ip": 1}),
        ("server 10.0.0.1:8080", "server [IP]:8080", {"ip": 1}),
        ("ip 8.8.8.8 and (1.1.1.1)", "ip [IP] and ([IP])", {"ip": 2}),
        ("ip 256.1.1.1", "ip 256.1.1.1", {}),
        # a mix
        ("ann@example.org, +44 20 7946 0958, 10.0.0.1 and 4111 1111 1111 1111",
         "[EMAIL], [PHONE], [IP] and [CARD]", {"email": 1, "phone": 1, "ip": 1, "card": 1}),
    ],
)
def test_scrub_text_replaces_pii(text, scrubbed, counts):
    assert scrub_text(text) == (scrubbed, counts)


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-05-01 at 10:30",
        "2024/05/01 and 01.05.2024",
        "2024-05-01, 2024-06-01",
        "2024-05-01T10:30:00Z",
        "from 12:30-13:45",
        "costs $1,299.99 or €12.50",
        "price 1 299 000 RUB",
        "$1,250,000,000 deal",
        "1,000,000 views",
        "call 911 or 112",
        "room 12345 and order #12345678",
        "20240501",
        "year range 2019-2024",
        "v2.10.3 released",
        "v10.2.3",
        "pi 3.14159265358979",
        "#2024election #tag",
        "@alice and @bob_smith",
        "a@b.c",
        "isbn 978-3-16-148410-0",
        "",
        # found as phone numbers by the rules this scrubber replaced (issue 18)
        "posted at 1714564800",
        "1 400 000 000 people",
        "see https://x.com/a/status/1790000000000000000",
        "123456789 and 987654321012",
        "ref no 0123456789",
        "at 37.7749, -122.4194",
        "10:30:45, MAC 00:1A:2B:3C:4D:5E, std::vector",
        "v1.2.3.4 is out",
        "@ann@mastodon.social says hi",
    ],
)
def test_scrub_text_keeps_what_is_not_pii(text):
    assert scrub_text(text) == (text, {})


@pytest.mark.parametrize("text", ["posted 2024-05-01 10:30", "at 2024-05-01 14:00 UTC", "2024-05-01 10:30:00"])
def test_scrub_text_keeps_a_date_followed_by_a_time(text):
    assert scrub_text(text) == (text, {})


@pytest.mark.parametrize("text", ["budget €1 250 000 000", "1.250.000.000 €"])
def test_scrub_text_keeps_large_prices_with_thousands_separators(text):
    assert scrub_text(text) == (text, {})


def test_scrub_text_finds_an_ip_before_a_full_stop():
    assert scrub_text("the server is 10.0.0.1.") == ("the server is [IP].", {"ip": 1})


def test_scrub_text_finds_a_french_mobile():
    assert scrub_text("appelle +33 6 12 34 56 78") == ("appelle [PHONE]", {"phone": 1})


def test_post_ids_in_status_urls_are_never_card_numbers():
    rng = random.Random(18)
    texts = [f"https://x.com/a/status/{rng.randrange(10**18, 10**19)} wow" for _ in range(1000)]

    assert [text for text in texts if scrub_text(text)[1]] == []


def test_the_query_of_a_url_is_scrubbed_but_not_its_path():
    url = "https://x.org/p/4155552671?email=ann@example.org&tel=13812345678"

    assert scrub_text(url) == ("https://x.org/p/4155552671?email=[EMAIL]&tel=[PHONE]", {"email": 1, "phone": 1})


def test_find_pii_gives_spans_and_kinds():
    text = "ann@example.org, 4111 1111 1111 1111"

    assert find_pii(text) == [PiiMatch(0, 15, "email"), PiiMatch(17, 36, "card")]


def test_phone_regions_decide_which_national_formats_are_read():
    assert scrub_text("Büro 030 12345678")[1] == {"phone": 1}
    assert scrub_text("Büro 030 12345678", phone_regions=("US",))[1] == {}
    assert scrub_text("+49 30 12345678", phone_regions=("US",))[1] == {"phone": 1}


# -- scrub_record ------------------------------------------------------------------------------------------------


def test_scrub_record_scrubs_every_text_field_of_a_post():
    record = {
        "post_id": "13812345678",  # an id is not text: left alone
        "text": "call 13812345678",
        "hashtags": ["13812345678", "ok"],
        "mentions": ["bob"],
        "urls": ["https://x.org/p?email=ann@example.org&tel=13812345678"],
        "extra": {"note": "mail ann@example.org", "nested": [{"phone": "+44 20 7946 0958"}], "n": 3},
    }

    counts = scrub_record("posts", record)

    assert record == {
        "post_id": "13812345678",
        "text": "call [PHONE]",
        "hashtags": ["[PHONE]", "ok"],
        "mentions": ["bob"],
        "urls": ["https://x.org/p?email=[EMAIL]&tel=[PHONE]"],
        "extra": {"note": "mail [EMAIL]", "nested": [{"phone": "[PHONE]"}], "n": 3},
    }
    assert counts == {"phone": 4, "email": 2}


def test_scrub_record_scrubs_users_and_the_extra_of_every_table():
    user = {"user_id": "u1", "display_name": "Ann ann@example.org", "profile_text": "tel 13812345678",
            "location": "10.0.0.1"}
    edge = {"src": "a", "dst": "b", "kind": "follow", "extra": {"via": "ann@example.org"}}

    assert scrub_record("users", user) == {"email": 1, "phone": 1, "ip": 1}
    assert scrub_record("edges", edge) == {"email": 1}
    assert user["display_name"] == "Ann [EMAIL]" and edge["extra"] == {"via": "[EMAIL]"}


# -- Pseudonymizer -----------------------------------------------------------------------------------------------


def test_pseudonyms_are_deterministic_and_short():
    first = Pseudonymizer(KEY).pseudonym("alice")

    assert first == Pseudonymizer(KEY).pseudonym("alice")
    assert first.startswith("anon_")
    assert len(first) == len("anon_") + 20
    assert Pseudonymizer(KEY).pseudonym("bob") != first


def test_pseudonyms_depend_on_the_key():
    assert Pseudonymizer(KEY).pseudonym("alice") != Pseudonymizer(OTHER_KEY).pseudonym("alice")


def test_a_str_key_is_the_same_as_its_utf8_bytes():
    assert Pseudonymizer(KEY.decode()).pseudonym("alice") == Pseudonymizer(KEY).pseudonym("alice")


@pytest.mark.parametrize("key", [b"", b"short", "fifteen-chars!!"])
def test_a_short_key_is_rejected(key):
    pseudonymizer = Pseudonymizer(key)  # the constructor only stores its argument

    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        pseudonymizer.pseudonym("alice")
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        pseudonymizer.fingerprint()


@pytest.mark.parametrize("handle", ["@Alice", "alice", "ALICE", "@alice", "AlIcE"])
def test_handles_are_normalised(handle):
    assert Pseudonymizer(KEY).pseudonym(handle) == Pseudonymizer(KEY).pseudonym("alice")


def test_pseudonymising_twice_changes_nothing():
    pseudonymizer = Pseudonymizer(KEY)
    once = pseudonymizer.pseudonym("alice")

    assert pseudonymizer.pseudonym(once) == once
    record = pseudonymizer.apply("edges", {"src": "alice", "dst": "bob", "kind": "follow"})
    assert pseudonymizer.apply("edges", dict(record)) == record


def test_a_real_handle_that_starts_with_the_prefix_is_pseudonymised():
    pseudonymizer = Pseudonymizer(KEY)

    assert pseudonymizer.pseudonym("anon_mywife") != "anon_mywife"
    assert pseudonymizer.pseudonym("anon_mywife") == pseudonymizer.pseudonym("@anon_mywife")


def test_apply_to_posts():
    pseudonymizer = Pseudonymizer(KEY)
    name = pseudonymizer.pseudonym
    record = {"post_id": "p1", "author_id": "alice", "text": "hi @Bob", "mentions": ["Bob", "@carol"],
              "reply_to": "p0", "extra": {"in_reply_to_screen_name": "bob"}}

    result = pseudonymizer.apply("posts", record)

    assert result is record  # in place
    assert record == {"post_id": "p1", "author_id": name("alice"), "text": f"hi @{name('bob')}",
                      "mentions": [name("bob"), name("carol")], "reply_to": "p0", "extra": None}


def test_apply_to_users_joins_handle_and_id_and_drops_the_display_name():
    pseudonymizer = Pseudonymizer(KEY)
    record = pseudonymizer.apply("users", {"user_id": "alice", "handle": "@Alice", "display_name": "Alice L.",
                                           "profile_text": "ex @bob_builder, https://x.com/alice_w", "extra": {}})

    assert record["user_id"] == record["handle"] == pseudonymizer.pseudonym("alice")
    assert record["display_name"] is None  # a real name has no useful pseudonym
    assert record["profile_text"] == (f"ex @{pseudonymizer.pseudonym('bob_builder')}, "
                                      f"https://x.com/{pseudonymizer.pseudonym('alice_w')}")
    assert record["extra"] is None


@pytest.mark.parametrize(
    ("text", "handle_at"),
    [
        ("see https://x.com/alice_w", "https://x.com/{}"),
        ("see https://twitter.com/alice_w/status/123", "https://twitter.com/{}/status/123"),
        ("see x.com/alice_w", "x.com/{}"),
        ("see https://www.instagram.com/alice_w/", "https://www.instagram.com/{}/"),
        ("see https://mastodon.social/@alice_w", "https://mastodon.social/@{}"),
        ("see https://mastodon.social/@alice_w/112345678901234567", "https://mastodon.social/@{}/112345678901234567"),
        ("see https://mastodon.social/users/alice_w", "https://mastodon.social/users/{}"),
        ("see https://www.reddit.com/u/alice_w/", "https://www.reddit.com/u/{}/"),
        ("see https://old.reddit.com/user/alice_w", "https://old.reddit.com/user/{}"),
        ("thanks u/alice_w!", "thanks u/{}!"),
        ("see https://bsky.app/profile/alice_w", "https://bsky.app/profile/{}"),
        ("hi @alice_w!", "hi @{}!"),
    ],
)
def test_pseudonymize_text_replaces_handles_in_mentions_and_profile_urls(text, handle_at):
    pseudonymizer = Pseudonymizer(KEY)
    before = text[: text.index(handle_at.split("{}")[0])] if handle_at.split("{}")[0] in text else ""

    result = pseudonymizer.pseudonymize_text(text)

    assert "alice_w" not in result
    assert result.endswith(handle_at.format(pseudonymizer.pseudonym("alice_w")))
    assert result.startswith(before)


def test_a_fediverse_mention_is_pseudonymised_whole_like_its_acct():
    pseudonymizer = Pseudonymizer(KEY)

    result = pseudonymizer.pseudonymize_text("hi @alice_w@mastodon.social!")

    assert result == f"hi @{pseudonymizer.pseudonym('alice_w@mastodon.social')}!"


@pytest.mark.parametrize(
    "text",
    ["https://x.com/home", "https://x.com/i/web/status/1", "https://x.com/search?q=a", "ann@example.org",
     "https://example.com/u/123", "no handles here"],
)
def test_pseudonymize_text_leaves_other_urls_and_emails(text):
    assert Pseudonymizer(KEY).pseudonymize_text(text) == text


def test_bluesky_dids_in_post_ids_and_media_are_pseudonymised_consistently():
    pseudonymizer = Pseudonymizer(KEY)
    did = "did:plc:a7k3m2q9x4w8e5r1t6y0u2i3"
    post_uri = f"at://{did}/app.bsky.feed.post/3k2a"
    post = pseudonymizer.apply("posts", {
        "post_id": post_uri, "author_id": did, "reply_to": post_uri, "text": "x",
        "media": [{"kind": "image", "uri": f"at-blob://{did}/bafk"}, {"kind": "image", "uri": "local/pic.png"}],
    })
    like = pseudonymizer.apply("interactions", {"user_id": did, "post_id": post_uri, "kind": "like"})
    label = pseudonymizer.apply("labels", {"item_id": post_uri, "item_kind": "post", "task": "t", "label": "x"})

    assert did not in json.dumps([post, like, label])
    assert post["post_id"] == post["reply_to"] == like["post_id"] == label["item_id"]
    assert post["post_id"] == f"at://{pseudonymizer.pseudonym(did)}/app.bsky.feed.post/3k2a"
    assert post["author_id"] == like["user_id"] == pseudonymizer.pseudonym(did)
    assert post["media"][1]["uri"] == "local/pic.png"  # a local file must stay loadable


def test_apply_to_interactions_and_edges():
    pseudonymizer = Pseudonymizer(KEY)
    name = pseudonymizer.pseudonym

    interaction = pseudonymizer.apply("interactions", {"user_id": "alice", "post_id": "p1", "kind": "like"})
    edge = pseudonymizer.apply("edges", {"src": "alice", "dst": "bob", "kind": "follow"})

    assert interaction == {"user_id": name("alice"), "post_id": "p1", "kind": "like"}
    assert edge == {"src": name("alice"), "dst": name("bob"), "kind": "follow"}


def test_apply_to_labels_only_for_user_items():
    pseudonymizer = Pseudonymizer(KEY)

    user_label = pseudonymizer.apply("labels", {"item_id": "alice", "item_kind": "user", "task": "bot",
                                                "label": "no"})
    post_label = pseudonymizer.apply("labels", {"item_id": "p1", "item_kind": "post", "task": "sentiment",
                                                "label": "pos"})

    assert user_label["item_id"] == pseudonymizer.pseudonym("alice")
    assert post_label["item_id"] == "p1"
    assert (user_label["task"], user_label["label"]) == ("bot", "no")


def test_apply_leaves_missing_and_empty_fields_alone():
    pseudonymizer = Pseudonymizer(KEY)

    assert pseudonymizer.apply("posts", {"post_id": "p1", "author_id": None, "text": "x"}) == {
        "post_id": "p1", "author_id": None, "text": "x"}
    assert pseudonymizer.apply("users", {"user_id": "", "handle": None}) == {"user_id": "", "handle": None}
    assert pseudonymizer.apply("rejects", {"source": "alice"}) == {"source": "alice"}


def test_key_fingerprint_identifies_the_key_without_revealing_it():
    fingerprint = Pseudonymizer(KEY).fingerprint()

    assert fingerprint == Pseudonymizer(KEY.decode()).fingerprint()
    assert fingerprint != Pseudonymizer(OTHER_KEY).fingerprint()
    assert len(fingerprint) == 16
    assert int(fingerprint, 16) >= 0  # hex
    assert KEY.hex()[:8] not in fingerprint
    assert KEY.decode()[:8] not in fingerprint
    # The fingerprint is not a pseudonym either: publishing it does not give away any user's pseudonym.
    assert fingerprint not in Pseudonymizer(KEY).pseudonym(KEY.decode())


# -- rejects -----------------------------------------------------------------------------------------------------


def test_protect_raw_scrubs_without_a_key():
    raw = '{"post_id": "p1", "text": "mail ann@example.org", "author_id": "alice"}'

    assert protect_raw(raw, "posts", scrub_pii=True, pseudonymizer=None) == raw.replace("ann@example.org", "[EMAIL]")
    assert protect_raw(raw, "posts", scrub_pii=False, pseudonymizer=None) == raw
    assert protect_raw(None, "posts", scrub_pii=True, pseudonymizer=None) is None


def test_protect_raw_with_a_key_keeps_only_a_pseudonymised_canonical_record():
    pseudonymizer = Pseudonymizer(KEY)
    raw = json.dumps({"post_id": "p1", "author_id": "alice", "text": "hi @bob_builder, ann@example.org",
                      "mentions": ["bob_builder", {"id": "carol"}], "like_count": -1,
                      "urls": ["https://x.com/alice_w"], "extra": {"screen_name": "alice"}, "user_name": "alice"})

    kept = json.loads(protect_raw(raw, "posts", scrub_pii=True, pseudonymizer=pseudonymizer))

    assert kept == {"post_id": "p1", "author_id": pseudonymizer.pseudonym("alice"),
                    "text": f"hi @{pseudonymizer.pseudonym('bob_builder')}, [EMAIL]",
                    "mentions": [pseudonymizer.pseudonym("bob_builder")], "like_count": -1,
                    "urls": [f"https://x.com/{pseudonymizer.pseudonym('alice_w')}"], "extra": None}


@pytest.mark.parametrize(
    ("raw", "table"),
    [('{"data": {"author_id": "alice"}}', "users"), ("{broken line by alice", "posts"), ('["alice"]', "edges"),
     ("media/alice/cat.png", "media"), ('{"user_id": "alice"}', None)],
)
def test_protect_raw_with_a_key_drops_what_it_cannot_pseudonymise(raw, table):
    assert protect_raw(raw, table, scrub_pii=True, pseudonymizer=Pseudonymizer(KEY)) in (None, '{}')


# -- the key -----------------------------------------------------------------------------------------------------


def test_the_key_comes_from_the_environment_or_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("a key of at least sixteen bytes\n")

    assert pseudonym_key(None, {KEY_ENV_VAR: "from the environment!"}) == b"from the environment!"
    assert pseudonym_key(key_file, {}) == b"a key of at least sixteen bytes"
    assert pseudonym_key(None, {}) is None
    assert pseudonym_key(None, {KEY_ENV_VAR: ""}) is None


def test_a_bad_key_source_is_refused(tmp_path):
    short = tmp_path / "short"
    short.write_text("short")

    with pytest.raises(ConfigurationError, match="once"):
        pseudonym_key(short, {KEY_ENV_VAR: "from the environment!"})
    with pytest.raises(ConfigurationError, match="cannot read"):
        pseudonym_key(tmp_path / "missing", {})
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        pseudonym_key(short, {})


# -- at ingest ---------------------------------------------------------------------------------------------------

HANDLES = ("alice_w", "bob_builder", "carol", "Alice W.")


def _write_jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _everything_stored(store) -> str:
    return json.dumps({table: store.read(table).to_pylist() for table in TABLES}, default=str)


def test_pii_is_scrubbed_from_every_column_on_both_ingest_paths(tmp_path):
    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    post = {"post_id": "1", "text": "#13812345678 see https://x.org/p?email=ann@example.org&tel=13812345678"}
    odd = {**post, "post_id": "2", "extra": {"contact": "ann@example.org"}}  # extra: the record path
    user = {"user_id": "u1", "display_name": "Ann ann@example.org", "profile_text": "tel +44 20 7946 0958",
            "location": "10.0.0.1"}
    store = connect(tmp_path / "db")

    ingest(_write_jsonl(tmp_path / "posts.jsonl", [post, odd]), store)
    ingest(_write_jsonl(tmp_path / "users.jsonl", [user]), store, table="users")

    stored = _everything_stored(store)
    for pii in ("13812345678", "ann@example.org", "7946 0958", "10.0.0.1"):
        assert pii not in stored
    posts = store.read("posts").to_pylist()
    assert [p["hashtags"] for p in posts] == [["[PHONE]"], ["[PHONE]"]]
    assert [p["urls"] for p in posts] == [["https://x.org/p?email=[EMAIL]&tel=[PHONE]"]] * 2


def test_with_a_key_no_raw_handle_or_id_is_stored_anywhere(tmp_path):
    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    posts = [
        {"post_id": "1", "author_id": "alice_w", "text": "hi @bob_builder https://x.com/alice_w",
         "extra": {"screen_name": "alice_w"}},
        {"post_id": "2", "author_id": "carol", "text": "@bob_builder", "like_count": -5},  # a validation reject
        '{"post_id": "3", "author_id": "bob_builder", "text": "cut off',  # a malformed line
    ]
    users = [{"user_id": "alice_w", "handle": "alice_w", "display_name": "Alice W.",
              "profile_text": "friend of @carol, https://mastodon.social/@bob_builder"}]
    store = connect(tmp_path / "db")
    key = "a key of at least sixteen bytes"

    ingest(_write_jsonl(tmp_path / "posts.jsonl", posts), store, pseudonymize_key=key)
    ingest(_write_jsonl(tmp_path / "users.jsonl", users), store, table="users", pseudonymize_key=key)

    stored = _everything_stored(store)
    for handle in HANDLES:
        assert handle not in stored
    rejects = store.read("rejects").to_pylist()
    assert len(rejects) == 2 and all(reject["reason"] and reject["location"] for reject in rejects)
    kept = [json.loads(reject["raw"]) for reject in rejects if reject["raw"]]
    assert kept == [{"post_id": "2", "author_id": Pseudonymizer(key).pseudonym("carol"),
                     "text": f"@{Pseudonymizer(key).pseudonym('bob_builder')}", "like_count": -5}]


def test_rejects_keep_a_scrubbed_raw_record_without_a_key(tmp_path):
    from socialfusion.ingestion import ingest
    from socialfusion.store import connect

    store = connect(tmp_path / "db")

    ingest(_write_jsonl(tmp_path / "p.jsonl", ['{"post_id": "9", "text": "ann@example.org 13812345678']), store)

    raws = [reject["raw"].strip() for reject in store.read("rejects").to_pylist()]
    assert raws == ['{"post_id": "9", "text": "[EMAIL] [PHONE]']


# -- the key on the command line ---------------------------------------------------------------------------------


def _invoke(*args, env=None):
    from typer.testing import CliRunner

    from socialfusion.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args], env=env)


def test_the_cli_refuses_a_key_on_the_command_line(tmp_path):
    posts = _write_jsonl(tmp_path / "p.jsonl", [{"post_id": "1", "author_id": "alice_w", "text": "hi"}])

    result = _invoke("ingest", posts, "--store", tmp_path / "db", "--pseudonymize-key", "a key of sixteen bytes+")

    assert result.exit_code == 2
    assert KEY_ENV_VAR in result.output and "--pseudonymize-key-file" in result.output
    assert not (tmp_path / "db").exists()


@pytest.mark.parametrize("source", ["file", "environment"])
def test_the_cli_takes_the_key_from_a_file_or_the_environment(tmp_path, source):
    posts = _write_jsonl(tmp_path / "p.jsonl", [{"post_id": "1", "author_id": "alice_w", "text": "hi"}])
    key_file = tmp_path / "key"
    key_file.write_text("a key of at least sixteen bytes\n")
    options = ["--pseudonymize-key-file", key_file] if source == "file" else []
    env = {KEY_ENV_VAR: "a key of at least sixteen bytes"} if source == "environment" else {KEY_ENV_VAR: ""}

    result = _invoke("ingest", posts, "--store", tmp_path / "db", "--json", *options, env=env)

    assert result.exit_code == 0, result.output
    from socialfusion.store import connect

    authors = connect(tmp_path / "db").read("posts").column("author_id").to_pylist()
    assert authors == [Pseudonymizer("a key of at least sixteen bytes").pseudonym("alice_w")]
