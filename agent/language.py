"""Which language to answer in: the user's, Russian by default.

A script count is enough to tell Russian from English (the two languages DORA speaks) and costs
microseconds; emoji or digits alone carry no signal, so the previous language is kept.
"""

from __future__ import annotations

import re

Language = str  # "ru" | "en"

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)


def detect_language(text: str, previous: Language | None = None, default: Language = "ru") -> Language:
    """'ru' or 'en' by which script dominates the letters; no letters: ``previous`` or ``default``."""
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    if cyr == 0 and lat == 0:
        return previous or default
    return "en" if lat > cyr else "ru"
