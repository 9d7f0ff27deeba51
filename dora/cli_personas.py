"""``dora personas``: list the library, check a card, import one (JSON or PNG, from anywhere), export one.

An import takes a card as people share them: V1, V2 or V3, with or without DORA's block. What the
card does not say is filled with safe defaults (Support, adult content off, the age only as the
card states it) and printed, so the operator sees every assumption; ``--module``, ``--age``,
``--adult``, ``--id`` and ``--greeting`` decide instead. A Partner import with no age asks for one
on a terminal, and a card that says or implies a minor is refused for Partner outright. The card's
pictures (V3 assets, or the PNG itself) become the persona's photo library, and the result is
written as JSON beside them, so captions and settings can be edited by hand.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.prompts import static_prompt
from dora.config import load_settings
from dora.wiring.agent import build_personas, imported_personas_dir
from personas.adopt import Overrides
from personas.assets import card_images, write_photos
from personas.card import PersonaCard
from personas.io import (
    CardError,
    card_from_dict,
    embedded_files,
    export_card_json,
    export_card_png,
    load_card,
    read_card_json,
)
from personas.library import PersonaLibrary, lorebook_path
from personas.lorebook import approx_tokens, parse_lorebook
from personas.minor import ADULT
from personas.modules import Module

personas_app = typer.Typer(help="The persona library: list, import and export cards.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # one notice a line, whatever the terminal's width

CardPath = Annotated[
    Path, typer.Argument(help="A card: .json (V1/V2/V3), .png with a chara/ccv3 chunk, or a V3 .charx.")
]
ModuleOpt = Annotated[
    Module | None,
    typer.Option(help="The module; default: the card's own, else support.", case_sensitive=False),
]
AgeOpt = Annotated[
    int | None, typer.Option(help="The character's age (18+ for partner); default: as the card says.")
]
IdOpt = Annotated[
    str | None, typer.Option("--id", help="The persona id; default: the card's, else from the name.")
]
AdultOpt = Annotated[
    bool, typer.Option("--adult", help="Allow 18+ content (partner module only; users still opt in).")
]
GreetingOpt = Annotated[
    str | None,
    typer.Option(help="Opening line: 'random' (one per new thread) or N (0 = first_mes, 1.. = alternates)."),
]
LorebookOpt = Annotated[
    Path | None, typer.Option(help="A SillyTavern World Info JSON to use as this persona's lorebook.")
]


@personas_app.command("list")
def list_personas() -> None:
    """Every persona DORA can talk as: built-in, imported, and from DORA_PERSONAS_DIR."""
    table = Table(title="personas")
    for col in ("id", "name", "module", "languages", "18+", "photos", "lore"):
        table.add_column(col)
    for card in build_personas(load_settings()).list():
        table.add_row(
            card.id,
            card.name,
            card.module.value,
            ",".join(card.languages),
            "yes" if card.adult_content else "no",
            str(len(card.photo_library)),
            str(len(card.lorebook().entries)),
        )
    out.print(table)


def _greeting(value: str | None) -> int | str | None:
    if value is None or value == "random":
        return value
    if value.isdigit():
        return int(value)
    raise typer.BadParameter("must be 'random' or a number (0 = first_mes)", param_hint="--greeting")


def _overrides(
    module: Module | None, age: int | None, persona_id: str | None, adult: bool | None, greeting: str | None
) -> Overrides:
    if age is not None and age < ADULT and module is Module.PARTNER:
        raise typer.BadParameter(f"a Partner persona must be {ADULT} or older", param_hint="--age")
    return Overrides(
        id=persona_id,
        module=module.value if module else None,
        age=age,
        adult_content=adult,
        greeting=_greeting(greeting),
    )


def _interactive() -> bool:
    """Whether someone can answer a question (a terminal), or the import must say what to pass."""
    return sys.stdin.isatty()


def _adopt(path: Path, overrides: Overrides) -> tuple[Any, PersonaCard]:
    """The card's JSON and the validated card; a Partner import without an age asks for one on a
    terminal (a minor implied by the card is refused by the card model whatever the answer)."""
    raw = read_card_json(path)
    try:
        card = card_from_dict(raw, str(path), base_dir=path.parent.resolve(), overrides=overrides)
    except CardError as exc:
        if exc.field != "data.extensions.dora.age" or overrides.age is not None or not _interactive():
            raise
        answer = typer.prompt(f"How old is the character? ({ADULT} or older for a Partner persona)", type=int)
        overrides.age = answer
        card = card_from_dict(raw, str(path), base_dir=path.parent.resolve(), overrides=overrides)
    card.avoid_ids(PersonaLibrary().ids())  # the built-ins
    return raw, card


def _report(card: PersonaCard, extra: list[str] | None = None) -> None:
    for line in card.assumed:
        err.print(f"[cyan]assumed[/] {escape(line)}")
    for line in [*card.ignored, *(extra or [])]:
        err.print(f"[dim]ignored {escape(line)}[/]")


@personas_app.command("validate")
def validate_card(
    path: CardPath,
    module: ModuleOpt = None,
    age: AgeOpt = None,
    persona_id: IdOpt = None,
) -> None:
    """Check a card without importing it: what would be assumed, what DORA ignores, what it costs.

    A bad one exits 1 with the field named."""
    card = load_card(path, _overrides(module, age, persona_id, None, None))
    missing = [p.file for p in card.photo_library if not (path.parent / p.file).is_file()]
    book = card.lorebook()
    err.print(
        f"ok: {escape(card.name)} ('{card.id}', {card.module.value}, {len(card.photo_library)} photos, "
        f"{len(book.entries)} lorebook entries)"
    )
    _report(card, [f"lorebook: {what}" for what in book.ignored])
    for entry in book.entries:
        keys = "constant" if entry.constant else ", ".join(entry.keys)
        err.print(
            f"lorebook entry {escape(entry.name)}: {escape(keys)} (≈{approx_tokens(entry.content)} tokens)"
        )
    if path.suffix.lower() != ".json" or (card.data.model_extra and "assets" in card.data.model_extra):
        images = _images(path, card)
        if images.images:
            names = ", ".join(f"{i.caption} ({i.source[:60]})" for i in images.images)
            err.print(f"photos on import: {escape(names)}")
        for note in images.notes:
            err.print(f"[yellow]{escape(note)}[/]")
    if missing:
        err.print(f"[yellow]photos not found beside the card: {', '.join(missing)}[/]")
    prefix = {lang: approx_tokens(static_prompt(card, lang, adult_unlocked=False)) for lang in ("ru", "en")}
    err.print(
        f"persona prefix ≈ {prefix['ru']} tokens (ru), {prefix['en']} (en); opening lines: "
        f"{len(card.opening_lines())}"
    )
    if card.data.creator_notes.strip():
        err.print(f"creator's notes: {escape(card.data.creator_notes.strip())}")


def _images(path: Path, card: PersonaCard) -> Any:
    chunks, files = embedded_files(path)
    return card_images(
        card.data.model_dump(mode="json"),
        card.name,
        chunks=chunks,
        files=files,
        card_png=path.read_bytes() if path.suffix.lower() == ".png" else None,
    )


@personas_app.command("import")
def import_card(
    path: CardPath,
    module: ModuleOpt = None,
    age: AgeOpt = None,
    persona_id: IdOpt = None,
    adult: AdultOpt = False,
    greeting: GreetingOpt = None,
    lorebook: LorebookOpt = None,
) -> None:
    """Add a card to the library (DATA_DIR/personas); what the card does not say is filled and shown."""
    _raw, card = _adopt(path, _overrides(module, age, persona_id, adult, greeting))
    world = _read_world(lorebook) if lorebook else None
    target_dir = imported_personas_dir(load_settings())
    target_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    beside = [p for p in card.dora.photos if (path.parent / p.file).is_file()]
    if beside:  # a card made for DORA: its photos travel with it when they sit beside it
        for photo in beside:
            (target_dir / photo.file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path.parent / photo.file, target_dir / photo.file)
        final = card
    else:  # the pictures the card itself carries (an exported DORA PNG without its photo folder too)
        images = _images(path, card)
        notes = images.notes
        if card.dora.photos:
            notes.append("the card's photos are not beside it: its own pictures are used instead")
        data = card.to_dict()
        data["data"]["extensions"]["dora"]["photos"] = write_photos(images.images, target_dir, card.id)
        final = card_from_dict(data, str(path), base_dir=target_dir)
    export_card_json(final, target_dir / f"{card.id}.json")
    if world is not None:
        target = lorebook_path(target_dir, card.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(world, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    final.set_world(world)
    _report(card)
    for note in notes:
        err.print(f"[yellow]{escape(note)}[/]")
    err.print(
        f"imported {escape(card.name)} as '{card.id}' ({card.module.value}, {len(final.dora.photos)} photos, "
        f"{len(final.lorebook().entries)} lorebook entries) into {target_dir}"
    )


def _read_world(path: Path) -> Any:
    try:
        world = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardError(str(path), [("", f"not a readable World Info JSON ({exc})")]) from exc
    if not parse_lorebook([world]).entries:
        raise CardError(str(path), [("entries", "no usable lorebook entries (keys and content)")])
    return world


@personas_app.command("export")
def export_card(
    persona_id: Annotated[str, typer.Argument(help="The persona's id.")],
    path: Annotated[Path, typer.Argument(help="Where to write: .json, or .png (the card inside the image).")],
) -> None:
    """Write a persona's card as SillyTavern-compatible JSON or PNG (every field it came with kept)."""
    card = build_personas(load_settings()).get(persona_id)
    written = export_card_png(card, path) if path.suffix.lower() == ".png" else export_card_json(card, path)
    err.print(f"wrote {written}")
