"""LanceStore: writes by mode, reads with filters and projections, counts, deletes, metadata and vector search."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from socialfusion.exceptions import ConfigurationError, StoreError
from socialfusion.schema import arrow_schema, feature_schema, records_to_table
from socialfusion.store import LanceStore, Store, connect


@pytest.fixture(params=["memory", "directory"])
def store(request, tmp_path) -> Store:
    """A fresh store in memory or in a temporary directory."""
    return connect("memory://" if request.param == "memory" else tmp_path / "db")


def posts(*rows: tuple[str, str, str]) -> pa.Table:
    """A posts table from (post_id, author_id, text) triples."""
    return records_to_table("posts", [{"post_id": p, "author_id": a, "text": t} for p, a, t in rows])


THREE_POSTS = posts(("p1", "u1", "one"), ("p2", "u1", "two"), ("p3", "u2", "three"))


def texts(store: Store, where: str | None = None) -> dict[str, str]:
    rows = store.read("posts", where=where, columns=["post_id", "text"])
    return dict(zip(rows.column("post_id").to_pylist(), rows.column("text").to_pylist()))


def notes(ids: list[str], values: list[int]) -> pa.Table:
    return pa.table({"id": ids, "n": values})


def note_values(store: Store) -> dict[str, int]:
    rows = store.read("notes")
    return dict(zip(rows.column("id").to_pylist(), rows.column("n").to_pylist()))


def test_connect_gives_a_lance_store(store):
    assert isinstance(store, LanceStore)
    assert isinstance(store, Store)
    assert store.tables() == []


# -- writes ------------------------------------------------------------------------------------------------------


def test_upsert_inserts_new_keys_and_replaces_known_ones(store):
    assert store.write("posts", THREE_POSTS) == 3

    written = store.write("posts", posts(("p2", "u1", "two, edited"), ("p4", "u3", "four")), mode="upsert")

    assert written == 2  # one update, one insert
    assert texts(store) == {"p1": "one", "p2": "two, edited", "p3": "three", "p4": "four"}


def test_append_adds_rows_even_with_known_keys(store):
    store.write("posts", THREE_POSTS, mode="append")

    assert store.write("posts", posts(("p1", "u1", "again")), mode="append") == 1
    assert store.count("posts") == 4
    assert store.count("posts", where="post_id = 'p1'") == 2


def test_overwrite_replaces_the_table(store):
    store.write("posts", THREE_POSTS)

    assert store.write("posts", posts(("p9", "u9", "only")), mode="overwrite") == 1
    assert texts(store) == {"p9": "only"}


def test_writing_no_rows_to_an_existing_table_writes_nothing(store):
    store.write("posts", THREE_POSTS)

    assert store.write("posts", records_to_table("posts", [])) == 0
    assert store.count("posts") == 3


def test_canonical_rows_are_cast_to_the_schema(store):
    rows = THREE_POSTS.select(list(reversed(THREE_POSTS.column_names)))  # columns in another order

    store.write("posts", rows)

    assert store.read("posts").schema.equals(arrow_schema("posts"))


def test_canonical_rows_missing_a_column_raise_store_error(store):
    with pytest.raises(StoreError, match="rows for 'posts' do not match its schema"):
        store.write("posts", THREE_POSTS.drop_columns(["text"]))


def test_upsert_on_a_custom_key_for_a_non_canonical_table(store):
    assert store.write("notes", notes(["a"], [1]), mode="upsert", key="id") == 1
    assert store.write("notes", notes(["a", "b"], [2, 3]), mode="upsert", key="id") == 2

    assert note_values(store) == {"a": 2, "b": 3}


def test_upsert_without_key_on_a_non_canonical_table_raises(store):
    with pytest.raises(ConfigurationError, match=r"upsert into 'notes' needs key=<column>"):
        store.write("notes", notes(["a"], [1]))
    assert "notes" not in store.tables()


def test_append_and_overwrite_need_no_key_on_a_non_canonical_table(store):
    assert store.write("notes", notes(["a"], [1]), mode="append") == 1
    assert store.write("notes", notes(["a"], [5]), mode="append") == 1
    assert store.count("notes") == 2
    assert store.write("notes", notes(["z"], [0]), mode="overwrite") == 1
    assert note_values(store) == {"z": 0}


def test_unknown_write_mode_raises(store):
    with pytest.raises(ConfigurationError, match="unknown write mode 'replace'"):
        store.write("posts", THREE_POSTS, mode="replace")
    assert store.tables() == []


# -- reads -------------------------------------------------------------------------------------------------------


def test_an_absent_canonical_table_reads_as_empty_with_its_schema(store):
    empty = store.read("users")

    assert empty.num_rows == 0
    assert empty.schema.equals(arrow_schema("users"))
    assert store.read("users", columns=["user_id", "handle"]).column_names == ["user_id", "handle"]
    assert store.count("users") == 0


def test_an_absent_non_canonical_table_raises_naming_the_tables(store):
    store.write("posts", THREE_POSTS)
    store.write("notes", notes(["a"], [1]), mode="append")

    with pytest.raises(StoreError, match=r"no table 'features' in store .*; tables: \['notes', 'posts'\]"):
        store.read("features")


def test_where_filters_and_columns_project(store):
    store.write("posts", THREE_POSTS)

    rows = store.read("posts", where="author_id = 'u1'", columns=["post_id", "text"])

    assert rows.column_names == ["post_id", "text"]
    assert sorted(rows.to_pylist(), key=lambda row: row["post_id"]) == [
        {"post_id": "p1", "text": "one"},
        {"post_id": "p2", "text": "two"},
    ]
    assert texts(store, where="text LIKE 't%'") == {"p2": "two", "p3": "three"}
    assert store.read("posts", where="post_id = 'nope'").num_rows == 0


@pytest.mark.parametrize("where", ["author_id ===", "no_such_column = 1", "text = 'unclosed"])
def test_a_bad_where_raises_store_error(store, where):
    store.write("posts", THREE_POSTS)

    with pytest.raises(StoreError, match="cannot read 'posts' where"):
        store.read("posts", where=where)


def test_an_unknown_column_raises_store_error(store):
    store.write("posts", THREE_POSTS)

    with pytest.raises(StoreError, match="cannot read 'posts'"):
        store.read("posts", columns=["post_id", "colour"])


def test_count_with_and_without_where(store):
    store.write("posts", THREE_POSTS)

    assert store.count("posts") == 3
    assert store.count("posts", where="author_id = 'u1'") == 2
    assert store.count("posts", where="author_id = 'nobody'") == 0
    assert store.count("no_such_table") == 0


@pytest.mark.parametrize("operation", ["count", "delete"])
def test_a_bad_where_in_count_or_delete_raises_store_error(store, operation):
    store.write("posts", THREE_POSTS)

    with pytest.raises(StoreError):
        if operation == "count":
            store.count("posts", where="author_id ===")
        else:
            store.delete("posts", "author_id ===")


def test_delete(store):
    store.write("posts", THREE_POSTS)

    store.delete("posts", "author_id = 'u1'")

    assert texts(store) == {"p3": "three"}
    store.delete("no_such_table", "true")  # nothing to delete: no error


def test_tables_lists_what_exists_sorted(store):
    store.write("users", records_to_table("users", [{"user_id": "u1"}]))
    store.write("posts", THREE_POSTS)
    store.write("notes", notes(["a"], [1]), mode="append")

    assert store.tables() == ["notes", "posts", "users"]


def test_a_table_being_created_is_not_listed_until_it_can_be_read(tmp_path):
    """Another process creating a table makes its folder a moment before its first version: listing it then
    would make ``name in store.tables()`` followed by ``store.read(name)`` fail."""
    store = connect(tmp_path / "db")
    store.write("notes", notes(["a"], [1]), mode="append")
    (tmp_path / "db" / "alerts.lance" / "_versions").mkdir(parents=True)  # created, no version yet

    assert store.tables() == ["notes"]
    with pytest.raises(StoreError, match="no table 'alerts'"):
        store.read("alerts")
    store.write("alerts", notes(["b"], [2]), mode="append")
    assert store.tables() == ["alerts", "notes"]
    assert store.read("alerts").column("id").to_pylist() == ["b"]


# -- metadata ----------------------------------------------------------------------------------------------------


def test_metadata_round_trip_and_merge(store):
    assert store.get_metadata() == {}

    first = store.update_metadata({"privacy": {"pii_scrubbed": True, "pii_kinds": ["email"]}, "runs": 1})
    second = store.update_metadata({"runs": 2, "name": "demo"})

    assert first == {"privacy": {"pii_scrubbed": True, "pii_kinds": ["email"]}, "runs": 1}
    assert second == {"privacy": {"pii_scrubbed": True, "pii_kinds": ["email"]}, "runs": 2, "name": "demo"}
    assert store.get_metadata() == second


def test_the_metadata_table_is_not_listed(store):
    store.update_metadata({"a": 1})

    assert store.tables() == []
    store.write("posts", THREE_POSTS)
    assert store.tables() == ["posts"]


# -- vector search -----------------------------------------------------------------------------------------------

VECTORS = {"p1": [1.0, 0.0, 0.0, 0.0], "p2": [0.0, 1.0, 0.0, 0.0], "p3": [0.0, 0.0, 1.0, 0.0],
           "p4": [0.9, 0.1, 0.0, 0.0]}


@pytest.fixture
def feature_store(store) -> Store:
    rows = [
        {"item_id": item, "item_kind": "post", "encoder": "toy", "version": "1", "content_hash": f"h{item}",
         "modality": "image" if item == "p3" else "text", "vector": vector, "missing": False, "reason": None,
         "record_key": item}
        for item, vector in VECTORS.items()
    ]
    store.write("features_toy", pa.Table.from_pylist(rows, schema=feature_schema(4)), mode="upsert",
                key="record_key")
    return store


def test_search_finds_the_nearest_row(feature_store):
    found = feature_store.search("features_toy", np.array([1.0, 0.0, 0.0, 0.0]), k=2)

    assert found.column("item_id").to_pylist() == ["p1", "p4"]
    assert found.column("_distance").to_pylist() == pytest.approx([0.0, 0.02])
    assert found.schema.field("vector").type == pa.list_(pa.float32(), 4)


def test_search_respects_k_and_where(feature_store):
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float64)  # cast to float32 by the store

    assert feature_store.search("features_toy", query, k=1).column("item_id").to_pylist() == ["p1"]
    assert feature_store.search("features_toy", query, k=10).num_rows == 4
    assert feature_store.search("features_toy", query, k=2, where="item_id != 'p1'").column(
        "item_id").to_pylist() == ["p4", "p2"]
    assert feature_store.search("features_toy", query, k=10, where="modality = 'image'").column(
        "item_id").to_pylist() == ["p3"]


def test_search_errors(feature_store):
    with pytest.raises(StoreError, match="no table 'absent'"):
        feature_store.search("absent", np.zeros(4))
    with pytest.raises(StoreError, match="cannot search 'features_toy'"):
        feature_store.search("features_toy", np.zeros(4), where="modality ===")


def test_search_with_a_vector_of_the_wrong_dimension_raises_store_error(feature_store):
    with pytest.raises(StoreError):
        feature_store.search("features_toy", np.zeros(3))


# -- persistence -------------------------------------------------------------------------------------------------


def test_a_directory_store_persists_across_connects(tmp_path):
    first = connect(tmp_path / "db")
    first.write("posts", THREE_POSTS)
    first.write("notes", notes(["a"], [1]), mode="append")
    first.update_metadata({"name": "kept"})

    again = connect(tmp_path / "db")

    assert again.tables() == ["notes", "posts"]
    assert texts(again) == {"p1": "one", "p2": "two", "p3": "three"}
    assert again.get_metadata() == {"name": "kept"}
    assert again.write("posts", posts(("p1", "u1", "one, edited"))) == 1
    assert connect(str(tmp_path / "db")).count("posts", where="text = 'one, edited'") == 1


def test_connect_creates_the_directory(tmp_path):
    connect(tmp_path / "nested" / "db")

    assert (tmp_path / "nested" / "db").is_dir()


def test_memory_stores_are_independent():
    connect("memory://").write("notes", notes(["a"], [1]), mode="append")

    assert connect("memory://").tables() == []


def test_a_second_connection_sees_later_writes(tmp_path):
    writer = connect(tmp_path / "db")
    reader = connect(tmp_path / "db")
    writer.write("notes", notes(["a"], [1]), mode="append")
    assert reader.count("notes") == 1

    writer.write("notes", notes(["b"], [2]), mode="append")

    assert reader.count("notes") == 2


# -- indexes and search options ----------------------------------------------------------------------------------


def clustered(n_clusters: int = 6, per_cluster: int = 100, dim: int = 16) -> np.ndarray:
    """Points around ``n_clusters`` far-apart centres (a random but fixed layout)."""
    rng = np.random.default_rng(0)
    centres = 10.0 * rng.normal(size=(n_clusters, dim))
    return (np.repeat(centres, per_cluster, axis=0) + rng.normal(size=(n_clusters * per_cluster, dim))).astype(
        np.float32)


@pytest.fixture
def point_store(store) -> tuple[Store, np.ndarray]:
    points = clustered()
    rows = pa.table({"id": np.arange(len(points)), "group": [f"g{index // 100}" for index in range(len(points))],
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(points.ravel()), points.shape[1])})
    store.write("points", rows, mode="append")
    return store, points


def exact_neighbours(points: np.ndarray, query: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    distances = ((points - query) ** 2).sum(axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return order.tolist(), distances[order]


def test_a_pq_index_is_approximate_until_refined(point_store):
    store, points = point_store
    store.create_index("points", index_type="IVF_PQ", num_partitions=6, num_sub_vectors=2)
    query = points[3] + 0.5
    expected, distances = exact_neighbours(points, query, 10)

    coarse = store.search("points", query, k=10, nprobes=6)
    refined = store.search("points", query, k=10, nprobes=6, refine_factor=20)
    brute = store.search("points", query, k=10, exact=True)

    # 2 sub-vectors of 8 dims, 256 codes each: quantised distances are visibly off.
    assert not np.allclose(coarse.column("_distance").to_numpy(), distances, rtol=1e-3)
    assert refined.column("id").to_pylist() == expected
    np.testing.assert_allclose(refined.column("_distance").to_numpy(), distances, rtol=1e-4)
    assert brute.column("id").to_pylist() == expected


def test_nprobes_limits_the_partitions_searched(point_store):
    store, points = point_store
    store.create_index("points", index_type="IVF_FLAT", num_partitions=6)

    one = store.search("points", points[0], k=600, nprobes=1)
    every = store.search("points", points[0], k=600, nprobes=6)

    # Six IVF partitions over six clusters: one partition holds only part of the rows (k-means is not seeded, so
    # which clusters share a partition varies), all six hold all of them.
    assert one.num_rows < 600 and one.column("id")[0].as_py() == 0
    assert every.num_rows == 600


def test_an_hnsw_index_with_ef_finds_stored_vectors_and_filters_apply(point_store):
    store, points = point_store
    store.create_index("points", index_type="IVF_HNSW_SQ", num_partitions=2, m=8, ef_construction=50)

    for row in (0, 250, 599):
        assert store.search("points", points[row], k=1, nprobes=2, ef=40).column("id").to_pylist() == [row]
    found = store.search("points", points[0], k=5, nprobes=2, ef=40, where="\"group\" = 'g5'")
    assert set(found.column("group").to_pylist()) == {"g5"}


def test_a_scalar_index_and_a_cosine_index(point_store):
    store, points = point_store
    store.create_index("points", "id", index_type="BTREE")
    assert store.count("points", where="id < 10") == 10

    store.create_index("points", index_type="IVF_FLAT", metric="cosine", num_partitions=6)
    scaled = store.search("points", 7.0 * points[42], k=1, nprobes=6, metric="cosine")
    assert scaled.column("id").to_pylist() == [42]  # cosine ignores the query's length


def test_create_index_errors_name_the_problem(point_store):
    store, _ = point_store
    with pytest.raises(ConfigurationError, match="unknown index_type 'KD_TREE'"):
        store.create_index("points", index_type="KD_TREE")
    with pytest.raises(ConfigurationError, match="num_sub_vectors"):
        store.create_index("points", index_type="IVF_PQ", sub_vectors=4)
    with pytest.raises(ConfigurationError, match="metric"):
        store.create_index("points", index_type="IVF_PQ", metric="manhattan")
    with pytest.raises(StoreError, match="no table 'absent'"):
        store.create_index("absent")
    with pytest.raises(StoreError, match="cannot build a IVF_PQ index on points.group"):
        store.create_index("points", "group", index_type="IVF_PQ")


def test_search_options_are_checked(point_store):
    store, points = point_store
    for option in ({"nprobes": 0}, {"refine_factor": -1}, {"ef": 2.5}, {"k": 0}):
        with pytest.raises(ConfigurationError, match="positive integer"):
            store.search("points", points[0], **option)
    with pytest.raises(ConfigurationError, match="metric"):
        store.search("points", points[0], metric="hamming")


def test_rows_written_after_the_index_are_still_found(point_store):
    store, points = point_store
    store.create_index("points", index_type="IVF_PQ", num_partitions=6, num_sub_vectors=4)
    far = np.full(points.shape[1], 100.0, np.float32)
    store.write("points", pa.table({"id": [600], "group": ["new"], "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(far), points.shape[1])}), mode="append")

    assert store.search("points", far, k=1, nprobes=1).column("id").to_pylist() == [600]


def test_read_batches_gives_the_rows_of_read_in_bounded_batches(store):
    store.write("posts", posts(*[(f"p{index}", "a", f"text {index}") for index in range(10)]))
    batches = list(store.read_batches("posts", columns=["post_id", "text"], batch_size=4))
    assert max(batch.num_rows for batch in batches) <= 4 and sum(batch.num_rows for batch in batches) == 10
    assert batches[0].schema.names == ["post_id", "text"]
    whole = store.read("posts", columns=["post_id", "text"])
    assert pa.Table.from_batches(batches).sort_by("post_id").equals(whole.sort_by("post_id"))
    assert list(store.read_batches("users")) == []  # an absent canonical table: no batch
    with pytest.raises(StoreError, match="no table"):
        list(store.read_batches("no_such_table"))
