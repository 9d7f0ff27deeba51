"""Personas: who DORA talks as (SillyTavern character cards) and what each module may do.

Knows nothing of Telegram, LangGraph or memory; the agent reads cards and rules from here.
"""

from personas.card import Localized, PersonaCard, Photo, pick_language
from personas.io import CardError, export_card_json, export_card_png, load_card
from personas.library import BUILTIN_DIR, PersonaLibrary, PersonaNotFoundError
from personas.modules import Module, rules_for

__all__ = [
    "BUILTIN_DIR",
    "CardError",
    "Localized",
    "Module",
    "PersonaCard",
    "PersonaLibrary",
    "PersonaNotFoundError",
    "Photo",
    "export_card_json",
    "export_card_png",
    "load_card",
    "pick_language",
    "rules_for",
]
