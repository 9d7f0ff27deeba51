"""`dora personas`: export a card, import it under a new id, see it listed, refuse a broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dora.cli import app
from personas.io import load_card
from tests.cardkit import FIXTURES, fixture, png_card, v3_card_with_assets_and_lore
from tests.test_cli_chat import dora


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


# -- cards from elsewhere --------------------------------------------------------------------------------


def test_a_stock_card_imports_with_one_command_and_says_what_it_assumed(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = cli.invoke(app, ["personas", "import", str(FIXTURES / "alisa_v2_stock.json")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "assumed id: 'alisa-gromova'" in out and "module: support" in out and "adult content: off" in out
    assert "creator_notes" in out  # what DORA ignores is said too
    saved = json.loads((tmp_path / "data" / "personas" / "alisa-gromova.json").read_text("utf-8"))
    dora = saved["data"]["extensions"]["dora"]
    assert dora["module"] == "support" and dora["adult_content"] is False and dora["age"] == 24
    assert saved["data"]["extensions"]["depth_prompt"] == {"prompt": "", "depth": 4, "role": "system"}
    assert "alisa-gromova" in cli.invoke(app, ["personas", "list"]).output


def test_a_minor_is_refused_for_partner_and_nothing_is_written(cli: CliRunner, tmp_path: Path) -> None:
    card = str(FIXTURES / "nika_minor_v2.json")
    result = cli.invoke(app, ["personas", "import", card, "--module", "partner", "--age", "25"])
    assert result.exit_code != 0
    assert "under 18" in str(result.exception)
    assert not (tmp_path / "data" / "personas").exists()
    assert cli.invoke(app, ["personas", "import", card]).exit_code == 0  # as Support it is fine


def test_partner_import_needs_an_age_and_adult_content_needs_the_operator(
    cli: CliRunner, tmp_path: Path
) -> None:
    raw = fixture("alisa_v2_stock.json")
    raw["data"]["description"] = "{{char}} — бариста."
    raw["data"]["extensions"]["dora"] = {"adult_content": True}
    source = tmp_path / "barista.json"
    source.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    no_age = cli.invoke(app, ["personas", "import", str(source), "--module", "partner"])
    assert no_age.exit_code != 0 and "--age" in str(no_age.exception)
    ok = cli.invoke(app, ["personas", "import", str(source), "--module", "partner", "--age", "26"])
    assert ok.exit_code == 0, ok.output
    assert "adult content: off" in ok.output
    saved = tmp_path / "data" / "personas" / "alisa-gromova.json"
    assert json.loads(saved.read_text("utf-8"))["data"]["extensions"]["dora"]["adult_content"] is False
    adult = cli.invoke(
        app, ["personas", "import", str(source), "--module", "partner", "--age", "26", "--adult"]
    )
    assert adult.exit_code == 0
    assert json.loads(saved.read_text("utf-8"))["data"]["extensions"]["dora"]["adult_content"] is True


def test_a_v3_png_brings_its_pictures_and_a_world_file_its_lore(cli: CliRunner, tmp_path: Path) -> None:
    raw, assets = v3_card_with_assets_and_lore()
    png = png_card(tmp_path / "marina.png", ccv3=raw, assets=assets)
    checked = cli.invoke(app, ["personas", "validate", str(png)])
    assert checked.exit_code == 0, checked.output
    assert "1 lorebook entries" in checked.output and "persona prefix ≈" in checked.output
    assert "lorebook entry Атлантида: Атлантида (≈" in checked.output
    assert "downloads nothing" in checked.output and "погружение" in checked.output
    world = str(FIXTURES / "atlantis_world.json")
    result = cli.invoke(app, ["personas", "import", str(png), "--lorebook", world, "--greeting", "1"])
    assert result.exit_code == 0, result.output
    assert "4 photos, 3 lorebook entries" in result.output
    folder = tmp_path / "data" / "personas"
    saved = json.loads((folder / "marina.json").read_text("utf-8"))
    photos = saved["data"]["extensions"]["dora"]["photos"]
    assert [p["caption"] for p in photos] == ["Марина", "погружение", "boat deck", "shell"]
    assert all((folder / p["file"]).is_file() for p in photos)
    assert saved["data"]["extensions"]["dora"]["greeting"] == 1
    assert (folder / "lorebooks" / "marina.json").is_file()
    listed = cli.invoke(app, ["personas", "list"]).output
    assert "marina" in listed
    exported = tmp_path / "out.png"
    assert cli.invoke(app, ["personas", "export", "marina", str(exported)]).exit_code == 0
    again = load_card(exported)
    assert again.data.model_extra and again.data.model_extra["assets"] == raw["data"]["assets"]


def test_stock_card_answers_in_dora_chat_and_shows_its_lore(tmp_path: Path) -> None:
    """Done means: one command imports a stock card, `dora chat` answers as it, and --show-memory
    names the lorebook entry that fired (a real process, the tiny llama.cpp model)."""
    data = tmp_path / "data"
    world = str(FIXTURES / "atlantis_world.json")
    imported = dora(
        ["personas", "import", str(FIXTURES / "alisa_v2_stock.json"), "--lorebook", world], data, ""
    )
    assert imported.returncode == 0, imported.stderr
    chat = dora(
        ["chat", "--user", "u1", "--persona", "alisa-gromova", "--show-memory"],
        data,
        "расскажи про Атлантиду\nкак дела?\n",
    )
    assert chat.returncode == 0, chat.stderr
    assert len([b for b in chat.stdout.split("\n\n") if b.strip()]) == 2
    assert chat.stderr.count("lorebook entries given to this reply") >= 1
    assert "Атлантида (key «Атлантида»)" in chat.stderr


def test_import_keeps_the_built_ins_unless_told(cli: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "dora.json"
    source.write_text(json.dumps({"name": "Dora", "description": "An explorer."}), encoding="utf-8")
    result = cli.invoke(app, ["personas", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert "id: 'dora-2'" in result.output and (tmp_path / "data" / "personas" / "dora-2.json").is_file()
    replaced = cli.invoke(app, ["personas", "import", str(source), "--id", "dora"])
    assert replaced.exit_code == 0 and (tmp_path / "data" / "personas" / "dora.json").is_file()


def test_an_exported_png_imported_elsewhere_keeps_its_picture(cli: CliRunner, tmp_path: Path) -> None:
    png = tmp_path / "away" / "mark.png"
    assert cli.invoke(app, ["personas", "export", "mark", str(png)]).exit_code == 0
    result = cli.invoke(app, ["personas", "import", str(png), "--id", "mark-copy", "--adult"])
    assert result.exit_code == 0, result.output
    assert "photos are not beside it" in result.output
    saved = load_card(tmp_path / "data" / "personas" / "mark-copy.json")
    assert [p.file for p in saved.dora.photos] == ["photos/mark-copy/avatar.png"]
    assert saved.photo_path(saved.dora.photos[0]).is_file() and saved.adult_content


def test_a_partner_import_on_a_terminal_asks_the_age(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dora.cli_personas._interactive", lambda: True)
    raw = fixture("alisa_v2_stock.json")
    raw["data"]["description"] = "{{char}} — бариста."
    source = tmp_path / "barista.json"
    source.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    young = cli.invoke(app, ["personas", "import", str(source), "--module", "partner"], input="17\n")
    assert young.exit_code != 0  # an answer under 18 is refused like any other
    result = cli.invoke(app, ["personas", "import", str(source), "--module", "partner"], input="29\n")
    assert result.exit_code == 0, result.output
    assert "How old is the character?" in result.output
    saved = json.loads((tmp_path / "data" / "personas" / "alisa-gromova.json").read_text("utf-8"))
    assert saved["data"]["extensions"]["dora"]["age"] == 29
