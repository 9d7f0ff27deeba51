"""Personas: cards validate, import/export round-trips, the library resolves ids, rules say what they must."""

from __future__ import annotations

import base64
import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from personas import (
    BUILTIN_DIR,
    CardError,
    Module,
    PersonaCard,
    PersonaLibrary,
    PersonaNotFoundError,
    export_card_json,
    export_card_png,
    load_card,
    rules_for,
)
from personas.card import SPEC_V2, SPEC_V3
from personas.io import card_from_dict, iter_png_text

BUILTIN_IDS = ["coach", "dora", "kylie", "mark", "star"]


@pytest.fixture(scope="module")
def library() -> PersonaLibrary:
    return PersonaLibrary()


def minimal_card(**dora: Any) -> dict[str, Any]:
    ext = {"id": "tester", "module": "support", "age": 30} | dora
    return {
        "spec": SPEC_V2,
        "spec_version": "2.0",
        "data": {"name": "Тест", "first_mes": "Привет, {{user}}! Я {{char}}.", "extensions": {"dora": ext}},
    }


def write_json(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return path


def png_with_chunks(path: Path, **chunks: dict[str, Any]) -> Path:
    info = PngInfo()
    for key, raw in chunks.items():
        info.add_text(key, base64.b64encode(json.dumps(raw).encode()).decode())
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path, pnginfo=info)
    return path


# -- the built-in library ---------------------------------------------------------------------------


def test_builtin_cards_load_and_validate(library: PersonaLibrary) -> None:
    assert library.ids() == BUILTIN_IDS
    modules = {card.id: card.module for card in library.list()}
    assert modules == {
        "coach": Module.PRACTICE,
        "dora": Module.SUPPORT,
        "kylie": Module.PARTNER,
        "mark": Module.PARTNER,
        "star": Module.CELEBRITY,
    }
    for card in library.list():
        assert card.age >= 18
        assert card.languages == ["ru", "en"]
        assert card.adult_content is (card.id in ("kylie", "mark"))
        for lang in ("ru", "en"):
            assert card.dora.greetings[lang].strip(), (card.id, lang)
            assert card.dora.tagline[lang].strip(), (card.id, lang)
        assert card.greeting("ru") == card.data.first_mes
        for field in ("description", "personality", "scenario", "first_mes", "mes_example"):
            assert getattr(card.data, field).strip(), (card.id, field)
        assert 3 <= len(card.examples()) <= 6, card.id
        assert all(user and reply for user, reply in card.examples()), card.id
        assert all(len(reply) < 220 for _, reply in card.examples()), "example replies are chat-short"
        assert 3 <= len(card.dora.photos) <= 4, card.id
    assert "вымышлен" in library.get("star").data.creator_notes.lower()
    assert "fictional" in library.get("star").data.creator_notes.lower()


def test_every_photo_exists_and_is_a_small_png(library: PersonaLibrary) -> None:
    for card in library.list():
        for photo in card.dora.photos:
            path = card.photo_path(photo)
            assert path.is_file(), path
            assert path.parent == BUILTIN_DIR / "photos" / card.id
            assert path.stat().st_size < 60 * 1024, path
            with Image.open(path) as img:
                assert img.format == "PNG"
                assert img.size == (512, 512)
                img.verify()
            assert photo.caption_for("ru").strip() and photo.caption_for("en").strip()
            assert photo.caption_for("ru") != photo.caption_for("en")
            assert photo.tags


def test_partner_personas_have_pro_photos(library: PersonaLibrary) -> None:
    for persona_id in ("kylie", "mark"):
        card = library.get(persona_id)
        free, everything = card.photos(include_pro=False), card.photos(include_pro=True)
        assert free and len(everything) > len(free)
        assert not any(p.pro for p in free)
    assert [p.file for p in library.get("kylie").photos(True, tag="beach")] == ["photos/kylie/beach.png"]


def test_draw_has_a_scene_for_every_photo() -> None:
    from personas.draw import SCENES, library_photos

    files = [file for file, _, _ in library_photos(BUILTIN_DIR)]
    assert files and set(files) == set(SCENES)


# -- card accessors ----------------------------------------------------------------------------------


def test_greeting_falls_back_to_first_mes_and_substitutes_macros() -> None:
    card = card_from_dict(minimal_card(greetings={"en": "Hi, I'm {{char}}"}), "mem")
    assert card.greeting("en") == "Hi, I'm Тест"
    assert card.greeting("en-GB") == "Hi, I'm Тест"
    assert card.greeting("ru") == "Привет, ты! Я Тест."
    assert card.greeting("ru", user_name="Аня") == "Привет, Аня! Я Тест."


