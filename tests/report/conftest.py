"""Fixtures of the report tests."""

from __future__ import annotations

import pytest

from socialfusion import Corpus

from . import _small_corpus


@pytest.fixture
def small_corpus() -> Corpus:
    """Five posts (one undated, two with an image), two users, one like, one follow, three rejected inputs."""
    return _small_corpus.small_corpus()
