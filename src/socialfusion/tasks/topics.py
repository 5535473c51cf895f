"""Topics of posts: clustering over fused embeddings, c-TF-IDF keywords, NPMI coherence, stored assignments.

``TopicModel`` embeds each post, optionally reduces the embeddings with PCA, clusters them (scikit-learn's HDBSCAN
or KMeans) and describes each topic by the words that set it apart (BERTopic's class-based TF-IDF):

- **What is embedded.** The post text with the ``"text"`` encoder. With ``image_text=True`` the words found in a
  post's images (OCR, ``socialfusion.encoders.image.ocr_text``) and their top ImageNet tags
  (``socialfusion.encoders.image.top_tags``) are *concatenated to the post text* before it is embedded and
  tokenised. Any other modality named in ``encoders`` (``{"image": "image/efficientnet"}``) is *fused as a
  vector*: each modality's vectors are scaled to unit length and concatenated (a post without that modality gets
  zeros there).
- **Words.** ``topic_tokens`` tokenises by language (the posts' ``lang``, Chinese by script when null): English with
  scikit-learn's token pattern and English stop words, hashtags kept as words (``#Travel`` -> ``travel``),
  mentions, links and numbers dropped; Chinese with jieba, dropping ``CHINESE_STOP_WORDS`` and one-character
  words, so keywords are words, not characters.
- **Topics.** Topic ids count from 0 by decreasing size; ``-1`` is an outlier (HDBSCAN only). A fitted model is a
  set of centroids in the fitted space: ``labels_`` are the nearest centroid of each post, an outlier when it lies
  further than the topic's radius, and ``assign`` applies the same rule to new posts, so assigning the fitted
  posts again gives ``labels_`` back.
- **Stored.** ``write_topics`` writes the ``post_topics`` table (post_id, topic_id, distance) and the ``topics``
  table; ``load_topic_model`` rebuilds a model from them that can ``assign`` new posts.

Examples:
    >>> texts = ["The cat purrs on the sofa", "My cat chases the cat toy", "A cat nap in the sun",
    ...          "Stocks fell as markets slid", "Markets rally and stocks rise", "Stocks and bonds: markets calm"]
    >>> model = TopicModel(method="kmeans", n_topics=2, top_words=2, reduce_to=None)
    >>> model = model.fit_texts(texts, embeddings=np.repeat(np.eye(2, dtype=np.float32), 3, axis=0))
    >>> model.labels_.tolist()
    [0, 0, 0, 1, 1, 1]
    >>> model.topics_.column("keywords").to_pylist()
    [['cat', 'chases'], ['markets', 'stocks']]
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialfusion.corpus import Corpus
from socialfusion.encoders._text_models import is_chinese_script
from socialfusion.exceptions import ConfigurationError, DataError, StoreError
from socialfusion.tasks._clustering import stratified_sample

if TYPE_CHECKING:
    from socialfusion.report import ReportSection
    from socialfusion.store import Store

__all__ = [
    "CHINESE_STOP_WORDS",
    "MAX_FIT_POSTS",
    "METHODS",
    "MODEL_METADATA_KEY",
    "POST_TOPICS_TABLE",
    "TOPICS_TABLE",
    "TOPIC_ENCODERS",
    "TopicModel",
    "class_tfidf",
    "load_topic_model",
    "named_post_topics",
    "read_topics",
    "topic_coherence",
    "topic_diversity",
    "topic_names",
    "topic_tokens",
    "topics_section",
    "write_topics",
]

logger = logging.getLogger(__name__)

METHODS = ("hdbscan", "kmeans")
"""Clustering methods of ``TopicModel``."""

TOPIC_ENCODERS: Mapping[str, str] = {"text": "text/multilingual"}
"""Modality -> encoder of ``TopicModel`` by default: one space for Chinese and English posts."""

POST_TOPICS_TABLE = "post_topics"
"""Store table of topic assignments: post_id, topic_id (int32, -1 = outlier), distance (to the topic centroid)."""

TOPICS_TABLE = "topics"
"""Store table of topics: topic_id, size, keywords, label, representative_post_ids, centroid, radius."""

MODEL_METADATA_KEY = "topic_model"
"""Store metadata key holding what ``load_topic_model`` needs besides the topics table (encoders, PCA)."""

CHINESE_STOP_WORDS = frozenset(
    "的 了 在 是 我 你 他 她 它 我们 你们 他们 她们 这 那 这个 那个 这些 那些 和 与 及 或 也 都 就 还 又 很 太 非常 "
    "真 最 更 被 把 让 给 对 从 向 到 为 以 于 而 但 但是 可是 因为 所以 如果 虽然 然后 已经 正在 没有 没 不 不是 "
    "有 一个 一些 一下 一样 什么 怎么 为什么 哪 哪里 谁 吗 呢 吧 啊 呀 哦 哈 哈哈 嗯 么 之 其 上 下 中 里 个 着 过 "
    "得 地 自己 大家 今天 现在 时候 可以 能 会 要 想 说 看 觉得 知道 真的 还是 就是 这样 那样 这么 那么".split()
)
"""Chinese function words and fillers left out of keywords; deliberately small (one-character words go too)."""

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_URLS = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTIONS = re.compile(r"(?<!\w)[@＠]\w+")
_HASH_MARKS = re.compile(r"(?<!\w)[#＃](?=\w)")
_CJK_RUNS = re.compile(f"[{_CJK}]+")
_ENGLISH_WORDS = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_SOCIAL_STOP_WORDS = frozenset({"rt", "amp", "via", "gt", "lt", "im", "dont", "u"})
_REPRESENTATIVES = 3

MAX_FIT_POSTS = 20_000
"""``TopicModel`` fits (PCA, clustering, c-TF-IDF keywords) on at most this many posts: a seeded random sample
stratified by language when there are more (``max_fit_posts``); every post is then assigned to the nearest topic
in batches. Clustering and keyword counting grow faster than the corpus; assigning grows with it. On a store, only
the sample's vectors are read at once: the assignment reads the feature table a stored batch at a time."""

_ASSIGN_BATCH = 8192  # posts assigned at a time: bounds the (batch, topics, dim) distance block
_ROW_BLOCK = 65_536  # rows of the fused post vectors cleaned, scaled or moved up at a time, in place
_STREAM_ROWS = 262_144  # posts whose fused vectors are read at a time when several feature tables make them


def _english_stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _SOCIAL_STOP_WORDS


def _english_words(text: str, stop_words: frozenset[str]) -> list[str]:
    return [word for word in _ENGLISH_WORDS.findall(text)
            if word not in stop_words and not word.isdigit() and not _CJK_RUNS.search(word)]


def _chinese_words(text: str, stop_words: frozenset[str]) -> list[str]:
    from socialfusion.encoders._text_models import _jieba

    words = []
    for word in _jieba().lcut(text):
        word = word.strip()
        if _CJK_RUNS.fullmatch(word):
            if len(word) > 1 and word not in CHINESE_STOP_WORDS:
                words.append(word)
        elif word:
            words.extend(_english_words(word, stop_words))
    return words


def _languages(texts: Sequence[str], language: str | Sequence[str | None] | None) -> list[str | None]:
    """One language code per text: the one given, the ones given, or ``"zh"`` / None guessed by script."""
    if isinstance(language, str):
        return [language] * len(texts)
    codes = [None] * len(texts) if language is None else list(language)
    if len(codes) != len(texts):
        raise ConfigurationError(f"got {len(codes)} languages for {len(texts)} texts; give one per text, or one "
                                 "code for all")
    for index, code in enumerate(codes):
        if code is None and is_chinese_script(texts[index]):
            codes[index] = "zh"
    return codes


def topic_tokens(texts: Sequence[str | None], *, language: str | Sequence[str | None] | None = None) -> list[list[str]]:
    """The words of each text that can describe a topic, tokenised by the text's language.

    Chinese (a code starting with ``zh``): jieba words, without ``CHINESE_STOP_WORDS`` and one-character words;
    Latin words inside are treated as English. Every other language: lower-cased words of scikit-learn's token
    pattern (two or more letters or digits) without scikit-learn's English stop words and a few social-media ones
    (``rt``, ``amp``, ``via``); in both, links and @mentions are dropped, numbers are dropped, and a hashtag
    counts as its word (``#Travel`` -> ``travel``).

    Args:
        texts: the texts; None is an empty text.
        language: one code for all texts, one per text (None entries are guessed), or None to guess: a text with
            Han characters and no kana or hangul is Chinese, any other is tokenised as English (which suits every
            Latin-script language). Only "Chinese or not" matters here, so the script decides
            (``is_chinese_script``, the rule ``detect_language`` also applies first), with no language model.

    Returns:
        One list of words per text.

    Raises:
        ConfigurationError: ``language`` is a sequence of another length than ``texts``.

    Examples:
        >>> topic_tokens(["Loving the #SF sunset with @amy http://t.co/x 2024", "今天的天气非常好，我们去公园散步"])
        [['loving', 'sf', 'sunset'], ['天气', '公园', '散步']]
    """
    texts = [text or "" for text in texts]
    codes = _languages(texts, language)
    stop_words = _english_stop_words()
    tokens = []
    for text, code in zip(texts, codes):
        cleaned = _HASH_MARKS.sub("", _MENTIONS.sub(" ", _URLS.sub(" ", text))).lower()
        if code is not None and code.lower().startswith("zh"):
            tokens.append(_chinese_words(cleaned, stop_words))
        else:
            tokens.append(_english_words(_CJK_RUNS.sub(" ", cleaned), stop_words))
    return tokens


