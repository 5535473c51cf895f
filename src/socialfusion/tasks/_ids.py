"""Ids to row positions and keys to sorted codes, computed by Arrow, and the distinct values of a large code array:
the lookups the analyses share."""

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


def distinct_codes(codes: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, sorted: ``np.unique(codes)``, computed by sorting.

    numpy 2.3+ finds the distinct values of a plain ``np.unique`` with a hash table, which is many times slower than
    a sort when most of millions of values are distinct (10M random int64: 11.6 s against 0.8 s on the 2-CPU
    machine): every (user, post) pair code, every time stamp. The analyses take their distinct codes from here.

    Examples:
        >>> distinct_codes(np.array([3, 1, 3, 2])).tolist()
        [1, 2, 3]
    """
    ordered = np.sort(np.asarray(codes).ravel())
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def sorted_distinct(values: pa.ChunkedArray | pa.Array, *, keep_null: bool = False) -> pa.Array:
    """The distinct values of a column, sorted (strings in UTF-8 byte order, which is code-point order); a null
    among them is dropped, or kept last with ``keep_null``.

    Examples:
        >>> sorted_distinct(pa.array(["b", None, "a", "b"])).to_pylist()
        ['a', 'b']
    """
    distinct = pc.unique(values)
    distinct = distinct if keep_null else pc.drop_null(distinct)
    return distinct.take(pc.sort_indices(distinct))


def sorted_keys(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a key column as strings, sorted, and each row's code among them: what
    ``np.unique(values, return_inverse=True)`` gives, without a Python string per row.

    Examples:
        >>> keys, codes = sorted_keys(pa.array(["b", "a", "b"]))
        >>> keys.to_pylist(), codes.tolist()
        (['a', 'b'], [1, 0, 1])
    """
    values = pc.cast(column, pa.string())
    keys = sorted_distinct(values, keep_null=True)
    return keys, positions(values, keys)


def keep_rows(table: pa.Table, mask: pa.ChunkedArray | pa.Array) -> pa.Table:
    """The rows of ``table`` where ``mask`` is true; the table itself when the mask keeps every row (a filter that
    keeps them all still copies every column it is given).

    Examples:
        >>> table = pa.table({"x": [1, 2]})
        >>> keep_rows(table, pa.array([True, True])) is table, keep_rows(table, pa.array([False, True])).num_rows
        (True, 1)
    """
    return table if pc.all(mask).as_py() is not False else table.filter(mask)


def cell_sums(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int],
              weights: np.ndarray | None = None) -> np.ndarray:
    """A ``shape`` matrix of how many (row, column) pairs fall in each cell (int64), or the sum of their
    ``weights`` (float64): one ``bincount`` over the flattened cells, for key x period counts and the like.

    Examples:
        >>> cell_sums(np.array([0, 1, 1]), np.array([2, 0, 0]), (2, 3)).tolist()
        [[0, 0, 1], [2, 0, 0]]
    """
    n_rows, n_columns = shape
    cells = np.asarray(rows, np.int64) * n_columns + np.asarray(columns, np.int64)
    return np.bincount(cells, weights=weights, minlength=n_rows * n_columns).reshape(n_rows, n_columns)
