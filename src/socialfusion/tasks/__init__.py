"""Analyses of a corpus, one module per question: ``sentiment`` (what people feel about what),
``links`` (who will befriend whom)."""

from socialfusion.tasks.links import (
    HEURISTICS,
    LinkPredictor,
    LinkSplit,
    embedding_scores,
    evaluate_link_prediction,
    heuristic_scores,
    spectral_embedding,
    split_edges,
)
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
    "HEURISTICS",
    "MULTILINGUAL_ENCODERS",
    "PREDICTIONS_TABLE",
    "LexiconSentiment",
    "LinkPredictor",
    "LinkSplit",
    "SentimentModel",
    "embedding_scores",
    "evaluate_link_prediction",
    "heuristic_scores",
    "labelled_posts",
    "lexicon_sentiment",
    "read_predictions",
    "sentiment_scores",
    "sentiment_section",
    "spectral_embedding",
    "split_edges",
    "write_predictions",
]
