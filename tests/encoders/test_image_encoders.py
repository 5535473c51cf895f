"""Tests for the image encoders: safe decoding, EfficientNet features and tags, histograms, HOG, OCR, augmentation."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from socialfusion.encoders import available_encoders, encoder_info, get_encoder
from socialfusion.encoders._image_decode import decode_image
from socialfusion.encoders.image import ColourHistogramEncoder, HogEncoder, augment
from socialfusion.exceptions import ConfigurationError, MediaError, MissingDependencyError

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encoded_bytes(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 20_000) -> bytes:
    """A valid 1-bit grey PNG whose header says ``side`` x ``side``: all zeros, about 60 KB compressed."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    rows_per_piece = 1000
    idat = b"".join(compressor.compress(row * rows_per_piece) for _ in range(side // rows_per_piece))
    idat += compressor.compress(row * (side % rows_per_piece)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def two_colour_picture(size=(64, 48), left=RED, right=BLUE) -> Image.Image:
    picture = Image.new("RGB", size, left)
    picture.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return picture


def animated_gif() -> bytes:
    frames = [Image.new("P", (16, 16), index) for index in (0, 1)]
    for frame in frames:
        frame.putpalette(list(RED + GREEN) + [0] * 762)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def palette_with_transparency() -> bytes:
    picture = Image.new("P", (16, 16), 0)
    picture.putpalette(list(BLUE + GREEN) + [0] * 762)
    picture.paste(1, (0, 0, 8, 16))
    return encoded_bytes(picture, "PNG", transparency=0)  # palette index 0 (the blue right half) is transparent


def rgba_half_transparent() -> bytes:
    picture = Image.new("RGBA", (16, 16), (0, 0, 255, 255))
    picture.paste((0, 0, 0, 0), (8, 0, 16, 16))
    return encoded_bytes(picture, "PNG")


def sixteen_bit_grey() -> bytes:
    values = np.full((16, 16), 65535, np.uint16)
    values[:, 8:] = 32896  # 128 * 257
    return encoded_bytes(Image.fromarray(values), "PNG")


def exif_rotated_jpeg() -> bytes:
    """Stored 40x20 with red left, blue right; EXIF orientation 6 says: show it turned 90 degrees clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded_bytes(two_colour_picture((40, 20)), "JPEG", exif=exif.tobytes(), quality=95)


@pytest.fixture(scope="module")
def bomb_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bomb_png())
    return path


@pytest.fixture
def mixed_batch(tmp_path, bomb_path) -> tuple[list, dict[int, str]]:
    """Good images interleaved with every kind of bad input, and the reason fragment each bad row must carry."""
    png_named_jpg = tmp_path / "really-a-png.jpg"
    png_named_jpg.write_bytes(encoded_bytes(two_colour_picture(left=GREEN), "PNG"))
    zero_bytes = tmp_path / "empty.jpg"
    zero_bytes.write_bytes(b"")
    text_file = tmp_path / "notes.png"
    text_file.write_text("this is not an image\n")
    jpeg = encoded_bytes(two_colour_picture((320, 240)), "JPEG", quality=90)
    cmyk = encoded_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG")
    items = [
        encoded_bytes(Image.new("RGB", (32, 32), RED), "PNG"),
        jpeg[: len(jpeg) // 2],
        str(png_named_jpg),
        bomb_path,
        str(zero_bytes),
        str(tmp_path / "no-such-file.png"),
        str(text_file),
        animated_gif(),
        palette_with_transparency(),
        rgba_half_transparent(),
        cmyk,
        sixteen_bit_grey(),
        exif_rotated_jpeg(),
        None,
        {"kind": "image", "uri": png_named_jpg.as_uri(), "data": None, "sha256": None, "error": None},
        {"kind": "image", "uri": "a.jpg", "data": None, "sha256": None, "error": "download failed (HTTP 404)"},
        "https://example.com/cat.jpg",
        jpeg,
        str(tmp_path / "nul\x00byte.png"),  # stored by something other than ingest, which refuses it
    ]
    missing = {
        1: "corrupt or truncated",
        3: "too large",
        4: "empty",
        5: "not found",
        6: "not an image",
        13: "no media",
        15: "HTTP 404",
        16: "remote media",
        18: "NUL character",
    }
    return items, missing


# -- safe decoding ------------------------------------------------------------------------------------------------


def test_decoding_goes_by_content_not_by_file_name(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(encoded_bytes(Image.new("RGB", (5, 3), GREEN), "PNG"))
    image = decode_image(path)
    assert image.mode == "RGB" and image.size == (5, 3) and image.getpixel((0, 0)) == GREEN


def test_decompression_bombs_are_refused_from_their_header_quickly(bomb_path):
    assert struct.unpack(">II", bomb_path.read_bytes()[16:24]) == (20_000, 20_000)
    smaller_bomb = bomb_png(8_000)
    started = time.perf_counter()
    with pytest.raises(MediaError, match=r"too large to decode .*decompression-bomb guard.*400000000 pixels"):
        decode_image(bomb_path)  # beyond Pillow's own limit, which refuses it inside Image.open
    with pytest.raises(MediaError, match=r"too large to decode: 8000x8000 = 64000000 pixels > max_pixels=50000000"):
        decode_image(smaller_bomb)  # under Pillow's limit, over ours
    assert time.perf_counter() - started < 1.0


def test_max_pixels_is_checked_before_decoding():
    small = encoded_bytes(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(MediaError, match="100x100 = 10000 pixels > max_pixels=9999"):
        decode_image(small, max_pixels=9999)
    assert decode_image(small, max_pixels=10_000).size == (100, 100)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (b"", "empty media"),
        (b"plain text, not pixels", "not an image in a supported format"),
        (encoded_bytes(Image.new("RGB", (64, 64)), "JPEG")[:200], "corrupt or truncated image"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),  # EPS would run Ghostscript
        (None, "no media"),
    ],
    ids=["zero bytes", "text", "truncated jpeg", "eps", "none"],
)
def test_bad_items_raise_media_error_with_reason(item, reason):
    with pytest.raises(MediaError, match=reason):
        decode_image(item)


def test_animated_gif_gives_its_first_frame():
    image = decode_image(animated_gif())
    assert image.mode == "RGB" and image.getpixel((3, 3)) == RED


def test_transparency_is_composited_on_white():
    palette = decode_image(palette_with_transparency())
    assert palette.getpixel((2, 2)) == GREEN and palette.getpixel((12, 2)) == WHITE
    rgba = decode_image(rgba_half_transparent())
    assert rgba.getpixel((2, 2)) == BLUE and rgba.getpixel((12, 2)) == WHITE


def test_cmyk_and_16_bit_images_become_8_bit_rgb():
    red, green, blue = decode_image(encoded_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG")).getpixel(
        (8, 8)
    )
    assert red > 240 and green < 15 and blue < 15
    grey = decode_image(sixteen_bit_grey())
    assert grey.mode == "RGB" and grey.getpixel((2, 2)) == WHITE and grey.getpixel((12, 2)) == (128, 128, 128)


def test_exif_orientation_is_applied():
    image = decode_image(exif_rotated_jpeg())
    assert image.size == (20, 40), "turned upright: width and height swap"
    top, bottom = np.asarray(image)[5, 10], np.asarray(image)[35, 10]
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0], "the stored left (red) half is now on top"


def test_decoded_image_is_independent_of_its_file(tmp_path):
    path = tmp_path / "red.png"
    path.write_bytes(encoded_bytes(Image.new("RGB", (4, 4), RED), "PNG"))
    image = decode_image(path)
    path.unlink()  # the file is closed and no longer needed
    assert image.getpixel((1, 1)) == RED


# -- one batch of good and bad images, per encoder ---------------------------------------------------------------


ENCODER_NAMES = [
    "image/colour-histogram",
    "image/hog",
    pytest.param("image/efficientnet", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_bad_items_are_missing_rows_and_good_rows_match_encoding_alone(name, mixed_batch):
    items, missing_reasons = mixed_batch
    encoder = get_encoder(name)
    encoded = encoder.encode(items, batch_size=4)

    assert encoded.vectors.shape == (len(items), encoder.dim) and encoded.vectors.dtype == np.float32
    assert encoded.missing.dtype == bool
    assert sorted(np.flatnonzero(encoded.missing).tolist()) == sorted(missing_reasons)
    for index, fragment in missing_reasons.items():
        assert fragment in encoded.reasons[index], (index, encoded.reasons[index])
        assert not encoded.vectors[index].any()
    for index in np.flatnonzero(~encoded.missing):
        assert encoded.reasons[index] is None
        alone = encoder.encode([items[index]]).vectors[0]
        np.testing.assert_allclose(encoded.vectors[index], alone, rtol=1e-5, atol=1e-5, err_msg=f"row {index}")
    assert encoded.vectors[~encoded.missing].any()


def test_image_encoders_are_registered_with_name_modality_and_version():
    names = available_encoders("image")
    for name in ("image/colour-histogram", "image/efficientnet", "image/hog", "image/open-clip", "image/transformers"):
        assert name in names and encoder_info(name) == {"name": name, "modality": "image", "extra": "image"}
    for name in ("image/colour-histogram", "image/hog"):
        encoder = get_encoder(name)
        assert (encoder.name, encoder.modality) == (name, "image") and encoder.version
    assert ColourHistogramEncoder(bins=(4, 4, 4)).version != ColourHistogramEncoder().version
    assert HogEncoder(cell=8).version != HogEncoder().version


def test_empty_input_and_bad_batch_size():
    assert ColourHistogramEncoder().encode([]).vectors.shape == (0, 128)
    with pytest.raises(ConfigurationError, match="batch_size"):
        ColourHistogramEncoder().encode([None], batch_size=0)


# -- the light path ---------------------------------------------------------------------------------------------


def test_colour_histogram_puts_pure_colours_in_their_bins():
    encoder = ColourHistogramEncoder()  # 8 hue x 4 saturation x 4 value bins, hue-major
    pictures = [Image.new("RGB", (20, 10), colour) for colour in (RED, GREEN, BLUE)]
    histograms = encoder.encode(pictures).vectors.reshape(3, 8, 4, 4)
    np.testing.assert_allclose(histograms.sum(axis=(1, 2, 3)), 1.0, rtol=1e-6)
    # Pillow's hue runs 0-255: red 0, green 85, blue 170 -> hue bins 0, 2, 5; full saturation and value -> bin 3.
    for histogram, hue_bin in zip(histograms, (0, 2, 5)):
        assert histogram[hue_bin, 3, 3] == pytest.approx(1.0)
    half = encoder.encode([two_colour_picture((20, 10), left=RED, right=WHITE)]).vectors.reshape(8, 4, 4)
    assert half[0, 3, 3] == pytest.approx(0.5) and half[:, 0, 3].sum() == pytest.approx(0.5)  # white: no saturation


def stripes(vertical: bool) -> Image.Image:
    picture = Image.new("L", (128, 128), 0)
    draw = ImageDraw.Draw(picture)
    for start in range(0, 128, 16):
        draw.rectangle((start, 0, start + 7, 127) if vertical else (0, start, 127, start + 7), fill=255)
    return picture


def test_hog_tells_horizontal_from_vertical_stripes():
    encoder = HogEncoder()  # 9 orientation bins of 20 degrees, centred at 10, 30, ..., 170
    vertical, horizontal = encoder.encode([stripes(True), stripes(False)]).vectors
    assert encoder.dim == 1764 and np.linalg.norm(vertical - horizontal) > 1.0
    vertical_bins, horizontal_bins = vertical.reshape(-1, 9).sum(axis=0), horizontal.reshape(-1, 9).sum(axis=0)
    assert vertical_bins[[0, 8]].sum() > 0.99 * vertical_bins.sum(), "vertical edges: horizontal gradients (0/180)"
    assert horizontal_bins[4] > 0.99 * horizontal_bins.sum(), "horizontal edges: vertical gradients (90)"


# -- augmentation -----------------------------------------------------------------------------------------------


def test_augment_is_deterministic_per_seed_and_varies_across_seeds():
    picture = two_colour_picture((96, 64))
    ImageDraw.Draw(picture).ellipse((10, 10, 40, 50), fill=GREEN)
    first, again = augment(picture, random_state=3), augment(picture, random_state=3)
    assert first.size == picture.size and first.mode == picture.mode
    assert first.tobytes() == again.tobytes()
    variants = {augment(picture, random_state=seed).tobytes() for seed in range(8)}
    assert len(variants) == 8
    generator = np.random.default_rng(0)
    assert augment(picture, random_state=generator).tobytes() != augment(picture, random_state=generator).tobytes()


def test_augment_flips_about_half_the_time():
    picture = two_colour_picture((40, 20))  # red left, blue right
    left_colours = [augment(picture, random_state=seed, max_rotation=0).getpixel((0, 10)) for seed in range(20)]
    assert set(left_colours) == {RED, BLUE} and 5 <= left_colours.count(BLUE) <= 15


# -- EfficientNet-Lite0 -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def efficientnet():
    return get_encoder("image/efficientnet")


@pytest.mark.slow
def test_efficientnet_features_are_deterministic_and_tell_images_apart(efficientnet):
    pictures = [two_colour_picture((120, 90)), stripes(True).convert("RGB"), Image.new("RGB", (50, 50), GREEN)]
    first = efficientnet.encode(pictures, batch_size=2)
    again = efficientnet.encode(pictures, batch_size=3)
    assert first.vectors.shape == (3, 1280) and not first.missing.any()
    np.testing.assert_allclose(first.vectors, again.vectors, rtol=1e-5, atol=1e-5)
    unit = first.vectors / np.linalg.norm(first.vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    assert cosine[np.triu_indices(3, 1)].max() < 0.95
    assert efficientnet.dim == 1280 and efficientnet.version == get_encoder("image/efficientnet").version


@pytest.mark.slow
def test_efficientnet_thread_setting_holds_only_while_it_runs():
    import torch

    before = torch.get_num_threads()
    encoder = get_encoder("image/efficientnet", num_threads=1, decode_workers=1)
    one_thread = encoder.encode([two_colour_picture()]).vectors
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(
        one_thread, get_encoder("image/efficientnet").encode([two_colour_picture()]).vectors, rtol=1e-4, atol=1e-5
    )


@pytest.mark.slow
def test_onnxruntime_and_torch_backends_give_the_same_features_and_tags():
    from sklearn import datasets
    pictures = [Image.fromarray(datasets.load_sample_image("flower.jpg")), two_colour_picture(), stripes(True)]
    onnx = get_encoder("image/efficientnet", backend="onnxruntime")
    eager = get_encoder("image/efficientnet", backend="torch")
    np.testing.assert_allclose(onnx.encode(pictures).vectors, eager.encode(pictures).vectors, rtol=1e-3, atol=1e-4)
    onnx_tags, eager_tags = onnx.top_tags(pictures, k=3)[0], eager.top_tags(pictures, k=3)[0]
    assert [name for name, _ in onnx_tags] == [name for name, _ in eager_tags]
    assert onnx.version == eager.version


def test_efficientnet_refuses_an_unknown_backend_or_onnxruntime_on_cuda():
    with pytest.raises(ConfigurationError, match="unknown backend"):
        get_encoder("image/efficientnet", backend="tensorrt")
    with pytest.raises(ConfigurationError, match="CPU only"):
        get_encoder("image/efficientnet", backend="onnxruntime", device="cuda")


@pytest.mark.slow
def test_top_tags_gives_imagenet_names_with_probabilities(efficientnet):
    from socialfusion.encoders._imagenet_classes import IMAGENET_CLASSES
    from socialfusion.encoders.image import top_tags

    assert len(IMAGENET_CLASSES) == 1000 and IMAGENET_CLASSES[0] == "tench"
    tags = top_tags([two_colour_picture(), None, stripes(False)], k=5)
    assert len(tags) == 3 and tags[1] == []
    for row in (tags[0], tags[2]):
        names, probabilities = zip(*row)
        assert len(row) == 5 and set(names) <= set(IMAGENET_CLASSES)
        assert list(probabilities) == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-6
    with pytest.raises(ConfigurationError, match="k must be"):
        efficientnet.top_tags([None], k=0)


@pytest.mark.slow
def test_top_tags_recognise_a_real_photo(efficientnet):
    from sklearn import datasets
    photo = Image.fromarray(datasets.load_sample_image("china.jpg"))  # a Chinese temple, shipped with scikit-learn
    names = [name for name, _ in efficientnet.top_tags([photo], k=3)[0]]
    assert {"palace", "monastery", "bell cote", "church"} & set(names), names


# -- OCR --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ocr_reads_a_drawn_word():
    from socialfusion.encoders.image import ocr_text

    meme = Image.new("RGB", (520, 160), WHITE)
    ImageDraw.Draw(meme).text((24, 40), "HELLO WORLD", fill=(0, 0, 0), font=ImageFont.load_default(size=60))
    texts = ocr_text([encoded_bytes(meme, "PNG"), None, Image.new("RGB", (200, 100), WHITE)])
    assert "HELLO" in texts[0].upper() and "WORLD" in texts[0].upper(), texts
    assert texts[1] is None and texts[2] == ""


# -- user-supplied models ---------------------------------------------------------------------------------------


def test_open_clip_without_the_package_names_its_pip_install():
    from importlib.util import find_spec

    if find_spec("open_clip") is not None:
        pytest.skip("open_clip is installed here")
    with pytest.raises(MissingDependencyError, match="pip install open_clip_torch"):
        get_encoder("image/open-clip", model="ViT-B-32", pretrained="laion2b_s34b_b79k")


def test_transformers_with_a_missing_local_path_fails_fast_and_clearly(tmp_path):
    started = time.perf_counter()
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigurationError, match="image model path does not exist") as error:
        get_encoder("image/transformers", model=str(missing))
    assert str(missing) in str(error.value)
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
def test_transformers_encodes_with_a_tiny_local_model_and_never_fetches_a_hub_id(tmp_path):
    import transformers
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    transformers.ViTModel(config).save_pretrained(tmp_path)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)

    encoder = get_encoder("image/transformers", model=str(tmp_path))
    encoded = encoder.encode([two_colour_picture(), None, b"not an image"], batch_size=2)
    assert encoder.dim == 32 and encoded.vectors.shape == (3, 32) and encoded.missing.tolist() == [False, True, True]
    with pytest.raises(ConfigurationError, match="local Hugging Face cache; pass allow_download=True"):
        get_encoder("image/transformers", model="no-such-organisation-socialfusion/no-such-model")


def test_missing_torch_gives_the_install_hint(monkeypatch):
    import socialfusion.encoders.image as image_module

    real_find_spec = image_module.importlib.util.find_spec
    monkeypatch.setattr(
        image_module.importlib.util, "find_spec", lambda name: None if name == "torch" else real_find_spec(name)
    )
    with pytest.raises(MissingDependencyError, match=r"torch.*pip install 'socialfusion\[image\]'"):
        get_encoder("image/efficientnet")


# -- import cost ------------------------------------------------------------------------------------------------


def test_importing_the_image_encoders_loads_no_heavy_dependency():
    heavy = ("torch", "cv2", "onnxruntime", "rapidocr_onnxruntime", "transformers", "efficientnet_lite_pytorch")
    code = f"import sys, socialfusion.encoders.image; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
