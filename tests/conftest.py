"""Shared fixtures: the shared data folder, or a clean skip with a message where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialfusion.datasets import data_root
from socialfusion.exceptions import DatasetNotFoundError


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``../shared/data`` or ``$SOCIALFUSION_DATA``); skips the test if absent."""
    try:
        return data_root()
    except DatasetNotFoundError as error:
        pytest.skip(f"real-dataset test needs ../shared/data, not found: {error}")
