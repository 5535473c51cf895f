"""MultimodalModel: per-modality inputs, one fusion module, and one prediction head per task.

The model is ``inputs -> fusion -> heads``:

- inputs: each modality's features are standardised with a mean and scale fitted on the training set (identity
  until ``fit_input_scaling`` is called), optionally layer-normalised, optionally dropped out, and zeroed on the
  rows where the modality is absent;
- fusion: any registered fusion (``socialfusion.fusion.get_fusion``) or a ``Fusion`` instance;
- heads: per task, a small MLP (``hidden`` units, GELU, dropout) or a linear layer (``hidden=0``) from the fused
  vector to the task's outputs. A decision-level fusion (late fusion) already outputs the prediction: the model
  then has exactly one task, no head, and the fusion's ``output_dim`` is that task's size.

Examples:
    >>> import torch
    >>> model = MultimodalModel({"image": 6, "text": 4}, {"sentiment": 3, "likes": 1}, fusion="mean", fused_dim=8)
    >>> features = {"image": torch.randn(2, 6), "text": torch.randn(2, 4)}
    >>> mask = {"image": torch.tensor([True, False]), "text": torch.tensor([True, True])}
    >>> output = model(features, mask)
    >>> output.outputs["sentiment"].shape, output.outputs["likes"].shape, output.fused.shape
    (torch.Size([2, 3]), torch.Size([2, 1]), torch.Size([2, 8]))
    >>> output.weights["image"].tolist()  # the mean fusion's shares: item 1 has no image
    [0.5, 0.0]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from socialfusion.exceptions import ConfigurationError, attempt_import
from socialfusion.fusion import Fusion, get_fusion

torch = attempt_import("torch", "text")
nn = torch.nn
Tensor = torch.Tensor

__all__ = ["ModelOutput", "MultimodalModel", "resolve_device", "run_model", "seeded"]


class ModelOutput(NamedTuple):
    """What ``MultimodalModel.forward`` returns.

    Attributes:
        outputs: task name -> ``(batch, n_outputs)`` logits (classification) or values (regression).
        aux_loss: the fusion's auxiliary loss (reconstruction, KL, ...), a scalar, or None.
        weights: modality -> ``(batch,)`` contributions summing to 1 over the present modalities, when the fusion
            has such weights, else None.
        fused: ``(batch, fused_dim)``; for a decision-level fusion, the prediction itself ``(batch, n_outputs)``.
    """

    outputs: dict[str, Tensor]
    aux_loss: Tensor | None
    weights: dict[str, Tensor] | None
    fused: Tensor


def _check_key(kind: str, name: str) -> None:
    """Modality and task names become module names: torch refuses dots and empty names."""
    if not isinstance(name, str) or not name or "." in name:
        raise ConfigurationError(f"{kind} names must be non-empty strings without '.'; got {name!r}")


class _ModalityInput(nn.Module):
    """One modality's input stage: standardise, optionally layer-normalise and drop out, zero the absent rows."""

    def __init__(self, dim: int, norm: bool, dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.norm = nn.LayerNorm(dim) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, vectors: Tensor, present: Tensor) -> Tensor:
        vectors = self.dropout(self.norm((vectors - self.mean) / self.scale))
        # torch.where, not a product with the mask: NaN in an absent row must not leak (NaN * 0 is NaN).
        return torch.where(present[:, None], vectors, torch.zeros((), dtype=vectors.dtype, device=vectors.device))


