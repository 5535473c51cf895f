"""Featurization: run encoders over a store's posts and users, caching vectors by content hash in the store.

Each encoder writes one table, ``features__<encoder>`` (schema ``socialfusion.schema.feature_schema(dim)``), one
row per item: the vector, whether the modality was missing or undecodable (``missing``) and why (``reason``),
keyed by item id and tagged with the encoder's ``version`` and the item's ``content_hash``. An item whose content
and encoder version are unchanged is never encoded again; changing an encoder's version re-encodes only that
encoder's table.

Which items an encoder sees depends on its modality:

========  ===========================================================================================
text      every post with its text (an empty text is a missing row)
image     every post that has at least one image; several images are encoded and averaged
video     every post with a video (averaged likewise)
audio     every post with audio (averaged likewise)
graph     every user
tabular   every post (``tabular/post-*``) or every user (``tabular/user-*``)
========  ===========================================================================================

A post without an image simply has no row in an image table: the modality is absent, which readers of the
features turn into a mask (``load_features`` reports it as missing with the reason "no image").

``load_features`` reads the asked items' vectors into one matrix; ``feature_batches`` hands a table over a stored
batch at a time (what a reader of every post's vectors uses at a million posts), and ``stored_missing`` reads only
which items have a vector.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.backends import RayOptions, check_engine
from socialfusion.corpus import Corpus, modality_counts
from socialfusion.encoders import Encoded, Encoder, encoder_info, get_encoder
from socialfusion.exceptions import ConfigurationError, DataError, StoreError
from socialfusion.schema import MEDIA_KINDS, feature_schema
from socialfusion.store import Store, StoredKeys

__all__ = [
    "DEFAULT_ENCODERS",
    "EncoderPlan",
    "FeatureItems",
    "FeaturizeSummary",
    "ENCODER_JOIN",
    "check_encoders_have_items",
    "distinct_encoders",
    "encoder_parts",
    "join_encoded",
    "default_encoders",
    "encode_items",
    "encode_plan",
    "feature_table",
    "feature_batches",
    "feature_dim",
    "featurize",
    "fit_encoder",
    "items_for",
    "load_features",
    "modality_items",
    "plan_encoder",
    "stored_missing",
    "write_feature_rows",
]

logger = logging.getLogger(__name__)

# What `socialfusion featurize` runs when no encoders are named: the fast offline models of every modality the
# store has (see `default_encoders`).
DEFAULT_ENCODERS = (
    "text/minilm-int8",
    "text/lexicon",
    "image/efficientnet",
    "video/keyframes",
    "audio/log-mel",
    "graph/spectral",
    "tabular/post-metadata",
)
CHUNK_ITEMS = 2048  # items written at a time: bounds memory whatever the corpus size
PROGRESS_ITEMS = 256  # items encoded between two progress reports (at least 8 batches)


def modality_items(store: Store) -> dict[str, int]:
    """How many items each modality offers an encoder in ``store``: posts with text, with an image, a video or
    audio; users (graph encoders: every user and author) and posts (tabular encoders). Reads two post columns.

    Examples:
        >>> from socialfusion.store import connect
        >>> modality_items(connect("memory://"))
        {'text': 0, 'image': 0, 'video': 0, 'audio': 0, 'graph': 0, 'tabular': 0}
    """
    posts = store.read("posts", columns=["text", "media"])
    counts = modality_counts(posts)
    counts["graph"] = store.count("users") or (1 if posts.num_rows else 0)  # authors, when no users table
    counts["tabular"] = posts.num_rows + store.count("users")
    return counts


def default_encoders(store: Store, candidates: Sequence[str] = DEFAULT_ENCODERS) -> list[str]:
    """The ``candidates`` whose modality ``store`` has items of: a text-only store gets no image, video or audio
    encoder.

    Args:
        store: the store.
        candidates: encoder names, in order.

    Returns:
        The candidates to run, in their order.
    """
    available = modality_items(store)
    return [name for name in candidates if available.get(encoder_info(name)["modality"], 0) > 0]


def check_encoders_have_items(store: Store, encoders: Sequence[str],
                              available: dict[str, int] | None = None) -> None:
    """Refuse, before any work, encoders for a modality the store has nothing of (an image encoder over a
    text-only store): the features they would give are all missing, and what reads them would fail later.

    Args:
        store: the store.
        encoders: registered encoder names.
        available: ``modality_items(store)`` when already known.

    Raises:
        ConfigurationError: an unknown encoder name.
        DataError: names the encoders with nothing to encode, what the store has, and what to run instead.
    """
    available = modality_items(store) if available is None else available
    modalities = {name: encoder_info(name)["modality"] for name in encoders}
    empty = [name for name, modality in modalities.items() if available.get(modality, 0) == 0]
    if not empty:
        return
    have = ", ".join(f"{modality} {count:,}" for modality, count in available.items() if count) or "nothing"
    wanted = sorted({modalities[name] for name in empty})
    usable = [name for name in encoders if name not in empty]
    hint = (f"leave {', '.join(empty)} out (e.g. encoders {', '.join(usable)})" if usable
            else "ingest posts with that content first")
    raise DataError(f"nothing to encode for {', '.join(empty)}: the store {store.uri!r} has no item of modality "
                    f"{' or '.join(wanted)} (it has: {have}); {hint}")


def feature_table(encoder_name: str) -> str:
    """The store table holding an encoder's features: ``text/minilm`` -> ``features__text_minilm``."""
    slug = "".join(char if char.isalnum() else "_" for char in encoder_name)
    return f"features__{slug}"


