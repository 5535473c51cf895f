"""The jobs the CLI and the server run: store statistics, analysis into an HTML report, and the demo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialfusion.corpus import Corpus, modality_counts
from socialfusion.exceptions import DataError, MissingDependencyError
from socialfusion.ingestion import IngestSummary, ingest_corpus
from socialfusion.store import Store, connect

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEMO_SENTIMENT_ENCODERS", "analyze", "demo_sentiment", "run_demo", "store_stats"]

logger = logging.getLogger(__name__)

DEMO_SENTIMENT_ENCODERS = {"image": "image/colour-histogram", "lexicon": "text/lexicon"}
"""What the demo's sentiment model reads: fast to compute (seconds), and enough for the synthetic posts, whose
images show their sentiment by brightness and tint."""


def store_stats(store: Store) -> dict[str, Any]:
    """Row counts per table and posts per modality.

    Returns:
        ``{"tables": {name: rows}, "modalities": {"text": n, "image": n, "video": n, "audio": n}}``.
    """
    tables = {name: store.count(name) for name in Corpus.table_names()}
    posts = store.read("posts", columns=["text", "media"])
    return {"tables": tables, "modalities": modality_counts(posts)}


def report_sections(corpus: Corpus, *, sentiment_predictions: pa.Table | None = None) -> list:
    """The report sections for a corpus, in reading order (each analysis contributes one).

    Args:
        corpus: the corpus.
        sentiment_predictions: an Arrow table of sentiment predictions (``socialfusion.tasks.read_predictions``)
            to add the sentiment section; the held-out scores the demo records in the corpus metadata show too.
    """
    from socialfusion.report import overview_section

    sections = [overview_section(corpus)]
    if sentiment_predictions is not None:
        from socialfusion.tasks.sentiment import EVALUATION_METADATA_KEY, sentiment_section

        evaluation = corpus.metadata.get(EVALUATION_METADATA_KEY)
        sections.append(sentiment_section(corpus, sentiment_predictions, evaluation=evaluation))
    return sections


def analyze(store: Store | Corpus, out: str | Path, *, title: str = "socialfusion report") -> Path:
    """Analyse a store (or an in-memory corpus) and write the self-contained HTML report to ``out``.

    A store with sentiment predictions (``socialfusion sentiment predict``) gets a sentiment section.

    Returns:
        The report's path.
    """
    from socialfusion.report import write_report
    from socialfusion.tasks.sentiment import PREDICTIONS_TABLE, read_predictions

    corpus = store if isinstance(store, Corpus) else Corpus.from_store(store)
    predictions = None
    if not isinstance(store, Corpus) and PREDICTIONS_TABLE in store.tables():
        predictions = read_predictions(store)
    subtitle = f"{corpus.posts.num_rows:,} posts · {corpus.users.num_rows:,} users · {corpus.edges.num_rows:,} edges"
    return write_report(report_sections(corpus, sentiment_predictions=predictions), Path(out), title=title,
                        subtitle=subtitle)


def demo_sentiment(store: Store) -> dict[str, dict[str, Any]]:
    """Train the demo's sentiment model on the planted labels (train split), score it, predict every post.

    Fits a ``SentimentModel`` on ``DEMO_SENTIMENT_ENCODERS`` and, for comparison, one on the lexicon features
    alone; scores both and the lexicon baseline on the test split; writes the fused model's predictions to
    ``sentiment_predictions`` and the scores to the store metadata (``EVALUATION_METADATA_KEY``).

    Returns:
        Method name -> ``evaluate`` result on the test split.
    """
    from socialfusion.tasks.sentiment import (
        EVALUATION_METADATA_KEY,
        LexiconSentiment,
        SentimentModel,
        write_predictions,
    )

    fused = SentimentModel(encoders=DEMO_SENTIMENT_ENCODERS).fit(store, split="train")
    text_only = SentimentModel(encoders={"lexicon": "text/lexicon"}).fit(store, split="train")
    evaluation = {
        "fused: lexicon features + colour histogram (stacked)": fused.evaluate(store, split="test"),
        "text only: lexicon features (stacked)": text_only.evaluate(store, split="test"),
        "lexicon baseline (VADER, snownlp)": LexiconSentiment().evaluate(store, split="test"),
    }
    write_predictions(store, fused.predict(store))
    store.update_metadata({EVALUATION_METADATA_KEY: evaluation})
    return evaluation


def run_demo(
    out_dir: str | Path, *, n_users: int = 300, n_posts: int = 2000, seed: int = 0
) -> tuple[Path, IngestSummary]:
    """Generate the synthetic social network, ingest it into ``out_dir/store``, write ``out_dir/report.html``.

    Media files are written under ``out_dir/media``. With the ``text`` extra installed, the demo also learns the
    posts' sentiment from the planted labels (``demo_sentiment``: a few seconds) and the report shows it.

    Returns:
        The report's path and the ingest summary.
    """
    from socialfusion.datasets.synthetic import generate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    network = generate(n_users=n_users, n_posts=n_posts, seed=seed, media_dir=out_dir / "media")
    store = connect(out_dir / "store")
    summary = ingest_corpus(network.corpus, store)
    try:
        demo_sentiment(store)
    except (MissingDependencyError, DataError) as error:  # no text extra, or too few posts to learn from
        logger.warning("the demo skips sentiment: %s", error)
    report = analyze(store, out_dir / "report.html", title="socialfusion demo: synthetic social network")
    return report, summary
