"""Building blocks the fusion modules share: absent-row masking, masked softmax and mean, a feed-forward block.

Every fusion starts with ``mask_absent``: absent rows become zeros through ``torch.where`` before any layer sees
them, so neither their values (even NaN or infinity) nor their gradients can reach the output or the parameters.

Examples:
    >>> masked_softmax(torch.tensor([[0.0, 2.0], [5.0, 1.0]]), torch.tensor([[True, True], [False, True]]))
    tensor([[0.1192, 0.8808],
            [0.0000, 1.0000]])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from socialfusion.fusion._base import Fusion, FusionOutput, Tensor, check_inputs, nn, torch

__all__ = [
    "WeightedSumFusion",
    "feed_forward",
    "mask_absent",
    "masked_mean",
    "masked_softmax",
    "weights_by_modality",
]


def mask_absent(fusion: Fusion, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> tuple[
        dict[str, Tensor], Tensor]:
    """Zero the absent rows and stack the masks.

    Args:
        fusion: the module, for its sorted ``modalities``.
        features: per modality, ``(batch, dim)``.
        mask: per modality, ``(batch,)`` bool presence.

    Returns:
        ``(inputs, present)``: the features with absent rows set to exactly zero, and the ``(batch, modalities)``
        bool presence matrix, columns in ``fusion.modalities`` order.

    Examples:
        >>> fusion = Fusion({"image": 1, "text": 2}, 2)
        >>> inputs, present = mask_absent(fusion, {"image": torch.tensor([[float("nan")]]),
        ...     "text": torch.ones(1, 2)}, {"image": torch.tensor([False]), "text": torch.tensor([True])})
        >>> inputs["image"].tolist(), present.tolist()
        ([[0.0]], [[False, True]])
    """
    present = torch.stack([mask[name].bool() for name in fusion.modalities], dim=1)
    inputs = {
        name: torch.where(present[:, [column]], features[name], torch.zeros((), dtype=features[name].dtype))
        for column, name in enumerate(fusion.modalities)
    }
    return inputs, present


def masked_softmax(scores: Tensor, present: Tensor) -> Tensor:
    """Softmax over the present modalities; absent ones get exactly 0.

    Args:
        scores: ``(batch, modalities)`` finite scores.
        present: ``(batch, modalities)`` bool.

    Returns:
        ``(batch, modalities)`` weights, >= 0, summing to 1 over each item's present modalities (all 0 for an item
        with none).
    """
    # A finite floor rather than -inf: an item with nothing present gives zeros instead of NaN.
    floor = torch.finfo(scores.dtype).min
    weights = torch.softmax(scores.masked_fill(~present, floor), dim=-1)
    return torch.where(present, weights, torch.zeros((), dtype=weights.dtype))


def masked_mean(values: Tensor, present: Tensor) -> Tensor:
    """Mean of ``values`` over the present modalities.

    Args:
        values: ``(batch, modalities, dim)``.
        present: ``(batch, modalities)`` bool.

    Returns:
        ``(batch, dim)``; zeros for an item with nothing present.

    Examples:
        >>> values = torch.tensor([[[1.0], [3.0]], [[1.0], [float("nan")]]])
        >>> masked_mean(values, torch.tensor([[True, True], [True, False]])).tolist()
        [[2.0], [1.0]]
    """
    kept = torch.where(present[..., None], values, torch.zeros((), dtype=values.dtype))
    count = present.sum(dim=1, keepdim=True).clamp(min=1).to(values.dtype)
    return kept.sum(dim=1) / count


def weights_by_modality(fusion: Fusion, weights: Tensor) -> dict[str, Tensor]:
    """Split ``(batch, modalities)`` weights into ``{name: (batch,)}`` in ``fusion.modalities`` order."""
    return {name: weights[:, column] for column, name in enumerate(fusion.modalities)}


def feed_forward(input_dim: int, hidden_dim: int, output_dim: int, dropout: float) -> nn.Sequential:
    """The two-layer block used across fusions: Linear, LayerNorm, GELU, Dropout, Linear.

    Args:
        input_dim: input size.
        hidden_dim: hidden size.
        output_dim: output size.
        dropout: dropout probability after the activation.

    Examples:
        >>> feed_forward(3, 8, 2, 0.1)(torch.ones(5, 3)).shape
        torch.Size([5, 2])
    """
    return nn.Sequential(
        nn.Linear(input_dim, hidden_dim),
        nn.LayerNorm(hidden_dim),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, output_dim),
    )


class WeightedSumFusion(Fusion):
    """Base of the fusions that map each modality on its own and sum the results with weights over present ones.

    ``fused = sum_m weight_m * head_m(x_m)``, with the weights a softmax over the present modalities of learned
    per-modality logits (``learned_weights=True``) or of zeros (a plain mean).

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        make_head: builds a modality's head from its input size; the head maps ``(batch, dim)`` to
            ``(batch, output_dim)``.
        learned_weights: learn one logit per modality; False gives the uniform mean over present modalities.
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, make_head: Callable[[int], nn.Module],
                 learned_weights: bool):
        super().__init__(input_dims, output_dim)
        self.heads = nn.ModuleDict({name: make_head(dim) for name, dim in self.input_dims.items()})
        # Zeros: training starts from the plain mean.
        self.modality_logits = nn.Parameter(torch.zeros(len(self.modalities))) if learned_weights else None

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        outputs = torch.stack([self.heads[name](inputs[name]) for name in self.modalities], dim=1)
        logits = self.modality_logits if self.modality_logits is not None else outputs.new_zeros(len(self.modalities))
        weights = masked_softmax(logits.expand(present.shape), present)
        fused = (torch.where(present[..., None], outputs, torch.zeros((), dtype=outputs.dtype))
                 * weights[..., None]).sum(dim=1)
        return FusionOutput(fused, None, weights_by_modality(self, weights))
