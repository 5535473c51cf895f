"""Readers for platform exports: X/Twitter API v2, Mastodon, Reddit (Pushshift NDJSON) and Bluesky."""
