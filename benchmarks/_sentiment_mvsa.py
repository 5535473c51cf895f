"""MVSA-Single for ``benchmarks/sentiment.py``: every setting chosen by stratified k-fold CV on train, dev checked once.

What it measures (``python benchmarks/sentiment.py --only mvsa``, or ``python benchmarks/_sentiment_mvsa.py`` with
its options):
- feature sets: text = MiniLM + lexicon (401-d); USE = the multilingual Universal Sentence Encoder (512-d); e5 =
  multilingual-e5-small (``text/e5-small``, 384-d); transfer = the class probabilities of a logistic regression
  trained on the SemEval-2017 tweet pool (48k labelled tweets, minus TweetEval validation) over TF-IDF features;
  pool stack = those of the TweetEval model chosen by CV before e5-small joined it (TF-IDF SVM + MiniLM int8 + USE +
  lexicon, stacked), trained on the same pool (``pool_stack_features``); image = EfficientNet-Lite0 pooled features
  (frozen); image words = the image's top-5 ImageNet tags written as a sentence, embedded with the same MiniLM; OCR
  = the text RapidOCR reads in the image (memes, screenshots), as MiniLM + lexicon features, present where it reads
  any; TF-IDF = the out-of-fold log-probabilities of a TF-IDF linear SVM over the post texts (``MVSA_TFIDF``),
  fitted inside each fold on its training rows; fine-tuned = the last block and head convolution
  fine-tuned on the labels (``socialfusion.learn.image_finetune``, nested inside each fold the same way: about 35
  minutes on an idle 2-core machine; ``--no-finetune`` leaves it out);
- models: text-only, image-only and fusions (stacked late fusion; neural interaction fusion with modality dropout
  0.0 or 0.3, chosen by CV);
- the chosen stacked fusion's meta stage replaced (``meta_variants_table``: a weaker logistic regression, one over
  agreement features between modalities, gradient-boosted trees) on the same base models and folds;
- protocol: stratified 5-fold CV on the CLMLF train split, repeated for 3 seeds (folds and model seeds); every
  configuration choice is made on the CV mean; then every configuration is fitted once on all of train and scored on
  dev, once. Fusion gains are measured per fold against the CV-chosen text-only configuration in the same fold.

Cost: configurations of one fold share their per-modality base classifiers (``_stacked``); the stacked classifiers
search C over ``STACK_CS`` with ``STACK_CV`` inner folds. Every expensive intermediate (encodings, trunk activations,
the out-of-fold TF-IDF and fine-tuned image outputs) and every (configuration, seed, fold) result is cached in
``benchmarks/.cache`` keyed by content and version, so a stopped run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"
SPLIT_BLOCK = 15
N_VIEWS = 1  # the plain view; fine-tuning mirrors activation maps (a second trunk pass per image is too slow
# for this benchmark's budget on a shared 2-core machine; EfficientNetTrunk(n_views=...) does it where there is time)


def _digest(*parts) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).hexdigest()


def mvsa_posts():
    """(post ids, texts, image media items or None, labels, splits) of the labelled MVSA-Single posts."""
    from socialfusion.datasets import load_dataset

    corpus = load_dataset("mvsa-single")
    labels = corpus.labels.filter(corpus.labels.column("task").to_numpy(zero_copy_only=False) == "sentiment")
    by_id = {post["post_id"]: post for post in corpus.posts.select(["post_id", "text", "media"]).to_pylist()}
    ids = labels.column("item_id").to_pylist()
    posts = [by_id[item] for item in ids]
    images = [next((m for m in post["media"] or [] if m["kind"] == "image"), None) for post in posts]
    return (
        ids,
        [post["text"] for post in posts],
        images,
        np.array(labels.column("label").to_pylist(), dtype=object),
        np.array(labels.column("split").to_pylist(), dtype=object),
    )


def trunk_path(images: list, *, n_views: int = N_VIEWS, seed: int = 0) -> Path:
    """The cache file of ``trunk_activations``: keyed by the images' sha256, the encoder version and the views."""
    from socialfusion.encoders.image import EfficientNetEncoder

    content = [image["sha256"] if image else "-" for image in images]
    return CACHE / f"trunk-{_digest(EfficientNetEncoder().version, SPLIT_BLOCK, n_views, seed, *content)}.npz"