@dataclass
class EncoderRun:
    """What featurization did with one encoder."""

    encoder: str
    version: str
    items: int = 0
    encoded: int = 0
    cached: int = 0
    missing: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class FeaturizeSummary:
    """What one featurization run did, per encoder."""

    runs: list[EncoderRun] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"encoders": [run.__dict__ for run in self.runs]}


@dataclass(frozen=True)
class FeatureItems:
    """The items of one modality: ids, what the encoder reads, and a content hash per item."""

    kind: str  # "post" or "user"
    ids: list[str]
    inputs: list[Any]  # one input per id, or a list of media items per id for media modalities
    hashes: list[str]


def _digest(value: Any) -> str:
    payload = value if isinstance(value, bytes) else orjson.dumps(value, default=str)
    return hashlib.blake2b(payload, digest_size=12).hexdigest()


def _media_identity(item: dict[str, Any]) -> Any:
    # A media file is identified by its content hash when ingest computed one, else by where it is.
    return item.get("sha256") or item.get("uri") or _digest(item.get("data") or b"")


def items_for(encoder_name: str, modality: str, corpus: Corpus) -> FeatureItems:
    """The items of a corpus an encoder of ``modality`` sees (see the module docstring), with content hashes."""
    posts, users = corpus.posts, corpus.users
    if modality == "text":
        texts = pc.fill_null(posts.column("text"), "").to_pylist()
        hashes = [_digest(text.encode()) for text in texts]
        return FeatureItems("post", posts.column("post_id").to_pylist(), texts, hashes)
    if modality in MEDIA_KINDS:
        ids, inputs, hashes = [], [], []
        for post_id, media in zip(posts.column("post_id").to_pylist(), posts.column("media").to_pylist()):
            of_kind = [item for item in media or [] if item["kind"] == modality]
            if of_kind:
                ids.append(post_id)
                inputs.append(of_kind)
                hashes.append(_digest([_media_identity(item) for item in of_kind]))
        return FeatureItems("post", ids, inputs, hashes)
    if modality == "graph":
        ids = users.column("user_id").to_pylist()
        authors = pc.drop_null(pc.unique(posts.column("author_id"))).to_pylist()
        ids = sorted(set(ids) | set(authors))
        return FeatureItems("user", ids, ids, ids)  # the graph itself is in the encoder's version
    if modality == "tabular":
        table, key, kind = (users, "user_id", "user") if "/user" in encoder_name else (posts, "post_id", "post")
        ids, hashes = table.column(key).to_pylist(), table.column("record_hash").to_pylist()
        return FeatureItems(kind, ids, table.to_pylist(), hashes)
    raise ConfigurationError(f"no featurization rule for modality {modality!r}")


