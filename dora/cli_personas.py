"""``dora personas``: list the library, import a card (JSON or PNG), export one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dora.config import load_settings
from dora.wiring.agent import build_personas, imported_personas_dir
from personas.io import export_card_json, export_card_png, load_card

personas_app = typer.Typer(help="The persona library: list, import and export cards.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@personas_app.command("list")
def list_personas() -> None:
    """Every persona DORA can talk as: built-in, imported, and from DORA_PERSONAS_DIR."""
    table = Table(title="personas")
    for col in ("id", "name", "module", "languages", "18+", "photos"):
        table.add_column(col)
    for card in build_personas(load_settings()).list():
        table.add_row(
            card.id,
            card.name,
            card.module.value,
            ",".join(card.languages),
            "yes" if card.adult_content else "no",
            str(len(card.dora.photos)),
        )
    out.print(table)


@personas_app.command("validate")
def validate_card(
    path: Annotated[Path, typer.Argument(help="A card: .json, or .png with a chara/ccv3 chunk.")],
) -> None:
    """Check a card without importing it; a bad one exits 1 with the field named."""
    card = load_card(path)
    missing = [p.file for p in card.dora.photos if not (path.parent / p.file).is_file()]
    err.print(f"ok: {card.name} ('{card.id}', {card.module.value}, {len(card.dora.photos)} photos)")
    if missing:
        err.print(f"[yellow]photos not found beside the card: {', '.join(missing)}[/]")


@personas_app.command("import")
def import_card(
    path: Annotated[Path, typer.Argument(help="A card: .json, or .png with a chara/ccv3 chunk.")],
) -> None:
    """Validate a card and add it to the library (DATA_DIR/personas)."""
    card = load_card(path)  # a bad card is a CardError naming the field
    target_dir = imported_personas_dir(load_settings())
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{card.id}{path.suffix.lower()}"
    shutil.copyfile(path, target)
    for photo in card.dora.photos:  # photos travel with a JSON card when they sit beside it
        source = path.parent / photo.file
        if source.is_file():
            (target_dir / photo.file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target_dir / photo.file)
    err.print(f"imported {card.name} as '{card.id}' into {target_dir}")


@personas_app.command("export")
def export_card(
    persona_id: Annotated[str, typer.Argument(help="The persona's id.")],
    path: Annotated[Path, typer.Argument(help="Where to write: .json, or .png (the card inside the image).")],
) -> None:
    """Write a persona's card as SillyTavern-compatible JSON or PNG."""
    card = build_personas(load_settings()).get(persona_id)
    written = export_card_png(card, path) if path.suffix.lower() == ".png" else export_card_json(card, path)
    err.print(f"wrote {written}")
