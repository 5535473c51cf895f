"""Cross-modal alignment: a shared text-image space learned on a corpus's own pairs (no offline CLIP exists).

Two projection heads map frozen text features (e.g. MiniLM, 384-d) and frozen image features (e.g.
EfficientNet-Lite0, 1280-d) into one normalised space, trained with the symmetric contrastive (InfoNCE) loss of
CLIP: in a batch of pairs, each text must pick out its own image among the others and vice versa. Text-to-image
and image-to-text search are then cosine similarities in that space.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(200, 8))
    >>> texts, images = shared @ rng.normal(size=(8, 20)), shared @ rng.normal(size=(8, 30))
    >>> aligner = CrossModalAligner(dim=8, epochs=60, random_state=0).fit(texts, images)
    >>> retrieval_recall(aligner.transform_text(texts), aligner.transform_image(images), k=10) > 0.5
    True
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, attempt_import

__all__ = ["CrossModalAligner", "retrieval_recall"]

logger = logging.getLogger(__name__)


def retrieval_recall(queries: np.ndarray, targets: np.ndarray, *, k: int = 1) -> float:
    """Recall@k of pair retrieval: the share of queries whose own target (same row) is among their k nearest.

    Args:
        queries: ``(n, d)`` vectors, row i paired with ``targets[i]``.
        targets: ``(n, d)`` vectors.
        k: how many nearest targets count as found (cosine similarity).

    Returns:
        A fraction in [0, 1]; a random ranking scores ``k / n`` on average.
    """
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    targets = targets / np.maximum(np.linalg.norm(targets, axis=1, keepdims=True), 1e-12)
    similarity = queries @ targets.T
    own = np.diag(similarity)
    rank = (similarity > own[:, None]).sum(axis=1)  # how many targets beat the right one
    return float(np.mean(rank < k))


class CrossModalAligner:
    """Projection heads trained with a symmetric contrastive loss on paired text and image features.

    Args:
        dim: size of the shared space.
        hidden: hidden width of each two-layer head (0 for a linear head).
        epochs: passes over the training pairs.
        batch_size: pairs per contrastive batch (each pair's negatives are the batch's other pairs).
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        temperature: initial softmax temperature (learned, as in CLIP).
        validation_fraction: share of pairs held out for early stopping on validation loss (0 to disable).
        patience: epochs without validation improvement before stopping.
        random_state: seed for initialisation, shuffling and the validation split.
        device: ``"cpu"``, ``"cuda"`` or None for CUDA when available.

    Attributes (after ``fit``):
        text_head_, image_head_: the trained torch modules.
        history_: per-epoch training and validation loss.
    """

    def __init__(self, dim: int = 256, hidden: int = 512, epochs: int = 100, batch_size: int = 128,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-2, temperature: float = 0.07,
                 validation_fraction: float = 0.1, patience: int = 10, random_state: int | None = 0,
                 device: str | None = None):
        self.dim = dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    def _head(self, torch: Any, input_dim: int):
        if self.hidden:
            return torch.nn.Sequential(
                torch.nn.LayerNorm(input_dim),
                torch.nn.Linear(input_dim, self.hidden),
                torch.nn.GELU(),
                torch.nn.Dropout(0.1),
                torch.nn.Linear(self.hidden, self.dim),
            )
        return torch.nn.Sequential(torch.nn.LayerNorm(input_dim), torch.nn.Linear(input_dim, self.dim))

    def _loss(self, torch: Any, text, image):
        text = torch.nn.functional.normalize(self.text_head_(text), dim=1)
        image = torch.nn.functional.normalize(self.image_head_(image), dim=1)
        logits = text @ image.T * self.log_scale_.exp().clamp(max=100.0)
        targets = torch.arange(len(text), device=text.device)
        return (torch.nn.functional.cross_entropy(logits, targets)
                + torch.nn.functional.cross_entropy(logits.T, targets)) / 2

    def fit(self, text_features: np.ndarray, image_features: np.ndarray) -> CrossModalAligner:
        """Learn the heads from paired rows.

        Args:
            text_features: ``(n, d_text)``; row i describes the same post as ``image_features[i]``.
            image_features: ``(n, d_image)``.

        Raises:
            ConfigurationError: shapes disagree or fewer than 4 pairs.
        """
        torch = attempt_import("torch", "text")
        text_features = np.asarray(text_features, np.float32)
        image_features = np.asarray(image_features, np.float32)
        if len(text_features) != len(image_features) or len(text_features) < 4:
            raise ConfigurationError(
                f"need at least 4 aligned pairs, got {len(text_features)} texts and {len(image_features)} images"
            )
        generator = torch.Generator().manual_seed(self.random_state or 0)
        torch.manual_seed(self.random_state or 0)
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.text_head_ = self._head(torch, text_features.shape[1]).to(device)
        self.image_head_ = self._head(torch, image_features.shape[1]).to(device)
        self.log_scale_ = torch.nn.Parameter(torch.tensor(np.log(1 / self.temperature), device=device))
        parameters = [*self.text_head_.parameters(), *self.image_head_.parameters(), self.log_scale_]
        optimizer = torch.optim.AdamW(parameters, lr=self.learning_rate, weight_decay=self.weight_decay)

        order = np.random.default_rng(self.random_state).permutation(len(text_features))
        n_validation = int(len(order) * self.validation_fraction) if len(order) >= 40 else 0
        validation, train = order[:n_validation], order[n_validation:]
        texts = torch.as_tensor(text_features, device=device)
        images = torch.as_tensor(image_features, device=device)
        self.history_: list[dict[str, float]] = []
        best, best_state, stale = np.inf, None, 0
        for epoch in range(self.epochs):
            self.text_head_.train(), self.image_head_.train()
            permutation = torch.as_tensor(train)[torch.randperm(len(train), generator=generator)]
            losses = []
            for start in range(0, len(permutation), self.batch_size):
                batch = permutation[start : start + self.batch_size].to(device)
                if len(batch) < 2:
                    continue
                loss = self._loss(torch, texts[batch], images[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
            if n_validation:
                self.text_head_.eval(), self.image_head_.eval()
                with torch.inference_mode():
                    index = torch.as_tensor(validation, device=device)
                    record["validation_loss"] = float(self._loss(torch, texts[index], images[index]))
                if record["validation_loss"] < best - 1e-4:
                    best, stale = record["validation_loss"], 0
                    best_state = copy.deepcopy((self.text_head_.state_dict(), self.image_head_.state_dict()))
                else:
                    stale += 1
            self.history_.append(record)
            if n_validation and stale >= self.patience:
                logger.info("early stop at epoch %d (best validation loss %.4f)", epoch, best)
                break
        if best_state is not None:
            self.text_head_.load_state_dict(best_state[0])
            self.image_head_.load_state_dict(best_state[1])
        self.text_head_.eval(), self.image_head_.eval()
        return self

    def _transform(self, head_name: str, features: np.ndarray) -> np.ndarray:
        if not hasattr(self, head_name):
            raise ConfigurationError(
                "this CrossModalAligner is not fitted yet: call fit(text_features, image_features)"
            )
        torch = attempt_import("torch", "text")
        head = getattr(self, head_name)
        device = next(head.parameters()).device
        with torch.inference_mode():
            projected = head(torch.as_tensor(np.asarray(features, np.float32), device=device))
            return torch.nn.functional.normalize(projected, dim=1).cpu().numpy()

    def transform_text(self, text_features: np.ndarray) -> np.ndarray:
        """Text features ``(n, d_text)`` -> shared space ``(n, dim)``, L2-normalised."""
        return self._transform("text_head_", text_features)

    def transform_image(self, image_features: np.ndarray) -> np.ndarray:
        """Image features ``(n, d_image)`` -> shared space ``(n, dim)``, L2-normalised."""
        return self._transform("image_head_", image_features)

    def search(self, query: np.ndarray, candidates: np.ndarray, *, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` candidates nearest to each query, both already in the shared space.

        Returns:
            ``(indices, scores)``, each ``(n_queries, k)``, best first.
        """
        scores = np.asarray(query) @ np.asarray(candidates).T
        k = min(k, scores.shape[1])
        top = np.argsort(-scores, axis=1)[:, :k]
        return top, np.take_along_axis(scores, top, axis=1)
