"""A persona as a SillyTavern Character Card (V2 or V3), with DORA's fields in an extension.

Why the card format: it is what the companion-bot world already writes and shares, so a persona
made in SillyTavern (or anywhere that exports cards) can be dropped into DORA, and ours can be
opened there. DORA's own fields (module, age, photos, greetings per language) live under
``data.extensions.dora``, where other tools keep but ignore them. A card that comes without them
gets them filled by :mod:`personas.adopt` before it reaches this model (the loader does that).

The one rule no card can get past is here, in the model, so that every way in (an import, a folder
of cards, a built-in) meets it: a Partner (romantic) persona needs a stated adult age and a text
with no sign of a minor (:mod:`personas.minor`).

Every model here allows extra fields and the card is dumped with ``exclude_unset``, so a card
read and written again is the same JSON: unknown fields, other tools' extensions and V3-only
fields survive, and no defaults are invented on the way out.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    field_validator,
    model_validator,
)

from personas.lorebook import Lorebook, parse_lorebook
from personas.macros import render
from personas.minor import AgeReading, read_age
from personas.modules import Module, normalize_lang

SPEC_V2: Final = "chara_card_v2"
SPEC_V3: Final = "chara_card_v3"
Spec = Literal["chara_card_v2", "chara_card_v3"]
MIN_AGE = 18
ID_PATTERN = r"^[a-z0-9_-]+$"

_START = re.compile(r"^\s*<start>\s*$", re.IGNORECASE | re.MULTILINE)
_DEFAULT_USER = {"ru": "ты", "en": "you"}
_PLAIN_GREETING = {"ru": "Привет! Я {name}.", "en": "Hi! I'm {name}."}


def _localized(value: Any) -> str | dict[str, str]:
    """Text, or text per language (``{"ru": ..., "en": ...}``); kept in the form it came in.

    A plain validator rather than a ``str | dict`` union, so a wrong value gives one error at the
    field's own path instead of one per union member.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return value
    raise ValueError("must be text or a map of language to text, e.g. {'ru': '...', 'en': '...'}")


Localized = Annotated[str | dict[str, str], PlainValidator(_localized)]


def pick_language(value: str | dict[str, str], lang: str) -> str:
    """The text for ``lang`` from a :data:`Localized` value: exact, then base, then ru/en, then any."""
    if isinstance(value, str):
        return value
    if not value:
        return ""
    for key in (lang, normalize_lang(lang), "ru", "en"):
        if value.get(key):
            return value[key]
    return next(iter(value.values()))


class _Open(BaseModel):
    """Base for card parts: unknown fields are kept, nothing is renamed or coerced silently."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Photo(_Open):
    """One picture the persona can send; ``file`` is relative to the card's folder."""

    file: str
    caption: Localized = ""
    tags: list[str] = Field(default_factory=list)
    pro: bool = False

    @field_validator("file")
    @classmethod
    def _inside_card_folder(cls, value: str) -> str:
        # Cards come from the internet; a photo path must not reach outside the card's folder,
        # or an imported card could make the bot send /etc/passwd or the master key.
        path = PurePosixPath(value.replace("\\", "/"))
        if not value.strip() or path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", value):
            raise ValueError("must be a relative path inside the card's folder (no '..', not absolute)")
        return value

    def caption_for(self, lang: str) -> str:
        return pick_language(self.caption, lang)


def _adult_age(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number of years, got {value!r}")
    if value < MIN_AGE:
        raise ValueError(f"adults only: must be {MIN_AGE} or older, got {value}")
    return value


def _greeting_choice(value: Any) -> int | str | None:
    if value is None or value == "random":
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"must be 'random' or an index of the opening lines (0 = first_mes), got {value!r}")


