"""socialfusion: multimodal social-media analysis, offline-first."""

from socialfusion.corpus import Corpus
from socialfusion.exceptions import SocialFusionError
from socialfusion.store import Store, connect

__version__ = "0.1.0"

__all__ = ["Corpus", "SocialFusionError", "Store", "__version__", "connect"]
