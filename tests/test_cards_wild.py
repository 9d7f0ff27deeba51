"""Cards from elsewhere: V1, V2 and V3 cards without DORA's block load with stated defaults, a minor
is never a Partner persona, macros render, pictures become the photo library, and export keeps
everything the card came with."""

from __future__ import annotations

import base64
import copy
import json
import textwrap
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from agent.prompts import build_prompt as build_prompt_messages
from agent.prompts import static_prompt
from personas import CardError, PersonaLibrary, export_card_json, export_card_png, load_card
from personas.adopt import Overrides
from personas.assets import card_images, write_photos
from personas.io import card_from_dict, embedded_files, iter_png_text, png_chunks
from personas.minor import read_age
from personas.modules import Module
from personas.translit import slugify
from tests.cardkit import FIXTURES, fixture, picture, png_card, v3_card_with_assets_and_lore
from tools.imagegen import ImageRejectedError, build_prompt

STOCK = ["alisa_v2_stock.json", "miles_v1_pyg.json", "nika_minor_v2.json", "captain_chub_v2.json"]


@pytest.mark.parametrize(
    ("name", "persona_id", "age", "languages", "gender"),
    [
        ("alisa_v2_stock.json", "alisa-gromova", 24, ["ru"], "female"),
        ("miles_v1_pyg.json", "miles", 67, ["en"], "male"),
        ("nika_minor_v2.json", "nika", None, ["ru"], None),
        ("captain_chub_v2.json", "captain-elena-voss", 41, ["en"], "female"),
    ],
)
def test_stock_cards_load_with_stated_defaults(
    name: str, persona_id: str, age: int | None, languages: list[str], gender: str | None
) -> None:
    card = load_card(FIXTURES / name)
    assert (card.id, card.module, card.age, card.languages, card.dora.gender) == (
        persona_id,
        Module.SUPPORT,
        age,
        languages,
        gender,
    )
    assert card.adult_content is False
    said = "\n".join(card.assumed)
    assert f"id: '{persona_id}'" in said and "module: support" in said and "adult content: off" in said


def test_what_is_ignored_is_reported() -> None:
    card = load_card(FIXTURES / "captain_chub_v2.json")
    ignored = "\n".join(card.ignored)
    assert "creator_notes" in ignored and "chub" in ignored and "depth_prompt" not in ignored  # used


def test_minor_is_never_a_partner_whatever_the_card_claims() -> None:
    with pytest.raises(CardError, match="under 18") as err:
        load_card(FIXTURES / "nika_minor_v2.json", Overrides(module="partner", age=25))
    assert err.value.field == "data.description"
    assert "шестнадцатилетняя" in str(err.value)
    # a hostile card with DORA's own block: partner, 25, adult on, and a text that says 16
    raw = fixture("alisa_v2_stock.json")
    raw["data"]["description"] = "{{char}} is 16 and goes to high school."
    raw["data"]["extensions"]["dora"] = {"id": "x", "module": "partner", "age": 25, "adult_content": True}
    with pytest.raises(CardError, match="under 18"):
        card_from_dict(raw, "hostile.json")
    # the same card as Support is fine (no romance, nothing explicit in that module)
    raw["data"]["extensions"]["dora"]["module"] = "support"
    assert card_from_dict(raw, "ok.json").module is Module.SUPPORT


def test_partner_needs_an_age_and_takes_a_stated_one() -> None:
    miles = load_card(FIXTURES / "miles_v1_pyg.json", Overrides(module="partner", id="x"))
    assert (miles.module, miles.age) == (Module.PARTNER, 67)  # the card states it
    raw = fixture("alisa_v2_stock.json")
    raw["data"]["description"] = "{{char}} — бариста из маленькой кофейни."
    with pytest.raises(CardError) as err:
        card_from_dict(raw, "a.json", overrides=Overrides(module="partner"))
    assert err.value.field == "data.extensions.dora.age"
    card = card_from_dict(raw, "a.json", overrides=Overrides(module="partner", age=30))
    assert (card.module, card.age) == (Module.PARTNER, 30)


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("Ей 16 лет.", True),
        ("She is a 15-year-old girl.", True),
        ("{{char}} is 17, a high school senior.", True),
        ("Ученица 9 класса.", True),
        ("Ей 27, рисует.", False),
        ("A 25-year-old nurse; as a child she loved cats.", False),
        ("Когда она была подростком, жила у моря.", False),
        ("Работает в школе 10 лет, учительница.", False),
    ],
)
def test_reading_the_age_from_the_text(text: str, minor: bool) -> None:
    assert read_age([text]).minor is minor


