"""The operator notebooks run headless (nbclient) on a `dora demo seed` data dir and draw their
plots; on an empty data dir they say so instead of failing."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from typer.testing import CliRunner

from dora.cli import app

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def images(nb: nbformat.NotebookNode) -> int:
    return sum(1 for o in outputs(nb) if "image/png" in o.get("data", {}))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DORA_DATA_DIR", str(data))
        result = CliRunner().invoke(app, ["demo", "seed", "--users", "6"])
    assert result.exit_code == 0, result.output
    return data


@pytest.mark.parametrize(("name", "plots"), [("inspect_memories.ipynb", 2), ("funnel.ipynb", 2)])
def test_notebooks_run_on_demo_data_and_plot(name, plots, demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DORA_DATA_DIR", str(demo_dir))
    nb = execute(name, tmp_path)
    assert not [o for o in outputs(nb) if o.get("output_type") == "error"]
    assert images(nb) >= plots


@pytest.mark.parametrize("name", ["inspect_memories.ipynb", "funnel.ipynb"])
def test_notebooks_on_an_empty_data_dir_say_so(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DORA_DATA_DIR", str(tmp_path / "empty"))
    nb = execute(name, tmp_path)
    text = "".join(o.get("text", "") for o in outputs(nb))
    assert "No DORA data" in text and images(nb) == 0


def test_notebooks_are_built_from_their_source() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", NOTEBOOKS / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, cells in (("inspect_memories.ipynb", build.INSPECT), ("funnel.ipynb", build.FUNNEL)):
        stored = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert [c.source for c in stored.cells] == [c.source for c in cells]
