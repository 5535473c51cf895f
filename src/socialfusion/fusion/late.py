"""Late (decision-level) fusion: one predictor per modality, combined with learned weights over the present ones."""

from __future__ import annotations

from collections.abc import Mapping

from socialfusion.fusion._base import register_fusion
from socialfusion.fusion._layers import WeightedSumFusion, feed_forward

__all__ = ["LateFusion"]


@register_fusion("late")
class LateFusion(WeightedSumFusion):
    """Decision-level fusion: each modality predicts on its own; the predictions are averaged with learned weights.

    Each modality has a small MLP (Linear, LayerNorm, GELU, Dropout, Linear) producing ``output_dim`` outputs
    (logits, scores); ``fused = sum_m weight_m * prediction_m`` with the weights a softmax of learned per-modality
    logits over the present modalities (returned as ``weights``). ``decision_level`` is True: ``fused`` is the
    prediction and the model puts no head on top.

    Args:
        input_dims: each modality's feature size.
        output_dim: number of outputs (classes, targets).
        hidden_dim: width of each modality's hidden layer.
        dropout: dropout in each modality's MLP.

    Examples:
        >>> import torch
        >>> fusion = LateFusion({"image": 4, "text": 3}, output_dim=2, hidden_dim=8)
        >>> output = fusion({"image": torch.randn(2, 4), "text": torch.randn(2, 3)},
        ...                 {"image": torch.tensor([True, False]), "text": torch.tensor([True, True])})
        >>> output.fused.shape, output.weights["image"].tolist()
        (torch.Size([2, 2]), [0.5, 0.0])
    """

    decision_level = True

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, hidden_dim: int = 64, dropout: float = 0.1):
        super().__init__(input_dims, output_dim, lambda dim: feed_forward(dim, hidden_dim, output_dim, dropout),
                         learned_weights=True)
