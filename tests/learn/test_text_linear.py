"""Tests for TfidfTextClassifier: word and character n-gram TF-IDF with one linear model."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError, DataError
from socialfusion.learn.text_linear import TfidfTextClassifier

POSITIVE = [
    "love this so much",
    "what a great day",
    "happy and grateful",
    "best show ever",
    "sooo good",
    "我很开心",
    "太好了 谢谢",
]
NEGATIVE = [
    "i hate mondays",
    "worst service ever",
    "so sad and tired",
    "this is awful",
    "baaad day",
    "我很难过",
    "太糟糕了",
]


def corpus(copies: int = 4) -> tuple[list[str], list[str]]:
    texts = (POSITIVE + NEGATIVE) * copies
    return texts, (["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)) * copies


def test_learns_words_characters_and_chinese_and_scores_unseen_spellings():
    texts, labels = corpus()
    model = TfidfTextClassifier(min_df=1, cv=3).fit(texts, labels)
    assert model.classes_.tolist() == ["negative", "positive"]
    # "goooood" and "haaate" are unseen words: only the character n-grams can read them.
    assert model.predict(["goooood day", "i haaate it", "开心", "难过"]).tolist() == [
        "positive",
        "negative",
        "positive",
        "negative",
    ]
    probabilities = model.predict_proba(["love", "hate"])
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0, 1] > 0.5 > probabilities[1, 1]
    assert model.temperature_ > 0 and model.temperature_ != 1.0  # fitted on out-of-fold scores


def test_three_classes_with_logistic_loss_and_word_features_only():
    texts, labels = corpus()
    texts += ["the meeting is at noon", "report attached", "bus 12 at 9am"] * 4
    labels += ["neutral"] * 12
    model = TfidfTextClassifier(char_ngrams=None, min_df=1, loss="log", C=10.0, cv=None).fit(texts, labels)
    assert model.char_vocabulary_ is None and model.coef_.shape == (3, len(model.word_vocabulary_))
    assert model.predict(["meeting at noon", "great day", "awful day"]).tolist() == ["neutral", "positive", "negative"]
    assert model.temperature_ == 1.0


def test_balanced_class_weight_lifts_the_recall_of_a_rare_class():
    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma"])
    texts, labels = [], []
    for index in range(400):
        rare = index % 10 == 0
        chosen = rng.choice(words, 3).tolist() + (["signal"] if rare and rng.random() < 0.6 else [])
        chosen += ["signal"] if not rare and rng.random() < 0.15 else []
        texts.append(" ".join(chosen))
        labels.append("rare" if rare else "common")
    plain = TfidfTextClassifier(char_ngrams=None, min_df=1, class_weight=None, cv=None).fit(texts, labels)
    balanced = TfidfTextClassifier(char_ngrams=None, min_df=1, cv=None).fit(texts, labels)
    rare = np.array(labels) == "rare"
    assert (balanced.predict(texts)[rare] == "rare").mean() > (plain.predict(texts)[rare] == "rare").mean() + 0.2


def test_save_and_load_give_the_same_scores_without_pickle(tmp_path):
    texts, labels = corpus()
    model = TfidfTextClassifier(min_df=1).fit(texts, labels)
    path = model.save(tmp_path / "model.npz")
    loaded = TfidfTextClassifier.load(path)
    new = ["love it", "hate it", "我很开心", ""]
    assert np.allclose(loaded.decision_function(new), model.decision_function(new), atol=1e-5)
    assert np.allclose(loaded.predict_proba(new), model.predict_proba(new), atol=1e-5)
    assert loaded.temperature_ == model.temperature_ and loaded.C == model.C
    with zipfile.ZipFile(path) as archive:
        assert not [name for name in archive.namelist() if name.endswith((".pkl", ".pickle"))]


def test_a_tampered_file_is_refused_with_a_clear_error(tmp_path):
    texts, labels = corpus()
    path = TfidfTextClassifier(min_df=1, cv=None).fit(texts, labels).save(tmp_path / "model.npz")
    (tmp_path / "pickle.npz").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(DataError, match="not a saved TfidfTextClassifier"):
        TfidfTextClassifier.load(tmp_path / "pickle.npz")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp_path / "bad.npz", "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name != "model.json":
                target.writestr(name, data)
            else:
                target.writestr(name, data.replace(b'"word_idf_": ', b'"other_": '))
    with pytest.raises(DataError, match="fitted state"):
        TfidfTextClassifier.load(tmp_path / "bad.npz")


def test_bad_input_gives_clear_errors():
    texts, labels = corpus()
    with pytest.raises(DataError, match="position 2"):
        TfidfTextClassifier(min_df=1).fit(texts[:2] + [None] + texts[3:], labels)
    with pytest.raises(DataError, match="2 labels for"):
        TfidfTextClassifier(min_df=1).fit(texts, labels[:2])
    with pytest.raises(DataError, match="missing"):
        TfidfTextClassifier(min_df=1).fit(texts, [None] + labels[1:])
    with pytest.raises(DataError, match="two classes"):
        TfidfTextClassifier(min_df=1).fit(texts, ["positive"] * len(texts))
    with pytest.raises(ConfigurationError, match="no feature"):
        TfidfTextClassifier(word_ngrams=None, char_ngrams=None).fit(texts, labels)
    with pytest.raises(ConfigurationError, match="unknown loss"):
        TfidfTextClassifier(loss="squared").fit(texts, labels)
    with pytest.raises(ConfigurationError, match="not fitted"):
        TfidfTextClassifier().predict(["hello"])
    with pytest.raises(DataError, match="one string"):
        TfidfTextClassifier(min_df=1, cv=None).fit(texts, labels).predict("hello")


def _domain_texts(rng, words_and_labels, n: int) -> tuple[list[str], list[str]]:
    """``n`` texts, each one cue word of ``words_and_labels`` between two random filler words, and its label."""
    fillers = [f"filler{index}" for index in range(40)]
    picks = rng.integers(0, len(words_and_labels), n)
    texts = [f"{rng.choice(fillers)} {words_and_labels[pick][0]} {rng.choice(fillers)}" for pick in picks]
    return texts, [words_and_labels[pick][1] for pick in picks]


def test_a_source_domain_teaches_its_words_while_the_target_keeps_its_own_meanings():
    # A large source where "sick" is negative, a small target where it is slang for great; "awful" and "lovely"
    # are in the source only. Target test texts use all four.
    rng = np.random.default_rng(0)
    source_texts, source_labels = _domain_texts(
        rng, [("sick", "negative"), ("awful", "negative"), ("lovely", "positive"), ("great", "positive")], 600
    )
    target_cues = [("sick", "positive"), ("great", "positive"), ("boring", "negative")]
    target_texts, target_labels = _domain_texts(rng, target_cues, 90)
    test_texts, test_labels = _domain_texts(rng, [*target_cues, ("awful", "negative"), ("lovely", "positive")], 200)
    sick = np.array(["sick" in text for text in test_texts])
    source_only = np.array([("awful" in text) or ("lovely" in text) for text in test_texts])
    test_labels = np.array(test_labels)

    def accuracy(model, rows=slice(None)):
        return float(np.mean(model.predict(test_texts)[rows] == test_labels[rows]))

    settings = {"char_ngrams": None, "min_df": 1, "C": 0.3, "cv": None}

    adapted = TfidfTextClassifier(**settings).fit(
        target_texts, target_labels, source_texts=source_texts, source_labels=source_labels
    )
    target_only = TfidfTextClassifier(**settings).fit(target_texts, target_labels)
    pooled = TfidfTextClassifier(**settings).fit(source_texts + target_texts, source_labels + target_labels)

    assert accuracy(adapted) > 0.9 and accuracy(target_only) < 0.87 and accuracy(pooled) < 0.87
    assert accuracy(adapted, source_only) > 0.9 and accuracy(target_only, source_only) < 0.7  # unseen in the target
    assert accuracy(adapted, sick) > 0.9 and accuracy(pooled, sick) < 0.1  # the source's meaning wins when pooled
    # a model of the target: the usual size (its file too), and the temperature's folds split the target texts
    assert adapted.coef_.shape == (2, len(adapted.word_vocabulary_))
    with_temperature = TfidfTextClassifier(**{**settings, "cv": 3}).fit(
        target_texts, target_labels, source_texts=source_texts, source_labels=source_labels
    )
    assert with_temperature.temperature_ != 1.0
    np.testing.assert_array_equal(with_temperature.predict(test_texts), adapted.predict(test_texts))


def test_a_source_is_checked_like_the_training_texts(tmp_path):
    texts, labels = corpus()
    model = TfidfTextClassifier(min_df=1, cv=None, source_weight=0.5)
    with pytest.raises(DataError, match="together"):
        model.fit(texts, labels, source_texts=texts)
    with pytest.raises(DataError, match="1 source labels are not classes.*'neutral'"):
        model.fit(texts, labels, source_texts=texts[:3], source_labels=["positive", "neutral", "negative"])
    with pytest.raises(DataError, match="source labels are missing"):
        model.fit(texts, labels, source_texts=texts[:2], source_labels=["positive", None])
    with pytest.raises(DataError, match="1 source labels for 2 texts"):
        model.fit(texts, labels, source_texts=texts[:2], source_labels=["positive"])
    with pytest.raises(ConfigurationError, match="source_weight"):
        TfidfTextClassifier(source_weight=0).fit(texts, labels)
    fitted = model.fit(texts, labels, source_texts=texts[:4], source_labels=labels[:4])
    loaded = TfidfTextClassifier.load(fitted.save(tmp_path / "adapted.npz"))
    assert loaded.source_weight == 0.5
    np.testing.assert_array_equal(loaded.decision_function(texts), fitted.decision_function(texts))
