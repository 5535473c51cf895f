"""Fusion of modalities: early, intermediate and late; each a registered ``torch.nn.Module`` that copes with masks.

See ``socialfusion.fusion._base`` for the interface; build one with ``get_fusion(name, input_dims, output_dim,
**options)``. Requires PyTorch (the ``text`` or ``image`` extra).

=================  ===================================================================  ==========================
name               what it is                                                           paper
=================  ===================================================================  ==========================
identity           one modality passed through unchanged (no-op)                        --
mean               per-modality linear projection, mean over present modalities         baseline
weighted           projections summed with learned per-modality softmax weights         baseline
concat             early fusion: features (zeros if absent) + presence flags, linear    baseline
linear             sum of per-modality linear maps plus a bias                          baseline
mlp                the concat input through a 2-layer MLP                               baseline
gated-attention    per-item attention over modalities (tanh projection, scored)         Hori et al. 2017
co-attention       transformer over modality tokens, absent ones masked                 Tsai et al. 2019 (MulT)
tensor             outer product of the ``[h, 1]`` vectors, then linear                 Zadeh et al. 2017 (TFN)
low-rank           the tensor fusion with rank-r factorised weights                     Liu et al. 2018 (LMF)
multiview          shared space trained with a soft CCA correlation loss                Andrew 2013; Chang 2018
autoencoder        shared code that reconstructs every present modality                 Ngiam et al. 2011
vae                product-of-experts VAE, reconstruction + beta KL                     Wu and Goodman 2018
late               decision level: one predictor per modality, learned weights          late fusion
=================  ===================================================================  ==========================

``multiview``, ``autoencoder`` and ``vae`` return an ``aux_loss`` the trainer adds to the task loss; ``mean``,
``weighted``, ``gated-attention`` and ``late`` return per-modality ``weights``; ``late`` is decision level (its
output is the prediction).
"""

from socialfusion.fusion._base import (
    Fusion,
    FusionOutput,
    IdentityFusion,
    available_fusions,
    check_inputs,
    fusion_class,
    get_fusion,
    modality_dropout,
    register_fusion,
)

__all__ = [
    "Fusion",
    "FusionOutput",
    "IdentityFusion",
    "available_fusions",
    "check_inputs",
    "fusion_class",
    "get_fusion",
    "modality_dropout",
    "register_fusion",
]
