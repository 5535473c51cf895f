"""Analyses of a corpus, one module per question: ``sentiment`` (what people feel about what)."""

from socialfusion.tasks.sentiment import (
    DEFAULT_ENCODERS,
    MULTILINGUAL_ENCODERS,
    PREDICTIONS_TABLE,
    LexiconSentiment,
    SentimentModel,
    labelled_posts,
    lexicon_sentiment,
    read_predictions,
    sentiment_scores,
    sentiment_section,
    write_predictions,
)

__all__ = [
    "DEFAULT_ENCODERS",
    "MULTILINGUAL_ENCODERS",
    "PREDICTIONS_TABLE",
    "LexiconSentiment",
    "SentimentModel",
    "labelled_posts",
    "lexicon_sentiment",
    "read_predictions",
    "sentiment_scores",
    "sentiment_section",
    "write_predictions",
]