def test_mes_example_parsing() -> None:
    raw = minimal_card()
    raw["data"]["name"] = "Дора"
    raw["data"]["mes_example"] = (
        "<START>\n"
        "{{user}}: Привет\n"
        "{{char}}: Как там Бублик? Всё так же ворует сметану?\n"
        "{{user}}: ага\n"
        "{{char}}: Вот артист.\n"
        "{{char}}: А ты как, {{user}}?\n"
        "<start>\n"
        "{{char}}: Я первая!\n"
        "{{User}}: Я {{user}}, а ты {{char}}\n"
        "Дора: многострочный\n"
        "ответ\n"
        "{{user}}: вопрос без ответа\n"
    )
    card = card_from_dict(raw, "mem")
    assert card.examples() == [
        ("Привет", "Как там Бублик? Всё так же ворует сметану?"),
        ("ага", "Вот артист.\nА ты как, ты?"),
        ("", "Я первая!"),
        ("Я ты, а ты Дора", "многострочный\nответ"),
    ]
    assert card.examples(user_name="Аня")[1] == ("ага", "Вот артист.\nА ты как, Аня?")


def test_photo_paths_must_stay_inside_the_card_folder() -> None:
    for bad in ("../secret.key", "/etc/passwd", "photos/../../x.png", "C:\\x.png"):
        with pytest.raises(CardError, match=r"data\.extensions\.dora\.photos\[0\]\.file"):
            card_from_dict(minimal_card(photos=[{"file": bad}]), "mem")


def test_photo_path_needs_a_folder() -> None:
    card = card_from_dict(minimal_card(photos=[{"file": "a.png"}]), "mem")
    with pytest.raises(ValueError, match="not loaded from a folder"):
        card.photo_path(card.dora.photos[0])


# -- validation errors name the field -----------------------------------------------------------------


def test_missing_name_is_named(tmp_path: Path) -> None:
    raw = minimal_card()
    del raw["data"]["name"]
    with pytest.raises(CardError) as err:
        load_card(write_json(tmp_path / "x.json", raw))
    assert err.value.field == "data.name"
    assert "data.name: field required" in str(err.value)
    assert "x.json" in str(err.value)


@pytest.mark.parametrize("age", [17, 0, "25", True, 25.5])
def test_underage_or_bogus_age_is_rejected(age: Any) -> None:
    with pytest.raises(CardError, match=r"data\.extensions\.dora\.age: ") as err:
        card_from_dict(minimal_card(age=age), "x.json")
    assert err.value.field == "data.extensions.dora.age"


def test_age_18_is_fine() -> None:
    assert card_from_dict(minimal_card(age=18), "mem").age == 18


def test_bad_module_lists_the_modules() -> None:
    with pytest.raises(CardError) as err:
        card_from_dict(minimal_card(module="therapist"), "x.json")
    assert str(err.value) == (
        "card 'x.json': data.extensions.dora.module: must be one of support, partner, practice, celebrity"
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r["data"]["extensions"]["dora"].update(id="Not A Slug"), "data.extensions.dora.id"),
        (lambda r: r["data"]["extensions"]["dora"].update(greeting=-1), "data.extensions.dora.greeting"),
        (lambda r: r.update(spec="chara_card_v1"), "spec"),
        (
            lambda r: r["data"]["extensions"]["dora"].update(photos=[{"caption": "x"}]),
            "data.extensions.dora.photos[0].file",
        ),
        (
            lambda r: r["data"]["extensions"]["dora"].update(photos=[{"file": "a.png", "caption": 5}]),
            "data.extensions.dora.photos[0].caption",
        ),
    ],
)
def test_other_invalid_fields_are_named(mutate: Any, field: str) -> None:
    raw = minimal_card()
    mutate(raw)
    with pytest.raises(CardError) as err:
        card_from_dict(raw, "x.json")
    assert err.value.field == field
    assert f"{field}: " in str(err.value)


def test_unreadable_files_are_card_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CardError, match="not valid JSON"):
        load_card(tmp_path / "broken.json")
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    with pytest.raises(CardError, match="no character card"):
        load_card(tmp_path / "plain.png")
    with pytest.raises(CardError, match="cannot read"):
        load_card(tmp_path / "missing.json")


# -- import and export ------------------------------------------------------------------------------


def test_json_round_trip_is_lossless(library: PersonaLibrary, tmp_path: Path) -> None:
    for card in library.list():
        original = json.loads((BUILTIN_DIR / f"{card.id}.json").read_text(encoding="utf-8"))
        assert card.to_dict() == original
        again = load_card(export_card_json(card, tmp_path / f"{card.id}.json"))
        assert again.to_dict() == original
        assert again.with_base_dir(card.base_dir) == card


