"""What images say in words: ImageNet tags written as a sentence, and the text written in the image (OCR).

A text encoder then embeds these words like any text, so a classifier or an aligner can use what an image shows
("a photo of a birthday cake") and what it reads ("HAPPY BIRTHDAY") next to its pixel features.

``image_words(items, tags=True, ocr=False)`` runs the models; ``tags_from_pooled(pooled)`` turns pooled
EfficientNet-Lite0 features already computed (``image/efficientnet`` vectors) into tags without running the network
again.

Examples:
    >>> tag_sentence([("birthday_cake", 0.7), ("candle", 0.2)])
    'a photo of birthday cake, candle'
    >>> tag_sentence([])
    ''
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, attempt_import

__all__ = ["image_words", "tag_sentence", "tags_from_pooled"]


def tag_sentence(tags: Sequence[tuple[str, float]]) -> str:
    """``"a photo of name, name, ..."`` from ``(ImageNet class, probability)`` pairs; ``""`` for no tags."""
    if not tags:
        return ""
    return "a photo of " + ", ".join(name.replace("_", " ") for name, _ in tags)


@functools.cache
def _imagenet_classifier() -> Any:
    from socialfusion.learn.image_finetune import _efficientnet

    return _efficientnet(attempt_import("torch", "image"))._fc


def tags_from_pooled(
    pooled: np.ndarray, k: int = 5, *, present: np.ndarray | None = None
) -> list[list[tuple[str, float]]]:
    """The ``k`` most likely ImageNet classes from ``(n, 1280)`` pooled EfficientNet-Lite0 features.

    Args:
        pooled: ``image/efficientnet`` vectors (or ``FineTunedImageBlocks.pretrained().features``).
        k: classes per image.
        present: ``(n,)`` bool; rows marked False get no tags (None: all present).

    Returns:
        Per row, ``k`` ``(class name, probability)`` pairs, most likely first; an empty list for an absent row.
    """
    from socialfusion.encoders._imagenet_classes import IMAGENET_CLASSES

    torch = attempt_import("torch", "image")
    pooled = np.asarray(pooled, np.float32)
    if pooled.ndim != 2 or pooled.shape[1] != 1280:
        raise ConfigurationError(f"pooled features must be (n, 1280); got shape {pooled.shape}")
    if not 1 <= k <= len(IMAGENET_CLASSES):
        raise ConfigurationError(f"k must be between 1 and {len(IMAGENET_CLASSES)}, got {k}")
    with torch.inference_mode():
        probabilities = _imagenet_classifier()(torch.from_numpy(pooled)).softmax(dim=-1).numpy()
    present = np.ones(len(pooled), bool) if present is None else np.asarray(present, bool)
    tags = []
    for row, keep in zip(probabilities, present):
        best = np.argsort(-row, kind="stable")[:k] if keep else []
        tags.append([(IMAGENET_CLASSES[index], float(row[index])) for index in best])
    return tags


def image_words(items: Sequence[Any], *, tags: bool = True, ocr: bool = False, k: int = 5) -> list[str | None]:
    """Per image, its words: the tag sentence and/or the OCR text, joined by ``". "``.

    Args:
        items: media items, paths, bytes or PIL images (None: no image).
        tags: include ``tag_sentence`` of the top ``k`` ImageNet classes (``image/efficientnet``).
        ocr: include the text read in the image (RapidOCR; about a second per image on a CPU).
        k: tags per image.

    Returns:
        Per item, the words (``""`` when nothing was found), or None when the item has no decodable image.
    """
    from socialfusion.encoders.image import ocr_text, top_tags

    if not (tags or ocr):
        raise ConfigurationError("image_words needs tags=True, ocr=True or both")
    valid = [index for index, item in enumerate(items) if item is not None]
    chosen = [items[index] for index in valid]
    tag_lists = top_tags(chosen, k=k) if tags else None
    read = ocr_text(chosen) if ocr else None
    words: list[str | None] = [None] * len(items)
    for position, index in enumerate(valid):
        parts = []
        if tag_lists is not None:
            if not tag_lists[position]:
                continue  # not decodable
            parts.append(tag_sentence(tag_lists[position]))
        if read is not None:
            if read[position] is None:
                continue
            parts.append(" ".join(read[position].split()))
        words[index] = ". ".join(part for part in parts if part)
    return words
