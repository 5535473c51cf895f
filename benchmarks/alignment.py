"""Cross-modal retrieval on MVSA-Single: the learned text-image space vs a random ranking and an ImageNet-tags baseline.

Pairs are the MVSA-Single posts that have an image: the aligner trains on the CLMLF train split's pairs and is
scored on the dev split's pairs (held out). Text features: MiniLM (int8 ONNX); image features: EfficientNet-Lite0.
Baselines, scored on the same dev pairs:
- random: a random ranking (recall@k = k / n in expectation; the empirical value of one shuffle is printed too);
- ImageNet tags to text: each image's top-5 ImageNet classes written as a sentence, embedded with the same MiniLM,
  compared with the tweets' MiniLM embeddings (what one can do offline without a joint space).

    python benchmarks/alignment.py [--root ../shared/data]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def mvsa_pairs(root: str | None):
    """(post ids, texts, image uris, split) of the MVSA-Single posts that have an image."""
    from socialfusion.datasets import load_mvsa_single

    corpus = load_mvsa_single(root)
    split = dict(zip(corpus.labels.column("item_id").to_pylist(), corpus.labels.column("split").to_pylist()))
    ids, texts, images, splits = [], [], [], []
    for row in corpus.posts.select(["post_id", "text", "media"]).to_pylist():
        media = [item for item in row["media"] or [] if item["kind"] == "image"]
        if media and split.get(row["post_id"]) in ("train", "dev"):
            ids.append(row["post_id"])
            texts.append(row["text"])
            images.append(media[0])
            splits.append(split[row["post_id"]])
    return ids, texts, images, np.array(splits)


def recalls(texts: np.ndarray, images: np.ndarray, retrieval_recall) -> tuple[float, float, float, float]:
    """Recall@1 and @10 from text to image, then from image to text."""
    return (retrieval_recall(texts, images, k=1), retrieval_recall(texts, images, k=10),
            retrieval_recall(images, texts, k=1), retrieval_recall(images, texts, k=10))


def main() -> None:
    from socialfusion.encoders import get_encoder
    from socialfusion.encoders.alignment import CrossModalAligner, retrieval_recall
    from socialfusion.encoders.image import top_tags

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="shared data folder (default: ../shared/data)")
    args = parser.parse_args()

    started = time.perf_counter()
    ids, texts, images, splits = mvsa_pairs(args.root)
    text_encoder, image_encoder = get_encoder("text/minilm-int8"), get_encoder("image/efficientnet")
    text_features = text_encoder.encode(texts, batch_size=64)
    image_features = image_encoder.encode(images, batch_size=32)
    usable = ~text_features.missing & ~image_features.missing
    train, dev = usable & (splits == "train"), usable & (splits == "dev")
    print(f"MVSA-Single pairs with text and image: train {train.sum()}, dev {dev.sum()} "
          f"(features in {time.perf_counter() - started:.0f} s)")

    aligner = CrossModalAligner(dim=256, epochs=200, batch_size=128, random_state=0)
    aligner.fit(text_features.vectors[train], image_features.vectors[train])
    dev_text = aligner.transform_text(text_features.vectors[dev])
    dev_image = aligner.transform_image(image_features.vectors[dev])

    dev_images = [image for image, keep in zip(images, dev) if keep]
    tag_sentences = ["a photo of " + ", ".join(name.replace("_", " ") for name, _ in tags)
                     for tags in top_tags(dev_images, k=5)]
    tag_vectors = text_encoder.encode(tag_sentences, batch_size=64).vectors
    tweet_vectors = text_features.vectors[dev]

    n = int(dev.sum())
    rng = np.random.default_rng(0)
    random_text, random_image = rng.normal(size=(n, 64)), rng.normal(size=(n, 64))
    rows = [
        ("random ranking (expected)", (1 / n, 10 / n, 1 / n, 10 / n)),
        ("random vectors (one draw)", recalls(random_text, random_image, retrieval_recall)),
        ("ImageNet top-5 tags as text, MiniLM cosine", recalls(tweet_vectors, tag_vectors, retrieval_recall)),
        ("learned shared space (CrossModalAligner)", recalls(dev_text, dev_image, retrieval_recall)),
    ]
    print(f"\nRetrieval among the {n} held-out MVSA-Single dev pairs\n")
    print(f"{'method':<46}{'text->image R@1':>17}{'R@10':>8}{'image->text R@1':>17}{'R@10':>8}")
    for name, (t1, t10, i1, i10) in rows:
        print(f"{name:<46}{t1:>17.3f}{t10:>8.3f}{i1:>17.3f}{i10:>8.3f}")
    epochs = len(aligner.history_)
    print(f"\naligner: {epochs} epochs (early stopping on a 10% validation share of the train pairs)")


if __name__ == "__main__":
    main()
