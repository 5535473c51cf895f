"""Interaction fusion: what two modalities say together, agreement and disagreement, not only side by side.

Concatenating global vectors leaves a classifier to find interactions on its own, which a few thousand posts rarely
teach it. A sarcastic post is often a positive text over a negative image: the signal is in how the two relate.
``InteractionFusion`` projects every modality into one space and, for every pair of modalities present together,
adds their element-wise product (where they agree), their absolute difference (where they disagree) and their
cosine similarity (how far they agree overall) to the unimodal projections and presence flags; an MLP reads the
lot. A pair with an absent member contributes exactly zeros, and a flag says whether the pair was there.

Examples:
    >>> fusion = InteractionFusion({"image": 4, "text": 3}, output_dim=2, shared_dim=5)
    >>> output = fusion({"image": torch.randn(6, 4), "text": torch.randn(6, 3)},
    ...                 {"image": torch.tensor([True, False] * 3), "text": torch.ones(6, dtype=torch.bool)})
    >>> output.fused.shape
    torch.Size([6, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from socialfusion.fusion._base import Fusion, FusionOutput, Tensor, check_inputs, nn, register_fusion, torch
from socialfusion.fusion._layers import mask_absent

__all__ = ["InteractionFusion", "pair_interactions"]


def pair_interactions(left: Tensor, right: Tensor, both: Tensor) -> Tensor:
    """``[left * right, |left - right|, cos(left, right), 1]`` where ``both`` is True, zeros elsewhere.

    Args:
        left, right: ``(batch, dim)`` projections of two modalities.
        both: ``(batch,)`` bool: both modalities present.

    Returns:
        ``(batch, 2 * dim + 2)``.

    Examples:
        >>> pair_interactions(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([True])).tolist()
        [[1.0, 0.0, 0.0, 0.0, 1.0, 1.0]]
    """
    cosine = torch.nn.functional.cosine_similarity(left, right, dim=1, eps=1e-6)[:, None]
    terms = torch.cat([left * right, (left - right).abs(), cosine, torch.ones_like(cosine)], dim=1)
    return torch.where(both[:, None], terms, torch.zeros((), dtype=terms.dtype))


@register_fusion("interaction")
class InteractionFusion(Fusion):
    """Unimodal projections plus pairwise agreement/disagreement terms, read by a small MLP.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        shared_dim: size of the space every modality is projected into.
        hidden: hidden units of the MLP over the concatenated terms.
        dropout: dropout on the projections and in the MLP.
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        output_dim: int,
        shared_dim: int = 64,
        hidden: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__(input_dims, output_dim)
        self.pairs = list(itertools.combinations(self.modalities, 2))
        self.projections = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.Linear(dim, shared_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(shared_dim, shared_dim)
                )
                for name, dim in self.input_dims.items()
            }
        )
        width = len(self.modalities) * (shared_dim + 1) + len(self.pairs) * (2 * shared_dim + 2)
        self.output = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, output_dim)
        )

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        projected, parts = {}, []
        for column, name in enumerate(self.modalities):
            vector = self.projections[name](inputs[name])
            projected[name] = torch.where(present[:, [column]], vector, torch.zeros((), dtype=vector.dtype))
            parts += [projected[name], present[:, [column]].to(vector.dtype)]
        column_of = {name: column for column, name in enumerate(self.modalities)}
        for left, right in self.pairs:
            both = present[:, column_of[left]] & present[:, column_of[right]]
            parts.append(pair_interactions(projected[left], projected[right], both))
        return FusionOutput(self.output(torch.cat(parts, dim=1)))
