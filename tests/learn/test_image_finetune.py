"""Fine-tuning EfficientNet-Lite0's last blocks over cached trunk activations: shapes, missing images, agreement
with the frozen encoder, learning, and model files."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from PIL import Image  # noqa: E402

from socialfusion.exceptions import ConfigurationError, DataError  # noqa: E402
from socialfusion.learn.image_finetune import (  # noqa: E402
    EfficientNetTrunk,
    FineTunedImageBlocks,
    TrunkActivations,
    fine_tune_image_blocks,
)


def _pictures(n: int, seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Noisy reddish and bluish squares with a stripe: two classes a network tells apart at once."""
    rng = np.random.default_rng(seed)
    pictures, labels = [], []
    for index in range(n):
        red = index % 2 == 0
        pixels = rng.integers(0, 80, size=(64, 64, 3), dtype=np.uint8)
        pixels[..., 0 if red else 2] += 150
        pixels[20:30, :, 1] = 200 if red else 0
        pictures.append(Image.fromarray(pixels))
        labels.append("red" if red else "blue")
    return pictures, np.array(labels, dtype=object)


@pytest.fixture(scope="module")
def activations() -> tuple[TrunkActivations, np.ndarray, list]:
    pictures, labels = _pictures(24)
    items = [*pictures, None, b"not an image"]
    acts = EfficientNetTrunk(split_block=15, backend="torch").activations(
        items, n_views=2, random_state=0, batch_size=8
    )
    return acts, np.array([*labels, "red", "blue"], dtype=object), items


def test_views_shapes_and_missing_images_with_reasons(activations):
    acts, _, _ = activations
    assert acts.values.shape == (2, 26, 192, 7, 7) and acts.values.dtype == np.float16
    assert acts.missing.tolist() == [False] * 24 + [True, True]
    assert acts.reasons[24] == "no image" and acts.reasons[25]
    assert not acts.values[:, 24:].any()
    assert not np.array_equal(acts.values[0, :24], acts.values[1, :24])  # the augmented view differs


def test_same_seed_same_augmented_views():
    pictures, _ = _pictures(3)
    trunk = EfficientNetTrunk(split_block=15, backend="torch")
    first = trunk.activations(pictures, n_views=2, random_state=7)
    second = trunk.activations(pictures, n_views=2, random_state=7)
    assert np.array_equal(first.values, second.values)


def test_pretrained_tail_gives_the_frozen_encoders_features(activations):
    from socialfusion.encoders.image import EfficientNetEncoder

    acts, _, items = activations
    tail = FineTunedImageBlocks.pretrained(15)
    ours = tail.features(acts)
    reference = EfficientNetEncoder(backend="torch").encode(items[:6]).vectors
    cosine = (ours[:6] * reference).sum(1) / np.linalg.norm(ours[:6], axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() > 0.99
    assert not ours[24:].any()


def test_fine_tuning_learns_and_round_trips_through_safetensors(activations, tmp_path):
    acts, labels, _ = activations
    model = fine_tune_image_blocks(acts, labels, epochs=4, batch_size=8, validation_fraction=0, random_state=0)
    assert model.classes == ["blue", "red"]
    assert len(model.history) == 4
    predicted = model.predict(acts)
    assert (predicted[:24] == labels[:24]).mean() >= 0.9
    assert np.allclose(model.predict_proba(acts)[24:], 0.5)  # missing images: uniform
    folder = model.save(tmp_path / "tail")
    assert sorted(path.name for path in folder.iterdir()) == ["fine_tuning.json", "tail.safetensors"]
    loaded = FineTunedImageBlocks.load(folder)
    assert np.allclose(loaded.predict_proba(acts), model.predict_proba(acts), atol=1e-6)
    assert np.allclose(loaded.features(acts), model.features(acts), atol=1e-5)


def test_activations_save_and_load(activations, tmp_path):
    acts, _, _ = activations
    acts.subset(np.arange(20, 26)).save(tmp_path / "acts.npz")
    loaded = TrunkActivations.load(tmp_path / "acts.npz")
    assert np.array_equal(loaded.values, acts.values[:, 20:26]) and loaded.split_block == 15
    assert loaded.reasons[:4] == [None] * 4 and loaded.reasons[4] == "no image"


def test_bad_inputs_give_clear_errors(activations, tmp_path):
    acts, labels, _ = activations
    with pytest.raises(DataError, match="labels for"):
        fine_tune_image_blocks(acts, labels[:3])
    with pytest.raises(DataError, match="at least 2 classes"):
        fine_tune_image_blocks(acts, ["red"] * len(labels))
    with pytest.raises(ConfigurationError, match="split_block"):
        EfficientNetTrunk(split_block=17)
    with pytest.raises(ConfigurationError, match="starts at block 14"):
        FineTunedImageBlocks.pretrained(14).features(acts)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fine_tuning.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not a"):
        FineTunedImageBlocks.load(tmp_path / "bad")
    with pytest.raises(DataError, match="not a fine-tuned image model"):
        FineTunedImageBlocks.load(tmp_path / "absent")