def fit_encoder(encoder: Encoder, modality: str, items: FeatureItems, corpus: Corpus) -> None:
    """Fit encoders that learn from the corpus (vocabularies, graphs, per-user aggregates)."""
    fit = getattr(encoder, "fit", None)
    if fit is None:
        return
    if modality == "text":
        fit([text for text in items.inputs if text and text.strip()])
    else:
        fit(corpus)


def _encode_media_lists(encoder: Encoder, lists: Sequence[list[Any]], batch_size: int) -> Encoded:
    """Encode every media item of each post and average a post's decodable ones."""
    flat = [item for items in lists for item in items]
    encoded = encoder.encode(flat, batch_size=batch_size)
    vectors = np.zeros((len(lists), encoder.dim), np.float32)
    missing = np.ones(len(lists), bool)
    reasons: list[str | None] = []
    start = 0
    for row, items in enumerate(lists):
        stop = start + len(items)
        usable = ~encoded.missing[start:stop]
        if usable.any():
            vectors[row] = encoded.vectors[start:stop][usable].mean(axis=0)
            missing[row] = False
            reasons.append(None)
        else:
            reasons.append("; ".join(sorted({reason or "undecodable" for reason in encoded.reasons[start:stop]})))
        start = stop
    return Encoded(vectors, missing, reasons)


def _encode_reporting(encoder: Encoder, modality: str, inputs: list[Any], batch_size: int,
                      report: Callable[[int], None]) -> Encoded:
    """Encode ``inputs`` a few batches at a time, reporting the items done after each step."""
    step = max(PROGRESS_ITEMS, 8 * batch_size)
    parts = []
    for start in range(0, len(inputs), step):
        part = inputs[start : start + step]
        if modality in MEDIA_KINDS:
            parts.append(_encode_media_lists(encoder, part, batch_size))
        else:
            parts.append(encoder.encode(part, batch_size=batch_size))
        report(start + len(part))
    if len(parts) == 1:
        return parts[0]
    return Encoded(np.concatenate([part.vectors for part in parts]), np.concatenate([part.missing for part in parts]),
                   [reason for part in parts for reason in part.reasons])


def _rows(encoder: Encoder, modality: str, kind: str, ids: list[str], hashes: list[str], encoded: Encoded) -> pa.Table:
    schema = feature_schema(encoder.dim)
    n = len(ids)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(encoded.vectors.reshape(-1), pa.float32()), encoder.dim)
    return pa.table(
        {
            "item_id": ids,
            "item_kind": [kind] * n,
            "encoder": [encoder.name] * n,
            "version": [encoder.version] * n,
            "content_hash": hashes,
            "modality": [modality] * n,
            "vector": vectors,
            "missing": encoded.missing,
            "reason": encoded.reasons,
            "record_key": ids,
        },
        schema=schema,
    )


def encode_items(encoder: Encoder, modality: str, kind: str, ids: list[str], hashes: list[str], inputs: list[Any],
                 batch_size: int, report: Callable[[int], None] | None = None) -> pa.Table:
    """The feature rows (``feature_schema(encoder.dim)``) of ``inputs``, encoded a few batches at a time; an item
    that cannot be decoded is a missing row with its reason. ``report(items_done)`` is called after each step."""
    encoded = _encode_reporting(encoder, modality, inputs, batch_size, report or (lambda done: None))
    return _rows(encoder, modality, kind, ids, hashes, encoded)


