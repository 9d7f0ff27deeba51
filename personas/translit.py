"""A persona id from a name: «Алиса Громова» → ``alisa-gromova``.

Cards from elsewhere carry a name but no DORA id, and the id has to be a slug (it is part of
thread ids, file names and the bot's callback data). python-slugify (over text-unidecode) spells
Cyrillic the way a Russian passport does (Ю → iu, Щ → shch, Х → kh), drops accents, and gives other
scripts a Latin reading rather than nothing.
"""

from __future__ import annotations

from slugify import slugify as _slugify

MAX_ID_LEN = 40


def slugify(name: str, fallback: str = "persona") -> str:
    """A lowercase slug of ``name`` (``[a-z0-9-]``, at most 40 characters); ``fallback`` if none is left."""
    return _slugify(name, max_length=MAX_ID_LEN, word_boundary=True) or fallback
