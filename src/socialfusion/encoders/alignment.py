"""Cross-modal alignment: a shared text-image space learned on a corpus's own pairs (no offline CLIP exists).

Two projection heads map frozen text features (e.g. MiniLM, 384-d) and frozen image features (e.g.
EfficientNet-Lite0, 1280-d) into one normalised space, trained with the symmetric contrastive (InfoNCE) loss of
CLIP: in a batch of pairs, each text must pick out its own image among the others and vice versa. Text-to-image
and image-to-text search are then cosine similarities in that space.

A few thousand pairs are few for such heads, so their regularisation (weight decay, dropout, temperature, linear or
two-layer heads) should be chosen on the training pairs alone: ``cross_validated_recall`` fits an aligner on all
folds but one and scores recall@k among the held-out fold's pairs (in galleries of a fixed size, so that the figure
compares with a held-out split of that size). ``fit`` also takes several views of each image (augmented copies:
``(n_views, n, d)``) and draws one per pair and epoch. ``blend_spaces`` joins spaces (the learned one, a zero-shot
one such as text against the words an image shows) so that cosine similarity in the joined space is the weighted
sum of the similarities in each.

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
from collections.abc import Callable
from typing import Any

import numpy as np

from socialfusion.exceptions import ConfigurationError, attempt_import

__all__ = ["CrossModalAligner", "blend_spaces", "cross_validated_recall", "retrieval_recall"]

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


def blend_spaces(parts: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Join spaces so that cosine similarity in the result is ``sum(w * cos_part) / sum(w)``.

    Each part's rows are L2-normalised and scaled by ``sqrt(w / sum(w))``; every joined row then has unit norm (when
    no part row is all zeros), and the dot product of two joined rows is the weighted mean of the parts' cosines.

    Args:
        parts: ``(n, d_i)`` arrays, row i of each describing the same item (e.g. the learned space and the
            zero-shot space of the same texts).
        weights: one non-negative weight per part, not all zero.

    Raises:
        ConfigurationError: parts and weights disagree, rows differ, or weights are negative or all zero.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if len(parts) != len(weights) or not len(parts) or (weights < 0).any() or not weights.sum() > 0:
        raise ConfigurationError(f"need one non-negative weight per part, not all zero; got {weights.tolist()}")
    if len({len(part) for part in parts}) != 1:
        raise ConfigurationError(f"every part needs the same rows; got {[len(part) for part in parts]}")
    weights = weights / weights.sum()
    blocks = []
    for part, weight in zip(parts, weights):
        part = np.asarray(part, np.float64)
        blocks.append(np.sqrt(weight) * part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12))
    return np.hstack(blocks).astype(np.float32)


def cross_validated_recall(
    score_fold: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    n: int,
    *,
    folds: int = 5,
    k: int = 10,
    gallery: int | None = None,
    random_state: int = 0,
) -> list[float]:
    """Text-to-image recall@k of each held-out fold: the aligner never saw the pairs it is scored on.

    Args:
        score_fold: ``score_fold(training_rows, held_out_rows)`` fits on the training pairs and returns the
            held-out pairs' ``(queries, targets)`` vectors (row i of each from pair ``held_out_rows[i]``).
        n: number of pairs.
        folds: k of the k-fold split (shuffled by ``random_state``).
        k: recall@k.
        gallery: score among galleries of this many held-out pairs (the fold cut into consecutive blocks of this
            size, a last block shorter than it dropped), so that a figure compares with a held-out split of that
            size; None: among the whole fold.
        random_state: seed of the folds.

    Returns:
        One recall per fold (the mean over its galleries), in fold order.

    Raises:
        ConfigurationError: fewer than two folds, or folds smaller than ``gallery`` or than ``k``.
    """
    from sklearn.model_selection import KFold

    size = n // folds if folds >= 2 else 0
    if folds < 2 or size < max(k, gallery or 0):
        raise ConfigurationError(
            f"{folds} folds of {n} pairs give {size} held-out pairs per fold: need at least 2 folds and "
            f"{max(k, gallery or 0)} pairs per fold"
        )
    result = []
    for training, held_out in KFold(folds, shuffle=True, random_state=random_state).split(np.zeros(n)):
        queries, targets = score_fold(training, held_out)
        block = gallery or len(held_out)
        starts = range(0, len(held_out) - block + 1, block)
        result.append(
            float(np.mean([retrieval_recall(queries[s : s + block], targets[s : s + block], k=k) for s in starts]))
        )
    return result


class CrossModalAligner:
    """Projection heads trained with a symmetric contrastive loss on paired text and image features.

    Args:
        dim: size of the shared space.
        hidden: hidden width of each two-layer head (0 for a linear head).
        epochs: passes over the training pairs.
        batch_size: pairs per contrastive batch (each pair's negatives are the batch's other pairs).
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        temperature: initial softmax temperature (learned, as in CLIP, unless ``learn_temperature`` is False).
        learn_temperature: learn the temperature (True) or keep it fixed.
        dropout: dropout inside each two-layer head.
        validation_fraction: share of pairs held out for early stopping on validation loss (0 to disable).
        patience: epochs without validation improvement before stopping.
        random_state: seed for initialisation, shuffling and the validation split.
        device: ``"cpu"``, ``"cuda"`` or None for CUDA when available.

    Attributes (after ``fit``):
        text_head_, image_head_: the trained torch modules.
        history_: per-epoch training and validation loss.
    """

    def __init__(
        self,
        dim: int = 256,
        hidden: int = 512,
        epochs: int = 100,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-2,
        temperature: float = 0.07,
        learn_temperature: bool = True,
        dropout: float = 0.1,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | None = 0,
        device: str | None = None,
    ):
        self.dim = dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.dropout = dropout
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
                torch.nn.Dropout(self.dropout),
                torch.nn.Linear(self.hidden, self.dim),
            )
        return torch.nn.Sequential(torch.nn.LayerNorm(input_dim), torch.nn.Linear(input_dim, self.dim))

    def _loss(self, torch: Any, text, image):
        text = torch.nn.functional.normalize(self.text_head_(text), dim=1)
        image = torch.nn.functional.normalize(self.image_head_(image), dim=1)
        logits = text @ image.T * self.log_scale_.exp().clamp(max=100.0)
        targets = torch.arange(len(text), device=text.device)
        return (
            torch.nn.functional.cross_entropy(logits, targets) + torch.nn.functional.cross_entropy(logits.T, targets)
        ) / 2

    def fit(self, text_features: np.ndarray, image_features: np.ndarray) -> CrossModalAligner:
        """Learn the heads from paired rows.

        Args:
            text_features: ``(n, d_text)``; row i describes the same post as ``image_features[i]``.
            image_features: ``(n, d_image)``, or ``(n_views, n, d_image)``: view 0 the plain image, the others
                augmented copies; each epoch draws one view per training pair (validation uses view 0).

        Raises:
            ConfigurationError: shapes disagree or fewer than 4 pairs.
        """
        torch = attempt_import("torch", "text")
        text_features = np.asarray(text_features, np.float32)
        image_views = np.asarray(image_features, np.float32)
        if image_views.ndim == 2:
            image_views = image_views[None]
        if text_features.ndim != 2 or image_views.ndim != 3 or len(image_views) < 1:
            raise ConfigurationError(
                f"text features must be (n, d) and image features (n, d) or (n_views, n, d); got shapes "
                f"{text_features.shape} and {np.shape(image_features)}"
            )
        if len(text_features) != image_views.shape[1] or len(text_features) < 4:
            raise ConfigurationError(
                f"need at least 4 aligned pairs, got {len(text_features)} texts and {image_views.shape[1]} images"
            )
        generator = torch.Generator().manual_seed(self.random_state or 0)
        torch.manual_seed(self.random_state or 0)
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.text_head_ = self._head(torch, text_features.shape[1]).to(device)
        self.image_head_ = self._head(torch, image_views.shape[2]).to(device)
        self.log_scale_ = torch.nn.Parameter(
            torch.tensor(np.log(1 / self.temperature), device=device), requires_grad=self.learn_temperature
        )
        parameters = [*self.text_head_.parameters(), *self.image_head_.parameters()]
        parameters += [self.log_scale_] if self.learn_temperature else []
        optimizer = torch.optim.AdamW(parameters, lr=self.learning_rate, weight_decay=self.weight_decay)

        order = np.random.default_rng(self.random_state).permutation(len(text_features))
        n_validation = int(len(order) * self.validation_fraction) if len(order) >= 40 else 0
        validation, train = order[:n_validation], order[n_validation:]
        texts = torch.as_tensor(text_features, device=device)
        views = torch.as_tensor(image_views, device=device)
        images = views[0]
        draw = np.random.default_rng(self.random_state)
        self.history_: list[dict[str, float]] = []
        best, best_state, stale = np.inf, None, 0
        for epoch in range(self.epochs):
            self.text_head_.train(), self.image_head_.train()
            permutation = torch.as_tensor(train)[torch.randperm(len(train), generator=generator)]
            epoch_images = views[torch.as_tensor(draw.integers(0, len(views), len(texts))), torch.arange(len(texts))]
            losses = []
            for start in range(0, len(permutation), self.batch_size):
                batch = permutation[start : start + self.batch_size].to(device)
                if len(batch) < 2:
                    continue
                loss = self._loss(torch, texts[batch], epoch_images[batch])
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