@dataclass
class EncoderPlan:
    """What one encoder has to do over a store: its items, the positions of those not cached, where rows go.

    Both engines (in-process and Ray) take it from ``plan_encoder`` and write through ``write_feature_rows``,
    so they encode the same items and store the same rows.
    """

    encoder: Encoder
    modality: str
    items: FeatureItems
    table: str
    stored: StoredKeys
    todo: list[int]
    run: EncoderRun


def plan_encoder(store: Store, corpus: Corpus, name: str, options: dict[str, Any]) -> EncoderPlan:
    """Build (and fit) encoder ``name`` and find the items whose content hash and version are not stored yet."""
    modality = encoder_info(name)["modality"]
    encoder = get_encoder(name, **options.get(name, {}))
    items = items_for(name, modality, corpus)
    fit_encoder(encoder, modality, items, corpus)
    table = feature_table(name)
    # item_id -> (content_hash, encoder version) of every stored row, loaded when rows are written (under the
    # writer lock, in step with other writers); what is cached is found from one snapshot of the table
    stored = StoredKeys(store, table, key="item_id", fingerprint=["content_hash", "version"])
    run = EncoderRun(encoder=name, version=encoder.version, items=len(items.ids))
    todo = _not_stored(store, table, items, encoder.version)
    run.cached = run.items - len(todo)
    return EncoderPlan(encoder, modality, items, table, stored, todo, run)


def _not_stored(store: Store, table: str, items: FeatureItems, version: str) -> list[int]:
    """Positions of the items that no stored row holds with their content hash and this encoder version: an Arrow
    semi-join of the items with one snapshot of the table's keys, not a Python dict of every stored key (a million
    posts' keys as Python objects took about a gigabyte)."""
    if table not in store.tables():
        return list(range(len(items.ids)))
    stored = store.read(table, columns=["item_id", "content_hash", "version"])
    current = stored.filter(pc.equal(stored.column("version"), version)).select(["item_id", "content_hash"])
    asked = pa.table({"item_id": pa.array(items.ids, pa.string()), "content_hash": pa.array(items.hashes, pa.string()),
                      "position": pa.array(np.arange(len(items.ids), dtype=np.int64))})
    cached = asked.join(current, keys=["item_id", "content_hash"], join_type="left semi").column("position")
    uncached = np.ones(len(items.ids), bool)
    uncached[cached.to_numpy()] = False
    return np.flatnonzero(uncached).tolist()


def write_feature_rows(store: Store, plan: EncoderPlan, rows: pa.Table) -> None:
    """Store feature rows (``_rows``) under the writer lock: new items appended, re-encoded ones upserted; count
    them (and their missing reasons) in ``plan.run``. Writing the same rows twice stores them once."""
    ids, hashes = rows.column("item_id").to_pylist(), rows.column("content_hash").to_pylist()
    version = plan.encoder.version
    with store.writer_lock():
        # Items with no row yet are appended; only re-encoded ones (or ones another writer has stored since
        # we looked) need the costlier upsert.
        known = plan.stored.sync()
        replaced = pa.array([item_id in known for item_id in ids], pa.bool_())
        store.write(plan.table, rows.filter(pc.invert(replaced)), mode="append")
        if pc.any(replaced).as_py():
            store.write(plan.table, rows.filter(replaced), mode="upsert", key="record_key")
        known.update((item_id, (content, version)) for item_id, content in zip(ids, hashes))
        plan.stored.committed()
    run = plan.run
    run.encoded += rows.num_rows
    for reason in rows.column("reason").to_pylist():
        if reason is not None:
            run.missing += 1
            run.reasons[reason] = run.reasons.get(reason, 0) + 1


def _run_encoder(store: Store, corpus: Corpus, name: str, batch_size: int,
                 progress: Callable[[str, int, int], None], options: dict[str, Any]) -> EncoderRun:
    started = time.perf_counter()
    run = encode_plan(store, plan_encoder(store, corpus, name, options), batch_size, progress)
    run.seconds = time.perf_counter() - started
    return run