def _count_matrix(tokens: Sequence[Sequence[str]], min_df: int = 1):
    """Documents x words counts (scipy CSR) and the vocabulary, words seen in at least ``min_df`` documents."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=lambda words: words, min_df=min_df)
    try:
        counts = vectorizer.fit_transform(tokens)
    except ValueError:  # no word at all, or none left by min_df
        return None, np.array([], dtype=object)
    return counts.tocsr(), vectorizer.get_feature_names_out()


def class_tfidf(counts: Any) -> np.ndarray:
    """BERTopic's class-based TF-IDF of a classes x words count matrix.

    ``W[c, t] = tf[c, t] * log(1 + A / f[t])``: ``tf`` is the frequency of word ``t`` in class ``c`` divided by
    the number of words of the class (L1 normalisation), ``f[t]`` the frequency of ``t`` over all classes and ``A``
    the average number of words per class, rounded down (BERTopic's ``ClassTfidfTransformer`` defaults).

    Args:
        counts: ``(n_classes, n_words)`` word counts of each class (the documents of a class concatenated);
            dense or scipy sparse.

    Returns:
        ``(n_classes, n_words)`` float64 weights.

    Examples:
        >>> class_tfidf(np.array([[2, 0, 1], [0, 3, 1]])).round(3).tolist()
        [[0.611, 0.0, 0.305], [0.0, 0.52, 0.229]]
    """
    counts = counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts)
    counts = counts.astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    frequency = counts.sum(axis=0)
    average_words = int(totals.mean())
    idf = np.log(1.0 + average_words / np.maximum(frequency, 1e-12))
    return counts / np.maximum(totals, 1e-12) * idf


def topic_coherence(topics_keywords: Sequence[Sequence[str]], texts: Sequence[str | None], *, top_k: int = 10,
                    language: str | Sequence[str | None] | None = None,
                    tokens: Sequence[Sequence[str]] | None = None) -> float:
    """Mean NPMI coherence of topics, with word probabilities from document co-occurrence in ``texts``.

    The usual definition (Bouma 2009; C_NPMI of Röder et al. 2015 with whole documents as windows): for two words
    of a topic's top ``top_k``, ``P(w)`` is the share of documents containing ``w`` and ``P(w1, w2)`` that
    containing both; ``NPMI = log(P(w1, w2) / (P(w1) P(w2))) / -log P(w1, w2)``, in ``[-1, 1]``: -1 when the two
    words never meet (no smoothing), 1 when they always do. A topic scores the mean over its pairs, the model the
    mean over topics with at least two words. Texts are tokenised with ``topic_tokens``.

    Args:
        topics_keywords: each topic's keywords, best first.
        texts: the reference documents (usually the posts that were modelled).
        top_k: how many keywords of each topic to score.
        language: as for ``topic_tokens``.
        tokens: the documents already tokenised (skips tokenising ``texts``; their lengths must match).

    Returns:
        The mean NPMI.

    Raises:
        DataError: no texts, or no topic with two keywords.
        ConfigurationError: ``top_k`` below 2.

    Examples:
        >>> docs = ["apple banana", "apple banana", "cherry", "cherry apple"]
        >>> round(topic_coherence([["apple", "banana"]], docs), 4)  # log(0.5/(0.75*0.5)) / -log(0.5)
        0.415
    """
    if top_k < 2:
        raise ConfigurationError(f"top_k must be at least 2 (NPMI scores word pairs), got {top_k}")
    if tokens is None:
        tokens = topic_tokens(list(texts), language=language)
    if not len(tokens):
        raise DataError("topic_coherence needs at least one reference text")
    n_documents = len(tokens)
    documents_of: dict[str, set[int]] = {}
    wanted = {word for keywords in topics_keywords for word in list(keywords)[:top_k]}
    for index, words in enumerate(tokens):
        for word in set(words) & wanted:
            documents_of.setdefault(word, set()).add(index)
    scores = []
    for keywords in topics_keywords:
        words = list(keywords)[:top_k]
        if len(words) < 2:
            continue
        pairs = []
        for first in range(len(words)):
            for second in range(first + 1, len(words)):
                pairs.append(_npmi(documents_of.get(words[first], set()), documents_of.get(words[second], set()),
                                   n_documents))
        scores.append(float(np.mean(pairs)))
    if not scores:
        raise DataError("topic_coherence needs at least one topic with two keywords")
    return float(np.mean(scores))


def _npmi(first: set[int], second: set[int], n_documents: int) -> float:
    both = len(first & second)
    if both == 0:
        return -1.0
    joint = both / n_documents
    if joint == 1.0:
        return 1.0
    return math.log(joint / (len(first) / n_documents * len(second) / n_documents)) / -math.log(joint)


def topic_diversity(topics_keywords: Sequence[Sequence[str]], *, top_k: int = 10) -> float:
    """Share of unique words among the top ``top_k`` keywords of all topics (Dieng et al. 2020), in ``[0, 1]``.

    Args:
        topics_keywords: each topic's keywords, best first.
        top_k: how many keywords of each topic count.

    Returns:
        Unique words / all words counted; 1 means no two topics share a top word.

    Raises:
        DataError: no keyword at all.

    Examples:
        >>> topic_diversity([["cat", "dog"], ["cat", "fish"]])
        0.75
    """
    words = [word for keywords in topics_keywords for word in list(keywords)[:top_k]]
    if not words:
        raise DataError("topic_diversity needs at least one topic with keywords")
    return len(set(words)) / len(words)


# -- the model ----------------------------------------------------------------------------------------------------


def _check_encoders(encoders: Mapping[str, str]) -> dict[str, str]:
    from socialfusion.encoders import encoder_info

    encoders = dict(encoders)
    if "text" not in encoders:
        raise ConfigurationError(f"TopicModel needs a 'text' encoder (e.g. {dict(TOPIC_ENCODERS)}); got "
                                 f"{sorted(encoders)}")
    for modality, name in encoders.items():
        info = encoder_info(name)  # unknown names raise ConfigurationError
        if modality == "text" and info["modality"] != "text":
            raise ConfigurationError(f"the 'text' encoder must be a text encoder; {name!r} is {info['modality']}")
    return encoders


def _embed_texts(encoder_name: str, texts: Sequence[str]) -> np.ndarray:
    """Encode texts directly (no store): fitted encoders such as text/tfidf are fitted on ``texts`` first."""
    from socialfusion.encoders import get_encoder

    encoder = get_encoder(encoder_name)
    if hasattr(encoder, "fit"):
        encoder.fit([text for text in texts if text and text.strip()])
    return np.asarray(encoder.encode(list(texts)).vectors, np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class TopicModel:
    """Topics of posts: clusters of fused embeddings, described by c-TF-IDF keywords (see the module docstring).

    Args:
        encoders: modality -> registered encoder; ``"text"`` is required and embeds the post text (and, with
            ``image_text``, the text and tags of its images); other modalities are fused as unit vectors.
        method: ``"hdbscan"`` (finds the number of topics; posts far from every topic are outliers, -1) or
            ``"kmeans"`` (exactly ``n_topics`` topics, no outliers).
        n_topics: number of topics for KMeans (required there); for HDBSCAN, None or an upper bound: the smallest
            topics beyond it are merged into their nearest larger topic.
        min_topic_size: HDBSCAN's ``min_cluster_size`` (and ``min_samples``) : smaller groups are outliers.
        top_words: keywords per topic.
        reduce_to: PCA dimensions before clustering (None: cluster the fused vectors as they are).
        outlier_quantile: HDBSCAN models: a topic's radius is this quantile of its HDBSCAN members' distances to
            its centroid (1: the farthest member); a post further than the radius from its nearest topic is an
            outlier. Below 1, that share of each topic's members becomes outliers too.
        image_text: append the OCR text and top ImageNet tags of a post's images to its text (slow: runs OCR and
            EfficientNet over every image); ``fit`` on a corpus or store only.
        random_state: seed of PCA, KMeans and the fitting sample.
        max_fit_posts: fit the space, the clusters and the keywords on at most this many posts, a seeded sample
            stratified by language (``MAX_FIT_POSTS``); every post is still assigned (``labels_``). None fits on
            every post.

    Attributes:
        encoders_: the encoders used.
        post_ids_: ``(n,)`` ids of the fitted posts (those with text or a fused modality).
        fit_rows_: ``(m,)`` positions in ``post_ids_`` of the posts the space, clusters and keywords were fitted
            on: all ``n`` unless more than ``max_fit_posts``.
        labels_: ``(n,)`` int topic of each fitted post, -1 for an outlier.
        distances_: ``(n,)`` distance of each fitted post to its nearest topic centroid in the fitted space.
        centroids_: ``(n_topics, dim)`` topic centroids in the fitted space.
        radii_: ``(n_topics,)`` outlier thresholds (``inf`` for KMeans).
        topics_: Arrow table: topic_id int32, size int64, keywords list<string>, keyword_weights list<float32>
            (each keyword's c-TF-IDF weight), label string, representative_post_ids list<string> (nearest to the
            centroid first).
        pca_mean_, pca_components_: the PCA of the fitted space, None without reduction.

    Raises:
        ConfigurationError: (on fit) an unknown method or encoder, or an out-of-range number.

    Examples:
        >>> TopicModel(method="kmeans", n_topics=5)
        TopicModel(encoders={'text': 'text/multilingual'}, method='kmeans', n_topics=5, min_topic_size=10, ...)
    """

    def __init__(self, encoders: Mapping[str, str] | None = None, method: str = "hdbscan", n_topics: int | None = None,
                 min_topic_size: int = 10, top_words: int = 10, reduce_to: int | None = 10,
                 outlier_quantile: float = 1.0, image_text: bool = False, random_state: int = 0,
                 max_fit_posts: int | None = MAX_FIT_POSTS):
        self.encoders = encoders
        self.method = method
        self.n_topics = n_topics
        self.min_topic_size = min_topic_size
        self.top_words = top_words
        self.reduce_to = reduce_to
        self.outlier_quantile = outlier_quantile
        self.image_text = image_text
        self.random_state = random_state
        self.max_fit_posts = max_fit_posts

    def __repr__(self) -> str:
        return (f"TopicModel(encoders={dict(self.encoders or TOPIC_ENCODERS)}, method={self.method!r}, "
                f"n_topics={self.n_topics}, min_topic_size={self.min_topic_size}, ...)")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn convention)."""
        return {name: getattr(self, name) for name in ("encoders", "method", "n_topics", "min_topic_size",
                                                       "top_words", "reduce_to", "outlier_quantile", "image_text",
                                                       "random_state", "max_fit_posts")}

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ConfigurationError(f"unknown topic method {self.method!r}; expected one of {METHODS}")
        if self.method == "kmeans" and (self.n_topics is None or self.n_topics < 1):
            raise ConfigurationError(f"method='kmeans' needs n_topics >= 1, got {self.n_topics}")
        if self.n_topics is not None and self.n_topics < 1:
            raise ConfigurationError(f"n_topics must be at least 1 or None, got {self.n_topics}")
        for name in ("min_topic_size", "top_words"):
            if getattr(self, name) < (2 if name == "min_topic_size" else 1):
                raise ConfigurationError(f"{name} must be at least {2 if name == 'min_topic_size' else 1}, "
                                         f"got {getattr(self, name)}")
        if self.reduce_to is not None and self.reduce_to < 1:
            raise ConfigurationError(f"reduce_to must be at least 1 or None, got {self.reduce_to}")
        if self.max_fit_posts is not None and self.max_fit_posts < 2:
            raise ConfigurationError(f"max_fit_posts must be at least 2 or None, got {self.max_fit_posts}")
        if not 0.0 < self.outlier_quantile <= 1.0:
            raise ConfigurationError(f"outlier_quantile must be in (0, 1], got {self.outlier_quantile}")

    # -- fitting ---------------------------------------------------------------------------------------------

    def fit(self, data: Corpus | Store, y: None = None) -> TopicModel:
        """Fit on the posts of a corpus or a store that have text (or another fused modality).

        A store's features come through its feature cache (``socialfusion.featurize``; encoded once per content);
        a corpus in memory is encoded directly. Posts' ``lang`` choose the tokeniser (guessed by script where null).

        Args:
            data: a ``Corpus`` or a ``Store``.
            y: ignored (scikit-learn convention).

        Returns:
            self.

        Raises:
            DataError: fewer posts with content than topics asked for, or than two.
            ConfigurationError: a bad argument.
        """
        self._check_params()
        encoders = _check_encoders(self.encoders or TOPIC_ENCODERS)
        ids, texts, languages, vectors = _post_inputs(data, encoders, self.image_text)
        return self._fit(texts, vectors, ids, languages, encoders)

    def fit_texts(self, texts: Sequence[str | None], embeddings: np.ndarray | None = None,
                  post_ids: Sequence[str] | None = None, *,
                  language: str | Sequence[str | None] | None = None) -> TopicModel:
        """Fit on texts, embedded with the ``"text"`` encoder unless ``embeddings`` are given.

        Args:
            texts: ``n`` texts.
            embeddings: ``(n, dim)`` vectors to cluster instead of encoding the texts.
            post_ids: ``n`` ids for ``post_ids_`` and the representative posts (default ``"0"``, ``"1"``, ...).
            language: as for ``topic_tokens``.

        Returns:
            self.

        Raises:
            DataError: lengths differ, or too few texts.
            ConfigurationError: a bad argument.
        """
        self._check_params()
        texts = ["" if text is None else str(text) for text in texts]
        ids = [str(index) for index in range(len(texts))] if post_ids is None else [str(i) for i in post_ids]
        if len(ids) != len(texts):
            raise DataError(f"got {len(ids)} post ids for {len(texts)} texts")
        if embeddings is None:
            encoders = _check_encoders({"text": (self.encoders or TOPIC_ENCODERS).get("text", "")})
            vectors = _embed_texts(encoders["text"], texts)
        else:
            encoders = dict(self.encoders or {})
            vectors = np.asarray(embeddings, np.float32)
            if vectors.ndim != 2 or len(vectors) != len(texts):
                raise DataError(f"embeddings must be (n_texts, dim) = ({len(texts)}, dim); got shape {vectors.shape}")
        return self._fit(texts, vectors, ids, _languages(texts, language), encoders)

    def _fit(self, texts: list[str], vectors: np.ndarray | _StoredVectors, ids: list[str], languages: list[str | None],
             encoders: dict[str, str]) -> TopicModel:
        smallest = max(2, self.n_topics or 2) if self.method == "kmeans" else self.min_topic_size
        if len(texts) < smallest:
            raise DataError(f"topic modelling needs at least {smallest} posts with content (n_topics for KMeans, "
                            f"min_topic_size for HDBSCAN), got {len(texts)}")
        if self.max_fit_posts is not None and smallest > self.max_fit_posts:
            raise ConfigurationError(f"max_fit_posts ({self.max_fit_posts}) is below the {smallest} posts the "
                                     "clustering needs; raise it")
        rows = stratified_sample(languages, len(texts) if self.max_fit_posts is None else self.max_fit_posts,
                                 self.random_state)
        sampled = len(rows) < len(texts)
        if isinstance(vectors, _StoredVectors):
            fitted = vectors.rows(rows)
        else:
            fitted = vectors[rows] if sampled else vectors
        space, pca_mean, pca_components = self._reduce(_unit(fitted))
        del fitted
        clusters = self._cluster(space)
        centroids, order = _centroids(space, clusters)
        if not len(centroids):
            raise DataError(f"no topic found among {len(texts)} posts: every post is an outlier; lower "
                            f"min_topic_size (now {self.min_topic_size}) or use method='kmeans'")
        radii = np.full(len(centroids), np.inf)
        if self.method == "hdbscan":
            for topic, cluster in enumerate(order):
                members = space[clusters == cluster]
                radii[topic] = np.quantile(np.linalg.norm(members - centroids[topic], axis=1), self.outlier_quantile)
        self.encoders_ = encoders
        self.pca_mean_, self.pca_components_ = pca_mean, pca_components
        self.centroids_, self.radii_ = centroids, radii
        self.post_ids_ = np.asarray(ids, dtype=object)
        self.fit_rows_ = rows
        # every post to its nearest topic, in batches; the fitted sample's space is computed the same way
        self.labels_, self.distances_ = self._assign_vectors(vectors) if sampled else self._nearest(space)
        tokens = topic_tokens([texts[row] for row in rows] if sampled else texts,
                              language=[languages[row] for row in rows] if sampled else languages)
        self.topics_ = self._describe(tokens, self.labels_[rows])
        logger.info("%d topics over %d posts (%d outliers; fitted on %d)", len(centroids), len(texts),
                    int((self.labels_ < 0).sum()), len(rows))
        return self

    def _reduce(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        if self.reduce_to is None or self.reduce_to >= min(vectors.shape):
            return vectors, None, None
        from sklearn.decomposition import PCA

        pca = PCA(self.reduce_to, random_state=self.random_state).fit(vectors)
        mean, components = pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
        return (vectors - mean) @ components.T, mean, components

    def _cluster(self, space: np.ndarray) -> np.ndarray:
        if self.method == "kmeans":
            from sklearn.cluster import KMeans

            return KMeans(self.n_topics, n_init=10, random_state=self.random_state).fit_predict(space)
        from sklearn.cluster import HDBSCAN

        clusters = HDBSCAN(min_cluster_size=self.min_topic_size, min_samples=self.min_topic_size,
                           copy=True).fit_predict(space)
        return _merge_smallest(space, clusters, self.n_topics)

    def _space(self, vectors: np.ndarray) -> np.ndarray:
        vectors = _unit(vectors)
        if self.pca_components_ is None:
            return vectors
        return (vectors - self.pca_mean_) @ self.pca_components_.T

    def _assign_vectors(self, vectors: np.ndarray | _StoredVectors) -> tuple[np.ndarray, np.ndarray]:
        """Labels and distances of fused vectors, ``_ASSIGN_BATCH`` rows at a time (bounded memory); a store's
        vectors are read a block at a time (``_StoredVectors.blocks``)."""
        labels, distances = np.full(len(vectors), -1, np.int32), np.zeros(len(vectors), np.float32)
        blocks = vectors.blocks() if isinstance(vectors, _StoredVectors) else [(np.arange(len(vectors)), vectors)]
        for positions, block in blocks:
            for start in range(0, len(block), _ASSIGN_BATCH):
                rows = positions[start:start + _ASSIGN_BATCH]
                labels[rows], distances[rows] = self._nearest(self._space(block[start:start + _ASSIGN_BATCH]))
        return labels, distances

    def _nearest(self, space: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        squared = ((space[:, None, :].astype(np.float64) - self.centroids_[None, :, :]) ** 2).sum(axis=2)
        nearest = squared.argmin(axis=1)
        distances = np.sqrt(squared[np.arange(len(space)), nearest])
        labels = np.where(distances <= self.radii_[nearest], nearest, -1).astype(np.int32)
        return labels, distances.astype(np.float32)

    def _describe(self, tokens: list[list[str]], token_labels: np.ndarray) -> pa.Table:
        """The topics table: sizes and representatives (of every post), c-TF-IDF keywords and their weights (of
        the tokenised posts, whose topics are ``token_labels``; outliers count as one more class)."""
        n_topics = len(self.centroids_)
        counts, vocabulary = _count_matrix(tokens)
        keywords: list[list[str]] = [[] for _ in range(n_topics)]
        keyword_weights: list[list[float]] = [[] for _ in range(n_topics)]
        if counts is not None:
            import scipy.sparse as sp

            classes = np.where(token_labels < 0, n_topics, token_labels)
            membership = sp.csr_matrix((np.ones(len(classes)), (classes, np.arange(len(classes)))),
                                       shape=(n_topics + 1, len(classes)))
            per_class = membership @ counts
            present = np.asarray(per_class.sum(axis=1)).ravel() > 0
            weights = np.zeros(per_class.shape)
            weights[present] = class_tfidf(per_class[present])
            dense_counts = per_class.toarray()
            for topic in range(n_topics):
                # Highest weight first; ties by count, then alphabetically, so the order is reproducible.
                ranked = np.lexsort((vocabulary, -dense_counts[topic], -weights[topic]))
                chosen = [index for index in ranked[: self.top_words] if dense_counts[topic, index] > 0]
                keywords[topic] = [str(vocabulary[index]) for index in chosen]
                keyword_weights[topic] = [float(weights[topic, index]) for index in chosen]
        sizes = np.bincount(self.labels_[self.labels_ >= 0], minlength=n_topics)
        # by topic, then distance, then position: each topic's first rows are its representatives
        ranked_rows = np.lexsort((self.distances_, self.labels_))
        starts = np.searchsorted(self.labels_[ranked_rows], np.arange(n_topics))
        representatives = [[str(self.post_ids_[index]) for index in ranked_rows[start:start + min(size,
                                                                                                  _REPRESENTATIVES)]]
                           for start, size in zip(starts, sizes)]
        return pa.table({
            "topic_id": pa.array(range(n_topics), pa.int32()),
            "size": pa.array(sizes, pa.int64()),
            "keywords": pa.array(keywords, pa.list_(pa.string())),
            "keyword_weights": pa.array(keyword_weights, pa.list_(pa.float32())),
            "label": pa.array([", ".join(words[:4]) or f"topic {topic}" for topic, words in enumerate(keywords)],
                              pa.string()),
            "representative_post_ids": pa.array(representatives, pa.list_(pa.string())),
        })

    # -- using a fitted model --------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            raise ConfigurationError("this TopicModel is not fitted: call fit(corpus_or_store) or fit_texts(texts) "
                                     "first, or load one with load_topic_model(store)")

    def assign(self, data: Corpus | Store | Sequence[str], embeddings: np.ndarray | None = None) -> pa.Table:
        """Assign posts to the fitted topics: nearest centroid, an outlier (-1) beyond the topic's radius.

        The rule that made ``labels_``, so assigning the fitted posts again gives ``labels_`` back. New posts need
        an encoder that does not learn from the corpus (``text/multilingual``, ``text/minilm-int8``): a fitted one
        such as ``text/tfidf`` is refitted on what it is given, which moves the space.

        Args:
            data: a ``Corpus`` or a ``Store`` (every post with content), or texts.
            embeddings: with texts, their ``(n, dim)`` vectors as in ``fit_texts(embeddings=...)``.

        Returns:
            Arrow table post_id (texts: ``"0"``, ``"1"``, ...), topic_id int32, distance float32.

        Raises:
            ConfigurationError: the model is not fitted.
            DataError: the vectors do not fit the model's space.
        """
        self._check_fitted()
        if isinstance(data, Corpus) or _is_store(data):
            if "text" not in self.encoders_:
                raise ConfigurationError("this model was fitted on given embeddings, so it cannot embed posts: "
                                         "assign texts with embeddings=, or fit on the corpus or store")
            ids, _, _, vectors = _post_inputs(data, self.encoders_, self.image_text)
        else:
            texts = ["" if text is None else str(text) for text in data]
            ids = [str(index) for index in range(len(texts))]
            if embeddings is None:
                if "text" not in self.encoders_:
                    raise ConfigurationError("this model was fitted on given embeddings: pass embeddings= too")
                vectors = _embed_texts(self.encoders_["text"], texts)
            else:
                vectors = np.asarray(embeddings, np.float32)
        expected = self.centroids_.shape[1] if self.pca_components_ is None else self.pca_components_.shape[1]
        if len(vectors.shape) != 2 or vectors.shape[1] != expected or len(vectors) != len(ids):
            raise DataError(f"vectors of shape {vectors.shape} do not fit this model: expected ({len(ids)}, "
                            f"{expected})")
        labels, distances = self._assign_vectors(vectors)
        return pa.table({"post_id": pa.array(ids, pa.string()), "topic_id": pa.array(labels, pa.int32()),
                         "distance": pa.array(distances, pa.float32())})

    def assignments(self) -> pa.Table:
        """The fitted posts' assignments: post_id, topic_id int32, distance float32 (``post_topics`` rows)."""
        self._check_fitted()
        return pa.table({"post_id": pa.array(self.post_ids_.tolist(), pa.string()),
                         "topic_id": pa.array(self.labels_, pa.int32()),
                         "distance": pa.array(self.distances_, pa.float32())})

    def report(self, corpus: Corpus | None = None) -> ReportSection:
        """The report section of the fitted topics (``topics_section``)."""
        self._check_fitted()
        return topics_section(self, corpus)


def _is_store(data: Any) -> bool:
    from socialfusion.store import Store

    return isinstance(data, Store)


def _merge_smallest(space: np.ndarray, clusters: np.ndarray, limit: int | None) -> np.ndarray:
    """Merge the smallest clusters into the nearest remaining one (by centroid) until at most ``limit`` remain."""
    if limit is None:
        return clusters
    clusters = clusters.copy()
    while True:
        names, sizes = np.unique(clusters[clusters >= 0], return_counts=True)
        if len(names) <= limit:
            return clusters
        smallest = names[np.lexsort((names, sizes))[0]]
        others = names[names != smallest]
        centre = space[clusters == smallest].mean(axis=0)
        targets = np.stack([space[clusters == name].mean(axis=0) for name in others])
        clusters[clusters == smallest] = others[np.linalg.norm(targets - centre, axis=1).argmin()]


def _centroids(space: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Cluster means ordered by decreasing size (ties: first member first), and the cluster names in that order."""
    names = [int(name) for name in np.unique(clusters) if name >= 0]
    order = sorted(names, key=lambda name: (-int((clusters == name).sum()), int(np.argmax(clusters == name))))
    centroids = np.array([space[clusters == name].mean(axis=0) for name in order], np.float64)
    return centroids.reshape(len(order), space.shape[1]), order


# -- posts of a corpus or a store ------------------------------------------------------------------------------


def _image_words(posts: pa.Table) -> dict[int, str]:
    """Row -> OCR text and top ImageNet tags of the post's images (for ``image_text=True``)."""
    from socialfusion.encoders.image import ocr_text, top_tags

    rows, items = [], []
    for row, media in enumerate(posts.column("media").to_pylist()):
        for item in media or []:
            if item["kind"] == "image":
                rows.append(row)
                items.append(item)
    if not items:
        return {}
    words: dict[int, list[str]] = {}
    for row, text, tags in zip(rows, ocr_text(items), top_tags(items, k=3)):
        words.setdefault(row, []).extend([text or "", *(tag for tag, _ in tags)])
    return {row: " ".join(part for part in parts if part) for row, parts in words.items()}


def _post_inputs(data: Corpus | Store, encoders: Mapping[str, str], image_text: bool
                 ) -> tuple[list[str], list[str], list[str | None], np.ndarray | _StoredVectors]:
    """Ids, documents, languages and fused vectors of the posts with content (text or another fused modality).

    A store's vectors stay in its feature tables (``_StoredVectors``), read when asked; with ``image_text`` the
    text, with the images' words in it, is encoded here, and every modality is read into one matrix."""
    store = None if isinstance(data, Corpus) else data
    columns = ["post_id", "text", "lang"] + (["media"] if image_text else [])
    posts = data.posts.select(columns) if store is None else store.read("posts", columns=columns)
    texts = pc.fill_null(posts.column("text"), "").to_pylist()
    if image_text:
        for row, words in _image_words(posts).items():
            texts[row] = f"{texts[row]}\n{words}".strip()
    ids = posts.column("post_id").to_pylist()
    present = np.array([bool(text.strip()) for text in texts])
    if store is not None and not image_text:
        from socialfusion.featurize import featurize, stored_missing

        names = [encoders[modality] for modality in sorted(encoders)]
        for name in names:
            featurize(store, [name])
            present |= ~stored_missing(store, name, ids)
        keep = np.flatnonzero(present)
        vectors: np.ndarray | _StoredVectors = _StoredVectors(store, names, [ids[index] for index in keep])
    else:
        keep, vectors = _fused_in_memory(store, encoders, image_text, ids, texts, present)
    if not len(keep):
        raise DataError("no post has text or another modality to model topics from")
    languages = posts.column("lang").to_pylist()
    kept_texts = [texts[index] for index in keep]
    return [ids[index] for index in keep], kept_texts, _languages(kept_texts, [languages[i] for i in keep]), vectors


def _fused_in_memory(store: Store | None, encoders: Mapping[str, str], image_text: bool, ids: list[str],
                     texts: list[str], present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the posts with content and their fused vectors, every modality read or encoded into memory
    (``present``, text so far, is updated in place)."""
    blocks = []
    for modality in sorted(encoders):
        name = encoders[modality]
        if store is not None and not (modality == "text" and image_text):
            from socialfusion.featurize import featurize, load_features

            featurize(store, [name])
            encoded = load_features(store, name, ids)
            vectors, missing = encoded.vectors, encoded.missing
        elif modality == "text":
            vectors = _embed_texts(name, texts)
            missing = ~np.array([bool(text.strip()) for text in texts])
        else:
            raise ConfigurationError(f"fusing {modality!r} features needs a store (their feature cache); fit on "
                                     "the store, or keep only the 'text' encoder")
        blocks.append(_unit_rows(vectors, missing))
        present |= ~np.asarray(missing, bool)
    keep = np.flatnonzero(present)
    if not len(keep):
        return keep, np.zeros((0, 0), np.float32)
    if len(blocks) == 1:
        return keep, _kept_rows(blocks[0], keep)
    return keep, np.concatenate([_kept_rows(block, keep) for block in blocks], axis=1)


def _unit_rows(vectors: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Unit rows, zeros where ``missing``, in place: one (posts, dim) float32 array per modality, no copies."""
    vectors = _unit_in_place(np.asarray(vectors, np.float32))
    vectors[np.asarray(missing, bool)] = 0.0
    return vectors


class _StoredVectors:
    """The fused vectors of a store's posts with content, left in its feature tables and read when asked: a
    sample's rows (``rows``) or every row a block at a time (``blocks``), never the whole (posts, dim) matrix (4 GB
    of USE vectors at a million posts).

    Each modality's vectors are unit rows, zeros where missing, side by side in ``names``' order, as
    ``_fused_in_memory`` makes them."""

    def __init__(self, store: Store, names: list[str], ids: list[str]) -> None:
        from socialfusion.featurize import feature_dim

        self.store, self.names, self.ids = store, names, ids
        self.shape = (len(ids), sum(feature_dim(store, name) for name in names))

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The fused vectors of ``rows`` (positions in ``ids``): one pass over each feature table."""
        from socialfusion.featurize import load_features

        asked = [self.ids[row] for row in rows]
        blocks = []
        for name in self.names:
            encoded = load_features(self.store, name, asked)
            blocks.append(_unit_rows(encoded.vectors, encoded.missing))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(positions, fused vectors)`` covering every row once. One modality: one pass over its feature table
        in store order, a stored batch at a time; several: ``_STREAM_ROWS`` posts at a time, one pass over each
        table per block (their rows are in no common order)."""
        if len(self.names) > 1:
            for start in range(0, len(self), _STREAM_ROWS):
                positions = np.arange(start, min(start + _STREAM_ROWS, len(self)))
                yield positions, self.rows(positions)
            return
        from socialfusion.featurize import feature_batches

        seen = np.zeros(len(self), bool)
        for rows, targets, batch in feature_batches(self.store, self.names[0], self.ids):
            if not len(rows):
                continue
            vectors = batch.column("vector").flatten().to_numpy(zero_copy_only=False).reshape(batch.num_rows, -1)
            missing = batch.column("missing").to_numpy(zero_copy_only=False)
            seen[targets] = True
            yield targets, _unit_rows(vectors[rows], missing[rows])
        unseen = np.flatnonzero(~seen)  # posts with content but no stored row: zero vectors, as load_features gives
        if len(unseen):
            yield unseen, np.zeros((len(unseen), self.shape[1]), np.float32)


def _unit_in_place(vectors: np.ndarray, block: int = _ROW_BLOCK) -> np.ndarray:
    """``vectors`` with NaN and infinities made finite and every row scaled to unit length, in place, a block of
    rows at a time: ``np.nan_to_num`` and ``np.linalg.norm`` over the whole matrix would each make (posts, dim)
    temporaries (gigabytes at a million posts)."""
    for start in range(0, len(vectors), block):
        part = np.nan_to_num(vectors[start : start + block], copy=False)
        part /= np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
    return vectors


def _kept_rows(vectors: np.ndarray, keep: np.ndarray, block: int = _ROW_BLOCK) -> np.ndarray:
    """``vectors[keep]`` for ascending ``keep``, moved up in place a block of rows at a time: no second matrix (4 GB
    of USE vectors at a million posts). ``vectors`` is overwritten; the result is a view of its first rows."""
    if len(keep) == len(vectors):
        return vectors
    for start in range(0, len(keep), block):
        rows = keep[start : start + block]  # rows >= their targets, and targets below ``start`` are done
        vectors[start : start + len(rows)] = vectors[rows]
    return vectors[: len(keep)]


# -- store tables -------------------------------------------------------------------------------------------------


def _float_list(values: np.ndarray) -> list[float]:
    return [float(value) for value in np.asarray(values).ravel()]


def write_topics(store: Store, model: TopicModel, assignments: pa.Table | None = None) -> int:
    """Write a fitted model's topics (replacing the ``topics`` table) and its post assignments (upserted).

    The ``topics`` table gets the model's ``topics_`` plus each topic's ``centroid`` and ``radius``; the store's
    metadata (``"topic_model"``) gets the encoders, method and PCA, so that ``load_topic_model`` can ``assign``
    new posts later.

    Args:
        store: the store.
        model: a fitted ``TopicModel``.
        assignments: rows for ``post_topics`` (post_id, topic_id, distance); default: the fitted posts'.

    Returns:
        The number of ``post_topics`` rows written.

    Raises:
        ConfigurationError: the model is not fitted.

    Examples:
        >>> from socialfusion.store import connect
        >>> store = connect("memory://")
        >>> model = TopicModel(method="kmeans", n_topics=2, reduce_to=None).fit_texts(
        ...     ["cats purr", "cats nap", "stocks fall", "stocks rise"], embeddings=np.eye(2)[[0, 0, 1, 1]])
        >>> write_topics(store, model)
        4
        >>> assigned, topics = read_topics(store)
        >>> assigned.sort_by("post_id").column("topic_id").to_pylist(), topics.column("keywords").to_pylist()
        ([0, 0, 1, 1], [['cats', 'nap', 'purr'], ['stocks', 'fall', 'rise']])
    """
    model._check_fitted()
    topics = model.topics_.append_column(
        "centroid", pa.array([_float_list(row) for row in model.centroids_], pa.list_(pa.float32()))
    ).append_column("radius", pa.array([None if math.isinf(r) else float(r) for r in model.radii_], pa.float64()))
    state = {"params": {**model.get_params(), "encoders": model.encoders_}, "pca_mean": None, "pca_components": None,
             "fitted_on": _fitted_on(model)}
    if model.pca_components_ is not None:
        state["pca_mean"] = _float_list(model.pca_mean_)
        state["pca_components"] = [_float_list(row) for row in model.pca_components_]
    rows = model.assignments() if assignments is None else assignments
    rows = rows.select(["post_id", "topic_id", "distance"]).cast(
        pa.schema([("post_id", pa.string()), ("topic_id", pa.int32()), ("distance", pa.float32())]))
    with store.writer_lock():  # the topics, the model state and the assignments change together
        store.write(TOPICS_TABLE, topics, mode="overwrite")
        store.update_metadata({MODEL_METADATA_KEY: state})
        if POST_TOPICS_TABLE in store.tables() and assignments is not None:
            store.write(POST_TOPICS_TABLE, rows, mode="upsert", key="post_id")
        else:
            store.write(POST_TOPICS_TABLE, rows, mode="overwrite")
    return rows.num_rows


def _fitted_on(model: TopicModel) -> dict[str, int] | None:
    """``{"sample": posts fitted on, "posts": posts assigned}`` of a freshly fitted model; None for a loaded one."""
    if not hasattr(model, "fit_rows_"):
        return None
    return {"sample": len(model.fit_rows_), "posts": len(model.post_ids_)}


def _sample_note(fitted_on: Mapping[str, int] | None) -> str | None:
    """What the topics card says of the fitting sample; None when the model was fitted on every post."""
    if not fitted_on or fitted_on.get("sample", 0) >= fitted_on.get("posts", 0):
        return None
    return (f"The topics (space, clusters and keywords) were fitted on a seeded sample of {fitted_on['sample']:,} "
            f"of {fitted_on['posts']:,} posts, stratified by language; every post was then assigned to its nearest "
            "topic.")


def read_topics(store: Store) -> tuple[pa.Table, pa.Table]:
    """The store's ``post_topics`` and ``topics`` tables.

    Raises:
        StoreError: no topics were written to this store yet (the message says how to make some).
    """
    if TOPICS_TABLE not in store.tables() or POST_TOPICS_TABLE not in store.tables():
        raise StoreError(f"no topics in {store.uri!r}; make some with: socialfusion topics fit --store {store.uri}")
    return store.read(POST_TOPICS_TABLE), store.read(TOPICS_TABLE).sort_by("topic_id")


def named_post_topics(post_topics: pa.Table, topics: pa.Table) -> pa.Table:
    """Each assigned post with its topic's label: ``post_id, topic`` (outliers, topic -1, left out).

    Args:
        post_topics: ``post_id, topic_id`` rows (``read_topics``' first table).
        topics: ``topic_id, label`` rows (its second).

    Examples:
        >>> assigned = pa.table({"post_id": ["p1", "p2", "p3"], "topic_id": [0, -1, 1]})
        >>> labels = pa.table({"topic_id": [0, 1], "label": ["music, live", "food, recipe"]})
        >>> named_post_topics(assigned, labels).to_pylist()
        [{'post_id': 'p1', 'topic': 'music, live'}, {'post_id': 'p3', 'topic': 'food, recipe'}]
    """
    label = topic_names(topics)
    rows = [(post_id, label[str(topic)]) for post_id, topic in zip(post_topics.column("post_id").to_pylist(),
                                                                   post_topics.column("topic_id").to_pylist())
            if topic is not None and str(topic) in label]
    return pa.table({"post_id": pa.array([row[0] for row in rows], pa.string()),
                     "topic": pa.array([row[1] for row in rows], pa.string())})


def topic_names(topics: pa.Table) -> dict[str, str]:
    """How every card names a topic: by its label (its top keywords), keyed by the id as trend keys spell it.

    Args:
        topics: ``topic_id, label`` rows (the store's ``topics`` table, or ``TopicModel.topics_``).

    Returns:
        ``str(topic_id)`` -> the label; ``"topic {topic_id}"`` without one, and ``"{label} (topic {topic_id})"``
        where two topics share a label.

    Raises:
        DataError: ``topics`` lacks ``topic_id`` or ``label``.

    Examples:
        >>> topic_names(pa.table({"topic_id": [9, 2, 4, 5], "label": ["china, us, italy, trump", None, "a, b",
        ...                                                           "a, b"]}))
        {'9': 'china, us, italy, trump', '2': 'topic 2', '4': 'a, b (topic 4)', '5': 'a, b (topic 5)'}
    """
    missing = {"topic_id", "label"} - set(topics.column_names)
    if missing:
        raise DataError(f"topics need the columns topic_id and label to be named; missing {sorted(missing)}")
    rows = [(topic, label) for topic, label in zip(topics.column("topic_id").to_pylist(),
                                                   topics.column("label").to_pylist()) if topic is not None]
    shared = Counter(label for _, label in rows if label)
    return {str(topic): (f"topic {topic}" if not label else label if shared[label] == 1
                         else f"{label} (topic {topic})") for topic, label in rows}


def load_topic_model(store: Store) -> TopicModel:
    """The topic model last written to a store by ``write_topics``, ready to ``assign`` new posts.

    Its ``topics_`` and centroids come from the ``topics`` table; ``labels_`` are not restored (read them with
    ``read_topics``).

    Raises:
        StoreError: no topic model in the store.
    """
    _, topics = read_topics(store)
    state = store.get_metadata().get(MODEL_METADATA_KEY)
    if not state:
        raise StoreError(f"the topics of {store.uri!r} carry no model; refit with: socialfusion topics fit --store "
                         f"{store.uri}")
    model = TopicModel(**state["params"])
    model.encoders_ = dict(state["params"]["encoders"])
    model.centroids_ = np.array(topics.column("centroid").to_pylist(), np.float64)
    model.radii_ = np.array([np.inf if r is None else r for r in topics.column("radius").to_pylist()], np.float64)
    has_pca = state["pca_components"] is not None
    model.pca_mean_ = np.array(state["pca_mean"], np.float32) if has_pca else None
    model.pca_components_ = np.array(state["pca_components"], np.float32) if has_pca else None
    model.topics_ = topics.drop_columns(["centroid", "radius"])
    return model


# -- report -------------------------------------------------------------------------------------------------------

_MAP_LABELS = 15  # the topic map labels at most this many topics: the largest whose labels have room
_MAP_HEIGHT_PX = 420
_MAP_WIDTH_PX = 640  # the plot width assumed when placing labels: a laptop card is wider, so placed labels stay apart
_MAP_PAD_PX = (70, 40)  # room left around the outermost topic centres, (x, y)
_LABEL_CHARS = 32
_KEYWORD_TOPICS = 12  # keyword bars for this many of the largest topics
_KEYWORD_BARS = 5
_KEYWORD_COLUMNS = 4
_TIMELINE_TOPICS = 10  # topics over time: this many of the largest topics
_HIERARCHY_TOPICS = 50  # the dendrogram clusters this many of the largest topics


def _excerpt(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def topics_section(data: TopicModel | tuple[pa.Table, pa.Table], corpus: Corpus | Store | None = None
                   ) -> ReportSection:
    """The report section of topics: a topic map, a table of keywords, sizes and a representative post, and
    BERTopic's views: keyword bars, topics over time and the topic hierarchy.

    The map places topic centroids in two dimensions (PCA of the centroids; the first two coordinates when there
    are fewer than three topics), sized by the number of posts; the largest topics are labelled where a label has
    room (no two labels overlap), and every topic names itself on hover. The keyword bars show the c-TF-IDF
    weight of each topic's top words; topics over time count each topic's posts per day (a gap where the corpus
    has no post at all); the hierarchy is an agglomerative (Ward) clustering of the topic centroids drawn as a
    dendrogram: topics that merge early talk about similar things.

    Args:
        data: a fitted ``TopicModel``, or ``(post_topics, topics)`` as ``read_topics`` returns them (the map and
            the hierarchy need the ``centroid`` column that ``write_topics`` stores, the bars ``keyword_weights``).
        corpus: the posts, for the representative texts and the dates of topics over time (a ``Corpus`` or a
            ``Store``); None shows ids only, and no topics over time.

    Returns:
        A ``ReportSection`` with key ``"topics"``; its figures have the div ids ``topics-map``,
        ``topics-keywords``, ``topics-over-time`` and ``topics-hierarchy`` (those that have data).

    Raises:
        ConfigurationError: the model is not fitted.
        DataError: the tables lack columns.

    Examples:
        >>> model = TopicModel(method="kmeans", n_topics=2, reduce_to=None).fit_texts(
        ...     ["cats purr", "cats nap", "stocks fall", "stocks rise"], embeddings=np.eye(2)[[0, 0, 1, 1]])
        >>> section = topics_section(model)
        >>> section.key, section.summary, section.figure_ids()
        ('topics', '2 topics over 4 posts; none are outliers.', ['topics-map', 'topics-keywords'])
    """
    from socialfusion.report import ReportSection, Table, Text

    if isinstance(data, TopicModel):
        data._check_fitted()
        assigned, topics, centroids = data.assignments(), data.topics_, data.centroids_
        fitted_on = _fitted_on(data)
    else:
        metadata = (corpus.metadata if isinstance(corpus, Corpus) else corpus.get_metadata() if corpus is not None
                    else {})
        fitted_on = (metadata.get(MODEL_METADATA_KEY) or {}).get("fitted_on")
        assigned, topics = data
        missing = {"topic_id", "size", "keywords", "representative_post_ids"} - set(topics.column_names)
        if missing or "topic_id" not in assigned.column_names:
            raise DataError(f"topics_section needs the tables of read_topics; missing columns {sorted(missing)}")
        centroids = (np.array(topics.column("centroid").to_pylist(), np.float64)
                     if "centroid" in topics.column_names else None)
    outliers = int(pc.sum(pc.less(assigned.column("topic_id"), 0)).as_py() or 0)
    n_posts = assigned.num_rows
    texts: dict[str, str] = {}
    posts = None
    if corpus is not None:
        posts = (corpus.posts if isinstance(corpus, Corpus)
                 else corpus.read("posts", columns=["post_id", "text", "created_at"]))
        wanted = {post for ids in topics.column("representative_post_ids").to_pylist() for post in ids[:1]}
        texts = {post: text for post, text in zip(posts.column("post_id").to_pylist(),
                                                   posts.column("text").to_pylist()) if post in wanted}
    rows = []
    for row in topics.to_pylist():
        first = (row["representative_post_ids"] or [None])[0]
        rows.append({"topic": row["topic_id"], "posts": row["size"], "keywords": ", ".join(row["keywords"]),
                     "representative post": _excerpt(texts.get(first)) if first in texts else first})
    share = f"{outliers:,} ({outliers / n_posts:.0%}) are outliers" if outliers else "none are outliers"
    summary = f"{topics.num_rows:,} topics over {n_posts:,} posts; {share}."
    blocks: list[Any] = []
    if centroids is not None and len(centroids):
        blocks.append(_topic_map(centroids, topics))
    else:
        blocks.append(Text("No topic centroids to map."))
    blocks.append(Table(rows, caption="Topics by size: c-TF-IDF keywords and the post nearest the topic centre",
                        max_rows=max(len(rows), 1)))
    blocks.append(_keyword_bars(topics))
    if posts is not None:
        blocks.append(_topics_over_time(assigned, topics, posts))
    if centroids is not None and len(centroids) >= 3:
        blocks.append(_topic_hierarchy(centroids, topics))
    note = _sample_note(fitted_on)
    if note:
        blocks.append(Text(note))
    return ReportSection(title="Topics", key="topics", summary=summary, blocks=blocks)


def _short_names(topics: pa.Table, limit: int = _LABEL_CHARS) -> dict[str, str]:
    """Each topic's name (``topic_names``; its first keywords without a label column), cut to ``limit`` characters."""
    if "label" in topics.column_names:
        names = topic_names(topics)
    else:
        names = {str(topic): f"{topic}: {', '.join(words[:3])}" for topic, words in
                 zip(topics.column("topic_id").to_pylist(), topics.column("keywords").to_pylist())}
    return {topic: name if len(name) <= limit else name[: limit - 1].rstrip(", ") + "…"
            for topic, name in names.items()}


def _label_width_px(text: str) -> float:
    """The width of a label at the map's 12 px font: wide (CJK) characters count about twice a Latin one."""
    import unicodedata

    return 6 + sum(13.0 if unicodedata.east_asian_width(char) in "WF" else 7.0 for char in text)


_LABEL_HEIGHT_PX = 16
_LABEL_GAP_PX = 3


def _label_box(position: str, centre: np.ndarray, radius: float, width: float) -> tuple[float, float, float, float]:
    """The ``(x0, y0, x1, y1)`` box (pixels, y up) of a label at a Plotly ``textposition`` around a marker."""
    x, y = float(centre[0]), float(centre[1])
    height, gap = _LABEL_HEIGHT_PX, _LABEL_GAP_PX
    if position == "top center":
        return x - width / 2, y + radius + gap, x + width / 2, y + radius + gap + height
    if position == "bottom center":
        return x - width / 2, y - radius - gap - height, x + width / 2, y - radius - gap
    if position == "middle right":
        return x + radius + gap, y - height / 2, x + radius + gap + width, y + height / 2
    return x - radius - gap - width, y - height / 2, x - radius - gap, y + height / 2  # middle left


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_labels(centres_px: np.ndarray, radii_px: np.ndarray, texts: Sequence[str], *, order: Sequence[int],
                 width: float, height: float, limit: int) -> list[str | None]:
    """Where to put each marker's label so that no two labels overlap, nor a label and another marker.

    Greedy, in ``order`` (the largest topic first): the first of above, below, right and left that stays inside
    the plot and clear of every label placed so far and of every marker; a marker with no such place, or beyond
    the first ``limit`` in ``order``, gets no label (its name shows on hover).

    Args:
        centres_px: ``(n, 2)`` marker centres in pixels (y up) within a ``width`` x ``height`` plot.
        radii_px: ``(n,)`` marker radii in pixels.
        texts: ``n`` labels.
        order: marker indices, most important first.
        width: the plot width in pixels.
        height: the plot height in pixels.
        limit: most labels placed.

    Returns:
        Per marker, a Plotly ``textposition`` or None (no label).

    Examples:
        >>> centres = np.array([[100.0, 100.0], [104.0, 100.0], [300.0, 100.0]])
        >>> _place_labels(centres, np.array([5.0, 5.0, 5.0]), ["cats", "dogs", "stocks"], order=[0, 1, 2],
        ...              width=400, height=200, limit=3)
        ['top center', 'bottom center', 'top center']
    """
    markers = [(x - r, y - r, x + r, y + r) for (x, y), r in zip(np.asarray(centres_px, float).tolist(),
                                                                   np.asarray(radii_px, float).tolist())]
    placed: list[tuple[float, float, float, float]] = []
    positions: list[str | None] = [None] * len(texts)
    for index in list(order)[:limit]:
        if not texts[index]:
            continue
        label_width = _label_width_px(texts[index])
        for position in ("top center", "bottom center", "middle right", "middle left"):
            box = _label_box(position, centres_px[index], float(radii_px[index]), label_width)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            if inside and not any(_overlaps(box, other) for other in placed) and not any(
                    _overlaps(box, marker) for number, marker in enumerate(markers) if number != index):
                placed.append(box)
                positions[index] = position
                break
    return positions


def _topic_map(centroids: np.ndarray, topics: pa.Table):
    import html

    import plotly.graph_objects as go

    from socialfusion.report import Figure
    from socialfusion.report._figures import FONT_FAMILY, topic_colors

    centred = centroids - centroids.mean(axis=0)
    projected = centred[:, :2]  # two topics or fewer: drawn as they are
    if len(centroids) >= 3 and centred.shape[1]:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projected = centred @ vt[:2].T
    xy = np.zeros((len(centroids), 2))
    xy[:, : projected.shape[1]] = projected  # one-dimensional centres (a user's own topic table) lie on a line
    sizes = np.asarray(topics.column("size").to_pylist(), np.float64)
    marker = 12 + 40 * np.sqrt(sizes / max(sizes.max(), 1))
    ids = topics.column("topic_id").to_pylist()
    short = _short_names(topics)
    full = topic_names(topics) if "label" in topics.column_names else short
    labels = [html.escape(short[str(topic)], quote=False) for topic in ids]
    # Data -> pixels of the plot (y up): the axis ranges are chosen so that this mapping holds at the assumed width.
    plot_height = _MAP_HEIGHT_PX - 20  # the layout's top and bottom margins
    spans = np.ptp(xy, axis=0)
    spans[spans == 0] = 1.0
    low = xy.min(axis=0)
    pads = np.array(_MAP_PAD_PX, float)
    extent = np.array([_MAP_WIDTH_PX, plot_height], float) - 2 * pads
    pixels = pads + (xy - low) / spans * extent
    ranges = [[float(low[axis] - pads[axis] * spans[axis] / extent[axis]),
               float(low[axis] + spans[axis] + pads[axis] * spans[axis] / extent[axis])] for axis in (0, 1)]
    order = np.lexsort((ids, -sizes)).tolist()
    positions = _place_labels(pixels, marker / 2, [short[str(topic)] for topic in ids], order=order,
                             width=_MAP_WIDTH_PX, height=plot_height, limit=_MAP_LABELS)
    colours = topic_colors(ids)
    figure = go.Figure(go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers+text",
        text=[label if position else "" for label, position in zip(labels, positions)],
        textposition=[position or "top center" for position in positions],
        marker={"size": marker, "color": [colours[str(topic)] for topic in ids], "opacity": 0.6},
        hovertext=[f"{html.escape(full[str(topic)], quote=False)} ({int(size):,} posts)"
                   for topic, size in zip(ids, sizes)],
        hoverinfo="text"))
    figure.update_layout(template="plotly_white", height=_MAP_HEIGHT_PX, margin={"l": 10, "r": 20, "t": 10, "b": 10},
                         font={"family": FONT_FAMILY, "size": 12}, showlegend=False,
                         xaxis={"visible": False, "range": ranges[0]}, yaxis={"visible": False, "range": ranges[1]})
    labelled = sum(position is not None for position in positions)
    named = ("every topic is labelled" if labelled == len(ids) else
             f"the {labelled} largest topics whose labels have room are labelled; hover a bubble for any topic")
    return Figure(figure, key="map", caption=f"Topic map: topic centres in two dimensions (PCA), sized by posts; "
                                             f"nearby topics talk about similar things; {named}.")


def _keyword_bars(topics: pa.Table):
    """BERTopic's bar chart: the c-TF-IDF weight of the top words of the largest topics, one small chart each."""
    import html

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from socialfusion.report import Figure, Text
    from socialfusion.report._figures import house_layout, topic_colors

    if "keyword_weights" not in topics.column_names:
        return Text("These topics were stored without keyword weights (fitted by an older version); refit them "
                    "(socialfusion topics fit) to see each topic's keywords as bars.")
    ranked = topics.sort_by([("size", "descending"), ("topic_id", "ascending")]).to_pylist()
    shown = [row for row in ranked if row["keywords"] and row["keyword_weights"]][:_KEYWORD_TOPICS]
    if not shown:
        return Text("No topic has keywords, so there are no keyword bars to show.")
    names = _short_names(topics, limit=28)
    columns = min(_KEYWORD_COLUMNS, len(shown))
    rows = math.ceil(len(shown) / columns)
    row_px = 190
    height = 40 + row_px * rows
    figure = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.14,
                           vertical_spacing=min(0.3, 60 / height) if rows > 1 else 0.0,
                           subplot_titles=[html.escape(names[str(row["topic_id"])], quote=False) for row in shown])
    colours = topic_colors([row["topic_id"] for row in shown])
    for number, row in enumerate(shown):
        words = [html.escape(word, quote=False) for word in row["keywords"][:_KEYWORD_BARS]]
        figure.add_trace(go.Bar(x=row["keyword_weights"][:_KEYWORD_BARS], y=words, orientation="h",
                                marker={"color": colours[str(row["topic_id"])]},
                                hovertemplate="%{y}: %{x:.3f}<extra></extra>"),
                         row=number // columns + 1, col=number % columns + 1)
    house_layout(figure, height=height, x_title="", y_title="")
    figure.update_layout(margin={"l": 10, "r": 20, "t": 30, "b": 10})
    figure.update_yaxes(autorange="reversed", type="category", automargin=True, title=None)
    figure.update_xaxes(title=None, rangemode="tozero", nticks=4)
    figure.update_annotations(font={"size": 12})
    more = f" of the {len(shown)} largest" if len(shown) < topics.num_rows else ""
    return Figure(figure, key="keywords", caption=f"Keywords{more} of the topics: the c-TF-IDF weight of each "
                                                  "topic's top words (how much a word sets the topic apart).")


def _topics_over_time(assigned: pa.Table, topics: pa.Table, posts: pa.Table):
    """Posts per day of the largest topics (BERTopic's topics over time), with gaps where no post was collected."""
    from socialfusion.report import Figure, Text
    from socialfusion.report._figures import date_axis, lines_chart, topic_colors
    from socialfusion.tasks.trends import volume_series

    if "created_at" not in posts.column_names or posts.column("created_at").null_count == posts.num_rows:
        return Text("No post has a date, so there are no topics over time to show.")
    keyed = assigned.filter(pc.greater_equal(assigned.column("topic_id"), 0)).select(["post_id", "topic_id"])
    try:
        series = volume_series(posts.select(["post_id", "created_at"]), keyed)
    except DataError as error:
        return Text(f"No topics over time: {error}.")
    if series.num_rows == 0:
        return Text("No dated post belongs to a topic, so there are no topics over time to show.")
    largest = topics.sort_by([("size", "descending"), ("topic_id", "ascending")]).column("topic_id").to_pylist()
    present = set(series.column("key").to_pylist())
    shown = [str(topic) for topic in largest if str(topic) in present][:_TIMELINE_TOPICS]
    counts: dict[str, list] = {key: [] for key in shown}
    periods: list = []
    for key, period, count in zip(*(series.column(name).to_pylist() for name in ("key", "period", "count"))):
        if key == shown[0]:
            periods.append(period)
        if key in counts:
            counts[key].append(count)
    names = _short_names(topics, limit=40)
    colours = topic_colors(shown)
    figure = lines_chart(periods, {names[key]: counts[key] for key in shown}, x_title="day (UTC)", y_title="posts",
                         colors={names[key]: colours[key] for key in shown})
    date_axis(figure, len(periods), 1)
    which = f"the {len(shown)} largest topics" if len(shown) < len(present) else "every topic"
    return Figure(figure, key="over-time", caption=f"Topics over time: posts per day of {which}; a gap is a day "
                                                   "without any post in the corpus (not collected).")


def _topic_hierarchy(centroids: np.ndarray, topics: pa.Table):
    """The topic hierarchy: Ward clustering of the largest topics' centroids, drawn as a dendrogram."""
    import html

    import plotly.graph_objects as go

    from socialfusion.exceptions import attempt_import
    from socialfusion.report import Figure
    from socialfusion.report._figures import house_layout, topic_colors

    hierarchy = attempt_import("scipy.cluster.hierarchy", "analysis")
    ids = topics.column("topic_id").to_pylist()
    sizes = topics.column("size").to_pylist()
    chosen = sorted(np.lexsort((ids, -np.asarray(sizes, np.float64)))[:_HIERARCHY_TOPICS].tolist())
    linkage = hierarchy.linkage(np.asarray(centroids, np.float64)[chosen], method="ward")
    tree = hierarchy.dendrogram(linkage, no_plot=True)
    names = _short_names(topics, limit=40)
    x: list[float | None] = []
    y: list[float | None] = []
    for heights, positions in zip(tree["dcoord"], tree["icoord"]):
        x += [*heights, None]
        y += [*positions, None]
    leaves = [chosen[leaf] for leaf in tree["leaves"]]
    ticks = [5.0 + 10.0 * index for index in range(len(leaves))]
    colours = topic_colors(ids)
    figure = go.Figure([
        go.Scatter(x=x, y=y, mode="lines", line={"color": "#8a93a3", "width": 1.5}, hoverinfo="skip"),
        go.Scatter(x=[0.0] * len(leaves), y=ticks, mode="markers",
                   marker={"size": 9, "color": [colours[str(ids[leaf])] for leaf in leaves]},
                   text=[f"{html.escape(names[str(ids[leaf])], quote=False)} ({sizes[leaf]:,} posts)"
                         for leaf in leaves], hovertemplate="%{text}<extra></extra>"),
    ])
    house_layout(figure, height=max(240, 60 + 22 * len(leaves)), x_title="distance between topic centres (Ward)",
                 y_title="")
    figure.update_yaxes(tickvals=ticks, ticktext=[html.escape(names[str(ids[leaf])], quote=False) for leaf in leaves],
                        range=[0, 10.0 * len(leaves)], showgrid=False, zeroline=False)
    figure.update_xaxes(rangemode="tozero")
    which = f"the {len(chosen)} largest topics" if len(chosen) < len(ids) else "the topics"
    return Figure(figure, key="hierarchy", caption=f"Topic hierarchy: {which} merged step by step (agglomerative "
                                                   "clustering of their centres, Ward linkage); topics joined near the "
                                                   "left are closest.")
