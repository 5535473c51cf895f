"""Safe image decoding for the image and video encoders: one RGB picture per media item, or a MediaError reason.

Decoding goes by content, never by file name (a PNG named ``.jpg`` decodes as a PNG), only through a short list of
common raster formats (no plug-in that runs an external program, such as EPS), and refuses images whose header
announces more pixels than ``max_pixels`` before a single pixel is decoded, so a 20000x20000 "decompression bomb"
costs a header read. Whatever goes wrong (no file, zero bytes, truncated data, not an image) becomes a
``MediaError`` whose message is the reason an encoder records for the row.

Examples:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("LA", (3, 2), (0, 0)).save(buffer, "PNG")  # grey + fully transparent alpha
    >>> image = decode_image(buffer.getvalue())
    >>> image.mode, image.size, image.getpixel((0, 0))
    ('RGB', (3, 2), (255, 255, 255))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from socialfusion.encoders._media import open_media
from socialfusion.exceptions import MediaError

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_FORMATS", "decode_image"]

DEFAULT_MAX_PIXELS = 50_000_000
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")

_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}
_MODES_WITH_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}
_TRANSPARENT_BACKGROUND = (255, 255, 255)


def decode_image(item: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int | None = None) -> Image.Image:
    """Decode one image item to an upright RGB picture.

    The first frame of an animation is used; EXIF orientation is applied; palette, grey, alpha (composited on
    white), CMYK and 16-bit images are converted to 8-bit RGB.

    Args:
        item: a post media mapping (``uri`` or ``data``, maybe an ingest ``error``), a path or raw bytes (see
            ``socialfusion.encoders._media.media_source``), or an already decoded PIL image (converted only).
        max_pixels: refuse an image whose header announces more than this many pixels (width * height).
            Pillow's own decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 MP warns and twice
            that refuses) still applies above it.
        min_side: when set, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as both sides stay at least
            this long: much faster for a model that shrinks the picture anyway. None decodes at full size.

    Returns:
        A new RGB image, independent of the source (a file is closed again).

    Raises:
        MediaError: no item, missing or empty file, a remote URI, too many pixels, not an image in a supported
            format, or corrupt/truncated data; the message says which.
    """
    if isinstance(item, Image.Image):
        _check_pixel_count(item.size, max_pixels)
        return _to_rgb(item)
    with open_media(item) as file:
        try:
            with Image.open(file, formats=SUPPORTED_FORMATS) as image:
                _check_pixel_count(image.size, max_pixels)
                if min_side and image.format == "JPEG":
                    image.draft("RGB", (min_side, min_side))
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise MediaError(f"image too large to decode (Pillow's decompression-bomb guard): {error}") from None
        except UnidentifiedImageError:
            raise MediaError(f"not an image in a supported format ({', '.join(SUPPORTED_FORMATS)})") from None
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
            # Pillow reports truncated or corrupt data with any of these, depending on the format and the stage.
            raise MediaError(f"corrupt or truncated image: {error}") from None


def _check_pixel_count(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise MediaError(
            f"image too large to decode: {width}x{height} = {width * height} pixels > max_pixels={max_pixels}"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """A new 8-bit RGB copy of ``image``: 16-bit values scaled (not clipped), transparency composited on white."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257.0
        return Image.fromarray(np.round(values).astype(np.uint8)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _MODES_WITH_ALPHA:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _TRANSPARENT_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
