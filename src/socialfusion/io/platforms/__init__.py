"""Readers for platform exports: X/Twitter API v2, Mastodon, Reddit (Pushshift NDJSON) and Bluesky."""

# Importing the modules registers their readers.
from socialfusion.io.platforms import bluesky, mastodon, reddit, twitter  # noqa: F401