def encode_plan(store: Store, plan: EncoderPlan, batch_size: int,
                progress: Callable[[str, int, int], None]) -> EncoderRun:
    """Encode the items ``plan`` has to do in this process, writing their rows chunk by chunk."""
    encoder, modality, items, todo, run = plan.encoder, plan.modality, plan.items, plan.todo, plan.run
    name = run.encoder
    progress(name, run.cached, run.items)
    for offset in range(0, len(todo), CHUNK_ITEMS):
        chunk = todo[offset : offset + CHUNK_ITEMS]
        inputs = [items.inputs[i] for i in chunk]
        ids, hashes = [items.ids[i] for i in chunk], [items.hashes[i] for i in chunk]
        rows = encode_items(encoder, modality, items.kind, ids, hashes, inputs, batch_size,
                            lambda done: progress(name, run.cached + run.encoded + done, run.items))
        write_feature_rows(store, plan, rows)
        progress(name, run.cached + run.encoded, run.items)
    return run


def featurize(
    store: Store,
    encoders: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    encoder_options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    engine: str = "local",
    ray_options: RayOptions | None = None,
) -> FeaturizeSummary:
    """Encode a store's posts and users with each encoder, skipping what the feature cache already holds.

    Args:
        store: the store (its posts, users, interactions and edges are read; feature tables are written).
        encoders: registered encoder names (see ``socialfusion.encoders.available_encoders``); None: the
            ``DEFAULT_ENCODERS`` of the modalities the store has (``default_encoders``).
        batch_size: items per forward pass.
        encoder_options: per-encoder constructor options, e.g. ``{"text/sentence-transformer": {"model": path}}``.
        progress: called as ``progress(encoder_name, items_done, items_total)``.
        engine: ``"local"`` (in this process) or ``"ray"``: text and media encoders run on a pool of Ray actors
            (``socialfusion.backends``), with the same items, keys and rows as locally.
        ray_options: the cluster and the workers of the Ray engine (``RayOptions``; default: a local Ray runtime).

    Returns:
        Per encoder: items, how many were encoded and how many came from the cache, missing rows and their
        reasons, and the time taken.

    Raises:
        ConfigurationError: an unknown encoder name (before anything is encoded).
        DataError: an encoder of a modality the store has no item of, e.g. an image encoder over a text-only
            store (before anything is encoded; see ``check_encoders_have_items``).
        MissingDependencyError: an encoder's extra is not installed (here or on the Ray workers), or Ray is not.
    """
    check_engine(engine)
    if encoders is None:
        encoders = default_encoders(store)
    modalities = {name: encoder_info(name)["modality"] for name in encoders}  # unknown names fail before any work
    check_encoders_have_items(store, list(encoders))
    run_encoder = _run_encoder
    if engine == "ray":
        from socialfusion.backends.ray_engine import RayFeaturizer

        run_encoder = RayFeaturizer(ray_options or RayOptions()).run_encoder
    summary = FeaturizeSummary()
    for name in encoders:
        corpus = _corpus_for(store, modalities[name])
        summary.runs.append(run_encoder(store, corpus, name, batch_size, progress or (lambda *_: None),
                                        encoder_options or {}))
        del corpus
    return summary


# The post columns each modality reads; graph and tabular encoders fit on the whole corpus.
_POST_COLUMNS = {"text": ["post_id", "text"], **{kind: ["post_id", "media"] for kind in MEDIA_KINDS}}


def _corpus_for(store: Store, modality: str) -> Corpus:
    """The part of the store an encoder of ``modality`` needs: text and media encoders read two post columns."""
    if modality in _POST_COLUMNS:
        return Corpus(posts=store.read("posts", columns=_POST_COLUMNS[modality]))
    return Corpus.from_store(store)


ENCODER_JOIN = "+"
"""Joins encoder names whose features one modality concatenates: ``"text/minilm-int8+text/lexicon"``."""


