"""The Fusion interface and registry: per-modality features plus presence masks in, one fused vector per item out.

Every fusion module is a ``torch.nn.Module`` built as ``Fusion(input_dims, output_dim, **options)`` and called as
``fusion(features, mask)``:

- ``features``: ``{"text": (batch, 384), "image": (batch, 1280), ...}`` float tensors; rows of an absent modality
  may hold anything (zeros by convention) and must not change the output;
- ``mask``: ``{"text": (batch,), ...}`` bool tensors, True where the modality is present. Every item has at least
  one modality present.

Modalities are always visited in sorted name order. A module returns ``FusionOutput(fused, aux_loss, weights)``:
``fused`` is ``(batch, output_dim)``; ``aux_loss`` is a scalar the trainer adds to the task loss (reconstruction,
correlation, KL) or None; ``weights`` maps each modality to ``(batch,)`` contributions summing to 1 over the present
modalities, for modules that have such weights (mean, weighted, gated attention, late fusion), else None.

Examples:
    >>> import torch
    >>> fusion = get_fusion("mean", {"image": 2, "text": 2}, output_dim=2)
    >>> features = {"text": torch.ones(2, 2), "image": torch.full((2, 2), 3.0)}
    >>> mask = {"text": torch.tensor([True, True]), "image": torch.tensor([True, False])}
    >>> output = fusion(features, mask)
    >>> output.fused.shape, output.weights["image"].tolist()
    (torch.Size([2, 2]), [0.5, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

from socialfusion.exceptions import ConfigurationError, attempt_import

torch = attempt_import("torch", "text")  # fusion modules are torch modules; torch comes with the text or image extra
nn = torch.nn
Tensor = torch.Tensor

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


class FusionOutput(NamedTuple):
    """What a fusion module returns.

    Attributes:
        fused: ``(batch, output_dim)``.
        aux_loss: a scalar tensor added to the training loss (reconstruction, correlation, KL), or None.
        weights: per modality, ``(batch,)`` shares of the fused output that sum to 1 over present modalities, or
            None when the method has no such weights.
    """

    fused: Tensor
    aux_loss: Tensor | None = None
    weights: dict[str, Tensor] | None = None


class Fusion(nn.Module):
    """Base class of the fusion modules.

    Args:
        input_dims: each modality's feature size, e.g. ``{"text": 384, "image": 1280}``.
        output_dim: size of the fused vector.

    Attributes:
        name: registry key.
        decision_level: True for late fusion, whose ``fused`` output already is the prediction (the model puts
            no head on top and ``output_dim`` is the number of outputs).
        modalities: the modality names, sorted.
    """

    name: ClassVar[str] = ""
    decision_level: ClassVar[bool] = False

    def __init__(self, input_dims: Mapping[str, int], output_dim: int):
        super().__init__()
        if not input_dims:
            raise ConfigurationError("a fusion needs at least one modality in input_dims")
        if any(int(dim) < 1 for dim in input_dims.values()) or int(output_dim) < 1:
            raise ConfigurationError(
                f"dimensions must be positive: input_dims={dict(input_dims)}, output_dim={output_dim}"
            )
        self.input_dims = {name: int(input_dims[name]) for name in sorted(input_dims)}
        self.output_dim = int(output_dim)
        self.modalities = list(self.input_dims)

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        raise NotImplementedError


def check_inputs(fusion: Fusion, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> None:
    """Raise ConfigurationError when ``features``/``mask`` do not match the modalities and sizes of ``fusion``."""
    expected = set(fusion.modalities)
    if set(features) != expected or set(mask) != expected:
        raise ConfigurationError(
            f"{fusion.name or type(fusion).__name__} was built for modalities {sorted(expected)}; "
            f"got features for {sorted(features)} and masks for {sorted(mask)}"
        )
    for name in fusion.modalities:
        if features[name].ndim != 2 or features[name].shape[1] != fusion.input_dims[name]:
            raise ConfigurationError(
                f"features[{name!r}] must be (batch, {fusion.input_dims[name]}); got {tuple(features[name].shape)}"
            )
    batch = features[fusion.modalities[0]].shape[0]
    for name in fusion.modalities:
        if features[name].shape[0] != batch or tuple(mask[name].shape) != (batch,):
            raise ConfigurationError(
                f"every modality needs the same batch size and a (batch,) mask; features[{name!r}] is "
                f"{tuple(features[name].shape)} and mask[{name!r}] is {tuple(mask[name].shape)} (batch {batch})"
            )


@torch.no_grad()
def modality_dropout(mask: Mapping[str, Tensor], probability: float, generator: Any = None) -> dict[str, Tensor]:
    """Randomly hide present modalities during training, keeping at least one present per item.

    Args:
        mask: per modality, ``(batch,)`` bool presence.
        probability: chance that each present modality is hidden, per item.
        generator: a ``torch.Generator`` for reproducibility, or None.

    Returns:
        A new mask (the input is not changed).

    Examples:
        >>> mask = {"image": torch.ones(4, dtype=torch.bool), "text": torch.ones(4, dtype=torch.bool)}
        >>> dropped = modality_dropout(mask, 0.9, torch.Generator().manual_seed(0))
        >>> bool((dropped["image"] | dropped["text"]).all())
        True
    """
    names = sorted(mask)
    present = torch.stack([mask[name].bool() for name in names], dim=1)  # (batch, modalities)
    if probability <= 0 or present.numel() == 0:
        return {name: present[:, column].clone() for column, name in enumerate(names)}
    keep = torch.rand(present.shape, generator=generator, device="cpu").to(present.device) >= probability
    kept = present & keep
    # An item that lost everything keeps one of its present modalities, chosen at random.
    emptied = ~kept.any(dim=1) & present.any(dim=1)
    if emptied.any():
        scores = torch.rand(present.shape, generator=generator, device="cpu").to(present.device)
        scores = scores.masked_fill(~present, -1.0)
        chosen = torch.nn.functional.one_hot(scores.argmax(dim=1), len(names)).bool()
        kept = torch.where(emptied[:, None], chosen, kept)
    return {name: kept[:, column] for column, name in enumerate(names)}


_FUSIONS: dict[str, Callable[..., Fusion]] = {}


def register_fusion(name: str):
    """Register a Fusion subclass under ``name`` (sets its ``name`` attribute)."""

    def decorate(cls):
        cls.name = name
        _FUSIONS[name] = cls
        return cls

    return decorate


def _load_builtin_fusions() -> None:
    import importlib

    for module in ("simple", "attention", "tensor", "shared", "late", "interaction"):
        try:
            importlib.import_module(f"socialfusion.fusion.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"socialfusion.fusion.{module}":
                raise


def available_fusions() -> list[str]:
    """The registered fusion names, sorted."""
    _load_builtin_fusions()
    return sorted(_FUSIONS)


def fusion_class(name: str) -> type[Fusion]:
    """The Fusion subclass registered as ``name`` (to read ``decision_level`` before building one).

    Raises:
        ConfigurationError: unknown name (the message lists the known ones).
    """
    _load_builtin_fusions()
    if name not in _FUSIONS:
        raise ConfigurationError(f"unknown fusion {name!r}; known: {', '.join(sorted(_FUSIONS))}")
    return _FUSIONS[name]


def get_fusion(name: str, input_dims: Mapping[str, int], output_dim: int, **options: Any) -> Fusion:
    """Build the fusion module registered as ``name``.

    Raises:
        ConfigurationError: unknown name (the message lists the known ones).
    """
    return fusion_class(name)(input_dims, output_dim, **options)


@register_fusion("identity")
class IdentityFusion(Fusion):
    """The no-op fusion of a single modality: its features, unchanged (``output_dim`` must equal its size).

    Useful to run a single-modality model through the same code path as the fused ones.
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int):
        super().__init__(input_dims, output_dim)
        if len(self.modalities) != 1 or self.input_dims[self.modalities[0]] != self.output_dim:
            raise ConfigurationError("identity fusion takes exactly one modality whose size equals output_dim")

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> FusionOutput:
        check_inputs(self, features, mask)
        (name,) = self.modalities
        present = mask[name].bool()
        # torch.where, not a product with the mask: NaN in an absent row must not leak (NaN * 0 is NaN).
        fused = torch.where(present[:, None], features[name], torch.zeros((), dtype=features[name].dtype))
        return FusionOutput(fused, None, {name: present.to(features[name].dtype)})