def trunk_activations(images: list, *, n_views: int = N_VIEWS, seed: int = 0):
    """EfficientNet-Lite0 trunk activations (``SPLIT_BLOCK``) of every image, plain + augmented views; cached."""
    from socialfusion.learn.image_finetune import EfficientNetTrunk, TrunkActivations

    path = trunk_path(images, n_views=n_views, seed=seed)
    if path.exists():
        return TrunkActivations.load(path)
    started = time.perf_counter()
    activations = EfficientNetTrunk(SPLIT_BLOCK, num_threads=2).activations(images, n_views=n_views, random_state=seed)
    print(
        f"   trunk activations of {len(images):,} images x {n_views} views in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    CACHE.mkdir(exist_ok=True)
    activations.save(path)
    return activations


def encoded_mvsa(encoder_name: str, texts: list):
    """``sentiment.encoded`` (the shared on-disk cache) for MVSA-Single texts."""
    from sentiment import encoded

    return encoded(encoder_name, texts, "mvsa-single")


def semeval_pool(mvsa_texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The SemEval-2017 pool's texts and sentiment labels: 48k labelled tweets minus TweetEval validation matches
    (``load_semeval2017_pool``), and minus the tweets whose text equals an MVSA-Single text."""
    from sentiment import labelled_posts

    from socialfusion.datasets.tweeteval import load_semeval2017_pool

    pool_posts, pool_labels, _ = labelled_posts(load_semeval2017_pool(), "sentiment")
    mvsa = set(mvsa_texts)
    keep = np.array([post["text"] not in mvsa for post in pool_posts])
    return [post["text"] for post, use in zip(pool_posts, keep) if use], np.asarray(pool_labels)[keep]


def transfer_features(mvsa_texts: list[str], pool: tuple[list[str], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities of a text sentiment model trained on the SemEval-2017 pool, for the MVSA-Single texts.

    ``pool`` is ``semeval_pool``'s (texts, labels). The model is ``tweet_sentiment_pipeline`` (TF-IDF + logistic
    regression); it never sees an MVSA label, so its outputs are fixed features for every fold. Returns
    ``(log_probabilities (n, 3), present (n,))``; cached.
    """
    from socialfusion.learn.transfer import TransferredPredictions

    pool_texts, pool_labels = pool
    path = CACHE / f"transfer-{_digest('tfidf-lr/2', *pool_texts, *pool_labels, *mvsa_texts)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return stored["vectors"], stored["present"]
    started = time.perf_counter()
    transfer = TransferredPredictions().fit(pool_texts, pool_labels)
    vectors = transfer.transform(mvsa_texts)
    present = np.array([bool(text and text.strip()) for text in mvsa_texts])
    print(
        f"   transfer model trained on {len(pool_texts):,} SemEval tweets in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    CACHE.mkdir(exist_ok=True)
    np.savez(path, vectors=vectors, present=present)
    return vectors, present


def pool_stack_features(mvsa_texts: list[str], mvsa_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities of the TweetEval stack chosen by CV, trained on the SemEval-2017 pool, for MVSA-Single texts.

    The source model is the one ``_sentiment_tweets.tweeteval_cv_table`` chose before e5-small joined it (TF-IDF
    linear SVM + MiniLM int8 + USE + lexicon logistic regressions, stacked by a logistic regression over their
    out-of-fold log-probabilities on the pool; balanced class weights), with the same settings; the pool holds no
    MVSA-Single text. It never sees an MVSA label (``mvsa_labels`` only score it zero-shot, printed for reference).
    Returns ``(log_probabilities (n, 3), present (n,))``; the base models' scores are cached by ``Experiment``.
    """
    from _sentiment_tweets import (
        TFIDF_SETTINGS,
        TWEETEVAL_ENCODERS,
        Experiment,
        _figure,
        _metrics,
        linear_scorer,
        tfidf_scorer,
    )
    from sentiment import encoded, labelled_posts

    from socialfusion.datasets.tweeteval import load_semeval2017_pool

    pool_posts, pool_labels, _ = labelled_posts(load_semeval2017_pool(), "sentiment")
    pool_texts = [post["text"] for post in pool_posts]
    if set(pool_texts) & set(mvsa_texts):
        raise ValueError("the SemEval-2017 pool holds MVSA-Single texts: drop them before transferring")
    classes = np.unique(pool_labels)
    codes = np.searchsorted(classes, pool_labels)
    mvsa_codes = np.searchsorted(classes, mvsa_labels.astype(str))
    all_codes = np.concatenate([codes, mvsa_codes])
    names = ("tfidf", "MiniLM-int8", "USE", "lexicon")
    scorers = {
        name: linear_scorer(
            np.vstack(
                [encoded(encoder, pool_texts, "tweeteval-train").vectors, encoded_mvsa(encoder, mvsa_texts).vectors]
            ),
            all_codes,
            "balanced",
        )
        for name, encoder in TWEETEVAL_ENCODERS
        if name in names
    }
    scorers["tfidf"] = tfidf_scorer(pool_texts + list(mvsa_texts), all_codes, TFIDF_SETTINGS["tweeteval"])
    experiment = Experiment(scorers, codes, mvsa_codes, _metrics(len(classes)), balanced=True, seeds=(0,))
    zero_shot = experiment.evaluate(names)["final"]  # computes the stack's scores, which ``scores`` then returns
    print(
        f"   pool stack ({' + '.join(names)}) trained on {len(pool_texts):,} SemEval tweets, zero-shot on the "
        f"{len(mvsa_texts):,} MVSA-Single posts: accuracy {_figure(zero_shot['accuracy']).split()[0]}, macro recall "
        f"{_figure(zero_shot['macro_recall']).split()[0]}",
        flush=True,
    )
    _, final = experiment.scores(names, 0)
    present = np.array([bool(text and text.strip()) for text in mvsa_texts])
    return np.where(present[:, None], final, 0.0).astype(np.float32), present


def out_of_fold_log_probabilities(
    fit_predict, labels: np.ndarray, fit_rows: np.ndarray, apply_rows: np.ndarray, *, seed: int, inner_folds: int = 3
) -> np.ndarray:
    """Log-probabilities of a model trained on labels, for rows whose label it never saw.

    ``fit_rows`` are split into ``inner_folds`` stratified folds (seeded by ``seed``); a model fitted on the other
    inner folds predicts each inner fold (out-of-fold), and the inner models' mean probability predicts
    ``apply_rows``. Rows outside both stay zero. ``fit_predict(rows, (held_out, apply_rows), inner)`` fits a model on
    ``rows`` and returns its class probabilities (classes sorted) for ``held_out`` and for ``apply_rows``. Returns
    ``(n, n_classes)`` float32.
    """
    from sklearn.model_selection import StratifiedKFold

    from socialfusion.learn.calibration import log_probabilities

    n_classes = len(set(labels[fit_rows].tolist()))
    output = np.zeros((len(labels), n_classes), np.float32)
    applied = np.zeros((len(apply_rows), n_classes))
    folds = StratifiedKFold(inner_folds, shuffle=True, random_state=seed).split(fit_rows, labels[fit_rows])
    for inner, (inner_train, inner_test) in enumerate(folds):
        held_out, applying = fit_predict(fit_rows[inner_train], (fit_rows[inner_test], apply_rows), inner)
        output[fit_rows[inner_test]] = log_probabilities(held_out)
        applied += applying / inner_folds
    output[apply_rows] = log_probabilities(applied)
    return output


def _cached_array(path: Path, compute) -> np.ndarray:
    """``compute()`` (an array), kept in ``path`` (``.npy``): read back when it exists."""
    if path.exists():
        return np.load(path, allow_pickle=False)
    array = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(temporary, array)
    temporary.replace(path)
    return array


def _rows_key(labels: np.ndarray, fit_rows: np.ndarray, apply_rows: np.ndarray) -> tuple:
    return (_array_digest(fit_rows), _array_digest(apply_rows), _array_digest(labels[fit_rows].astype(str)))


def finetuned_log_probabilities(
    activations,
    labels: np.ndarray,
    fit_rows: np.ndarray,
    apply_rows: np.ndarray,
    *,
    seed: int,
    inner_folds: int = 3,
    epochs: int = 8,
) -> np.ndarray:
    """Fine-tuned image log-probabilities (``out_of_fold_log_probabilities`` of ``fine_tune_image_blocks``); cached."""
    from socialfusion.learn.image_finetune import fine_tune_image_blocks

    classes = sorted(set(labels[fit_rows].tolist()))

    def fit_predict(rows, targets, inner):
        model = fine_tune_image_blocks(
            activations.subset(rows), labels[rows], epochs=epochs, random_state=seed * 100 + inner, num_threads=2
        )
        if model.classes != classes:
            raise ValueError(f"inner fold {inner} lacks a class: {model.classes} vs {classes}")
        return [model.predict_proba(activations.subset(target)) for target in targets]

    checksum = float(activations.values[0, :, 0, 0, 0].astype(np.float32).sum())
    key = _digest(
        "finetuned/2",
        activations.values.shape,
        checksum,
        seed,
        inner_folds,
        epochs,
        *_rows_key(labels, fit_rows, apply_rows),
    )
    return _cached_array(
        CACHE / f"finetuned-{key}.npy",
        lambda: out_of_fold_log_probabilities(
            fit_predict, labels, fit_rows, apply_rows, seed=seed, inner_folds=inner_folds
        ),
    )


MVSA_TFIDF = {"C": 0.1, "loss": "hinge", "class_weight": None}
"""The MVSA-Single TF-IDF model (``TfidfTextClassifier``: words 1-2 + characters 2-5, linear SVM; its probabilities'
temperature fitted on 3 inner folds). Chosen by CV on train (5 folds of seed 0; dev not used), as a member of the
stacked fusion text + image + tag words (scratch runs on 2026-12-06; the fusion without it 73.25): C = 0.1 73.97
(with the SemEval-pool transfer) and 74.05 (without), C = 0.03 73.69, C = 0.3 73.97, characters 1-3 73.80, words only
73.86, logistic regression (C = 3) 73.94, balanced class weights 73.94; stacked beside USE as well 73.50."""


def tfidf_log_probabilities(
    texts: list[str], labels: np.ndarray, fit_rows: np.ndarray, apply_rows: np.ndarray, *, seed: int
) -> np.ndarray:
    """TF-IDF linear SVM log-probabilities (``MVSA_TFIDF``) from ``out_of_fold_log_probabilities``; cached.

    A TF-IDF model has a vocabulary of its training texts, so it cannot be a fixed feature matrix: inside each CV
    fold it is fitted on the fold's training rows only, and its out-of-fold outputs become a modality."""
    from socialfusion.learn.text_linear import TfidfTextClassifier

    def fit_predict(rows, targets, inner):
        model = TfidfTextClassifier(cv=3, random_state=seed, **MVSA_TFIDF).fit([texts[i] for i in rows], labels[rows])
        return [model.predict_proba([texts[i] for i in target]) for target in targets]

    key = _digest(
        "tfidf/1", sorted(MVSA_TFIDF.items()), seed, _digest(*texts), *_rows_key(labels, fit_rows, apply_rows)
    )
    return _cached_array(
        CACHE / "mvsa-folds" / f"tfidf-{key}.npy",
        lambda: out_of_fold_log_probabilities(fit_predict, labels, fit_rows, apply_rows, seed=seed),
    )


MVSA_ADAPTED_TFIDF = {**MVSA_TFIDF, "C": 0.3, "max_features": None, "source_weight": 1 / 3}
"""The MVSA-Single TF-IDF model that also learns from the SemEval-2017 pool (``semeval_pool``, 47,562 tweets) by
feature augmentation (``TfidfTextClassifier.fit`` with ``source_texts``): weights shared by tweets and MVSA posts,
and MVSA's own corrections and class offsets. Settings chosen by CV on train (the 5 folds of seed 0; dev not used)
in scratch runs on 2026-12-06 with an earlier form of the same model (its shared vocabulary from the pool alone, the
MVSA copy with a vocabulary of the fold's posts, the temperature fitted on its out-of-fold scores), as a member of
the stacked fusion (text + it + transfer + image + tag words / text + it + image + tag words; the chosen fusion
73.97 on those folds), written as (C, weight of an MVSA post against a pool tweet's 1): (0.1, 3) 74.55 / 74.47,
(0.1, 1) 74.19 / 74.44, (0.3, 1) 74.22 / 74.08. Here the pool's tweets weigh 1/3 against an MVSA post's 1, so C =
0.3 is the (0.1, 3) of the scratch runs (the loss is a third as large); the first full run of this model used C =
0.1 (a third of that) by mistake: fusion CV 74.04 over seeds 0-2. No vocabulary cap, so that no n-gram of MVSA's
posts is cut by the pool's counts."""


def adapted_tfidf_log_probabilities(
    texts: list[str],
    labels: np.ndarray,
    fit_rows: np.ndarray,
    apply_rows: np.ndarray,
    *,
    pool: tuple[list[str], np.ndarray],
    seed: int,
) -> np.ndarray:
    """Log-probabilities of ``MVSA_ADAPTED_TFIDF`` (``pool``, ``semeval_pool``'s (texts, labels), and ``fit_rows``)
    from ``out_of_fold_log_probabilities``, with a softmax temperature fitted on the out-of-fold rows; cached.

    Each inner model learns from the whole pool and two thirds of ``fit_rows``. Its temperature is not fitted
    inside (three more fits on 50,000 texts each): the out-of-fold log-probabilities of ``fit_rows`` are scores
    shifted per row, so dividing them by a temperature fitted there and normalising again is exact for them; the
    rows of ``apply_rows`` (the mean of three models' probabilities) get the same temperature."""
    from socialfusion.learn.calibration import fit_temperature, log_probabilities, softmax_probabilities
    from socialfusion.learn.text_linear import TfidfTextClassifier

    pool_texts, pool_labels = pool

    def fit_predict(rows, targets, inner):
        model = TfidfTextClassifier(cv=None, random_state=seed, **MVSA_ADAPTED_TFIDF).fit(
            [texts[i] for i in rows], labels[rows], source_texts=pool_texts, source_labels=pool_labels
        )
        return [model.predict_proba([texts[i] for i in target]) for target in targets]

    def compute():
        untempered = out_of_fold_log_probabilities(fit_predict, labels, fit_rows, apply_rows, seed=seed)
        classes = np.array(sorted(set(labels[fit_rows].tolist())))
        temperature = fit_temperature(untempered[fit_rows], np.searchsorted(classes, labels[fit_rows]))
        tempered = np.zeros_like(untempered)
        for rows in (fit_rows, apply_rows):
            tempered[rows] = log_probabilities(softmax_probabilities(untempered[rows], temperature))
        return tempered

    key = _digest(
        "adapted-tfidf/1",
        sorted(MVSA_ADAPTED_TFIDF.items()),
        seed,
        _digest(*texts),
        _digest(*pool_texts, *pool_labels),
        *_rows_key(labels, fit_rows, apply_rows),
    )
    return _cached_array(CACHE / "mvsa-folds" / f"adapted-tfidf-{key}.npy", compute)


def fold_modalities(
    inputs: dict, names, fit_rows: np.ndarray, apply_rows: np.ndarray, *, seed: int, finetune_epochs: int
) -> dict[str, np.ndarray]:
    """The modalities among ``names`` that are models trained on labels (``FOLD_MODALITIES``), fitted on
    ``fit_rows`` only: out-of-fold on them, and applied to ``apply_rows``."""
    labels, made = inputs["labels"], {}
    if "tfidf" in names:
        made["tfidf"] = tfidf_log_probabilities(inputs["texts"], labels, fit_rows, apply_rows, seed=seed)
    if "adapted" in names:
        made["adapted"] = adapted_tfidf_log_probabilities(
            inputs["texts"], labels, fit_rows, apply_rows, pool=inputs["pool"], seed=seed
        )
    if "finetuned" in names:
        made["finetuned"] = finetuned_log_probabilities(
            inputs["activations"], labels, fit_rows, apply_rows, seed=seed, epochs=finetune_epochs
        )
    return made


def pooled_features(activations) -> np.ndarray:
    """Frozen EfficientNet-Lite0 pooled features (``image/efficientnet``) from the plain view; cached."""
    from socialfusion.learn.image_finetune import FineTunedImageBlocks

    key = _digest("pooled", activations.values.shape, float(activations.values[0].astype(np.float32).sum()))
    return _cached_array(
        CACHE / f"pooled-{key}.npy",
        lambda: FineTunedImageBlocks.pretrained(activations.split_block).features(activations),
    )


def tag_words(pooled: np.ndarray, has_image: np.ndarray):
    """MiniLM embeddings of each image's top-5 ImageNet tags written as a sentence (``Encoded``; cached)."""
    from sentiment import encoded

    from socialfusion.learn.image_words import tag_sentence, tags_from_pooled

    sentences = [tag_sentence(tags) or None for tags in tags_from_pooled(pooled, present=has_image)]
    return encoded("text/minilm", sentences, "mvsa-single-imagenet-tag-sentences")


def ocr_texts(images: list) -> list[str | None]:
    """The text RapidOCR reads in each image (``socialfusion.encoders.image.ocr_text``, lines joined by spaces):
    ``""`` when it finds none, None without a decodable image. Kept per image sha256 in ``benchmarks/.cache``,
    saved every 100 images, so a stopped run resumes (about 0.7 s per image on the 2-core machine)."""
    import json
    from importlib.metadata import version

    from socialfusion.encoders.image import ocr_text

    path = CACHE / f"ocr-{_digest('ocr/1', version('rapidocr-onnxruntime'))}.json"
    read = json.loads(path.read_text()) if path.exists() else {}
    todo = [image for image in images if image is not None and image["sha256"] not in read]
    started = time.perf_counter()
    for start in range(0, len(todo), 100):
        block = todo[start : start + 100]
        for image, text in zip(block, ocr_text(block)):
            read[image["sha256"]] = None if text is None else " ".join(text.split())
        write_json(path, read)
        seconds = time.perf_counter() - started
        print(f"   OCR: {start + len(block):,} of {len(todo):,} images in {seconds:.0f} s", flush=True)
    return [None if image is None else read[image["sha256"]] for image in images]


def ocr_features(images: list):
    """MiniLM + lexicon features of the text written in each image, and where there is any (``(vectors, present)``)."""
    from sentiment import encoded

    texts = [text or None for text in ocr_texts(images)]
    key = f"mvsa-single-ocr-{_digest(*texts)}"
    minilm, lexicon = encoded("text/minilm", texts, key), encoded("text/lexicon", texts, key)
    return np.hstack([minilm.vectors, lexicon.vectors]), ~minilm.missing


def mvsa_inputs() -> dict:
    """Every MVSA-Single feature that does not depend on training labels, for all labelled posts."""
    ids, texts, images, labels, splits = mvsa_posts()
    text, lexicon = encoded_mvsa("text/minilm", texts), encoded_mvsa("text/lexicon", texts)
    use = encoded_mvsa("text/multilingual", texts)
    e5 = encoded_mvsa("text/e5-small", texts)
    pool = semeval_pool(texts)  # read once: the transfer feature and the pool-adapted TF-IDF folds learn from it
    transfer, transfer_present = transfer_features(texts, pool)
    pool_stack, pool_stack_present = pool_stack_features(texts, labels)
    activations = trunk_activations(images)
    pooled = pooled_features(activations)
    has_image = ~activations.missing
    words = tag_words(pooled, has_image)
    ocr, has_ocr = ocr_features(images)
    return {
        "ids": ids,
        "texts": [text or "" for text in texts],
        "labels": labels,
        "splits": splits,
        "activations": activations,
        "pool": pool,
        "vectors": {
            "text": np.hstack([text.vectors, lexicon.vectors]),
            "transfer": transfer,
            "use": use.vectors,
            "e5": e5.vectors,
            "pool": pool_stack,
            "image": pooled,
            "words": words.vectors,
            "ocr": ocr,
        },
        "present": {
            "text": ~text.missing,
            "transfer": transfer_present,
            "use": ~use.missing,
            "e5": ~e5.missing,
            "pool": pool_stack_present,
            "image": has_image,
            "words": ~words.missing & has_image,
            "ocr": has_ocr & has_image,
        },
    }


# name, group, modalities, learner ("stacked" or ("interaction", modality dropout)).
CONFIGS = (
    ("text: MiniLM + lexicon", "text", ("text",), "stacked"),
    ("text: + SemEval-pool transfer", "text", ("text", "transfer"), "stacked"),
    ("text: + USE", "text", ("text", "use"), "stacked"),
    ("text: + USE + SemEval-pool stack", "text", ("text", "use", "pool"), "stacked"),
    ("text: + TF-IDF", "text", ("text", "tfidf"), "stacked"),
    ("text: + USE + TF-IDF", "text", ("text", "use", "tfidf"), "stacked"),
    ("text: + pool-adapted TF-IDF", "text", ("text", "adapted"), "stacked"),
    ("text: + e5-small", "text", ("text", "e5"), "stacked"),
    ("text: + e5-small + pool-adapted TF-IDF", "text", ("text", "e5", "adapted"), "stacked"),
    ("image: frozen EfficientNet", "image", ("image",), "stacked"),
    ("image: frozen + tag words", "image", ("image", "words"), "stacked"),
    ("image: frozen + tag words + OCR text", "image", ("image", "words", "ocr"), "stacked"),
    ("late: stacked, text + frozen image", "fusion", ("text", "image"), "stacked"),
    ("late: stacked, text + transfer + image + words", "fusion", ("text", "transfer", "image", "words"), "stacked"),
    (
        "late: stacked, text + transfer + image + words + OCR",
        "fusion",
        ("text", "transfer", "image", "words", "ocr"),
        "stacked",
    ),
    ("late: stacked, text + USE + image + words", "fusion", ("text", "use", "image", "words"), "stacked"),
    (
        "late: stacked, text + USE + transfer + image + words",
        "fusion",
        ("text", "use", "transfer", "image", "words"),
        "stacked",
    ),
    (
        "late: stacked, text + USE + pool stack + image + words",
        "fusion",
        ("text", "use", "pool", "image", "words"),
        "stacked",
    ),
    ("late: stacked, text + TF-IDF + image + words", "fusion", ("text", "tfidf", "image", "words"), "stacked"),
    (
        "late: stacked, text + TF-IDF + transfer + image + words",
        "fusion",
        ("text", "tfidf", "transfer", "image", "words"),
        "stacked",
    ),
    (
        "late: stacked, text + USE + TF-IDF + image + words",
        "fusion",
        ("text", "use", "tfidf", "image", "words"),
        "stacked",
    ),
    (
        "late: stacked, text + pool-adapted TF-IDF + image + words",
        "fusion",
        ("text", "adapted", "image", "words"),
        "stacked",
    ),
    (
        "late: stacked, text + pool-adapted TF-IDF + transfer + image + words",
        "fusion",
        ("text", "adapted", "transfer", "image", "words"),
        "stacked",
    ),
    ("late: stacked, text + e5-small + image + words", "fusion", ("text", "e5", "image", "words"), "stacked"),
    (
        "late: stacked, text + e5-small + pool-adapted TF-IDF + image + words",
        "fusion",
        ("text", "e5", "adapted", "image", "words"),
        "stacked",
    ),
    (
        "late: stacked, text + e5-small + pool-adapted TF-IDF + transfer + image + words",
        "fusion",
        ("text", "e5", "adapted", "transfer", "image", "words"),
        "stacked",
    ),
    (
        "neural interaction, modality dropout 0.0",
        "fusion",
        ("text", "transfer", "image", "words"),
        ("interaction", 0.0),
    ),
    (
        "neural interaction, modality dropout 0.3",
        "fusion",
        ("text", "transfer", "image", "words"),
        ("interaction", 0.3),
    ),
)
# The image tail fine-tuned inside every fold (nested, out-of-fold; --no-finetune leaves these out). On an idle
# 2-core machine an epoch over 2,400 images takes about 10 s, and a fold's four fine-tunings (three inner, one on
# the fold's training rows) of 8 epochs about 140 s: some 35 minutes for 15 folds. Under load (about 22) an epoch
# took 147 s.
FINETUNED_CONFIGS = (
    ("image: fine-tuned last block", "image", ("finetuned",), "stacked"),
    ("image: fine-tuned + frozen + tag words", "image", ("finetuned", "image", "words"), "stacked"),
    ("late: stacked, all five", "fusion", ("text", "transfer", "image", "words", "finetuned"), "stacked"),
    (
        "late: stacked, text + e5-small + pool-adapted TF-IDF + image + words + fine-tuned",
        "fusion",
        ("text", "e5", "adapted", "image", "words", "finetuned"),
        "stacked",
    ),
)
TEXT_SIDE = ("text", "transfer", "use", "e5", "pool", "tfidf", "adapted")
FOLD_MODALITIES = {"tfidf": "text", "adapted": "text", "finetuned": "image"}
"""Modalities that are models trained on labels (``fold_modalities``), and the modality whose presence they share."""
STACK_CS = (0.003, 0.03, 0.3)  # each base classifier's C, chosen by inner out-of-fold log-loss
STACK_CV = 3  # inner folds of the stacked classifiers (out-of-fold meta features and the C search)
RESULTS_VERSION = "mvsa-cv/2"


def _features(inputs: dict, modalities, fold_features: dict[str, np.ndarray], learner):
    """``ModalityFeatures`` of ``modalities``; those in ``FOLD_MODALITIES`` come from ``fold_features``."""
    from socialfusion.learn import ModalityFeatures

    vectors = {**inputs["vectors"], **fold_features}
    present = {**inputs["present"], **{name: inputs["present"][FOLD_MODALITIES[name]] for name in fold_features}}
    if learner == "stacked":
        return ModalityFeatures({m: vectors[m] for m in modalities}, {m: present[m] for m in modalities})
    # The neural interaction fusion reads two groups: everything from the text, everything from the image.
    groups = {"text": [m for m in modalities if m in TEXT_SIDE], "image": [m for m in modalities if m not in TEXT_SIDE]}
    return ModalityFeatures(
        {name: np.hstack([vectors[m] for m in members]) for name, members in groups.items()},
        {name: present[members[0]] for name, members in groups.items()},
    )


_SHARED_OUT_OF_FOLD: dict = {}


def _array_digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.blake2b(array.tobytes() + str((array.shape, array.dtype)).encode(), digest_size=12).hexdigest()


def _stacked(seed: int):
    """``StackedFusionClassifier`` whose per-modality out-of-fold C search is computed once per (features, labels).

    Configurations of one fold share base modalities (the text classifier is the same in six of them); the search
    depends only on the modality's matrix, the labels and the settings, so its result is shared, not refitted.
    """
    from socialfusion.learn.stacking import StackedFusionClassifier

    class SharedBaseStacking(StackedFusionClassifier):
        def _out_of_fold(self, matrix, labels):
            key = (
                _array_digest(matrix),
                _array_digest(np.asarray(labels).astype(str)),
                tuple(self.Cs),
                self.cv,
                self.random_state,
                self.class_weight,
            )
            if key not in _SHARED_OUT_OF_FOLD:
                _SHARED_OUT_OF_FOLD[key] = super()._out_of_fold(matrix, labels)
            return _SHARED_OUT_OF_FOLD[key]

    return SharedBaseStacking(Cs=STACK_CS, cv=STACK_CV, random_state=seed)


def _model(learner, seed: int, epochs: int):
    from socialfusion.learn import MultimodalClassifier

    if learner == "stacked":
        return _stacked(seed)
    fusion, dropout = learner
    return MultimodalClassifier(fusion=fusion, epochs=epochs, modality_dropout=dropout, random_state=seed)


def _fit_score(config, inputs, fold_features, fit_rows, test_rows, seed, epochs) -> dict:
    from sentiment import scores

    name, _, modalities, learner = config
    features = _features(inputs, modalities, fold_features, learner)
    labels = inputs["labels"]
    model = _model(learner, seed, epochs).fit(features.subset(fit_rows), labels[fit_rows])
    return {
        **scores(labels[test_rows], model.predict(features.subset(test_rows))),
        "model": model,
        "features": features.subset(test_rows),
    }


def _without_images(features, fraction: float, seed: int = 0):
    """``features`` where ``fraction`` of the items with an image lose it and everything derived from it."""
    from socialfusion.learn import ModalityFeatures

    derived = [name for name in features.modalities if name not in TEXT_SIDE]
    having = np.flatnonzero(features.present[derived[0]])
    chosen = np.random.default_rng(seed).permutation(having)[: round(fraction * len(having))]
    present = {name: mask.copy() for name, mask in features.present.items()}
    for name in derived:
        present[name][chosen] = False
    return ModalityFeatures(features.vectors, present, features.ids)


def _summary(values) -> str:
    values = 100 * np.asarray(values)
    return f"{values.mean():6.2f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:4.2f}"


def _fold_result(config, inputs, fold_features, fit_rows, test_rows, seed, epochs) -> dict:
    """Accuracy and weighted F1 of ``config`` fitted on ``fit_rows`` and scored on ``test_rows``; cached on disk.

    The key holds everything the figure depends on (configuration, rows, labels, seed, settings, the features'
    digests), so a stopped run resumes where it stopped and a changed input is recomputed.
    """
    name, _, modalities, learner = config
    key = _digest(
        RESULTS_VERSION,
        name,
        modalities,
        learner,
        seed,
        epochs,
        STACK_CS,
        STACK_CV,
        _array_digest(fit_rows),
        _array_digest(test_rows),
        _array_digest(inputs["labels"].astype(str)),
        *(_array_digest(fold_features[m]) if m in FOLD_MODALITIES else inputs["digests"][m] for m in modalities),
    )

    def compute():
        result = _fit_score(config, inputs, fold_features, fit_rows, test_rows, seed, epochs)
        return {"accuracy": result["accuracy"], "weighted_f1": result["weighted_f1"]}

    return cached_json(CACHE / "mvsa-folds" / f"{key}.json", compute)


def cached_json(path: Path, compute) -> dict:
    """``compute()`` (JSON-able), kept in ``path``: read back when it exists, else computed and written atomically
    (``write_json``)."""
    import json

    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    write_json(path, result)
    return result


def write_json(path: Path, value) -> None:
    """``value`` as JSON in ``path``, written atomically: a temporary file renamed into place, so concurrent runs
    never read half a file."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value))
    temporary.replace(path)


def mvsa_cv_table(quick: bool, epochs: int, seeds=(0, 1, 2), folds: int = 5, finetune: bool = True) -> None:
    """Sections 1-2: stratified k-fold CV on train for every configuration, dev once; robustness to lost images."""
    from sentiment import scores
    from sklearn.model_selection import StratifiedKFold

    if quick:
        seeds, folds, epochs = seeds[:1], 3, min(epochs, 5)
    finetune_epochs = 2 if quick else 8
    configs = CONFIGS + (FINETUNED_CONFIGS if finetune else ())
    started = time.perf_counter()
    inputs = mvsa_inputs()
    inputs["digests"] = {name: _array_digest(vectors) for name, vectors in inputs["vectors"].items()}
    labels, splits = inputs["labels"], inputs["splits"]
    needed = {modality for config in configs for modality in config[2]}
    train, dev = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "dev")
    print(
        f"\n1. MVSA-Single: {len(train):,} train posts ({inputs['present']['image'][train].sum():,} with an image), "
        f"{len(dev)} dev posts; features ready in {time.perf_counter() - started:.0f} s"
    )
    print(
        f"   settings chosen by stratified {folds}-fold CV on train, seeds {list(seeds)} (folds and model seeds); "
        f"mean ± std over the {folds * len(seeds)} fold x seed runs; dev scored once at the end\n"
        f"   stacked classifiers: C in {list(STACK_CS)} by inner {STACK_CV}-fold log-loss; neural: at most {epochs} "
        f"epochs, early stopping on 10% of the fold's training rows"
        + ("" if finetune else "; fine-tuned image tail not run (--no-finetune)")
        + "\n",
        flush=True,
    )
    results = {config[0]: {"accuracy": [], "weighted_f1": []} for config in configs}
    for seed in seeds:
        for fold, (fit, test) in enumerate(
            StratifiedKFold(folds, shuffle=True, random_state=seed).split(train, labels[train])
        ):
            fit_rows, test_rows = train[fit], train[test]
            fold_started = time.perf_counter()
            fold_features = fold_modalities(
                inputs, needed, fit_rows, test_rows, seed=seed, finetune_epochs=finetune_epochs
            )
            for config in configs:
                result = _fold_result(config, inputs, fold_features, fit_rows, test_rows, seed, epochs)
                for metric in results[config[0]]:
                    results[config[0]][metric].append(result[metric])
            _SHARED_OUT_OF_FOLD.clear()
            print(f"   seed {seed} fold {fold}: {time.perf_counter() - fold_started:.0f} s", flush=True)

    chosen = {}
    for group in ("text", "image", "fusion"):
        members = [config for config in configs if config[1] == group]
        chosen[group] = max(members, key=lambda config: np.mean(results[config[0]]["accuracy"]))
    text_best, fusion_best = chosen["text"][0], chosen["fusion"][0]
    fold_features = fold_modalities(inputs, needed, train, dev, seed=seeds[0], finetune_epochs=finetune_epochs)
    print(
        f"\n{'configuration':<50}{'CV accuracy':>16}{'CV weighted F1':>18}{'gain vs text *':>16}"
        f"{'dev acc':>9}{'dev wF1':>9}"
    )
    fitted = {}
    for config in configs:
        name = config[0]
        dev_scores = fitted[name] = _fit_score(config, inputs, fold_features, train, dev, seeds[0], epochs)
        mark = " *" if chosen[config[1]] is config else ""
        gain = np.array(results[name]["accuracy"]) - np.array(results[text_best]["accuracy"])
        print(
            f"{name + mark:<50}{_summary(results[name]['accuracy']):>16}{_summary(results[name]['weighted_f1']):>18}"
            f"{_summary(gain) if config[1] == 'fusion' else '':>16}"
            f"{100 * dev_scores['accuracy']:>9.2f}{100 * dev_scores['weighted_f1']:>9.2f}",
            flush=True,
        )
    gains = np.array(results[fusion_best]["accuracy"]) - np.array(results[text_best]["accuracy"])
    print("\n* chosen by CV mean accuracy within its group (text / image / fusion); dev is not used to choose;")
    print(f"  dev: each configuration fitted once on all of train (seed {seeds[0]}), scored once")
    print(
        f"fusion gain, {fusion_best} over {text_best}, within the same folds: {_summary(gains)} points "
        f"(positive in {int((gains > 0).sum())} of {len(gains)} folds)"
    )
    print(f"transfer: text sentiment model trained on {len(inputs['pool'][0]):,} SemEval-2017 tweets (no MVSA label)")

    print(f"\n2. Robustness: {fusion_best} (fitted on train) with dev images removed at test time\n")
    print(f"{'images removed':<20}{'accuracy':>10}{'weighted_f1':>13}")
    best = fitted[fusion_best]
    for fraction in (0.0, 0.5, 1.0):
        result = scores(labels[dev], best["model"].predict(_without_images(best["features"], fraction)))
        print(f"{fraction:<20.0%}{100 * result['accuracy']:>10.2f}{100 * result['weighted_f1']:>13.2f}")
    text_dev = fitted[text_best]
    print(f"{'text-only model':<20}{100 * text_dev['accuracy']:>10.2f}{100 * text_dev['weighted_f1']:>13.2f}")
    meta_variants_table(inputs, chosen["fusion"], seeds, folds, finetune_epochs)
    print(f"\nwhole MVSA section in {time.perf_counter() - started:.0f} s")
    print("published (test split, not available here): CLMLF 75.33 acc / 73.46 wF1, MDSE 76.22 / 75.71")


def _agreement_features(meta_features: np.ndarray, n_classes: int) -> np.ndarray:
    """``StackedFusionClassifier`` meta features plus, for every pair of modalities, the products of their class
    probabilities (``p_a(c) * p_b(c')`` for all c, c'): agreement and disagreement between modalities."""
    import itertools

    width = n_classes + 1  # each modality's block: its class log-probabilities, then its presence flag
    probabilities = [np.exp(meta_features[:, at : at + n_classes]) for at in range(0, meta_features.shape[1], width)]
    pairs = [
        (first[:, :, None] * second[:, None, :]).reshape(len(meta_features), -1)
        for first, second in itertools.combinations(probabilities, 2)
    ]
    return np.hstack([meta_features, *pairs])


def meta_variants_table(inputs: dict, config, seeds, folds: int, finetune_epochs: int) -> None:
    """Section 2b: the chosen stacked fusion with other meta-classifiers over the same base models and folds.

    The base models' out-of-fold log-probabilities (what the stack's meta stage learns from) are the same for every
    variant; only the meta stage changes: the stack's own logistic regression (C = 1, then 0.1), the same over
    agreement features (``_agreement_features``), and gradient-boosted trees (depth 3, 150 rounds, rate 0.05).
    Scored by CV accuracy only (dev is not used here).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from socialfusion.learn.stacking import StackedFusionClassifier

    name, _, modalities, learner = config
    if learner != "stacked":
        return
    labels, train = inputs["labels"], np.flatnonzero(inputs["splits"] == "train")

    class KeepsMetaFeatures(StackedFusionClassifier):
        def _fit_meta(self, meta_features, codes, patterns):
            if not hasattr(self, "meta_features_"):  # the first call sees every training item's meta features
                self.meta_features_ = meta_features
            return super()._fit_meta(meta_features, codes, patterns)

    variants = {
        "logistic regression, C = 1 (the stack's own)": (lambda: LogisticRegression(C=1.0, max_iter=3000), False),
        "logistic regression, C = 0.1": (lambda: LogisticRegression(C=0.1, max_iter=3000), False),
        "logistic regression over agreement features": (lambda: LogisticRegression(C=1.0, max_iter=3000), True),
        "gradient-boosted trees": (
            lambda: HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=150, random_state=0),
            False,
        ),
    }
    accuracy = {variant: [] for variant in variants}
    for seed in seeds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for fit, test in splitter.split(train, labels[train]):
            fit_rows, test_rows = train[fit], train[test]
            fold_features = fold_modalities(
                inputs, modalities, fit_rows, test_rows, seed=seed, finetune_epochs=finetune_epochs
            )
            features = _features(inputs, modalities, fold_features, learner)
            model = KeepsMetaFeatures(Cs=STACK_CS, cv=STACK_CV, random_state=seed)
            model.fit(features.subset(fit_rows), labels[fit_rows])
            held_out = features.subset(test_rows)
            test_meta = model._meta_features(held_out, model._modality_log_probabilities(held_out))
            codes = np.searchsorted(model.classes_, labels[fit_rows])
            for variant, (make, agreement) in variants.items():
                fit_meta, apply_meta = model.meta_features_, test_meta
                if agreement:
                    fit_meta, apply_meta = (_agreement_features(m, len(model.classes_)) for m in (fit_meta, apply_meta))
                predicted = model.classes_[make().fit(fit_meta, codes).predict(apply_meta)]
                accuracy[variant].append(float(np.mean(predicted == labels[test_rows])))
    print(f"\n2b. Meta-classifiers of {name}: the same base models and {folds} folds x seeds {list(seeds)}\n")
    print(f"{'meta stage':<50}{'CV accuracy':>16}")
    for variant, values in accuracy.items():
        print(f"{variant:<50}{_summary(values):>16}")


def main() -> None:
    import argparse
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # ``sentiment`` (shared helpers) from any directory
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 3 folds, few epochs: a smoke run")
    parser.add_argument("--epochs", type=int, default=60, help="most epochs of the neural fusions")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="CV seeds (folds and models)")
    parser.add_argument("--folds", type=int, default=5, help="k of the stratified k-fold CV")
    parser.add_argument("--no-finetune", dest="finetune", action="store_false",
                        help="leave out the image tail fine-tuned inside every fold (about 35 minutes from nothing)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    mvsa_cv_table(args.quick, args.epochs, seeds=tuple(args.seeds), folds=args.folds, finetune=args.finetune)


if __name__ == "__main__":
    main()