class DoraExtension(_Open):
    """``data.extensions.dora``: what DORA needs beyond the SillyTavern fields."""

    id: str = Field(pattern=ID_PATTERN)
    module: Module
    # None: the card does not say (fine for Support; a Partner persona must have one)
    age: Annotated[int | None, PlainValidator(_adult_age)] = None
    languages: list[str] = Field(default_factory=lambda: ["ru"], min_length=1)
    greetings: dict[str, str] = Field(default_factory=dict)
    tagline: dict[str, str] = Field(default_factory=dict)
    adult_content: bool = False
    # grammatical gender for Russian ("я устала" / "я устал"): small models guess it wrong otherwise
    gender: Literal["female", "male"] | None = None
    photos: list[Photo] = Field(default_factory=list)
    # the opening line of a new thread: an index into [first_mes, *alternate_greetings], "random" (one
    # per new thread), or None: first_mes, as SillyTavern shows it
    greeting: Annotated[int | str | None, PlainValidator(_greeting_choice)] = None


class CardExtensions(_Open):
    dora: DoraExtension


class CardData(_Open):
    """``data``: the SillyTavern V2 fields (V3 adds more; they are kept as extras)."""

    name: str = Field(min_length=1)
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    creator: str = ""
    character_version: str = ""
    extensions: CardExtensions


