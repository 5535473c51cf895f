"""Encoders: turn text, images, video, audio, the social graph and metadata into vectors, fully offline."""

from socialfusion.encoders._base import (
    MODALITIES,
    Encoded,
    Encoder,
    IdentityEncoder,
    available_encoders,
    encoder_info,
    get_encoder,
    register_encoder,
)

__all__ = [
    "MODALITIES",
    "Encoded",
    "Encoder",
    "IdentityEncoder",
    "available_encoders",
    "encoder_info",
    "get_encoder",
    "register_encoder",
]