def test_unknown_fields_and_other_extensions_survive(tmp_path: Path) -> None:
    raw = minimal_card(future_flag={"x": [1, 2]})
    raw["data"]["extensions"]["depth_prompt"] = {"prompt": "x", "depth": 4}
    raw["data"]["character_book"] = {"entries": [{"keys": ["кот"], "content": "Бублик"}]}
    raw["data"]["group_only_greetings"] = []
    raw["creator_tool"] = "somewhere"
    card = load_card(write_json(tmp_path / "c.json", raw))
    assert card.to_dict() == raw  # nothing added, nothing lost
    assert load_card(export_card_json(card, tmp_path / "out.json")).to_dict() == raw


def test_png_round_trip_writes_both_chunks(library: PersonaLibrary, tmp_path: Path) -> None:
    card = library.get("kylie")
    out = export_card_png(card, tmp_path / "kylie.png")
    chunks = dict(iter_png_text(out.read_bytes()))
    assert set(chunks) >= {"chara", "ccv3"}
    v2 = json.loads(base64.b64decode(chunks["chara"]))
    v3 = json.loads(base64.b64decode(chunks["ccv3"]))
    assert (v2["spec"], v2["spec_version"]) == (SPEC_V2, "2.0")
    assert (v3["spec"], v3["spec_version"]) == (SPEC_V3, "3.0")
    assert v2["data"] == v3["data"] == card.to_dict()["data"]

    loaded = load_card(out)
    assert loaded.spec == SPEC_V3  # ccv3 preferred
    assert loaded.to_dict() == card.to_dict(SPEC_V3)
    assert loaded.to_dict(SPEC_V2) == card.to_dict()
    with Image.open(out) as img, Image.open(card.photo_path(card.dora.photos[0])) as first:
        assert img.size == first.size  # the card's first photo is the picture


def test_png_card_with_only_chara_chunk(tmp_path: Path) -> None:
    raw = minimal_card()
    card = load_card(png_with_chunks(tmp_path / "v2.png", chara=raw))
    assert card.spec == SPEC_V2
    assert card.to_dict() == raw


def test_png_prefers_ccv3_over_chara(tmp_path: Path) -> None:
    v2 = minimal_card()
    v3 = copy.deepcopy(v2) | {"spec": SPEC_V3, "spec_version": "3.0"}
    v3["data"]["name"] = "Новое имя"
    card = load_card(png_with_chunks(tmp_path / "both.png", chara=v2, ccv3=v3))
    assert card.name == "Новое имя"
    assert card.spec == SPEC_V3


def test_png_export_with_a_given_image_and_without_photos(tmp_path: Path) -> None:
    card = card_from_dict(minimal_card(), "mem")
    out = export_card_png(card, tmp_path / "a.png", image=Image.new("RGBA", (64, 32)))
    assert Image.open(out).size == (64, 32)
    assert load_card(out).to_dict(SPEC_V2) == card.to_dict()
    out = export_card_png(card, tmp_path / "b.png")  # no photos: a placeholder picture
    assert load_card(out).name == "Тест"


def test_invalid_card_inside_png_names_the_field(tmp_path: Path) -> None:
    raw = minimal_card(age=16)
    with pytest.raises(CardError, match=r"data\.extensions\.dora\.age: adults only"):
        load_card(png_with_chunks(tmp_path / "young.png", chara=raw))


# -- the library ---------------------------------------------------------------------------------------


def test_unknown_id_lists_the_available_ones(library: PersonaLibrary) -> None:
    with pytest.raises(PersonaNotFoundError) as err:
        library.get("nope")
    assert isinstance(err.value, LookupError)
    assert str(err.value) == "no persona 'nope'; available: coach, dora, kylie, mark, star"


def test_extra_dir_overrides_builtin_and_adds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    override = minimal_card(id="dora", module="support")
    override["data"]["name"] = "Другая Дора"
    write_json(tmp_path / "dora.json", override)
    png_with_chunks(tmp_path / "zed.png", chara=minimal_card(id="zed"))
    png_with_chunks(tmp_path / "alpha.png", ccv3=minimal_card(id="alpha") | {"spec": SPEC_V3})
    Image.new("RGB", (4, 4)).save(tmp_path / "just_a_picture.png")  # not a card: ignored
    (tmp_path / "photos").mkdir()
    write_json(tmp_path / "photos" / "ignored.json", minimal_card(id="nested"))  # only the top level

    lib = PersonaLibrary([tmp_path])
    with caplog.at_level(logging.WARNING, logger="personas.library"):
        assert lib.get("dora").name == "Другая Дора"
    assert any("replaces" in r.getMessage() for r in caplog.records)
    assert lib.ids() == [*BUILTIN_IDS, "alpha", "zed"]
    assert [c.id for c in lib.list()] == lib.ids()
    assert lib.get("dora").base_dir == tmp_path.resolve()
    assert "nested" not in lib and "zed" in lib and len(lib) == 7


