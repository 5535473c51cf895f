"""Attention fusions: per-item gated attention over modalities, and a cross-modal transformer over modality tokens."""

from __future__ import annotations

from collections.abc import Mapping

from socialfusion.exceptions import ConfigurationError
from socialfusion.fusion._base import Fusion, FusionOutput, Tensor, check_inputs, nn, register_fusion, torch
from socialfusion.fusion._layers import mask_absent, masked_mean, masked_softmax, weights_by_modality

__all__ = ["CoAttentionFusion", "GatedAttentionFusion"]


@register_fusion("gated-attention")
class GatedAttentionFusion(Fusion):
    """Per-item attention over the present modalities (the modality attention of Hori et al. 2017).

    Each modality becomes ``h_m = tanh(W_m x_m + b_m)`` of size ``hidden_dim``; its score is ``v . h_m`` with one
    learned vector ``v``; the gates are the softmax of the scores over the item's present modalities; the fused
    vector is ``W_out (sum_m gate_m h_m) + b_out``. The gates are returned as ``weights``.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        hidden_dim: size of the projected modality features.
        dropout: dropout on the gated sum.

    Examples:
        >>> fusion = GatedAttentionFusion({"image": 4, "text": 3}, output_dim=2, hidden_dim=8)
        >>> output = fusion({"image": torch.randn(5, 4), "text": torch.randn(5, 3)},
        ...                 {"image": torch.ones(5, dtype=torch.bool), "text": torch.zeros(5, dtype=torch.bool)})
        >>> output.fused.shape, output.weights["image"].tolist()
        (torch.Size([5, 2]), [1.0, 1.0, 1.0, 1.0, 1.0])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, hidden_dim: int = 128, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        self.projections = nn.ModuleDict({name: nn.Linear(dim, hidden_dim) for name, dim in self.input_dims.items()})
        self.score = nn.Linear(hidden_dim, 1, bias=False)  # a shared bias would cancel in the softmax
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_dim, output_dim)

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        hidden = torch.stack([torch.tanh(self.projections[name](inputs[name])) for name in self.modalities], dim=1)
        gates = masked_softmax(self.score(hidden).squeeze(-1), present)  # (batch, modalities)
        fused = self.output(self.dropout((gates[..., None] * hidden).sum(dim=1)))
        return FusionOutput(fused, None, weights_by_modality(self, gates))


@register_fusion("co-attention")
class CoAttentionFusion(Fusion):
    """Cross-modal transformer: each modality is one token that attends to the other present modalities.

    Each modality is projected to a ``d_model`` token plus a learned modality embedding; a pre-norm
    ``nn.TransformerEncoder`` runs over the tokens with the absent ones masked out as keys; the present tokens are
    averaged and mapped to ``output_dim``. Joint self-attention over modality tokens, in the spirit of the
    cross-modal attention of MulT (Tsai et al. 2019).

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        d_model: token size; a multiple of ``n_heads``.
        n_heads: attention heads.
        n_layers: encoder layers.
        hidden_dim: width of each layer's feed-forward block.
        dropout: dropout inside the encoder layers.

    Raises:
        ConfigurationError: ``d_model`` is not a multiple of ``n_heads``.

    Examples:
        >>> fusion = CoAttentionFusion({"image": 4, "text": 3}, output_dim=2, d_model=8, n_heads=2, hidden_dim=16)
        >>> fusion({"image": torch.randn(5, 4), "text": torch.randn(5, 3)},
        ...        {"image": torch.ones(5, dtype=torch.bool), "text": torch.rand(5) > 0.5}).fused.shape
        torch.Size([5, 2])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, d_model: int = 128, n_heads: int = 4,
                 n_layers: int = 1, hidden_dim: int = 256, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        if d_model % n_heads:
            raise ConfigurationError(f"co-attention needs d_model divisible by n_heads; got {d_model} and {n_heads}")
        self.projections = nn.ModuleDict({name: nn.Linear(dim, d_model) for name, dim in self.input_dims.items()})
        self.modality_embedding = nn.Parameter(0.02 * torch.randn(len(self.modalities), d_model))
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=hidden_dim, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        # Nested tensors would make eval mode take another code path than training; the sequences are tiny anyway.
        self.encoder = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.output = nn.Linear(d_model, output_dim)

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        tokens = torch.stack([self.projections[name](inputs[name]) for name in self.modalities], dim=1)
        # Absent tokens are masked as keys, so present tokens never read them; every item has one present token,
        # so no attention row is empty. Absent tokens' own outputs are dropped by the masked mean.
        encoded = self.encoder(tokens + self.modality_embedding, src_key_padding_mask=~present)
        return FusionOutput(self.output(masked_mean(encoded, present)))
