"""Learner tests run their tiny models on one thread: faster than several (nothing to split), and steady timings."""

from __future__ import annotations

import contextlib
import importlib.util

import pytest


@pytest.fixture(autouse=True)
def one_thread():
    """Torch and the OpenMP/BLAS pools (scikit-learn) on one thread during each test, restored afterwards."""
    with contextlib.ExitStack() as stack:
        if importlib.util.find_spec("threadpoolctl") is not None:
            import threadpoolctl

            stack.enter_context(threadpoolctl.threadpool_limits(1))
        if importlib.util.find_spec("torch") is not None:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(1)
            stack.callback(torch.set_num_threads, previous)
        yield


# -- toy fusions and a planted problem, shared by the learner tests ---------------------------------------------


def _toy_fusions():
    import torch

    from socialfusion.fusion import Fusion, FusionOutput, check_inputs

    def shares(fusion, mask):
        present = torch.stack([mask[name].float() for name in fusion.modalities], dim=1)
        return present / present.sum(dim=1, keepdim=True).clamp(min=1.0)

    class ToyMeanFusion(Fusion):
        """Mean over present modalities of tanh(linear(features)); weights 1/present."""

        name = "toy-mean"

        def __init__(self, input_dims, output_dim):
            super().__init__(input_dims, output_dim)
            self.projections = torch.nn.ModuleDict({name: torch.nn.Linear(dim, output_dim)
                                                    for name, dim in self.input_dims.items()})

        def forward(self, features, mask):
            check_inputs(self, features, mask)
            weights = shares(self, mask)
            fused = sum(weights[:, [column]] * torch.tanh(self.projections[name](features[name]))
                        for column, name in enumerate(self.modalities))
            return FusionOutput(fused, None, {name: weights[:, column] for column, name in enumerate(self.modalities)})

    class ToyLateFusion(ToyMeanFusion):
        """Decision level: the mean of per-modality linear predictions."""

        name = "toy-late"
        decision_level = True

        def forward(self, features, mask):
            check_inputs(self, features, mask)
            weights = shares(self, mask)
            fused = sum(weights[:, [column]] * self.projections[name](features[name])
                        for column, name in enumerate(self.modalities))
            aux = fused.pow(2).mean() * 0.0  # an auxiliary loss that exists, to exercise the plumbing
            return FusionOutput(fused, aux, {name: weights[:, column] for column, name in enumerate(self.modalities)})

    return {"toy-mean": ToyMeanFusion, "toy-late": ToyLateFusion}


@pytest.fixture
def toy_fusions(monkeypatch):
    """Registers "toy-mean" and "toy-late" for the test only (the registry is restored afterwards)."""
    from socialfusion.fusion import _base

    _base._load_builtin_fusions()
    fusions = _toy_fusions()
    for name, cls in fusions.items():
        monkeypatch.setitem(_base._FUSIONS, name, cls)
    return fusions


def make_planted(n: int = 300, seed: int = 0, *, image_only: bool = False, minority: float | None = None):
    """A planted two-class problem over a 6-d text and a 5-d image modality.

    Each item has text (60%) or image or both. By default the label shows in whichever modalities the item has
    (text column 0, image column 1); with ``image_only`` only the image carries it and the text is noise (then every
    item has both). ``minority`` makes class 1 that rare and the classes overlap.
    """
    import numpy as np

    from socialfusion.learn import ModalityFeatures

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(int) if minority else rng.integers(0, 2, n)
    signal = 2.0 * y - 1.0
    text = rng.normal(size=(n, 6)).astype(np.float32)
    image = rng.normal(size=(n, 5)).astype(np.float32)
    strength = 0.8 if minority else 1.5
    image[:, 1] += strength * signal
    if image_only:
        has_text = has_image = np.ones(n, bool)
    else:
        text[:, 0] += strength * signal
        has_text = rng.random(n) < 0.6
        has_image = ~has_text | (rng.random(n) < 0.5)
    features = ModalityFeatures({"text": text, "image": image}, {"text": has_text, "image": has_image},
                                [f"item-{index}" for index in range(n)])
    return features, y


@pytest.fixture
def planted():
    """The ``make_planted`` factory."""
    return make_planted
