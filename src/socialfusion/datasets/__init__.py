"""Public datasets as Corpora (from ``../shared/data``, checked against their manifests); synthetic networks.

Examples:
    >>> from socialfusion.datasets import DATASETS
    >>> sorted(DATASETS)[:2]
    ['diffusion-cascades', 'lastfm-hetrec2011']
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from socialfusion.corpus import Corpus
from socialfusion.datasets._shared import data_root, dataset_path, verify_manifest
from socialfusion.datasets.cascades import load_diffusion_cascades, load_forest_cascades
from socialfusion.datasets.lastfm import load_lastfm
from socialfusion.datasets.mvsa import load_mvsa_single
from socialfusion.datasets.snap_facebook import load_snap_ego_facebook
from socialfusion.datasets.tweeteval import load_semeval2017_pool, load_tweeteval
from socialfusion.datasets.weibo import (
    load_weibo_covid_daily,
    load_weibo_covid_emotions,
    load_weibo_hashtag_counts,
)
from socialfusion.exceptions import ConfigurationError

__all__ = [
    "DATASETS",
    "data_root",
    "dataset_path",
    "generate",
    "load_dataset",
    "load_diffusion_cascades",
    "load_forest_cascades",
    "load_lastfm",
    "load_mvsa_single",
    "load_semeval2017_pool",
    "load_snap_ego_facebook",
    "load_tweeteval",
    "load_weibo_covid_daily",
    "load_weibo_covid_emotions",
    "load_weibo_hashtag_counts",
    "verify_manifest",
]

# Short name (the folder under ../shared/data) -> the dataset's main loader, called with its defaults.
DATASETS: dict[str, Callable[..., Corpus]] = {
    "diffusion-cascades": load_diffusion_cascades,
    "lastfm-hetrec2011": load_lastfm,
    "mvsa-single": load_mvsa_single,
    "snap-ego-facebook": load_snap_ego_facebook,
    "tweeteval": load_tweeteval,
    "weibo-covid19": load_weibo_covid_emotions,
}


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, **options: Any) -> Corpus:
    """Load a shared dataset by its short name (see ``DATASETS``) with its main loader.

    Args:
        name: e.g. ``"mvsa-single"``.
        root: the data folder (default: ``$SOCIALFUSION_DATA`` or ``../shared/data``).
        **options: passed to the loader (e.g. ``task="emotion"`` for TweetEval, ``name="android"`` for cascades).

    Raises:
        ConfigurationError: unknown name; the message lists the known ones.
        DatasetNotFoundError: the dataset's folder is absent.
    """
    if name not in DATASETS:
        raise ConfigurationError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](root=root, **options)


def __getattr__(name: str) -> Any:
    # The synthetic generator pulls in NumPy and Pillow: imported on first use, not with the loaders.
    if name == "generate":
        from socialfusion.datasets.synthetic import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
