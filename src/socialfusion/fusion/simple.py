"""Baseline fusions: mean and learned-weight sums of projections, early concatenation, linear and MLP fusion."""

from __future__ import annotations

from collections.abc import Mapping

from socialfusion.fusion._base import Fusion, FusionOutput, Tensor, check_inputs, nn, register_fusion, torch
from socialfusion.fusion._layers import WeightedSumFusion, feed_forward, mask_absent

__all__ = ["ConcatFusion", "LinearFusion", "MeanFusion", "MlpFusion", "WeightedFusion"]


def _dropout_then_linear(input_dim: int, output_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(input_dim, output_dim))


@register_fusion("mean")
class MeanFusion(WeightedSumFusion):
    """Project each modality to ``output_dim`` with its own linear layer, then average over the present ones.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        dropout: dropout on the features before projection.

    Examples:
        >>> fusion = MeanFusion({"image": 4, "text": 3}, output_dim=2).eval()
        >>> output = fusion({"image": torch.ones(5, 4), "text": torch.ones(5, 3)},
        ...                 {"image": torch.ones(5, dtype=torch.bool), "text": torch.ones(5, dtype=torch.bool)})
        >>> output.fused.shape, output.weights["text"].tolist()
        (torch.Size([5, 2]), [0.5, 0.5, 0.5, 0.5, 0.5])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, dropout: float = 0.1):
        super().__init__(input_dims, output_dim, lambda dim: _dropout_then_linear(dim, output_dim, dropout),
                         learned_weights=False)


@register_fusion("weighted")
class WeightedFusion(WeightedSumFusion):
    """Like "mean", but with one learned scalar weight per modality, softmax-normalised over the present ones.

    The weights are the same for every item with the same modalities present; they start equal (the mean).

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        dropout: dropout on the features before projection.

    Examples:
        >>> fusion = WeightedFusion({"image": 4, "text": 3}, output_dim=2).eval()
        >>> output = fusion({"image": torch.ones(2, 4), "text": torch.ones(2, 3)},
        ...                 {"image": torch.tensor([True, False]), "text": torch.tensor([True, True])})
        >>> output.fused.shape, output.weights["image"].tolist(), output.weights["text"].tolist()
        (torch.Size([2, 2]), [0.5, 0.0], [0.5, 1.0])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, dropout: float = 0.1):
        super().__init__(input_dims, output_dim, lambda dim: _dropout_then_linear(dim, output_dim, dropout),
                         learned_weights=True)


def concat_with_presence(fusion: Fusion, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> Tensor:
    """The early-fusion input: every modality's features (zeros where absent) then one presence flag per modality.

    Args:
        fusion: the module, for its sorted ``modalities``.
        features: per modality, ``(batch, dim)``.
        mask: per modality, ``(batch,)`` bool presence.

    Returns:
        ``(batch, sum(dims) + modalities)``.

    Examples:
        >>> fusion = Fusion({"image": 1, "text": 2}, 1)
        >>> concat_with_presence(fusion, {"image": torch.tensor([[7.0]]), "text": torch.tensor([[1.0, 2.0]])},
        ...                      {"image": torch.tensor([False]), "text": torch.tensor([True])}).tolist()
        [[0.0, 1.0, 2.0, 0.0, 1.0]]
    """
    inputs, present = mask_absent(fusion, features, mask)
    flags = present.to(inputs[fusion.modalities[0]].dtype)
    return torch.cat([inputs[name] for name in fusion.modalities] + [flags], dim=1)


class _EarlyFusion(Fusion):
    """Early fusion: ``head`` (set by the subclass) over the concatenated features and presence flags."""

    head: nn.Module

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        return FusionOutput(self.head(concat_with_presence(self, features, mask)))


@register_fusion("concat")
class ConcatFusion(_EarlyFusion):
    """Early fusion: concatenate the features (absent ones as zeros) and presence flags, then one linear layer.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        dropout: dropout on the concatenated input.

    Examples:
        >>> fusion = ConcatFusion({"image": 4, "text": 3}, output_dim=2)
        >>> fusion({"image": torch.ones(5, 4), "text": torch.ones(5, 3)},
        ...        {"image": torch.ones(5, dtype=torch.bool), "text": torch.ones(5, dtype=torch.bool)}).fused.shape
        torch.Size([5, 2])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        self.head = _dropout_then_linear(sum(self.input_dims.values()) + len(self.modalities), output_dim, dropout)


@register_fusion("mlp")
class MlpFusion(_EarlyFusion):
    """Non-linear early fusion: the input of "concat" through Linear, LayerNorm, GELU, Dropout, Linear.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        hidden_dim: width of the hidden layer.
        dropout: dropout after the activation.

    Examples:
        >>> fusion = MlpFusion({"image": 4, "text": 3}, output_dim=2, hidden_dim=8)
        >>> fusion({"image": torch.ones(5, 4), "text": torch.ones(5, 3)},
        ...        {"image": torch.ones(5, dtype=torch.bool), "text": torch.ones(5, dtype=torch.bool)}).fused.shape
        torch.Size([5, 2])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, hidden_dim: int = 128, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        self.head = feed_forward(sum(self.input_dims.values()) + len(self.modalities), hidden_dim, output_dim, dropout)


@register_fusion("linear")
class LinearFusion(Fusion):
    """Linear fusion: the sum of one linear map per present modality, plus a shared bias.

    ``fused = b + sum over present m of W_m x_m``; an absent modality adds nothing.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        dropout: dropout on the features before the maps.

    Examples:
        >>> fusion = LinearFusion({"image": 4, "text": 3}, output_dim=2)
        >>> fusion({"image": torch.ones(5, 4), "text": torch.ones(5, 3)},
        ...        {"image": torch.ones(5, dtype=torch.bool), "text": torch.ones(5, dtype=torch.bool)}).fused.shape
        torch.Size([5, 2])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        self.dropout = nn.Dropout(dropout)
        self.maps = nn.ModuleDict({name: nn.Linear(dim, output_dim, bias=False)
                                   for name, dim in self.input_dims.items()})
        self.bias = nn.Parameter(torch.zeros(output_dim))

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, _ = mask_absent(self, features, mask)  # a zeroed row maps to zero: absent modalities add nothing
        return FusionOutput(self.bias + sum(self.maps[name](self.dropout(inputs[name])) for name in self.modalities))
