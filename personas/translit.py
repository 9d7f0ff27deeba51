"""A persona id from a name: «Алиса Громова» → ``alisa-gromova``.

Cards from elsewhere carry a name but no DORA id, and the id has to be a slug (it is part of
thread ids, file names and the bot's callback data). Russian names are transliterated the way a
Russian speaker would spell them in a passport (ГОСТ 52535.1, close to what people expect), other
Latin letters with accents lose them, and anything else is dropped.
"""

from __future__ import annotations

import re
import unicodedata

_RU = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "iu",
    "я": "ia",
    # Ukrainian and Belarusian letters that turn up in names
    "і": "i",
    "ї": "i",
    "є": "ie",
    "ґ": "g",
    "ў": "u",
}
MAX_ID_LEN = 40


def slugify(name: str, fallback: str = "persona") -> str:
    """A lowercase slug of ``name`` (``[a-z0-9_-]``, at most 40 characters); ``fallback`` if none is left."""
    out = []
    for ch in name.lower():
        if ch in _RU:
            out.append(_RU[ch])
            continue
        plain = unicodedata.normalize("NFKD", ch)
        out.append("".join(c for c in plain if c.isascii()))
    slug = re.sub(r"[^a-z0-9]+", "-", "".join(out)).strip("-")
    slug = slug[:MAX_ID_LEN].rstrip("-")
    return slug or fallback