class MultimodalModel(nn.Module):
    """Per-modality inputs, a fusion module and one head per task.

    Args:
        input_dims: modality -> feature size, e.g. ``{"text": 384, "image": 1280}``.
        heads: task -> number of outputs (classes for classification, 1 for regression), e.g. ``{"label": 3}``.
        fusion: a registered fusion name (see ``socialfusion.fusion.available_fusions``) or a ``Fusion`` instance
            built for ``input_dims``.
        fusion_options: options of a named fusion (ignored for an instance).
        fused_dim: size of the fused vector (a named fusion's ``output_dim``); ignored for decision-level fusions.
        hidden: hidden units of each head's MLP; 0 for a linear head.
        dropout: dropout before each head layer.
        input_norm: layer-normalise each modality's (standardised) features.
        input_dropout: dropout on each modality's features.

    Raises:
        ConfigurationError: no task, a task with fewer than one output, names with dots, a fusion instance built
            for other modalities, or several tasks with a decision-level fusion.
    """

    def __init__(self, input_dims: Mapping[str, int], heads: Mapping[str, int], fusion: str | Fusion = "mean",
                 fusion_options: Mapping[str, Any] | None = None, *, fused_dim: int = 128, hidden: int = 64,
                 dropout: float = 0.1, input_norm: bool = False, input_dropout: float = 0.0):
        super().__init__()
        if not heads:
            raise ConfigurationError("a MultimodalModel needs at least one task in heads, e.g. {'label': 2}")
        for name in input_dims:
            _check_key("modality", name)
        for name, size in heads.items():
            _check_key("task", name)
            if int(size) < 1:
                raise ConfigurationError(f"task {name!r} needs at least one output; got {size}")
        self.input_dims = {name: int(input_dims[name]) for name in sorted(input_dims)}
        self.heads_sizes = {name: int(size) for name, size in heads.items()}
        if isinstance(fusion, Fusion):
            if fusion.input_dims != self.input_dims:
                raise ConfigurationError(
                    f"the fusion instance was built for {fusion.input_dims}, the model for {self.input_dims}"
                )
            self.fusion = fusion
        else:
            decision_level = _is_decision_level(fusion)
            if decision_level and len(heads) != 1:
                raise ConfigurationError(
                    f"fusion {fusion!r} is decision-level (its output is the prediction), so it serves exactly one "
                    f"task; got {sorted(heads)}: pick a feature-level fusion for several tasks"
                )
            output_dim = next(iter(self.heads_sizes.values())) if decision_level else int(fused_dim)
            self.fusion = get_fusion(fusion, self.input_dims, output_dim, **dict(fusion_options or {}))
        if self.fusion.decision_level:
            (task, size), *others = self.heads_sizes.items()
            if others or self.fusion.output_dim != size:
                raise ConfigurationError(
                    f"a decision-level fusion serves one task whose size is its output_dim ({self.fusion.output_dim});"
                    f" got heads {self.heads_sizes}"
                )
        self.inputs = nn.ModuleDict({
            name: _ModalityInput(dim, input_norm, input_dropout) for name, dim in self.input_dims.items()
        })
        self.heads = nn.ModuleDict({
            task: nn.Identity() if self.fusion.decision_level else _head(self.fusion.output_dim, size, hidden, dropout)
            for task, size in self.heads_sizes.items()
        })

    @property
    def modalities(self) -> list[str]:
        """Modality names, sorted."""
        return list(self.input_dims)

    @property
    def tasks(self) -> list[str]:
        """Task names, in the order given."""
        return list(self.heads_sizes)

    @torch.no_grad()
    def fit_input_scaling(self, vectors: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray]) -> None:
        """Set each modality's standardisation from training rows: mean and standard deviation of its present rows.

        Args:
            vectors: modality -> ``(n, dim)``.
            present: modality -> ``(n,)`` bool.

        A modality present on no row, and a feature with a standard deviation below 1e-6, keep scale 1.
        """
        for name, stage in self.inputs.items():
            rows = np.asarray(vectors[name], np.float64)[np.asarray(present[name], bool)]
            if len(rows) == 0:
                continue
            scale = rows.std(axis=0)
            stage.mean.copy_(torch.as_tensor(rows.mean(axis=0), dtype=stage.mean.dtype))
            stage.scale.copy_(torch.as_tensor(np.where(scale < 1e-6, 1.0, scale), dtype=stage.scale.dtype))

    def forward(self, features: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> ModelOutput:
        """Predict every task.

        Args:
            features: modality -> ``(batch, dim)`` float.
            mask: modality -> ``(batch,)`` bool, True where present; every item needs one present modality.

        Returns:
            ``ModelOutput`` (outputs per task ``(batch, n_outputs)``).
        """
        missing = set(self.input_dims) - set(features)
        if missing:
            raise ConfigurationError(f"the model expects modalities {self.modalities}; features lack {sorted(missing)}")
        prepared = {name: stage(features[name], mask[name].bool()) for name, stage in self.inputs.items()}
        fused, aux_loss, weights = self.fusion(prepared, {name: mask[name].bool() for name in self.input_dims})
        outputs = {task: head(fused) for task, head in self.heads.items()}
        return ModelOutput(outputs, aux_loss, weights, fused)


def _is_decision_level(name: str) -> bool:
    """Whether the fusion registered as ``name`` is decision-level, without knowing its output size yet."""
    from socialfusion.fusion import fusion_class

    return fusion_class(name).decision_level


def _head(fused_dim: int, size: int, hidden: int, dropout: float) -> nn.Module:
    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(fused_dim, size))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(fused_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, size))


def resolve_device(device: str | None) -> Any:
    """``torch.device`` for ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; None picks CUDA when available, else CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@contextlib.contextmanager
def seeded(random_state: int | None, device: Any = None) -> Iterator[None]:
    """Seed torch's global generators inside the block and restore the caller's state afterwards.

    Args:
        random_state: the seed; None leaves the generators as they are (not reproducible).
        device: the device that will run; its CUDA generator is forked and seeded too.
    """
    if random_state is None:
        yield
        return
    device = torch.device(device) if device is not None else torch.device("cpu")
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(int(random_state))
        yield


def run_model(model: MultimodalModel, vectors: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], *,
              batch_size: int = 256) -> ModelOutput:
    """Run ``model`` in evaluation mode over NumPy inputs, in batches, on the model's device.

    Args:
        model: a trained model.
        vectors: modality -> ``(n, dim)`` float32.
        present: modality -> ``(n,)`` bool; every row needs one present modality.
        batch_size: rows per forward pass.

    Returns:
        ``ModelOutput`` of CPU tensors over the ``n`` rows (``aux_loss`` is None).
    """
    device = next(model.parameters()).device
    n = len(next(iter(vectors.values())))
    was_training = model.training
    model.eval()
    outputs: dict[str, list[Tensor]] = {task: [] for task in model.tasks}
    weights: dict[str, list[Tensor]] | None = {name: [] for name in model.modalities}
    fused = []
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                rows = slice(start, start + batch_size)
                batch = {name: torch.as_tensor(np.asarray(vectors[name][rows], np.float32), device=device)
                         for name in model.modalities}
                mask = {name: torch.as_tensor(np.asarray(present[name][rows], bool), device=device)
                        for name in model.modalities}
                output = model(batch, mask)
                for task, value in output.outputs.items():
                    outputs[task].append(value.float().cpu())
                if output.weights is None:
                    weights = None
                elif weights is not None:
                    for name in model.modalities:
                        weights[name].append(output.weights[name].float().cpu())
                fused.append(output.fused.float().cpu())
    finally:
        model.train(was_training)
    sizes = model.heads_sizes
    return ModelOutput(
        {task: torch.cat(parts) if parts else torch.zeros(0, sizes[task]) for task, parts in outputs.items()},
        None,
        None if weights is None else {name: torch.cat(parts) if parts else torch.zeros(0)
                                      for name, parts in weights.items()},
        torch.cat(fused) if fused else torch.zeros(0, model.fusion.output_dim),
    )
