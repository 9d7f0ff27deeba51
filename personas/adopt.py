"""Taking in a card from the wild: whatever shape it came in, a V2/V3 card DORA can validate.

Why: cards on community hubs are written by many tools over several years. Some are V1 (flat
fields, no ``data``), some Pygmalion-era (``char_name``, ``char_greeting``), many have ``null`` where
a string belongs, and almost none has DORA's ``extensions.dora`` block. Rejecting them would make
the format useless; guessing silently would hide decisions an operator must know about. So
:func:`adopt` fills what is missing with conservative defaults and says, line by line, what it
assumed (:attr:`Adoption.assumed`) and what of the card DORA will not use (:attr:`Adoption.ignored`).

The defaults are the safe ones: module Support (never Partner unless the operator says so),
adult content off, the age taken only from what the card itself states. Whether a Partner card is
acceptable at all (an adult age, no sign of a minor) is decided by :class:`personas.card.PersonaCard`
itself, so that no path (import, a folder of cards, a built-in) can skip it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from personas.minor import read_age
from personas.translit import slugify

_V2_TEXT_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
_LIST_FIELDS = ("alternate_greetings", "tags")
# Pygmalion / early TavernAI names for the V1 fields
_OLD_NAMES = {
    "char_name": "name",
    "char_persona": "description",
    "world_scenario": "scenario",
    "char_greeting": "first_mes",
    "example_dialogue": "mes_example",
}

# What DORA reads of a card; everything else is kept on export but plays no part.
_USED = {
    *_V2_TEXT_FIELDS,
    *_LIST_FIELDS,
    "extensions",
    "character_book",
    "assets",
    "nickname",
}
_IGNORED_EXTENSIONS = {
    "regex_scripts": "regex scripts",
    "talkativeness": "talkativeness (group chats)",
    "fav": "favourite mark",
}


@dataclass
class Overrides:
    """What the operator decided at import (``dora personas import --module partner --age 25``)."""

    id: str | None = None
    module: str | None = None
    age: int | None = None
    adult_content: bool | None = None
    greeting: int | str | None = None  # an index into [first_mes, *alternate_greetings], or "random"


@dataclass
class Adoption:
    """The card data to validate, and what was assumed or will be ignored, for the operator."""

    raw: Any
    assumed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    id_assumed: bool = False  # the id was made from the name: it must not silently take a built-in's place


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value  # let validation name the field


def _script_languages(text: str) -> list[str]:
    """Languages from the letters: Cyrillic → ru, Latin → en; both when each is a real share."""
    cyr = len(re.findall(r"[а-яё]", text, re.IGNORECASE))
    lat = len(re.findall(r"[a-z]", text, re.IGNORECASE))
    total = cyr + lat
    if total == 0:
        return ["ru"]
    langs = sorted((("ru", cyr), ("en", lat)), key=lambda x: -x[1])
    return [lang for lang, n in langs if n / total >= 0.2] or ["ru"]


_FEMALE = re.compile(r"(?<!\w)(?:она|её|ее|ей|she|her|herself)(?!\w)", re.IGNORECASE)
_MALE = re.compile(r"(?<!\w)(?:он|его|ему|he|him|his|himself)(?!\w)", re.IGNORECASE)


def _guess_gender(text: str) -> str | None:
    """The character's grammatical gender from pronouns, when they clearly lean one way."""
    f, m = len(_FEMALE.findall(text)), len(_MALE.findall(text))
    if (f >= 3 and f >= 2 * m) or (f >= 2 and m == 0):
        return "female"
    if (m >= 3 and m >= 2 * f) or (m >= 2 and f == 0):
        return "male"
    return None


