"""The personas a DORA instance offers: the built-in cards plus the operator's own folders.

Built-ins ship inside the package (``personas/builtin/*.json``, photos under
``personas/builtin/photos/<id>/``). An operator adds or replaces personas by pointing DORA at
folders of ``.json`` or PNG cards; a card whose id matches a built-in replaces it (with a warning
in the log, since that is easy to do by accident). Cards are read once and cached: the agent asks
for a persona on every turn, and the folder does not change under a running bot (``reload()``
when it does).

A broken card (or a missing folder) is a :class:`CardError`, not a skipped persona: an operator
who dropped a card in a folder would otherwise see it silently missing from the picker. Plain
pictures next to cards (PNG without card chunks) are ignored.

A persona's standalone lorebook (a SillyTavern World Info JSON) sits in the same folder as
``lorebooks/<id>.json``: in a subfolder, so it is never mistaken for a card.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from personas.card import PersonaCard
from personas.io import CARD_SUFFIXES, CardError, is_card_png, load_card

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
LOREBOOKS = "lorebooks"


def lorebook_path(folder: Path, persona_id: str) -> Path:
    """Where a persona's World Info file lives in a persona folder."""
    return folder / LOREBOOKS / f"{persona_id}.json"


def _world_file(card: PersonaCard, folder: Path) -> Path | None:
    """``lorebooks/<id>.json``, else the World Info the card names (SillyTavern's ``extensions.world``)
    as ``lorebooks/<name>.json``: a card exported with a linked world says which file it wants."""
    candidates = [lorebook_path(folder, card.id)]
    world = (card.data.extensions.model_extra or {}).get("world")
    if (
        isinstance(world, str)
        and world.strip()
        and not {"/", "\\", "\0"} & set(world)
        and world not in (".", "..")
    ):
        candidates.append(folder / LOREBOOKS / f"{world.strip()}.json")
    return next((p for p in candidates if p.is_file()), None)


def _attach_world(card: PersonaCard, folder: Path) -> PersonaCard:
    path = _world_file(card, folder)
    if path is not None:
        try:
            card.set_world(json.loads(path.read_bytes()))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CardError(str(path), [("", f"not a readable World Info JSON ({exc})")]) from exc
    return card


class PersonaNotFoundError(LookupError):
    """No persona with that id; the message lists the ones there are."""

    def __init__(self, persona_id: str, available: Iterable[str]) -> None:
        self.persona_id, self.available = persona_id, list(available)
        super().__init__(f"no persona {persona_id!r}; available: {', '.join(self.available) or 'none'}")


def card_files(folder: Path) -> list[Path]:
    """The card files directly in ``folder`` (not in subfolders, where photos live), sorted."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CARD_SUFFIXES]
    return sorted(p for p in files if p.suffix.lower() != ".png" or is_card_png(p))


class PersonaLibrary:
    """Built-in personas plus those in ``extra_dirs``; later folders win over earlier ones."""

    def __init__(self, extra_dirs: Iterable[str | Path] = (), *, builtin_dir: Path = BUILTIN_DIR) -> None:
        self.builtin_dir = Path(builtin_dir)
        self.extra_dirs = [Path(d) for d in extra_dirs]
        self._lock = threading.Lock()
        self._cards: dict[str, PersonaCard] | None = None
        self._order: list[str] = []

    def _load(self) -> dict[str, PersonaCard]:
        with self._lock:
            if self._cards is None:
                self._cards, self._order = self._read_all()
            return self._cards

    def _read_all(self) -> tuple[dict[str, PersonaCard], list[str]]:
        cards: dict[str, PersonaCard] = {}
        origin: dict[str, Path] = {}
        for path in card_files(self.builtin_dir):
            card = _attach_world(load_card(path), self.builtin_dir)
            if card.id in cards:  # our own bug: the tests catch it
                raise CardError(
                    str(path), [("data.extensions.dora.id", f"{card.id!r} is also in {origin[card.id]}")]
                )
            cards[card.id], origin[card.id] = card, path
        builtin_ids = sorted(cards)
        for folder in self.extra_dirs:
            if not folder.is_dir():
                raise CardError(str(folder), [("", "the persona folder does not exist or is not a folder")])
            for path in card_files(folder):
                card = load_card(path)
                card.avoid_ids(builtin_ids)
                card = _attach_world(card, folder)
                if card.id in cards:
                    log.warning("persona %r from %s replaces the one from %s", card.id, path, origin[card.id])
                cards[card.id], origin[card.id] = card, path
        extra_ids = sorted(set(cards) - set(builtin_ids))
        return cards, builtin_ids + extra_ids

    def reload(self) -> None:
        """Forget the cache; the next access reads the folders again."""
        with self._lock:
            self._cards, self._order = None, []

    def ids(self) -> list[str]:
        """Persona ids: built-ins first, then the operator's, each group sorted."""
        self._load()
        return list(self._order)

    def list(self) -> list[PersonaCard]:
        """Cards in :meth:`ids` order."""
        cards = self._load()
        return [cards[i] for i in self._order]

    def get(self, persona_id: str) -> PersonaCard:
        cards = self._load()
        try:
            return cards[persona_id]
        except KeyError:
            raise PersonaNotFoundError(persona_id, self._order) from None

    def __contains__(self, persona_id: object) -> bool:
        return persona_id in self._load()

    def __iter__(self) -> Iterator[PersonaCard]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._load())
