"""Cleaning user text before it is stored, embedded or tokenised.

Telegram delivers anything: control characters, 100 KB pastes, emoji-only messages. The full
(cleaned) text is always stored; only the embedder and the lexical index see a bounded prefix.
"""

from __future__ import annotations

import re
import unicodedata

EMBED_MAX_CHARS = 2000  # e5 reads 512 tokens at most; more only costs time
LEXICAL_MAX_CHARS = 20000

_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)


class EmptyTextError(ValueError):
    """Raised for text that is empty once control characters and whitespace are gone."""


def clean_text(text: str) -> str:
    """NFC-normalised text without control or bidi characters.

    Raises :class:`EmptyTextError` if nothing is left.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    cleaned = _CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\r\n", "\n").strip()
    if not cleaned:
        raise EmptyTextError("the text is empty (nothing but whitespace or control characters)")
    return cleaned


def for_embedding(text: str) -> str:
    return text[:EMBED_MAX_CHARS]