def encoder_parts(name: str) -> list[str]:
    """The encoders of a possibly joined name, in order.

    Examples:
        >>> encoder_parts("text/minilm-int8+text/lexicon"), encoder_parts("image/hog")
        (['text/minilm-int8', 'text/lexicon'], ['image/hog'])
    """
    return [part.strip() for part in name.split(ENCODER_JOIN)]


def distinct_encoders(names: Iterable[str]) -> list[str]:
    """Every encoder of some possibly joined names, once each, in order of first mention: what to featurize.

    Examples:
        >>> distinct_encoders(["text/minilm-int8+text/lexicon", "text/lexicon", "image/hog"])
        ['text/minilm-int8', 'text/lexicon', 'image/hog']
    """
    return list(dict.fromkeys(part for name in names for part in encoder_parts(name)))


def join_encoded(parts: Sequence[Encoded]) -> Encoded:
    """Features of several encoders side by side: ``(n, sum of dims)``; an item is missing only where every part
    is (a missing part is zeros), and its reason is the first part's.

    Examples:
        >>> a = Encoded(np.ones((2, 2), np.float32), np.array([False, True]), [None, "empty"])
        >>> b = Encoded(np.full((2, 1), 3, np.float32), np.array([False, False]), [None, None])
        >>> joined = join_encoded([a, b])
        >>> joined.vectors.tolist(), joined.missing.tolist()
        ([[1.0, 1.0, 3.0], [1.0, 1.0, 3.0]], [False, False])
    """
    if len(parts) == 1:
        return parts[0]
    missing = np.all(np.stack([np.asarray(part.missing, bool) for part in parts]), axis=0)
    reasons = [reason if gone else None for reason, gone in zip(parts[0].reasons, missing)]
    return Encoded(np.hstack([part.vectors for part in parts]).astype(np.float32), missing, reasons)


def _stored_table(store: Store, encoder: str) -> str:
    """The feature table of ``encoder`` in ``store``.

    Raises:
        StoreError: the encoder has not been run on this store.
    """
    table = feature_table(encoder)
    if table not in store.tables():
        raise StoreError(
            f"no features for {encoder!r} in {store.uri!r}; run: socialfusion featurize --encoders {encoder}"
        )
    return table


def feature_dim(store: Store, encoder: str) -> int:
    """The length of an encoder's stored vectors, from its table's schema (no row is read).

    Raises:
        StoreError: the encoder has not been run on this store.
    """
    table = _stored_table(store, encoder)
    return store.read(table, where="false", columns=["vector"]).schema.field("vector").type.list_size


def feature_batches(
    store: Store, encoder: str, item_ids: Sequence[str], columns: Sequence[str] = ("vector", "missing")
) -> Iterator[tuple[np.ndarray, np.ndarray, pa.RecordBatch]]:
    """One pass over an encoder's stored features in store order, a batch at a time, never the whole table (4 GB
    of vectors at a million posts).

    Args:
        store: the store.
        encoder: a single encoder's name (not a joined one).
        item_ids: the distinct ids asked for.
        columns: the feature columns to read besides ``item_id``.

    Yields:
        For every stored batch, ``(rows, targets, batch)``: the batch's rows whose item is asked for, their
        positions in ``item_ids``, and the batch. An item stored twice is met twice.

    Raises:
        StoreError: the encoder has not been run on this store.
    """
    table = _stored_table(store, encoder)
    position = {item_id: index for index, item_id in enumerate(item_ids)}
    for batch in store.read_batches(table, columns=["item_id", *[c for c in columns if c != "item_id"]]):
        targets = np.fromiter((position.get(item_id, -1) for item_id in batch.column("item_id").to_pylist()),
                              np.int64, count=batch.num_rows)
        rows = np.flatnonzero(targets >= 0)
        yield rows, targets[rows], batch