def test_ids_are_transliterated() -> None:
    assert slugify("Алиса Громова") == "alisa-gromova"
    assert slugify("Щука & Юля") == "shchuka-iulia"
    assert slugify("Zoë") == "zoe"
    assert slugify("🙂") == "persona"


def test_macros_render_everywhere_the_model_or_the_user_reads() -> None:
    card = load_card(FIXTURES / "miles_v1_pyg.json")
    assert card.greeting("en") == "Evening, you. Miles here. So, what's wrong with that radio of yours?"
    assert card.greeting("ru", user_name="Аня").startswith("Evening, Аня.")
    prompt = static_prompt(card, "en", adult_unlocked=False)
    for macro in ("{{char}}", "{{user}}", "<USER>", "<BOT>", "{{original}}"):
        assert macro.lower() not in prompt.lower()
    assert card.examples() == [
        ("It just hums.", "Hum is good news, lad. Means the valves are warm. Let's look at the capacitors.")
    ]
    captain = load_card(FIXTURES / "captain_chub_v2.json")
    assert "{{original}}" not in static_prompt(captain, "en", adult_unlocked=False)


def test_opening_lines_random_or_chosen() -> None:
    card = load_card(FIXTURES / "alisa_v2_stock.json")
    assert card.dora.greeting == "random" and len(card.opening_lines()) == 3
    assert {card.greeting("ru", choice=i) for i in range(3)} == {
        "*Алиса Громова вытирает стойку и поднимает глаза* О, ты! Тебе как обычно?",
        "*Алиса Громова машет рукой из-за кофемашины* Заходи, ты, у нас новый сорт!",
        "Ой, ты, ты вовремя: я как раз сварила лишнюю чашку.",
    }
    chosen = load_card(FIXTURES / "alisa_v2_stock.json", Overrides(greeting=2))
    assert chosen.greeting("ru").startswith("Ой,")


def test_json_round_trip_keeps_every_field(tmp_path: Path) -> None:
    for name in STOCK:
        original = fixture(name)
        card = load_card(FIXTURES / name)
        again = load_card(export_card_json(card, tmp_path / name))
        assert again.to_dict() == card.to_dict()
        exported = again.to_dict()
        if "data" in original:  # V2/V3: every field of the original is still there, unchanged or filled
            for key, value in original["data"].items():
                if key == "extensions":
                    for ext, block in (value or {}).items():
                        assert exported["data"]["extensions"][ext] == block
                elif value is not None:
                    assert exported["data"][key] == value, key
            for key, value in original.items():
                if key != "data":
                    assert exported[key] == value


def test_v2_png_card_without_extensions_plays_its_picture(tmp_path: Path) -> None:
    raw = fixture("alisa_v2_stock.json")
    path = png_card(tmp_path / "alisa.png", chara=raw)
    card = load_card(path)
    assert card.id == "alisa-gromova"
    assert [p.file for p in card.photo_library] == ["alisa.png"]  # one avatar, one photo
    assert "photos" not in card.to_dict()["data"]["extensions"]["dora"]  # not written into the card
    library = PersonaLibrary([tmp_path])
    assert library.get("alisa-gromova").photos(include_pro=False)[0].caption == "Алиса Громова"
    out = export_card_png(card, tmp_path / "out" / "alisa.png")
    assert load_card(out).to_dict(spec="chara_card_v2") == card.to_dict()  # the ccv3 chunk is read first


def test_v3_png_assets_become_a_photo_library(tmp_path: Path) -> None:
    raw, assets = v3_card_with_assets_and_lore()
    path = png_card(tmp_path / "marina.png", ccv3=raw, chara=raw | {"spec": "chara_card_v2"}, assets=assets)
    card = load_card(path)
    assert card.spec == "chara_card_v3" and card.display_name == "Мариша"
    assert card.greeting("ru") == "Привет, ты! Я только что с погружения."
    found = card_images(
        card.data.model_dump(mode="json"), card.name, chunks=png_chunks(path), card_png=path.read_bytes()
    )
    assert [(i.caption, i.source.split(":")[0]) for i in found.images] == [
        ("Марина", "ccdefault"),
        ("погружение", "embeded"),
        ("boat deck", "embeded"),
        ("shell", "data"),
    ]
    notes = "\n".join(found.notes)
    assert "reef" in notes and "downloads nothing" in notes and "sea" in notes
    folder = tmp_path / "library"
    photos = write_photos(found.images, folder, card.id)
    assert [p["file"] for p in photos] == [
        "photos/marina/main.png",
        "photos/marina/pogruzhenie.png",
        "photos/marina/boat_deck.jpg",
        "photos/marina/shell.png",
    ]
    for p in photos:
        with Image.open(folder / p["file"]) as img:
            img.verify()
    avatar = folder / photos[0]["file"]
    assert not any(
        key in ("ccv3", "chara") for key, _ in iter_png_text(avatar.read_bytes())
    )  # no card inside
    # the imported card, exported as a PNG, carries its embedded assets again
    data = card.to_dict()
    data["data"]["extensions"]["dora"]["photos"] = photos
    imported = card_from_dict(data, "x", base_dir=folder)
    out = export_card_png(imported, tmp_path / "export.png")
    chunks = png_chunks(out)
    assert chunks["chara-ext-asset_:assets/image/dive.png"]
    again = load_card(out)
    assert again.to_dict(spec="chara_card_v3") == imported.to_dict()
    assert again.data.model_extra and again.data.model_extra["assets"] == raw["data"]["assets"]


