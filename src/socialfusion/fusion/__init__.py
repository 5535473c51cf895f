"""Fusion of modalities: early, intermediate and late; each a registered ``torch.nn.Module`` that copes with masks.

See ``socialfusion.fusion._base`` for the interface. Requires PyTorch (the ``text`` or ``image`` extra).
"""

from socialfusion.fusion._base import (
    Fusion,
    FusionOutput,
    IdentityFusion,
    available_fusions,
    check_inputs,
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
    "get_fusion",
    "modality_dropout",
    "register_fusion",
]
