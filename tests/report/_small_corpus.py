"""The corpus the report tests share: small enough to check by eye, with a hostile string in many places."""

from __future__ import annotations

from socialfusion import Corpus
from socialfusion.schema import records_to_table

HOSTILE_HASHTAG = "<script>alert(1)</script>"
HOSTILE_TEXT = "<script>alert('text')</script>"
HOSTILE_REASON = "<script>alert('reason')</script>"

# What the overview of `small_corpus()` must show, counted by hand from its records.
EXPECTED_HASHTAGS = {"ai": 3, "python": 2, HOSTILE_HASHTAG: 1}
EXPECTED_MENTIONS = {"alice": 2, "bob": 1}
EXPECTED_LANGUAGES = {"en": 2, "unknown": 2, "fr": 1}
EXPECTED_MODALITIES = {"text": 4, "image": 2, "video": 0, "audio": 0}
EXPECTED_POSTS_PER_DAY = {"2024-05-01": 2, "2024-05-02": 1, "2024-05-03": 1}


def small_corpus() -> Corpus:
    """Five posts (one undated, two with an image), two users, one like, one follow, three rejected inputs."""
    image = {"kind": "image", "uri": "images/cat.png"}
    corpus = Corpus.from_records(
        posts=[
            {"post_id": "p1", "author_id": "u1", "created_at": "2024-05-01T09:00:00Z", "lang": "en",
             "text": "Loving #AI and #Python with @Alice", "hashtags": ["AI", "python"],
             "mentions": ["@Alice"]},
            # "#ai" and "AI" in one post count once; "alice" matches "@Alice".
            {"post_id": "p2", "author_id": "u2", "created_at": "2024-05-01T15:30:00Z", "lang": "en",
             "text": "#ai is everywhere", "hashtags": ["#ai", "AI"], "mentions": ["alice", "@bob"],
             "media": [image]},
            {"post_id": "p3", "author_id": "u1", "created_at": "2024-05-03T08:00:00Z", "lang": "fr",
             "text": HOSTILE_TEXT, "hashtags": [HOSTILE_HASHTAG, "Python"]},
            {"post_id": "p4", "author_id": "u3", "created_at": None, "lang": None,
             "text": "undated post", "hashtags": ["AI"]},
            {"post_id": "p5", "author_id": "u2", "created_at": "2024-05-02T23:59:59Z", "lang": "  ",
             "text": "", "media": [{"kind": "image", "uri": "images/dog.png"}]},
        ],
        users=[{"user_id": "u1", "handle": "alice"}, {"user_id": "u2", "handle": "bob"}],
        interactions=[{"user_id": "u2", "post_id": "p1", "kind": "like", "at": "2024-05-01T10:00:00Z"}],
        edges=[{"src": "u2", "dst": "u1", "kind": "follow"}],
    )
    corpus.rejects = records_to_table(
        "rejects",
        [
            {"source": "posts.jsonl", "location": "line 7", "table": "posts", "reason": "invalid JSON",
             "at": "2024-05-04T00:00:00Z"},
            {"source": "posts.jsonl", "location": "line 9", "table": "posts", "reason": "invalid JSON",
             "at": "2024-05-04T00:00:00Z"},
            {"source": "users.csv", "location": "row 2", "table": "users", "reason": HOSTILE_REASON,
             "at": "2024-05-04T00:00:00Z"},
        ],
    )
    return corpus
