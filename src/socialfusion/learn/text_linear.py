"""Linear text classification over word and character n-gram TF-IDF: the fast, strong baseline for short posts.

``TfidfTextClassifier`` weighs word n-grams (the project's ``tokenize``: lower-cased words, #hashtags, @mentions,
emoji, jieba words for Chinese) and character n-grams within word boundaries (which catch spelling variants,
elongations such as "soooo" and Chinese characters without a segmenter), each with sublinear TF-IDF, and fits one
linear model over both: a linear SVM (``loss="hinge"``: the squared hinge of liblinear, quick on 50,000 tweets) or
a multinomial logistic regression (``loss="log"``). Classes are weighted to balance by default, the setting
that suits macro-averaged recall when the class shares of new data differ from those of the training data.

With ``source_texts`` and ``source_labels`` (a large labelled set from a related domain, such as a pool of labelled
tweets beside a few thousand labelled posts of another site), ``fit`` learns from both by feature augmentation
(Daumé III 2007, "Frustratingly easy domain adaptation"): the vocabularies and IDF weights come from both sets, every
text has a copy of its features shared by both domains, and each target text (``texts``) also a copy of its own
plus a constant. The linear model so learns weights that hold in both domains and, penalised separately,
corrections (and class offsets) that hold in the target only. The fitted model scores target texts with the sum of
the two, so it has the size and file format of a model fitted without a source.

``decision_function`` gives one linear score per class; ``predict_proba`` turns them into probabilities with a
softmax whose temperature ``temperature_`` is fitted (``socialfusion.learn.calibration.fit_temperature``) on
out-of-fold scores of ``cv`` folds, so the probabilities of the SVM are usable in a stack.

A saved model (``save``/``load``) is an NPZ-layout archive: the settings, classes and vocabularies in JSON, the IDF
weights, coefficients and intercepts as ``.npy`` arrays; nothing is pickled.

Examples:
    >>> texts = ["i love it", "love this so much", "great day", "i hate it", "awful and sad", "hate this day"] * 5
    >>> labels = ["positive"] * 3 + ["negative"] * 3
    >>> model = TfidfTextClassifier(min_df=1, cv=None).fit(texts, labels * 5)
    >>> model.predict(["love love", "so sad"]).tolist()
    ['positive', 'negative']
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError, attempt_import

__all__ = ["TfidfTextClassifier"]

logger = logging.getLogger(__name__)

_FORMAT = "socialfusion.tfidf-text-classifier/1"
_DOCUMENT = "model.json"
_STATE = (
    "classes_",
    "word_vocabulary_",
    "word_idf_",
    "char_vocabulary_",
    "char_idf_",
    "coef_",
    "intercept_",
    "temperature_",
)
_LOSSES = ("hinge", "log")


def _texts(texts: Sequence[Any], what: str) -> list[str]:
    """``texts`` as a list of strings; anything else is refused with its position."""
    if isinstance(texts, str):
        raise DataError(f"{what}: expected a sequence of texts, got one string")
    texts = list(texts)
    bad = [index for index, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise DataError(
            f"{what}: {len(bad)} of {len(texts)} items are not texts (the first at position {bad[0]}: "
            f"{type(texts[bad[0]]).__name__}); drop or fill them first"
        )
    return texts


def _labels(y: Sequence[Any], n_texts: int, what: str) -> np.ndarray:
    """``y`` as an array, checked: one label per text, none missing."""
    labels = np.asarray(y, dtype=object)
    if len(labels) != n_texts:
        raise DataError(f"{len(labels)} {what} for {n_texts} texts")
    missing = [index for index, label in enumerate(labels) if label is None or label != label]
    if missing:
        raise DataError(
            f"{len(missing)} {what} are missing (the first at position {missing[0]}); drop those texts first"
        )
    return np.asarray(y)


class TfidfTextClassifier:
    """Word and character n-gram TF-IDF with one linear classifier over both.

    Args:
        word_ngrams: ``(low, high)`` lengths of the word n-grams; None: no word features.
        char_ngrams: ``(low, high)`` lengths of the character n-grams (inside word boundaries); None: none.
        min_df: ignore n-grams found in fewer training texts.
        max_features: keep the most frequent n-grams only, per kind (word, character).
        C: inverse regularisation strength of the linear model.
        loss: ``"hinge"`` (linear SVM with the squared hinge, liblinear) or ``"log"`` (logistic regression).
        class_weight: ``"balanced"`` (each class weighs the same in total) or None.
        cv: folds of the out-of-fold scores that fit the softmax temperature; None: temperature 1. With a source,
            the folds split the target texts, and each fold's model learns from the whole source as well.
        random_state: seed of those folds.
        source_weight: the weight of each source text against a target text's 1, when ``fit`` has a source.

    Attributes:
        classes_: the sorted class labels.
        coef_: ``(n_classes, n_features)`` weights over the word then the character features.
        intercept_: ``(n_classes,)``.
        temperature_: divides the scores before the softmax of ``predict_proba``.
    """

    def __init__(
        self,
        word_ngrams: tuple[int, int] | None = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        max_features: int | None = 200_000,
        C: float = 0.1,
        loss: str = "hinge",
        class_weight: str | None = "balanced",
        cv: int | None = 3,
        random_state: int = 0,
        source_weight: float = 1.0,
    ):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.C = C
        self.loss = loss
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state
        self.source_weight = source_weight

    # -- building blocks ------------------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.word_ngrams is None and self.char_ngrams is None:
            raise ConfigurationError("word_ngrams and char_ngrams are both None: no feature would be left")
        for name in ("word_ngrams", "char_ngrams"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or not 1 <= value[0] <= value[1]):
                raise ConfigurationError(f"{name} must be (low, high) with 1 <= low <= high; got {value!r}")
        if self.loss not in _LOSSES:
            raise ConfigurationError(f"unknown loss {self.loss!r}; expected one of {_LOSSES}")
        if self.class_weight not in (None, "balanced"):
            raise ConfigurationError(f"class_weight must be None or 'balanced'; got {self.class_weight!r}")
        if not self.C > 0 or self.min_df < 1 or (self.cv is not None and self.cv < 2) or not self.source_weight > 0:
            raise ConfigurationError(
                f"need C > 0, min_df >= 1, cv None or >= 2 and source_weight > 0; got C={self.C}, "
                f"min_df={self.min_df}, cv={self.cv}, source_weight={self.source_weight}"
            )

    def _vectorizers(self, vocabularies: dict[str, Any] | None = None) -> dict[str, Any]:
        """Unfitted TF-IDF vectorizers per kind; with ``vocabularies``, fixed to them."""
        attempt_import("sklearn", "text")
        from sklearn.feature_extraction.text import TfidfVectorizer

        from socialfusion.encoders._text_models import tokenize

        options = {
            "word": {"tokenizer": tokenize, "token_pattern": None, "lowercase": False, "ngram_range": self.word_ngrams},
            "char": {"analyzer": "char_wb", "lowercase": True, "ngram_range": self.char_ngrams},
        }
        result = {}
        for kind, settings in options.items():
            if settings["ngram_range"] is None:
                continue
            settings = {**settings, "ngram_range": tuple(settings["ngram_range"])}
            if vocabularies is None:
                settings.update(min_df=self.min_df, max_features=self.max_features)
            else:
                settings["vocabulary"] = {term: index for index, term in enumerate(vocabularies[kind])}
            result[kind] = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **settings)
        return result

    def _linear_model(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if self.loss == "log":
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)

    def _fit_scores(
        self, texts: list[str], codes: np.ndarray, source: tuple[list[str], np.ndarray] | None = None
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """Fitted vectorizers, ``(n_classes, n_features)`` coefficients and ``(n_classes,)`` intercepts; with a
        ``source`` (texts, codes), by feature augmentation (the module docstring), folded into target weights."""
        from scipy import sparse

        vectorizers = self._vectorizers()
        corpus = texts if source is None else [*source[0], *texts]
        try:
            matrix = sparse.hstack([vectorizer.fit_transform(corpus) for vectorizer in vectorizers.values()]).tocsr()
        except ValueError as error:  # sklearn: "empty vocabulary; perhaps the documents only contain stop words"
            raise DataError(f"no n-gram is found in at least {self.min_df} training texts ({error})") from error
        weights, width = None, matrix.shape[1]
        if source is not None:  # [shared copy | target copy, target constant]; source rows leave the latter empty
            n_source = len(source[0])
            target_only = sparse.hstack([matrix[n_source:], np.ones((len(texts), 1), matrix.dtype)])
            empty = sparse.csr_matrix((n_source, width + 1), dtype=matrix.dtype)
            matrix = sparse.hstack([matrix, sparse.vstack([empty, target_only])]).tocsr()
            codes = np.concatenate([source[1], codes])
            weights = np.concatenate([np.full(n_source, self.source_weight), np.ones(len(texts))])
        model = self._linear_model().fit(matrix, codes, sample_weight=weights)
        coef, intercept = model.coef_, model.intercept_
        if source is not None:  # a target text's score: shared + target weights, intercept + target constant
            coef, intercept = coef[:, :width] + coef[:, width:-1], intercept + coef[:, -1]
        if coef.shape[0] == 1:  # two classes: one score for the second class; the first gets its negative
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        return vectorizers, coef.astype(np.float32), intercept.astype(np.float32)

    @staticmethod
    def _scores(vectorizers: dict[str, Any], coef: np.ndarray, intercept: np.ndarray, texts: list[str]) -> np.ndarray:
        from scipy import sparse

        matrix = sparse.hstack([vectorizer.transform(texts) for vectorizer in vectorizers.values()]).tocsr()
        return np.asarray(matrix @ coef.T) + intercept

    # -- the estimator ----------------------------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[Any],
        *,
        source_texts: Sequence[str] | None = None,
        source_labels: Sequence[Any] | None = None,
    ) -> TfidfTextClassifier:
        """Learn the vocabularies, IDF weights, the linear model and (with ``cv``) the softmax temperature.

        Args:
            texts: the training texts (of the target domain when there is a source).
            y: their labels.
            source_texts: labelled texts of a related domain to learn from as well (the module docstring); None:
                none.
            source_labels: their labels, each one of ``y``'s classes.

        Raises:
            ConfigurationError: bad settings.
            DataError: an item that is not a text, a label count that differs, a missing label, fewer than two
                classes, a source label that is not one of ``y``'s classes, or no n-gram common enough to keep.
        """
        from socialfusion.learn.calibration import fit_temperature

        self._check_params()
        texts = _texts(texts, "TfidfTextClassifier.fit")
        codes = self._fit_classes(y, len(texts))
        source = None
        if (source_texts is None) != (source_labels is None):
            raise DataError("pass source_texts and source_labels together, or neither")
        if source_texts is not None:
            source_texts = _texts(source_texts, "TfidfTextClassifier.fit source_texts")
            source = (source_texts, self._source_codes(source_labels, len(source_texts)))
        vectorizers, self.coef_, self.intercept_ = self._fit_scores(texts, codes, source)
        self._vectorizers_ = vectorizers
        self.word_vocabulary_, self.word_idf_, self.char_vocabulary_, self.char_idf_ = None, None, None, None
        for kind, vectorizer in vectorizers.items():
            setattr(self, f"{kind}_vocabulary_", np.array(vectorizer.get_feature_names_out(), dtype=object))
            setattr(self, f"{kind}_idf_", vectorizer.idf_.astype(np.float32))
        self.temperature_ = 1.0
        if self.cv is not None:
            held_out = self._out_of_fold_scores(texts, codes, source)
            if held_out is not None:
                self.temperature_ = fit_temperature(held_out, codes)
        return self

    def _fit_classes(self, y: Sequence[Any], n_texts: int) -> np.ndarray:
        """Set ``classes_`` from the labels ``y`` of ``n_texts`` texts and return their codes."""
        self.classes_, codes = np.unique(_labels(y, n_texts, "labels"), return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"need at least two classes; got {self.classes_.tolist()}")
        return codes

    def _source_codes(self, source_labels: Sequence[Any], n_texts: int) -> np.ndarray:
        """The codes, among ``classes_``, of the source labels (every one must be a class of the target)."""
        labels = _labels(source_labels, n_texts, "source labels")
        known = {label: code for code, label in enumerate(self.classes_.tolist())}
        unknown = [label for label in labels.tolist() if label not in known]
        if unknown:
            raise DataError(
                f"{len(unknown)} source labels are not classes of the training labels {self.classes_.tolist()} "
                f"(the first: {unknown[0]!r})"
            )
        return np.array([known[label] for label in labels.tolist()], np.int64)

    def _out_of_fold_scores(
        self, texts: list[str], codes: np.ndarray, source: tuple[list[str], np.ndarray] | None
    ) -> np.ndarray | None:
        """``(n, n_classes)`` scores of models fitted without each fold (None when a class is too rare to fold)."""
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(codes, minlength=len(self.classes_))
        folds = min(self.cv, int(counts.min()))
        if folds < 2:
            logger.warning(
                "a class has fewer than two texts (%s); the softmax temperature is not fitted", counts.tolist()
            )
            return None
        held_out = np.zeros((len(texts), len(self.classes_)), np.float32)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for training, testing in splitter.split(np.zeros(len(codes)), codes):
            if len(np.unique(codes[training])) < len(self.classes_):
                return None
            vectorizers, coef, intercept = self._fit_scores([texts[i] for i in training], codes[training], source)
            held_out[testing] = self._scores(vectorizers, coef, intercept, [texts[i] for i in testing])
        return held_out

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ConfigurationError("this TfidfTextClassifier is not fitted yet; call fit first")

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, n_classes)`` linear scores, columns in ``classes_`` order (an empty text gets the intercepts)."""
        self._check_fitted()
        return self._scores(
            self._vectorizers_, self.coef_, self.intercept_, _texts(texts, "TfidfTextClassifier.decision_function")
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, n_classes)`` softmax of the scores divided by ``temperature_``."""
        from socialfusion.learn.calibration import softmax_probabilities

        return softmax_probabilities(self.decision_function(texts), self.temperature_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The highest-scoring class of each text."""
        self._check_fitted()
        return self.classes_[np.argmax(self.decision_function(texts), axis=1)]

    def score(self, texts: Sequence[str], y: Sequence[Any]) -> float:
        """Accuracy."""
        return float(np.mean(self.predict(texts) == np.asarray(y)))

    # -- model files ------------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to one NPZ-layout file that loads without running code.

        Returns:
            ``path``.

        Raises:
            ConfigurationError: not fitted.
        """
        from socialfusion._model_files import ModelWriter, write_archive

        self._check_fitted()
        writer = ModelWriter()
        params = {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}
        document = {
            "format": _FORMAT,
            "params": writer.encode(params, "params"),
            "state": {name: writer.encode(getattr(self, name), name) for name in _STATE},
        }
        return write_archive(path, documents={_DOCUMENT: document}, arrays=writer.arrays)

    @classmethod
    def load(cls, path: str | Path) -> TfidfTextClassifier:
        """Read a model written by ``save``; nothing in the file is run or unpickled.

        Raises:
            DataError: not a file written by ``save``, or parts that do not fit together.
        """
        from socialfusion._model_files import Archive, ModelReader

        with Archive(path, "TfidfTextClassifier") as archive:
            document = archive.document(_DOCUMENT)
            if not isinstance(document, dict) or document.get("format") != _FORMAT:
                raise archive.invalid(f"{_DOCUMENT} is not a {_FORMAT} document")
            reader = ModelReader(archive)
            params, state = reader.read(document.get("params")), reader.read(document.get("state"))
            if not isinstance(params, dict) or not isinstance(state, dict) or set(state) != set(_STATE):
                raise archive.invalid(f"it should hold the parameters and the fitted state {list(_STATE)}")
            try:
                model = cls(
                    **{
                        name: list(value) if isinstance(value, tuple | list) else value
                        for name, value in params.items()
                    }
                )
                model._check_params()
            except (TypeError, ConfigurationError) as error:
                raise archive.invalid(f"its parameters are not usable ({error})") from error
            for name in _STATE:
                setattr(model, name, state[name])
            model._restore(archive)
        return model

    def _restore(self, archive: Any) -> None:
        """Rebuild the vectorizers from the loaded vocabularies and IDF weights, checking that the shapes agree."""
        vocabularies = {kind: getattr(self, f"{kind}_vocabulary_") for kind in ("word", "char")}
        vectorizers = self._vectorizers(vocabularies)
        width = 0
        for kind, vectorizer in vectorizers.items():
            vocabulary, idf = vocabularies[kind], getattr(self, f"{kind}_idf_")
            if (
                not isinstance(vocabulary, np.ndarray)
                or not isinstance(idf, np.ndarray)
                or idf.shape != (len(vocabulary),)
                or len(set(vocabulary.tolist())) != len(vocabulary)
            ):
                raise archive.invalid(f"its {kind} vocabulary and IDF weights do not match")
            vectorizer.idf_ = idf.astype(np.float64)
            width += len(vocabulary)
        classes, coef, intercept = self.classes_, self.coef_, self.intercept_
        if not (
            isinstance(coef, np.ndarray)
            and isinstance(intercept, np.ndarray)
            and isinstance(classes, np.ndarray)
            and coef.shape == (len(classes), width)
            and intercept.shape == (len(classes),)
        ):
            raise archive.invalid(f"its coefficients do not fit {len(classes)} classes and {width} features")
        temperature = self.temperature_
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
            raise archive.invalid(f"its temperature_ must be a positive number; got {temperature!r}")
        self._vectorizers_ = vectorizers
