"""Cross-modal retrieval on MVSA-Single: the learned text-image space vs a random ranking and an ImageNet-tags baseline.

Pairs are the MVSA-Single posts with text and image: the aligner trains on the CLMLF train split's pairs (3,611) and
is scored on the dev split's 450 pairs (held out, looked at once). Text features: MiniLM (``text/minilm``); image
features: EfficientNet-Lite0 pooled (``image/efficientnet``), optionally next to the MiniLM embedding of the image's
top-5 ImageNet tags written as a sentence ("a photo of ..."). Rows, scored on the same dev pairs:
- random: a random ranking (recall@k = k / n in expectation; the empirical value of one shuffle is printed too);
- ImageNet tags to text: the tag sentence's MiniLM embedding compared with the tweet's (no training);
- learned shared space (``CrossModalAligner``, default settings, not tuned), image = EfficientNet, or EfficientNet +
  tag-sentence embedding; mean ± std over 3 training seeds.

Features are shared with ``benchmarks/sentiment.py`` (``benchmarks/.cache``).

    python benchmarks/alignment.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def recalls(texts: np.ndarray, images: np.ndarray, retrieval_recall) -> tuple[float, float, float, float]:
    """Recall@1 and @10 from text to image, then from image to text."""
    return (
        retrieval_recall(texts, images, k=1),
        retrieval_recall(texts, images, k=10),
        retrieval_recall(images, texts, k=1),
        retrieval_recall(images, texts, k=10),
    )


def main() -> None:
    from _sentiment_mvsa import encoded_mvsa, mvsa_posts, pooled_features, tag_words, trunk_activations

    from socialfusion.encoders.alignment import CrossModalAligner, retrieval_recall

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="aligner training seeds")
    args = parser.parse_args()

    started = time.perf_counter()
    _, texts, images, _, splits = mvsa_posts()
    text = encoded_mvsa("text/minilm", texts)
    activations = trunk_activations(images)
    pooled = pooled_features(activations)
    words = tag_words(pooled, ~activations.missing)
    usable = ~text.missing & ~activations.missing & ~words.missing
    train, dev = usable & (splits == "train"), usable & (splits == "dev")
    print(
        f"MVSA-Single pairs with text and image: train {train.sum():,}, dev {dev.sum()} "
        f"(features in {time.perf_counter() - started:.0f} s)"
    )

    n = int(dev.sum())
    rng = np.random.default_rng(0)
    rows = [
        ("random ranking (expected)", [(1 / n, 10 / n, 1 / n, 10 / n)]),
        ("random vectors (one draw)", [recalls(rng.normal(size=(n, 64)), rng.normal(size=(n, 64)), retrieval_recall)]),
        (
            "ImageNet top-5 tags as text, MiniLM cosine",
            [recalls(text.vectors[dev], words.vectors[dev], retrieval_recall)],
        ),
    ]
    sides = {"EfficientNet": pooled, "EfficientNet + tag words": np.hstack([pooled, words.vectors])}
    epochs = {}
    for name, image in sides.items():
        runs = []
        for seed in args.seeds:
            aligner = CrossModalAligner(dim=256, epochs=200, batch_size=128, random_state=seed)
            aligner.fit(text.vectors[train], image[train])
            runs.append(
                recalls(
                    aligner.transform_text(text.vectors[dev]), aligner.transform_image(image[dev]), retrieval_recall
                )
            )
            epochs.setdefault(name, []).append(len(aligner.history_))
        rows.append((f"learned space, image = {name}", runs))
    print(
        f"\nRetrieval among the {n} held-out MVSA-Single dev pairs (learned rows: mean ± std over seeds {args.seeds})\n"
    )
    print(f"{'method':<50}{'text->image R@1':>17}{'R@10':>15}{'image->text R@1':>17}{'R@10':>15}")
    for name, runs in rows:
        values = np.array(runs)
        cells = [
            f"{mean:.3f}" + (f" ± {std:.3f}" if len(runs) > 1 else "")
            for mean, std in zip(values.mean(0), values.std(0, ddof=1) if len(runs) > 1 else values[0])
        ]
        print(f"{name:<50}{cells[0]:>17}{cells[1]:>15}{cells[2]:>17}{cells[3]:>15}")
    baseline = rows[2][1][0][1]
    best = max(np.mean(np.array(runs)[:, 1]) for _, runs in rows[3:])
    print(
        f"\nbest learned text->image R@10 {best:.3f} = {best / baseline:.2f}x the tags baseline ({baseline:.3f}); "
        f"aligner epochs (early stopping on 10% of train): {epochs}"
    )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
