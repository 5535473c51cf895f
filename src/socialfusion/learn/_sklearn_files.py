"""Fitted scikit-learn models in model files without pickle: linear pipelines explicitly, the others through skops.

A pipeline of ``StandardScaler`` and ``LogisticRegression`` steps is written by ``encode_sklearn`` (a ``ModelWriter``
hook) as its class name, its constructor parameters (JSON) and its fitted attributes (``coef_``, ``mean_``, ...: JSON
values and arrays), and rebuilt by ``decode_sklearn`` (a ``ModelReader`` hook) from those three things only: no other
class can be named. Models with trees or private helper objects (calibrated SVMs, random forests, gradient boosting)
go through skops (``skops_bytes`` / ``skops_model``), which builds objects without pickle and refuses every type that
is neither scikit-learn's own nor in ``SKOPS_TRUSTED``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from socialfusion._model_files import TYPE, ModelReader, ModelWriter
from socialfusion.exceptions import DataError, attempt_import

__all__ = ["SKOPS_TRUSTED", "decode_sklearn", "encode_sklearn", "skops_bytes", "skops_model"]

_EXPLICIT = {
    "LogisticRegression": "sklearn.linear_model",
    "Pipeline": "sklearn.pipeline",
    "StandardScaler": "sklearn.preprocessing",
}
_FITTED_NAME = re.compile(r"[a-z][a-z0-9_]*_")

SKOPS_TRUSTED = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
)
"""Types trusted by ``skops_model`` besides skops' defaults (scikit-learn estimators, NumPy and SciPy containers):
the private parts of a calibrated linear SVM, a random forest and histogram gradient boosting, and a NumPy dtype
(``SimpleImputer`` keeps the dtype it was fitted on; a dtype is data, built from its type string)."""


def _explicit_class(name: Any) -> type | None:
    module = _EXPLICIT.get(name) if isinstance(name, str) else None
    return None if module is None else getattr(importlib.import_module(module), name)


def encode_sklearn(writer: ModelWriter, value: Any, name: str) -> Any:
    """``ModelWriter`` hook: a ``Pipeline``, ``StandardScaler`` or ``LogisticRegression``; ``NotImplemented`` else."""
    class_name = type(value).__name__
    if type(value) is not _explicit_class(class_name):
        return NotImplemented
    params = value.get_params(deep=False)
    if class_name == "Pipeline":
        steps = params.pop("steps")
        return {TYPE: "sklearn", "class": class_name, "params": writer.encode(params, f"{name}/params"),
                "steps": [[step, writer.encode(model, f"{name}/{step}")] for step, model in steps]}
    fitted = {key: item for key, item in vars(value).items() if _FITTED_NAME.fullmatch(key)}
    return {TYPE: "sklearn", "class": class_name, "params": writer.encode(params, f"{name}/params"),
            "fitted": writer.encode(fitted, name)}


def decode_sklearn(reader: ModelReader, node: dict) -> Any:
    """``ModelReader`` hook of the ``"sklearn"`` nodes ``encode_sklearn`` wrote."""
    attempt_import("sklearn", "text")
    model_class = _explicit_class(node["class"])
    if model_class is None:
        raise reader.archive.invalid(f"a scikit-learn model of class {node['class']!r}; only "
                                     f"{sorted(_EXPLICIT)} are read from JSON")
    params = reader.decode(node["params"])
    if not isinstance(params, dict):
        raise reader.archive.invalid(f"the parameters of a {node['class']} are not a mapping")
    if model_class.__name__ == "Pipeline":
        steps = [(str(step), reader.decode(model)) for step, model in node["steps"]]
        if not steps or any(_explicit_class(type(model).__name__) is not type(model) for _, model in steps):
            raise reader.archive.invalid("a pipeline whose steps are not scikit-learn models read from the file")
        return _built(reader, model_class, {**params, "steps": steps})
    model = _built(reader, model_class, params)
    fitted = reader.decode(node["fitted"])
    if not isinstance(fitted, dict) or not fitted:
        raise reader.archive.invalid(f"a {node['class']} without fitted attributes")
    for key, value in fitted.items():
        if not _FITTED_NAME.fullmatch(key) or hasattr(model_class, key):
            raise reader.archive.invalid(f"a {node['class']} with the attribute {key!r}, which is not a fitted one")
        setattr(model, key, value)
    return model


def _built(reader: ModelReader, model_class: type, params: dict) -> Any:
    try:
        return model_class(**params)
    except TypeError as error:
        raise reader.archive.invalid(f"{model_class.__name__} does not take these parameters ({error}); the file may "
                                     "come from another scikit-learn version") from error


def skops_bytes(model: Any) -> bytes:
    """``model`` in skops' format."""
    return attempt_import("skops.io", "text").dumps(model)


def skops_model(data: bytes, what: str) -> Any:
    """The model of skops bytes, built without pickle; only skops' default types and ``SKOPS_TRUSTED`` are allowed.

    Raises:
        DataError: not skops data, or it names another type.
    """
    skops = attempt_import("skops.io", "text")
    try:
        return skops.loads(data, trusted=list(SKOPS_TRUSTED))
    except Exception as error:  # skops raises many kinds (zip, JSON, untrusted types); each means "not this model"
        raise DataError(f"{what} cannot be read ({type(error).__name__}: {error})") from error
