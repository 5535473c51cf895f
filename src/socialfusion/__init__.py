"""socialfusion: multimodal social-media analysis, offline-first.

Examples:
    >>> import socialfusion as sf
    >>> network = sf.generate(n_users=20, n_posts=60, seed=1)
    >>> store = sf.connect("memory://")
    >>> sf.ingest_corpus(network.corpus, store).rejected
    0
"""

from socialfusion.corpus import Corpus
from socialfusion.datasets import generate
from socialfusion.exceptions import SocialFusionError
from socialfusion.ingestion import IngestSummary, ingest, ingest_corpus
from socialfusion.pipeline import analyze, run_demo, store_stats
from socialfusion.store import Store, connect

__version__ = "0.1.0"

__all__ = [
    "Corpus",
    "IngestSummary",
    "SocialFusionError",
    "Store",
    "__version__",
    "analyze",
    "connect",
    "generate",
    "ingest",
    "ingest_corpus",
    "run_demo",
    "store_stats",
]
