"""Shared-space fusions with an auxiliary objective: correlated views (soft CCA), a multimodal autoencoder, a VAE."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import ClassVar

from socialfusion.fusion._base import Fusion, FusionOutput, Tensor, check_inputs, nn, register_fusion, torch
from socialfusion.fusion._layers import feed_forward, mask_absent, masked_mean

__all__ = ["AutoencoderFusion", "MultiviewFusion", "VariationalFusion", "reconstruction_error", "soft_cca_loss"]


def soft_cca_loss(view_a: Tensor, view_b: Tensor, paired: Tensor | None = None, decorrelation_weight: float = 1.0,
                  eps: float = 1e-5) -> Tensor:
    """Soft CCA (Chang et al. 2018): minus the mean per-dimension correlation of two views, plus soft decorrelation.

    Both views are standardised per dimension over the paired rows of the batch; the loss is
    ``-mean_k corr(a_k, b_k) + decorrelation_weight * mean_{k != l} |C_kl|`` with ``C`` each view's own correlation
    matrix (averaged over the two views). The second term stops the trivial solution where every dimension carries
    the same correlated signal.

    Args:
        view_a: ``(batch, dim)``.
        view_b: ``(batch, dim)``.
        paired: ``(batch,)`` bool, rows where both views exist; None for all rows.
        decorrelation_weight: weight of the within-view decorrelation penalty.
        eps: added to the variances.

    Returns:
        A scalar in about ``[-1, 1 + decorrelation_weight]``; exactly 0 when fewer than two rows are paired.

    Examples:
        >>> generator = torch.Generator().manual_seed(0)
        >>> view = torch.randn(256, 3, generator=generator)
        >>> correlated = soft_cca_loss(view, 2 * view + 1)
        >>> independent = soft_cca_loss(view, torch.randn(256, 3, generator=generator))
        >>> bool(correlated < -0.9), bool(abs(independent) < 0.2)
        (True, True)
    """
    if paired is None:
        paired = torch.ones(view_a.shape[0], dtype=torch.bool, device=view_a.device)
    weight = paired.to(view_a.dtype)[:, None]  # (batch, 1)
    count = weight.sum()
    rows = count.clamp(min=1)

    def standardise(view: Tensor) -> Tensor:
        view = torch.where(paired[:, None], view, torch.zeros((), dtype=view.dtype))
        centred = (view - view.sum(dim=0) / rows) * weight
        return centred / torch.sqrt((centred**2).sum(dim=0) / rows + eps)

    standard_a, standard_b = standardise(view_a), standardise(view_b)
    loss = -((standard_a * standard_b).sum(dim=0) / rows).mean()
    dim = view_a.shape[1]
    if dim > 1 and decorrelation_weight:
        off_diagonal = ~torch.eye(dim, dtype=torch.bool, device=view_a.device)
        penalty = sum((standard.T @ standard / rows)[off_diagonal].abs().mean()
                      for standard in (standard_a, standard_b))
        loss = loss + decorrelation_weight * penalty / 2
    return torch.where(count >= 2, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))


def reconstruction_error(decoders: nn.ModuleDict, code: Tensor, targets: Mapping[str, Tensor],
                         present: Tensor) -> Tensor:
    """Mean squared error of reconstructing every present modality from the shared code.

    Each modality's error is averaged over its feature dimensions (so a wide modality does not outweigh a narrow
    one), then over the present ``(item, modality)`` pairs.

    Args:
        decoders: per modality, a module mapping ``(batch, code_dim)`` to ``(batch, dim)``; its keys in sorted
            order match the columns of ``present``.
        code: ``(batch, code_dim)``.
        targets: per modality, ``(batch, dim)`` with absent rows already zeroed.
        present: ``(batch, modalities)`` bool.

    Returns:
        A scalar.
    """
    errors = torch.stack([((decoders[name](code) - targets[name].detach()) ** 2).mean(dim=1)
                          for name in sorted(targets)], dim=1)  # (batch, modalities)
    # Targets are detached: when upstream features are trainable, the reconstruction must not pull them to zero.
    kept = torch.where(present, errors, torch.zeros((), dtype=errors.dtype))
    return kept.sum() / present.sum().clamp(min=1)


@register_fusion("multiview")
class MultiviewFusion(Fusion):
    """Multi-view learning: per-modality encoders into one shared space, trained to agree with a soft CCA loss.

    ``fused`` is the mean of the present views; ``aux_loss`` is ``correlation_weight`` times the mean, over the
    pairs of modalities present together in at least two items, of ``soft_cca_loss`` (a zero tensor when no pair
    co-occurs). Deep CCA (Andrew et al. 2013) in its scalable soft form (Chang et al. 2018).

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the shared space and the fused vector.
        hidden_dim: width of each encoder's hidden layer.
        dropout: dropout in the encoders.
        correlation_weight: scale of ``aux_loss``.
        decorrelation_weight: weight of the within-view decorrelation term of ``soft_cca_loss``.

    Examples:
        >>> fusion = MultiviewFusion({"image": 4, "text": 3}, output_dim=2, hidden_dim=8)
        >>> output = fusion({"image": torch.randn(5, 4), "text": torch.randn(5, 3)},
        ...                 {"image": torch.ones(5, dtype=torch.bool), "text": torch.ones(5, dtype=torch.bool)})
        >>> output.fused.shape, output.aux_loss.shape
        (torch.Size([5, 2]), torch.Size([]))
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, hidden_dim: int = 128, dropout: float = 0.1,
                 correlation_weight: float = 1.0, decorrelation_weight: float = 1.0):
        super().__init__(input_dims, output_dim)
        self.encoders = nn.ModuleDict({name: feed_forward(dim, hidden_dim, output_dim, dropout)
                                       for name, dim in self.input_dims.items()})
        self.correlation_weight = correlation_weight
        self.decorrelation_weight = decorrelation_weight

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        views = torch.stack([self.encoders[name](inputs[name]) for name in self.modalities], dim=1)
        total = views.new_zeros(())
        pairs = views.new_zeros(())
        for first, second in itertools.combinations(range(len(self.modalities)), 2):
            paired = present[:, first] & present[:, second]
            total = total + soft_cca_loss(views[:, first], views[:, second], paired, self.decorrelation_weight)
            pairs = pairs + (paired.sum() >= 2).to(views.dtype)
        aux_loss = self.correlation_weight * total / pairs.clamp(min=1)
        return FusionOutput(masked_mean(views, present), aux_loss)


