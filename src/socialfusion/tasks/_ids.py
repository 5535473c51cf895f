"""Ids to row positions, computed by Arrow: the one lookup the analyses share."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def positions(values: pa.ChunkedArray | pa.Array, ids: pa.Array | np.ndarray) -> np.ndarray:
    """``(n,)`` int64 position of each value among ``ids`` (-1: absent or null), computed columnar.

    Examples:
        >>> positions(pa.array(["b", None, "z"]), pa.array(["a", "b"])).tolist()
        [1, -1, -1]
    """
    if isinstance(ids, np.ndarray):
        ids = pa.array(ids, pa.string())
    found = pc.index_in(pc.cast(values, pa.string()), value_set=ids)
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int64)
