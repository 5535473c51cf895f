"""MultiTaskLoss: the training loss of one or several tasks, with fixed or learned task weights, plus the fusion's.

The total is ``sum_i lambda_i * L_i + aux_weight * aux_loss`` with fixed weights ``lambda_i`` (1 by default), or,
with ``learn_weights=True``, homoscedastic uncertainty weighting (Kendall, Gal and Cipolla, 2018):
``sum_i exp(-s_i) * L_i + s_i + aux_weight * aux_loss``, where ``s_i = log(sigma_i^2)`` is a learned parameter per
task (``log_variances``, starting at 0, so the first steps weigh every task 1). A task that is noisy or harder
gets a larger ``s_i`` and so a smaller weight; the ``+ s_i`` term stops every weight from collapsing to 0.

Per task, ``L_i`` is the mean over the items that have a target:

- ``"classification"``: cross-entropy of logits ``(batch, n_classes)`` against class indices ``(batch,)`` int64,
  optionally with per-class weights (then the weighted mean, as ``torch.nn.functional.cross_entropy``); a target
  below 0 (``MISSING_CLASS``) is missing;
- ``"regression"``: mean squared error of ``(batch, 1)`` (or ``(batch, k)``) outputs against ``(batch,)`` (or
  ``(batch, k)``) float targets; a NaN target is missing.

A task with no target in a batch adds nothing to that batch's total (not even its ``s_i``).

Examples:
    >>> import torch
    >>> loss = MultiTaskLoss({"topic": "classification", "likes": "regression"}, task_weights={"likes": 0.5})
    >>> outputs = {"topic": torch.zeros(2, 3), "likes": torch.tensor([[1.0], [2.0]])}
    >>> targets = {"topic": torch.tensor([0, MISSING_CLASS]), "likes": torch.tensor([1.0, 4.0])}
    >>> result = loss(outputs, targets)
    >>> round(float(result.tasks["topic"]), 4), float(result.tasks["likes"]), round(float(result.total), 4)
    (1.0986, 2.0, 2.0986)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from socialfusion.exceptions import ConfigurationError, attempt_import

torch = attempt_import("torch", "text")
nn = torch.nn
Tensor = torch.Tensor

__all__ = ["MISSING_CLASS", "TASK_KINDS", "LossOutput", "MultiTaskLoss"]

TASK_KINDS = ("classification", "regression")
MISSING_CLASS = -1
"""The class index of an item whose label is missing (any negative index counts as missing)."""


class LossOutput(NamedTuple):
    """What ``MultiTaskLoss`` returns.

    Attributes:
        total: the scalar to minimise.
        tasks: task -> its unweighted loss ``L_i`` over the batch; tasks without a target in the batch are absent.
    """

    total: Tensor
    tasks: dict[str, Tensor]


class MultiTaskLoss(nn.Module):
    """The combined loss of several tasks and the fusion's auxiliary loss.

    Args:
        tasks: task -> kind, one of ``TASK_KINDS``.
        task_weights: fixed weight per task (missing tasks weigh 1); not allowed with ``learn_weights``.
        learn_weights: learn the weights by homoscedastic uncertainty (the ``log_variances`` parameter); the loss
            module's parameters must then be given to the optimiser.
        aux_weight: weight of the fusion's auxiliary loss.
        class_weights: classification task -> one weight per class.

    Attributes:
        log_variances: ``(n_tasks,)`` learned ``s_i`` in ``tasks`` order, or None with fixed weights.

    Raises:
        ConfigurationError: an unknown kind, weights for unknown tasks, negative weights, or fixed weights together
            with ``learn_weights``.
    """

    def __init__(self, tasks: Mapping[str, str], *, task_weights: Mapping[str, float] | None = None,
                 learn_weights: bool = False, aux_weight: float = 1.0,
                 class_weights: Mapping[str, Sequence[float]] | None = None):
        super().__init__()
        if not tasks:
            raise ConfigurationError("MultiTaskLoss needs at least one task, e.g. {'label': 'classification'}")
        for name, kind in tasks.items():
            if kind not in TASK_KINDS:
                raise ConfigurationError(f"task {name!r} has unknown kind {kind!r}; expected one of {TASK_KINDS}")
        self.kinds = dict(tasks)
        if learn_weights and task_weights:
            raise ConfigurationError("give fixed task_weights or learn_weights=True, not both")
        _check_known("task_weights", task_weights or {}, self.kinds)
        _check_known("class_weights", class_weights or {}, self.kinds)
        self.fixed_weights = {name: float((task_weights or {}).get(name, 1.0)) for name in self.kinds}
        if any(weight < 0 for weight in self.fixed_weights.values()) or aux_weight < 0:
            raise ConfigurationError(f"weights must be non-negative; got {self.fixed_weights}, aux {aux_weight}")
        self.aux_weight = float(aux_weight)
        self.log_variances = nn.Parameter(torch.zeros(len(self.kinds))) if learn_weights else None
        self.class_weights = {}
        for name, weights in (class_weights or {}).items():
            if self.kinds[name] != "classification":
                raise ConfigurationError(f"class_weights given for {name!r}, a {self.kinds[name]} task")
            if weights is not None:
                self.class_weights[name] = torch.as_tensor(list(weights), dtype=torch.float32)

    def task_weights(self) -> dict[str, float]:
        """The current weight of each task: ``lambda_i``, or ``exp(-s_i)`` when learned."""
        if self.log_variances is None:
            return dict(self.fixed_weights)
        return {name: float(torch.exp(-value)) for name, value in zip(self.kinds, self.log_variances.detach())}

    def task_losses(self, outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each task's unweighted loss ``L_i`` over the items with a target; tasks with none are absent.

        Args:
            outputs: task -> ``(batch, n_outputs)``.
            targets: task -> ``(batch,)`` class indices (classification) or values (regression).
        """
        losses = {}
        for name, kind in self.kinds.items():
            output, target = outputs[name], targets[name].to(outputs[name].device)
            if kind == "classification":
                keep = target >= 0
                if not bool(keep.any()):
                    continue
                weight = self.class_weights.get(name)
                losses[name] = nn.functional.cross_entropy(
                    output[keep], target[keep].long(), weight=None if weight is None else weight.to(output.device)
                )
            else:
                target = target.to(output.dtype)
                if target.ndim == 1:
                    target = target[:, None]
                keep = ~torch.isnan(target)
                if not bool(keep.any()):
                    continue
                losses[name] = nn.functional.mse_loss(output.reshape(target.shape)[keep], target[keep])
        return losses

    def forward(self, outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                aux_loss: Tensor | None = None) -> LossOutput:
        """The combined loss.

        Args:
            outputs: task -> ``(batch, n_outputs)``.
            targets: task -> ``(batch,)`` class indices (classification, ``MISSING_CLASS`` when missing) or values
                (regression, NaN when missing).
            aux_loss: the fusion's auxiliary loss, or None.

        Returns:
            ``LossOutput(total, tasks)``.
        """
        losses = self.task_losses(outputs, targets)
        device = next(iter(outputs.values())).device
        total = torch.zeros((), device=device)
        for index, name in enumerate(self.kinds):
            if name not in losses:
                continue
            if self.log_variances is None:
                total = total + self.fixed_weights[name] * losses[name]
            else:
                log_variance = self.log_variances[index]
                total = total + torch.exp(-log_variance) * losses[name] + log_variance
        if aux_loss is not None and self.aux_weight:
            total = total + self.aux_weight * aux_loss
        return LossOutput(total, losses)


def _check_known(argument: str, given: Mapping[str, object], tasks: Mapping[str, str]) -> None:
    unknown = set(given) - set(tasks)
    if unknown:
        raise ConfigurationError(f"{argument} names unknown tasks {sorted(unknown)}; the tasks are {list(tasks)}")
