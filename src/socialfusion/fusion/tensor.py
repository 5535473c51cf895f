"""Multiplicative fusions: Tensor Fusion Network (Zadeh et al. 2017) and its low-rank form LMF (Liu et al. 2018)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from socialfusion.exceptions import ConfigurationError
from socialfusion.fusion._base import Fusion, FusionOutput, Tensor, check_inputs, nn, register_fusion, torch
from socialfusion.fusion._layers import mask_absent

__all__ = ["LowRankFusion", "TensorFusion", "append_one"]

# Widest outer product "tensor" builds; beyond it the output layer alone would hold hundreds of millions of weights.
MAX_PRODUCT_SIZE = 2**18


def append_one(vectors: Tensor, present: Tensor) -> Tensor:
    """``[v, 1]`` for present rows and ``[0, ..., 0, 1]`` for absent ones: the constant 1 keeps lower-order terms,
    and an absent modality's vector drops it from the product.

    Args:
        vectors: ``(batch, dim)``.
        present: ``(batch,)`` bool.

    Returns:
        ``(batch, dim + 1)``.

    Examples:
        >>> append_one(torch.tensor([[2.0, 3.0], [float("nan"), 1.0]]), torch.tensor([True, False])).tolist()
        [[2.0, 3.0, 1.0], [0.0, 0.0, 1.0]]
    """
    vectors = torch.where(present[:, None], vectors, torch.zeros((), dtype=vectors.dtype))
    return torch.cat([vectors, vectors.new_ones(vectors.shape[0], 1)], dim=1)


@register_fusion("tensor")
class TensorFusion(Fusion):
    """Tensor Fusion Network (Zadeh et al. 2017): a linear layer on the outer product of the ``[h_m, 1]`` vectors.

    Each modality is projected to ``h_m`` of size ``modality_dim``; ``z = [h_1, 1] x [h_2, 1] x ...`` (outer
    product, flattened to ``prod(modality_dim + 1)``) holds every unimodal, bimodal, ... interaction; the fused vector
    is a linear map of ``z``. An absent modality contributes ``[0, ..., 0, 1]``, so ``z`` reduces to the product
    of the present ones.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        modality_dim: size of each projected modality (the product grows as ``(modality_dim + 1) ** modalities``).
        dropout: dropout on the flattened product.

    Raises:
        ConfigurationError: the product would be wider than ``MAX_PRODUCT_SIZE``.

    Examples:
        >>> fusion = TensorFusion({"image": 4, "text": 3}, output_dim=2, modality_dim=3)
        >>> fusion.product_size  # (3 + 1) ** 2
        16
        >>> fusion({"image": torch.randn(5, 4), "text": torch.randn(5, 3)},
        ...        {"image": torch.ones(5, dtype=torch.bool), "text": torch.rand(5) > 0.5}).fused.shape
        torch.Size([5, 2])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, modality_dim: int = 16, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        self.product_size = (modality_dim + 1) ** len(self.modalities)
        if self.product_size > MAX_PRODUCT_SIZE:
            raise ConfigurationError(
                f"tensor fusion of {len(self.modalities)} modalities with modality_dim={modality_dim} needs a "
                f"{self.product_size:,}-wide outer product (limit {MAX_PRODUCT_SIZE:,}); lower modality_dim to "
                f"{math.floor(MAX_PRODUCT_SIZE ** (1 / len(self.modalities))) - 1} or less, or use 'low-rank'"
            )
        self.projections = nn.ModuleDict({name: nn.Linear(dim, modality_dim) for name, dim in self.input_dims.items()})
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.product_size, output_dim)

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        product = None
        for column, name in enumerate(self.modalities):
            vector = append_one(self.projections[name](inputs[name]), present[:, column])
            product = vector if product is None else (product[:, :, None] * vector[:, None, :]).flatten(1)
        return FusionOutput(self.output(self.dropout(product)))


@register_fusion("low-rank")
class LowRankFusion(Fusion):
    """Low-rank Multimodal Fusion (Liu et al. 2018): the tensor fusion's weights as a sum of ``rank`` outer products.

    With ``z_m = [x_m, 1]`` (``[0, ..., 0, 1]`` when absent) and per-modality factors ``W_m^(i)`` of shape
    ``(dim_m + 1, output_dim)``, ``fused = sum_i prod_m (z_m W_m^(i)) + b`` (products elementwise), which equals
    the tensor fusion with a rank-``rank`` weight tensor, in time linear in the number of modalities.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the fused vector.
        rank: number of factors per modality.
        dropout: dropout on the features before the factors.

    Examples:
        >>> fusion = LowRankFusion({"image": 4, "text": 3}, output_dim=2, rank=2)
        >>> fusion.factors["text"].shape  # (rank, dim + 1, output_dim)
        torch.Size([2, 4, 2])
        >>> fusion({"image": torch.randn(5, 4), "text": torch.randn(5, 3)},
        ...        {"image": torch.ones(5, dtype=torch.bool), "text": torch.rand(5) > 0.5}).fused.shape
        torch.Size([5, 2])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, rank: int = 4, dropout: float = 0.1):
        super().__init__(input_dims, output_dim)
        if rank < 1:
            raise ConfigurationError(f"low-rank fusion needs rank >= 1; got {rank}")
        self.factors = nn.ParameterDict()
        for name, dim in self.input_dims.items():
            factor = torch.empty(rank, dim + 1, output_dim)
            for slice_ in factor:
                nn.init.xavier_normal_(slice_)
            self.factors[name] = nn.Parameter(factor)
        self.bias = nn.Parameter(torch.zeros(output_dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        product = None  # (rank, batch, output_dim)
        for column, name in enumerate(self.modalities):
            vector = append_one(self.dropout(inputs[name]), present[:, column])
            projected = torch.einsum("bd,rdo->rbo", vector, self.factors[name])
            product = projected if product is None else product * projected
        return FusionOutput(product.sum(dim=0) + self.bias)
