"""The public surface of socialfusion.learn: a sorted ``__all__`` that resolves, and no PyTorch until needed."""

from __future__ import annotations

import json
import subprocess
import sys

import socialfusion.learn as learn


def export_order(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then the rest, each A-Z (as tests/test_public_api.py)."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2), name


def test_all_is_sorted_and_every_name_resolves():
    assert learn.__all__ == sorted(learn.__all__, key=export_order)
    assert len(set(learn.__all__)) == len(learn.__all__)
    for name in learn.__all__:
        assert getattr(learn, name) is not None, name
    assert set(learn.__all__) <= set(dir(learn))


def test_modality_features_and_the_classic_learners_need_no_torch():
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from socialfusion.learn import ModalityFeatures, MultimodalClassifier\n"
        "features = ModalityFeatures({'text': np.eye(4)[[0, 1, 0, 1] * 5]}, {'text': np.ones(20, bool)})\n"
        "MultimodalClassifier(learner='logistic').fit(features, [0, 1] * 10)\n"
        "print(json.dumps('torch' in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)

    assert json.loads(result.stdout) is False
