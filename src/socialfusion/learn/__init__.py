"""Learning from fused modalities: models, training, multi-task losses, estimators and explanations.

``ModalityFeatures`` needs only NumPy; every other name is imported on first use, so that ``from socialfusion.learn
import ModalityFeatures`` (or a classic scikit-learn learner) does not import PyTorch. The neural models need the
``text`` or ``image`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from socialfusion.learn._data import ModalityFeatures

if TYPE_CHECKING:
    from socialfusion.learn.estimators import LEARNERS, MultimodalClassifier, MultimodalMultiTask
    from socialfusion.learn.explain import Explanation, explain, modality_deltas, word_contributions
    from socialfusion.learn.finetune import FineTunedTextEncoder, fine_tune_text_encoder
    from socialfusion.learn.image_finetune import (
        EfficientNetTrunk,
        FineTunedImageBlocks,
        TrunkActivations,
        fine_tune_image_blocks,
    )
    from socialfusion.learn.image_words import image_words
    from socialfusion.learn.model import ModelOutput, MultimodalModel
    from socialfusion.learn.multitask import MISSING_CLASS, TASK_KINDS, LossOutput, MultiTaskLoss
    from socialfusion.learn.stacking import StackedFusionClassifier
    from socialfusion.learn.text_linear import TfidfTextClassifier
    from socialfusion.learn.trainer import EpochRecord, Trainer, TrainingHistory
    from socialfusion.learn.transfer import TransferredPredictions

__all__ = [
    "LEARNERS",
    "MISSING_CLASS",
    "TASK_KINDS",
    "EfficientNetTrunk",
    "EpochRecord",
    "Explanation",
    "FineTunedImageBlocks",
    "FineTunedTextEncoder",
    "LossOutput",
    "ModalityFeatures",
    "ModelOutput",
    "MultiTaskLoss",
    "MultimodalClassifier",
    "MultimodalModel",
    "MultimodalMultiTask",
    "StackedFusionClassifier",
    "TfidfTextClassifier",
    "Trainer",
    "TrainingHistory",
    "TransferredPredictions",
    "TrunkActivations",
    "explain",
    "fine_tune_image_blocks",
    "fine_tune_text_encoder",
    "image_words",
    "modality_deltas",
    "word_contributions",
]

_MODULES = {
    "estimators": ("LEARNERS", "MultimodalClassifier", "MultimodalMultiTask"),
    "explain": ("Explanation", "explain", "modality_deltas", "word_contributions"),
    "finetune": ("FineTunedTextEncoder", "fine_tune_text_encoder"),
    "model": ("ModelOutput", "MultimodalModel"),
    "multitask": ("MISSING_CLASS", "TASK_KINDS", "LossOutput", "MultiTaskLoss"),
    "stacking": ("StackedFusionClassifier",),
    "trainer": ("EpochRecord", "Trainer", "TrainingHistory"),
    "image_finetune": ("EfficientNetTrunk", "FineTunedImageBlocks", "TrunkActivations", "fine_tune_image_blocks"),
    "transfer": ("TransferredPredictions",),
    "image_words": ("image_words",),
    "text_linear": ("TfidfTextClassifier",),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
