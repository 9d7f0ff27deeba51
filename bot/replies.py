"""Long replies split under Telegram's limits at natural boundaries.

Replies are sent as plain text (no parse mode), so a split can never break formatting: there is no
markup to break, and a model's stray ``<`` or ``*`` is shown as typed.
"""

from __future__ import annotations

MESSAGE_LIMIT = 4096  # UTF-16 code units, as Telegram counts
CAPTION_LIMIT = 1024


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, cut at a paragraph, line, sentence or word end."""
    text = text.strip()
    pieces: list[str] = []
    while utf16_len(text) > limit:
        cut = _cut_point(text, limit)
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    # the longest prefix within the limit, in characters (a surrogate pair counts twice)
    end, units = 0, 0
    for ch in text:
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        end += 1
    window = text[:end]
    for sep in ("\n\n", "\n", ". ", "! ", "? ", "… ", " "):
        pos = window.rfind(sep)
        if pos > end // 2:
            return pos + len(sep.rstrip(" ")) if sep.strip() else pos + len(sep)
    return end
