"""The jobs the CLI and the server run: store statistics, analysis into an HTML report, and the demo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from socialfusion.corpus import Corpus, modality_counts
from socialfusion.ingestion import IngestSummary, ingest_corpus
from socialfusion.store import Store, connect

__all__ = ["analyze", "run_demo", "store_stats"]

logger = logging.getLogger(__name__)


def store_stats(store: Store) -> dict[str, Any]:
    """Row counts per table and posts per modality.

    Returns:
        ``{"tables": {name: rows}, "modalities": {"text": n, "image": n, "video": n, "audio": n}}``.
    """
    tables = {name: store.count(name) for name in Corpus.table_names()}
    posts = store.read("posts", columns=["text", "media"])
    return {"tables": tables, "modalities": modality_counts(posts)}


def report_sections(corpus: Corpus) -> list:
    """The report sections for a corpus, in reading order (each analysis contributes one)."""
    from socialfusion.report import overview_section

    return [overview_section(corpus)]


def analyze(store: Store | Corpus, out: str | Path, *, title: str = "socialfusion report") -> Path:
    """Analyse a store (or an in-memory corpus) and write the self-contained HTML report to ``out``.

    Returns:
        The report's path.
    """
    from socialfusion.report import write_report

    corpus = store if isinstance(store, Corpus) else Corpus.from_store(store)
    subtitle = f"{corpus.posts.num_rows:,} posts · {corpus.users.num_rows:,} users · {corpus.edges.num_rows:,} edges"
    return write_report(report_sections(corpus), Path(out), title=title, subtitle=subtitle)


def run_demo(
    out_dir: str | Path, *, n_users: int = 300, n_posts: int = 2000, seed: int = 0
) -> tuple[Path, IngestSummary]:
    """Generate the synthetic social network, ingest it into ``out_dir/store``, write ``out_dir/report.html``.

    Media files are written under ``out_dir/media``.

    Returns:
        The report's path and the ingest summary.
    """
    from socialfusion.datasets.synthetic import generate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    network = generate(n_users=n_users, n_posts=n_posts, seed=seed, media_dir=out_dir / "media")
    store = connect(out_dir / "store")
    summary = ingest_corpus(network.corpus, store)
    report = analyze(store, out_dir / "report.html", title="socialfusion demo: synthetic social network")
    return report, summary