def stored_missing(store: Store, encoder: str, item_ids: Sequence[str]) -> np.ndarray:
    """Which of ``item_ids`` (distinct) have no stored vector from ``encoder``: no row, or a row marked missing.
    Reads the ids and flags only, not the vectors.

    Raises:
        StoreError: the encoder has not been run on this store.
    """
    missing = np.ones(len(item_ids), bool)
    for rows, targets, batch in feature_batches(store, encoder, item_ids, columns=["missing"]):
        missing[targets] = batch.column("missing").to_numpy(zero_copy_only=False)[rows]
    return missing


def load_features(store: Store, encoder: str, item_ids: Sequence[str] | None = None) -> Encoded:
    """An encoder's stored features, in the order of ``item_ids`` (default: every stored item, in store order).

    Items with no row (e.g. a post without an image for an image encoder) come back missing, with the reason
    "no <modality>" or "not featurized". A joined name (``"text/minilm-int8+text/lexicon"``) gives the parts'
    features side by side (``join_encoded``); it needs ``item_ids``.

    Raises:
        StoreError: the encoder has not been run on this store.
    """
    if ENCODER_JOIN in encoder:
        if item_ids is None:
            raise ConfigurationError(f"loading the joined features {encoder!r} needs item_ids")
        return join_encoded([load_features(store, part, item_ids) for part in encoder_parts(encoder)])
    columns = ["item_id", "vector", "missing", "reason", "modality"]
    if item_ids is None:
        return _stored_rows(store.read(_stored_table(store, encoder), columns=columns))
    # one pass over the table in batches, each row copied to where it is asked for: the whole table (4 GB of
    # vectors at a million posts) is never held beside the result
    asked = pc.dictionary_encode(pa.array(item_ids, pa.string()))
    distinct = asked.dictionary.to_pylist()
    vectors: np.ndarray | None = None
    missing = np.ones(len(distinct), bool)
    reasons: list[str | None] = [None] * len(distinct)
    found = np.zeros(len(distinct), bool)
    modality = None
    for rows, targets, batch in feature_batches(store, encoder, distinct, columns=columns):
        if vectors is None:
            vectors = np.zeros((len(distinct), batch.schema.field("vector").type.list_size), np.float32)
        modality = modality or (batch.column("modality")[0].as_py() if batch.num_rows else None)
        if not len(rows):
            continue
        vectors[targets] = batch.column("vector").flatten().to_numpy(zero_copy_only=False).reshape(
            batch.num_rows, -1)[rows]
        missing[targets] = batch.column("missing").to_numpy(zero_copy_only=False)[rows]
        found[targets] = True
        batch_reasons = batch.column("reason").to_pylist()
        for row, target in zip(rows.tolist(), targets.tolist()):
            reasons[target] = batch_reasons[row]
    absent = f"no {modality}" if modality in MEDIA_KINDS else "not featurized"
    for target in np.flatnonzero(~found).tolist():
        reasons[target] = absent
    if vectors is None:  # an empty table: every item is absent
        vectors = np.zeros((len(distinct), feature_dim(store, encoder)), np.float32)
    if len(distinct) == len(item_ids):  # no id asked twice: the distinct ids are the ids, in their order
        return Encoded(vectors, missing, reasons)
    order = asked.indices.to_numpy(zero_copy_only=False)
    return Encoded(vectors[order], missing[order], [reasons[index] for index in order])


def _stored_rows(rows: pa.Table) -> Encoded:
    """Every stored row's features, in store order, copied chunk by chunk into one float32 matrix."""
    dim = rows.schema.field("vector").type.list_size
    vectors = np.empty((rows.num_rows, dim), np.float32)
    start = 0
    for chunk in rows.column("vector").chunks:
        vectors[start:start + len(chunk)] = chunk.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
        start += len(chunk)
    return Encoded(vectors, rows.column("missing").to_numpy(zero_copy_only=False).astype(bool),
                   rows.column("reason").to_pylist())
