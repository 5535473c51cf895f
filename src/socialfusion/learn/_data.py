"""ModalityFeatures: the per-modality feature matrices of n items, with presence masks, that models learn from.

Examples:
    >>> import numpy as np
    >>> from socialfusion.encoders import Encoded
    >>> text = Encoded(np.ones((3, 2), np.float32), np.array([False, False, True]), [None, None, "empty text"])
    >>> image = Encoded(np.ones((3, 4), np.float32), np.array([False, True, True]), [None, "no image", "no image"])
    >>> features = ModalityFeatures.from_encoded({"text": text, "image": image})
    >>> len(features), features.dims, features.present_counts()
    (3, {'image': 4, 'text': 2}, {'image': 1, 'text': 2})
    >>> features.usable().tolist()  # item 2 has no modality at all
    [True, True, False]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from socialfusion.encoders import Encoded
from socialfusion.exceptions import ConfigurationError

__all__ = ["ModalityFeatures"]


@dataclass(frozen=True)
class ModalityFeatures:
    """Feature matrices of the same ``n`` items, one per modality, and which rows are present.

    Attributes:
        vectors: modality name -> ``(n, dim)`` float32; rows of absent items are zeros.
        present: modality name -> ``(n,)`` bool; True where the item has that modality.
        ids: the ``n`` item ids, or None.
    """

    vectors: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray]
    ids: Sequence[str] | None = field(default=None)

    def __post_init__(self):
        if not self.vectors:
            raise ConfigurationError("ModalityFeatures needs at least one modality")
        if set(self.vectors) != set(self.present):
            raise ConfigurationError(f"vectors for {sorted(self.vectors)} but masks for {sorted(self.present)}")
        sizes = {name: len(matrix) for name, matrix in self.vectors.items()}
        sizes.update({f"{name} mask": len(mask) for name, mask in self.present.items()})
        if self.ids is not None:
            sizes["ids"] = len(self.ids)
        if len(set(sizes.values())) > 1:
            raise ConfigurationError(f"every modality must have the same number of rows; got {sizes}")
        vectors, present = {}, {}
        for name in sorted(self.vectors):
            matrix = np.asarray(self.vectors[name], np.float32)
            if matrix.ndim != 2:
                raise ConfigurationError(f"vectors[{name!r}] must be (n, dim); got shape {matrix.shape}")
            mask = np.asarray(self.present[name], bool)
            vectors[name] = np.where(mask[:, None], np.nan_to_num(matrix), 0.0).astype(np.float32)
            present[name] = mask
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "present", present)
        object.__setattr__(self, "ids", None if self.ids is None else list(self.ids))

    @classmethod
    def from_encoded(cls, encoded: Mapping[str, Encoded], ids: Sequence[str] | None = None) -> ModalityFeatures:
        """From encoder outputs (a missing row becomes an absent one)."""
        return cls({name: value.vectors for name, value in encoded.items()},
                   {name: ~np.asarray(value.missing, bool) for name, value in encoded.items()}, ids)

    @classmethod
    def from_store(cls, store: Any, encoders: Mapping[str, str], ids: Sequence[str]) -> ModalityFeatures:
        """Stored features (see ``socialfusion.featurize``) of the posts ``ids``.

        Args:
            store: a featurized store.
            encoders: modality name -> encoder name, e.g.
                ``{"text": "text/minilm-int8", "image": "image/efficientnet"}``.
            ids: post ids, in the order wanted.
        """
        from socialfusion.featurize import load_features

        return cls.from_encoded({name: load_features(store, encoder, ids) for name, encoder in encoders.items()}, ids)

    def __len__(self) -> int:
        return len(next(iter(self.vectors.values())))

    @property
    def modalities(self) -> list[str]:
        """Modality names, sorted."""
        return list(self.vectors)

    @property
    def dims(self) -> dict[str, int]:
        """Modality name -> feature size."""
        return {name: matrix.shape[1] for name, matrix in self.vectors.items()}

    def present_counts(self) -> dict[str, int]:
        """Modality name -> number of items that have it."""
        return {name: int(mask.sum()) for name, mask in self.present.items()}

    def usable(self) -> np.ndarray:
        """``(n,)`` bool: items with at least one modality present."""
        return np.any(np.stack(list(self.present.values()), axis=1), axis=1)

    def subset(self, rows: Any) -> ModalityFeatures:
        """The items at ``rows`` (indices or a boolean mask), in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        ids = None if self.ids is None else [self.ids[index] for index in rows]
        return ModalityFeatures({name: matrix[rows] for name, matrix in self.vectors.items()},
                                {name: mask[rows] for name, mask in self.present.items()}, ids)

    def select(self, modalities: Sequence[str]) -> ModalityFeatures:
        """Only the named modalities."""
        unknown = set(modalities) - set(self.vectors)
        if unknown:
            raise ConfigurationError(f"unknown modalities {sorted(unknown)}; have {self.modalities}")
        return ModalityFeatures({name: self.vectors[name] for name in modalities},
                                {name: self.present[name] for name in modalities}, self.ids)

    def without(self, modality: str, fraction: float = 1.0, *, random_state: int = 0) -> ModalityFeatures:
        """A copy where ``fraction`` of the items that have ``modality`` lose it (chosen with ``random_state``).

        Used to test robustness to missing modalities: ``features.without("image", 0.5)``.
        """
        if modality not in self.vectors:
            raise ConfigurationError(f"unknown modality {modality!r}; have {self.modalities}")
        if not 0.0 <= fraction <= 1.0:
            raise ConfigurationError(f"fraction must be in [0, 1]; got {fraction}")
        having = np.flatnonzero(self.present[modality])
        chosen = np.random.default_rng(random_state).permutation(having)[: round(fraction * len(having))]
        present = dict(self.present)
        present[modality] = self.present[modality].copy()
        present[modality][chosen] = False
        return ModalityFeatures(self.vectors, present, self.ids)

    def concatenated(self) -> np.ndarray:
        """``(n, sum of dims + modalities)``: every modality's vectors side by side, then one presence flag each.

        The input of the classic learners (early fusion by concatenation).
        """
        return np.concatenate([*self.vectors.values(), np.stack(list(self.present.values()), 1).astype(np.float32)],
                              axis=1)
