"""Fine-tuning the packaged MiniLM end to end, and the fine-tuned model as a text encoder."""

from __future__ import annotations

import numpy as np
import pytest

from socialfusion.encoders import Encoder
from socialfusion.exceptions import ConfigurationError, DataError

pytestmark = pytest.mark.slow

POSITIVE = ["I love it", "great day", "so happy", "wonderful news", "best ever", "amazing view", "nice work",
            "lovely people", "fantastic food", "really good"]
NEGATIVE = ["I hate it", "awful day", "so sad", "terrible news", "worst ever", "ugly view", "bad work",
            "rude people", "disgusting food", "really poor"]


@pytest.fixture(scope="module")
def fine_tuned():
    from socialfusion.learn import fine_tune_text_encoder

    texts = POSITIVE + NEGATIVE + [f"{text}!" for text in POSITIVE + NEGATIVE]  # 40 sentences
    labels = (["positive"] * 10 + ["negative"] * 10) * 2
    return fine_tune_text_encoder(texts, labels, epochs=1, batch_size=16, max_length=32, device="cpu",
                                  validation=(POSITIVE[:3] + NEGATIVE[:3], ["positive"] * 3 + ["negative"] * 3))


def test_fine_tuning_changes_the_weights_and_encodes_like_an_encoder(fine_tuned):
    from socialfusion.encoders import get_encoder

    assert isinstance(fine_tuned, Encoder)
    assert (fine_tuned.name, fine_tuned.modality, fine_tuned.dim) == ("text/fine-tuned", "text", 384)
    assert fine_tuned.classes == ["negative", "positive"]
    record = fine_tuned.history[0]
    assert record["epoch"] == 0 and record["train_loss"] > 0 and 0 <= record["validation_accuracy"] <= 1

    encoded = fine_tuned.encode(["what a great day", None, "   "])
    assert encoded.vectors.shape == (3, 384) and encoded.missing.tolist() == [False, True, True]
    assert encoded.reasons[1:] == ["empty text", "empty text"]
    assert np.linalg.norm(encoded.vectors[0]) == pytest.approx(1.0, abs=1e-5)
    original = get_encoder("text/minilm", device="cpu").encode(["what a great day"]).vectors[0]
    assert not np.allclose(encoded.vectors[0], original, atol=1e-4)  # the weights moved
    assert float(encoded.vectors[0] @ original) > 0.9  # but not far, after one epoch at 2e-5


def test_the_encoder_round_trips_through_a_folder(fine_tuned, tmp_path):
    from socialfusion.learn import FineTunedTextEncoder

    folder = fine_tuned.save(tmp_path / "encoder")
    loaded = FineTunedTextEncoder.load(folder, device="cpu")

    texts = ["so happy today", "a terrible, awful film"]
    assert loaded.version == fine_tuned.version
    assert np.array_equal(loaded.encode(texts).vectors, fine_tuned.encode(texts).vectors)
    assert loaded.classes == fine_tuned.classes and loaded.max_length == 32
    assert loaded.history == fine_tuned.history


def test_bad_inputs_are_explained(tmp_path):
    from socialfusion.learn import FineTunedTextEncoder, fine_tune_text_encoder

    with pytest.raises(DataError, match="two classes"):
        fine_tune_text_encoder(["a", "b"], ["x", "x"])
    with pytest.raises(DataError, match="3 training texts but 2 labels"):
        fine_tune_text_encoder(["a", "b", "c"], ["x", "y"])
    with pytest.raises(ConfigurationError, match="local Hugging Face model folder"):
        fine_tune_text_encoder(["a", "b"], ["x", "y"], model=tmp_path / "absent")
    with pytest.raises(DataError, match="no fine-tuned text encoder"):
        FineTunedTextEncoder.load(tmp_path)