def test_v1_cards_and_nulls_are_read(tmp_path: Path) -> None:
    card = load_card(FIXTURES / "nika_minor_v2.json")  # every optional field null
    assert card.data.mes_example == "" and card.data.alternate_greetings == []
    flat = {"name": "Bob", "description": "Bob fixes bikes.", "first_mes": "Yo <USER>", "spec_version": 2}
    card = card_from_dict(flat, "flat.json")
    assert card.spec == "chara_card_v2" and card.greeting("en") == "Yo you"
    tags = copy.deepcopy(fixture("alisa_v2_stock.json"))
    tags["data"]["tags"] = "кофе, Питер"
    assert card_from_dict(tags, "t.json").data.tags == ["кофе", "Питер"]


def test_a_card_that_is_not_a_card_still_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(
        json.dumps({"spec": "chara_card_v2", "data": {"description": "no name"}})
    )
    with pytest.raises(CardError) as err:
        load_card(tmp_path / "x.json")
    assert err.value.field == "data.name"


def test_a_card_that_implies_a_minor_is_never_drawn() -> None:
    nika = load_card(FIXTURES / "nika_minor_v2.json")
    assert nika.minor_implied
    with pytest.raises(ImageRejectedError) as err:
        build_prompt(nika, "в парке", "ru")
    assert err.value.reason == "minor"
    miles = load_card(FIXTURES / "miles_v1_pyg.json")
    assert build_prompt(miles, "in the garage", "en")[0].startswith("illustration of a 67-year-old man")
    ageless = card_from_dict({"name": "Vex", "description": "A courier who talks fast."}, "v.json")
    assert build_prompt(ageless, "on a bike", "en")[0].startswith("illustration of an adult person")


def test_a_world_info_file_mistaken_for_a_card_says_so(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="lorebook"):
        load_card(FIXTURES / "atlantis_world.json")


def test_what_exporters_get_wrong_is_read_as_meant(tmp_path: Path) -> None:
    raw = fixture("alisa_v2_stock.json")
    raw["spec_version"] = "2.0.1"
    raw["data"]["name"] = ""  # the name only at the root, as some exporters leave it
    raw["data"]["extensions"] = []
    card = card_from_dict(raw, "quirks.json")
    assert (card.spec_version, card.name, card.id) == ("2.0", "Алиса Громова", "alisa-gromova")
    assert any("spec_version" in line for line in card.assumed)
    # a chara chunk wrapped over lines, and one holding the JSON itself (old tools)
    for name, payload in (
        ("wrapped.png", "\n".join(textwrap.wrap(base64.b64encode(json.dumps(raw).encode()).decode(), 76))),
        ("plain.png", json.dumps(fixture("miles_v1_pyg.json"))),
    ):
        info = PngInfo()
        info.add_text("chara", payload)
        Image.new("RGB", (8, 8)).save(tmp_path / name, pnginfo=info)
        assert load_card(tmp_path / name).name in ("Алиса Громова", "Miles")


def test_a_stock_card_named_like_a_built_in_does_not_replace_it(tmp_path: Path) -> None:
    raw = {"name": "Mark", "description": "Mark is a chess coach from Riga.", "first_mes": "Your move."}
    (tmp_path / "mark.json").write_text(json.dumps(raw), encoding="utf-8")
    library = PersonaLibrary([tmp_path])
    assert library.get("mark").name == "Марк"  # the built-in stays
    assert library.get("mark-2").name == "Mark"
    assert any("'mark' is taken" in line for line in library.get("mark-2").assumed)
    raw["data"] = {"name": "Mark", "extensions": {"dora": {"id": "mark", "module": "support"}}}
    raw["spec"] = "chara_card_v2"
    (tmp_path / "mark.json").write_text(json.dumps(raw), encoding="utf-8")
    assert PersonaLibrary([tmp_path]).get("mark").name == "Mark"  # an id the card states does replace it


def test_the_picker_line_of_a_stock_card_has_no_macros() -> None:
    card = load_card(FIXTURES / "alisa_v2_stock.json")
    assert card.tagline("ru").startswith("Алиса Громова — бариста")