def test_library_caches_and_reloads(tmp_path: Path) -> None:
    lib = PersonaLibrary([tmp_path])
    first = lib.get("dora")
    assert lib.get("dora") is first
    write_json(tmp_path / "new.json", minimal_card(id="new"))
    assert "new" not in lib  # cached
    lib.reload()
    assert lib.get("new").name == "Тест"


def test_broken_card_in_extra_dir_is_an_error(tmp_path: Path) -> None:
    write_json(tmp_path / "bad.json", minimal_card(module="nurse"))
    with pytest.raises(CardError, match=r"bad\.json.*data\.extensions\.dora\.module"):
        PersonaLibrary([tmp_path]).ids()
    with pytest.raises(CardError, match="persona folder does not exist"):
        PersonaLibrary([tmp_path / "missing"]).ids()


# -- module rules -------------------------------------------------------------------------------------


def test_support_rules_say_not_a_therapist() -> None:
    ru = rules_for(Module.SUPPORT, "ru", adult_unlocked=False)
    en = rules_for("support", "en", adult_unlocked=False)
    assert "не психолог" in ru and "психотерапевт" in ru and "специалист" in ru
    assert "not a doctor, psychologist or therapist" in en and "professional" in en


def test_partner_rules_depend_on_adult_unlock() -> None:
    for lang in ("ru", "en"):
        locked = rules_for(Module.PARTNER, lang, adult_unlocked=False)
        unlocked = rules_for(Module.PARTNER, lang, adult_unlocked=True)
        assert locked != unlocked
    assert "не включён" in rules_for(Module.PARTNER, "ru", adult_unlocked=False)
    assert "по взаимному согласию" in rules_for(Module.PARTNER, "ru", adult_unlocked=True)
    assert "non-explicit" in rules_for(Module.PARTNER, "en", adult_unlocked=False)
    assert "consenting adults" in rules_for(Module.PARTNER, "en", adult_unlocked=True)


@pytest.mark.parametrize("module", [Module.SUPPORT, Module.PRACTICE, Module.CELEBRITY])
def test_only_partner_ever_allows_explicit(module: Module) -> None:
    assert rules_for(module, "ru", adult_unlocked=True) == rules_for(module, "ru", adult_unlocked=False)
    assert "Ничего откровенного" in rules_for(module, "ru", adult_unlocked=True)


def test_practice_and_celebrity_rules() -> None:
    ru = rules_for(Module.PRACTICE, "ru", adult_unlocked=False)
    en = rules_for(Module.PRACTICE, "en", adult_unlocked=False)
    assert "«стоп»" in ru and "«как я?»" in ru and "собеседование" in ru and "не выходи из неё" in ru
    assert "'feedback'" in en and "job interview" in en and "stay in it" in en
    assert "не реальный человек" in rules_for(Module.CELEBRITY, "ru", adult_unlocked=False)
    assert "never claim to be" in rules_for(Module.CELEBRITY, "en", adult_unlocked=False)


@pytest.mark.parametrize("module", list(Module))
def test_universal_rules_are_in_every_module(module: Module) -> None:
    ru = rules_for(module, "ru", adult_unlocked=True)
    en = rules_for(module, "en", adult_unlocked=True)
    assert "несовершеннолетних" in ru and "без согласия" in ru and "системный промпт" in ru
    assert "других пользователях" in ru and "языке собеседника" in ru and "одно–три предложения" in ru
    assert "minors" in en and "without consent" in en and "system prompt" in en
    assert "other users" in en and "user's language" in en and "one to three sentences" in en


def test_rules_language_fallback() -> None:
    assert rules_for(Module.SUPPORT, "ru-RU", adult_unlocked=False) == rules_for(
        Module.SUPPORT, "ru", adult_unlocked=False
    )
    assert rules_for(Module.SUPPORT, "de", adult_unlocked=False) == rules_for(
        Module.SUPPORT, "en", adult_unlocked=False
    )


def test_allows_adult_needs_partner_card_and_unlock(library: PersonaLibrary) -> None:
    assert library.get("kylie").allows_adult(True)
    assert not library.get("kylie").allows_adult(False)
    assert not library.get("dora").allows_adult(True)
    assert isinstance(library.get("dora"), PersonaCard)
