"""Cross-modal retrieval on MVSA-Single: the learned text-image space vs a random ranking and an ImageNet-tags baseline.

Pairs are the MVSA-Single posts with text and image: train split 3,611, dev split 450 (held out, scored once).
Text features: MiniLM (``text/minilm``); image features: EfficientNet-Lite0 pooled (``image/efficientnet``),
optionally next to the MiniLM embedding of the image's top-5 ImageNet tags written as a sentence ("a photo of ...").

Protocol: every setting of the aligner is chosen by k-fold cross-validation over the train pairs, never on dev:
- candidates (``CANDIDATES``): the projection heads (two-layer or linear), the number of passes (the heads overfit
  3,611 pairs within a few), their regularisation (dropout, weight decay), the temperature (learned from 0.07, or
  fixed), and the image side (EfficientNet, or EfficientNet + tag words);
- for each candidate and fold, the aligner trains on the other folds' pairs and text->image recall@10 is scored among
  the held-out pairs in galleries of 450 (the dev split's size, so the CV figure compares with dev);
- the same held-out vectors also choose the weight of a zero-shot space, the tweet's MiniLM embedding against the tag
  sentence's (``blend_spaces``: similarity = (1 - w) * learned cosine + w * tags cosine), w in ``BLEND_WEIGHTS``;
- the chosen candidate and weight are then trained on all train pairs with each seed and scored on dev once:
  mean ± std over the seeds.
Rows on dev: random ranking, the ImageNet-tags baseline (no training), the chosen learned space, and the chosen
blend. Per-fold CV results are cached in ``benchmarks/.cache/alignment-folds`` (a stopped run resumes).

    python benchmarks/alignment.py [--seeds 0 1 2] [--folds 3] [--candidates 0 1 ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"
GALLERY = 450  # pairs per retrieval gallery, as in the dev split
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75)  # the first must be 0: the learned space alone
RESULTS_VERSION = "alignment-cv/2"
# name, image side, CrossModalAligner settings (besides FIXED and the seed). A few thousand pairs overfit the heads
# within a few epochs, so the number of passes is a setting like the others.
CANDIDATES = (
    ("linear heads, 2 epochs", "pooled+words", {"hidden": 0, "epochs": 2}),
    ("linear heads, 6 epochs", "pooled+words", {"hidden": 0, "epochs": 6}),
    ("linear heads, <= 30 epochs, early stopping", "pooled+words", {"hidden": 0, "epochs": 30}),
    (
        "linear heads, 6 epochs, fixed temperature 0.05",
        "pooled+words",
        {"hidden": 0, "epochs": 6, "temperature": 0.05, "learn_temperature": False},
    ),
    ("two-layer heads, 2 epochs", "pooled+words", {"epochs": 2}),
    (
        "two-layer heads, dropout 0.5, wd 0.1, 6 epochs",
        "pooled+words",
        {"epochs": 6, "dropout": 0.5, "weight_decay": 0.1},
    ),
    ("linear heads, 6 epochs", "pooled", {"hidden": 0, "epochs": 6}),
)
FIXED = {"dim": 256, "batch_size": 128, "patience": 3}


def recalls(texts: np.ndarray, images: np.ndarray, retrieval_recall) -> tuple[float, float, float, float]:
    """Recall@1 and @10 from text to image, then from image to text."""
    return (
        retrieval_recall(texts, images, k=1),
        retrieval_recall(texts, images, k=10),
        retrieval_recall(images, texts, k=1),
        retrieval_recall(images, texts, k=10),
    )


def cross_validate(candidate, text, sides, tags, train, folds: int, seed: int = 0) -> dict:
    """Per blend weight, the per-fold held-out text->image R@10 of ``candidate`` trained on the other folds."""
    from _sentiment_mvsa import _array_digest, _digest, cached_json

    from socialfusion.encoders.alignment import CrossModalAligner, blend_spaces, cross_validated_recall

    name, side, settings = candidate
    image = sides[side]

    def compute():
        vectors = {}  # held-out rows -> (text vectors, image vectors, rows): one training per fold

        def learned(training, held_out):
            rows, test = train[training], train[held_out]
            aligner = CrossModalAligner(**FIXED, **settings, random_state=seed).fit(text[rows], image[rows])
            vectors[held_out.tobytes()] = (
                aligner.transform_text(text[test]),
                aligner.transform_image(image[test]),
                test,
            )
            return vectors[held_out.tobytes()][:2]

        def blended(weight):
            def score(training, held_out):
                queries, targets, test = vectors[held_out.tobytes()]
                return (
                    blend_spaces([queries, text[test]], [1 - weight, weight]),
                    blend_spaces([targets, tags[test]], [1 - weight, weight]),
                )

            return score

        options = {"folds": folds, "gallery": GALLERY, "random_state": seed}
        result = {str(BLEND_WEIGHTS[0]): cross_validated_recall(learned, len(train), **options)}
        for weight in BLEND_WEIGHTS[1:]:
            result[str(weight)] = cross_validated_recall(blended(weight), len(train), **options)
        return result

    key = (
        name,
        side,
        sorted(settings.items()),
        FIXED,
        folds,
        seed,
        _array_digest(text[train]),
        _array_digest(image[train]),
    )
    return cached_json(CACHE / "alignment-folds" / f"{_digest(RESULTS_VERSION, *key)}.json", compute)


def main() -> None:
    import torch
    from _sentiment_mvsa import encoded_mvsa, mvsa_posts, pooled_features, tag_words, trunk_activations

    from socialfusion.encoders.alignment import CrossModalAligner, blend_spaces, retrieval_recall

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="aligner training seeds (dev)")
    parser.add_argument("--folds", type=int, default=3, help="k of the k-fold CV over the train pairs")
    parser.add_argument(
        "--candidates", type=int, nargs="+", help="indices of the CANDIDATES to cross-validate (default: all)"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    candidates = CANDIDATES if args.candidates is None else tuple(CANDIDATES[index] for index in args.candidates)

    started = time.perf_counter()
    _, texts, images, _, splits = mvsa_posts()
    text = encoded_mvsa("text/minilm", texts)
    activations = trunk_activations(images)
    pooled = pooled_features(activations)
    words = tag_words(pooled, ~activations.missing)
    usable = ~text.missing & ~activations.missing & ~words.missing
    train, dev = np.flatnonzero(usable & (splits == "train")), np.flatnonzero(usable & (splits == "dev"))
    sides = {"pooled": pooled, "pooled+words": np.hstack([pooled, words.vectors])}
    print(
        f"MVSA-Single pairs with text and image: train {len(train):,}, dev {len(dev)} "
        f"(features in {time.perf_counter() - started:.0f} s)\n"
    )

    print(
        f"1. Settings chosen by {args.folds}-fold CV over the train pairs (seed 0): held-out text->image R@10 among "
        f"galleries of {GALLERY} pairs, mean ± std over folds; w = weight of the tags zero-shot space; "
        f"{len(candidates)} of the {len(CANDIDATES)} candidates\n"
    )
    print(f"{'candidate':<46}{'image side':<14}" + "".join(f"{'w=' + str(w):>15}" for w in BLEND_WEIGHTS))
    cv = []  # per candidate: blend weight -> per-fold recalls
    for candidate in candidates:
        fold_started = time.perf_counter()
        cv.append(cross_validate(candidate, text.vectors, sides, words.vectors, train, args.folds))
        cells = [f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" for v in (cv[-1][str(w)] for w in BLEND_WEIGHTS)]
        print(
            f"{candidate[0]:<46}{candidate[1]:<14}"
            + "".join(f"{cell:>15}" for cell in cells)
            + f"   ({time.perf_counter() - fold_started:.0f} s)",
            flush=True,
        )
    blocks = np.array_split(np.random.default_rng(0).permutation(train), len(train) // GALLERY)
    tags_train = np.mean([retrieval_recall(text.vectors[block], words.vectors[block], k=10) for block in blocks])
    learned_index = max(range(len(candidates)), key=lambda i: np.mean(cv[i][str(BLEND_WEIGHTS[0])]))
    blend_index, weight = max(
        ((i, w) for i in range(len(candidates)) for w in BLEND_WEIGHTS),
        key=lambda pair: np.mean(cv[pair[0]][str(pair[1])]),
    )
    best_learned, best_blend = candidates[learned_index], candidates[blend_index]
    print(f"\nImageNet tags baseline on train pairs (galleries of ~{GALLERY}, no training): {tags_train:.3f}")
    print(f"chosen learned space: {best_learned[0]}, image = {best_learned[1]}")
    print(f"chosen blend: {best_blend[0]}, image = {best_blend[1]}, w = {weight}")

    n = len(dev)
    rng = np.random.default_rng(0)
    rows = [
        ("random ranking (expected)", [(1 / n, 10 / n, 1 / n, 10 / n)]),
        ("random vectors (one draw)", [recalls(rng.normal(size=(n, 64)), rng.normal(size=(n, 64)), retrieval_recall)]),
        (
            "ImageNet top-5 tags as text, MiniLM cosine",
            [recalls(text.vectors[dev], words.vectors[dev], retrieval_recall)],
        ),
    ]
    learned_runs, blend_runs, epochs = [], [], []
    for seed in args.seeds:
        spaces = {}  # one training per distinct candidate and seed
        for index in dict.fromkeys([learned_index, blend_index]):
            _, side, settings = candidates[index]
            aligner = CrossModalAligner(**FIXED, **settings, random_state=seed)
            aligner.fit(text.vectors[train], sides[side][train])
            spaces[index] = aligner.transform_text(text.vectors[dev]), aligner.transform_image(sides[side][dev])
            epochs.append(len(aligner.history_))
        learned_runs.append(recalls(*spaces[learned_index], retrieval_recall))
        queries, targets = spaces[blend_index]
        queries = blend_spaces([queries, text.vectors[dev]], [1 - weight, weight])
        targets = blend_spaces([targets, words.vectors[dev]], [1 - weight, weight])
        blend_runs.append(recalls(queries, targets, retrieval_recall))
    rows.append((f"learned: {best_learned[0]}, image = {best_learned[1]}", learned_runs))
    rows.append((f"blend: learned ({best_blend[0]}, {best_blend[1]}) + tags, w = {weight}", blend_runs))
    print(
        f"\n2. Retrieval among the {n} held-out dev pairs, scored once "
        f"(learned rows: mean ± std over seeds {args.seeds})\n"
    )
    print(f"{'method':<72}{'text->image R@1':>17}{'R@10':>15}{'image->text R@1':>17}{'R@10':>15}")
    for name, runs in rows:
        values = np.array(runs)
        cells = [
            f"{mean:.3f}" + (f" ± {std:.3f}" if len(runs) > 1 else "")
            for mean, std in zip(values.mean(0), values.std(0, ddof=1) if len(runs) > 1 else values[0])
        ]
        print(f"{name:<72}{cells[0]:>17}{cells[1]:>15}{cells[2]:>17}{cells[3]:>15}")
    baseline = rows[2][1][0][1]
    for name, runs in rows[3:]:
        value = np.mean(np.array(runs)[:, 1])
        print(f"{name}: text->image R@10 {value:.3f} = {value / baseline:.2f}x the tags baseline ({baseline:.3f})")
    print(f"aligner epochs run (early stopping on 10% of train): {epochs}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
