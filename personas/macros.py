"""SillyTavern's text macros, rendered the way cards expect: ``{{char}}``, ``{{user}}`` and the rest.

Why a module: every text a card gives (description, greetings, examples, lorebook entries, post-
history instructions) goes through the same substitution before a model or a user reads it, and a
card from a hub uses more than the two famous macros. Macros are case-insensitive; ``<BOT>`` and
``<USER>`` are the legacy spellings. ``{{original}}`` (the app's own default prompt, in a card's
system prompt) is dropped, since DORA's rules are always in the prompt anyway. A pick among options
(``{{random:a,b}}``, ``{{random::a::b}}``, ``{{pick:…}}``) is made from the text itself, not by
chance, so a persona's prompt stays byte-identical from turn to turn and llama.cpp's prefix cache
holds. Macros DORA does not know are left as written.
"""

from __future__ import annotations

import re
import zlib

_CHAR = re.compile(r"\{\{(?:char|charIfNotGroup)\}\}|<bot>", re.IGNORECASE)
_USER = re.compile(r"\{\{user\}\}|<user>", re.IGNORECASE)
_ORIGINAL = re.compile(r"\{\{original\}\}", re.IGNORECASE)
_COMMENT = re.compile(r"\{\{//.*?\}\}", re.DOTALL)
_NEWLINE = re.compile(r"\{\{newline\}\}", re.IGNORECASE)
_TRIM = re.compile(r"\s*\{\{trim\}\}\s*", re.IGNORECASE)
_PICK = re.compile(r"\{\{(?:random|pick)\s*:(:?)(.*?)\}\}", re.IGNORECASE | re.DOTALL)


def _pick(match: re.Match[str]) -> str:
    options = match.group(2).split("::") if match.group(1) else match.group(2).split(",")
    options = [o.strip() for o in options] or [""]
    return options[zlib.crc32(match.group(0).encode()) % len(options)]


def render(text: str, char: str, user: str) -> str:
    """``text`` with the macros replaced: ``char`` for the character, ``user`` for the user."""
    text = _ORIGINAL.sub("", _COMMENT.sub("", text))
    text = _PICK.sub(_pick, _TRIM.sub("", _NEWLINE.sub("\n", text)))
    text = _CHAR.sub(lambda _: char, text)
    return _USER.sub(lambda _: user, text)
