"""`dora personas`: export a card, import it under a new id, see it listed, refuse a broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dora.cli import app
from personas.io import load_card


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DORA_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_export_import_list(cli: CliRunner, tmp_path: Path) -> None:
    png = tmp_path / "kylie.png"
    assert cli.invoke(app, ["personas", "export", "kylie", str(png)]).exit_code == 0
    card = load_card(png)
    assert card.id == "kylie" and card.name == "Кайли"

    raw = card.to_dict()
    raw["data"]["name"] = "Соня"
    raw["data"]["extensions"]["dora"]["id"] = "sonya"
    source = tmp_path / "sonya.json"
    source.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    result = cli.invoke(app, ["personas", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "personas" / "sonya.json").is_file()

    listed = cli.invoke(app, ["personas", "list"]).output
    assert "sonya" in listed and "Соня" in listed and "dora" in listed


def test_import_refuses_a_card_without_a_name(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": {"extensions": {}}}))
    result = cli.invoke(app, ["personas", "import", str(bad)])
    assert result.exit_code != 0
    assert "data.name" in str(result.exception)
    assert not (tmp_path / "data" / "personas").exists()