def test_a_charx_archive_is_read_with_its_assets(tmp_path: Path) -> None:
    raw, _ = v3_card_with_assets_and_lore()
    raw["data"]["assets"] = [
        {"type": "icon", "uri": "embeded://assets/icon/images/main.png", "name": "main", "ext": "png"},
        {"type": "image", "uri": "embeded://assets/other/images/cafe.png", "name": "cafe", "ext": "png"},
    ]
    path = tmp_path / "marina.charx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("card.json", json.dumps(raw, ensure_ascii=False))
        archive.writestr("assets/icon/images/main.png", picture((1, 2, 3)))
        archive.writestr("assets/other/images/cafe.png", picture((4, 5, 6)))
    card = load_card(path)
    assert card.id == "marina" and card.lorebook().entries[0].name == "Атлантида"
    chunks, files = embedded_files(path)
    found = card_images(card.data.model_dump(mode="json"), card.name, chunks=chunks, files=files)
    assert [i.caption for i in found.images] == ["Марина", "cafe"]
    assert PersonaLibrary([tmp_path]).get("marina").name == "Марина"
    (tmp_path / "broken.charx").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CardError, match="CHARX"):
        load_card(tmp_path / "broken.charx")


def test_a_card_without_any_greeting_still_opens_and_odd_tags_are_dropped() -> None:
    card = card_from_dict({"name": "Vex", "tags": ["ok", {"id": 3}, 7, None]}, "v.json")
    assert card.greeting("ru") == "Привет! Я Vex." and card.greeting("en") == "Hi! I'm Vex."
    assert card.data.tags == ["ok", "7"]


def test_other_macros_cards_use() -> None:
    card = card_from_dict({"name": "Vex"}, "v.json")
    text = "{{// a note for editors}}Hi{{newline}}I'm {{charIfNotGroup}}. {{random:tea,coffee}} {{trim}}!"
    out = card.substitute(text, lang="en")
    assert out.startswith("Hi\nI'm Vex. ") and out.endswith("!") and "{{" not in out
    assert out == card.substitute(text, lang="en")  # the same every time: the prompt prefix stays cached
    assert card.substitute("{{random::a, b::c}}") in ("a, b", "c")


@pytest.mark.parametrize(
    "text",
    [
        "They met in high school and lost touch; now {{char}} is 27.",
        "She teaches at a high school in Tver.",
        "{{char}} is 5'7\" tall, 30 years old.",
        "У неё есть сын, ему 5 лет; ей самой 34.",
    ],
)
def test_adult_backstories_are_not_read_as_minors(text: str) -> None:
    assert not read_age([text]).minor


@pytest.mark.parametrize("text", ["She is still in high school.", "He goes to middle school."])
def test_present_school_is_a_minor(text: str) -> None:
    assert read_age([text]).minor


def test_the_characters_note_goes_that_many_messages_from_the_end() -> None:
    card = load_card(FIXTURES / "captain_chub_v2.json")  # depth_prompt: "{{char}} is tired…", depth 4
    recent = [HumanMessage(f"u{i}") if i % 2 == 0 else AIMessage(f"a{i}") for i in range(6)]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    prompt = build_prompt_messages(
        card, "en", adult_unlocked=False, now=now, summary="", memories="", recent=recent
    )
    assert [type(m).__name__ for m in prompt] == [
        "SystemMessage", "HumanMessage", "AIMessage", "SystemMessage",
        "HumanMessage", "AIMessage", "HumanMessage", "AIMessage",
    ]  # fmt: skip
    note = str(prompt[3].content)
    assert note.startswith("Captain Elena Voss is tired after a double shift.") and "come first" in note
    short = build_prompt_messages(
        card, "en", adult_unlocked=False, now=now, summary="", memories="", recent=recent[-1:]
    )
    assert isinstance(short[1], SystemMessage) and str(short[0].content).startswith("You are")


def test_a_world_the_card_names_is_found_in_lorebooks(tmp_path: Path) -> None:
    (tmp_path / "lorebooks").mkdir()
    (tmp_path / "captain.json").write_text(json.dumps(fixture("captain_chub_v2.json")), encoding="utf-8")
    world = {"entries": {"0": {"uid": 0, "key": ["Ceres"], "content": "Ceres has a water market."}}}
    (tmp_path / "lorebooks" / "Meridian.json").write_text(json.dumps(world), encoding="utf-8")  # its "world"
    card = PersonaLibrary([tmp_path]).get("captain-elena-voss")
    assert [e.name for e in card.lorebook().entries][-1] == "#0"
    assert len(card.lorebook().entries) == 4  # three of its own book, one of the world file