def _to_v2_shape(raw: dict[str, Any], adoption: Adoption) -> dict[str, Any]:
    """``spec``/``spec_version``/``data``, whatever generation the card is."""
    data = raw.get("data")
    if isinstance(data, dict):
        if "spec" not in raw:
            raw["spec"] = "chara_card_v2"
            adoption.assumed.append("spec: missing; read as a Character Card V2")
        return raw
    if "name" in raw or any(k in raw for k in _OLD_NAMES):
        new_data: dict[str, Any] = {}
        for old, new in _OLD_NAMES.items():
            if old in raw and new not in raw:
                new_data[new] = raw[old]
        moved = (*_V2_TEXT_FIELDS, *_LIST_FIELDS, "character_book", "extensions")
        for key in moved:
            if key in raw:
                new_data[key] = raw[key]
        rest = {k: v for k, v in raw.items() if k not in moved and k not in _OLD_NAMES}
        adoption.assumed.append("a V1 card (no 'data' block): read as a Character Card V2")
        return {"spec": "chara_card_v2", "spec_version": "2.0", **rest, "data": new_data}
    return raw


def _clean_data(data: dict[str, Any]) -> None:
    """Nulls and numbers where text belongs, a comma list for tags: what hub tools really write."""
    for key in _V2_TEXT_FIELDS:
        if key in data:
            data[key] = _text(data[key])
    for key in _LIST_FIELDS:
        value = data.get(key)
        if value is None and key in data:
            data[key] = []
        elif isinstance(value, str):
            data[key] = [t.strip() for t in value.split(",") if t.strip()] if key == "tags" else [value]
        elif isinstance(value, list):  # objects in a tag list are dropped, numbers become text
            data[key] = [_text(v) for v in value if isinstance(v, str | int | float) and _text(v) != ""]
    if data.get("extensions") is None:
        data["extensions"] = {}


def _spec_version(raw: dict[str, Any], adoption: Adoption) -> None:
    """``2``, ``"2"``, ``"2.0.1"``, a missing or a V1 version on a V2 card: the version its spec has."""
    if raw.get("spec") not in ("chara_card_v2", "chara_card_v3"):
        return  # validation names an unknown spec
    version = raw.get("spec_version")
    default = "3.0" if raw.get("spec") == "chara_card_v3" else "2.0"
    text = (
        f"{float(version):.1f}"
        if isinstance(version, int | float) and not isinstance(version, bool)
        else version
    )
    if isinstance(text, str) and (m := re.fullmatch(r"\s*([23])(?:\.(\d+))?(?:\.\d+)*\s*", text)):
        fixed = f"{m.group(1)}.{m.group(2) or 0}"
    else:
        fixed = default
    if fixed != version:
        raw["spec_version"] = fixed
        if version is not None:
            adoption.assumed.append(f"spec_version: {fixed} (the card says {version!r})")


def _root_name(raw: dict[str, Any], data: dict[str, Any], adoption: Adoption) -> None:
    """Some exporters put the name only at the root, beside ``data`` (the V1 duplicate)."""
    named = isinstance(data.get("name"), str) and data["name"].strip()
    if not named and isinstance(raw.get("name"), str) and raw["name"].strip():
        data["name"] = raw["name"]
        adoption.assumed.append("data.name: taken from the card's root (V1 field)")


def card_texts(data: dict[str, Any]) -> list[str]:
    """The card's prose, where the character is described (for language, gender and age)."""
    texts = [data.get(k) for k in ("description", "personality", "scenario", "first_mes", "system_prompt")]
    texts += list(data.get("alternate_greetings") or [])
    texts.append(data.get("mes_example"))
    return [t for t in texts if isinstance(t, str) and t]