@register_fusion("autoencoder")
class AutoencoderFusion(Fusion):
    """Multimodal autoencoder (Ngiam et al. 2011): a shared code from the present modalities that rebuilds them all.

    Each present modality is encoded to a code of size ``output_dim``; the shared code (``fused``) is their mean;
    one decoder per modality reconstructs every present modality from the shared code, which teaches each
    modality to stand in for the others. ``aux_loss`` is ``reconstruction_weight`` times ``reconstruction_error``.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the shared code.
        hidden_dim: width of the encoders' and decoders' hidden layers.
        dropout: dropout in the encoders and decoders.
        reconstruction_weight: scale of the reconstruction error in ``aux_loss``.

    Examples:
        >>> fusion = AutoencoderFusion({"image": 4, "text": 3}, output_dim=2, hidden_dim=8)
        >>> output = fusion({"image": torch.randn(5, 4), "text": torch.randn(5, 3)},
        ...                 {"image": torch.ones(5, dtype=torch.bool), "text": torch.rand(5) > 0.5})
        >>> output.fused.shape, output.aux_loss.shape
        (torch.Size([5, 2]), torch.Size([]))
    """

    _encoded_parts: ClassVar[int] = 1  # each encoder outputs one code (the VAE's, a mean and a log-variance)

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, hidden_dim: int = 128, dropout: float = 0.1,
                 reconstruction_weight: float = 1.0):
        super().__init__(input_dims, output_dim)
        encoded_dim = output_dim * self._encoded_parts
        self.encoders = nn.ModuleDict({name: feed_forward(dim, hidden_dim, encoded_dim, dropout)
                                       for name, dim in self.input_dims.items()})
        self.decoders = nn.ModuleDict({name: feed_forward(output_dim, hidden_dim, dim, dropout)
                                       for name, dim in self.input_dims.items()})
        self.reconstruction_weight = reconstruction_weight

    def _shared_code(self, encoded: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """The shared code ``(batch, output_dim)`` from the ``(batch, modalities, encoded_dim)`` encodings, and the
        loss added to the reconstruction error (none here)."""
        return masked_mean(encoded, present), encoded.new_zeros(())

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        """Fuse ``{name: (batch, dim)}`` features under ``{name: (batch,)}`` masks into ``(batch, output_dim)``."""
        check_inputs(self, features, mask)
        inputs, present = mask_absent(self, features, mask)
        encoded = torch.stack([self.encoders[name](inputs[name]) for name in self.modalities], dim=1)
        code, code_loss = self._shared_code(encoded, present)
        reconstruction = reconstruction_error(self.decoders, code, inputs, present)
        return FusionOutput(code, self.reconstruction_weight * reconstruction + code_loss)


@register_fusion("vae")
class VariationalFusion(AutoencoderFusion):
    """Multimodal VAE with a product of experts (Wu and Goodman 2018, MVAE).

    Each present modality gives a Gaussian ``N(mu_m, exp(logvar_m))`` over the code; they are combined with a
    standard-normal prior expert by precision weighting (``precision = 1 + sum_m exp(-logvar_m)``,
    ``mu = sum_m mu_m exp(-logvar_m) / precision``). ``fused`` is a reparameterised sample in training and ``mu`` in
    eval mode. ``aux_loss = reconstruction_weight * reconstruction_error + beta * KL(q || N(0, I))``, the KL summed
    over code dimensions and averaged over items.

    Args:
        input_dims: each modality's feature size.
        output_dim: size of the code.
        hidden_dim: width of the encoders' and decoders' hidden layers.
        dropout: dropout in the encoders and decoders.
        reconstruction_weight: scale of the reconstruction error.
        beta: weight of the KL term.

    Examples:
        >>> fusion = VariationalFusion({"image": 4, "text": 3}, output_dim=2, hidden_dim=8).eval()
        >>> features = {"image": torch.randn(5, 4), "text": torch.randn(5, 3)}
        >>> mask = {"image": torch.ones(5, dtype=torch.bool), "text": torch.rand(5) > 0.5}
        >>> output = fusion(features, mask)
        >>> output.fused.shape, torch.equal(output.fused, fusion(features, mask).fused)
        (torch.Size([5, 2]), True)
    """

    _encoded_parts: ClassVar[int] = 2

    def __init__(self, input_dims: Mapping[str, int], output_dim: int, hidden_dim: int = 128, dropout: float = 0.1,
                 reconstruction_weight: float = 1.0, beta: float = 1e-3):
        super().__init__(input_dims, output_dim, hidden_dim, dropout, reconstruction_weight)
        self.beta = beta

    def _shared_code(self, encoded: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = encoded.chunk(2, dim=-1)  # (batch, modalities, output_dim) each
        # Bounded log-variances keep the precisions finite early in training.
        precision = torch.where(present[..., None], torch.exp(-logvar.clamp(-10.0, 10.0)),
                                torch.zeros((), dtype=encoded.dtype))
        joint_precision = 1.0 + precision.sum(dim=1)  # the prior expert N(0, 1) adds precision 1 and mean 0
        joint_mu = (precision * mu).sum(dim=1) / joint_precision
        joint_var = 1.0 / joint_precision
        kl = 0.5 * (joint_var + joint_mu**2 - 1.0 + torch.log(joint_precision)).sum(dim=1).mean()
        code = joint_mu + torch.sqrt(joint_var) * torch.randn_like(joint_mu) if self.training else joint_mu
        return code, self.beta * kl
