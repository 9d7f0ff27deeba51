"""`dora demo seed`: reproducible demo data through the real stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dora.cli import app


def seed(cli: CliRunner, data: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("DORA_DATA_DIR", str(data))
    result = cli.invoke(app, ["demo", "seed", "--users", "6"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_seed_is_reproducible_and_readable_by_the_operator_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps table cells to the terminal's width
    cli = CliRunner()
    first = seed(cli, tmp_path / "a", monkeypatch)
    assert first["users"] == 6 and first["invalidated"] >= 1 and first["payments"] >= 1
    assert first["events"] > first["episodes"]

    exported_a = json.loads(cli.invoke(app, ["users", "export", "100001"]).stdout)
    second = seed(cli, tmp_path / "b", monkeypatch)
    exported_b = json.loads(cli.invoke(app, ["users", "export", "100001"]).stdout)
    assert first == second
    texts = [sorted(f["text"] for f in e["memory"]["facts"]) for e in (exported_a, exported_b)]
    assert texts[0] == texts[1] and len(texts[0]) == 4  # three facts and the job that replaced one
    assert sum(1 for f in exported_a["memory"]["facts"] if f["expired_at"]) == 1

    listed = cli.invoke(app, ["users", "list"])
    assert listed.exit_code == 0 and "100006" in listed.stdout
    again = cli.invoke(app, ["demo", "seed"])
    assert again.exit_code == 1  # refuses a data dir that already has data
