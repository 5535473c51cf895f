"""The public surface: sorted ``__all__`` lists that resolve, a light ``import socialfusion``, one exception tree."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys

import pytest

import socialfusion.exceptions as exceptions
from socialfusion.exceptions import MissingDependencyError, attempt_import

PUBLIC_MODULES = [
    "socialfusion",
    "socialfusion.datasets",
    "socialfusion.io",
    "socialfusion.report",
    "socialfusion.schema",
    "socialfusion.store",
]


def export_order(name: str) -> tuple[int, str]:
    """The order of a sorted ``__all__`` (ruff's RUF022): CONSTANTS, then Classes, then the rest, each A-Z."""
    if name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


def public_all(module_name: str) -> list[str]:
    return list(importlib.import_module(module_name).__all__)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted(module_name):
    names = public_all(module_name)

    assert names == sorted(names, key=export_order)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_exported_name_resolves(module_name):
    module = importlib.import_module(module_name)
    names = public_all(module_name)

    assert len(names) == len(set(names)), "duplicate names in __all__"
    for name in names:
        assert getattr(module, name) is not None, name


def test_top_level_names_by_eye():
    import socialfusion

    assert socialfusion.__version__ == "0.1.0"
    assert socialfusion.connect is importlib.import_module("socialfusion.store").connect
    assert socialfusion.ingest is importlib.import_module("socialfusion.ingestion").ingest
    assert callable(socialfusion.ingest)  # a function, not the module that implements it


HEAVY_MODULES = ["lancedb", "plotly", "pandas", "torch", "av"]


def test_import_socialfusion_does_not_import_heavy_dependencies():
    code = (
        "import json, sys\n"
        "import socialfusion\n"
        f"print(json.dumps(sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules)))\n"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)

    assert json.loads(result.stdout) == []


def test_attempt_import_returns_an_installed_module():
    assert attempt_import("json", "core") is json


def test_attempt_import_names_the_pip_install():
    with pytest.raises(MissingDependencyError) as caught:
        attempt_import("surely_not_a_module_xyz", "media")

    assert "pip install 'socialfusion[media]'" in str(caught.value)
    assert "'surely_not_a_module_xyz'" in str(caught.value)
    assert isinstance(caught.value, ImportError)
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def drawn_tree() -> dict[str, str | None]:
    """Each class in the drawing of the exceptions module docstring, mapped to the class drawn above it."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in exceptions.__doc__.splitlines():
        found = re.search(r"[A-Z]\w+Error", line)
        if found is None:
            continue
        column, name = found.start(), found.group(0)
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents


def test_the_drawing_by_eye():
    assert drawn_tree() == {
        "SocialFusionError": None,
        "ConfigurationError": "SocialFusionError",
        "MissingDependencyError": "ConfigurationError",
        "DataError": "SocialFusionError",
        "SchemaValidationError": "DataError",
        "DatasetNotFoundError": "DataError",
        "IntegrityError": "DataError",
        "NotFoundError": "DataError",
        "MediaError": "SocialFusionError",
        "StoreError": "SocialFusionError",
    }


def test_exception_classes_match_the_drawing():
    tree = drawn_tree()
    defined = {name for name, value in vars(exceptions).items()
               if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == exceptions.__name__}

    assert defined == set(tree)
    for name, parent in tree.items():
        cls = getattr(exceptions, name)
        if parent is None:
            assert cls.__bases__ == (Exception,)
        else:
            # The drawn parent is the first base; further bases are builtins (ValueError, ImportError, ...).
            assert cls.__bases__[0] is getattr(exceptions, parent), name
            assert all(base.__module__ == "builtins" for base in cls.__bases__[1:]), name


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ConfigurationError", ValueError),
        ("MissingDependencyError", ImportError),
        ("DataError", ValueError),
        ("DatasetNotFoundError", FileNotFoundError),
    ],
)
def test_errors_are_also_the_builtin_callers_expect(name, builtin):
    assert issubclass(getattr(exceptions, name), builtin)