class PersonaCard(_Open):
    """A validated persona card with the accessors the agent and the bot need.

    ``base_dir`` (set by the loader) is the folder that photo paths are relative to; a card built
    from a dict in memory has none, and asking it for a photo's path is an error.
    """

    spec: Spec
    spec_version: str = Field(pattern=r"^[23]\.\d+$")
    data: CardData

    _base_dir: Path | None = PrivateAttr(default=None)
    _assumed: list[str] = PrivateAttr(default_factory=list)
    _ignored: list[str] = PrivateAttr(default_factory=list)
    _world: Any = PrivateAttr(default=None)  # a standalone World Info file's JSON, if the persona has one
    _lorebook: Lorebook | None = PrivateAttr(default=None)
    _avatar: Photo | None = PrivateAttr(default=None)  # a PNG card's own picture, when it has no photos
    _id_assumed: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _no_minor_partner(self) -> PersonaCard:
        """Never a minor as a romantic persona: a Partner card needs an adult age and no sign of a minor."""
        dora = self.data.extensions.dora
        if dora.module is not Module.PARTNER:
            return self
        if dora.age is None:
            raise ValueError(
                "data.extensions.dora.age: a Partner persona needs the character's age (18 or older); "
                "set it with --age when importing"
            )
        reading = self._age_reading()
        if reading.minor:
            raise ValueError(
                "data.description: the card says or implies the character is under 18 ("
                + "; ".join(reading.minor_signs[:3])
                + "): never a Partner persona"
            )
        return self

    # -- construction and export -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path | None = None) -> PersonaCard:
        """Validate ``raw``; raises pydantic's ``ValidationError`` (the loader turns it into CardError)."""
        card = cls.model_validate(raw)
        card._base_dir = base_dir
        return card

    @property
    def assumed(self) -> list[str]:
        """What the loader filled in because the card did not say (see :mod:`personas.adopt`)."""
        return list(self._assumed)

    @property
    def ignored(self) -> list[str]:
        """What of the card DORA does not use (kept on export all the same)."""
        return list(self._ignored)

    def set_notes(self, assumed: list[str], ignored: list[str], *, id_assumed: bool = False) -> None:
        self._assumed, self._ignored, self._id_assumed = list(assumed), list(ignored), id_assumed

    def avoid_ids(self, taken: set[str] | list[str]) -> None:
        """A card whose id was made from its name gets ``-2``, ``-3``… when that id is taken (a stock
        card named «Mark» must not replace the built-in Марк unless the operator says ``--id mark``)."""
        if not self._id_assumed or self.id not in taken:
            return
        base, n = self.id, 2
        while f"{base}-{n}" in taken:
            n += 1
        self.dora.id = f"{base}-{n}"
        self._assumed = [
            f"id: '{self.id}' ('{base}' is taken by another persona; --id {base} replaces it)"
            if line.startswith("id: ")
            else line
            for line in self._assumed
        ]

    def set_world(self, world: Any) -> None:
        """Attach a standalone World Info file (SillyTavern's lorebook JSON) to this persona."""
        self._world, self._lorebook = world, None

    def lorebook(self) -> Lorebook:
        """The card's ``character_book`` and the persona's World Info file, as one lorebook (cached)."""
        if self._lorebook is None:
            extra = getattr(self.data, "character_book", None)
            books = [b for b in (extra, self._world) if b]
            self._lorebook = parse_lorebook(books)
        return self._lorebook

    def to_dict(self, spec: Spec | None = None) -> dict[str, Any]:
        """The card as JSON-ready data, exactly as it was read (unless ``spec`` converts it).

        Converting only relabels ``spec``/``spec_version``: V3 readers accept V2's fields, V2 readers
        ignore V3's extras, and nothing is lost either way.
        """
        out = self.model_dump(mode="json", exclude_unset=True, by_alias=True)
        if spec is not None:
            out["spec"], out["spec_version"] = spec, "3.0" if spec == SPEC_V3 else "2.0"
        return out

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    def with_base_dir(self, base_dir: Path | None) -> PersonaCard:
        card = self.model_copy(deep=True)
        card._base_dir = base_dir
        card._assumed, card._ignored, card._world = list(self._assumed), list(self._ignored), self._world
        card._avatar, card._id_assumed = self._avatar, self._id_assumed
        return card

    def set_avatar(self, photo: Photo | None) -> None:
        """The picture a PNG card is, as its one photo when the card lists none (not written on export)."""
        self._avatar = photo

    @property
    def photo_library(self) -> list[Photo]:
        """Every photo the persona has: the card's own list, or else its avatar."""
        if self.dora.photos:
            return list(self.dora.photos)
        return [self._avatar] if self._avatar is not None else []

    # -- accessors ---------------------------------------------------------------------------------

    @property
    def dora(self) -> DoraExtension:
        return self.data.extensions.dora

    @property
    def id(self) -> str:
        return self.dora.id

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def module(self) -> Module:
        return self.dora.module

    @property
    def age(self) -> int | None:
        return self.dora.age

    @property
    def minor_implied(self) -> bool:
        """Whether the card's own text says or implies the character is under 18 (never drawn, never
        a Partner: see :mod:`personas.minor`)."""
        return self._age_reading().minor

    def _age_reading(self) -> AgeReading:
        d = self.data
        texts = [d.description, d.personality, d.scenario, d.first_mes, d.system_prompt, d.mes_example]
        return read_age([*texts, *d.alternate_greetings], d.tags)

    @property
    def depth_note(self) -> tuple[str, int] | None:
        """SillyTavern's character's note (``extensions.depth_prompt``): its text and how many
        messages from the end of the chat it goes (4 when the card does not say)."""
        note = (self.data.extensions.model_extra or {}).get("depth_prompt")
        if (
            not isinstance(note, dict)
            or not isinstance(note.get("prompt"), str)
            or not note["prompt"].strip()
        ):
            return None
        depth = note.get("depth")
        depth = depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else 4
        return note["prompt"].strip(), depth

    @property
    def display_name(self) -> str:
        """What ``{{char}}`` stands for: V3's ``nickname`` when the card has one, else the name."""
        nickname = getattr(self.data, "nickname", None)
        return nickname if isinstance(nickname, str) and nickname.strip() else self.name

    @property
    def languages(self) -> list[str]:
        return self.dora.languages

    @property
    def adult_content(self) -> bool:
        return self.dora.adult_content

    def allows_adult(self, user_unlocked: bool) -> bool:
        """Explicit text needs all three: a partner persona, a card that allows it, a user who unlocked it."""
        return user_unlocked and self.adult_content and self.module is Module.PARTNER

    def substitute(self, text: str, user_name: str | None = None, lang: str = "ru") -> str:
        """SillyTavern macros (:mod:`personas.macros`): ``{{char}}`` → the persona's name, ``{{user}}`` →
        the user's name or "ты"/"you"."""
        user = user_name or _DEFAULT_USER.get(normalize_lang(lang), "you")
        return render(text, self.display_name, user)

    def opening_lines(self) -> list[str]:
        """The card's greetings as written: ``first_mes``, then ``alternate_greetings`` (empty: dropped)."""
        return [g for g in (self.data.first_mes, *self.data.alternate_greetings) if g.strip()]

    def greeting(self, lang: str, user_name: str | None = None, *, choice: int | None = None) -> str:
        """The opening line of a new thread in ``lang``.

        The card's own lines (``first_mes`` and ``alternate_greetings``) are written in the card's
        main language; when the user's language is another one and DORA's block has a greeting for
        it, that one is used. Among the card's lines: ``choice`` (an index; the caller draws it when
        the card says ``"random"``), else the operator's pick (``extensions.dora.greeting``), else
        ``first_mes``.
        """
        greetings = self.dora.greetings
        own = greetings.get(lang) or greetings.get(normalize_lang(lang))
        lines = self.opening_lines()
        main = normalize_lang(self.languages[0]) if self.languages else "ru"
        if own and (normalize_lang(lang) != main or not lines):
            return self.substitute(own, user_name, lang)
        if not lines:  # a card with no greeting at all still opens the conversation
            return _PLAIN_GREETING.get(normalize_lang(lang), _PLAIN_GREETING["en"]).format(name=self.name)
        index = choice if choice is not None else self.dora.greeting
        text = lines[index % len(lines)] if isinstance(index, int) else lines[0]
        return self.substitute(text, user_name, main)  # an unnamed {{user}} in the card's own language

    def tagline(self, lang: str) -> str:
        """A one-line pitch for the persona picker; falls back to the first line of the description."""
        if self.dora.tagline:
            return pick_language(self.dora.tagline, lang)
        first = self.data.description.strip().split("\n", 1)[0]
        return self.substitute(first, lang=self.languages[0] if self.languages else lang)

    def examples(self, user_name: str | None = None) -> list[tuple[str, str]]:
        """``mes_example`` as (user_text, char_text) pairs, macros substituted.

        SillyTavern's format: blocks separated by ``<START>``, turns begin with ``{{user}}:`` or
        ``{{char}}:`` (also ``<USER>:``/``<BOT>:`` or the persona's name), a turn may run over
        several lines. Consecutive turns by the same speaker are joined with a newline; a reply
        without a question before it gets an empty user text; a question left without a reply at
        the end of a block is dropped. Pairs never span blocks.
        """
        char_prefix = re.compile(rf"^\s*(?:\{{\{{char\}}\}}|<bot>|{re.escape(self.name)})\s*:\s?", re.I)
        user_prefix = re.compile(r"^\s*(?:\{\{user\}\}|<user>)\s*:\s?", re.I)
        pairs: list[tuple[str, str]] = []
        for block in _START.split(self.data.mes_example):
            turns: list[list[str]] = []  # [speaker, text]
            for line in block.splitlines():
                if m := user_prefix.match(line):
                    speaker, text = "user", line[m.end() :]
                elif m := char_prefix.match(line):
                    speaker, text = "char", line[m.end() :]
                elif turns:
                    turns[-1][1] += "\n" + line
                    continue
                else:
                    continue  # text before the first turn: notes, not dialogue
                if turns and turns[-1][0] == speaker:
                    turns[-1][1] += "\n" + text
                else:
                    turns.append([speaker, text])
            user_text: str | None = None
            for speaker, text in turns:
                text = self.substitute(text.strip(), user_name)
                if speaker == "user":
                    user_text = text
                else:
                    pairs.append((user_text or "", text))
                    user_text = None
        return pairs

    def photos(self, include_pro: bool, *, tag: str | None = None) -> list[Photo]:
        """The photos a user may get: free ones, plus PRO-only ones when ``include_pro``; by ``tag``."""
        return [
            p for p in self.photo_library if (include_pro or not p.pro) and (tag is None or tag in p.tags)
        ]

    def photo_path(self, photo: Photo) -> Path:
        """Where ``photo``'s file is on disk (relative to the card's folder)."""
        if self._base_dir is None:
            raise ValueError(f"persona {self.id!r} was not loaded from a folder; its photos have no path")
        return self._base_dir / photo.file
