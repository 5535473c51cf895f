"""The example notebooks run from top to bottom, in this interpreter's environment, and are kept without outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
KERNEL = "socialfusion-tests"


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> str:
    """A kernelspec in a temporary Jupyter path that starts this interpreter: nothing is installed globally."""
    folder = tmp_path / "jupyter" / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "socialfusion tests", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return KERNEL


def _run(path: Path, kernel: str):
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name=kernel, timeout=600,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def test_there_are_two_examples():
    assert [path.name for path in NOTEBOOKS] == ["demo.ipynb", "weibo_covid19.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebooks_are_stored_without_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip the outputs"


@pytest.mark.slow
def test_demo_notebook_runs(kernel):
    notebook = _run(EXAMPLES / "demo.ipynb", kernel)
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "report.html" in printed and "sports.html" in printed and "social.gexf" in printed
    assert "adjusted Rand index" in printed


@pytest.mark.slow
def test_dataset_notebook_runs(kernel, shared_data, monkeypatch):
    monkeypatch.setenv("SOCIALFUSION_DATA", str(shared_data))
    notebook = _run(EXAMPLES / "weibo_covid19.ipynb", kernel)
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "peaked on" in printed and "mention masks" in printed and "fear" in printed and "masks.html" in printed
