"""Words from images: ImageNet tag sentences (from pooled features or pixels) and OCR text."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.exceptions import ConfigurationError
from socialfusion.learn.image_words import image_words, tag_sentence, tags_from_pooled

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")


def test_tag_sentence():
    sentence = tag_sentence([("golden_retriever", 0.9), ("tennis_ball", 0.05)])
    assert sentence == "a photo of golden retriever, tennis ball"
    assert tag_sentence([]) == ""


def test_tags_from_pooled_match_the_encoders_tags():
    from PIL import Image

    from socialfusion.encoders.image import EfficientNetEncoder

    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8))
    encoder = EfficientNetEncoder(backend="torch")
    pooled = encoder.encode([picture, picture]).vectors
    tags = tags_from_pooled(pooled, k=3, present=np.array([True, False]))
    assert [name for name, _ in tags[0]] == [name for name, _ in encoder.top_tags([picture], k=3)[0]]
    assert tags[1] == []
    with pytest.raises(ConfigurationError, match="1280"):
        tags_from_pooled(np.zeros((2, 10)))


def test_image_words_from_pixels_and_for_missing_items():
    from PIL import Image

    words = image_words([Image.new("RGB", (64, 64), "white"), None, b"not an image"], k=2)
    assert words[0].startswith("a photo of ") and words[0].count(",") == 1
    assert words[1] is None and words[2] is None
    with pytest.raises(ConfigurationError, match="tags=True, ocr=True"):
        image_words([None], tags=False, ocr=False)