def _ignored(raw: dict[str, Any], data: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(data):
        if key not in _USED and data[key] not in (None, "", [], {}):
            out.append(f"data.{key} (kept on export)")
    if data.get("creator_notes"):
        out.append("data.creator_notes: shown to the operator (dora personas validate), not to the model")
    if data.get("group_only_greetings"):
        out.append("data.group_only_greetings: DORA has no group chats")
    extensions = data.get("extensions") if isinstance(data.get("extensions"), dict) else {}
    for key, what in _IGNORED_EXTENSIONS.items():
        if extensions.get(key):
            out.append(f"data.extensions.{key}: {what} (kept on export)")
    other = sorted(
        k for k in extensions if k not in _IGNORED_EXTENSIONS and k not in ("dora", "depth_prompt")
    )
    if other:
        out.append("other tools' extensions kept on export: " + ", ".join(other))
    return out


def adopt(raw: Any, overrides: Overrides | None = None) -> Adoption:
    """Normalise ``raw`` (not modified) into a V2/V3 card with a complete ``extensions.dora`` block."""
    overrides = overrides or Overrides()
    adoption = Adoption(raw)
    if not isinstance(raw, dict):
        return adoption
    raw = _to_v2_shape(copy.deepcopy(raw), adoption)
    data = raw.get("data")
    if not isinstance(data, dict):
        adoption.raw = raw
        return adoption
    _spec_version(raw, adoption)
    _root_name(raw, data, adoption)
    _clean_data(data)
    extensions = data["extensions"]
    if not isinstance(extensions, dict):  # a list or a string where the spec wants an object
        adoption.assumed.append(f"data.extensions: was {type(extensions).__name__}, not an object; dropped")
        extensions = data["extensions"] = {}
    dora = extensions.get("dora")
    if dora is None:
        dora = extensions["dora"] = {}
    if not isinstance(dora, dict):
        adoption.raw = raw
        return adoption
    _fill_dora(dora, data, overrides, adoption)
    adoption.ignored = _ignored(raw, data)
    adoption.raw = raw
    return adoption


def _fill_dora(dora: dict[str, Any], data: dict[str, Any], ov: Overrides, adoption: Adoption) -> None:
    name = data.get("name") if isinstance(data.get("name"), str) else ""
    texts = card_texts(data)
    note = adoption.assumed.append
    # a card made for DORA (its block names id and module) keeps its own choices; guesses are for
    # cards from elsewhere
    native = bool(dora.get("id")) and bool(dora.get("module"))
    if ov.id:
        dora["id"] = ov.id
    elif not dora.get("id") and name:
        dora["id"] = slugify(name)
        adoption.id_assumed = True
        note(f"id: '{dora['id']}' (from the name; --id sets another)")
    if ov.module:
        dora["module"] = ov.module
    elif not dora.get("module"):
        dora["module"] = "support"
        note("module: support (--module partner|practice|celebrity sets another)")
    reading = read_age(texts, data.get("tags") or [])
    if ov.age is not None:
        dora["age"] = ov.age
    elif dora.get("age") is None and not native:
        dora.pop("age", None)
        if reading.age is not None and not reading.minor:
            dora["age"] = reading.age
            note(f"age: {reading.age} (as the card's text states it)")
        elif reading.minor:
            note(
                "age: not set; the card's text suggests a minor (" + "; ".join(reading.minor_signs[:3]) + ")"
            )
        else:
            note("age: unknown (the card does not say; a Partner persona needs --age)")
    if not dora.get("languages") and not native:
        dora["languages"] = _script_languages(" ".join(texts))
        note(f"languages: {', '.join(dora['languages'])} (from the card's script)")
    if ov.adult_content is not None:
        if dora.get("adult_content") and not ov.adult_content:
            note("adult content: off (the card asked for it; the operator turns it on with --adult)")
        elif not ov.adult_content and not native:
            note("adult content: off (the operator turns it on with --adult)")
        dora["adult_content"] = ov.adult_content
    elif "adult_content" not in dora and not native:
        dora["adult_content"] = False
        note("adult content: off (the operator turns it on with --adult)")
    if not native and not dora.get("gender") and (gender := _guess_gender(" ".join(texts))):
        dora["gender"] = gender
        note(f"gender: {gender} (from the pronouns in the card)")
    if ov.greeting is not None:
        dora["greeting"] = ov.greeting
    elif not native and "greeting" not in dora and data.get("alternate_greetings"):
        dora["greeting"] = "random"
        note(
            f"greeting: a random one of {1 + len(data['alternate_greetings'])} per new thread "
            "(--greeting N picks one)"
        )
