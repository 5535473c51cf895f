"""Privacy at ingest: PII scrubbing of text and keyed pseudonyms of user ids and handles."""

from __future__ import annotations

import pytest

from socialfusion.exceptions import ConfigurationError
from socialfusion.privacy import Pseudonymizer, scrub_text

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
        ("+447700900123", "[PHONE]", {"phone": 1}),
        ("call +1 (415) 555-2671 now", "call [PHONE] now", {"phone": 1}),
        ("call (415) 555-2671 now", "call [PHONE] now", {"phone": 1}),
        ("call 415-555-2671", "call [PHONE]", {"phone": 1}),
        ("call 415.555.2671", "call [PHONE]", {"phone": 1}),
        ("call 4155552671", "call [PHONE]", {"phone": 1}),
        ("tel:+14155552671", "tel:[PHONE]", {"phone": 1}),
        ("toll free 1-800-555-0199 today", "toll free [PHONE] today", {"phone": 1}),
        ("price USD 1 250 000 000 or 555 123 4567", "price USD 1 250 000 000 or [PHONE]", {"phone": 1}),
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
        # IPv4
        ("server 192.168.1.20 down", "server [IP] down", {"ip": 1}),
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
              "reply_to": "p0"}

    result = pseudonymizer.apply("posts", record)

    assert result is record  # in place
    assert record == {"post_id": "p1", "author_id": name("alice"), "text": "hi @Bob",
                      "mentions": [name("bob"), name("carol")], "reply_to": "p0"}


def test_apply_to_users_joins_handle_and_id():
    pseudonymizer = Pseudonymizer(KEY)
    record = pseudonymizer.apply("users", {"user_id": "alice", "handle": "@Alice", "display_name": "Alice L."})

    assert record["user_id"] == record["handle"] == pseudonymizer.pseudonym("alice")
    assert record["display_name"] == "Alice L."  # free text is for scrub_text, not for pseudonyms


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
